// check --any-kexecs (docs/properties.md, "Beyond the bounds"): the world without a bound on
// kexecs reaches a fixpoint and says "for any number of kexecs" only then; it contains every
// state of the bounded world up to what it forgets; its counter judges kexec_count_carried beyond
// the cap; and counter_stuck, which no bounded run can expose, is caught.
#include <gtest/gtest.h>

#include <deque>
#include <set>
#include <vector>

#include "luo/proofs/checker.hpp"
#include "luo/proofs/encoding.hpp"
#include "luo/proofs/replay.hpp"
#include "mutant_cases.hpp"

// A namespace of its own: the proof tests are built as one unity source, where helpers such as
// run() would collide with checker_test.cpp's.
namespace luo::proofs::any_kexecs {
namespace {

using cases::tiny;

Bounds unbounded(Bounds b) {
  b.any_kexecs = true;
  return b;
}

CheckResult run(const Bounds& b, std::uint64_t max_states = 0) {
  CheckOptions opt;
  opt.bounds = b;
  opt.max_states = max_states;
  opt.jobs = 1;
  return check(opt);
}

int count(const Trace& t, ActionKind k) {
  int n = 0;
  for (const Action& a : t.actions)
    n += a.kind == k ? 1 : 0;
  return n;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A shape small enough for a test, with every kind of step: a session, the hijack, late owners,
// errnos and crashes.
Bounds small_shape() {
  Bounds b = tiny(1, 2, 1, 2);
  b.faults = 1;
  b.hijack = true;
  return b;
}

TEST(AnyKexecs, ReachesAFixpointWhereEveryPropertyHolds) {
  const CheckResult r = run(unbounded(small_shape()));
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.fixpoint);
  for (const auto& v : r.verdicts)
    EXPECT_EQ(v.status, PropertyStatus::holds) << property(v.id).name << ": " << v.note;
  // The liveness verdict is about the runs that kexec finitely often, and says so.
  EXPECT_TRUE(contains(r.verdict(PropertyId::eventually_delivered).note, "finitely often"));
}

// The parallel search and its liveness pass (whose graph marks the kexec steps) give the same
// result as the sequential one in this mode too.
TEST(AnyKexecs, AnyNumberOfJobsGivesTheSameResult) {
  CheckOptions opt;
  opt.bounds = unbounded(small_shape());
  opt.jobs = 1;
  const CheckResult one = check(opt);
  opt.jobs = 2;
  const CheckResult two = check(opt);
  EXPECT_EQ(one.distinct, two.distinct);
  EXPECT_EQ(one.transitions, two.transitions);
  EXPECT_EQ(one.depth, two.depth);
  EXPECT_EQ(one.fixpoint, two.fixpoint);
  for (const auto& v : one.verdicts) {
    EXPECT_EQ(v.status, two.verdict(v.id).status) << property(v.id).name;
    EXPECT_EQ(v.note, two.verdict(v.id).note) << property(v.id).name;
  }
}

TEST(AnyKexecs, AStateLimitIsNoFixpoint) {
  const CheckResult r = run(unbounded(small_shape()), 500);
  EXPECT_FALSE(r.complete);
  EXPECT_FALSE(r.fixpoint);
  EXPECT_EQ(r.stopped_by, Stop::max_states);
}

TEST(AnyKexecs, TheReportSaysAnyNumberOfKexecsOnlyAtTheFixpoint) {
  const Bounds b = unbounded(small_shape());
  const World w(b);
  const std::string done = to_text(w, run(b));
  EXPECT_TRUE(contains(done, "fixpoint reached"));
  EXPECT_TRUE(contains(done, "the verdicts below are for any number of kexecs"));
  EXPECT_TRUE(contains(done, "  - for any number of kexecs (the search reached its fixpoint"));
  EXPECT_TRUE(contains(done, "1 faults per boot"));

  const std::string stopped = to_text(w, run(b, 500));
  EXPECT_FALSE(contains(stopped, "fixpoint reached"));
  EXPECT_FALSE(contains(stopped, "  - for any number of kexecs"));
  EXPECT_TRUE(contains(stopped, "stopped before its fixpoint"));
  EXPECT_TRUE(contains(stopped, "NOT for any number of kexecs"));

  // A bounded run claims nothing beyond its kexecs.
  const Bounds bounded = small_shape();
  const std::string plain = to_text(World(bounded), run(bounded));
  EXPECT_FALSE(contains(plain, "any number of kexecs"));
  EXPECT_FALSE(contains(plain, "fixpoint"));
  EXPECT_TRUE(contains(plain, "only the bounds above"));

  const std::string json = to_json(w, run(b));
  EXPECT_TRUE(contains(json, "\"anyKexecsFixpoint\": true"));
  EXPECT_TRUE(contains(json, "\"anyKexecs\": true"));
  EXPECT_FALSE(contains(to_json(World(bounded), run(bounded)), "anyKexecs"));
}

// The abstraction must over-approximate: every state the bounded world reaches with up to three
// kexecs is, once mapped the way --any-kexecs maps it, a state of the unbounded world. Mapped:
// the boot to cold or later, the counter to its cap with whether it equals the mapping's, and the
// reasons the unbounded world forgets (endings, abandoned memfds) and the faults used (per run
// there, per boot here) left out on both sides.
State project(const World& unbounded_world, State s) {
  const int cap = unbounded_world.counter_cap();
  s.boot = s.boot == 0 ? 0 : 1;
  s.faults = 0;
  s.kc = static_cast<std::uint8_t>(std::min<int>(s.kc, cap));
  s.map_kc = static_cast<std::uint8_t>(std::min<int>(s.map_kc, cap));
  s.kc_same = false;
  // earlier_boot is legitimate, so it goes too.
  for (auto& x : s.fd) {
    if (x.why != Reason::none && legitimate(x.why))
      x.why = Reason::none;
  }
  for (auto& x : s.session) {
    if (x.why != Reason::none && legitimate(x.why))
      x.why = Reason::none;
  }
  return s;
}

std::vector<State> reachable(const World& w) {
  const Codec codec(w.bounds());
  std::set<std::vector<std::uint64_t>> seen;
  std::vector<State> all;
  std::deque<State> queue{w.initial()};
  std::vector<World::Step> steps;
  const auto key = [&](const State& s) {
    std::vector<std::uint64_t> k(kMaxWords);
    codec.encode(s, k.data());
    return k;
  };
  seen.insert(key(w.initial()));
  while (!queue.empty()) {
    const State s = queue.front();
    queue.pop_front();
    all.push_back(s);
    w.successors(s, steps);
    for (const auto& step : steps) {
      if (seen.insert(key(step.next)).second)
        queue.push_back(step.next);
    }
  }
  return all;
}

TEST(AnyKexecs, ContainsEveryStateOfTheBoundedWorld) {
  Bounds b = tiny(1, 1, 1, 3);
  b.faults = 1;
  b.hijack = true;
  const World bounded(b);
  const World any(unbounded(b));
  const Codec codec(b);  // the projected states are bounded-layout states
  std::set<std::vector<std::uint64_t>> abstract;
  for (const State& s : reachable(any)) {
    std::vector<std::uint64_t> k(kMaxWords);
    codec.encode(project(any, s), k.data());
    abstract.insert(k);
  }
  int checked = 0;
  int later = 0;
  for (const State& s : reachable(bounded)) {
    std::vector<std::uint64_t> k(kMaxWords);
    codec.encode(project(any, s), k.data());
    ASSERT_TRUE(abstract.count(k) != 0) << "a bounded state the abstraction misses:\n"
                                        << describe_state(bounded, s);
    ++checked;
    later += s.boot >= 2 ? 1 : 0;
  }
  EXPECT_GT(later, 0);  // the comparison reaches boots the abstraction folds together
  EXPECT_GT(checked, 1000);
}

// The counter at the cap: only kc_same says whether the mapping carried the manager's counter.
TEST(AnyKexecs, TheCounterBeyondTheCapStillJudgesTheRestore) {
  Bounds b = tiny(1, 0, 0, 0);
  b.late_owners = false;
  const World w(unbounded(b));
  State s = w.initial();
  for (const Action& a : {Action{ActionKind::stage_a, 0, 0}, Action{ActionKind::stage_b, 0, 0},
                          Action{ActionKind::kexec, 0, 0}}) {
    auto next = w.apply(s, a);
    ASSERT_TRUE(next) << w.describe(a);
    s = *next;
  }
  const int cap = w.counter_cap();
  State before = s;
  before.kc = before.map_kc = static_cast<std::uint8_t>(cap);
  before.kc_same = true;
  Violations v = 0;
  auto after = w.apply(before, {ActionKind::restore_begin, 0, 0}, &v);
  ASSERT_TRUE(after);
  EXPECT_EQ(v & bit(PropertyId::kexec_count_carried), 0u);
  EXPECT_EQ(after->kc, cap) << describe_state(w, *after);  // "cap or more" plus one

  // Both at "cap or more", but not the same value: the restore counts from the wrong one.
  before.kc_same = false;
  ASSERT_TRUE(w.apply(before, {ActionKind::restore_begin, 0, 0}, &v));
  EXPECT_NE(v & bit(PropertyId::kexec_count_carried), 0u);
}

// counter_stuck stops counting at 3: a bounded world, even at --kexecs 3, ends before the
// fourth restore where it shows, so only --any-kexecs catches it.
TEST(AnyKexecs, CatchesAMutantNoBoundedRunCanExpose) {
  Bounds b = tiny(1, 1, 0, kMaxKexecs);
  b.mutant = Mutant::counter_stuck;
  const CheckResult bounded = run(b);
  EXPECT_TRUE(bounded.complete);
  EXPECT_TRUE(bounded.all_hold());

  const Bounds any = unbounded(b);
  const CheckResult r = run(any);
  EXPECT_TRUE(r.fixpoint);
  const Verdict& v = r.verdict(PropertyId::kexec_count_carried);
  ASSERT_EQ(v.status, PropertyStatus::violated);
  ASSERT_TRUE(v.counterexample);
  const Trace& t = *v.counterexample;
  // More kexecs than any bounded world allows, and a real run of the unbounded world that ends
  // in the broken step.
  EXPECT_GT(count(t, ActionKind::kexec), kMaxKexecs);
  const World w(any);
  State s = w.initial();
  Violations last = 0;
  for (const Action& a : t.actions) {
    auto next = w.apply(s, a, &last);
    ASSERT_TRUE(next) << w.describe(a);
    s = *next;
  }
  EXPECT_NE(last & bit(PropertyId::kexec_count_carried), 0u);
  // Every other property holds: the mutant breaks only the counter.
  for (const auto& other : r.verdicts) {
    if (other.id != PropertyId::kexec_count_carried) {
      EXPECT_EQ(other.status, PropertyStatus::holds) << property(other.id).name;
    }
  }
  // Not in kAllMutants (whose every member the bounded checker must catch), yet named.
  for (Mutant m : kAllMutants)
    EXPECT_NE(m, Mutant::counter_stuck);
  EXPECT_EQ(parse_mutant("counter_stuck"), Mutant::counter_stuck);
}

// Its states are abstract (boot "later", faults per boot): replay, which follows a trace state by
// state through the implementation, refuses such a file by name rather than mismatching later.
TEST(AnyKexecs, ReplayRefusesItsTracesByName) {
  Bounds b = tiny(1, 1, 0, kMaxKexecs);
  b.mutant = Mutant::counter_stuck;
  b.any_kexecs = true;
  const auto parsed = parse_trace_json(to_json(World(b), run(b)));
  ASSERT_TRUE(std::holds_alternative<std::string>(parsed));
  EXPECT_TRUE(contains(std::get<std::string>(parsed), "anyKexecs"))
      << std::get<std::string>(parsed);
}

}  // namespace
}  // namespace luo::proofs::any_kexecs
