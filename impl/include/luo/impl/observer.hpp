// luo/impl/observer.hpp: every transition the runtime takes or refuses, for logging, audit or
// recording a trace that can be replayed against the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "luo/impl/error.hpp"

namespace luo {

struct TransitionRecord {
  std::uint64_t boot = 0;    // the runtime's boot generation
  std::string_view machine;  // "device", "outgoing-session", "incoming-session", "file"
  std::string object;        // "/dev/liveupdate" or the session name
  Operation operation;
  std::string_view event;  // the model event, e.g. "PRESERVE_FD"
  std::string_view from;
  std::string_view to;
  int result = 0;               // 0 or the errno the caller sees
  bool syscall_issued = false;  // false: refused by the model before any syscall
  std::optional<std::uint64_t> token;
};

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_transition(const TransitionRecord& record) = 0;
};

}  // namespace luo
