#pragma once
// Edge ⇄ central sync frames (ARCHITECTURE §6), shared by both ends.
//
// A message is multipart: frame 0 the verb (ASCII), frame 1 a JSON header,
// frames 2… payload items (one event or one command per frame, exact text).
// Decoders are strict: unknown verbs, missing or mistyped header fields,
// negative sequence numbers and oversize frames are errors naming the field.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "yiban/protocol/chain.h"
#include "yiban/protocol/error.h"
#include "yiban/protocol/event.h"

namespace yiban::protocol::sync {

inline constexpr int kProtoVersion = 1;
// One payload frame holds one event or command.
inline constexpr std::size_t kMaxItemBytes = kMaxEventBytes;
inline constexpr std::size_t kMaxHeaderBytes = 4096;
// Items per EVENTS or DOWN message.
inline constexpr std::size_t kMaxItems = 2000;
// Blob transfer (materials of cross-region cases): bytes per BLOB_DATA.
inline constexpr std::int64_t kBlobChunkBytes = 128 * 1024;
// Enforced by the sockets (ZMQ_MAXMSGSIZE): no single frame is larger. An
// event or command frame is further limited to kMaxItemBytes by the receiver.
inline constexpr std::int64_t kMaxFrameBytes = kBlobChunkBytes;
// A sender cuts an EVENTS or DOWN batch once its items reach this many bytes
// (so a batch holds at most this plus one item).
inline constexpr std::size_t kMaxBatchBytes = 1024 * 1024;
// What a receiver accepts in one message, counted frame by frame as it is
// read (verb, header and items; not the ROUTER's routing-id frame). A message
// past either limit is refused whole: its remaining frames are read and
// dropped at once, never kept.
inline constexpr std::size_t kMaxMessageFrames = kMaxItems + 2;
inline constexpr std::size_t kMaxMessageBytes = 2 * kMaxBatchBytes;

enum class Verb {
  kHello, kWelcome, kEvents, kAck, kDown, kDownAck, kPing, kPong, kError,
  kBlobGet, kBlobData, kBlobMissing, kLogGet, kLog
};
std::string_view to_string(Verb verb);
std::optional<Verb> verb_from_string(std::string_view text);

// ERROR codes.
namespace error_code {
inline constexpr std::string_view kBadFrame = "bad_frame";  // wrong frame count, oversize, bad verb
inline constexpr std::string_view kBadHeader = "bad_header";
inline constexpr std::string_view kProtoVersion = "proto_version";
inline constexpr std::string_view kWrongHall = "wrong_hall";  // HELLO for a hall the key is not bound to
inline constexpr std::string_view kNotWelcomed = "not_welcomed";  // EVENTS/DOWN_ACK before HELLO
inline constexpr std::string_view kChainMismatch = "chain_mismatch";
inline constexpr std::string_view kIntegrityBroken = "integrity_broken";  // refused until an operator clears it
inline constexpr std::string_view kBadEvent = "bad_event";
inline constexpr std::string_view kInternal = "internal";
// A message or a rate over one of the receiver's limits (nothing applied).
inline constexpr std::string_view kLimit = "limit";
// HELLO from a store other than the one central knows for the hall (the hall
// was re-installed, or its disk restored from another box): nothing is taken
// until an admin accepts the new store (POST /api/v1/halls/{id}/accept-store).
inline constexpr std::string_view kStoreChanged = "store_changed";
}  // namespace error_code

// A store's identity (ARCHITECTURE §6, protocol/README.md "Store identity"):
// 128 random bits as 32 lower-case hex digits.
std::string random_store_id();
bool is_store_id(std::string_view text);

struct Hello {
  std::string hall;
  int proto = kProtoVersion;
  std::int64_t last_seq = 0;
  std::int64_t down_applied = 0;
  // Optional extensions: shown by central before any event arrives.
  std::string name;
  std::string region;
  int capacity = 0;  // people the hall holds (for occupancy %); 0: not told
  // Store identity (absent from an old edge: ""). store: the edge store's
  // id; down_epoch: central's DOWN epoch that down_applied counts in ("":
  // none known yet).
  std::string store;
  std::string down_epoch;
};
struct Welcome {
  std::int64_t acked = 0;  // highest event seq central has durably stored
  std::int64_t down_next = 1;  // the next command seq central will send
  // Store identity (absent from an old central: "" / 0 / no chain). store:
  // central's store id; down_epoch: the epoch its command numbers count in;
  // down_epoch_prev: the epoch it was restored from ("": none); down_base:
  // this hall's highest command seq when down_epoch began (commands 1..base
  // are the same in down_epoch_prev); chain: chain(acked).
  std::string store;
  std::string down_epoch;
  std::string down_epoch_prev;
  std::int64_t down_base = 0;
  // Commands central recorded as confirmed for the hall before this HELLO.
  std::int64_t down_confirmed = 0;
  std::optional<ChainHash> chain;
};

// What an edge's down_applied becomes in central's DOWN epoch; both ends
// compute it from the HELLO and the WELCOME (protocol/README.md).
struct DownRebase {
  std::int64_t applied = 0;
  std::int64_t lost = 0;  // commands the hall applied that this central does not have
  bool rebased = false;  // the epoch or the count changed
};
DownRebase rebase_down(std::string_view edge_epoch, std::int64_t edge_applied, std::int64_t edge_last_seq,
                       const Welcome& w);
// LOG_GET: the edge asks central for its stored events [from, to] of this
// hall (a hall whose store is behind what central holds); LOG answers with
// the events as payload items (at most kMaxItems, cut at kMaxBatchBytes; to
// is the last one sent). The chain is checked by the edge against WELCOME's.
struct LogGet {
  std::int64_t from = 0;
  std::int64_t to = 0;
};
struct LogHeader {
  std::int64_t from = 0;
  std::int64_t to = 0;
};
struct EventsHeader {
  std::int64_t from = 0;
  std::int64_t to = 0;
  ChainHash chain{};  // chain(to)
};
struct Ack {
  std::int64_t acked = 0;
};
struct DownHeader {
  std::int64_t from = 0;
  std::int64_t to = 0;
};
struct DownAck {
  std::int64_t applied = 0;
};
struct ErrorHeader {
  std::string code;
  std::string message;
};

// Blob transfer (protocol/CASES.md): the side that needs a file pulls it in
// chunks. BLOB_GET asks for bytes [offset, offset+length) of the file named
// by its SHA-256; the holder answers BLOB_DATA (one payload frame: the bytes,
// with their own SHA-256 in the header so a damaged chunk is refused and
// asked again) or BLOB_MISSING. The number of GETs outstanding is the flow
// control: it bounds how much file data can sit ahead of events in a link.
struct BlobGet {
  std::string sha256;
  std::int64_t offset = 0;
  std::int64_t length = 0;  // 1..kBlobChunkBytes
};
struct BlobData {
  std::string sha256;
  std::int64_t offset = 0;
  std::int64_t total = 0;  // the whole file's size
  std::string chunk_sha256;  // of this chunk's bytes
};
struct BlobMissing {
  std::string sha256;
  std::string code;  // not_found (not here, ask later), denied (this hall may not have it)
  std::string message;
};

// Counts one message's frames and bytes as they are read. Not thread-safe.
class FrameBudget {
 public:
  enum class Over { kNone, kFrames, kBytes };
  explicit FrameBudget(std::size_t max_frames = kMaxMessageFrames, std::size_t max_bytes = kMaxMessageBytes)
      : max_frames_(max_frames), max_bytes_(max_bytes) {}
  // Counts a frame of `bytes`; false once the message is past a limit (and
  // for every later frame of it).
  bool admit(std::size_t bytes);
  Over over() const { return over_; }
  std::size_t frames() const { return frames_; }
  std::size_t bytes() const { return bytes_; }
  // For the next message.
  void reset();

 private:
  std::size_t max_frames_;
  std::size_t max_bytes_;
  std::size_t frames_ = 0;
  std::size_t bytes_ = 0;
  Over over_ = Over::kNone;
};
std::string_view to_string(FrameBudget::Over over);  // "frames", "bytes", "none"

// A token bucket: `rate` units a second, holding at most `burst` (it starts
// full). Time is passed in (steady milliseconds) so tests need no clock.
// Not thread-safe.
class RateLimit {
 public:
  RateLimit(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst), tokens_(burst) {}
  // Takes n units if the bucket holds them at now_ms; false (nothing taken) otherwise.
  bool take(double n, std::int64_t now_ms);
  // Milliseconds from now_ms until n units are there (0: now).
  std::int64_t wait_ms(double n, std::int64_t now_ms);
  double rate() const { return rate_; }

 private:
  void refill(std::int64_t now_ms);
  double rate_;
  double burst_;
  double tokens_;
  std::int64_t last_ms_ = -1;
};

std::string encode(const Hello& h);
std::string encode(const Welcome& w);
std::string encode(const EventsHeader& e);
std::string encode(const Ack& a);
std::string encode(const DownHeader& d);
std::string encode(const DownAck& d);
std::string encode(const ErrorHeader& e);
std::string encode(const BlobGet& g);
std::string encode(const BlobData& d);
std::string encode(const BlobMissing& m);
std::string encode(const LogGet& g);
std::string encode(const LogHeader& l);
inline std::string_view empty_header() { return "{}"; }

Expected<Hello> decode_hello(std::string_view header);
Expected<Welcome> decode_welcome(std::string_view header);
// Also checks from <= to and to - from + 1 <= kMaxItems.
Expected<EventsHeader> decode_events(std::string_view header);
Expected<Ack> decode_ack(std::string_view header);
Expected<DownHeader> decode_down(std::string_view header);
Expected<DownAck> decode_down_ack(std::string_view header);
Expected<ErrorHeader> decode_error(std::string_view header);
Expected<BlobGet> decode_blob_get(std::string_view header);
// Checks offset + chunk size <= total <= 20 MiB by the caller (it has the frame).
Expected<BlobData> decode_blob_data(std::string_view header);
Expected<BlobMissing> decode_blob_missing(std::string_view header);
// Both check 1 <= from <= to and at most kMaxItems.
Expected<LogGet> decode_log_get(std::string_view header);
Expected<LogHeader> decode_log(std::string_view header);

}  // namespace yiban::protocol::sync
