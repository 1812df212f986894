// luo/proofs/cutoff.hpp: safety for any number of owners and fds, by a cutoff (issue 17, item 2).
//
// The theorem (docs/properties.md, "Any number of owners and fds"): if a safety property is
// violated in a world of N owners x M memfds each, it is violated in one of the small worlds
// kCutoffSizes lists (the other bounds the same). Its premises:
//   - witness: a violation is decided by the fields of at most the few owners and fds of its
//     shape (kWitnesses) and by the global fields;
//   - locality: dropping an owner (never the hijacker or the VMM session's owner 0) or one fd
//     index of every owner, and renumbering the tokens that are left in order, maps every step
//     of the larger world to a step of the smaller one or to no change, and faults are a budget
//     (a state that used fewer of them has at least the same steps);
//   - fds of one owner are interchangeable (the symmetry reduction's premise, tested there).
// check_any_owners() runs check() at every cutoff size and check_locality() on the next larger
// worlds, and claims "for any number of owners and fds" per property only when all of it holds.
//
//   luo::proofs::AnyOwnersOptions opt;      // other bounds: the defaults
//   auto r = luo::proofs::check_any_owners(opt);
//   std::cout << luo::proofs::to_text(r);   // "for any number of owners and fds" per property
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "luo/proofs/checker.hpp"

namespace luo::proofs {

// Which way a world is made smaller: one owner less, or one fd less for every owner.
enum class Dimension : std::uint8_t { owners, fds };
std::string_view dimension_name(Dimension d);

// The most owners and fds a violation of a property needs to be told apart: its witnesses'
// shapes (any one of them may be the one at hand). Owner 0 comes on top when it is special
// (kept_owners()).
struct WitnessShape {
  int owners = 0;
  int fds = 0;  // per owner, at most
};
struct Witness {
  PropertyId id;
  std::vector<WitnessShape> shapes;
  const char* why;  // which fields decide a violation
};
// One per safety property, in kProperties order; eventually_delivered has none (not covered).
const std::vector<Witness>& witnesses();
std::optional<Witness> witness(PropertyId id);

// Owners a projection never drops: owner 0 when it may hijack or owns the VMM session.
int kept_owners(const Bounds& bounds);
// The (owners, fds) sizes at which check_any_owners() runs check() for these bounds: every size
// a witness of any safety property can shrink to.
std::vector<WitnessShape> cutoff_sizes(const Bounds& bounds);

// The bounds with one owner, or one fd of every owner, less.
Bounds smaller(const Bounds& bounds, Dimension dim);
// `s`, a state of World(big), without owner `index` (or without fd `index` of every owner),
// the tokens left renumbered densely in order: a state of World(smaller(big, dim)).
State project(const World& big, const State& s, Dimension dim, int index);
// Tokens renumbered densely from 1 in their order (0, the mapping's, stays 0).
void renumber_tokens(const World& world, State& s);

struct LocalityOptions {
  Bounds bounds;  // the larger world
  Dimension dim = Dimension::owners;
  std::uint64_t max_states = 0;  // 0: no limit
  std::function<void(const std::string&)> progress;
  double progress_seconds = 2.0;
};

struct LocalityResult {
  Bounds bounds;
  Dimension dim = Dimension::owners;
  bool holds = true;     // no failure found
  bool complete = true;  // every reachable state was checked
  std::uint64_t states = 0;
  std::uint64_t steps = 0;        // steps of the larger world checked against each projection
  std::uint64_t projections = 0;  // (state, dropped index) pairs
  double seconds = 0;
  std::size_t memory_bytes = 0;
  // The first failure: which premise, in words, and the run to the failing step (its last action
  // is the step no projection matched).
  std::string assumption;
  std::string detail;
  std::optional<Trace> witness;
};

// Checks the locality premise on every reachable state of World(options.bounds).
LocalityResult check_locality(const LocalityOptions& options);

struct AnyOwnersOptions {
  Bounds bounds;  // owners and fds are ignored: the cutoff sizes replace them
  std::uint64_t max_states = 0;
  std::uint64_t max_memory = 0;
  unsigned jobs = 1;
  std::function<void(const std::string&)> progress;
};

struct SizeRun {
  WitnessShape size;
  CheckResult result;
};

struct OwnerClaim {
  PropertyId id;
  bool any = false;  // holds for any number of owners and fds
  std::string why;   // when not: why not
};

struct AnyOwnersResult {
  Bounds bounds;
  std::vector<SizeRun> runs;
  std::vector<LocalityResult> locality;
  std::vector<OwnerClaim> claims;  // in kProperties order
  double seconds = 0;
  bool complete() const;     // every run and every locality check covered its whole space
  bool all_hold() const;     // no run found a violation and no premise failed
  bool any_for_all() const;  // every safety property is claimed
};

// Empty when the mode applies to these bounds, else why not (at most one VMM session; not with
// any_kexecs).
std::string any_owners_refusal(const Bounds& bounds);
// The larger worlds check_locality() runs on for these bounds.
std::vector<LocalityOptions> locality_runs(const Bounds& bounds);

AnyOwnersResult check_any_owners(const AnyOwnersOptions& options);

std::string to_text(const AnyOwnersResult& r);
std::string to_json(const AnyOwnersResult& r);

}  // namespace luo::proofs
