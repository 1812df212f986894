// The replay (proofs/replay): traces of the correct world run through impl/ over the simulator
// agree with the model at every step (a conformance test of impl/ against the model), each
// mutant's counterexample is caught by the correct implementation where the mutant deviates,
// and bad trace files are refused with the field named.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include <nlohmann/json.hpp>

#include "luo/proofs/replay.hpp"

namespace luo::proofs {
namespace {

// A random walk of the world: each step an enabled kind of action, uniformly, then one of its
// instances (so daemon-reload, always enabled, does not crowd out the rest).
Trace walk(const World& w, std::mt19937& rng, int max_steps) {
  Trace t;
  t.states.push_back(w.initial());
  std::vector<World::Step> next;
  for (int i = 0; i < max_steps; ++i) {
    w.successors(t.states.back(), next);
    if (next.empty())
      break;
    std::vector<ActionKind> kinds;
    for (const auto& s : next) {
      if (std::find(kinds.begin(), kinds.end(), s.action.kind) == kinds.end())
        kinds.push_back(s.action.kind);
    }
    const ActionKind kind = kinds[rng() % kinds.size()];
    std::vector<const World::Step*> of_kind;
    for (const auto& s : next) {
      if (s.action.kind == kind)
        of_kind.push_back(&s);
    }
    const World::Step& s = *of_kind[rng() % of_kind.size()];
    t.actions.push_back(s.action);
    t.states.push_back(s.next);
  }
  return t;
}

std::string trace_text(const World& w, const Trace& t) {
  std::string s;
  for (std::size_t i = 0; i < t.actions.size(); ++i)
    s += "  " + std::to_string(i + 1) + ". " + w.describe(t.actions[i]) + "\n";
  return s;
}

struct WalkCase {
  std::string name;
  Bounds bounds;
  int walks;
  unsigned seed;
};

std::vector<WalkCase> walk_cases() {
  std::vector<WalkCase> cases;
  cases.push_back({"Defaults", Bounds{}, 40, 1});
  Bounds two_faults;
  two_faults.owners = 1;
  two_faults.fds = 3;
  two_faults.sessions = 1;
  two_faults.faults = 3;
  cases.push_back({"ThreeFdsThreeFaults", two_faults, 40, 2});
  Bounds wide;
  wide.owners = 3;
  wide.fds = 1;
  wide.sessions = 2;
  wide.kexecs = 3;
  wide.faults = 2;
  cases.push_back({"ThreeOwnersTwoSessions", wide, 40, 3});
  Bounds legacy;
  legacy.owners = 2;
  legacy.fds = 2;
  legacy.sessions = 0;
  legacy.hijack = false;
  legacy.profile = KernelProfile::v7_0;
  legacy.file_limit = 3;
  legacy.faults = 2;
  cases.push_back({"LegacyFileLimit", legacy, 40, 4});
  Bounds crashes_only;
  crashes_only.errnos = false;
  crashes_only.faults = 3;
  crashes_only.profile = KernelProfile::v7_3;
  cases.push_back({"CrashesOnly73", crashes_only, 40, 5});
  return cases;
}

class ReplayWalks : public ::testing::TestWithParam<WalkCase> {};

TEST_P(ReplayWalks, TheImplementationAgreesWithTheModelOnRandomTraces) {
  WalkCase c = GetParam();
  // LUO_REPLAY_WALKS=N runs N walks per bounds instead (long runs, outside CI).
  if (const char* n = std::getenv("LUO_REPLAY_WALKS"))
    c.walks = std::max(1, std::atoi(n));
  const World w(c.bounds);
  std::mt19937 rng(c.seed);
  int agreed = 0;
  int compared = 0;
  for (int i = 0; i < c.walks; ++i) {
    const Trace t = walk(w, rng, 60);
    const ReplayResult r = replay(c.bounds, t);
    ASSERT_NE(r.verdict, ReplayVerdict::disagrees) << "walk " << i << ":\n"
                                                   << trace_text(w, t) << to_text(r);
    // The one interleaving impl cannot express: the manager dies in a restore after the model
    // took an owner's fd but before a session impl's mapping order puts first (the world
    // restores an owner's fds before its sessions, impl in store order).
    if (r.verdict == ReplayVerdict::not_replayable) {
      EXPECT_NE(r.why.find("the manager dies after the model dispatched a later entry"),
                std::string::npos)
          << "walk " << i << " not replayable:\n"
          << trace_text(w, t) << to_text(r);
    }
    agreed += r.verdict == ReplayVerdict::agrees ? 1 : 0;
    compared += r.compared;
  }
  EXPECT_GE(agreed * 10, c.walks * 9) << agreed << " of " << c.walks << " walks agree";
  EXPECT_GT(compared, c.walks * 10) << "the walks compare the states at many steps";
}

INSTANTIATE_TEST_SUITE_P(Bounds, ReplayWalks, ::testing::ValuesIn(walk_cases()),
                         [](const ::testing::TestParamInfo<WalkCase>& p) { return p.param.name; });

}  // namespace
}  // namespace luo::proofs
