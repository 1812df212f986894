// mutant_cases.hpp: what the proof tests share to state "this broken manager, in these bounds,
// is caught by that property" (checker_test.cpp, spin_crosscheck_test.cpp, replay_test.cpp), and
// the bounds of their worlds.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "luo/proofs/properties.hpp"
#include "luo/proofs/world.hpp"

namespace luo::proofs::cases {

struct MutantCase {
  Mutant mutant;
  PropertyId caught_by;
  Bounds bounds;
};

// How GoogleTest names a case in its output.
inline void PrintTo(const MutantCase& c, std::ostream* os) {
  *os << mutant_name(c.mutant) << " in " << c.bounds.describe();
}

// A parameterised case's test name: its mutant's.
template <class Case>
std::string mutant_param_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(mutant_name(info.param.mutant));
}

// The mutants of kAllMutants that no case names: a table of cases must leave none out.
template <class Case>
std::vector<std::string> mutants_without_a_case(const std::vector<Case>& cases) {
  std::vector<std::string> missing;
  for (Mutant m : kAllMutants) {
    if (std::none_of(cases.begin(), cases.end(), [&](const Case& c) { return c.mutant == m; }))
      missing.emplace_back(mutant_name(m));
  }
  return missing;
}

// A world of this size; every other bound at its default (hijack, late owners, errnos and
// crashes on).
inline Bounds bounds(int owners, int fds, int sessions, int kexecs, int faults) {
  Bounds b;
  b.owners = owners;
  b.fds = fds;
  b.sessions = sessions;
  b.kexecs = kexecs;
  b.faults = faults;
  return b;
}

// The smallest worlds: no faults, no hijack, so a case shows only what its mutant breaks.
inline Bounds tiny(int owners, int fds, int sessions, int kexecs) {
  Bounds b = bounds(owners, fds, sessions, kexecs, 0);
  b.hijack = false;
  return b;
}

}  // namespace luo::proofs::cases
