#pragma once
// Reading the hall's event archive back (store/retention.h, stage "events"):
// the monthly files <archive_dir>/events-YYYYMM.jsonl.gz hold, in name order,
// events 1..archive_seq exactly as they were stored, one per line, gzip
// compressed (one gzip member per retention step; files from before the
// compression, events-YYYYMM.jsonl, are plain text and read the same way).
// The meta rows archive_seq/archive_chain anchor the chain of what stays in
// `events`.
//
// Two readers: verify_event_log (the whole log's chain) and the sync client,
// which resends archived events when central holds less of the log than the
// hot table begins with (central restored from a backup older than the
// archive horizon).
//
// A file may hold lines past the anchor (a retention step that crashed before
// its commit, or a store restored from a backup older than the archive); they
// are the same events and are never read: every read stops at a bound the
// caller takes from the store's anchor.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "yiban/protocol/chain.h"
#include "yiban/protocol/error.h"

namespace yiban::edge::store {

class EventArchiveReader {
 public:
  EventArchiveReader(EventArchiveReader&& other) noexcept;
  EventArchiveReader& operator=(EventArchiveReader&& other) noexcept;
  EventArchiveReader(const EventArchiveReader&) = delete;
  EventArchiveReader& operator=(const EventArchiveReader&) = delete;
  ~EventArchiveReader();

  // Opens the archive in `dir` and reads forward to event `from` (>= 1),
  // chaining every event before it from chain(0). Fails, naming the file and
  // the event, when the folder cannot be read, a line is not an event, the
  // numbering has a gap, or the archive ends before event from - 1.
  static protocol::Expected<EventArchiveReader> open(const std::filesystem::path& dir, std::int64_t from);

  // The event the next read returns, and chain(next_seq() - 1).
  std::int64_t next_seq() const { return next_; }
  const protocol::ChainHash& chain() const { return chain_; }

  // The next events, in order: at most max_items, none past `upto`, and no
  // more once max_bytes of text are read (at least one event is). Empty at
  // `upto`; fails (as open does) when the archive ends before `upto`.
  protocol::Expected<std::vector<std::string>> read(std::int64_t upto, std::size_t max_items, std::size_t max_bytes);

  // The files in read order (events-*.jsonl and events-*.jsonl.gz in `dir`,
  // sorted by name: a month's plain file before its compressed one).
  static protocol::Expected<std::vector<std::filesystem::path>> files_of(const std::filesystem::path& dir);

 private:
  EventArchiveReader() = default;
  // Opens files_[file_] (false: it cannot be read); reads the next line of
  // the open file into line (false: at its end).
  bool open_file();
  bool next_line(std::string& line);
  // Reads up to `upto` (at most max_items, stopping after max_bytes), chaining
  // each line; appends the texts to out when it is not null.
  protocol::Expected<void> advance(std::int64_t upto, std::size_t max_items, std::size_t max_bytes,
                                   std::vector<std::string>* out);

  std::filesystem::path dir_;
  std::vector<std::filesystem::path> files_;
  std::size_t file_ = 0;  // index of the open file in files_
  void* in_ = nullptr;  // zlib's gzFile of files_[file_] (it reads plain files as they are)
  std::int64_t next_ = 1;
  protocol::ChainHash chain_ = protocol::kChainZero;
};

// The seq of an archived (or stored) event text, {"hall":"…","seq":N,…};
// 0 when the text is not such an event.
std::int64_t archived_event_seq(const std::string& text);

}  // namespace yiban::edge::store
