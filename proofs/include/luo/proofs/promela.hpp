// luo/proofs/promela.hpp: the bounded world of world.hpp as a Promela model, for SPIN.
//
// The SPIN cross-check (spin_crosscheck.hpp) runs this model through Debian's `spin` and compares
// SPIN's state count and verdicts with check()'s. For that to mean anything the two must be the
// same transition system built twice:
//   - the machines are not rewritten: every place where the world calls luo::select() calls a
//     Promela `inline` selector generated from the very table (kFdEntryMachine, kHandoffMachine,
//     kFileMachine, kOutgoingSessionMachine, kIncomingSessionMachine) for the bounds' profile,
//     taking the first row whose guard holds;
//   - the glue (which action does what to whom) is written a second time, here, action kind by
//     action kind, from the world's Stepper (stepper.hpp); so is every property, from
//     properties.cpp.
//
// The model's global variables are exactly the fields Codec packs (so "states, stored" of an
// exhaustive SPIN run is check()'s unreduced `distinct`); everything else is `hidden`. Each
// action instance of World::instances() (successors()' own) is one `d_step { guard -> effect }`,
// followed by the world's normalization and the state properties as assertions. State and
// transition properties fail as `assert(<property name>)`, so pan's message names the property;
// liveness (`eventually_delivered`) is one `ltl` claim per entry. Processes are the checker's weak
// fairness classes (one `active proctype` per fair action instance class, one `env` for the
// rest), so `pan -a -f` assumes exactly the checker's fairness. docs/properties.md, section
// "SPIN cross-check", explains the details (the `idle` step of `env`, the initial state).
//
//   luo::proofs::Bounds b;
//   b.owners = 1;
//   std::string pml = luo::proofs::to_promela(b);          // spin -a, gcc pan.c, ./pan
//   std::string one = luo::proofs::to_promela(b, {.properties = bit(PropertyId::no_silent_loss)});
#pragma once

#include <stdexcept>
#include <string>

#include "luo/proofs/properties.hpp"
#include "luo/proofs/world.hpp"

namespace luo::proofs {

struct PromelaOptions {
  // The properties whose assertions or claims are emitted (bits of PropertyId); the others
  // leave no trace in the model. A pan run with -c0 reports every emitted assertion it breaks.
  Violations properties = ~Violations{0};
};

// Valid bounds the Promela twin does not model (to_promela() and spin_crosscheck() throw it):
// Bounds::any_kexecs, whose abstract world has no Promela counterpart.
class PromelaUnsupported : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};
// Empty when to_promela() models these bounds, else why not.
std::string promela_refusal(const Bounds& bounds);

// The Promela model of World(bounds). Throws std::invalid_argument for bounds that
// Bounds::validate() refuses, PromelaUnsupported for those promela_refusal() names.
std::string to_promela(const Bounds& bounds, const PromelaOptions& options = {});

// The claim of the safety run (`pan -N safety`): it never accepts and never blocks, so the
// product with it is the plain state graph and "states, stored" stays exact.
inline constexpr std::string_view kPromelaSafetyClaim = "safety";

// The name of the ltl claim of `eventually_delivered` for one entry (an fd index below
// fd_count(), else a session index + fd_count()): pass it to `pan -N`.
std::string promela_claim_name(const World& world, int entry);

// How many processes the model runs (for pan's -DNFAIR under weak fairness).
int promela_process_count(const Bounds& bounds);

}  // namespace luo::proofs
