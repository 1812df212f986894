// `luo-lifecycle check --any-owners` (docs/properties.md, "Any number of owners and fds"): exit 0
// and "holds for any number of owners and fds" per safety property, never for liveness; exit 1
// and a claim of nothing for two_unit_slots; JSON with the claims; the options it excludes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "run_cli.hpp"

namespace luo::cli {
namespace {

using testing::contains;
using testing::Ran;
using testing::run;

// No session, the hijack on, one kexec, one fault, every owner loaded at once: the whole mode in
// a few seconds.
std::vector<std::string> check_owners_small(std::vector<std::string> extra) {
  std::vector<std::string> argv{
      "check",    "--quiet", "--any-owners",     "--sessions", "0", "--kexecs", "1",
      "--faults", "1",       "--no-late-owners", "--jobs",     "1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(CliCheckAnyOwners, ClaimsEverySafetyPropertyButNotLiveness) {
  const Ran r = run(check_owners_small({}));
  ASSERT_EQ(r.status, kExitOk) << r.out << r.err;
  EXPECT_TRUE(contains(r.out,
                       "no_silent_loss                           holds for any number of "
                       "owners and fds"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "eventually_delivered                     NOT for any number of "
                       "owners and fds: liveness"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "3 owners x 1 fds")) << r.out;
}

TEST(CliCheckAnyOwners, TheJsonCarriesEveryClaim) {
  const Ran r = run(check_owners_small({"--json"}));
  ASSERT_EQ(r.status, kExitOk) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("anyOwners").get<bool>());
  EXPECT_TRUE(j.at("anyOwnersForEverySafetyProperty").get<bool>());
  int claimed = 0;
  for (const auto& c : j.at("claims"))
    claimed += c.at("anyOwnersAndFds").get<bool>() ? 1 : 0;
  EXPECT_EQ(claimed, static_cast<int>(j.at("claims").size()) - 1);  // all but liveness
  EXPECT_EQ(j.at("locality").size(), 5u);
}

TEST(CliCheckAnyOwners, TheThreeOwnerMutantExitsOneAndClaimsNothing) {
  const Ran plain =
      run({"check", "--quiet", "--mutant", "two_unit_slots", "--sessions", "0", "--kexecs", "1",
           "--faults", "1", "--no-late-owners", "--no-liveness", "--jobs", "1"});
  EXPECT_EQ(plain.status, kExitOk) << plain.out;  // invisible with the default two owners
  const Ran r = run(check_owners_small({"--mutant", "two_unit_slots"}));
  EXPECT_EQ(r.status, kExitFailure) << r.out << r.err;
  EXPECT_FALSE(contains(r.out, "holds for any number")) << r.out;
  EXPECT_TRUE(contains(r.out, "FAILS: dropping an owner or an fd commutes with every step"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "counterexample for delivered_to_owner")) << r.out;
}

TEST(CliCheckAnyOwners, RefusesOptionsItReplacesOrIsNotArguedFor) {
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{{"--owners", "3"},
                                             {"--fds", "1"},
                                             {"--symmetry"},
                                             {"--any-kexecs"},
                                             {"--sessions", "2"}}) {
    const Ran r = run(check_owners_small(extra));
    EXPECT_EQ(r.status, kExitUsage) << extra[0] << r.out << r.err;
  }
  const Ran promela = run({"check", "--promela", "--any-owners"});
  EXPECT_EQ(promela.status, kExitUsage) << promela.err;
}

TEST(CliCheckAnyOwners, HelpDocumentsIt) {
  const Ran r = run({"help", "check"});
  EXPECT_EQ(r.status, kExitOk);
  EXPECT_TRUE(contains(r.out, "--any-owners")) << r.out;
  EXPECT_TRUE(contains(r.out, "two_unit_slots")) << r.out;
}

}  // namespace
}  // namespace luo::cli
