// per_profile.hpp: runs a test suite once per kernel ABI profile; shared by every test area.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "luo/model/profile.hpp"

namespace luo::testing {

class PerProfile : public ::testing::TestWithParam<KernelProfile> {
 protected:
  KernelProfile profile() const { return GetParam(); }
  bool has(Feature f) const { return profile_has(GetParam(), f); }
};

inline std::string profile_test_name(const ::testing::TestParamInfo<KernelProfile>& info) {
  std::string name = "v" + std::string(profile_name(info.param));
  for (char& c : name) {
    if (c == '.')
      c = '_';
  }
  return name;
}

}  // namespace luo::testing

#define LUO_INSTANTIATE_PER_PROFILE(suite)                                          \
  INSTANTIATE_TEST_SUITE_P(Profiles, suite, ::testing::ValuesIn(luo::kAllProfiles), \
                           luo::testing::profile_test_name)
