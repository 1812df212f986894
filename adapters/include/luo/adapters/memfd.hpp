// luo/adapters/memfd.hpp: small memfd helpers for tests, examples and simulator users.
//
// memfds are the only files LUO can preserve (spec §3.8), and what the kernel promises to hand
// over is exactly their size, file position, seals and contents. MemfdSnapshot captures those
// four so a test can compare "before preserve" with "after retrieve" in one EXPECT_EQ. Every
// helper reports failure as the raw errno in a SysResult (no exceptions), never moves the file
// position unless that is its purpose, and never leaves an fd behind on an error path.
//
//   auto fd = luo::memfd::create("state", luo::memfd::Sealing::allow);
//   if (!fd.ok()) return fd.raw_errno();
//   (void)luo::memfd::write_at(fd.value().get(), 0, "hello");
//   (void)luo::memfd::seek(fd.value().get(), 2);
//   (void)luo::memfd::add_seals(fd.value().get(), F_SEAL_GROW | F_SEAL_SHRINK);
//   auto before = luo::memfd::snapshot(fd.value().get());
//   // ... preserve, kexec, retrieve into `again` ...
//   EXPECT_EQ(luo::memfd::snapshot(again.get()).value(), before.value());
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "luo/impl/sys_result.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::memfd {

// Whether later F_ADD_SEALS calls may succeed. Without it the kernel sets F_SEAL_SEAL at
// creation, which is also what seals() then reports.
enum class Sealing : std::uint8_t { disallow, allow };

// memfd_create(name, MFD_CLOEXEC [| MFD_ALLOW_SEALING]). The kernel limits name to 249 bytes
// (EINVAL beyond).
SysResult<UniqueFd> create(std::string_view name, Sealing sealing = Sealing::disallow);

// pwrite()s all of data at offset, retrying short writes and EINTR; the file position is not
// used or moved. A failure after a short write leaves the bytes written so far in place (a
// preserved memfd does exactly that when a write crosses its frozen EOF, spec §8).
SysStatus write_at(int fd, std::uint64_t offset, std::string_view data);
// The whole file from offset 0 to EOF, via pread(), so the file position is not moved.
// ENOMEM when the contents cannot be held (a sparse memfd may claim terabytes).
SysResult<std::string> read_all(int fd);
// fstat() size.
SysResult<std::uint64_t> size(int fd);
// ftruncate().
SysStatus resize(int fd, std::uint64_t new_size);
// lseek(fd, 0, SEEK_CUR).
SysResult<std::uint64_t> position(int fd);
// lseek(fd, pos, SEEK_SET).
SysStatus seek(int fd, std::uint64_t pos);
// F_GET_SEALS: the F_SEAL_* bits.
SysResult<std::uint32_t> seals(int fd);
// F_ADD_SEALS.
SysStatus add_seals(int fd, std::uint32_t seals);

// What LUO preserves of a memfd. contents holds raw bytes (std::string for easy comparison and
// printing, not because it is text).
struct MemfdSnapshot {
  std::uint64_t size = 0;
  std::uint64_t position = 0;
  std::uint32_t seals = 0;
  std::string contents;

  bool operator==(const MemfdSnapshot&) const = default;
};

// Reads all four fields without changing any of them.
SysResult<MemfdSnapshot> snapshot(int fd);

// For test failure messages: sizes, seal names and a short, escaped excerpt of the contents.
std::ostream& operator<<(std::ostream& os, const MemfdSnapshot& s);

}  // namespace luo::memfd
