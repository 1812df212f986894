// The restore segment's plan (proofs/replay/src/restore_plan.hpp), on its own: the world's traces
// and an implementation's mapping order in, the order the replay will run them out. No impl, no
// kernel: the plan is pure.
#include <gtest/gtest.h>

#include <variant>

#include "mutant_cases.hpp"
#include "restore_plan.hpp"

namespace luo::proofs::replay_detail {
namespace {

using cases::tiny;

// The trace of `actions` from the world's initial state, every step checked enabled.
Trace run(const World& w, const std::vector<Action>& actions) {
  Trace t;
  t.states.push_back(w.initial());
  for (const auto& a : actions) {
    auto next = w.apply(t.states.back(), a);
    EXPECT_TRUE(next.has_value()) << w.describe(a);
    if (!next)
      break;
    t.actions.push_back(a);
    t.states.push_back(*next);
  }
  return t;
}

// Two owners with one fd each, handed over, then `restore`: the restore begins at index 5.
Trace handed_over_then(const World& w, const std::vector<Action>& restore) {
  std::vector<Action> actions = {{ActionKind::store, 0, 0},   {ActionKind::store, 1, 0},
                                 {ActionKind::stage_a, 0, 0}, {ActionKind::stage_b, 0, 0},
                                 {ActionKind::kexec, 0, 0},   {ActionKind::restore_begin, 0, 0}};
  actions.insert(actions.end(), restore.begin(), restore.end());
  return run(w, actions);
}

// The two owners' world with one fault to spend: the manager may crash in the restore.
World crashing_world() {
  Bounds b = tiny(2, 1, 0, 1);
  b.faults = 1;
  return World(b);
}

// The implementation's mapping: owner 0's fd, then owner 1's.
std::vector<PlanItem> mapping_owner0_first() {
  return {PlanItem{0, 0, false, 0}, PlanItem{1, 1, false, 0}};
}

TEST(RestorePlan, TheWorldsInterleavingIsReplayedInTheImplementationsOrderWhenTheWorldAgrees) {
  const World w(tiny(2, 1, 0, 1));
  const Trace t = handed_over_then(w, {{ActionKind::dispatch, 1, 0},  // owner 1's entry first
                                       {ActionKind::dispatch, 0, 0},
                                       {ActionKind::finish, 0, 0}});
  ASSERT_EQ(t.actions.size(), 9u);
  const auto planned = plan_restore(w, t, 5, mapping_owner0_first());
  ASSERT_TRUE(std::holds_alternative<RestorePlan>(planned));
  const auto& p = std::get<RestorePlan>(planned);
  EXPECT_TRUE(p.restoring);
  EXPECT_TRUE(p.terminal);
  EXPECT_FALSE(p.crash);
  EXPECT_EQ(p.end, 8);
  EXPECT_EQ(p.seq, (std::vector<int>{5, 7, 6, 8}));
  EXPECT_EQ(p.items[0].position, 7);
  EXPECT_EQ(p.items[1].position, 6);
  EXPECT_EQ(p.rpos, (std::vector<int>{1, 2}));
  EXPECT_EQ(p.deferred, (std::vector<bool>{false, false}));
  EXPECT_EQ(p.states.size(), p.seq.size() + 1);
  EXPECT_EQ(p.states.back(), t.states.back());
  EXPECT_EQ(p.note, "steps 6-9 replayed in the implementation's restore order: 6 8 7 9\n");
}

TEST(RestorePlan, InTheImplementationsOwnOrderNothingIsReorderedOrNoted) {
  const World w(tiny(2, 1, 0, 1));
  const Trace t = handed_over_then(w, {{ActionKind::dispatch, 0, 0},
                                       {ActionKind::reload, 0, 0},
                                       {ActionKind::dispatch, 1, 0},
                                       {ActionKind::finish, 0, 0}});
  const auto planned = plan_restore(w, t, 5, mapping_owner0_first());
  ASSERT_TRUE(std::holds_alternative<RestorePlan>(planned));
  const auto& p = std::get<RestorePlan>(planned);
  EXPECT_EQ(p.seq, (std::vector<int>{5, 6, 7, 8, 9}));
  EXPECT_TRUE(p.note.empty());
}

TEST(RestorePlan, AManagerCrashCountsTheEntriesRetrievedBeforeIt) {
  const World wc = crashing_world();
  const Trace t =
      handed_over_then(wc, {{ActionKind::dispatch, 0, 0}, {ActionKind::agent_crash, 0, 0}});
  ASSERT_EQ(t.actions.size(), 8u);
  const auto planned = plan_restore(wc, t, 5, mapping_owner0_first());
  ASSERT_TRUE(std::holds_alternative<RestorePlan>(planned));
  const auto& p = std::get<RestorePlan>(planned);
  EXPECT_TRUE(p.crash);
  EXPECT_EQ(p.crash_after, 1u);
  EXPECT_EQ(p.items[1].position, -1);  // never dispatched: the crash takes it
}

TEST(RestorePlan, ACrashAfterALaterEntryOfTheMappingButBeforeAnEarlierOneIsRefused) {
  const World w = crashing_world();
  const Trace t =
      handed_over_then(w, {{ActionKind::dispatch, 1, 0}, {ActionKind::agent_crash, 0, 0}});
  const auto planned = plan_restore(w, t, 5, mapping_owner0_first());
  ASSERT_TRUE(std::holds_alternative<PlanRefusal>(planned));
  EXPECT_NE(std::get<PlanRefusal>(planned).why.find("later entry"), std::string::npos);
}

TEST(RestorePlan, AnEntryTheImplementationsMappingDoesNotHoldIsRefused) {
  const World w(tiny(2, 1, 0, 1));
  const Trace t = handed_over_then(w, {{ActionKind::dispatch, 1, 0}});
  const auto planned = plan_restore(w, t, 5, {PlanItem{0, 0, false, 0}});
  ASSERT_TRUE(std::holds_alternative<PlanRefusal>(planned));
  EXPECT_NE(std::get<PlanRefusal>(planned).why.find("does not hold"), std::string::npos);
}

TEST(RestorePlan, TheWorldsRankKeepsAnOwnersFdsBeforeItsSessions) {
  const std::vector<PlanItem> items = {PlanItem{0, 2, true, 0}, PlanItem{0, 0, false, 0},
                                       PlanItem{0, 1, false, 1}};
  EXPECT_EQ(world_rank(items, 1, 2), 0);
  EXPECT_EQ(world_rank(items, 2, 2), 1);
  EXPECT_EQ(world_rank(items, 0, 2), 2);  // a session comes after every fd of its owner
}

}  // namespace
}  // namespace luo::proofs::replay_detail
