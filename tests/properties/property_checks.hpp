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
#include <rapidcheck/state.h>

#include <sstream>
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

// What every command of a set shares: step() is the model's answer (apply() runs it too),
// perform() the same call on the system under test; text() is what show() prints, preview() the
// model's answer without changing the state (for preconditions that depend on it).
template <class State, class Sut, class Expect>
class ModelCommand : public rc::state::Command<State, Sut> {
 protected:
  virtual Expect step(State& s) const = 0;
  virtual void perform(const State& before, const State& after, const Expect& e,
                       Sut& sut) const = 0;
  std::string text() const {
    std::ostringstream os;
    this->show(os);
    return os.str();
  }
  Expect preview(const State& s) const {
    State copy = s;
    return step(copy);
  }
};

// Both fds refer to one open file description (kcmp, else F_DUPFD_QUERY of Linux 6.10).
bool same_open_file_description(int a, int b);

}  // namespace luo::testing
