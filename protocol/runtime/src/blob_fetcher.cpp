#include "yiban/protocol/chain.h"
#include "yiban/runtime/blob_fetcher.h"

namespace yiban::runtime {

BlobFetcher::BlobFetcher(const BlobStore& store, Options options) : store_(store), options_(options) {}

std::int64_t BlobFetcher::received() const { return partial_ ? partial_->size() : 0; }

protocol::Expected<void> BlobFetcher::start(const std::string& sha256, std::int64_t total) {
  partial_.reset();
  outstanding_.clear();
  ahead_.clear();
  auto p = store_.begin(sha256, total);
  if (!p) return std::unexpected(p.error());
  sha_ = sha256;
  partial_ = std::move(*p);
  next_offset_ = partial_->size();
  return {};
}

std::vector<protocol::sync::BlobGet> BlobFetcher::requests(std::int64_t now_ms) {
  std::vector<protocol::sync::BlobGet> out;
  if (!partial_) return out;
  const std::int64_t total = partial_->total();
  for (auto& [offset, asked] : outstanding_) {
    if (now_ms - asked >= options_.timeout_ms) {
      asked = now_ms;
      out.push_back({sha_, offset, std::min(options_.chunk, total - offset)});
    }
  }
  while (static_cast<int>(outstanding_.size()) < options_.window && next_offset_ < total) {
    std::int64_t length = std::min(options_.chunk, total - next_offset_);
    outstanding_[next_offset_] = now_ms;
    out.push_back({sha_, next_offset_, length});
    next_offset_ += length;
  }
  return out;
}

BlobFetcher::Outcome BlobFetcher::on_data(const protocol::sync::BlobData& h, std::string_view bytes,
                                          std::int64_t now_ms, std::string& why) {
  if (!partial_ || h.sha256 != sha_) return Outcome::kIgnored;
  auto asked = outstanding_.find(h.offset);
  if (asked == outstanding_.end()) return Outcome::kIgnored;
  const std::int64_t expected = std::min(options_.chunk, partial_->total() - h.offset);
  if (h.total != partial_->total() || static_cast<std::int64_t>(bytes.size()) != expected ||
      protocol::sha256_hex(bytes) != h.chunk_sha256) {
    ++bad_chunks_;
    why = "chunk at " + std::to_string(h.offset) + " of " + sha_.substr(0, 12) + "… is damaged (" +
          std::to_string(bytes.size()) + " bytes, digest or size wrong); asking again";
    asked->second = now_ms - options_.timeout_ms;  // re-asked by the next requests()
    return Outcome::kBadChunk;
  }
  outstanding_.erase(asked);
  if (h.offset != partial_->size()) {
    ahead_[h.offset] = std::string(bytes);
    return Outcome::kMore;
  }
  if (auto ok = partial_->append(h.offset, bytes); !ok) {
    why = ok.error().message;
    partial_.reset();
    return Outcome::kFailed;
  }
  for (auto it = ahead_.find(partial_->size()); it != ahead_.end(); it = ahead_.find(partial_->size())) {
    if (auto ok = partial_->append(it->first, it->second); !ok) {
      why = ok.error().message;
      partial_.reset();
      return Outcome::kFailed;
    }
    ahead_.erase(it);
  }
  if (partial_->size() < partial_->total()) return Outcome::kMore;
  auto done = partial_->finish();
  partial_.reset();
  outstanding_.clear();
  ahead_.clear();
  if (!done) {
    why = done.error().message;
    return Outcome::kRestart;
  }
  ++files_done_;
  return Outcome::kDone;
}

void BlobFetcher::abandon() {
  partial_.reset();
  outstanding_.clear();
  ahead_.clear();
  sha_.clear();
}

void BlobFetcher::link_lost() {
  outstanding_.clear();
  ahead_.clear();
  if (partial_) next_offset_ = partial_->size();
}

}  // namespace yiban::runtime
