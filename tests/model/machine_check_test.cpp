// The table engine's run-time checks (issue 15): a question the tables cannot answer, such as a
// transition out of a terminal state, aborts with a message instead of reading past the table,
// and no decision can collect more candidates than it holds.
#include <gtest/gtest.h>

#include <cerrno>
#include <random>
#include <vector>

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

// A DecisionMemo answers as decide() and Decision::resolve() do, and is fresh exactly when the
// question differs from the last one: a random walk over questions that repeat often, as a
// handoff's do, and change in one part at a time (machine, state, event, profile or one fact).
// The second machine is the same table at another address, so only the machine in the memo's
// key tells the two apart; each step resolves success last and the next one first, so a row
// resolved for the previous decision cannot pass for the new one's.
template <class S, class E>
void memo_answers_as_decide(const Machine<S, E>& m, unsigned seed) {
  const std::vector<Row<S, E>> rows_elsewhere(m.rows.begin(), m.rows.end());
  Machine<S, E> same_table = m;
  same_table.rows = rows_elsewhere;
  std::mt19937 random(seed);
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  DecisionMemo<S, E> memo;
  const Machine<S, E>* machine = &m;
  S state = m.states[0];
  E event = m.events[0];
  KernelProfile profile = kAllProfiles[0];
  Facts facts = Facts::all_unknown();
  // The question the memo was asked last (a terminal state is not asked).
  bool asked = false;
  const Machine<S, E>* last_machine = nullptr;
  S last_state{};
  E last_event{};
  KernelProfile last_profile{};
  Facts last_facts;
  std::size_t fresh_answers = 0;
  for (int step = 0; step < 4000; ++step) {
    switch (pick(9)) {
      case 0:
        state = m.states[pick(m.states.size())];
        break;
      case 1:
        event = m.events[pick(m.events.size())];
        break;
      case 2:
        profile = kAllProfiles[pick(std::size(kAllProfiles))];
        break;
      case 3:
        facts.set(static_cast<Guard>(1 + pick(kGuardCount - 1)), static_cast<Truth>(pick(3)));
        break;
      case 4:
        machine = machine == &m ? &same_table : &m;
        break;
      default:  // the same question again
        break;
    }
    if (m.is_terminal(state))
      continue;  // no rows to decide among: callers never ask
    const bool same = asked && machine == last_machine && state == last_state &&
                      event == last_event && profile == last_profile &&
                      facts.yes_mask() == last_facts.yes_mask() &&
                      facts.unknown_mask() == last_facts.unknown_mask();
    const auto answer = memo.decide(*machine, state, event, profile, facts);
    const auto expected = decide(*machine, state, event, profile, facts);
    asked = true;
    last_machine = machine;
    last_state = state;
    last_event = event;
    last_profile = profile;
    last_facts = facts;
    EXPECT_EQ(answer.fresh, !same) << "step " << step;
    fresh_answers += answer.fresh ? 1 : 0;
    ASSERT_EQ(answer.decision.size(), expected.size()) << "step " << step;
    EXPECT_EQ(answer.decision.determined(), expected.determined());
    for (std::size_t i = 0; i < expected.size(); ++i)
      EXPECT_EQ(&answer.decision.candidate(i), &expected.candidate(i)) << "step " << step;
    // Success, each candidate's own errno twice in a row, one no row allows, success again.
    std::vector<int> observed{0, 0};
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const int e = errno_value(expected.candidate(i).outcome.error);
      observed.insert(observed.end(), {e, e});
    }
    observed.insert(observed.end(), {EHWPOISON, 0});
    for (int o : observed)
      EXPECT_EQ(memo.resolve(o), expected.resolve(o)) << "step " << step << ", errno " << o;
  }
  // The walk changed its question often and repeated it often.
  EXPECT_GT(fresh_answers, 500u);
  EXPECT_LT(fresh_answers, 3500u);
}

TEST(DecisionMemoTest, AnswersAsDecideAndIsFreshOnlyForANewQuestion) {
  memo_answers_as_decide(kOutgoingSessionMachine, 1);
  memo_answers_as_decide(kIncomingSessionMachine, 2);
  memo_answers_as_decide(kFileMachine, 3);
  memo_answers_as_decide(kDeviceMachine, 4);
  memo_answers_as_decide(kFdEntryMachine, 5);
}

}  // namespace
}  // namespace luo
