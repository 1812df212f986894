// The SPIN cross-check (proofs/promela.hpp, proofs/spin_crosscheck.hpp): the Promela twin of the
// world, run through Debian's spin and pan with exact storage and no reduction, has exactly the
// checker's unreduced state count and every verdict of the checker, for the correct manager and
// for every deliberately broken one; and the comparison fails when the two models differ.
// The SPIN cases skip, saying why, only when spin or a C compiler is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

#include "luo/proofs/promela.hpp"
#include "luo/proofs/spin_crosscheck.hpp"
#include "mutant_cases.hpp"

namespace luo::proofs {
namespace {

using cases::bounds;
using cases::MutantCase;

#define SKIP_WITHOUT_SPIN()                                    \
  do {                                                         \
    if (auto missing = spin_missing(); !missing.empty())       \
      GTEST_SKIP() << "SPIN cross-check skipped: " << missing; \
  } while (0)

// The lines of one selector of the generated model: "inline <name>(from, to) { ... }".
std::vector<std::string> selector_rows(const std::string& model, const std::string& name) {
  std::vector<std::string> rows;
  const std::size_t at = model.find("inline " + name + "(from, to) {");
  if (at == std::string::npos)
    return rows;
  const std::size_t end = model.find("\n}", at);
  std::size_t pos = at;
  while ((pos = model.find(":: (from) == ", pos)) < end) {
    rows.push_back(model.substr(pos, model.find('\n', pos) - pos));
    ++pos;
  }
  return rows;
}

// How many rows luo::select can reach in each cell of (machine, event) for the profile: up to
// and including the cell's first `always` row.
template <class S, class E>
std::size_t reachable_rows(const Machine<S, E>& m, E event, KernelProfile p) {
  std::size_t n = 0;
  for (S s : m.states) {
    const Cell& c = m.cell(p, s, event);
    for (std::size_t i = c.first; i < c.first + c.count; ++i) {
      ++n;
      if (m.rows[m.order[i]].guard == Guard::always)
        break;
    }
  }
  return n;
}

TEST(Promela, EverySelectorIsItsTablesCellsForTheProfile) {
  for (KernelProfile p : {KernelProfile::v7_0, KernelProfile::v7_2}) {
    Bounds b = bounds(2, 2, 1, 2, 1);
    b.profile = p;
    const std::string model = to_promela(b);
    const auto check_machine = [&](const auto& m, auto event, const std::string& name) {
      const auto rows = selector_rows(model, name);
      EXPECT_EQ(rows.size(), reachable_rows(m, event, p)) << name << " " << profile_name(p);
    };
    check_machine(kFdEntryMachine, FdEntryEvent::stage, "fd_store_entry__stage");
    check_machine(kFdEntryMachine, FdEntryEvent::restore, "fd_store_entry__restore");
    check_machine(kFdEntryMachine, FdEntryEvent::dispatch, "fd_store_entry__dispatch");
    check_machine(kHandoffMachine, HandoffEvent::stage_b, "kexec_handoff__stage_b");
    check_machine(kFileMachine, FileEvent::retrieve, "file__retrieve");
    check_machine(kOutgoingSessionMachine, OutgoingSessionEvent::preserve_fd,
                  "outgoing_session__preserve_fd");
    check_machine(kIncomingSessionMachine, IncomingSessionEvent::release,
                  "incoming_session__release");
    // The profile's own rows: the legacy file limit exists before 7.2 only, and a failed
    // retrieve sticks from 7.0 on.
    const auto preserve = selector_rows(model, "outgoing_session__preserve_fd");
    EXPECT_EQ(std::any_of(preserve.begin(), preserve.end(),
                          [](const std::string& r) {
                            return r.find("&& g_file_limit_reached ->") != std::string::npos;
                          }),
              p == KernelProfile::v7_0);
  }
}

TEST(Promela, OnlyTheSelectedPropertiesLeaveATrace) {
  PromelaOptions opt;
  opt.properties = bit(PropertyId::no_silent_loss);
  const std::string model = to_promela(bounds(1, 1, 1, 1, 1), opt);
  EXPECT_THAT(model, ::testing::HasSubstr("assert(no_silent_loss)"));
  for (const auto& p : kProperties) {
    if (p.id != PropertyId::no_silent_loss) {
      EXPECT_THAT(model, ::testing::Not(::testing::HasSubstr(std::string(p.name)))) << p.name;
    }
  }
  EXPECT_THAT(model, ::testing::HasSubstr("ltl safety"));
}

TEST(Promela, InvalidBoundsAreRefused) {
  EXPECT_THROW(to_promela(bounds(0, 1, 0, 1, 0)), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------

void expect_agreement(const CrossCheck& x) {
  const std::string table = to_text(x);
  EXPECT_TRUE(x.error.empty()) << table;
  EXPECT_EQ(x.spin_states, x.our_states) << table;
  for (const auto& p : x.properties)
    EXPECT_EQ(p.spin, p.ours) << property(p.id).name << "\n" << table;
  EXPECT_TRUE(x.agree()) << table;
}

TEST(SpinCrossCheck, TheManagerAgreesInSmallBounds) {
  SKIP_WITHOUT_SPIN();
  // Two owners (one hijacking), a VMM session, two kexecs, a crash or an errno anywhere.
  const CrossCheck x = spin_crosscheck(bounds(2, 1, 1, 2, 1));
  expect_agreement(x);
  EXPECT_GT(x.our_states, 50000u);
  for (const auto& p : x.properties)
    EXPECT_EQ(p.ours, PropertyStatus::holds) << property(p.id).name;
}

TEST(SpinCrossCheck, ALegacyFileLimitAgrees) {
  SKIP_WITHOUT_SPIN();
  Bounds b = bounds(1, 2, 0, 1, 1);
  b.profile = KernelProfile::v7_0;
  b.file_limit = 2;  // the mapping and one fd fit
  expect_agreement(spin_crosscheck(b));
}

// Each broken manager in bounds where the checker catches it (richer than checker_test.cpp's
// smallest ones where that stays cheap: faults and the hijack on), so SPIN must find the same
// violation, and the same holds for every other property.
std::vector<MutantCase> spin_mutant_cases() {
  Bounds limited = bounds(1, 2, 0, 1, 1);
  limited.profile = KernelProfile::v7_0;
  limited.file_limit = 2;
  return {
      {Mutant::finish_before_dispatch, PropertyId::finish_once_after_dispatch,
       bounds(1, 1, 1, 1, 1)},
      {Mutant::restore_lifo, PropertyId::restore_in_preservation_order, bounds(1, 2, 0, 1, 1)},
      {Mutant::no_namespace_guard, PropertyId::systemd_session_is_managers, bounds(1, 1, 0, 1, 1)},
      {Mutant::mapping_last, PropertyId::losses_have_legitimate_reasons, limited},
      {Mutant::token_reuse, PropertyId::losses_have_legitimate_reasons, bounds(1, 2, 0, 1, 1)},
      {Mutant::never_retry_held, PropertyId::eventually_delivered, bounds(1, 1, 1, 1, 1)},
      {Mutant::wrong_owner, PropertyId::delivered_to_owner, bounds(2, 1, 0, 1, 1)},
      {Mutant::forget_held_at_stage_a, PropertyId::no_silent_loss, bounds(1, 1, 0, 2, 1)},
      {Mutant::close_sessions_early, PropertyId::third_party_survives_iff_held_outgoing,
       bounds(1, 0, 1, 1, 1)},
      {Mutant::mapping_off_by_one, PropertyId::mapping_matches_session, bounds(1, 1, 0, 1, 1)},
      {Mutant::mapping_skipped, PropertyId::token0_is_mapping, bounds(1, 1, 0, 1, 1)},
  };
}

// ctest lists the cases by mutant, not by the bytes of the struct.
class SpinMutants : public ::testing::TestWithParam<MutantCase> {};

TEST_P(SpinMutants, SpinFindsWhatTheCheckerFinds) {
  SKIP_WITHOUT_SPIN();
  Bounds b = GetParam().bounds;
  b.mutant = GetParam().mutant;
  const CrossCheck x = spin_crosscheck(b);
  expect_agreement(x);
  EXPECT_EQ(x.properties[static_cast<std::size_t>(GetParam().caught_by)].ours,
            PropertyStatus::violated)
      << "the mutant is not visible in these bounds\n"
      << to_text(x);
}

INSTANTIATE_TEST_SUITE_P(Mutants, SpinMutants, ::testing::ValuesIn(spin_mutant_cases()),
                         cases::mutant_param_name<MutantCase>);

TEST(SpinMutants, EveryMutantHasACase) {
  EXPECT_EQ(cases::mutants_without_a_case(spin_mutant_cases()), std::vector<std::string>{});
}

// The comparison can fail: the checker's correct manager against SPIN's broken one.
TEST(SpinCrossCheck, TwoDifferentModelsDisagree) {
  SKIP_WITHOUT_SPIN();
  const Bounds b = bounds(1, 2, 0, 1, 0);
  CheckOptions opt;
  opt.bounds = b;
  const CheckResult ours = check(opt);
  Bounds broken = b;
  broken.mutant = Mutant::token_reuse;
  const CrossCheck x = compare(ours, run_spin(b, to_promela(broken), {}, ours.distinct));
  EXPECT_TRUE(x.error.empty()) << to_text(x);
  EXPECT_FALSE(x.agree()) << to_text(x);
  EXPECT_FALSE(
      x.properties[static_cast<std::size_t>(PropertyId::losses_have_legitimate_reasons)].agree())
      << to_text(x);
  EXPECT_THAT(to_text(x), ::testing::HasSubstr("DISAGREE"));
}

// A model whose selector lost a row of its table is an error, never an agreement.
TEST(SpinCrossCheck, ASelectorMissingATableRowIsReported) {
  SKIP_WITHOUT_SPIN();
  const Bounds b = bounds(1, 1, 0, 1, 0);
  std::string model = to_promela(b);
  const std::string row = selector_rows(model, "fd_store_entry__remove").at(0);
  ASSERT_THAT(row, ::testing::HasSubstr("ES_stored"));
  model.erase(model.find(row), row.size());
  CheckOptions opt;
  opt.bounds = b;
  const CrossCheck x = compare(check(opt), run_spin(b, model, {}));
  EXPECT_THAT(x.error, ::testing::HasSubstr("assertion violated table_has_row")) << to_text(x);
  EXPECT_FALSE(x.agree());
}

}  // namespace
}  // namespace luo::proofs
