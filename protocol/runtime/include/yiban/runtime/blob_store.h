#pragma once
// Content-addressed files (case materials): each file is named by the
// SHA-256 of its bytes, so a name proves the content and the same file is
// kept once however many cases use it.
//
//   DIR/ab/abcdef…        complete files, verified, fsynced, read-only
//   DIR/partial/abcdef…   a transfer in progress (appended in order)
//
// A complete file appears only by rename() after its digest was checked, so
// has() never sees half a file. Safe to use from several threads: writers of
// the same digest race only on the final rename, which is idempotent.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "yiban/protocol/error.h"

namespace yiban::runtime {

class BlobStore {
 public:
  // Creates the directories when missing.
  static protocol::Expected<BlobStore> open(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path path_of(std::string_view sha256) const;
  bool has(std::string_view sha256) const;
  // Size of a complete file; an error when it is not here.
  protocol::Expected<std::int64_t> size_of(std::string_view sha256) const;
  // Stores bytes in hand (an upload) durably; returns their digest.
  protocol::Expected<std::string> put(std::string_view bytes) const;
  // Up to length bytes from offset of a complete file.
  protocol::Expected<std::string> read(std::string_view sha256, std::int64_t offset, std::int64_t length) const;

  // A transfer in progress, appended chunk by chunk in order. Opening one
  // that exists resumes it (its bytes are hashed again once).
  class Partial {
   public:
    ~Partial();
    Partial(const Partial&) = delete;
    Partial& operator=(const Partial&) = delete;
    const std::string& sha256() const { return sha256_; }
    std::int64_t size() const { return size_; }
    std::int64_t total() const { return total_; }
    // Appends bytes at offset, which must equal size().
    protocol::Expected<void> append(std::int64_t offset, std::string_view bytes);
    // Once size() == total(): checks the digest, fsyncs and moves the file
    // into place. A wrong digest deletes the partial (the transfer restarts
    // from 0) and is an error naming both digests.
    protocol::Expected<void> finish();
    // Deletes the partial file.
    void discard();

   private:
    friend class BlobStore;
    Partial() = default;
    std::string sha256_;
    std::int64_t total_ = 0;
    std::int64_t size_ = 0;
    int fd_ = -1;
    std::filesystem::path partial_path_;
    std::filesystem::path final_path_;
    struct Hash;
    std::unique_ptr<Hash> hash_;
  };
  protocol::Expected<std::unique_ptr<Partial>> begin(std::string_view sha256, std::int64_t total) const;

 private:
  explicit BlobStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

}  // namespace yiban::runtime
