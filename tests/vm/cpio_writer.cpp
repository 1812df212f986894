#include "cpio_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "luo/impl/unique_fd.hpp"

namespace luo::vm {

bool CpioWriter::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0)
      return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset_ += static_cast<std::uint64_t>(n);
  }
  return true;
}

// newc aligns both the header+name and the data to 4 bytes.
bool CpioWriter::pad() {
  static constexpr char kZeros[4] = {};
  return write_all(std::string_view(kZeros, (4 - offset_ % 4) % 4));
}

bool CpioWriter::entry(std::string_view path, std::uint32_t mode, std::string_view contents,
                       std::uint32_t rdev_major, std::uint32_t rdev_minor) {
  char header[111];
  const unsigned long fields[] = {
      next_inode_++,   mode, 0, 0, 1, 0, contents.size(), 0, 0, rdev_major, rdev_minor,
      path.size() + 1, 0};
  int n = std::snprintf(header, sizeof header, "070701");
  for (unsigned long f : fields) {
    n += std::snprintf(header + n, sizeof header - static_cast<std::size_t>(n), "%08lX", f);
  }
  return write_all(std::string_view(header, 110)) && write_all(path) &&
         write_all(std::string_view("\0", 1)) && pad() && write_all(contents) && pad();
}

bool CpioWriter::directory(std::string_view path, std::uint32_t mode) {
  return entry(path, S_IFDIR | mode, {});
}
bool CpioWriter::char_device(std::string_view path, std::uint32_t major, std::uint32_t minor,
                             std::uint32_t mode) {
  return entry(path, S_IFCHR | mode, {}, major, minor);
}
bool CpioWriter::file(std::string_view path, std::string_view contents, std::uint32_t mode) {
  return entry(path, S_IFREG | mode, contents);
}
bool CpioWriter::finish() {
  return entry("TRAILER!!!", 0, {});
}

bool read_file(const std::string& path, std::string& out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    return false;
  out.clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace luo::vm
