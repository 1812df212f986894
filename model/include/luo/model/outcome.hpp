// luo/model/outcome.hpp: what a transition returns to the caller.
#pragma once

#include <cstdint>
#include <string>

#include "luo/model/errno.hpp"

namespace luo {

enum class OutcomeKind : std::uint8_t {
  success,        // the call returns 0 (or a new fd)
  failure,        // the call fails with a fixed errno
  handler_error,  // the call fails with whatever errno the file handler returned
  blocks,         // the call sleeps forever (7.2 serialize lock held after a successful reboot)
  undefined,      // the kernel's behaviour is undefined here; impl/ never issues such a call
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::success;
  Errno error = Errno::ok;

  static constexpr Outcome success() { return {OutcomeKind::success, Errno::ok}; }
  static constexpr Outcome fail(Errno e) { return {OutcomeKind::failure, e}; }
  static constexpr Outcome handler() { return {OutcomeKind::handler_error, Errno::ok}; }
  static constexpr Outcome blocks() { return {OutcomeKind::blocks, Errno::ok}; }
  static constexpr Outcome undefined() { return {OutcomeKind::undefined, Errno::ok}; }

  constexpr bool ok() const { return kind == OutcomeKind::success; }
  // Whether a call that ended with `observed` (0 = success) is this outcome.
  constexpr bool matches(int observed) const {
    switch (kind) {
      case OutcomeKind::success:
        return observed == 0;
      case OutcomeKind::failure:
        return observed == errno_value(error);
      case OutcomeKind::handler_error:
        return observed != 0;
      case OutcomeKind::blocks:
        return false;
      case OutcomeKind::undefined:
        return false;
    }
    return false;
  }
  constexpr bool operator==(const Outcome&) const = default;
};

inline std::string to_string(const Outcome& o) {
  switch (o.kind) {
    case OutcomeKind::success:
      return "ok";
    case OutcomeKind::failure:
      return std::string(errno_name(o.error));
    case OutcomeKind::handler_error:
      return "handler errno";
    case OutcomeKind::blocks:
      return "blocks";
    case OutcomeKind::undefined:
      return "undefined";
  }
  return "?";
}

}  // namespace luo
