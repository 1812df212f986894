// Regressions of the world (proofs/src/world.cpp) found by replaying its traces through impl/
// (proofs/replay): each is a step where the model said something the implementation, rightly,
// does not do.
#include <gtest/gtest.h>

#include "luo/proofs/checker.hpp"
#include "mutant_cases.hpp"

namespace luo::proofs {
namespace {

using cases::bounds;
using cases::tiny;

State run(const World& w, std::initializer_list<Action> actions) {
  State s = w.initial();
  for (const Action& a : actions) {
    auto next = w.apply(s, a);
    EXPECT_TRUE(next) << w.describe(a) << " is not enabled";
    if (!next)
      break;
    s = *next;
  }
  return s;
}

// A service's session named "systemd", handed to its store (its only fd), dies with the manager
// that held the store: it cannot be "stored" any more, nor be staged at the next Stage A.
TEST(WorldRegression, AManagerCrashTakesTheStoredHijackSessionWithIt) {
  Bounds b = bounds(1, 0, 0, 1, 1);
  const World w(b);
  const State s = run(w, {{ActionKind::hijack, 0, 0}, {ActionKind::agent_crash, 0, 0}});
  EXPECT_EQ(s.hj, Hijack::gone) << describe_state(w, s);

  // Even a manager without the namespace guard has nothing left to stage.
  b.mutant = Mutant::no_namespace_guard;
  const World broken(b);
  const State t = run(
      broken,
      {{ActionKind::hijack, 0, 0}, {ActionKind::agent_crash, 0, 0}, {ActionKind::stage_a, 0, 0}});
  EXPECT_EQ(t.hj, Hijack::gone) << describe_state(broken, t);
  // v262 hands over even with nothing to carry; v261 does not.
  EXPECT_EQ(t.out, HandoffState::serialized);
  b.systemd = SystemdProfile::v261;
  const World v261(b);
  const State u = run(
      v261,
      {{ActionKind::hijack, 0, 0}, {ActionKind::agent_crash, 0, 0}, {ActionKind::stage_a, 0, 0}});
  EXPECT_EQ(u.out, HandoffState::nothing);
}

// The kexec counter (systemd-luo.md §9.2, §9.3): v262 carries it through kexecs that carry no
// fd, v261 starts over after one; and kexec_count_carried judges the restore step by it.
Bounds no_stores(SystemdProfile systemd) {
  Bounds b = tiny(1, 0, 0, 2);
  b.late_owners = false;
  b.systemd = systemd;
  return b;
}

const std::initializer_list<Action> kEmptyKexec = {{ActionKind::stage_a, 0, 0},
                                                   {ActionKind::stage_b, 0, 0},
                                                   {ActionKind::kexec, 0, 0},
                                                   {ActionKind::restore_begin, 0, 0}};

TEST(WorldCounter, V262CountsKexecsThatCarryNothing) {
  const World w(no_stores(SystemdProfile::v262));
  State s = run(w, kEmptyKexec);
  EXPECT_EQ(s.kc, 1) << describe_state(w, s);
  EXPECT_EQ(s.rst, HandoffState::restoring);
  s = *w.apply(s, {ActionKind::finish, 0, 0});
  for (const Action& a : kEmptyKexec)
    s = *w.apply(s, a);
  EXPECT_EQ(s.kc, 2) << describe_state(w, s);
}

TEST(WorldCounter, V261StartsOverAfterAKexecWithNothing) {
  const World w(no_stores(SystemdProfile::v261));
  // Stage A hands nothing over, so there is no Stage B to take.
  const State s = run(
      w,
      {{ActionKind::stage_a, 0, 0}, {ActionKind::kexec, 0, 0}, {ActionKind::restore_begin, 0, 0}});
  EXPECT_EQ(s.kc, 0) << describe_state(w, s);
  EXPECT_EQ(s.rst, HandoffState::nothing);
}

TEST(WorldCounter, ARestoreThatDoesNotCountOnBreaksTheProperty) {
  const World w(no_stores(SystemdProfile::v262));
  State before =
      run(w, {{ActionKind::stage_a, 0, 0}, {ActionKind::stage_b, 0, 0}, {ActionKind::kexec, 0, 0}});
  Violations v = 0;
  ASSERT_TRUE(w.apply(before, {ActionKind::restore_begin, 0, 0}, &v));
  EXPECT_EQ(v & bit(PropertyId::kexec_count_carried), 0u);
  // A mapping that carries a stale counter: the restore adopts it + 1, one short.
  before.kc = 2;
  before.map_kc = 0;
  ASSERT_TRUE(w.apply(before, {ActionKind::restore_begin, 0, 0}, &v));
  EXPECT_NE(v & bit(PropertyId::kexec_count_carried), 0u);
}

}  // namespace
}  // namespace luo::proofs
