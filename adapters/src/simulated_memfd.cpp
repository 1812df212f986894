#include "simulated_memfd.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <string>

// Older libc headers predate F_SEAL_EXEC (Linux 6.3); the value is the kernel's.
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

namespace luo::sim {
namespace {

// The simulator copies a memfd into memory at kexec(); the kernel would pin every page, so a
// memfd this large fails there with ENOMEM in practice too.
constexpr off_t kMaxImageBytes = off_t{256} << 20;

SysResult<std::size_t> pread_full(int fd, char* buf, std::size_t len, off_t offset) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, buf + done, len - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return SysResult<std::size_t>::failure(errno);
    if (n == 0)
      break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

SysStatus pwrite_full(int fd, const char* buf, std::size_t len) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pwrite(fd, buf + done, len - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return SysStatus::failure(errno);
    done += static_cast<std::size_t>(n);
  }
  return sys_ok();
}

}  // namespace

unsigned memfd_supported_seals() {
  return F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE |
         F_SEAL_EXEC;
}

bool memfd_handler_accepts(int fd) {
  struct stat st {};
  struct statfs sfs {};
  if (::fstat(fd, &st) != 0 || ::fstatfs(fd, &sfs) != 0)
    return false;
  return S_ISREG(st.st_mode) && st.st_nlink == 0 &&
         static_cast<unsigned long>(sfs.f_type) == TMPFS_MAGIC;
}

unsigned memfd_seals(int fd) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  return seals < 0 ? 0U : static_cast<unsigned>(seals);
}

SysResult<MemfdImage> memfd_capture(int fd) {
  MemfdImage image;
  image.position = ::lseek(fd, 0, SEEK_CUR);
  if (image.position < 0)
    return SysResult<MemfdImage>::failure(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return SysResult<MemfdImage>::failure(errno);
  if (st.st_size > kMaxImageBytes)
    return SysResult<MemfdImage>::failure(ENOMEM);

  // LUO's reference may be write-only (the caller preserved an O_WRONLY reopen); the kernel
  // reads pages, not through the file, so read through a fresh read-only open of the same inode.
  UniqueFd reader;
  int read_fd = fd;
  if ((::fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY) {
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    reader.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!reader)
      return SysResult<MemfdImage>::failure(errno);
    read_fd = reader.get();
  }
  image.contents.resize(static_cast<std::size_t>(st.st_size));
  auto got = pread_full(read_fd, image.contents.data(), image.contents.size(), 0);
  if (!got.ok())
    return SysResult<MemfdImage>::failure(got.raw_errno());
  // A concurrent shrink cannot happen in the kernel (mapping frozen); here it leaves zeros.
  return image;
}

SysResult<UniqueFd> memfd_restore(const MemfdImage& image, bool apply_seals) {
  UniqueFd fd(::memfd_create("", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd)
    return SysResult<UniqueFd>::failure(errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(image.contents.size())) != 0) {
    return SysResult<UniqueFd>::failure(errno);
  }
  if (auto st = pwrite_full(fd.get(), image.contents.data(), image.contents.size()); !st.ok()) {
    return SysResult<UniqueFd>::failure(st.raw_errno());
  }
  if (::lseek(fd.get(), image.position, SEEK_SET) < 0)
    return SysResult<UniqueFd>::failure(errno);
  if (apply_seals && image.seals != 0 &&
      ::fcntl(fd.get(), F_ADD_SEALS, static_cast<int>(image.seals)) != 0) {
    return SysResult<UniqueFd>::failure(errno);
  }
  return fd;
}

}  // namespace luo::sim
