// luo-lifecycle simulate: runs a scenario through the scenario library (luo/scenario/scenario.hpp:
// the op language, its table and interpreter, over impl/ and the kernel simulator) and prints
// the transition trace. The format is in docs/scenarios.md and in `luo-lifecycle simulate
// --help`, whose operation list is generated from the library's op table; examples are in
// examples/scenarios/. This file reads the arguments and the file, and prints.
#include <iostream>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "input.hpp"
#include "luo/scenario/scenario.hpp"
#include "trace.hpp"

namespace luo::cli {
namespace {

using Json = nlohmann::ordered_json;
using scenario::ScenarioError;

std::string result_text(const scenario::StepResult& r) {
  return r.mismatch ? "mismatch" : result_name(r.error);
}

// A short form of the operation's fields for the trace: token=1 session="vm0".
std::string op_summary(const Json& op) {
  std::string out = op["op"].get<std::string>();
  for (const auto& [key, value] : op.items()) {
    if (key == "op" || key == "expect" || key == "comment")
      continue;
    std::string v = dump(value);
    if (v.size() > 40)
      v = v.substr(0, 37) + "...";
    out += " " + key + "=" + v;
  }
  return out;
}

Json entry_json(const EntryReport& e) {
  Json j;
  j["owner"] = e.owner;
  j["name"] = e.name;
  j["state"] = state_name(e.state);
  if (!e.reason.empty())
    j["reason"] = e.reason;
  return j;
}

int run(const Args& args, Io& io) {
  const Command& self = simulate_command();
  if (args.positional.size() != 1)
    return usage_error(self, io, "expects exactly one scenario file (or - for standard input)");
  const auto text = read_input(self, args.positional[0], io);
  if (!text)
    return kExitUsage;
  auto doc = parse_json<Json>(*text);
  auto parsed = std::holds_alternative<Json>(doc)
                    ? scenario::parse(std::get<Json>(doc))
                    : std::variant<scenario::Scenario, ScenarioError>(ScenarioError{
                          std::get<JsonError>(doc).path, std::get<JsonError>(doc).message});
  if (auto* err = std::get_if<ScenarioError>(&parsed)) {
    return usage_error(self, io,
                       "invalid scenario " + args.positional[0] +
                           (err->path.empty() ? "" : " at " + err->path) + ": " + err->message);
  }
  scenario::Scenario& read = std::get<scenario::Scenario>(parsed);
  if (args.value("--profile")) {
    const auto p = profile_option(self, args, io);
    if (!p)
      return kExitUsage;
    read.profile = *p;
  }
  const bool json = args.flag("--json");

  std::vector<TransitionRecord> records;
  CallbackObserver observer([&](const TransitionRecord& r) { records.push_back(r); });
  scenario::Simulation sim(std::move(read), &observer);
  const scenario::Scenario& plan = sim.scenario();
  Json out;
  out["scenario"] = args.positional[0];
  out["profile"] = profile_name(plan.profile);
  out["operations"] = Json::array();
  if (!json) {
    io.out << "luo-lifecycle simulate: " << args.positional[0] << ", kernel profile "
           << profile_name(plan.profile) << ", simulated kernel"
           << (plan.luo_enabled ? "" : " without LUO") << "\n";
  }
  std::optional<std::size_t> failed_at;
  for (std::size_t i = 0; i < sim.size(); ++i) {
    const Json& op = plan.operations[i];
    records.clear();
    auto ran = sim.step(i);
    if (auto* err = std::get_if<ScenarioError>(&ran)) {
      io.out.flush();
      return usage_error(
          self, io,
          "invalid scenario " + args.positional[0] + " at " + err->path + ": " + err->message);
    }
    const scenario::Step& done = std::get<scenario::Step>(ran);
    const scenario::StepResult& r = done.result;
    const std::string& expected = done.expected;
    const bool as_expected = done.as_expected;
    if (json) {
      Json step;
      step["index"] = i;
      step["op"] = op["op"];
      step["boot"] = done.boot;
      step["result"] = result_text(r);
      step["expected"] = expected;
      step["as_expected"] = as_expected;
      if (!r.message.empty())
        step["message"] = r.message;
      step["trace"] = Json::array();
      for (const auto& rec : records)
        step["trace"].push_back(trace_json(rec));
      if (!r.entries.empty()) {
        step["entries"] = Json::array();
        for (const auto& e : r.entries)
          step["entries"].push_back(entry_json(e));
      }
      if (r.document)
        step["document"] = *r.document;
      if (!r.notes.empty())
        step["notes"] = r.notes;
      out["operations"].push_back(std::move(step));
    } else {
      io.out << "\n#" << i << " " << op_summary(op) << ": " << result_text(r);
      if (expected != "ok")
        io.out << " (expected " << expected << ")";
      io.out << "\n";
      if (op.contains("comment"))
        io.out << "   # " << op["comment"].get<std::string>() << "\n";
      for (const auto& rec : records)
        io.out << "   " << trace_line(rec) << "\n";
      for (const auto& e : r.entries) {
        io.out << "   entry " << e.owner << (e.owner.empty() ? "" : "/") << e.name << ": "
               << state_name(e.state) << (e.reason.empty() ? "" : " (" + e.reason + ")") << "\n";
      }
      if (r.document)
        io.out << "   document: " << dump(*r.document) << "\n";
      for (const auto& note : r.notes)
        io.out << "   " << note << "\n";
      if (!r.message.empty())
        io.out << "   " << r.message << "\n";
    }
    if (!as_expected) {
      failed_at = i;
      break;
    }
  }
  if (json) {
    out["verdict"] = failed_at ? "fail" : "pass";
    out["failed_at"] = failed_at ? Json(*failed_at) : Json(nullptr);
    io.out << dump(out, 2) << "\n";
  } else if (failed_at) {
    const Json& op = plan.operations[*failed_at];
    io.out << "\nsimulate: FAIL at operations[" << *failed_at << "] ("
           << op["op"].get<std::string>() << "): expected " << op.value("expect", std::string("ok"))
           << "\n";
  } else {
    io.out << "\nsimulate: PASS: " << plan.operations.size()
           << (plan.operations.size() == 1 ? " operation" : " operations")
           << ", every result as expected\n";
  }
  return failed_at ? kExitFailure : kExitOk;
}

std::string describe_format() {
  std::string out =
      "Runs a scenario through the runtime (impl/) over the kernel simulator and prints every\n"
      "transition taken or refused, per operation. A scenario is a JSON object\n"
      "  {\"profile\": \"7.2\", \"luo\": true, \"description\": \"...\", \"operations\": [...]}\n"
      "(profile, luo and description are optional; luo false boots without liveupdate=on), or\n"
      "just the operations array. An operation is {\"op\": NAME, fields...}; every operation\n"
      "also takes \"expect\" (the result it must have: \"ok\" by default, an errno name such as\n"
      "\"EEXIST\", \"mismatch\" for a failed check, or \"any\") and \"comment\". Handles are "
      "names\n"
      "the scenario gives to a device, a session or a memfd. After a kexec the old boot's\n"
      "memfds, fd stores and handoff state are gone; its device and session handles stay,\n"
      "stale (EBADF).\n\noperations:\n";
  for (const scenario::OpSpec& s : scenario::ops()) {
    out += "  " + std::string(s.name);
    for (const scenario::FieldSpec& f : s.fields)
      out += f.required ? " " + std::string(f.name) : " [" + std::string(f.name) + "]";
    out += "\n      " + std::string(s.help) + "\n";
  }
  out +=
      "\nThe run stops at the first result that is not the expected one. Exit status: 0 when\n"
      "every operation had its expected result, 1 when one did not, 2 for an invalid scenario\n"
      "(named by operations[i].field) or a usage error. Format details: docs/scenarios.md;\n"
      "examples: examples/scenarios/.\n";
  return out;
}

}  // namespace

const Command& simulate_command() {
  static const Command command{
      "simulate",
      "<scenario.json|-> [--profile P] [--json]",
      "run a scenario of operations, kexecs and faults over the simulator, traced",
      describe_format(),
      {{"--profile", "P", "kernel ABI profile, overriding the scenario's"},
       {"--json", "", "print {operations: [{result, expected, trace[], entries[]}], verdict}"}},
      run};
  return command;
}

}  // namespace luo::cli
