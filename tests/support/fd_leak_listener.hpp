// fd_leak_listener.hpp: fails any test after which the process holds a different number of
// open fds than before it. Installed for every test binary by test_main.cpp.
#pragma once

#include <gtest/gtest.h>

namespace luo::testing {

// Number of entries in /proc/self/fd, not counting the directory fd used to read it.
int count_open_fds();

class FdLeakListener : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo&) override;
  void OnTestEnd(const ::testing::TestInfo& info) override;

 private:
  int before_ = 0;
};

}  // namespace luo::testing
