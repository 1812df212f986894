// The bounded model checker (proofs/): its encoding is exact, the correct manager satisfies every
// property within small bounds, each deliberately broken manager is caught with a
// counterexample that really leads to a violation, and symmetry reduction changes no verdict.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "luo/proofs/checker.hpp"
#include "luo/proofs/encoding.hpp"
#include "mutant_cases.hpp"

namespace luo::proofs {
namespace {

using cases::bounds;
using cases::MutantCase;
using cases::tiny;

Bounds small() {
  return bounds(2, 1, 1, 2, 1);
}

CheckResult run(const Bounds& b, bool symmetry = false) {
  CheckOptions opt;
  opt.bounds = b;
  opt.symmetry = symmetry;
  return check(opt);
}

std::string violations_of(const CheckResult& r) {
  std::string s;
  for (const auto& v : r.verdicts) {
    if (v.status == PropertyStatus::violated)
      s += std::string(property(v.id).name) + " ";
  }
  return s.empty() ? "none" : s;
}

TEST(Codec, EveryReachableStateRoundTripsExactly) {
  const Bounds b = small();
  const World w(b);
  const Codec codec(b);
  // A random walk through the world: the encoding must lose nothing on any state it meets.
  std::mt19937 rng(7);
  std::vector<World::Step> steps;
  int checked = 0;
  for (int walk = 0; walk < 200; ++walk) {
    State s = w.initial();
    for (int depth = 0; depth < 40; ++depth) {
      std::array<std::uint64_t, kMaxWords> words{};
      codec.encode(s, words.data());
      ASSERT_EQ(codec.decode(words.data()), s) << describe_state(w, s);
      ++checked;
      w.successors(s, steps);
      if (steps.empty())
        break;
      s = steps[rng() % steps.size()].next;
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(Codec, CanonicalFormIsTheSameForPermutedOwnersAndFds) {
  Bounds b = small();
  b.fds = 2;
  b.sessions = 0;
  b.hijack = false;
  const World w(b);
  State s = w.initial();
  s.fd[0].e = Entry::stored;   // owner 0: fd 0 stored, fd 1 not
  s.fd[3].e = Entry::removed;  // owner 1: fd 1 removed
  s.fd[3].why = Reason::removed;
  State t = w.initial();
  t.fd[1].e = Entry::removed;  // the same, owners and fds swapped
  t.fd[1].why = Reason::removed;
  t.fd[3].e = Entry::stored;
  canonicalize(w, s);
  canonicalize(w, t);
  EXPECT_EQ(s, t);
  EXPECT_TRUE(has_symmetry(b));
}

TEST(Checker, TheManagerSatisfiesEveryPropertyWithinSmallBounds) {
  const auto r = run(small());
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.all_hold()) << violations_of(r);
  for (const auto& v : r.verdicts)
    EXPECT_EQ(v.status, PropertyStatus::holds) << property(v.id).name << ": " << v.note;
  EXPECT_GT(r.distinct, 1000u);
  EXPECT_GT(r.depth, 10);
}

TEST(Checker, ALegacyFileLimitCostsOnlyTheEntriesPastIt) {
  Bounds b = small();
  b.fds = 2;
  b.sessions = 0;
  b.kexecs = 1;
  b.profile = KernelProfile::v7_0;
  b.file_limit = 3;  // the mapping and two of the four fds fit
  const auto r = run(b);
  EXPECT_TRUE(r.all_hold()) << violations_of(r);
}

// Each broken manager, in the smallest bounds that expose it, and the property that must catch
// it. The same bounds without the mutant pass (so the failure is the mutant's).
std::vector<MutantCase> smallest_mutant_cases() {
  std::vector<MutantCase> cases;
  cases.push_back(
      {Mutant::finish_before_dispatch, PropertyId::finish_once_after_dispatch, tiny(1, 1, 0, 1)});
  cases.push_back(
      {Mutant::restore_lifo, PropertyId::restore_in_preservation_order, tiny(1, 2, 0, 1)});
  Bounds hijack = tiny(1, 1, 0, 1);
  hijack.hijack = true;
  cases.push_back({Mutant::no_namespace_guard, PropertyId::systemd_session_is_managers, hijack});
  Bounds limited = tiny(1, 2, 0, 1);
  limited.profile = KernelProfile::v7_0;
  limited.file_limit = 2;
  cases.push_back({Mutant::mapping_last, PropertyId::losses_have_legitimate_reasons, limited});
  cases.push_back(
      {Mutant::token_reuse, PropertyId::losses_have_legitimate_reasons, tiny(1, 2, 0, 1)});
  cases.push_back({Mutant::never_retry_held, PropertyId::eventually_delivered, tiny(1, 1, 0, 1)});
  cases.push_back({Mutant::wrong_owner, PropertyId::delivered_to_owner, tiny(2, 1, 0, 1)});
  cases.push_back({Mutant::forget_held_at_stage_a, PropertyId::no_silent_loss, tiny(1, 1, 0, 2)});
  cases.push_back({Mutant::close_sessions_early, PropertyId::third_party_survives_iff_held_outgoing,
                   tiny(1, 0, 1, 1)});
  cases.push_back(
      {Mutant::mapping_off_by_one, PropertyId::mapping_matches_session, tiny(1, 1, 0, 1)});
  cases.push_back({Mutant::mapping_skipped, PropertyId::token0_is_mapping, tiny(1, 1, 0, 1)});
  return cases;
}

class MutationCheck : public ::testing::TestWithParam<MutantCase> {};

TEST_P(MutationCheck, TheBrokenManagerIsCaughtWithARealCounterexample) {
  const MutantCase& c = GetParam();
  const auto good = run(c.bounds);
  ASSERT_TRUE(good.all_hold()) << "without the mutant: " << violations_of(good);

  Bounds broken = c.bounds;
  broken.mutant = c.mutant;
  const auto r = run(broken);
  const Verdict& v = r.verdict(c.caught_by);
  ASSERT_EQ(v.status, PropertyStatus::violated)
      << mutant_name(c.mutant) << " not caught by " << property(c.caught_by).name
      << "; violated: " << violations_of(r);
  ASSERT_TRUE(v.counterexample);

  // The trace is a real run of the broken world that ends where the property fails.
  const World w(broken);
  const Trace& t = *v.counterexample;
  ASSERT_EQ(t.states.size(), t.actions.size() + 1);
  EXPECT_EQ(t.states.front(), w.initial());
  Violations seen = 0;
  for (std::size_t i = 0; i < t.actions.size(); ++i) {
    Violations step = 0;
    auto next = w.apply(t.states[i], t.actions[i], &step);
    ASSERT_TRUE(next) << "step " << i + 1 << " (" << w.describe(t.actions[i]) << ") is not enabled";
    EXPECT_EQ(*next, t.states[i + 1]) << "step " << i + 1;
    seen |= step | state_violations(w, *next);
  }
  if (property(c.caught_by).kind != PropertyKind::liveness) {
    EXPECT_NE(seen & bit(c.caught_by), 0u) << "the trace does not end in a violation";
  } else {
    // A lasso: the entry stays pending on the loop, or the run ends with it pending.
    EXPECT_FALSE(v.note.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Mutants, MutationCheck, ::testing::ValuesIn(smallest_mutant_cases()),
                         cases::mutant_param_name<MutantCase>);

TEST(MutationCheck, EveryMutantHasACase) {
  EXPECT_EQ(cases::mutants_without_a_case(smallest_mutant_cases()), std::vector<std::string>{});
}

// Symmetry reduction must not change a single safety verdict: checked on the correct manager
// and on every mutant, with bounds where owners and fds are interchangeable.
TEST(Symmetry, VerdictsAreTheSameWithAndWithoutReduction) {
  Bounds b = tiny(2, 2, 0, 1);
  b.faults = 1;
  std::vector<Mutant> all{Mutant::none};
  all.insert(all.end(), std::begin(kAllMutants), std::end(kAllMutants));
  for (Mutant m : all) {
    b.mutant = m;
    b.profile = m == Mutant::mapping_last ? KernelProfile::v7_0 : kDefaultProfile;
    b.file_limit = m == Mutant::mapping_last ? 3 : 0;
    const auto full = run(b, false);
    const auto reduced = run(b, true);
    EXPECT_LT(reduced.distinct, full.distinct) << mutant_name(m);
    for (const auto& p : kProperties) {
      if (p.kind == PropertyKind::liveness)
        continue;
      EXPECT_EQ(full.verdict(p.id).status, reduced.verdict(p.id).status)
          << mutant_name(m) << " " << p.name;
    }
  }
}

// The orbit sum counts exactly the unreduced states where the world is symmetric (no Stage B:
// tokens are what breaks it), and bounds them from above otherwise.
TEST(Symmetry, OrbitsAddUpToTheUnreducedCount) {
  Bounds b = tiny(2, 2, 0, 0);
  b.faults = 1;
  auto full = run(b, false);
  auto reduced = run(b, true);
  EXPECT_EQ(full.represented, full.distinct);
  EXPECT_EQ(reduced.represented, full.distinct);
  EXPECT_LT(reduced.distinct, full.distinct / 4);

  b.kexecs = 1;
  full = run(b, false);
  reduced = run(b, true);
  EXPECT_GE(reduced.represented, full.distinct);
  EXPECT_LT(reduced.distinct, full.distinct / 4);
}

TEST(Checker, AStateLimitMakesTheRunIncompleteAndSaysSo) {
  CheckOptions opt;
  opt.bounds = small();
  opt.max_states = 100;
  const auto r = check(opt);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.verdict(PropertyId::eventually_delivered).status, PropertyStatus::not_checked);
  EXPECT_THAT(r.not_covered, ::testing::Contains(::testing::HasSubstr("--max-states")));
}

TEST(Checker, ReportsNameWhatWasNotCovered) {
  CheckOptions opt;
  opt.bounds = small();
  opt.symmetry = true;
  const auto r = check(opt);
  EXPECT_EQ(r.verdict(PropertyId::eventually_delivered).status, PropertyStatus::not_checked);
  const World w(opt.bounds);
  const std::string text = to_text(w, r);
  EXPECT_THAT(text, ::testing::HasSubstr("weak fairness"));
  EXPECT_THAT(text, ::testing::HasSubstr("symmetry reduction"));
  const auto json = nlohmann::json::parse(to_json(w, r));
  EXPECT_EQ(json["states"]["distinct"].get<std::uint64_t>(), r.distinct);
  EXPECT_EQ(json["verdicts"].size(), static_cast<std::size_t>(kPropertyCount));
}

}  // namespace
}  // namespace luo::proofs
