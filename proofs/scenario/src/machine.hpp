// The state a running scenario keeps between operations, and the handle lookups the op handlers
// (ops.cpp) share. Private to the scenario library.
#pragma once

#include <map>
#include <string>
#include <variant>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/live_update.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/scenario/scenario.hpp"

namespace luo::scenario {

StepResult fail(const luo::Error& e);
StepResult fail_errno(int error, std::string message);
StepResult mismatch(std::string message);

using Session = std::variant<OutgoingSession, IncomingSession>;

template <class T>
using Found = std::variant<T*, ScenarioError>;

class Machine {
 public:
  Machine(const Scenario& s, Observer* observer);

  // The handles an operation names, or a ScenarioError: the handle does not exist, or is of the
  // wrong kind.
  Found<Device> device(const Json& op, const std::string& path);
  Found<Session> session(const Json& op, const std::string& path);
  template <class Kind>
  Found<Kind> session_of_kind(const Json& op, const std::string& path, const char* needed);
  Found<UniqueFd> memfd(const Json& op, const std::string& path);

  // The manager of a boot: the handoff as one object, reporting to the same observer.
  HandoffManager new_manager() { return HandoffManager(lu, port, {.observer = observer}); }
  // The old boot's processes are gone: their memfds with them (the manager's stores and handoff
  // state went with its kexec()). Device and session handles stay, stale: every call on them is
  // refused with EBADF.
  void boot_ended() { memfds.clear(); }

  SimulatedKernel kernel;
  IoctlPort port;
  Observer* observer;
  LiveUpdate lu;
  std::map<std::string, Device> devices;
  std::map<std::string, Session> sessions;
  std::map<std::string, UniqueFd> memfds;
  HandoffManager manager;
};

template <class Kind>
Found<Kind> Machine::session_of_kind(const Json& op, const std::string& path, const char* needed) {
  auto s = session(op, path);
  if (auto* err = std::get_if<ScenarioError>(&s))
    return *err;
  if (auto* k = std::get_if<Kind>(std::get<Session*>(s)))
    return k;
  return ScenarioError{path + ".session", "\"" + op["session"].get<std::string>() + "\" is not " +
                                              needed + " session"};
}

}  // namespace luo::scenario
