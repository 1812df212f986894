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

// Two owners with one fd each, handed over; the restore begins at index 5.
std::vector<Action> two_owners_handed_over() {
  return {{ActionKind::store, 0, 0},   {ActionKind::store, 1, 0},
          {ActionKind::stage_a, 0, 0}, {ActionKind::stage_b, 0, 0},
          {ActionKind::kexec, 0, 0},   {ActionKind::restore_begin, 0, 0}};
}

// The implementation's mapping: owner 0's fd, then owner 1's.
std::vector<PlanItem> mapping_owner0_first() {
  return {PlanItem{0, 0, false, 0}, PlanItem{1, 1, false, 0}};
}

TEST(RestorePlan, TheWorldsInterleavingIsReplayedInTheImplementationsOrderWhenTheWorldAgrees) {
  const World w(tiny(2, 1, 0, 1));
  auto actions = two_owners_handed_over();
  actions.push_back({ActionKind::dispatch, 1, 0});  // the world takes owner 1's entry first
  actions.push_back({ActionKind::dispatch, 0, 0});
  actions.push_back({ActionKind::finish, 0, 0});
  const Trace t = run(w, actions);
  ASSERT_EQ(t.actions.size(), actions.size());
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
  auto actions = two_owners_handed_over();
  actions.push_back({ActionKind::dispatch, 0, 0});
  actions.push_back({ActionKind::reload, 0, 0});
  actions.push_back({ActionKind::dispatch, 1, 0});
  actions.push_back({ActionKind::finish, 0, 0});
  const Trace t = run(w, actions);
  const auto planned = plan_restore(w, t, 5, mapping_owner0_first());
  ASSERT_TRUE(std::holds_alternative<RestorePlan>(planned));
  const auto& p = std::get<RestorePlan>(planned);
  EXPECT_EQ(p.seq, (std::vector<int>{5, 6, 7, 8, 9}));
  EXPECT_TRUE(p.note.empty());
}

TEST(RestorePlan, AManagerCrashCountsTheEntriesRetrievedBeforeIt) {
  Bounds b = tiny(2, 1, 0, 1);
  b.crashes = true;
  b.faults = 1;
  const World wc(b);
  auto actions = two_owners_handed_over();
  actions.push_back({ActionKind::dispatch, 0, 0});
  actions.push_back({ActionKind::agent_crash, 0, 0});
  const Trace t = run(wc, actions);
  ASSERT_EQ(t.actions.size(), actions.size());
  const auto planned = plan_restore(wc, t, 5, mapping_owner0_first());
  ASSERT_TRUE(std::holds_alternative<RestorePlan>(planned));
  const auto& p = std::get<RestorePlan>(planned);
  EXPECT_TRUE(p.crash);
  EXPECT_EQ(p.crash_after, 1u);
  EXPECT_EQ(p.items[1].position, -1);  // never dispatched: the crash takes it
}

TEST(RestorePlan, ACrashAfterALaterEntryOfTheMappingButBeforeAnEarlierOneIsRefused) {
  Bounds b = tiny(2, 1, 0, 1);
  b.crashes = true;
  b.faults = 1;
  const World w(b);
  auto actions = two_owners_handed_over();
  actions.push_back({ActionKind::dispatch, 1, 0});
  actions.push_back({ActionKind::agent_crash, 0, 0});
  const Trace t = run(w, actions);
  const auto planned = plan_restore(w, t, 5, mapping_owner0_first());
  ASSERT_TRUE(std::holds_alternative<PlanRefusal>(planned));
  EXPECT_NE(std::get<PlanRefusal>(planned).why.find("later entry"), std::string::npos);
}

TEST(RestorePlan, AnEntryTheImplementationsMappingDoesNotHoldIsRefused) {
  const World w(tiny(2, 1, 0, 1));
  auto actions = two_owners_handed_over();
  actions.push_back({ActionKind::dispatch, 1, 0});
  const Trace t = run(w, actions);
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
