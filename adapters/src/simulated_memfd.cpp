#include "simulated_memfd.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>

#include "luo/impl/fd_io.hpp"

// Older libc headers predate F_SEAL_EXEC (Linux 6.3); the value is the kernel's.
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

namespace luo::sim {

std::size_t MemfdImage::held_bytes() const {
  std::size_t n = 0;
  for (const Extent& e : extents)
    n += e.bytes.capacity();
  return n;
}

void MemfdImage::release() {
  std::vector<Extent>().swap(extents);
  size = 0;
}

bool memfd_exceeds_page_limit(off_t size) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t pages = (static_cast<std::uint64_t>(size) + page - 1) / page;
  return pages > std::numeric_limits<std::uint32_t>::max();
}

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

  // The kernel reads pages, not through the file. So do we, through a fresh read-only open of
  // the same inode: LUO's reference may be write-only (an O_WRONLY reopen was preserved), and
  // it shares the caller's file position, which the SEEK_DATA/SEEK_HOLE scan below would move.
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  UniqueFd reader(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!reader)
    return SysResult<MemfdImage>::failure(errno);
  const int read_fd = reader.get();
  image.size = st.st_size;
  // Data extents only: holes come back as zeros from the restored file's own holes.
  off_t at = 0;
  while (at < image.size) {
    const off_t data = ::lseek(read_fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO)
      break;  // only a hole up to EOF
    if (data < 0)
      return SysResult<MemfdImage>::failure(errno);
    off_t hole = ::lseek(read_fd, data, SEEK_HOLE);
    if (hole < 0)
      return SysResult<MemfdImage>::failure(errno);
    hole = std::min(hole, image.size);
    MemfdImage::Extent& e = image.extents.emplace_back();
    e.offset = data;
    e.bytes.resize(static_cast<std::size_t>(hole - data));
    auto got = fd_io::read_at(read_fd, e.bytes.data(), e.bytes.size(), data, ::pread);
    if (!got.ok())
      return SysResult<MemfdImage>::failure(got.raw_errno());
    // A concurrent shrink cannot happen in the kernel (mapping frozen); here it leaves zeros.
    at = hole;
  }
  return image;
}

SysResult<UniqueFd> memfd_restore(const MemfdImage& image, bool apply_seals) {
  UniqueFd fd(::memfd_create("", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd)
    return SysResult<UniqueFd>::failure(errno);
  if (::ftruncate(fd.get(), image.size) != 0)
    return SysResult<UniqueFd>::failure(errno);
  for (const MemfdImage::Extent& e : image.extents) {
    if (auto st = fd_io::write_all_at(fd.get(), e.bytes, e.offset, ::pwrite); !st.ok())
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
