// Regressions of the world (proofs/src/world.cpp) found by replaying its traces through impl/
// (proofs/replay): each is a step where the model said something the implementation, rightly,
// does not do.
#include <gtest/gtest.h>

#include "luo/proofs/checker.hpp"

namespace luo::proofs {
namespace {

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
  Bounds b;
  b.owners = 1;
  b.fds = 0;
  b.sessions = 0;
  b.kexecs = 1;
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
  EXPECT_EQ(t.out, HandoffState::nothing);
}

}  // namespace
}  // namespace luo::proofs
