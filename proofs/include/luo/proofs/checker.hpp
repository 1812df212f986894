// luo/proofs/checker.hpp: an explicit-state, breadth-first model checker for world.hpp.
//
// Every reachable state of the bounded world is generated once, stored exactly (encoding.hpp: no
// hashing of states into fewer bits, so no state can hide behind another), and checked against
// every state property; every step is judged by the transition properties as it is taken. The
// first violation of each property found in breadth-first order is a shortest counterexample,
// kept as a trace. Liveness (weak fairness) is decided afterwards on the stored graph, by
// strongly connected components of the states where an entry is still owed a delivery.
//
//   luo::proofs::CheckOptions opt;           // default bounds
//   auto result = luo::proofs::check(opt);
//   for (const auto& v : result.verdicts) std::cout << v.name() << " " << v.status_name();
//
// What a run does not cover is returned with it (`not_covered`): the bounds themselves, the
// fairness assumption, symmetry reduction (which leaves liveness unchecked), a state limit or
// the memory cap hit.
//
// With `jobs` above 1 the search runs on that many threads, level by level: each breadth-first
// level is expanded in parallel into a sharded visited set, and its new states are then numbered
// in the order the sequential search would have found them (by the first parent and successor
// that reached them). The stored graph, every count, every verdict and every counterexample are
// therefore the same for any number of jobs (docs/properties.md, "Both cores").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "luo/proofs/properties.hpp"
#include "luo/proofs/world.hpp"

namespace luo::proofs {

// Why a search stopped before covering the whole bounded space.
enum class Stop : std::uint8_t { none, max_states, max_memory };
std::string_view stop_name(Stop s);

// Every core the machine reports (std::thread::hardware_concurrency, at least 1).
unsigned default_jobs();
// Half the machine's physical memory: the CLI's default --max-memory.
std::uint64_t default_memory_cap();

struct CheckOptions {
  Bounds bounds;
  bool symmetry = false;
  std::optional<PropertyId> only;  // check one property (the others are "not checked")
  bool liveness = true;
  std::uint64_t max_states = 0;  // 0: no limit; else stop there (the run is then incomplete)
  // 0: no cap; else the search stops (incomplete) before the checker's own structures (visited
  // set, queue, parents, liveness graph) would need more bytes than this, growth included.
  std::uint64_t max_memory = 0;
  unsigned jobs = 1;  // threads; 0: default_jobs(). 1 is the sequential search.
  // Called about every `progress_seconds` during long runs, with a one-line status.
  std::function<void(const std::string&)> progress;
  double progress_seconds = 2.0;
};

struct Trace {
  std::vector<State> states;    // states[0] is the initial state
  std::vector<Action> actions;  // actions[i] leads from states[i] to states[i+1]
  int loop_start = -1;          // liveness lassos: the suffix from here repeats forever
};

// What the search concluded about one property (named apart from luo::Status, impl's Result<Done>).
enum class PropertyStatus : std::uint8_t { holds, violated, not_checked };
std::string_view status_name(PropertyStatus s);

struct Verdict {
  PropertyId id;
  PropertyStatus status = PropertyStatus::holds;
  std::optional<Trace> counterexample;
  std::string note;  // e.g. why not checked, or which entry the liveness trace is about
};

struct CheckResult {
  Bounds bounds;
  bool symmetry = false;
  bool complete = true;  // false when a limit stopped the search or left the liveness pass out
  // With Bounds::any_kexecs: the search stored every state the abstraction allows (no limit
  // stopped it), so the safety verdicts hold for any number of kexecs. Only then may a report
  // say so.
  bool fixpoint = false;
  Stop stopped_by = Stop::none;
  // Every state within this many steps of the initial state was stored and checked (= depth when
  // complete; under a limit, the coverage the report can claim).
  int complete_depth = 0;
  unsigned jobs = 1;             // threads the search ran on
  std::uint64_t max_memory = 0;  // the cap it ran under (0: none)
  std::uint64_t generated = 0;   // successor states computed (with repetitions)
  std::uint64_t distinct = 0;    // states stored
  // Under symmetry: the sum of the stored representatives' orbits, an upper bound on the
  // unreduced state count (encoding.hpp, orbit_size()); equal to `distinct` without it.
  std::uint64_t represented = 0;
  std::uint64_t transitions = 0;
  int depth = 0;                 // longest shortest path from the initial state
  double seconds = 0;            // the whole run
  double explore_seconds = 0;    // the breadth-first search alone (the states/s rate)
  std::size_t memory_bytes = 0;  // visited set, parents and the liveness pass
  int state_bits = 0;
  std::vector<Verdict> verdicts;  // one per property, in kProperties order
  std::vector<std::string> not_covered;

  bool all_hold() const;
  const Verdict& verdict(PropertyId id) const;
};

CheckResult check(const CheckOptions& options);

// Readable text and machine JSON of a result (counterexamples included).
std::string to_text(const World& world, const CheckResult& result);
std::string to_json(const World& world, const CheckResult& result);
// One state, as the trace printer shows it.
std::string describe_state(const World& world, const State& s);
// One state as the JSON of a counterexample's steps carries it (replay checks traces with it).
std::string state_to_json(const World& world, const State& s);

}  // namespace luo::proofs
