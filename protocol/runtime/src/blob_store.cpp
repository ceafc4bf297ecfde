#include "yiban/runtime/blob_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "yiban/protocol/chain.h"

namespace yiban::runtime {
namespace fs = std::filesystem;
namespace {

using protocol::errno_text;

protocol::Expected<void> write_all(int fd, std::string_view bytes, std::int64_t offset) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset) + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return protocol::error("write: " + errno_text());
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    ::close(fd);
  }
}

}  // namespace

struct BlobStore::Partial::Hash {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Hash() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Hash() { EVP_MD_CTX_free(ctx); }
  void update(std::string_view b) { EVP_DigestUpdate(ctx, b.data(), b.size()); }
  std::string final() {
    protocol::ChainHash d{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, d.data(), &n);
    return protocol::to_hex(d);
  }
};

protocol::Expected<BlobStore> BlobStore::open(fs::path dir) {
  std::error_code ec;
  fs::create_directories(dir / "partial", ec);
  if (ec) return protocol::error("blob directory " + dir.string() + ": " + ec.message());
  // Citizens' documents: the owner only, whatever the umask (issue 15); an
  // older store's folders are narrowed too.
  for (const auto& d : {dir, dir / "partial"}) {
    if (::chmod(d.c_str(), 0700) != 0)
      return protocol::error("blob directory " + d.string() + ": chmod 0700: " + std::strerror(errno));
  }
  return BlobStore(std::move(dir));
}

fs::path BlobStore::path_of(std::string_view sha) const {
  return dir_ / std::string(sha.substr(0, 2)) / std::string(sha);
}

bool BlobStore::has(std::string_view sha) const {
  if (!protocol::is_sha256_hex(sha)) return false;
  std::error_code ec;
  return fs::is_regular_file(path_of(sha), ec);
}

protocol::Expected<std::int64_t> BlobStore::size_of(std::string_view sha) const {
  if (!protocol::is_sha256_hex(sha)) return protocol::error("not a SHA-256 digest");
  std::error_code ec;
  auto size = fs::file_size(path_of(sha), ec);
  if (ec) return protocol::error("file " + std::string(sha.substr(0, 12)) + "… is not here");
  return static_cast<std::int64_t>(size);
}

protocol::Expected<std::string> BlobStore::put(std::string_view bytes) const {
  std::string sha = protocol::sha256_hex(bytes);
  if (has(sha)) return sha;
  auto partial = begin(sha, static_cast<std::int64_t>(bytes.size()));
  if (!partial) return std::unexpected(partial.error());
  // A stale partial of the same digest is replaced: it is all in hand.
  if ((*partial)->size() != 0) {
    (*partial)->discard();
    partial = begin(sha, static_cast<std::int64_t>(bytes.size()));
    if (!partial) return std::unexpected(partial.error());
  }
  if (auto ok = (*partial)->append(0, bytes); !ok) return std::unexpected(ok.error());
  if (auto ok = (*partial)->finish(); !ok) return std::unexpected(ok.error());
  return sha;
}

protocol::Expected<std::string> BlobStore::read(std::string_view sha, std::int64_t offset, std::int64_t length) const {
  if (!protocol::is_sha256_hex(sha)) return protocol::error("not a SHA-256 digest");
  int fd = ::open(path_of(sha).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return protocol::error("file " + std::string(sha.substr(0, 12)) + "… is not here");
  std::string out(static_cast<std::size_t>(length), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset) + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return protocol::error("read: " + errno_text());
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

protocol::Expected<std::unique_ptr<BlobStore::Partial>> BlobStore::begin(std::string_view sha, std::int64_t total) const {
  if (!protocol::is_sha256_hex(sha)) return protocol::error("not a SHA-256 digest");
  std::unique_ptr<Partial> p(new Partial());
  p->sha256_ = std::string(sha);
  p->total_ = total;
  p->partial_path_ = dir_ / "partial" / std::string(sha);
  p->final_path_ = path_of(sha);
  p->hash_ = std::make_unique<Partial::Hash>();
  p->fd_ = ::open(p->partial_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (p->fd_ < 0) return protocol::error("blob " + p->partial_path_.string() + ": " + errno_text());
  // Resume: hash what is there (past total it cannot be this file).
  struct stat st {};
  if (fstat(p->fd_, &st) != 0) return protocol::error("stat: " + errno_text());
  std::int64_t have = static_cast<std::int64_t>(st.st_size);
  if (have > total) {
    if (ftruncate(p->fd_, 0) != 0) return protocol::error("truncate: " + errno_text());
    have = 0;
  }
  std::string buffer(1 << 20, '\0');
  std::int64_t at = 0;
  while (at < have) {
    ssize_t n = pread(p->fd_, buffer.data(), std::min<std::int64_t>(have - at, static_cast<std::int64_t>(buffer.size())),
                      static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p->hash_->update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    at += n;
  }
  if (at != have && ftruncate(p->fd_, at) != 0) return protocol::error("truncate: " + errno_text());
  p->size_ = at;
  return p;
}

BlobStore::Partial::~Partial() {
  if (fd_ >= 0) ::close(fd_);
}

protocol::Expected<void> BlobStore::Partial::append(std::int64_t offset, std::string_view bytes) {
  if (fd_ < 0) return protocol::error("transfer closed");
  if (offset != size_) return protocol::error("chunk at " + std::to_string(offset) + ", expected " + std::to_string(size_));
  if (size_ + static_cast<std::int64_t>(bytes.size()) > total_) return protocol::error("chunk runs past the file's size");
  if (auto ok = write_all(fd_, bytes, offset); !ok) return ok;
  hash_->update(bytes);
  // Start writing back now, so that finish()'s fsync has little left to do.
  (void)sync_file_range(fd_, offset, static_cast<off_t>(bytes.size()), SYNC_FILE_RANGE_WRITE);
  size_ += static_cast<std::int64_t>(bytes.size());
  return {};
}

protocol::Expected<void> BlobStore::Partial::finish() {
  if (fd_ < 0) return protocol::error("transfer closed");
  if (size_ != total_) return protocol::error("file incomplete: " + std::to_string(size_) + " of " + std::to_string(total_));
  std::string got = hash_->final();
  if (got != sha256_) {
    discard();
    return protocol::error("content digest " + got.substr(0, 12) + "… does not match " + sha256_.substr(0, 12) +
                           "…; transfer restarts");
  }
  if (fsync(fd_) != 0) return protocol::error("fsync: " + errno_text());
  ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  fs::create_directories(final_path_.parent_path(), ec);
  if (ec) return protocol::error("blob directory: " + ec.message());
  (void)::chmod(final_path_.parent_path().c_str(), 0700);
  fs::rename(partial_path_, final_path_, ec);
  if (ec) return protocol::error("blob rename: " + ec.message());
  (void)::chmod(final_path_.c_str(), 0400);
  fsync_dir(final_path_.parent_path());
  return {};
}

void BlobStore::Partial::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  fs::remove(partial_path_, ec);
}

}  // namespace yiban::runtime
