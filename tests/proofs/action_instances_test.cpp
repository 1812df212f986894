// The action instances (World::instances()): the one enumeration World::successors() and the
// Promela model are both made from. These tests fail if the two stop taking the same instances,
// or if the enumeration misses a kind or lists an instance no state can enable.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "luo/proofs/encoding.hpp"
#include "luo/proofs/promela.hpp"
#include "luo/proofs/world.hpp"
#include "mutant_cases.hpp"

namespace luo::proofs {
namespace {

using cases::bounds;

// The comment of every d_step of the model but env's idle step: the description of its action.
std::vector<std::string> promela_actions(const std::string& pml) {
  std::vector<std::string> out;
  const std::string open = ":: d_step {  /* ";
  for (std::size_t at = pml.find(open); at != std::string::npos; at = pml.find(open, at + 1)) {
    const std::size_t begin = at + open.size();
    const std::size_t end = pml.find(" */", begin);
    const std::string what = pml.substr(begin, end - begin);
    if (what != "idle")
      out.push_back(what);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Bounds> variations() {
  std::vector<Bounds> v;
  Bounds b;
  v.push_back(b);
  Bounds wide = b;
  wide.owners = 3;
  wide.fds = 3;
  wide.sessions = 2;
  wide.faults = 2;
  v.push_back(wide);
  Bounds quiet = b;
  quiet.errnos = false;
  quiet.hijack = false;
  v.push_back(quiet);
  Bounds calm = b;
  calm.crashes = false;
  calm.late_owners = false;
  v.push_back(calm);
  Bounds none = b;
  none.faults = 0;
  none.sessions = 0;
  v.push_back(none);
  Bounds any = b;
  any.any_kexecs = true;
  v.push_back(any);
  return v;
}

TEST(ActionInstances, ThePromelaModelHasOneDStepPerInstance) {
  for (const Bounds& b : variations()) {
    // The twin models the bounded world only; to_promela() refuses the rest.
    if (!promela_refusal(b).empty()) {
      EXPECT_THROW(to_promela(b), PromelaUnsupported) << b.describe();
      continue;
    }
    const World w(b);
    std::vector<std::string> expected;
    for (const Action& a : w.instances())
      expected.push_back(w.describe(a));
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(promela_actions(to_promela(b)), expected) << b.describe();
  }
}

TEST(ActionInstances, EachInstanceIsListedOnce) {
  for (const Bounds& b : variations()) {
    const World w(b);
    for (std::size_t i = 0; i < w.instances().size(); ++i) {
      for (std::size_t k = i + 1; k < w.instances().size(); ++k)
        EXPECT_FALSE(w.instances()[i] == w.instances()[k]) << w.describe(w.instances()[i]);
    }
  }
}

TEST(ActionInstances, EveryKindHasAnInstance) {
  const World w(Bounds{});
  for (int k = 0; k < kActionKinds; ++k) {
    const auto kind = static_cast<ActionKind>(k);
    EXPECT_TRUE(std::any_of(w.instances().begin(), w.instances().end(), [&](const Action& a) {
      return a.kind == kind;
    })) << action_kind_name(kind);
  }
}

// Over every reachable state of a small world: successors() takes only listed instances, in
// their order, and each listed instance is enabled somewhere (the Promela model has no d_step
// that can never run, and the world no instance the model lacks).
TEST(ActionInstances, SuccessorsTakeTheInstancesInOrderAndEachIsEnabledSomewhere) {
  const Bounds b = bounds(1, 1, 1, 1, 1);
  const World w(b);
  const Codec codec(b);
  const auto& inst = w.instances();
  std::vector<bool> enabled(inst.size(), false);
  std::set<std::vector<std::uint64_t>> seen;
  std::vector<State> queue{w.initial()};
  const auto key = [&](const State& s) {
    std::array<std::uint64_t, kMaxWords> words{};
    codec.encode(s, words.data());
    return std::vector<std::uint64_t>(words.begin(), words.begin() + codec.words());
  };
  seen.insert(key(queue.front()));
  std::vector<World::Step> steps;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    w.successors(queue[i], steps);
    std::size_t at = 0;  // steps must be a subsequence of the instances
    for (const auto& step : steps) {
      while (at < inst.size() && !(inst[at] == step.action))
        ++at;
      ASSERT_LT(at, inst.size()) << w.describe(step.action) << " is not listed, or out of order";
      enabled[at] = true;
      if (seen.insert(key(step.next)).second)
        queue.push_back(step.next);
    }
  }
  EXPECT_GT(queue.size(), 1000u);
  for (std::size_t k = 0; k < inst.size(); ++k)
    EXPECT_TRUE(enabled[k]) << w.describe(inst[k]) << " is never enabled";
}

}  // namespace
}  // namespace luo::proofs
