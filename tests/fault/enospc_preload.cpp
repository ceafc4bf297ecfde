// LD_PRELOAD library for the fault suite: a disk that fills up on demand.
// While the file named by YIBAN_ENOSPC_FLAG exists, every write to a regular
// file (descriptors above 2: the process's own log stays writable) fails with
// ENOSPC, as on a full file system; when the file is removed, space "returns".
// Reads, fsync and everything else work as usual.

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace {

bool disk_full(int fd) {
  static const char* flag = std::getenv("YIBAN_ENOSPC_FLAG");
  if (flag == nullptr || fd <= 2 || ::access(flag, F_OK) != 0) return false;
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

// Growing a file needs space; shrinking it (SQLite's WAL reset) does not.
bool grows(int fd, off_t length) {
  struct stat st {};
  return disk_full(fd) && ::fstat(fd, &st) == 0 && length > st.st_size;
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  if (disk_full(fd)) return errno = ENOSPC, -1;
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  if (disk_full(fd)) return errno = ENOSPC, -1;
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  if (disk_full(fd)) return errno = ENOSPC, -1;
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  static auto real = next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (disk_full(fd)) return errno = ENOSPC, -1;
  return real(fd, iov, count);
}

int fallocate(int fd, int mode, off_t off, off_t len) {
  static auto real = next<int (*)(int, int, off_t, off_t)>("fallocate");
  if (disk_full(fd)) return errno = ENOSPC, -1;
  return real(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len) {
  static auto real = next<int (*)(int, off_t, off_t)>("posix_fallocate");
  if (disk_full(fd)) return ENOSPC;
  return real(fd, off, len);
}

int ftruncate(int fd, off_t length) {
  static auto real = next<int (*)(int, off_t)>("ftruncate");
  if (grows(fd, length)) return errno = ENOSPC, -1;
  return real(fd, length);
}

int ftruncate64(int fd, off64_t length) {  // what libsqlite3 calls
  static auto real = next<int (*)(int, off64_t)>("ftruncate64");
  if (grows(fd, length)) return errno = ENOSPC, -1;
  return real(fd, length);
}

}  // extern "C"
