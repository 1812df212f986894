// memfd_fixtures.hpp: memfds with known contents and reading them back, for the tests that carry
// fds through a handoff and then check each one by what it holds.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "luo/adapters/memfd.hpp"
#include "luo/impl/fd_store.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::testing {

inline UniqueFd memfd_with(std::string_view data, const char* name = "fixture") {
  auto fd = memfd::create(name);
  EXPECT_TRUE(fd.ok()) << "memfd_create";
  if (!fd.ok())
    return UniqueFd();
  EXPECT_TRUE(memfd::write_at(fd.value().get(), 0, data).ok());
  return std::move(fd).value();
}

// "<unreadable>" never equals what a test expects, so a bad fd fails the comparison visibly.
inline std::string contents(int fd) {
  auto r = memfd::read_all(fd);
  return r.ok() ? r.value() : "<unreadable>";
}

// The same file opened again through /proc/self/fd with `flags` (O_CLOEXEC added): a new open
// file description of it, as a second open() would give.
inline UniqueFd reopen(int fd, int flags) {
  UniqueFd again(::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), flags | O_CLOEXEC));
  EXPECT_TRUE(again) << "reopening fd " << fd;
  return again;
}

inline const FdStoreEntry* entry_named(const FdStore& store, std::string_view name) {
  for (const auto& e : store.entries()) {
    if (e.name == name)
      return &e;
  }
  return nullptr;
}

}  // namespace luo::testing
