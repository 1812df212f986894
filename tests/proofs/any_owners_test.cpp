// check --any-owners (docs/properties.md, "Any number of owners and fds"): the cutoff sizes follow
// from the witnesses; projections drop an owner or an fd and renumber tokens in order; the
// locality premise holds for the correct world and fails where owners really interact (a shared
// file limit) and for two_unit_slots, which the default two owners cannot expose and the mode
// catches with a counterexample that replays; the Promela twin refuses what it does not model.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "luo/proofs/cutoff.hpp"
#include "luo/proofs/promela.hpp"
#include "luo/proofs/replay.hpp"
#include "luo/proofs/spin_crosscheck.hpp"
#include "mutant_cases.hpp"

// A namespace of its own: the proof tests are built as one unity source.
namespace luo::proofs::any_owners {
namespace {

using cases::tiny;

// Small enough for a test (a few seconds in all), with the hijacker (so owner 0 is kept and 3
// owners are a cutoff size) and a fault.
Bounds small_shape() {
  Bounds b = tiny(2, 2, 0, 1);
  b.hijack = true;
  b.faults = 1;
  b.late_owners = false;
  return b;
}

AnyOwnersResult run_mode(const Bounds& b) {
  AnyOwnersOptions opt;
  opt.bounds = b;
  opt.jobs = 1;
  return check_any_owners(opt);
}

bool has_size(const std::vector<WitnessShape>& sizes, int n, int m) {
  return std::any_of(sizes.begin(), sizes.end(),
                     [&](const WitnessShape& s) { return s.owners == n && s.fds == m; });
}

TEST(AnyOwners, EverySafetyPropertyHasAWitnessAndLivenessNone) {
  for (const auto& p : kProperties) {
    EXPECT_EQ(witness(p.id).has_value(), p.kind != PropertyKind::liveness) << p.name;
  }
}

TEST(AnyOwners, TheCutoffSizesFollowFromTheWitnesses) {
  Bounds hijack;  // defaults: hijack on, one session: owner 0 is kept
  const auto with = cutoff_sizes(hijack);
  EXPECT_EQ(with.size(), 8u);
  for (int n = 1; n <= 2; ++n) {
    for (int m = 0; m <= 2; ++m)
      EXPECT_TRUE(has_size(with, n, m)) << n << " x " << m;
  }
  // delivered_to_owner's two owners of one fd each, and owner 0 on top.
  EXPECT_TRUE(has_size(with, 3, 1));
  EXPECT_FALSE(has_size(with, 3, 2));

  // No hijack, no session: no owner is special, and no witness needs two owners with two fds.
  Bounds plain = tiny(2, 2, 0, 1);
  const auto without = cutoff_sizes(plain);
  EXPECT_EQ(without.size(), 5u);
  EXPECT_TRUE(has_size(without, 2, 1));
  EXPECT_TRUE(has_size(without, 1, 2));
  EXPECT_FALSE(has_size(without, 2, 2));
  EXPECT_FALSE(has_size(without, 3, 1));
}

TEST(AnyOwners, AProjectionDropsOneOwnerOrFdAndRenumbersTokensInOrder) {
  Bounds b = tiny(3, 2, 0, 1);
  const World big(b);
  State s = big.initial();
  // Owner 0's fd 0.1 at token 1, owner 1's fd 1.0 at 2, owner 2's fd 2.0 at 3 and 2.1 at 4.
  const int at[] = {1, 2, 4, 5};
  for (int i = 0; i < 4; ++i) {
    auto& x = s.fd[at[i]];
    x.e = Entry::preserved;
    x.kf = KFile::preserved;
    x.kt = x.mt = static_cast<std::uint8_t>(i + 1);
  }
  const State p = project(big, s, Dimension::owners, 1);
  EXPECT_EQ(p.fd[1].kt, 1);  // owner 0 keeps its place and token
  EXPECT_EQ(p.fd[2].kt, 2);  // owner 2 is owner 1 now, tokens 3 and 4 are 2 and 3
  EXPECT_EQ(p.fd[3].kt, 3);
  EXPECT_EQ(p.fd[3].mt, 3);
  EXPECT_EQ(p.fd[4], FdSlot{});  // nothing beyond the smaller world's fds

  const State q = project(big, s, Dimension::fds, 0);  // every owner's fd 0 goes
  EXPECT_EQ(q.fd[0].kt, 1);                            // 0.1
  EXPECT_EQ(q.fd[1], FdSlot{});                        // 1.1 was never stored
  EXPECT_EQ(q.fd[2].kt, 2);                            // 2.1, token 4 before
  // The initial state projects to the smaller world's.
  EXPECT_EQ(project(big, big.initial(), Dimension::owners, 2),
            World(smaller(b, Dimension::owners)).initial());
}

TEST(AnyOwners, ClaimsEverySafetyPropertyAndNeverLiveness) {
  const AnyOwnersResult r = run_mode(small_shape());
  EXPECT_TRUE(r.complete());
  EXPECT_TRUE(r.all_hold());
  EXPECT_TRUE(r.any_for_all());
  EXPECT_EQ(r.runs.size(), cutoff_sizes(small_shape()).size());
  for (const auto& run : r.runs) {
    EXPECT_EQ(run.result.bounds.owners, run.size.owners);
    EXPECT_EQ(run.result.bounds.fds, run.size.fds);
  }
  ASSERT_EQ(r.locality.size(), locality_runs(small_shape()).size());
  EXPECT_EQ(r.locality.size(), 5u);
  for (const auto& l : r.locality) {
    EXPECT_TRUE(l.holds) << l.assumption << ": " << l.detail;
    EXPECT_GT(l.states, 500u);
  }
  for (const auto& c : r.claims) {
    EXPECT_EQ(c.any, property(c.id).kind != PropertyKind::liveness) << property(c.id).name;
    if (!c.any) {
      EXPECT_FALSE(c.why.empty());
    }
  }
  const std::string text = to_text(r);
  EXPECT_NE(text.find("no_silent_loss                           holds for any number of owners"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("eventually_delivered                     NOT for any number of owners"),
            std::string::npos)
      << text;
}

TEST(AnyOwners, AStateLimitClaimsNothing) {
  AnyOwnersOptions opt;
  opt.bounds = small_shape();
  opt.jobs = 1;
  opt.max_states = 500;
  const AnyOwnersResult r = check_any_owners(opt);
  EXPECT_FALSE(r.complete());
  for (const auto& c : r.claims)
    EXPECT_FALSE(c.any) << property(c.id).name;
}

// Owners that share a per-session file limit do interact: dropping one frees a place for another's
// fd. The premise must fail there, and the mode must then claim nothing.
TEST(Locality, FailsWhereOwnersShareAFileLimit) {
  LocalityOptions opt;
  opt.bounds = tiny(3, 1, 0, 1);
  opt.bounds.profile = KernelProfile::v7_0;
  opt.bounds.file_limit = 2;  // the mapping and one fd
  opt.dim = Dimension::owners;
  const LocalityResult l = check_locality(opt);
  EXPECT_FALSE(l.holds);
  EXPECT_EQ(l.assumption, "dropping an owner or an fd commutes with every step");
  ASSERT_TRUE(l.witness);
  EXPECT_EQ(l.witness->actions.back().kind, ActionKind::stage_b);

  opt.dim = Dimension::fds;
  opt.bounds = tiny(1, 3, 0, 1);
  opt.bounds.profile = KernelProfile::v7_0;
  opt.bounds.file_limit = 2;
  EXPECT_FALSE(check_locality(opt).holds);

  opt.bounds.file_limit = 0;  // the same world without the limit
  EXPECT_TRUE(check_locality(opt).holds);
}

TEST(AnyOwners, CatchesAMutantTheDefaultOwnersCannotExpose) {
  Bounds b = small_shape();
  b.mutant = Mutant::two_unit_slots;
  // Two owners, the default: every property holds.
  CheckOptions two;
  two.bounds = b;
  two.jobs = 1;
  EXPECT_TRUE(check(two).all_hold());

  const AnyOwnersResult r = run_mode(b);
  EXPECT_FALSE(r.all_hold());
  for (const auto& c : r.claims)
    EXPECT_FALSE(c.any) << property(c.id).name;
  // The premise fails from three owners on, and the three-owner cutoff size has the violation.
  EXPECT_FALSE(r.locality[0].holds);
  const auto three = std::find_if(r.runs.begin(), r.runs.end(), [](const SizeRun& s) {
    return s.size.owners == 3 && s.size.fds == 1;
  });
  ASSERT_NE(three, r.runs.end());
  const Verdict& v = three->result.verdict(PropertyId::delivered_to_owner);
  ASSERT_EQ(v.status, PropertyStatus::violated);
  ASSERT_TRUE(v.counterexample);
  // A real run of the three-owner world that ends in the broken step.
  const World w(three->result.bounds);
  State s = w.initial();
  Violations last = 0;
  for (const Action& a : v.counterexample->actions) {
    auto next = w.apply(s, a, &last);
    ASSERT_TRUE(next) << w.describe(a);
    s = *next;
  }
  EXPECT_NE(last & bit(PropertyId::delivered_to_owner), 0u);
  EXPECT_EQ(v.counterexample->actions.back().kind, ActionKind::dispatch);
  EXPECT_EQ(v.counterexample->actions.back().a, 2);  // owner 2's entry
  // Replayed through the correct implementation, it disagrees at that dispatch: impl hands the
  // entry to its own owner.
  const ReplayResult rr = replay(three->result.bounds, *v.counterexample);
  EXPECT_EQ(rr.verdict, ReplayVerdict::disagrees) << to_text(rr);
  EXPECT_EQ(rr.step, static_cast<int>(v.counterexample->actions.size())) << to_text(rr);

  for (Mutant m : kAllMutants)
    EXPECT_NE(m, Mutant::two_unit_slots);
  EXPECT_EQ(parse_mutant("two_unit_slots"), Mutant::two_unit_slots);
}

TEST(AnyOwners, RefusesWhatTheCutoffIsNotArguedFor) {
  Bounds b;
  EXPECT_TRUE(any_owners_refusal(b).empty());
  b.sessions = 2;
  EXPECT_FALSE(any_owners_refusal(b).empty());
  b.sessions = 1;
  b.any_kexecs = true;
  EXPECT_FALSE(any_owners_refusal(b).empty());
}

// The abstract world of any_kexecs has no Promela twin: the library refuses it with its own type,
// before any search or tool runs.
TEST(Promela, AnyKexecsIsRefusedWithATypedError) {
  Bounds b = tiny(1, 1, 0, 1);
  b.any_kexecs = true;
  EXPECT_FALSE(promela_refusal(b).empty());
  EXPECT_THROW(to_promela(b), PromelaUnsupported);
  EXPECT_THROW(spin_crosscheck(b), PromelaUnsupported);
  b.any_kexecs = false;
  EXPECT_TRUE(promela_refusal(b).empty());
  EXPECT_NO_THROW(to_promela(b));
}

}  // namespace
}  // namespace luo::proofs::any_owners
