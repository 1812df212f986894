#include "luo/adapters/memfd.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <limits>
#include <ostream>

#include "luo/impl/fd_io.hpp"

namespace luo::memfd {

namespace {

// Offsets and sizes travel as uint64 in the API but as off_t in the syscalls; anything above
// off_t's range cannot name a real file offset.
bool to_off(std::uint64_t value, off_t& out) {
  if (value > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
    return false;
  out = static_cast<off_t>(value);
  return true;
}

#ifdef F_SEAL_FUTURE_WRITE
static_assert(F_SEAL_FUTURE_WRITE == 0x0010);
#endif
#ifdef F_SEAL_EXEC
static_assert(F_SEAL_EXEC == 0x0020);
#endif
static_assert(F_SEAL_SEAL == 0x0001 && F_SEAL_SHRINK == 0x0002 && F_SEAL_GROW == 0x0004 &&
              F_SEAL_WRITE == 0x0008);

}  // namespace

SysResult<UniqueFd> create(std::string_view name, Sealing sealing) {
  unsigned flags = MFD_CLOEXEC;
  switch (sealing) {
    case Sealing::disallow:
      break;
    case Sealing::allow:
      flags |= MFD_ALLOW_SEALING;
      break;
  }
  const std::string cname(name);  // memfd_create wants a NUL-terminated name
  const int fd = ::memfd_create(cname.c_str(), flags);
  if (fd < 0)
    return SysResult<UniqueFd>::failure(last_errno());
  return UniqueFd(fd);
}

SysStatus write_at(int fd, std::uint64_t offset, std::string_view data) {
  // Every byte's offset must fit off_t, the last one's too.
  off_t at = 0;
  off_t end = 0;
  if (!to_off(offset, at) || !to_off(offset + data.size(), end))
    return SysStatus::failure(EFBIG);
  return fd_io::write_all_at(fd, data, at, ::pwrite);
}

SysResult<std::string> read_all(int fd) {
  const SysResult<std::uint64_t> sz = size(fd);
  if (!sz.ok())
    return SysResult<std::string>::failure(sz.raw_errno());
  if (sz.value() > std::numeric_limits<std::size_t>::max() / 2)
    return SysResult<std::string>::failure(EFBIG);
  return fd_io::read_to_end(fd, ::pread, static_cast<std::size_t>(sz.value()));
}

SysResult<std::uint64_t> size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return SysResult<std::uint64_t>::failure(last_errno());
  return static_cast<std::uint64_t>(st.st_size);
}

SysStatus resize(int fd, std::uint64_t new_size) {
  off_t len = 0;
  if (!to_off(new_size, len))
    return SysStatus::failure(EFBIG);
  while (::ftruncate(fd, len) != 0) {
    if (errno != EINTR)
      return SysStatus::failure(last_errno());
  }
  return sys_ok();
}

SysResult<std::uint64_t> position(int fd) {
  const off_t pos = ::lseek(fd, 0, SEEK_CUR);
  if (pos < 0)
    return SysResult<std::uint64_t>::failure(last_errno());
  return static_cast<std::uint64_t>(pos);
}

SysStatus seek(int fd, std::uint64_t pos) {
  off_t at = 0;
  if (!to_off(pos, at))
    return SysStatus::failure(EINVAL);
  if (::lseek(fd, at, SEEK_SET) < 0)
    return SysStatus::failure(last_errno());
  return sys_ok();
}

SysResult<std::uint32_t> seals(int fd) {
  const int bits = ::fcntl(fd, F_GET_SEALS);
  if (bits < 0)
    return SysResult<std::uint32_t>::failure(last_errno());
  return static_cast<std::uint32_t>(bits);
}

SysStatus add_seals(int fd, std::uint32_t bits) {
  if (::fcntl(fd, F_ADD_SEALS, static_cast<int>(bits)) != 0) {
    return SysStatus::failure(last_errno());
  }
  return sys_ok();
}

SysResult<MemfdSnapshot> snapshot(int fd) {
  MemfdSnapshot s;
  const auto sz = size(fd);
  if (!sz.ok())
    return SysResult<MemfdSnapshot>::failure(sz.raw_errno());
  s.size = sz.value();
  const auto pos = position(fd);
  if (!pos.ok())
    return SysResult<MemfdSnapshot>::failure(pos.raw_errno());
  s.position = pos.value();
  const auto bits = seals(fd);
  if (!bits.ok())
    return SysResult<MemfdSnapshot>::failure(bits.raw_errno());
  s.seals = bits.value();
  auto contents = read_all(fd);
  if (!contents.ok())
    return SysResult<MemfdSnapshot>::failure(contents.raw_errno());
  s.contents = std::move(contents).value();
  return s;
}

std::ostream& operator<<(std::ostream& os, const MemfdSnapshot& s) {
  struct SealName {
    std::uint32_t bit;
    const char* name;
  };
  // F_SEAL_FUTURE_WRITE and F_SEAL_EXEC are newer than some libc headers, hence the numbers
  // (checked against the headers that do have them).
  static constexpr SealName kSeals[] = {
      {0x0001, "SEAL"},  {0x0002, "SHRINK"},       {0x0004, "GROW"},
      {0x0008, "WRITE"}, {0x0010, "FUTURE_WRITE"}, {0x0020, "EXEC"},
  };
  os << "{size=" << s.size << ", position=" << s.position << ", seals=";
  std::uint32_t rest = s.seals;
  const char* sep = "";
  for (const SealName& seal : kSeals) {
    if ((rest & seal.bit) == 0)
      continue;
    os << sep << seal.name;
    sep = "|";
    rest &= ~seal.bit;
  }
  if (rest != 0 || s.seals == 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", rest);
    os << sep << hex;
  }
  constexpr std::size_t kExcerpt = 32;
  os << ", contents[" << s.contents.size() << "]=\"";
  for (std::size_t i = 0; i < s.contents.size() && i < kExcerpt; ++i) {
    const auto c = static_cast<unsigned char>(s.contents[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      os << static_cast<char>(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      os << esc;
    }
  }
  if (s.contents.size() > kExcerpt)
    os << "...";
  return os << "\"}";
}

}  // namespace luo::memfd
