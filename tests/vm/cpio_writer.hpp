// cpio_writer.hpp: writes a "newc" cpio archive, the initramfs format, into an fd.
//
// Used twice with the same code: on the host to build the VM's initramfs, and inside the VM by
// /init to rebuild that initramfs into a memfd for kexec_file_load, so every boot of a test run
// has the same root filesystem without nesting archives.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace luo::vm {

class CpioWriter {
 public:
  explicit CpioWriter(int fd) : fd_(fd) {}
  bool directory(std::string_view path, std::uint32_t mode = 0755);
  bool char_device(std::string_view path, std::uint32_t major, std::uint32_t minor,
                   std::uint32_t mode = 0600);
  bool file(std::string_view path, std::string_view contents, std::uint32_t mode = 0644);
  // Appends the trailer; the archive is complete after this.
  bool finish();

 private:
  bool entry(std::string_view path, std::uint32_t mode, std::string_view contents,
             std::uint32_t rdev_major = 0, std::uint32_t rdev_minor = 0);
  bool write_all(std::string_view bytes);
  bool pad();

  int fd_;
  std::uint32_t next_inode_ = 1;
  std::uint64_t offset_ = 0;
};

// Reads a whole file; false on any error.
bool read_file(const std::string& path, std::string& out);

}  // namespace luo::vm
