// cli/trace.hpp: the transition trace the demo and simulate commands print, one line per
// TransitionRecord (impl/observer.hpp), or one JSON object per record.
//
//   [boot 0] outgoing-session vm0   preserving -- PRESERVE_FD --> preserving EEXIST (refused
//   before syscall) token=0x1
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "luo/impl/observer.hpp"

namespace luo::cli {

// printf into a std::string, for column layouts.
[[gnu::format(printf, 1, 2)]] std::string format(const char* fmt, ...);

// "ok", an errno name such as "EEXIST", or the number when luo::Errno does not list it.
std::string result_name(int result);

std::string trace_line(const TransitionRecord& r);
nlohmann::ordered_json trace_json(const TransitionRecord& r);

// Forwards every record to a callback (the commands print or collect them).
class CallbackObserver final : public Observer {
 public:
  explicit CallbackObserver(std::function<void(const TransitionRecord&)> f) : f_(std::move(f)) {}
  void on_transition(const TransitionRecord& record) override { f_(record); }

 private:
  std::function<void(const TransitionRecord&)> f_;
};

}  // namespace luo::cli
