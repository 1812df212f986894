// luo-lifecycle replay, run in-process: exit codes (0 agrees, 1 disagrees, 2 bad input naming
// the field, 3 not replayable), check --json piped in, --property, --json output.
#include <gtest/gtest.h>

#include <sstream>
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

// The smallest bounds that catch restore_lifo (as in tests/proofs/checker_test.cpp).
const std::vector<std::string> kLifo = {
    "check",      "--mutant", "restore_lifo", "--owners", "1",        "--fds", "2",
    "--sessions", "0",        "--kexecs",     "1",        "--faults", "0",     "--no-hijack",
    "--json",     "--quiet"};

TEST(CliReplay, AMutantsCounterexampleDisagreesWithTheImplementation) {
  const Ran check = run(kLifo);
  ASSERT_EQ(check.status, kExitFailure) << check.err;
  const Ran all = run({"replay", "-"}, check.out);
  EXPECT_EQ(all.status, kExitFailure) << all.out << all.err;
  EXPECT_TRUE(contains(all.out, "counterexample for restore_in_preservation_order")) << all.out;
  EXPECT_TRUE(contains(all.out, "DISAGREES at step")) << all.out;

  const Ran one =
      run({"replay", "-", "--property", "restore_in_preservation_order", "--json"}, check.out);
  EXPECT_EQ(one.status, kExitFailure);
  const auto doc = nlohmann::json::parse(one.out);
  ASSERT_EQ(doc["replays"].size(), 1u);
  EXPECT_EQ(doc["replays"][0]["property"], "restore_in_preservation_order");
  EXPECT_EQ(doc["replays"][0]["result"]["verdict"], "disagrees");
  EXPECT_FALSE(doc["replays"][0]["result"]["differences"].empty());

  const Ran missing = run({"replay", "-", "--property", "no_silent_loss"}, check.out);
  EXPECT_EQ(missing.status, kExitUsage);
  EXPECT_TRUE(contains(missing.err, "no counterexample for property 'no_silent_loss'"));
  EXPECT_EQ(run({"replay", "-", "--property", "nonsense"}, check.out).status, kExitUsage);
}

TEST(CliReplay, ACorrectTraceAgreesAndAResultWithoutCounterexamplesHasNothingToReplay) {
  const std::string trace = R"({"bounds": {"owners": 1, "fds": 1, "sessions": 0, "kexecs": 1},
    "steps": [{"action": {"kind": "store", "a": 0}}, {"action": {"kind": "stage_a"}},
              {"action": {"kind": "stage_b"}}, {"action": {"kind": "kexec"}},
              {"action": {"kind": "restore_begin"}}, {"action": {"kind": "dispatch", "a": 0}},
              {"action": {"kind": "finish"}}]})";
  const Ran r = run({"replay", "-"}, trace);
  EXPECT_EQ(r.status, kExitOk) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "agrees at every step")) << r.out;

  const Ran clean = run({"check", "--owners", "1", "--fds", "1", "--sessions", "0", "--kexecs", "1",
                         "--faults", "0", "--json", "--quiet"});
  ASSERT_EQ(clean.status, kExitOk);
  const Ran nothing = run({"replay", "-"}, clean.out);
  EXPECT_EQ(nothing.status, kExitOk);
  EXPECT_TRUE(contains(nothing.out, "nothing to replay")) << nothing.out;
}

TEST(CliReplay, ATraceTheImplementationCannotRunExitsThree) {
  // Before 7.2 impl tells a stored session by its /proc link; the simulator's are sockets.
  const std::string trace = R"({"bounds": {"owners": 1, "fds": 0, "sessions": 1,
    "profile": "7.0", "hijack": false},
    "steps": [{"action": {"kind": "open_session", "a": 0}},
              {"action": {"kind": "store_session", "a": 0}}]})";
  const Ran r = run({"replay", "-"}, trace);
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "not replayable at step 2")) << r.out;
}

TEST(CliReplay, BadInputNamesTheField) {
  const auto bad = [](const std::string& text, const std::string& message) {
    const Ran r = run({"replay", "-"}, text);
    EXPECT_EQ(r.status, kExitUsage) << text;
    EXPECT_TRUE(contains(r.err, message)) << r.err;
  };
  bad("{", "malformed JSON at byte 1");
  bad("[]", "must be an object");
  bad(R"({"steps": []})", "missing field 'bounds'");
  bad(R"({"bounds": {}})", "neither 'verdicts'");
  bad(R"({"bounds": {"owners": 9}, "steps": []})", "bounds.owners: must be 0..4");
  bad(R"({"bounds": {"profile": "5.4"}, "steps": []})", "bounds.profile: unknown profile '5.4'");
  bad(R"({"bounds": {}, "steps": [{"action": {"kind": "jump"}}]})",
      "(top level).steps[0].action.kind: unknown action 'jump'");
  bad(R"({"bounds": {}, "steps": [{"action": {"kind": "finish"}}]})",
      "steps[0].action: 'manager FINISHes \"systemd\"' is not enabled");
  bad(R"({"bounds": {}, "steps": [{"action": {"kind": "store", "a": 0}, "state": {}}]})",
      "steps[0].state: differs from the model's state");
  bad(R"({"bounds": {}, "verdicts": [{"property": "x", "counterexample": {"steps": 3}}]})",
      "verdicts[0].counterexample.steps: must be an array");
  // docs/reliability.md F7: a number no JSON type holds was an escaping exception.
  bad(R"({"bounds": 1e99999})", "malformed JSON at byte 17: number overflow");
  EXPECT_EQ(run({"replay"}).status, kExitUsage);
  EXPECT_EQ(run({"replay", "/no/such/file.json"}).status, kExitUsage);
}

}  // namespace
}  // namespace luo::cli
