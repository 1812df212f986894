// Traces read from JSON (check --json, or a bare trace) and replay results written as text/JSON.
#include <nlohmann/json.hpp>

#include "luo/proofs/replay.hpp"

namespace luo::proofs {
namespace {

using Json = nlohmann::json;

struct Bad {
  std::string message;
};

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw Bad{path + ": " + what};
}

const Json& field(const Json& obj, const std::string& path, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end())
    bad(path, std::string("missing field '") + name + "'");
  return *it;
}

int integer(const Json& v, const std::string& path, int lo, int hi) {
  if (!v.is_number_integer())
    bad(path, "must be an integer");
  const auto n = v.get<long long>();
  if (n < lo || n > hi)
    bad(path, "must be " + std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<int>(n);
}

bool boolean(const Json& v, const std::string& path) {
  if (!v.is_boolean())
    bad(path, "must be true or false");
  return v.get<bool>();
}

std::string string(const Json& v, const std::string& path) {
  if (!v.is_string())
    bad(path, "must be a string");
  return v.get<std::string>();
}

Bounds parse_bounds(const Json& j, const std::string& path) {
  if (!j.is_object())
    bad(path, "must be an object");
  Bounds b;
  const auto opt_int = [&](const char* name, int& out, int hi) {
    if (auto it = j.find(name); it != j.end())
      out = integer(*it, path + "." + name, 0, hi);
  };
  const auto opt_bool = [&](const char* name, bool& out) {
    if (auto it = j.find(name); it != j.end())
      out = boolean(*it, path + "." + name);
  };
  opt_int("owners", b.owners, kMaxOwners);
  opt_int("fds", b.fds, kMaxFdsPerOwner);
  opt_int("sessions", b.sessions, kMaxSessions);
  opt_int("kexecs", b.kexecs, kMaxKexecs);
  opt_int("faults", b.faults, kMaxFaults);
  opt_int("fileLimit", b.file_limit, kMaxFds + 1);
  opt_bool("crashes", b.crashes);
  opt_bool("errnos", b.errnos);
  opt_bool("hijack", b.hijack);
  opt_bool("lateOwners", b.late_owners);
  // A trace of check --any-kexecs is one of the abstraction (boot "later", faults per boot, the
  // counter capped), not a run the bounded world or the implementation can follow state by state.
  if (auto it = j.find("anyKexecs"); it != j.end() && boolean(*it, path + ".anyKexecs"))
    bad(path + ".anyKexecs",
        "a trace of check --any-kexecs is abstract (boot cold or later, faults per boot) and "
        "cannot be replayed; check the same bounds with --kexecs to get a replayable trace");
  if (auto it = j.find("profile"); it != j.end()) {
    const auto p = parse_profile(string(*it, path + ".profile"));
    if (!p)
      bad(path + ".profile", "unknown profile '" + it->get<std::string>() + "'");
    b.profile = *p;
  }
  if (auto it = j.find("systemd"); it != j.end()) {
    const auto p = parse_systemd_profile(string(*it, path + ".systemd"));
    if (!p)
      bad(path + ".systemd", "unknown systemd profile '" + it->get<std::string>() + "'");
    b.systemd = *p;
  }
  if (auto it = j.find("mutant"); it != j.end()) {
    const auto m = parse_mutant(string(*it, path + ".mutant"));
    if (!m)
      bad(path + ".mutant", "unknown mutant '" + it->get<std::string>() + "'");
    b.mutant = *m;
  }
  if (auto why = b.validate(); !why.empty())
    bad(path, why);
  return b;
}

std::optional<ActionKind> parse_kind(std::string_view name) {
  for (int k = 0; k < kActionKinds; ++k) {
    if (action_kind_name(static_cast<ActionKind>(k)) == name)
      return static_cast<ActionKind>(k);
  }
  return std::nullopt;
}

void check_state(const World& w, const State& s, const Json& given, const std::string& path) {
  if (Json::parse(state_to_json(w, s)) != given)
    bad(path, "differs from the model's state here (a trace of other bounds, or edited)");
}

Trace parse_trace(const World& w, const Json& j, const std::string& path) {
  if (!j.is_object())
    bad(path, "must be an object");
  Trace t;
  t.states.push_back(w.initial());
  if (auto it = j.find("initial"); it != j.end())
    check_state(w, t.states[0], *it, path + ".initial");
  const Json& steps = field(j, path, "steps");
  if (!steps.is_array())
    bad(path + ".steps", "must be an array");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string sp = path + ".steps[" + std::to_string(i) + "]";
    if (!steps[i].is_object())
      bad(sp, "must be an object");
    const Json& a = field(steps[i], sp, "action");
    const std::string ap = sp + ".action";
    if (!a.is_object())
      bad(ap, "must be an object");
    const std::string kind_name = string(field(a, ap, "kind"), ap + ".kind");
    const auto kind = parse_kind(kind_name);
    if (!kind)
      bad(ap + ".kind", "unknown action '" + kind_name + "'");
    Action action{*kind, 0, 0};
    if (auto it = a.find("a"); it != a.end())
      action.a = static_cast<std::uint8_t>(integer(*it, ap + ".a", 0, 255));
    if (auto it = a.find("b"); it != a.end())
      action.b = static_cast<std::uint8_t>(integer(*it, ap + ".b", 0, 255));
    auto next = w.apply(t.states.back(), action);
    if (!next)
      bad(ap, "'" + w.describe(action) + "' is not enabled in the model at this step");
    if (auto it = steps[i].find("state"); it != steps[i].end())
      check_state(w, *next, *it, sp + ".state");
    t.actions.push_back(action);
    t.states.push_back(*next);
  }
  if (auto it = j.find("loopStart"); it != j.end())
    t.loop_start = integer(*it, path + ".loopStart", -1, static_cast<int>(steps.size()));
  return t;
}

}  // namespace

std::variant<TraceFile, std::string> parse_trace_json(std::string_view text) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    // parse_error, and out_of_range for a number such as 1e400.
    return std::string("not JSON: ") + e.what();
  }
  return parse_trace_document(root);
}

std::variant<TraceFile, std::string> parse_trace_document(const Json& root) {
  try {
    if (!root.is_object())
      bad("(top level)", "must be an object: the output of `check --json`, or a trace");
    TraceFile file;
    file.bounds = parse_bounds(field(root, "(top level)", "bounds"), "bounds");
    const World w(file.bounds);
    if (auto v = root.find("verdicts"); v != root.end()) {
      if (!v->is_array())
        bad("verdicts", "must be an array");
      for (std::size_t i = 0; i < v->size(); ++i) {
        const std::string vp = "verdicts[" + std::to_string(i) + "]";
        const Json& verdict = (*v)[i];
        if (!verdict.is_object())
          bad(vp, "must be an object");
        const auto ce = verdict.find("counterexample");
        if (ce == verdict.end())
          continue;
        NamedTrace nt;
        nt.property = string(field(verdict, vp, "property"), vp + ".property");
        nt.trace = parse_trace(w, *ce, vp + ".counterexample");
        file.traces.push_back(std::move(nt));
      }
    } else if (root.contains("steps")) {
      file.traces.push_back(NamedTrace{"", parse_trace(w, root, "(top level)")});
    } else {
      bad("(top level)",
          "neither 'verdicts' (the output of `check --json`) nor 'steps' (a bare trace)");
    }
    return file;
  } catch (const Bad& e) {
    return e.message;
  } catch (const Json::exception& e) {
    return std::string("malformed: ") + e.what();
  }
}

std::string to_text(const ReplayResult& r) {
  std::string out;
  switch (r.verdict) {
    case ReplayVerdict::agrees:
      out = "agrees at every step compared (" + std::to_string(r.steps) + " steps, " +
            std::to_string(r.compared) + " comparisons)\n";
      break;
    case ReplayVerdict::disagrees:
      out = "DISAGREES at step " + std::to_string(r.step) +
            (r.action.empty() ? "" : " (" + r.action + ")") + "; last agreement after step " +
            std::to_string(r.last_agreed) + "\n";
      for (const auto& d : r.differences)
        out += "  - " + d + "\n";
      out += "  model:\n    " + r.model + "\n  implementation:\n    " + r.implementation + "\n";
      break;
    case ReplayVerdict::not_replayable:
      out = "not replayable at step " + std::to_string(r.step) + " (" + r.action + "): " + r.why +
            "; agreed up to step " + std::to_string(r.last_agreed) + "\n";
      break;
  }
  if (!r.notes.empty())
    out += "  note: " + r.notes;
  return out;
}

std::string to_json(const ReplayResult& r) {
  Json j;
  j["verdict"] = replay_verdict_name(r.verdict);
  j["steps"] = r.steps;
  j["compared"] = r.compared;
  j["step"] = r.step;
  j["lastAgreed"] = r.last_agreed;
  j["action"] = r.action;
  j["why"] = r.why;
  j["differences"] = r.differences;
  j["model"] = r.model;
  j["implementation"] = r.implementation;
  j["notes"] = r.notes;
  return j.dump();
}

}  // namespace luo::proofs
