#include "yiban/protocol/sync.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "yiban/protocol/ids.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol::sync {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<Verb, std::string_view>, 14> kVerbs{{
    {Verb::kHello, "HELLO"},
    {Verb::kWelcome, "WELCOME"},
    {Verb::kEvents, "EVENTS"},
    {Verb::kAck, "ACK"},
    {Verb::kDown, "DOWN"},
    {Verb::kDownAck, "DOWN_ACK"},
    {Verb::kPing, "PING"},
    {Verb::kPong, "PONG"},
    {Verb::kError, "ERROR"},
    {Verb::kBlobGet, "BLOB_GET"},
    {Verb::kBlobData, "BLOB_DATA"},
    {Verb::kBlobMissing, "BLOB_MISSING"},
    {Verb::kLogGet, "LOG_GET"},
    {Verb::kLog, "LOG"},
}};

// 20 MiB: the largest material (protocol/cases.h).
constexpr std::int64_t kMaxBlobBytes = 20LL * 1024 * 1024;

// Parses a header: a JSON object of at most kMaxHeaderBytes.
Expected<json> parse_header(std::string_view verb, std::string_view header) {
  if (header.size() > kMaxHeaderBytes) return error(std::string(verb) + " header larger than 4 KiB");
  if (!is_valid_utf8(header)) return error(std::string(verb) + " header is not valid UTF-8");
  auto j = json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error(std::string(verb) + " header is not a JSON object");
  return j;
}

Expected<std::int64_t> seq_field(const json& j, std::string_view verb, const char* name, std::int64_t min = 0) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer())
    return error(std::string(verb) + "." + name + ": missing or not an integer");
  auto v = it->get<std::int64_t>();
  if (v < min) return error(std::string(verb) + "." + name + ": must be at least " + std::to_string(min));
  return v;
}

Expected<std::string> text_field(const json& j, std::string_view verb, const char* name, bool required,
                                 std::size_t max_bytes) {
  auto it = j.find(name);
  if (it == j.end()) {
    if (required) return error(std::string(verb) + "." + name + ": missing");
    return std::string();
  }
  if (!it->is_string()) return error(std::string(verb) + "." + name + ": not a string");
  auto s = it->get<std::string>();
  if (s.size() > max_bytes) return error(std::string(verb) + "." + name + ": too long");
  return s;
}

// An optional store id / epoch field: "" or 32 lower-case hex digits.
Expected<std::string> id_field(const json& j, std::string_view verb, const char* name) {
  auto text = text_field(j, verb, name, false, 32);
  if (!text) return std::unexpected(text.error());
  if (!text->empty() && !is_store_id(*text))
    return error(std::string(verb) + "." + name + ": not 32 lower-case hex digits");
  return text;
}

}  // namespace

std::string random_store_id() {
  std::array<unsigned char, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    // getrandom(2) from the kernel's CSPRNG, as libsodium's randombytes_buf does on Linux.
    ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool is_store_id(std::string_view text) {
  if (text.size() != 32) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

DownRebase rebase_down(std::string_view edge_epoch, std::int64_t edge_applied, std::int64_t edge_last_seq,
                       const Welcome& w) {
  DownRebase r{edge_applied, 0, false};
  if (w.down_epoch.empty()) return r;  // an old central: numbering as it was
  if (edge_epoch == w.down_epoch) {
    r.applied = edge_applied;
  } else if (edge_epoch.empty() || edge_epoch == w.down_epoch_prev) {
    // Commands 1..down_base are the same in both epochs; later ones the
    // hall applied are gone from this central.
    r.applied = std::min(edge_applied, w.down_base);
    r.lost = edge_applied - r.applied;
  } else {  // central lost or replaced: none of its numbers were applied here
    r.applied = 0;
    r.lost = edge_applied;
  }
  // A store behind central's log (restored, or re-installed and accepted):
  // what its later self confirmed is not applied a second time.
  if (edge_last_seq < w.acked) r.applied = std::max(r.applied, w.down_confirmed);
  r.rebased = edge_epoch != w.down_epoch || r.applied != edge_applied;
  return r;
}

bool FrameBudget::admit(std::size_t bytes) {
  ++frames_;
  bytes_ += bytes;
  if (over_ == Over::kNone) {
    if (frames_ > max_frames_) {
      over_ = Over::kFrames;
    } else if (bytes_ > max_bytes_) {
      over_ = Over::kBytes;
    }
  }
  return over_ == Over::kNone;
}

void FrameBudget::reset() {
  frames_ = 0;
  bytes_ = 0;
  over_ = Over::kNone;
}

std::string_view to_string(FrameBudget::Over over) {
  switch (over) {
    case FrameBudget::Over::kFrames: return "frames";
    case FrameBudget::Over::kBytes: return "bytes";
    case FrameBudget::Over::kNone: break;
  }
  return "none";
}

void RateLimit::refill(std::int64_t now_ms) {
  if (last_ms_ < 0 || now_ms < last_ms_) {  // first use, or a clock that went back
    last_ms_ = now_ms;
    return;
  }
  tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
  last_ms_ = now_ms;
}

bool RateLimit::take(double n, std::int64_t now_ms) {
  refill(now_ms);
  if (tokens_ < n) return false;
  tokens_ -= n;
  return true;
}

std::int64_t RateLimit::wait_ms(double n, std::int64_t now_ms) {
  refill(now_ms);
  if (tokens_ >= n) return 0;
  if (rate_ <= 0) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(std::ceil((n - tokens_) * 1000.0 / rate_));
}

std::string_view to_string(Verb verb) {
  for (const auto& [v, name] : kVerbs) {
    if (v == verb) return name;
  }
  return "?";
}

std::optional<Verb> verb_from_string(std::string_view text) {
  for (const auto& [v, name] : kVerbs) {
    if (name == text) return v;
  }
  return std::nullopt;
}

std::string encode(const Hello& h) {
  json j{{"hall", h.hall}, {"proto", h.proto}, {"last_seq", h.last_seq}, {"down_applied", h.down_applied}};
  if (!h.name.empty()) j["name"] = h.name;
  if (!h.region.empty()) j["region"] = h.region;
  if (h.capacity > 0) j["capacity"] = h.capacity;
  if (!h.store.empty()) j["store"] = h.store;
  j["down_epoch"] = h.down_epoch;
  return j.dump();
}
std::string encode(const Welcome& w) {
  json j{{"acked", w.acked}, {"down_next", w.down_next}};
  if (!w.store.empty()) j["store"] = w.store;
  if (!w.down_epoch.empty()) {
    j["down_epoch"] = w.down_epoch;
    j["down_epoch_prev"] = w.down_epoch_prev;
    j["down_base"] = w.down_base;
    j["down_confirmed"] = w.down_confirmed;
  }
  if (w.chain) j["chain"] = to_hex(*w.chain);
  return j.dump();
}
std::string encode(const LogGet& g) { return json{{"from", g.from}, {"to", g.to}}.dump(); }
std::string encode(const LogHeader& l) { return json{{"from", l.from}, {"to", l.to}}.dump(); }
std::string encode(const EventsHeader& e) {
  return json{{"from", e.from}, {"to", e.to}, {"chain", to_hex(e.chain)}}.dump();
}
std::string encode(const Ack& a) { return json{{"acked", a.acked}}.dump(); }
std::string encode(const DownHeader& d) { return json{{"from", d.from}, {"to", d.to}}.dump(); }
std::string encode(const DownAck& d) { return json{{"applied", d.applied}}.dump(); }
std::string encode(const ErrorHeader& e) {
  return json{{"code", e.code}, {"message", e.message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

Expected<Hello> decode_hello(std::string_view header) {
  auto j = parse_header("HELLO", header);
  if (!j) return std::unexpected(j.error());
  Hello h;
  auto hall = text_field(*j, "HELLO", "hall", true, 64);
  if (!hall) return std::unexpected(hall.error());
  if (!is_valid_hall_id(*hall)) return error("HELLO.hall: not a valid hall id");
  h.hall = std::move(*hall);
  auto proto = seq_field(*j, "HELLO", "proto", 1);
  if (!proto) return std::unexpected(proto.error());
  if (*proto != kProtoVersion) return error("HELLO.proto: version " + std::to_string(*proto) + " not supported (1)");
  h.proto = static_cast<int>(*proto);
  auto last = seq_field(*j, "HELLO", "last_seq");
  if (!last) return std::unexpected(last.error());
  h.last_seq = *last;
  auto down = seq_field(*j, "HELLO", "down_applied");
  if (!down) return std::unexpected(down.error());
  h.down_applied = *down;
  auto name = text_field(*j, "HELLO", "name", false, 256);
  if (!name) return std::unexpected(name.error());
  h.name = std::move(*name);
  auto region = text_field(*j, "HELLO", "region", false, 32);
  if (!region) return std::unexpected(region.error());
  if (!region->empty() && !is_valid_region(*region)) return error("HELLO.region: not a valid region code");
  h.region = std::move(*region);
  if (j->contains("capacity")) {
    auto capacity = seq_field(*j, "HELLO", "capacity");
    if (!capacity) return std::unexpected(capacity.error());
    if (*capacity > 1000000) return error("HELLO.capacity: more than 1,000,000");
    h.capacity = static_cast<int>(*capacity);
  }
  auto store = id_field(*j, "HELLO", "store");
  if (!store) return std::unexpected(store.error());
  h.store = std::move(*store);
  auto epoch = id_field(*j, "HELLO", "down_epoch");
  if (!epoch) return std::unexpected(epoch.error());
  h.down_epoch = std::move(*epoch);
  return h;
}

Expected<Welcome> decode_welcome(std::string_view header) {
  auto j = parse_header("WELCOME", header);
  if (!j) return std::unexpected(j.error());
  auto acked = seq_field(*j, "WELCOME", "acked");
  if (!acked) return std::unexpected(acked.error());
  auto next = seq_field(*j, "WELCOME", "down_next", 1);
  if (!next) return std::unexpected(next.error());
  Welcome w;
  w.acked = *acked;
  w.down_next = *next;
  auto store = id_field(*j, "WELCOME", "store");
  if (!store) return std::unexpected(store.error());
  w.store = std::move(*store);
  auto epoch = id_field(*j, "WELCOME", "down_epoch");
  if (!epoch) return std::unexpected(epoch.error());
  w.down_epoch = std::move(*epoch);
  auto prev = id_field(*j, "WELCOME", "down_epoch_prev");
  if (!prev) return std::unexpected(prev.error());
  w.down_epoch_prev = std::move(*prev);
  if (j->contains("down_base")) {
    auto base = seq_field(*j, "WELCOME", "down_base");
    if (!base) return std::unexpected(base.error());
    w.down_base = *base;
  }
  if (j->contains("down_confirmed")) {
    auto confirmed = seq_field(*j, "WELCOME", "down_confirmed");
    if (!confirmed) return std::unexpected(confirmed.error());
    w.down_confirmed = *confirmed;
  }
  if (j->contains("chain")) {
    auto chain = text_field(*j, "WELCOME", "chain", true, 64);
    if (!chain) return std::unexpected(chain.error());
    auto hash = chain_from_hex(*chain);
    if (!hash) return error("WELCOME.chain: not 64 hex digits");
    w.chain = *hash;
  }
  return w;
}

namespace {
Expected<std::pair<std::int64_t, std::int64_t>> range_header(std::string_view verb, std::string_view header) {
  auto j = parse_header(verb, header);
  if (!j) return std::unexpected(j.error());
  auto from = seq_field(*j, verb, "from", 1);
  if (!from) return std::unexpected(from.error());
  auto to = seq_field(*j, verb, "to", 1);
  if (!to) return std::unexpected(to.error());
  if (*to < *from) return error(std::string(verb) + ": to is before from");
  if (*to - *from + 1 > static_cast<std::int64_t>(kMaxItems)) return error(std::string(verb) + ": more than 2000 events");
  return std::pair{*from, *to};
}
}  // namespace

Expected<LogGet> decode_log_get(std::string_view header) {
  auto r = range_header("LOG_GET", header);
  if (!r) return std::unexpected(r.error());
  return LogGet{r->first, r->second};
}

Expected<LogHeader> decode_log(std::string_view header) {
  auto r = range_header("LOG", header);
  if (!r) return std::unexpected(r.error());
  return LogHeader{r->first, r->second};
}

Expected<EventsHeader> decode_events(std::string_view header) {
  auto j = parse_header("EVENTS", header);
  if (!j) return std::unexpected(j.error());
  EventsHeader e;
  auto from = seq_field(*j, "EVENTS", "from", 1);
  if (!from) return std::unexpected(from.error());
  auto to = seq_field(*j, "EVENTS", "to", 1);
  if (!to) return std::unexpected(to.error());
  if (*to < *from) return error("EVENTS: to is before from");
  if (*to - *from + 1 > static_cast<std::int64_t>(kMaxItems)) return error("EVENTS: more than 2000 events");
  auto chain = text_field(*j, "EVENTS", "chain", true, 64);
  if (!chain) return std::unexpected(chain.error());
  auto hash = chain_from_hex(*chain);
  if (!hash) return error("EVENTS.chain: not 64 hex digits");
  e.from = *from;
  e.to = *to;
  e.chain = *hash;
  return e;
}

Expected<Ack> decode_ack(std::string_view header) {
  auto j = parse_header("ACK", header);
  if (!j) return std::unexpected(j.error());
  auto acked = seq_field(*j, "ACK", "acked");
  if (!acked) return std::unexpected(acked.error());
  return Ack{*acked};
}

Expected<DownHeader> decode_down(std::string_view header) {
  auto j = parse_header("DOWN", header);
  if (!j) return std::unexpected(j.error());
  auto from = seq_field(*j, "DOWN", "from", 1);
  if (!from) return std::unexpected(from.error());
  auto to = seq_field(*j, "DOWN", "to", 1);
  if (!to) return std::unexpected(to.error());
  if (*to < *from) return error("DOWN: to is before from");
  if (*to - *from + 1 > static_cast<std::int64_t>(kMaxItems)) return error("DOWN: more than 2000 commands");
  return DownHeader{*from, *to};
}

Expected<DownAck> decode_down_ack(std::string_view header) {
  auto j = parse_header("DOWN_ACK", header);
  if (!j) return std::unexpected(j.error());
  auto applied = seq_field(*j, "DOWN_ACK", "applied");
  if (!applied) return std::unexpected(applied.error());
  return DownAck{*applied};
}

Expected<ErrorHeader> decode_error(std::string_view header) {
  auto j = parse_header("ERROR", header);
  if (!j) return std::unexpected(j.error());
  auto code = text_field(*j, "ERROR", "code", true, 64);
  if (!code) return std::unexpected(code.error());
  auto message = text_field(*j, "ERROR", "message", false, 1024);
  if (!message) return std::unexpected(message.error());
  return ErrorHeader{std::move(*code), std::move(*message)};
}

std::string encode(const BlobGet& g) {
  return json{{"sha256", g.sha256}, {"offset", g.offset}, {"length", g.length}}.dump();
}
std::string encode(const BlobData& d) {
  return json{{"sha256", d.sha256}, {"offset", d.offset}, {"total", d.total}, {"chunk", d.chunk_sha256}}.dump();
}
std::string encode(const BlobMissing& m) {
  return json{{"sha256", m.sha256}, {"code", m.code}, {"message", m.message}}.dump(-1, ' ', false,
                                                                                  json::error_handler_t::replace);
}

Expected<BlobGet> decode_blob_get(std::string_view header) {
  auto j = parse_header("BLOB_GET", header);
  if (!j) return std::unexpected(j.error());
  auto sha = text_field(*j, "BLOB_GET", "sha256", true, 64);
  if (!sha) return std::unexpected(sha.error());
  if (!is_sha256_hex(*sha)) return error("BLOB_GET.sha256: not 64 lower-case hex digits");
  auto offset = seq_field(*j, "BLOB_GET", "offset");
  if (!offset) return std::unexpected(offset.error());
  if (*offset >= kMaxBlobBytes) return error("BLOB_GET.offset: beyond 20 MiB");
  auto length = seq_field(*j, "BLOB_GET", "length", 1);
  if (!length) return std::unexpected(length.error());
  if (*length > kBlobChunkBytes) return error("BLOB_GET.length: more than one chunk (128 KiB)");
  return BlobGet{std::move(*sha), *offset, *length};
}

Expected<BlobData> decode_blob_data(std::string_view header) {
  auto j = parse_header("BLOB_DATA", header);
  if (!j) return std::unexpected(j.error());
  auto sha = text_field(*j, "BLOB_DATA", "sha256", true, 64);
  if (!sha) return std::unexpected(sha.error());
  if (!is_sha256_hex(*sha)) return error("BLOB_DATA.sha256: not 64 lower-case hex digits");
  auto offset = seq_field(*j, "BLOB_DATA", "offset");
  if (!offset) return std::unexpected(offset.error());
  auto total = seq_field(*j, "BLOB_DATA", "total", 1);
  if (!total) return std::unexpected(total.error());
  if (*total > kMaxBlobBytes) return error("BLOB_DATA.total: more than 20 MiB");
  if (*offset >= *total) return error("BLOB_DATA.offset: at or beyond the end of the file");
  auto chunk = text_field(*j, "BLOB_DATA", "chunk", true, 64);
  if (!chunk) return std::unexpected(chunk.error());
  if (!is_sha256_hex(*chunk)) return error("BLOB_DATA.chunk: not 64 lower-case hex digits");
  return BlobData{std::move(*sha), *offset, *total, std::move(*chunk)};
}

Expected<BlobMissing> decode_blob_missing(std::string_view header) {
  auto j = parse_header("BLOB_MISSING", header);
  if (!j) return std::unexpected(j.error());
  auto sha = text_field(*j, "BLOB_MISSING", "sha256", true, 64);
  if (!sha) return std::unexpected(sha.error());
  if (!is_sha256_hex(*sha)) return error("BLOB_MISSING.sha256: not 64 lower-case hex digits");
  auto code = text_field(*j, "BLOB_MISSING", "code", true, 32);
  if (!code) return std::unexpected(code.error());
  if (*code != "not_found" && *code != "denied") return error("BLOB_MISSING.code: " + *code + " is not not_found or denied");
  auto message = text_field(*j, "BLOB_MISSING", "message", false, 1024);
  if (!message) return std::unexpected(message.error());
  return BlobMissing{std::move(*sha), std::move(*code), std::move(*message)};
}

}  // namespace yiban::protocol::sync
