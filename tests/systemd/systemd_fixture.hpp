// systemd_fixture.hpp: the fixture of every Tier-0 test: skips (visibly) when the pinned systemd
// cannot be had, and hands out the loaded libraries otherwise.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "systemd262.hpp"

namespace luo::sdtest {

class SystemdTier0 : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    sd_ = Systemd262::get(&why);
    if (sd_ == nullptr)
      GTEST_SKIP() << "real systemd 262.1 unavailable: " << why;
  }
  Systemd262& sd() { return *sd_; }

 private:
  Systemd262* sd_ = nullptr;
};

}  // namespace luo::sdtest
