// fuzz_support.hpp: what every fuzz target shares: a failed property aborts with a message
// (libFuzzer then saves the input as a crash), the process's open fds are counted around each
// run (a leaked fd is a finding like a crash), and input bytes are consumed without reading past
// the end.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "luo/impl/unique_fd.hpp"

namespace luo::fuzz {

[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz property violated: %.*s\n%.*s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (!ok)
    fail(what, detail);
}

// Entries of /proc/self/fd, minus the directory's own fd. Counted twice per run, so the
// directory stays open and is re-read from the start with getdents64 (opendir() would open,
// allocate and close each time). procfs lists the table as it is at each read.
inline std::size_t open_fd_count() {
  static const UniqueFd owned(::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const int dir = owned.get();
  if (dir < 0 || ::lseek(dir, 0, SEEK_SET) != 0)
    fail("cannot read /proc/self/fd");
  alignas(8) char buf[16384];
  std::size_t n = 0;
  for (;;) {
    const long got = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (got < 0)
      fail("cannot read /proc/self/fd");
    if (got == 0)
      break;
    for (long at = 0; at < got;) {
      const auto* e = reinterpret_cast<const dirent64*>(buf + at);
      if (e->d_name[0] != '.')
        ++n;
      at += e->d_reclen;
    }
  }
  return n - 1;
}

// Fails the run if it changed the number of open fds.
class FdLeakGuard {
 public:
  FdLeakGuard() : before_(open_fd_count()) {}
  ~FdLeakGuard() {
    const std::size_t after = open_fd_count();
    if (after != before_)
      fail("fd leak", std::to_string(before_) + " fds open before the run, " +
                          std::to_string(after) + " after");
  }
  FdLeakGuard(const FdLeakGuard&) = delete;
  FdLeakGuard& operator=(const FdLeakGuard&) = delete;

 private:
  std::size_t before_;
};

// Reads the input front to back; past the end every read yields zeros, so any input is a
// complete program for a target that decodes operations.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::size_t left() const { return empty() ? 0 : size_ - pos_; }
  std::uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) | (std::uint32_t{u16()} << 16); }
  std::uint64_t u64() { return u32() | (std::uint64_t{u32()} << 32); }
  // Up to n bytes (fewer at the end).
  std::string take(std::size_t n) {
    const std::size_t k = n < left() ? n : left();
    std::string s(reinterpret_cast<const char*>(data_ + pos_), k);
    pos_ += k;
    return s;
  }
  std::string rest() { return take(left()); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace luo::fuzz
