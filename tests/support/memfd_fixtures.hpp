// memfd_fixtures.hpp: memfds with known contents and reading them back, for the tests that carry
// fds through a handoff and then check each one by what it holds.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "luo/impl/fd_store.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::testing {

// Plain syscalls rather than adapters/memfd.hpp: the impl tests use this too, below adapters/.
inline UniqueFd memfd_with(std::string_view data, const char* name = "fixture") {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  EXPECT_TRUE(fd) << "memfd_create";
  if (fd) {
    EXPECT_EQ(::pwrite(fd.get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }
  return fd;
}

// From offset 0 whatever the file position; "" for an unreadable fd.
inline std::string contents(int fd) {
  std::string out;
  char buf[4096];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0)
      return out;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
}

inline const FdStoreEntry* entry_named(const FdStore& store, std::string_view name) {
  for (const auto& e : store.entries()) {
    if (e.name == name)
      return &e;
  }
  return nullptr;
}

}  // namespace luo::testing
