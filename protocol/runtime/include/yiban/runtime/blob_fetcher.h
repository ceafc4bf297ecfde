#pragma once
// The receiving side of a blob transfer over one sync link (protocol/
// CASES.md): one file at a time, at most `window` BLOB_GETs outstanding,
// each chunk checked against its own digest, the file appended in order and
// checked against its name when complete. Used by the edge's sync client
// (files from central) and by central (files from each hall). Not
// thread-safe: one per link, on the link's thread. Sending is the caller's:
// it sends what requests() returns.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "yiban/runtime/blob_store.h"
#include "yiban/protocol/sync.h"

namespace yiban::runtime {

class BlobFetcher {
 public:
  struct Options {
    int window = 8;  // GETs outstanding
    std::int64_t chunk = protocol::sync::kBlobChunkBytes;
    std::int64_t timeout_ms = 5000;  // a GET unanswered this long is asked again
  };
  BlobFetcher(const BlobStore& store, Options options);
  BlobFetcher(const BlobStore& store) : BlobFetcher(store, Options{}) {}

  bool busy() const { return partial_ != nullptr; }
  const std::string& current() const { return sha_; }
  std::int64_t received() const;  // bytes of the current file so far

  // Starts (or resumes) fetching a file of total bytes.
  protocol::Expected<void> start(const std::string& sha256, std::int64_t total);
  // The GETs to send now to keep the window full (also re-asks timed-out ones).
  std::vector<protocol::sync::BlobGet> requests(std::int64_t now_ms);

  enum class Outcome {
    kMore,  // stored; more to come
    kDone,  // the file is complete, verified and in place
    kBadChunk,  // the chunk did not match its digest (or is not what was asked): dropped, asked again
    kRestart,  // the complete file did not match its name: deleted, starting over
    kIgnored,  // not for the current transfer (a late duplicate)
    kFailed,  // a local write failed; the transfer stops (partial kept)
  };
  Outcome on_data(const protocol::sync::BlobData& header, std::string_view bytes, std::int64_t now_ms,
                  std::string& why);
  // The holder has no such file (or refuses): the transfer stops, the partial is kept.
  void abandon();
  // The link dropped: outstanding GETs are forgotten; the partial is kept.
  void link_lost();

  // Totals since creation (for logs and metrics).
  std::uint64_t bad_chunks() const { return bad_chunks_; }
  std::uint64_t files_done() const { return files_done_; }

 private:
  const BlobStore& store_;
  Options options_;
  std::string sha_;
  std::unique_ptr<BlobStore::Partial> partial_;
  std::int64_t next_offset_ = 0;  // the next byte not yet asked for
  std::map<std::int64_t, std::int64_t> outstanding_;  // offset → asked at (ms)
  std::map<std::int64_t, std::string> ahead_;  // verified chunks past the partial's end
  std::uint64_t bad_chunks_ = 0;
  std::uint64_t files_done_ = 0;
};

}  // namespace yiban::runtime
