// A scenario run: the Machine's handles and one step at a time (luo/scenario/scenario.hpp).
#include "luo/model/errno.hpp"
#include "machine.hpp"

namespace luo::scenario {

StepResult fail(const luo::Error& e) {
  return {e.raw_errno(), false, e.message(), {}, {}, {}};
}
StepResult fail_errno(int error, std::string message) {
  return {error, false, std::move(message), {}, {}, {}};
}
StepResult mismatch(std::string message) {
  return {0, true, std::move(message), {}, {}, {}};
}

bool StepResult::as_expected(std::string_view expected) const {
  if (expected == "any")
    return true;
  if (mismatch)
    return expected == "mismatch";
  if (error == 0)
    return expected == "ok";
  const auto e = errno_from_int(error);
  return e && errno_name(*e) == expected;
}

Machine::Machine(const Scenario& s, Observer* obs)
    : kernel(s.profile, SimulatedKernelOptions{s.luo_enabled}),
      port(kernel),
      observer(obs),
      lu(port, s.profile, observer),
      manager(new_manager()) {}

Found<Device> Machine::device(const Json& op, const std::string& path) {
  const std::string handle = op.value("device", std::string("dev"));
  auto it = devices.find(handle);
  if (it == devices.end())
    return ScenarioError{path + ".device",
                         "no device handle \"" + handle + "\": open_device has not opened one"};
  return &it->second;
}

Found<Session> Machine::session(const Json& op, const std::string& path) {
  const std::string handle = op["session"].get<std::string>();
  auto it = sessions.find(handle);
  if (it == sessions.end())
    return ScenarioError{path + ".session",
                         "no session handle \"" + handle +
                             "\": no earlier create_session or retrieve_session made one"};
  return &it->second;
}

Found<UniqueFd> Machine::memfd(const Json& op, const std::string& path) {
  const std::string handle = op["memfd"].get<std::string>();
  auto it = memfds.find(handle);
  if (it == memfds.end())
    return ScenarioError{
        path + ".memfd",
        "no memfd handle \"" + handle + "\": no earlier memfd_create or retrieve_fd made one"};
  return &it->second;
}

Simulation::Simulation(Scenario scenario, Observer* observer)
    : scenario_(std::move(scenario)), machine_(std::make_unique<Machine>(scenario_, observer)) {}

Simulation::~Simulation() = default;

std::uint64_t Simulation::boot() const {
  return machine_->lu.boot();
}

std::variant<Step, ScenarioError> Simulation::step(std::size_t index) {
  const Json& op = scenario_.operations.at(index);
  Step out;
  out.boot = boot();
  // parse() checked the name against the same table.
  const OpSpec& spec = *find_op(op["op"].get<std::string>());
  auto ran = spec.handler(*machine_, op, op_path(index));
  if (auto* err = std::get_if<ScenarioError>(&ran))
    return std::move(*err);
  out.result = std::move(std::get<StepResult>(ran));
  out.expected = op.value("expect", std::string("ok"));
  out.as_expected = out.result.as_expected(out.expected);
  return out;
}

}  // namespace luo::scenario
