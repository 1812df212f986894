// luo/model/diagram.hpp: lifecycle diagrams written from a machine's table, never by hand.
//
// Mermaid `stateDiagram-v2` and Graphviz DOT. Rows with the same (state, event, next state) are
// one edge whose label lists every outcome, with its guard: "PRESERVE_FD [token_in_use] EEXIST".
// Refusals (rows that fail and stay put) can be hidden, and rows whose outcome is undefined
// (events that cannot reach that state) are hidden unless asked for.
//
//   std::string text = luo::to_mermaid(luo::kOutgoingSessionMachine, {.profile =
//   KernelProfile::v7_2});
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "luo/model/machine.hpp"

namespace luo {

struct DiagramOptions {
  KernelProfile profile = kDefaultProfile;
  bool show_refusals = true;    // failing rows that leave the state unchanged
  bool show_undefined = false;  // rows that only say "cannot happen here"
};

namespace diagram_detail {

struct Edge {
  std::string from, to, label;
};

template <class S, class E>
std::vector<Edge> edges(const Machine<S, E>& m, const DiagramOptions& o) {
  std::map<std::tuple<std::size_t, std::size_t, std::size_t>, std::vector<std::string>> grouped;
  std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> order;
  for (const auto& r : m.rows) {
    if (!r.profiles.contains(o.profile))
      continue;
    if (r.outcome.kind == OutcomeKind::undefined && !o.show_undefined)
      continue;
    const bool refusal = !r.outcome.ok() && r.from == r.to;
    if (refusal && !o.show_refusals)
      continue;
    std::string part;
    if (r.guard != Guard::always)
      part += "[" + std::string(guard_name(r.guard)) + "] ";
    part += to_string(r.outcome);
    const auto key = std::tuple{static_cast<std::size_t>(r.from), static_cast<std::size_t>(r.event),
                                static_cast<std::size_t>(r.to)};
    if (!grouped.count(key))
      order.push_back(key);
    auto& parts = grouped[key];
    if (std::find(parts.begin(), parts.end(), part) == parts.end())
      parts.push_back(part);
  }
  std::vector<Edge> out;
  for (const auto& key : order) {
    const auto [from, event, to] = key;
    std::string label(event_name(static_cast<E>(event)));
    const auto& parts = grouped[key];
    for (std::size_t i = 0; i < parts.size(); ++i)
      label += (i == 0 ? ": " : ", ") + parts[i];
    out.push_back({std::string(state_name(static_cast<S>(from))),
                   std::string(state_name(static_cast<S>(to))), label});
  }
  return out;
}

}  // namespace diagram_detail

template <class S, class E>
std::string to_mermaid(const Machine<S, E>& m, const DiagramOptions& o = {}) {
  std::string out = "stateDiagram-v2\n";
  out += "  [*] --> " + std::string(state_name(m.initial)) + "\n";
  for (const auto& e : diagram_detail::edges(m, o)) {
    out += "  " + e.from + " --> " + e.to + " : " + e.label + "\n";
  }
  for (S t : m.terminals)
    out += "  " + std::string(state_name(t)) + " --> [*]\n";
  return out;
}

template <class S, class E>
std::string to_dot(const Machine<S, E>& m, const DiagramOptions& o = {}) {
  std::string out = "digraph \"" + std::string(m.name) + "\" {\n";
  out += "  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  out += "  __start [shape=point];\n  __start -> \"" + std::string(state_name(m.initial)) + "\";\n";
  for (S t : m.terminals)
    out += "  \"" + std::string(state_name(t)) + "\" [peripheries=2];\n";
  for (const auto& e : diagram_detail::edges(m, o)) {
    std::string label;
    for (char c : e.label)
      label += c == '"' ? std::string("\\\"") : std::string(1, c);
    out += "  \"" + e.from + "\" -> \"" + e.to + "\" [label=\"" + label + "\"];\n";
  }
  out += "}\n";
  return out;
}

}  // namespace luo
