// The property-based stateful tests (docs/property-tests.md): every property of
// properties.hpp, once per kernel profile it applies to. A failure prints rapidcheck's shrunk
// command sequence and the RC_PARAMS line that replays it (README, "Replaying a property").
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "per_profile.hpp"
#include "properties.hpp"
#include "property_runner.hpp"

namespace luo {
// gtest prints the parameter in test listings: "6.19", not a byte dump.
inline void PrintTo(KernelProfile p, std::ostream* os) {
  *os << profile_name(p);
}
}  // namespace luo

namespace luo::testing {
namespace {

void check(std::string_view name, KernelProfile profile) {
  const PropertyDef& p = property_named(name);
  if (!p.applies(profile))
    GTEST_SKIP() << name << " does not apply to " << profile_name(profile);
  const int sequences = sequences_for(p.base_sequences);
  RunOptions options;
  options.max_size = p.max_commands;
  const PropertyRun run = run_property(
      property_id(p, profile), sequences, [&] { p.sequence(profile); }, options);
  ::testing::Test::RecordProperty("sequences", run.sequences);
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  EXPECT_TRUE(run.passed) << run.message << " build/default/tests/properties/luo_properties_tests"
                          << " --gtest_filter='" << test->test_suite_name() << "." << test->name()
                          << "'";
}

class Properties : public PerProfile {};

TEST_P(Properties, KernelLifecycle) {
  check("KernelLifecycle", profile());
}
TEST_P(Properties, KexecRoundTrip) {
  check("KexecRoundTrip", profile());
}
TEST_P(Properties, FdStoreHandoff) {
  check("FdStoreHandoff", profile());
}

LUO_INSTANTIATE_PER_PROFILE(Properties);

// A property added to the catalogue (and so to the mutation report) must also run here.
TEST(PropertyCatalogue, EveryPropertyRunsPerProfile) {
  const auto* unit = ::testing::UnitTest::GetInstance();
  for (const auto& p : all_properties()) {
    bool found = false;
    for (int i = 0; i < unit->total_test_suite_count(); ++i) {
      const auto* suite = unit->GetTestSuite(i);
      for (int j = 0; j < suite->total_test_count(); ++j) {
        const std::string name = suite->GetTestInfo(j)->name();
        found = found || name.starts_with(std::string(p.name) + "/");
      }
    }
    EXPECT_TRUE(found) << p.name << " has no TEST_P in properties_test.cpp";
  }
}

}  // namespace
}  // namespace luo::testing
