// The replay (proofs/replay): traces of the correct world run through impl/ over the simulator
// agree with the model at every step (a conformance test of impl/ against the model), each
// mutant's counterexample is caught by the correct implementation where the mutant deviates,
// and bad trace files are refused with the field named.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "luo/proofs/replay.hpp"
#include "mutant_cases.hpp"

namespace luo::proofs {
namespace {

using cases::bounds;
using cases::tiny;

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
  cases.push_back({"ThreeFdsThreeFaults", bounds(1, 3, 1, 2, 3), 40, 2});
  cases.push_back({"ThreeOwnersTwoSessions", bounds(3, 1, 2, 3, 2), 40, 3});
  Bounds legacy = tiny(2, 2, 0, 2);
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

namespace luo::proofs {
namespace {

// Each mutant's counterexample (bounds of tests/proofs/checker_test.cpp) replayed against the
// correct implementation: where the mutant deviates, the implementation does not follow. The
// step is where the replay sees it: never_retry_held deviates at its owner load (step 7), which
// inside a restore is compared together with the FINISH after it (step 8, last agreement 6).
struct MutantReplay {
  Mutant mutant;
  PropertyId property;
  Bounds bounds;
  ReplayVerdict verdict;
  int step;                // the step reported
  std::string difference;  // a part of the first difference (or of why)
};

std::vector<MutantReplay> mutant_replays() {
  std::vector<MutantReplay> c;
  c.push_back({Mutant::finish_before_dispatch, PropertyId::finish_once_after_dispatch,
               tiny(1, 1, 0, 1), ReplayVerdict::disagrees, 6,
               "before FINISH; the model FINISHes with it not dispatched"});
  c.push_back({Mutant::restore_lifo, PropertyId::restore_in_preservation_order, tiny(1, 2, 0, 1),
               ReplayVerdict::disagrees, 7,
               "the model restores fd 0.1 (mapping token 2) here, the implementation fd 0.0"});
  Bounds hijack = tiny(1, 1, 0, 1);
  hijack.hijack = true;
  c.push_back({Mutant::no_namespace_guard, PropertyId::systemd_session_is_managers, hijack,
               ReplayVerdict::disagrees, 2,
               "the hijack session: model staged, implementation gone"});
  Bounds limited = tiny(1, 2, 0, 1);
  limited.profile = KernelProfile::v7_0;
  limited.file_limit = 2;
  c.push_back({Mutant::mapping_last, PropertyId::losses_have_legitimate_reasons, limited,
               ReplayVerdict::disagrees, 4,
               "fd 0.0: model lost (mapping lost to the file limit), implementation preserved"});
  c.push_back({Mutant::token_reuse, PropertyId::losses_have_legitimate_reasons, tiny(1, 2, 0, 1),
               ReplayVerdict::disagrees, 4,
               "fd 0.1: model lost (token reused by the manager), implementation preserved"});
  c.push_back({Mutant::never_retry_held, PropertyId::eventually_delivered, tiny(1, 1, 0, 1),
               ReplayVerdict::disagrees, 8, "fd 0.0: model held, implementation stored"});
  c.push_back({Mutant::wrong_owner, PropertyId::delivered_to_owner, tiny(2, 1, 0, 1),
               ReplayVerdict::disagrees, 6,
               "fd 0.0 attached to another owner (its store or held list): model yes"});
  c.push_back({Mutant::forget_held_at_stage_a, PropertyId::no_silent_loss, tiny(1, 1, 0, 2),
               ReplayVerdict::disagrees, 8, "fd 0.0: model held, implementation staged"});
  c.push_back({Mutant::close_sessions_early, PropertyId::third_party_survives_iff_held_outgoing,
               tiny(1, 0, 1, 1), ReplayVerdict::disagrees, 4,
               "session 0 in the kernel: model none, implementation outgoing"});
  c.push_back({Mutant::mapping_off_by_one, PropertyId::mapping_matches_session, tiny(1, 1, 0, 1),
               ReplayVerdict::disagrees, 3,
               "fd 0.0 recorded in the mapping under the kernel's token: model no, "
               "implementation yes"});
  c.push_back({Mutant::mapping_skipped, PropertyId::token0_is_mapping, tiny(1, 1, 0, 1),
               ReplayVerdict::disagrees, 3,
               "the mapping file (token 0): model none, implementation preserved"});
  return c;
}

class ReplayMutants : public ::testing::TestWithParam<MutantReplay> {};

TEST_P(ReplayMutants, TheCorrectImplementationDeviatesWhereTheMutantDoes) {
  const MutantReplay& c = GetParam();
  CheckOptions opt;
  opt.bounds = c.bounds;
  opt.bounds.mutant = c.mutant;
  opt.only = c.property;
  const CheckResult r = check(opt);
  const Verdict& v = r.verdict(c.property);
  ASSERT_TRUE(v.counterexample) << mutant_name(c.mutant);
  const World w(opt.bounds);
  const ReplayResult rep = replay(opt.bounds, *v.counterexample);
  const std::string shown = trace_text(w, *v.counterexample) + to_text(rep);
  EXPECT_EQ(rep.verdict, c.verdict) << shown;
  EXPECT_EQ(rep.step, c.step) << shown;
  EXPECT_LT(rep.last_agreed, rep.step) << shown;
  const bool named =
      std::any_of(rep.differences.begin(), rep.differences.end(),
                  [&](const std::string& d) { return d.find(c.difference) != std::string::npos; });
  EXPECT_TRUE(named) << c.difference << "\n" << shown;
}

INSTANTIATE_TEST_SUITE_P(Mutants, ReplayMutants, ::testing::ValuesIn(mutant_replays()),
                         cases::mutant_param_name<MutantReplay>);

// Every mutant `check --mutant` knows has its counterexample replayed against the object above,
// so a new mutant cannot be left out of the table.
TEST(ReplayMutantTable, EveryMutantOfTheCheckerIsReplayedAgainstTheObject) {
  const auto table = mutant_replays();
  EXPECT_EQ(cases::mutants_without_a_case(table), std::vector<std::string>{});
  EXPECT_EQ(table.size(), std::size(kAllMutants));
}

}  // namespace
}  // namespace luo::proofs

namespace luo::proofs {
namespace {

TEST(ReplayJson, CheckOutputRoundTripsIntoTheSameTraces) {
  CheckOptions opt;
  opt.bounds = tiny(2, 1, 0, 1);
  opt.bounds.mutant = Mutant::wrong_owner;
  const CheckResult r = check(opt);
  const World w(opt.bounds);
  auto parsed = parse_trace_json(to_json(w, r));
  ASSERT_TRUE(std::holds_alternative<TraceFile>(parsed)) << std::get<std::string>(parsed);
  const TraceFile& file = std::get<TraceFile>(parsed);
  EXPECT_EQ(file.bounds, opt.bounds);
  std::size_t n = 0;
  for (const auto& v : r.verdicts) {
    if (!v.counterexample)
      continue;
    ASSERT_LT(n, file.traces.size());
    EXPECT_EQ(file.traces[n].property, property(v.id).name);
    EXPECT_EQ(file.traces[n].trace.actions, v.counterexample->actions);
    EXPECT_EQ(file.traces[n].trace.states, v.counterexample->states);
    EXPECT_EQ(file.traces[n].trace.loop_start, v.counterexample->loop_start);
    ++n;
  }
  EXPECT_EQ(n, file.traces.size());
  EXPECT_GT(n, 0u);
}

TEST(ReplayJson, ABareTraceNeedsOnlyActionsAndItsErrorsNameTheField) {
  auto ok = parse_trace_json(R"({"bounds": {"owners": 1, "fds": 1, "sessions": 0},
      "steps": [{"action": {"kind": "store", "a": 0}}, {"action": {"kind": "remove"}}]})");
  ASSERT_TRUE(std::holds_alternative<TraceFile>(ok)) << std::get<std::string>(ok);
  const Trace& t = std::get<TraceFile>(ok).traces.at(0).trace;
  EXPECT_EQ(t.actions.size(), 2u);
  EXPECT_EQ(t.states.back().fd[0].e, Entry::removed);
  EXPECT_EQ(replay(std::get<TraceFile>(ok).bounds, t).verdict, ReplayVerdict::agrees);

  const auto error = [](std::string_view text) {
    auto r = parse_trace_json(text);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "accepted";
  };
  EXPECT_EQ(error(R"({"bounds": {"mutant": "evil"}, "steps": []})"),
            "bounds.mutant: unknown mutant 'evil'");
  EXPECT_EQ(error(R"({"bounds": {}, "steps": [{"action": {"kind": "store", "a": 300}}]})"),
            "(top level).steps[0].action.a: must be 0..255");
  EXPECT_EQ(error(R"({"bounds": {}, "steps": [{"action": {"kind": "store", "a": 0}}],
                      "loopStart": 5})"),
            "(top level).loopStart: must be -1..1");
  EXPECT_EQ(error(R"({"bounds": {"fileLimit": 2}, "steps": []})"),
            "bounds: file-limit needs a profile with per-session file limits (6.19, 7.0/7.1)");
  // Found by fuzz/replay_trace (docs/reliability.md F6): an fd named with 0 fds per owner was
  // described by dividing by the bounds (SIGFPE, or UBSan's division by zero).
  EXPECT_EQ(error(R"({"bounds": {"owners": 1, "fds": 0, "sessions": 0},
                      "steps": [{"action": {"kind": "store", "a": 0}}]})"),
            "(top level).steps[0].action: 'owner ? stores fd #0 (outside the bounds)' is not "
            "enabled in the model at this step");
}

TEST(Replay, ATraceWithoutStatesIsCompletedByTheWorldAndAnImpossibleOneRefused) {
  const Bounds b = tiny(1, 1, 0, 1);
  Trace t;
  t.actions = {{ActionKind::store, 0, 0},         {ActionKind::stage_a, 0, 0},
               {ActionKind::stage_b, 0, 0},       {ActionKind::kexec, 0, 0},
               {ActionKind::restore_begin, 0, 0}, {ActionKind::dispatch, 0, 0},
               {ActionKind::finish, 0, 0}};
  const ReplayResult good = replay(b, t);
  EXPECT_EQ(good.verdict, ReplayVerdict::agrees) << to_text(good);
  EXPECT_EQ(good.compared, 7) << "every step compared, the restore's at its dispatch and end";

  t.actions.insert(t.actions.begin(), Action{ActionKind::finish, 0, 0});
  const ReplayResult bad = replay(b, t);
  EXPECT_EQ(bad.verdict, ReplayVerdict::not_replayable);
  EXPECT_EQ(bad.step, 1);
}

}  // namespace
}  // namespace luo::proofs

namespace luo::proofs {
namespace {

// The features of a trace that exercise the replay's fault and crash mappings.
std::set<std::string> features(const World& w, const Trace& t) {
  std::set<std::string> f;
  bool restoring = false;
  bool dispatched = false;
  for (std::size_t i = 0; i < t.actions.size(); ++i) {
    const Action& a = t.actions[i];
    const State& pre = t.states[i];
    switch (a.kind) {
      case ActionKind::restore_begin:
        restoring = t.states[i + 1].rst == HandoffState::restoring;
        dispatched = false;
        if (a.b == 1)
          f.insert("token 0 retrieve fails");
        else if (a.b == 2)
          f.insert("systemd retrieve fails");
        break;
      case ActionKind::dispatch:
        dispatched = true;
        if (a.b != 0) {
          bool session = true;
          for (int d = a.a * w.bounds().fds; d < (a.a + 1) * w.bounds().fds; ++d)
            session = session && pre.fd[d].e != Entry::handed_over;
          f.insert(session ? "session retrieve fails" : "fd retrieve fails");
        }
        break;
      case ActionKind::finish:
        restoring = false;
        break;
      case ActionKind::agent_crash:
        if (restoring && dispatched)
          f.insert("manager dies between dispatches");
        restoring = false;
        break;
      case ActionKind::stage_b:
        if (a.b != 0)
          f.insert("CREATE_SESSION fails");
        else if (a.a == 1)
          f.insert("mapping PRESERVE_FD fails");
        else if (a.a >= 2)
          f.insert("entry PRESERVE_FD fails");
        break;
      case ActionKind::kexec:
        if (a.a != 0)
          f.insert("freeze fails");
        break;
      default:
        break;
    }
  }
  return f;
}

// Random walks until every fault and crash mapping was replayed in an agreeing trace (the plain
// walks meet some of them only rarely: faults are often spent on crashes first).
TEST(ReplayCoverage, EveryFaultAndCrashMappingIsReplayedInAnAgreeingTrace) {
  Bounds errnos;
  errnos.crashes = false;
  errnos.faults = 3;
  errnos.fds = 1;
  Bounds crashes;
  crashes.errnos = false;
  crashes.faults = 1;
  crashes.fds = 1;
  const std::set<std::string> wanted = {
      "token 0 retrieve fails",  "systemd retrieve fails", "fd retrieve fails",
      "session retrieve fails",  "CREATE_SESSION fails",   "mapping PRESERVE_FD fails",
      "entry PRESERVE_FD fails", "freeze fails",           "manager dies between dispatches"};
  std::set<std::string> seen;
  std::mt19937 rng(11);
  for (int i = 0; i < 3000 && seen != wanted; ++i) {
    const Bounds& b = i % 2 == 0 ? errnos : crashes;
    const World w(b);
    const Trace t = walk(w, rng, 40);
    const auto f = features(w, t);
    if (std::includes(seen.begin(), seen.end(), f.begin(), f.end()))
      continue;  // nothing new: not worth a replay
    const ReplayResult r = replay(b, t);
    ASSERT_EQ(r.verdict, ReplayVerdict::agrees) << trace_text(w, t) << to_text(r);
    seen.insert(f.begin(), f.end());
  }
  EXPECT_EQ(seen, wanted);
}

}  // namespace
}  // namespace luo::proofs
