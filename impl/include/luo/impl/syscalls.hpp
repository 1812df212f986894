// luo/impl/syscalls.hpp: the library's own file syscalls (memfd_create, dup, read, write,
// ftruncate, fstat), through one seam where a test can make the n-th call of a kind fail.
//
// impl/ and adapters/ call these instead of the libc functions for every syscall whose failure
// they must survive: creating and filling the mapping and Stage-A memfds, duplicating stored fds,
// reading a mapping back, checking an fd at FdStore::add(). The LUO ioctls are not here: they go
// through KernelPort, and SimulatedKernel::inject() fails those. The library maps no memory
// (no mmap() outside the simulator), so there is none to fail.
//
// With nothing armed a wrapper costs one relaxed atomic load before the real call. Arming is
// process-wide and meant for single-threaded tests:
//
//   luo::sys::FaultPlan::count();                   // count calls, fail none
//   ... run Stage B ...
//   auto n = luo::sys::FaultPlan::calls(luo::sys::Call::write);
//   luo::sys::FaultPlan::fail(luo::sys::Call::write, 2, ENOSPC);   // the third write fails
//   ... run Stage B again: it must report a typed error or a per-entry reason ...
//   luo::sys::FaultPlan::reset();
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

struct stat;

namespace luo::sys {

enum class Call : std::uint8_t { memfd_create, dup, read, write, ftruncate, fstat };
inline constexpr std::array kAllCalls = {Call::memfd_create, Call::dup,       Call::read,
                                         Call::write,        Call::ftruncate, Call::fstat};

constexpr std::string_view call_name(Call c) {
  switch (c) {
    case Call::memfd_create:
      return "memfd_create";
    case Call::dup:
      return "dup";
    case Call::read:
      return "read";
    case Call::write:
      return "write";
    case Call::ftruncate:
      return "ftruncate";
    case Call::fstat:
      return "fstat";
  }
  return "?";
}

// Test-only control of the seam. Not thread-safe: arm it while no other thread uses the library.
class FaultPlan {
 public:
  // Count calls from now on, fail none.
  static void count();
  // Count calls from now on; the call of kind `c` numbered `nth` (0-based) fails with `err`,
  // once. Every other call runs normally.
  static void fail(Call c, std::size_t nth, int err);
  // Calls of kind `c` since count() or fail().
  static std::size_t calls(Call c);
  // Whether the armed failure has happened.
  static bool fired();
  // Back to plain syscalls, nothing counted.
  static void reset();
};

namespace detail {
extern std::atomic<bool> armed;
// The errno to fail this call with, or 0 to make it.
int intercept(Call c);
}  // namespace detail

// Each returns what the libc call returns, with errno set on failure.
int memfd_create(const char* name, unsigned flags);
// fcntl(fd, F_DUPFD_CLOEXEC, min_fd).
int dup_cloexec(int fd, int min_fd);
ssize_t pread(int fd, void* buf, std::size_t len, off_t off);
ssize_t pwrite(int fd, const void* buf, std::size_t len, off_t off);
int ftruncate(int fd, off_t len);
int fstat(int fd, struct stat* st);

}  // namespace luo::sys
