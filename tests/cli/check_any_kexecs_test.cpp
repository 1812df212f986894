// `luo-lifecycle check --any-kexecs` (docs/properties.md, "Beyond the bounds"): exit 0 and "for
// any number of kexecs" at the fixpoint, exit 3 and "NOT for any number of kexecs" when a limit
// stops the search first, exit 1 for counter_stuck, and the options it excludes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "command.hpp"
#include "run_cli.hpp"

namespace luo::cli {
namespace {

using testing::contains;
using testing::Ran;
using testing::run;

// 1 owner x 1 fd, no session, no hijack: a few hundred states.
std::vector<std::string> check_tiny(std::vector<std::string> extra) {
  std::vector<std::string> argv{"check", "--quiet",     "--any-kexecs", "--owners", "1",
                                "--fds", "1",           "--sessions",   "0",        "--faults",
                                "1",     "--no-hijack", "--jobs",       "1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(CliCheckAnyKexecs, AtTheFixpointItSaysAnyNumberOfKexecs) {
  const Ran r = run(check_tiny({}));
  ASSERT_EQ(r.status, kExitOk) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "any number of kexecs, 1 faults per boot")) << r.out;
  EXPECT_TRUE(contains(r.out, "the verdicts below are for any number of kexecs")) << r.out;
}

TEST(CliCheckAnyKexecs, AStateLimitExitsThreeAndClaimsNoSuchThing) {
  const Ran r = run(check_tiny({"--max-states", "20"}));
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "NOT for any number of kexecs")) << r.out;
  EXPECT_FALSE(contains(r.out, "the verdicts below are for any number of kexecs")) << r.out;
}

TEST(CliCheckAnyKexecs, CounterStuckFailsOnlyWithoutTheBound) {
  const Ran any = run(check_tiny({"--mutant", "counter_stuck", "--no-liveness"}));
  EXPECT_EQ(any.status, kExitFailure) << any.out << any.err;
  EXPECT_TRUE(contains(any.out, "counterexample for kexec_count_carried")) << any.out;
  const Ran bounded = run({"check", "--quiet", "--owners", "1", "--fds", "1", "--sessions", "0",
                           "--faults", "1", "--no-hijack", "--kexecs", "3", "--mutant",
                           "counter_stuck", "--no-liveness", "--jobs", "1"});
  EXPECT_EQ(bounded.status, kExitOk) << bounded.out << bounded.err;
}

TEST(CliCheckAnyKexecs, ExcludesKexecsAndTheSpinTwin) {
  EXPECT_EQ(run(check_tiny({"--kexecs", "2"})).status, kExitUsage);
  EXPECT_EQ(run({"check", "--any-kexecs", "--promela"}).status, kExitUsage);
  EXPECT_EQ(run({"check", "--any-kexecs", "--spin"}).status, kExitUsage);
}

}  // namespace
}  // namespace luo::cli
