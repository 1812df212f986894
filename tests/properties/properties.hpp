// properties.hpp: the catalogue of property-based tests (docs/property-tests.md), shared by the
// per-profile gtest cases (properties_test.cpp) and the mutation report (tests/mutants/).
//
// A property is a function that runs one rapidcheck case, i.e. generates one command sequence
// for a kernel profile, runs it against the model and the system under test, and fails (through
// rapidcheck's assertions) at the first disagreement.
//
//   for (const PropertyDef& p : all_properties())
//     if (p.applies(profile)) run_property(property_id(p, profile), p.base_sequences, ...);
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "luo/model/profile.hpp"

namespace luo::testing {

struct PropertyDef {
  std::string_view name;  // stable: test names, RC_PARAMS ids and the docs use it
  int base_sequences;     // per profile in the default run, before LUO_PROPERTY_SCALE
  int max_commands;       // the longest sequence (rapidcheck's max_size; RC_PARAMS overrides)
  void (*sequence)(KernelProfile);
  bool (*applies)(KernelProfile);
};

std::span<const PropertyDef> all_properties();
const PropertyDef& property_named(std::string_view name);
// "<name>/<profile>", e.g. "KernelLifecycle/7.2": the key of rapidcheck's reproduce map.
std::string property_id(const PropertyDef& p, KernelProfile profile);

// The sequences behind the catalogue (kernel_commands.hpp, fd_store_commands.hpp).
void kernel_lifecycle_sequence(KernelProfile profile);
void kexec_round_trip_sequence(KernelProfile profile);
void fd_store_handoff_sequence(KernelProfile profile);

}  // namespace luo::testing
