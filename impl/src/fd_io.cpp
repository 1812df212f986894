#include "luo/impl/fd_io.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <limits>
#include <new>
#include <stdexcept>

namespace luo::fd_io {

namespace {

// The step a read grows its buffer by when the file is longer than expected.
constexpr std::size_t kChunk = 8192;

// Sizes travel as size_t but the syscalls take off_t; beyond off_t no real offset exists.
bool to_off(std::size_t value, off_t& out) {
  if (value > static_cast<std::size_t>(std::numeric_limits<off_t>::max()))
    return false;
  out = static_cast<off_t>(value);
  return true;
}

}  // namespace

SysResult<std::string> read_to_end(int fd, PreadCall pread, std::size_t expected_size) try {
  std::string out(expected_size, '\0');
  std::size_t done = 0;
  for (;;) {
    if (done == out.size())
      out.resize(out.size() + kChunk);
    off_t at = 0;
    if (!to_off(done, at))
      return SysResult<std::string>::failure(EFBIG);
    const auto got = read_at(fd, out.data() + done, out.size() - done, at, pread);
    if (!got.ok())
      return SysResult<std::string>::failure(got.raw_errno());
    done += got.value();
    if (done < out.size())
      break;  // read_at() stops short only at EOF
  }
  out.resize(done);
  return out;
} catch (const std::bad_alloc&) {
  // An error of this call, not an exception through a function that reports errors in its
  // result.
  return SysResult<std::string>::failure(ENOMEM);
} catch (const std::length_error&) {
  return SysResult<std::string>::failure(ENOMEM);
}

SysResult<std::size_t> read_at(int fd, char* buf, std::size_t len, off_t offset, PreadCall pread) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = pread(fd, buf + done, len - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return SysResult<std::size_t>::failure(last_errno());
    if (n == 0)
      break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

SysStatus write_all_at(int fd, std::string_view data, off_t offset, PwriteCall pwrite) {
  while (!data.empty()) {
    const ssize_t n = pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return SysStatus::failure(last_errno());
    if (n == 0)
      return SysStatus::failure(ENOSPC);
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += n;
  }
  return sys_ok();
}

SysResult<std::string> read_stream(int fd, std::size_t limit) {
  std::string out;
  std::array<char, 65536> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return SysResult<std::string>::failure(last_errno());
    if (n == 0)
      return out;
    out.append(buffer.data(), static_cast<std::size_t>(n));
    if (out.size() > limit)
      return SysResult<std::string>::failure(EFBIG);
  }
}

}  // namespace luo::fd_io
