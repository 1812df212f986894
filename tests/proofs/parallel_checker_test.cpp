// The parallel search (CheckOptions::jobs > 1) against the sequential one: the same stored graph
// (state, transition and orbit counts, depth), the same verdicts and the very same
// counterexamples, unreduced and under symmetry, for the correct manager in several bounds and
// for every mutant; a --max-states stop at the same state; and the memory cap, which stops
// either search with an "incomplete" result that says what it covered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "luo/proofs/checker.hpp"
#include "mutant_cases.hpp"

namespace luo::proofs {
namespace {

using cases::bounds;
using cases::tiny;

CheckResult run_jobs(const Bounds& b, unsigned jobs, bool symmetry = false,
                     std::uint64_t max_states = 0) {
  CheckOptions opt;
  opt.bounds = b;
  opt.symmetry = symmetry;
  opt.jobs = jobs;
  opt.max_states = max_states;
  return check(opt);
}

std::string described(const Bounds& b, unsigned jobs, bool symmetry) {
  return b.describe() + ", " + std::to_string(jobs) + " jobs" + (symmetry ? ", symmetry" : "");
}

// Everything a result states, except its timings, memory and job count.
void expect_same(const CheckResult& seq, const CheckResult& par, const std::string& context) {
  SCOPED_TRACE(context);
  EXPECT_EQ(par.distinct, seq.distinct);
  EXPECT_EQ(par.generated, seq.generated);
  EXPECT_EQ(par.transitions, seq.transitions);
  EXPECT_EQ(par.represented, seq.represented);
  EXPECT_EQ(par.depth, seq.depth);
  EXPECT_EQ(par.complete_depth, seq.complete_depth);
  EXPECT_EQ(par.complete, seq.complete);
  EXPECT_EQ(par.stopped_by, seq.stopped_by);
  EXPECT_EQ(par.not_covered, seq.not_covered);
  for (const auto& p : kProperties) {
    const Verdict& a = seq.verdict(p.id);
    const Verdict& b = par.verdict(p.id);
    EXPECT_EQ(b.status, a.status) << p.name;
    EXPECT_EQ(b.note, a.note) << p.name;
    ASSERT_EQ(b.counterexample.has_value(), a.counterexample.has_value()) << p.name;
    if (!a.counterexample)
      continue;
    EXPECT_EQ(b.counterexample->actions.size(), a.counterexample->actions.size()) << p.name;
    EXPECT_EQ(b.counterexample->actions, a.counterexample->actions) << p.name;
    EXPECT_EQ(b.counterexample->states, a.counterexample->states) << p.name;
    EXPECT_EQ(b.counterexample->loop_start, a.counterexample->loop_start) << p.name;
  }
}

// The correct manager in bounds that differ in shape: sessions and hijack on, a legacy file
// limit, symmetric owners and fds, three kexecs. 3 jobs as well as 2: more workers than cores.
std::vector<Bounds> parallel_shapes() {
  std::vector<Bounds> all;
  all.push_back(bounds(2, 1, 1, 2, 1));  // hijack and late owners on
  Bounds b = tiny(2, 2, 0, 1);           // symmetric owners and fds
  b.faults = 1;
  all.push_back(b);
  Bounds c = tiny(1, 3, 0, 1);  // a legacy file limit below the entries
  c.profile = KernelProfile::v7_0;
  c.file_limit = 3;
  c.faults = 1;
  all.push_back(c);
  Bounds d = tiny(1, 1, 1, 3);  // three kexecs, two faults
  d.faults = 2;
  d.hijack = true;
  all.push_back(d);
  return all;
}

TEST(ParallelCheck, TheSameGraphVerdictsAndTracesAsTheSequentialSearch) {
  for (const Bounds& b : parallel_shapes()) {
    for (bool symmetry : {false, true}) {
      const auto seq = run_jobs(b, 1, symmetry);
      ASSERT_TRUE(seq.complete);
      EXPECT_TRUE(seq.all_hold()) << b.describe();
      for (unsigned jobs : {2u, 3u}) {
        const auto par = run_jobs(b, jobs, symmetry);
        EXPECT_EQ(par.jobs, jobs);
        expect_same(seq, par, described(b, jobs, symmetry));
      }
    }
  }
}

// Every mutant twice: in small bounds with a session and two kexecs, unreduced and under
// symmetry, and in bounds where owners and fds are interchangeable, under symmetry (whose
// safety verdicts are the unreduced ones: Symmetry.VerdictsAreTheSameWithAndWithoutReduction).
TEST(ParallelCheck, EveryMutantGivesTheSameVerdictsAndShortestTraces) {
  Bounds shared = tiny(2, 2, 0, 1);
  shared.faults = 1;
  for (Mutant m : kAllMutants) {
    Bounds smallest = tiny(1, 2, 1, 2);
    smallest.mutant = m;
    Bounds wide = shared;
    wide.mutant = m;
    if (m == Mutant::mapping_last) {  // visible only under a legacy file limit
      smallest.profile = wide.profile = KernelProfile::v7_0;
      smallest.file_limit = wide.file_limit = 2;
    }
    if (m == Mutant::no_namespace_guard)
      smallest.hijack = wide.hijack = true;
    bool caught = false;  // some mutants need two owners, others a session or two kexecs
    for (const Bounds& b : {smallest, wide}) {
      for (bool symmetry : {false, true}) {
        if (!symmetry && b == wide)
          continue;
        const auto seq = run_jobs(b, 1, symmetry);
        caught = caught || !seq.all_hold();
        expect_same(seq, run_jobs(b, 2, symmetry),
                    std::string(mutant_name(m)) + " in " + described(b, 2, symmetry));
      }
    }
    EXPECT_TRUE(caught) << mutant_name(m);
  }
}

TEST(ParallelCheck, AStateLimitStopsAtTheSameStateAsTheSequentialSearch) {
  const Bounds b = parallel_shapes()[0];
  for (std::uint64_t limit : {1u, 100u, 4321u, 60000u}) {
    const auto seq = run_jobs(b, 1, false, limit);
    ASSERT_FALSE(seq.complete) << limit;
    EXPECT_EQ(seq.stopped_by, Stop::max_states);
    EXPECT_GE(seq.distinct, limit);
    expect_same(seq, run_jobs(b, 2, false, limit), "--max-states " + std::to_string(limit));
  }
}

TEST(MemoryCap, ATinyCapStopsTheSearchIncompleteAndSaysWhatItCovered) {
  const Bounds b = parallel_shapes()[0];
  CheckOptions whole;
  whole.bounds = b;
  whole.liveness = false;
  const auto full = check(whole);
  for (unsigned jobs : {1u, 2u}) {
    CheckOptions opt;
    opt.bounds = b;
    opt.jobs = jobs;
    opt.max_memory = 3u << 20;  // a fraction of what its hundred thousand states need
    const auto r = check(opt);
    SCOPED_TRACE(std::to_string(jobs) + " jobs");
    EXPECT_FALSE(r.complete);
    EXPECT_EQ(r.stopped_by, Stop::max_memory);
    EXPECT_LT(r.distinct, full.distinct);
    EXPECT_GT(r.distinct, 0u);
    EXPECT_LE(r.memory_bytes, opt.max_memory);
    EXPECT_LT(r.complete_depth, full.depth);
    EXPECT_EQ(r.verdict(PropertyId::eventually_delivered).status, PropertyStatus::not_checked);
    EXPECT_THAT(r.verdict(PropertyId::eventually_delivered).note,
                ::testing::HasSubstr("memory cap"));
    EXPECT_THAT(r.verdict(PropertyId::no_silent_loss).note, ::testing::HasSubstr("incomplete"));
    EXPECT_THAT(r.not_covered,
                ::testing::Contains(::testing::AllOf(
                    ::testing::HasSubstr("--max-memory 3 MiB"),
                    ::testing::HasSubstr("every state within " + std::to_string(r.complete_depth) +
                                         " steps"))));
    const World w(b);
    EXPECT_THAT(to_text(w, r), ::testing::HasSubstr("INCOMPLETE (memory cap)"));
  }
}

// A cap the search fits under but the liveness graph does not: the safety verdicts are complete,
// liveness is "not checked" and the result is still incomplete (the CLI's exit status 3).
TEST(MemoryCap, ACapWithoutRoomForLivenessLeavesOnlyLivenessUnchecked) {
  // One byte short of the visited set plus the liveness graph and scratch. Whether the search's
  // own transient peak (its last growth) fits below that depends on where the last growth falls
  // in a world, so the shapes are tried in turn; at least one must show the case.
  int shown = 0;
  for (const Bounds& b : parallel_shapes()) {
    CheckOptions opt;
    opt.bounds = b;
    const auto full = check(opt);
    ASSERT_TRUE(full.complete) << b.describe();
    opt.max_memory = full.memory_bytes - 1;
    const auto r = check(opt);
    EXPECT_FALSE(r.complete) << b.describe();
    EXPECT_EQ(r.stopped_by, Stop::max_memory) << b.describe();
    if (r.distinct != full.distinct)
      continue;  // the search's own peak did not fit: the other test's case
    ++shown;
    EXPECT_EQ(r.verdict(PropertyId::eventually_delivered).status, PropertyStatus::not_checked);
    EXPECT_THAT(r.verdict(PropertyId::eventually_delivered).note,
                ::testing::HasSubstr("no room for the liveness pass"));
    EXPECT_EQ(r.verdict(PropertyId::no_silent_loss).status, PropertyStatus::holds);
    EXPECT_EQ(r.verdict(PropertyId::no_silent_loss).note, "");
  }
  EXPECT_GT(shown, 0);
}

TEST(MemoryCap, TheDefaultIsHalfThePhysicalMemory) {
  EXPECT_GT(default_memory_cap(), std::uint64_t{64} << 20);
  EXPECT_GE(default_jobs(), 1u);
}

}  // namespace
}  // namespace luo::proofs
