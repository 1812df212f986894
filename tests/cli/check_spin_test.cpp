// `luo-lifecycle check --promela` and `--spin`: the model is printed with the options that shape
// it, options that do not apply are usage errors, and --spin prints both sides of the SPIN
// cross-check (skipped, saying why, without spin or a C compiler).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "luo/proofs/spin_crosscheck.hpp"
#include "run_cli.hpp"

namespace luo::cli {
namespace {

using testing::contains;
using testing::Ran;
using testing::run;

const std::vector<std::string> kTiny = {"--owners", "1",        "--fds", "1",        "--sessions",
                                        "0",        "--kexecs", "1",     "--faults", "0"};

std::vector<std::string> check(std::vector<std::string> extra) {
  std::vector<std::string> argv{"check"};
  argv.insert(argv.end(), kTiny.begin(), kTiny.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(CliCheck, PromelaPrintsTheModelShapedByTheOptions) {
  const Ran all = run(check({"--promela"}));
  EXPECT_EQ(all.status, kExitOk) << all.err;
  EXPECT_TRUE(contains(all.out, "active proctype env()"));
  EXPECT_TRUE(contains(all.out, "assert(token0_is_mapping)"));
  EXPECT_TRUE(contains(all.out, "ltl eventually_delivered_fd0_0"));
  EXPECT_TRUE(contains(all.out, "1 owners x 1 fds"));

  const Ran one = run(check({"--promela", "--property", "no_silent_loss"}));
  EXPECT_EQ(one.status, kExitOk);
  EXPECT_TRUE(contains(one.out, "assert(no_silent_loss)"));
  EXPECT_FALSE(contains(one.out, "assert(token0_is_mapping)"));

  const Ran safety = run(check({"--promela", "--no-liveness"}));
  EXPECT_EQ(safety.status, kExitOk);
  EXPECT_FALSE(contains(safety.out, "ltl eventually_delivered"));
  EXPECT_TRUE(contains(safety.out, "ltl safety"));

  const Ran mutant = run(check({"--promela", "--mutant", "wrong_owner"}));
  EXPECT_TRUE(contains(mutant.out, "MUTANT wrong_owner"));
}

TEST(CliCheck, PromelaAndSpinRefuseOptionsThatDoNotApply) {
  for (const auto& extra :
       std::vector<std::vector<std::string>>{{"--promela", "--json"},
                                             {"--promela", "--symmetry"},
                                             {"--spin", "--max-states", "10"},
                                             {"--spin", "--property", "no_silent_loss"},
                                             {"--spin", "--promela"}}) {
    const Ran r = run(check(extra));
    EXPECT_EQ(r.status, kExitUsage) << extra[0] << " " << extra[1];
    EXPECT_FALSE(r.err.empty());
  }
}

TEST(CliCheck, SpinPrintsBothSidesAndExitsZeroWhenTheyAgree) {
  if (auto missing = proofs::spin_missing(); !missing.empty())
    GTEST_SKIP() << "SPIN cross-check skipped: " << missing;
  const Ran r = run(check({"--spin", "--mutant", "finish_before_dispatch"}));
  EXPECT_EQ(r.status, kExitOk) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "distinct states")) << r.out;
  EXPECT_TRUE(contains(r.out, "finish_once_after_dispatch               VIOLATED       VIOLATED"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "verdict: SPIN and luo-lifecycle agree")) << r.out;
}

}  // namespace
}  // namespace luo::cli
