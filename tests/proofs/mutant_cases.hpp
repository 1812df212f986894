// mutant_cases.hpp: what the proof tests share to state "this broken manager, in these bounds,
// is caught by that property" (checker_test.cpp, spin_crosscheck_test.cpp, replay_test.cpp), and
// the bounds of their worlds.
#pragma once

#include <ostream>

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
