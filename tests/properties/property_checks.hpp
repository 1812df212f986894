// property_checks.hpp: assertions for rapidcheck commands, shared by the command sets.
//
// rapidcheck's RC_PRE/RC_ASSERT decompose their expression and evaluate both sides of `&&`, so
// `i < v.size() && v[i].open` would index out of range; require() and ensure() take a plain bool
// and short-circuit as the code reads. fail() reports a disagreement with a full sentence.
//
//   require(slot < s.sessions.size() && s.sessions[slot].open);   // precondition: discard
//   if (got != want) fail(what + ": got " + got + ", the model says " + want);
#pragma once

#include <rapidcheck.h>

#include <string>

namespace luo::testing {

inline void require(bool precondition) {
  RC_PRE(precondition);
}

inline void ensure(bool condition) {
  RC_ASSERT(condition);
}

[[noreturn]] inline void fail(const std::string& what) {
  RC_FAIL(what);
  throw;  // not reached: RC_FAIL throws
}

// Both fds refer to one open file description (kcmp, else F_DUPFD_QUERY of Linux 6.10).
bool same_open_file_description(int a, int b);

}  // namespace luo::testing
