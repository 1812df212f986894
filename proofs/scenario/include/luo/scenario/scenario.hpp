// luo/scenario/scenario.hpp: scenarios, the op language `luo-lifecycle simulate` runs
// (docs/scenarios.md, examples/scenarios/): a list of operations (device and session calls,
// memfds, kexecs, injected kernel faults, a manager's fd stores and its Stage A / Stage B /
// restore handoff) run through impl/ (luo::HandoffManager, luo::LiveUpdate) over the kernel
// simulator, each with the result the scenario expects of it.
//
//   auto parsed = luo::scenario::parse(doc);          // doc: a parsed JSON document
//   if (auto* e = std::get_if<luo::scenario::ScenarioError>(&parsed)) ...  // e->path, e->message
//   luo::scenario::Simulation sim(std::get<luo::scenario::Scenario>(parsed), &observer);
//   for (std::size_t i = 0; i < sim.size(); ++i) {
//     auto step = sim.step(i);                         // Step, or a ScenarioError (an unknown
//     handle)
//     ...; if (!std::get<luo::scenario::Step>(step).as_expected) break;
//   }
//
// A scenario is validated whole before anything runs (every operation's name, fields and
// types), so a typo is a ScenarioError naming operations[i].field, not a half-run scenario. Handles
// (a device, a session, a memfd) are names the scenario gives; an operation naming a handle no
// earlier operation created is a ScenarioError too, found when that operation runs.
//
// The operations are one table, ops(): each row is an operation's name, its fields and its
// handler, so an operation cannot be validated without being runnable (OpSpec's constructor
// takes the handler by reference: a row without one does not compile). The transitions every
// operation takes or refuses go to the Observer the Simulation was given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/observer.hpp"
#include "luo/model/profile.hpp"

namespace luo::scenario {

using Json = nlohmann::ordered_json;

// Why a scenario is invalid. `path` names where: "" for the document, "profile",
// "operations[2]", "operations[2].token".
struct ScenarioError {
  std::string path;
  std::string message;
};

struct Scenario {
  KernelProfile profile = kDefaultProfile;
  bool luo_enabled = true;  // false: the simulator boots without liveupdate=on
  std::vector<Json> operations;
};

// A scenario document: {"profile", "luo", "description", "operations": [...]} or the bare
// operations array. Every operation is checked against ops().
std::variant<Scenario, ScenarioError> parse(const Json& doc);

// "operations[3]": where operation `index` is, for a ScenarioError's path.
std::string op_path(std::size_t index);

// ---------------------------------------------------------------------------------------------
// The operations

enum class FieldType { string, u64, u32, boolean, errno_name, fault, preserve_mode };

struct FieldSpec {
  std::string_view name;
  FieldType type;
  bool required;
  std::string_view help;
};

// What one operation did: ok (error 0), an errno, or a check that failed (mismatch), with what
// it reported on the way.
struct StepResult {
  int error = 0;
  bool mismatch = false;
  std::string message;
  std::vector<std::string> notes;
  std::vector<EntryReport> entries;  // a handoff step's report, one line per entry
  std::optional<Json> document;      // the Stage A or Stage B document a step produced

  // `expected` is an operation's `expect`: "ok", "any", "mismatch" or an errno name.
  bool as_expected(std::string_view expected) const;
};

class Machine;  // a running scenario's state (the simulator, the handles, the manager)
using Outcome = std::variant<StepResult, ScenarioError>;
using Handler = Outcome(Machine& machine, const Json& op, const std::string& path);

// One row of the op table. Not an aggregate: the constructor takes every member, so a row
// without its handler is a compile error.
class OpSpec {
 public:
  OpSpec(std::string_view op_name, std::vector<FieldSpec> op_fields, std::string_view op_help,
         Handler& op_handler)
      : name(op_name), fields(std::move(op_fields)), help(op_help), handler(&op_handler) {}

  std::string_view name;
  std::vector<FieldSpec> fields;
  std::string_view help;
  Handler* handler;
};

// Every operation, in the order `luo-lifecycle simulate --help` lists them.
std::span<const OpSpec> ops();
const OpSpec* find_op(std::string_view name);

// The fields every operation takes besides its own: "op", "expect", "comment".
std::span<const std::string_view> common_fields();

// ---------------------------------------------------------------------------------------------
// Running

// Operation `index` of a run.
struct Step {
  std::uint64_t boot = 0;  // the boot it ran in (kexec reports the one it started from)
  StepResult result;
  std::string expected;  // its `expect`, "ok" when absent
  bool as_expected = false;
};

// One run of a scenario: its own simulated kernel, LiveUpdate and boot-by-boot HandoffManager.
// Steps run in order; a run stops being meaningful after the first one not as expected.
class Simulation {
 public:
  // `observer` (may be null) gets every transition, the manager's included.
  Simulation(Scenario scenario, Observer* observer);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  const Scenario& scenario() const { return scenario_; }
  std::size_t size() const { return scenario_.operations.size(); }
  // The simulated boot now running (0 first, +1 per kexec).
  std::uint64_t boot() const;

  // Runs operation `index`, the next one (steps run in order).
  std::variant<Step, ScenarioError> step(std::size_t index);

 private:
  Scenario scenario_;
  std::unique_ptr<Machine> machine_;
};

}  // namespace luo::scenario
