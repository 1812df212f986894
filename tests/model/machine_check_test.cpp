// The table engine's run-time checks (issue 15): a question the tables cannot answer, such as a
// transition out of a terminal state, aborts with a message instead of reading past the table,
// and no decision can collect more candidates than it holds.
#include <gtest/gtest.h>

#include "luo/model/all_machines.hpp"

namespace luo {
namespace {

TEST(MachineCheckDeathTest, SelectInATerminalStateAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH((void)select(kFdEntryMachine, FdEntryState::removed, FdEntryEvent::stage,
                            kDefaultProfile, Facts{}),
               "terminal state");
}

// The terminal check sits behind select()'s guard-mask test; it must catch a terminal state
// whatever the facts say, with a guard holding or not, and with a fact unknown.
TEST(MachineCheckDeathTest, SelectInATerminalStateAbortsWhateverTheFacts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Facts holding;
  holding.set(Guard::preserve_fails, true).set(Guard::store_full, true);
  EXPECT_DEATH((void)select(kFdEntryMachine, FdEntryState::removed, FdEntryEvent::stage,
                            kDefaultProfile, holding),
               "terminal state");
  EXPECT_DEATH((void)select(kOutgoingSessionMachine, OutgoingSessionState::closed,
                            OutgoingSessionEvent::preserve_fd, kDefaultProfile, Facts{}),
               "terminal state");
  EXPECT_DEATH((void)select(kFdEntryMachine, FdEntryState::removed, FdEntryEvent::stage,
                            kDefaultProfile, Facts::all_unknown()),
               "terminal state");
}

// A terminal state's cell carries only the bit every Facts holds; no other cell carries it.
TEST(MachineCheckTest, OnlyTerminalCellsCarryTheAlwaysBit) {
  for (auto s : kOutgoingSessionMachine.states) {
    for (auto e : kOutgoingSessionMachine.events) {
      const Cell& c = kOutgoingSessionMachine.cell(kDefaultProfile, s, e);
      EXPECT_EQ((c.guard_mask & Facts::kAlwaysBit) != 0, kOutgoingSessionMachine.is_terminal(s));
    }
  }
  EXPECT_EQ(Facts{}.yes_mask(), Facts::kAlwaysBit);
  EXPECT_EQ(Facts::all_unknown().yes_mask(), Facts::kAlwaysBit);
}

TEST(MachineCheckDeathTest, FirstOfAnEmptyDecisionAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto d = decide(kFdEntryMachine, FdEntryState::removed, FdEntryEvent::stage,
                        kDefaultProfile, Facts::all_unknown());
  EXPECT_EQ(d.size(), 0u);
  EXPECT_FALSE(d.determined());
  EXPECT_DEATH((void)d.first(), "no row applies");
}

TEST(MachineCheckDeathTest, ADecisionRefusesMoreCandidatesThanItHolds) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  using D = Decision<FdEntryState, FdEntryEvent>;
  const auto& row = kFdEntryMachine.rows[0];
  D d;
  for (std::size_t i = 0; i < D::kMaxCandidates; ++i)
    d.add(&row, Truth::unknown);
  EXPECT_EQ(d.size(), D::kMaxCandidates);
  EXPECT_DEATH(d.add(&row, Truth::unknown), "more candidate rows");
  EXPECT_DEATH((void)d.candidate(D::kMaxCandidates), "past the last candidate");
}

// The compile-time side of the same limit (all_machines.hpp asserts it too): every cell of every
// machine, asked with every fact unknown, collects at most kMaxDecisionCandidates rows.
TEST(MachineCheckTest, EveryCellFitsADecision) {
  EXPECT_TRUE(kDeviceMachine.fits_decision());
  EXPECT_TRUE(kOutgoingSessionMachine.fits_decision());
  EXPECT_TRUE(kIncomingSessionMachine.fits_decision());
  EXPECT_TRUE(kFileMachine.fits_decision());
  EXPECT_TRUE(kFdEntryMachine.fits_decision());
  EXPECT_TRUE(kHandoffMachine.fits_decision());
}

// select() with every fact known answers as decide() does, in every cell where a guard holds:
// its walk without a Decision picks the same row.
TEST(MachineCheckTest, SelectAgreesWithDecideWhenAGuardHolds) {
  for (auto p : kAllProfiles) {
    for (auto s : kOutgoingSessionMachine.states) {
      if (kOutgoingSessionMachine.is_terminal(s))
        continue;
      for (auto e : kOutgoingSessionMachine.events) {
        for (std::size_t g = 1; g < kGuardCount; ++g) {
          Facts f;
          f.set(static_cast<Guard>(g), true);
          EXPECT_EQ(&select(kOutgoingSessionMachine, s, e, p, f),
                    &decide(kOutgoingSessionMachine, s, e, p, f).first());
        }
      }
    }
  }
}

}  // namespace
}  // namespace luo
