// load_test.cpp: the pinned systemd loads, and its restore tables are what 262.1 is known to
// compile (spec systemd-luo.md §9.2, §9.4, §9.5, §9.7).
#include <gtest/gtest.h>

#include "systemd262.hpp"
#include "systemd_fixture.hpp"

namespace luo::sdtest {
namespace {

// sd_json_variant_type_t and sd_json_dispatch_flags_t values (sd-json.h).
constexpr std::int64_t kAnyType = -22;  // _SD_JSON_VARIANT_TYPE_INVALID = -EINVAL
constexpr std::int64_t kString = 0, kUnsigned = 2, kObject = 7;
constexpr std::uint64_t kMandatory = 1u << 1;

TEST_F(SystemdTier0, RestoreMappingTable) {
  const std::vector<DispatchField> want = {
      {"version", kAnyType, "sd_json_dispatch_uint64", 0, kMandatory},
      {"state", kObject, "sd_json_dispatch_variant_noref", 8, 0},
      {"units", kObject, "sd_json_dispatch_variant_noref", 16, 0},
  };
  EXPECT_EQ(sd().mapping_table(), want);
}

TEST_F(SystemdTier0, RestoreStateTable) {
  const std::vector<DispatchField> want = {
      {"KExecCount", kUnsigned, "sd_json_dispatch_uint32", 0, 0},
      {"ShutdownStartTimestamp", kObject, "json_dispatch_dual_timestamp", 8, 0},
      {"ShutdownFinishTimestamp", kObject, "json_dispatch_dual_timestamp", 24, 0},
      {"ShutdownLateStartTimestamp", kObject, "json_dispatch_dual_timestamp", 40, 0},
      {"ShutdownLateFinishTimestamp", kObject, "json_dispatch_dual_timestamp", 56, 0},
  };
  EXPECT_EQ(sd().state_table(), want);
}

TEST_F(SystemdTier0, RestoreEntryTable) {
  const std::vector<DispatchField> want = {
      {"type", kString, "sd_json_dispatch_const_string", 0, kMandatory},
      {"name", kString, "sd_json_dispatch_const_string", 8, kMandatory},
      {"token", kAnyType, "sd_json_dispatch_uint64", 16, 0},
      {"sessionName", kString, "sd_json_dispatch_const_string", 24, 0},
  };
  EXPECT_EQ(sd().entry_table(), want);
}

}  // namespace
}  // namespace luo::sdtest
