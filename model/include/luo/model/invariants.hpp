// luo/model/invariants.hpp: named properties that must hold after every KernelModel step.
//
// Each invariant has a stable name used the same way by tests, the checker's report and the
// docs, a one-line rationale and the spec section it comes from. `violated_invariants(k)`
// returns the names that fail, so a test can print exactly what broke.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "luo/model/kernel_model.hpp"

namespace luo {

struct Invariant {
  std::string_view name;
  std::string_view rationale;
  std::string_view spec;
  bool (*holds)(const KernelModel&);
};

std::span<const Invariant> kernel_invariants();
std::vector<std::string_view> violated_invariants(const KernelModel& k);

}  // namespace luo
