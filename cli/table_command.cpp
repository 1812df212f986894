// luo-lifecycle table: one machine's transition table, printed from the model's data.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "luo/model/all_machines.hpp"
#include "luo/model/invariants.hpp"
#include "trace.hpp"

namespace luo::cli {
namespace {

template <class M>
void print_text(std::ostream& out, const M& machine, KernelProfile profile, bool all) {
  out << machine.name << " (profile " << profile_name(profile) << ")\n";
  out << format("%-24s %-18s %-24s %-24s %-14s %s\n", "state", "event", "guard", "next", "result",
                "spec");
  for (const auto& r : machine.rows) {
    if (!r.profiles.contains(profile))
      continue;
    if (!all && r.outcome.kind == OutcomeKind::undefined)
      continue;
    out << format("%-24s %-18s %-24s %-24s %-14s %s\n", std::string(state_name(r.from)).c_str(),
                  std::string(event_name(r.event)).c_str(),
                  std::string(guard_name(r.guard)).c_str(), std::string(state_name(r.to)).c_str(),
                  to_string(r.outcome).c_str(), std::string(r.spec).c_str());
  }
}

template <class M>
void print_json(std::ostream& out, const M& machine, KernelProfile profile, bool all) {
  nlohmann::ordered_json doc;
  doc["machine"] = machine.name;
  doc["profile"] = profile_name(profile);
  doc["initial"] = state_name(machine.initial);
  doc["terminals"] = nlohmann::ordered_json::array();
  for (const auto& t : machine.terminals)
    doc["terminals"].push_back(state_name(t));
  doc["rows"] = nlohmann::ordered_json::array();
  for (const auto& r : machine.rows) {
    if (!r.profiles.contains(profile))
      continue;
    if (!all && r.outcome.kind == OutcomeKind::undefined)
      continue;
    nlohmann::ordered_json row;
    row["state"] = state_name(r.from);
    row["event"] = event_name(r.event);
    row["guard"] = guard_name(r.guard);
    row["next"] = state_name(r.to);
    row["result"] = to_string(r.outcome);
    row["spec"] = r.spec;
    doc["rows"].push_back(std::move(row));
  }
  out << doc.dump(2) << "\n";
}

// The kernel model's invariants, which every KernelModel step must keep (model/src/invariants.cpp);
// --markdown is the table in docs/lifecycle.md.
void print_invariants(std::ostream& out, bool markdown) {
  if (markdown)
    out << "| invariant | why it holds | spec |\n|---|---|---|\n";
  for (const Invariant& inv : kernel_invariants()) {
    if (markdown) {
      out << "| `" << inv.name << "` | " << inv.rationale << " | " << inv.spec << " |\n";
    } else {
      out << inv.name << " (" << inv.spec << ")\n    " << inv.rationale << "\n";
    }
  }
}

int run(const Args& args, Io& io) {
  const Command& self = table_command();
  if (args.flag("--invariants")) {
    if (!args.positional.empty())
      return usage_error(self, io, "--invariants takes no machine");
    print_invariants(io.out, args.flag("--markdown"));
    return kExitOk;
  }
  const auto profile = profile_option(self, args, io);
  if (!profile)
    return kExitUsage;
  if (args.positional.size() != 1)
    return usage_error(self, io, "expects exactly one machine; " + machine_list());
  const bool all = args.flag("--all");
  if (!visit_machine(args.positional[0], [&](const auto& m) {
        if (args.flag("--json"))
          print_json(io.out, m, *profile, all);
        else
          print_text(io.out, m, *profile, all);
      })) {
    return usage_error(self, io, "unknown machine '" + args.positional[0] + "'; " + machine_list());
  }
  return kExitOk;
}

}  // namespace

const Command& table_command() {
  static const Command command{
      "table",
      "<machine> [--profile P] [--all] [--json] | --invariants [--markdown]",
      "print one lifecycle machine's transition table (the model's data)",
      "Prints the rows that apply to the profile, in the kernel's check order: state, event,\n"
      "guard, next state, result (ok, an errno, or the file handler's errno) and the spec\n"
      "section. Rows whose outcome is 'undefined' are hidden unless --all is given.\n"
      "With --invariants, prints instead the kernel model's invariants, which hold after\n"
      "every step of the model.\n\n" +
          machine_list() + "\n",
      {kProfileOption,
       {"--all", "", "also list rows whose outcome is 'undefined'"},
       {"--json", "", "print {machine, profile, initial, terminals, rows[]} as JSON"},
       {"--invariants", "", "list the kernel model's invariants (name, spec, why)"},
       {"--markdown", "", "with --invariants: the table of docs/lifecycle.md"}},
      run};
  return command;
}

}  // namespace luo::cli
