#include "store/event_archive.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>
#include <zlib.h>

namespace yiban::edge::store {

std::int64_t archived_event_seq(const std::string& text) {
  // The envelope's own order (protocol::encode_event): {"hall":"ID","seq":N,
  // hall ids hold no quote. Anything else: the JSON parser decides.
  constexpr std::string_view kHall = R"({"hall":")";
  constexpr std::string_view kSeq = R"(","seq":)";
  if (text.starts_with(kHall)) {
    const auto at = text.find(kSeq, kHall.size());
    if (at != std::string::npos && text.find('"', kHall.size()) == at) {
      const char* first = text.data() + at + kSeq.size();
      const char* last = text.data() + text.size();
      std::int64_t seq = 0;
      auto [end, ec] = std::from_chars(first, last, seq);
      if (ec == std::errc() && end != first && end != last && (*end == ',' || *end == '}') && seq > 0) return seq;
    }
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return 0;
  auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_integer() || seq->get<std::int64_t>() < 1) return 0;
  return seq->get<std::int64_t>();
}

protocol::Expected<std::vector<std::filesystem::path>> EventArchiveReader::files_of(
    const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.starts_with("events-") && (name.ends_with(".jsonl") || name.ends_with(".jsonl.gz")))
      files.push_back(it->path());
  }
  if (ec) return protocol::error("archive folder " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

EventArchiveReader::EventArchiveReader(EventArchiveReader&& other) noexcept
    : dir_(std::move(other.dir_)),
      files_(std::move(other.files_)),
      file_(other.file_),
      in_(std::exchange(other.in_, nullptr)),
      next_(other.next_),
      chain_(other.chain_) {}

EventArchiveReader& EventArchiveReader::operator=(EventArchiveReader&& other) noexcept {
  if (this != &other) {
    if (in_) gzclose(static_cast<gzFile>(in_));
    dir_ = std::move(other.dir_);
    files_ = std::move(other.files_);
    file_ = other.file_;
    in_ = std::exchange(other.in_, nullptr);
    next_ = other.next_;
    chain_ = other.chain_;
  }
  return *this;
}

EventArchiveReader::~EventArchiveReader() {
  if (in_) gzclose(static_cast<gzFile>(in_));
}

bool EventArchiveReader::open_file() {
  if (in_) gzclose(static_cast<gzFile>(in_));
  in_ = gzopen(files_[file_].c_str(), "rb");
  if (in_) gzbuffer(static_cast<gzFile>(in_), 256 * 1024);
  return in_ != nullptr;
}

bool EventArchiveReader::next_line(std::string& line) {
  line.clear();
  char buf[64 * 1024];
  while (gzgets(static_cast<gzFile>(in_), buf, sizeof buf) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      return true;
    }
  }
  return !line.empty();  // a last line without its newline
}

protocol::Expected<EventArchiveReader> EventArchiveReader::open(const std::filesystem::path& dir, std::int64_t from) {
  if (from < 1) return protocol::error("archive: events are numbered from 1, not " + std::to_string(from));
  auto files = files_of(dir);
  if (!files) return std::unexpected(files.error());
  EventArchiveReader r;
  r.dir_ = dir;
  r.files_ = std::move(*files);
  if (!r.files_.empty() && !r.open_file())
    return protocol::error("archive " + r.files_[0].string() + ": cannot be read");
  if (auto ok = r.advance(from - 1, std::numeric_limits<std::size_t>::max(),
                          std::numeric_limits<std::size_t>::max(), nullptr);
      !ok)
    return std::unexpected(ok.error());
  return r;
}

protocol::Expected<std::vector<std::string>> EventArchiveReader::read(std::int64_t upto, std::size_t max_items,
                                                                      std::size_t max_bytes) {
  std::vector<std::string> out;
  if (auto ok = advance(upto, max_items, max_bytes, &out); !ok) return std::unexpected(ok.error());
  return out;
}

protocol::Expected<void> EventArchiveReader::advance(std::int64_t upto, std::size_t max_items, std::size_t max_bytes,
                                                     std::vector<std::string>* out) {
  std::size_t items = 0;
  std::size_t bytes = 0;
  std::string line;
  while (next_ <= upto && items < max_items && bytes < max_bytes) {
    if (file_ >= files_.size())
      return protocol::error("archive " + dir_.string() + " ends at event " + std::to_string(next_ - 1) +
                             ", before event " + std::to_string(upto));
    if (!next_line(line)) {
      gzclose(static_cast<gzFile>(in_));
      in_ = nullptr;
      if (++file_ < files_.size() && !open_file())
        return protocol::error("archive " + files_[file_].string() + ": cannot be read");
      continue;
    }
    const std::int64_t seq = archived_event_seq(line);
    if (seq == 0)
      return protocol::error(files_[file_].filename().string() + ": a line after event " + std::to_string(next_ - 1) +
                             " is not an event");
    if (seq != next_)
      return protocol::error(files_[file_].filename().string() + ": event " + std::to_string(seq) + " follows " +
                             std::to_string(next_ - 1));
    chain_ = protocol::chain_next(chain_, line);
    ++next_;
    ++items;
    bytes += line.size();
    if (out) out->push_back(std::move(line));
  }
  return {};
}

}  // namespace yiban::edge::store
