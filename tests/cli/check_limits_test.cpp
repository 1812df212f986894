// `luo-lifecycle check --jobs` and `--max-memory`: any number of jobs prints the same states and
// verdicts; a tiny memory cap ends the run with exit status 3 and a report that says how far it
// got; malformed sizes and job counts are usage errors.
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

// 2 owners x 1 fd, 1 session, 2 kexecs, 1 fault: about a hundred thousand states, a few MiB.
std::vector<std::string> check_small(std::vector<std::string> extra) {
  std::vector<std::string> argv{"check",      "--quiet", "--owners", "2", "--fds",    "1",
                                "--sessions", "1",       "--kexecs", "2", "--faults", "1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// The report without its timing line (the second-to-last of its header).
std::string without_time(const std::string& report) {
  std::string out;
  std::size_t from = 0;
  while (from < report.size()) {
    std::size_t end = report.find('\n', from);
    end = end == std::string::npos ? report.size() : end + 1;
    const std::string line = report.substr(from, end - from);
    if (line.rfind("time: ", 0) != 0)
      out += line;
    from = end;
  }
  return out;
}

TEST(CliCheckLimits, AnyNumberOfJobsPrintsTheSameReport) {
  // Liveness too is the same for any number of jobs (tests/proofs/parallel_checker_test.cpp);
  // here the report is what is compared.
  const Ran one = run(check_small({"--no-liveness", "--jobs", "1"}));
  const Ran two = run(check_small({"--no-liveness", "--jobs", "2"}));
  ASSERT_EQ(one.status, kExitOk) << one.out << one.err;
  EXPECT_EQ(two.status, kExitOk) << two.err;
  EXPECT_TRUE(contains(one.out, " distinct, ")) << one.out;
  EXPECT_TRUE(contains(one.out, "1 thread)")) << one.out;
  EXPECT_TRUE(contains(two.out, "2 threads)")) << two.out;
  EXPECT_EQ(without_time(one.out), without_time(two.out));
}

TEST(CliCheckLimits, ATinyMemoryCapExitsThreeAndSaysWhatWasCovered) {
  for (const char* jobs : {"1", "2"}) {
    const Ran r = run(check_small({"--jobs", jobs, "--max-memory", "2M"}));
    EXPECT_EQ(r.status, 3) << jobs << " jobs: " << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "INCOMPLETE (memory cap)")) << r.out;
    EXPECT_TRUE(contains(r.out, "the memory cap (--max-memory 2 MiB) stopped the search")) << r.out;
    EXPECT_TRUE(contains(r.out, "eventually_delivered")) << r.out;

    const Ran json = run(check_small({"--jobs", jobs, "--max-memory", "2M", "--json"}));
    EXPECT_EQ(json.status, 3);
    const auto j = nlohmann::json::parse(json.out);
    EXPECT_FALSE(j["complete"].get<bool>());
    EXPECT_EQ(j["stoppedBy"], "max-memory");
    EXPECT_EQ(j["maxMemoryBytes"].get<std::uint64_t>(), std::uint64_t{2} << 20);
    EXPECT_LE(j["memoryBytes"].get<std::uint64_t>(), std::uint64_t{2} << 20);
    EXPECT_GT(j["completeDepth"].get<int>(), 0);
  }
}

TEST(CliCheckLimits, NoCapAndTheDefaultCapCheckEverything) {
  const Ran none = run(check_small({"--max-memory", "0", "--no-liveness"}));
  EXPECT_EQ(none.status, kExitOk) << none.out << none.err;
  const Ran dflt = run(check_small({"--no-liveness", "--json"}));
  ASSERT_EQ(dflt.status, kExitOk) << dflt.err;
  const auto j = nlohmann::json::parse(dflt.out);
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["stoppedBy"], "none");
  EXPECT_GT(j["maxMemoryBytes"].get<std::uint64_t>(), 0u);
}

TEST(CliCheckLimits, MalformedSizesAndJobCountsAreUsageErrors) {
  for (const auto& extra :
       std::vector<std::vector<std::string>>{{"--max-memory", "lots"},
                                             {"--max-memory", "12Q"},
                                             {"--max-memory", "-1G"},
                                             {"--max-memory", "99999999999T"},
                                             {"--jobs", "two"},
                                             {"--jobs", "-2"},
                                             {"--promela", "--jobs", "2"},
                                             {"--spin", "--max-memory", "1G"}}) {
    const Ran r = run(check_small(extra));
    EXPECT_EQ(r.status, kExitUsage) << extra[0] << " " << extra[1];
    EXPECT_FALSE(r.err.empty());
  }
}

}  // namespace
}  // namespace luo::cli
