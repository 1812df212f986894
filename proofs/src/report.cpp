// Text and JSON renderings of a check result; the JSON form is also what `replay` reads.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "luo/proofs/checker.hpp"

namespace luo::proofs {
namespace {

std::string_view kind_name(PropertyKind k) {
  switch (k) {
    case PropertyKind::state:
      return "state";
    case PropertyKind::transition:
      return "transition";
    case PropertyKind::liveness:
      return "liveness";
  }
  return "?";
}

std::string entry_text(Entry e, Reason why) {
  std::string s(entry_name(e));
  if (why != Reason::none)
    s += " (" + std::string(reason_name(why)) + ")";
  return s;
}

nlohmann::ordered_json state_json(const World& w, const State& s) {
  const Bounds& b = w.bounds();
  nlohmann::ordered_json j;
  j["boot"] = s.boot;
  j["faults"] = s.faults;
  j["shutdown"] = state_name(s.out);
  j["restore"] = state_name(s.rst);
  j["systemd"] = sess_name(s.sys);
  j["systemdHijacked"] = s.sys_hijacked;
  j["mapping"] = {{"kernel", kfile_name(s.map_kf)}, {"token", s.map_kt}};
  if (b.hijack)
    j["hijack"] = hijack_name(s.hj);
  auto owners = nlohmann::ordered_json::array();
  for (int o = 0; o < b.owners; ++o) {
    owners.push_back(
        {{"loaded", s.owner[o].loaded}, {"zero", s.owner[o].zero}, {"alive", s.owner[o].alive}});
  }
  j["owners"] = owners;
  auto fds = nlohmann::ordered_json::array();
  for (int d = 0; d < w.fd_count(); ++d) {
    const auto& x = s.fd[d];
    fds.push_back({{"owner", w.owner_of_fd(d)},
                   {"index", d % b.fds},
                   {"entry", entry_name(x.e)},
                   {"reason", x.why == Reason::none ? "" : reason_name(x.why)},
                   {"kernel", kfile_name(x.kf)},
                   {"kernelToken", x.kt},
                   {"mappingToken", x.mt},
                   {"foreign", x.foreign}});
  }
  j["fds"] = fds;
  auto sessions = nlohmann::ordered_json::array();
  for (int k = 0; k < b.sessions; ++k) {
    const auto& x = s.session[k];
    sessions.push_back({{"owner", w.owner_of_session(k)},
                        {"kernel", sess_name(x.ss)},
                        {"entry", entry_name(x.e)},
                        {"reason", x.why == Reason::none ? "" : reason_name(x.why)},
                        {"heldByService", x.svc},
                        {"heldByManager", x.mgr}});
  }
  j["sessions"] = sessions;
  return j;
}

nlohmann::ordered_json bounds_json(const Bounds& b) {
  nlohmann::ordered_json j = {{"owners", b.owners},
                              {"fds", b.fds},
                              {"sessions", b.sessions},
                              {"kexecs", b.kexecs},
                              {"faults", b.faults},
                              {"crashes", b.crashes},
                              {"errnos", b.errnos},
                              {"hijack", b.hijack},
                              {"lateOwners", b.late_owners},
                              {"fileLimit", b.file_limit},
                              {"profile", profile_name(b.profile)},
                              {"systemd", systemd_profile_name(b.systemd)},
                              {"mutant", mutant_name(b.mutant)}};
  // Only when set: a bounded run's JSON stays as it was.
  if (b.any_kexecs)
    j["anyKexecs"] = true;
  return j;
}

std::string incomplete_text(const CheckResult& r) {
  switch (r.stopped_by) {
    case Stop::none:
      return "";
    case Stop::max_states:
      return ", INCOMPLETE (state limit)";
    case Stop::max_memory:
      return ", INCOMPLETE (memory cap)";
  }
  return "";
}

}  // namespace

std::string state_to_json(const World& w, const State& s) {
  return state_json(w, s).dump();
}

std::string describe_state(const World& w, const State& s) {
  const Bounds& b = w.bounds();
  // With --any-kexecs the world keeps only "cold" or "later", and faults per boot.
  const std::string boot = !b.any_kexecs ? "boot " + std::to_string(s.boot)
                           : s.boot == 0 ? std::string("cold boot")
                                         : std::string("a later boot");
  std::string out = boot + ", faults used " + std::to_string(s.faults) + "; shutdown " +
                    std::string(state_name(s.out)) + ", restore " + std::string(state_name(s.rst)) +
                    "; \"systemd\" " + std::string(sess_name(s.sys)) +
                    (s.sys_hijacked ? " (a service's)" : "");
  if (s.map_kf != KFile::none)
    out += ", mapping " + std::string(kfile_name(s.map_kf)) + " @" + std::to_string(s.map_kt);
  if (b.hijack && s.hj != Hijack::none)
    out += "; hijack " + std::string(hijack_name(s.hj));
  if (b.any_kexecs) {
    // The counter is what the abstraction changes most: show it as the world keeps it.
    const int cap = w.counter_cap();
    const auto value = [&](int v) {
      return v >= cap ? std::to_string(cap) + " or more" : std::to_string(v);
    };
    out += "; kexec counter " + value(s.kc);
    if (s.map_kf != KFile::none)
      out += ", the mapping's " + value(s.map_kc) + (s.kc_same ? " (the same)" : "");
  }
  out += "\n      owners:";
  for (int o = 0; o < b.owners; ++o) {
    out += " " + std::to_string(o) + "[" + (s.owner[o].loaded ? "loaded" : "absent") +
           (s.owner[o].zero ? ",max=0" : "") + (s.owner[o].alive ? ",running" : "") + "]";
  }
  for (int d = 0; d < w.fd_count(); ++d) {
    const auto& x = s.fd[d];
    out += "\n      fd " + std::to_string(w.owner_of_fd(d)) + "." + std::to_string(d % b.fds) +
           ": " + entry_text(x.e, x.why);
    if (x.kf != KFile::none)
      out += ", kernel " + std::string(kfile_name(x.kf)) + " @" + std::to_string(x.kt);
    if (x.e == Entry::preserved || x.e == Entry::handed_over)
      out += ", mapping @" + std::to_string(x.mt);
    if (x.foreign)
      out += ", in another owner's store";
  }
  for (int k = 0; k < b.sessions; ++k) {
    const auto& x = s.session[k];
    out += "\n      session " + std::to_string(k) + " (owner " +
           std::to_string(w.owner_of_session(k)) + "): kernel " + std::string(sess_name(x.ss)) +
           ", entry " + entry_text(x.e, x.why) + (x.svc ? ", held by its service" : "") +
           (x.mgr ? ", held by the manager" : "");
  }
  return out;
}

std::string to_text(const World& w, const CheckResult& r) {
  std::string out;
  char line[512];
  out += "luo-lifecycle check: " + r.bounds.describe() + "\n";
  std::snprintf(
      line, sizeof line,
      "states: %llu distinct, %llu generated, %llu transitions, depth %d, %d bits each\n"
      "time: %.2f s (search %.2f s, %.0f states/s, %u %s), memory %.1f MiB%s%s\n\n",
      static_cast<unsigned long long>(r.distinct), static_cast<unsigned long long>(r.generated),
      static_cast<unsigned long long>(r.transitions), r.depth, r.state_bits, r.seconds,
      r.explore_seconds,
      r.explore_seconds > 0 ? static_cast<double>(r.distinct) / r.explore_seconds : 0.0, r.jobs,
      r.jobs == 1 ? "thread" : "threads", static_cast<double>(r.memory_bytes) / (1024.0 * 1024.0),
      r.symmetry ? ", symmetry reduction on" : "", incomplete_text(r).c_str());
  out += line;
  if (r.bounds.any_kexecs) {
    std::snprintf(line, sizeof line,
                  r.fixpoint
                      ? "kexecs: fixpoint reached after %d steps: the verdicts below are for "
                        "any number of kexecs\n\n"
                      : "kexecs: any number asked for, but the search stopped before its "
                        "fixpoint: the verdicts cover only runs of at most %d steps\n\n",
                  r.fixpoint ? r.depth : r.complete_depth);
    out += line;
  }
  if (r.symmetry) {
    std::snprintf(line, sizeof line,
                  "symmetry: the %llu representatives stand for at most %llu unreduced states\n\n",
                  static_cast<unsigned long long>(r.distinct),
                  static_cast<unsigned long long>(r.represented));
    out += line;
  }
  out += "property                                 kind        verdict\n";
  for (const auto& v : r.verdicts) {
    const auto& p = property(v.id);
    std::snprintf(line, sizeof line, "%-40s %-11s %s%s%s\n", std::string(p.name).c_str(),
                  std::string(kind_name(p.kind)).c_str(),
                  std::string(status_name(v.status)).c_str(), v.note.empty() ? "" : ": ",
                  v.note.c_str());
    out += line;
  }
  out += "\nnot covered:\n";
  for (const auto& n : r.not_covered)
    out += "  - " + n + "\n";
  for (const auto& v : r.verdicts) {
    if (!v.counterexample)
      continue;
    const Trace& t = *v.counterexample;
    out += "\ncounterexample for " + std::string(property(v.id).name) + " (" +
           std::to_string(t.actions.size()) + " steps" +
           (t.loop_start >= 0
                ? ", the steps from " + std::to_string(t.loop_start + 1) + " on repeat forever"
                : "") +
           "):\n";
    out += "  0. initial: " + describe_state(w, t.states[0]) + "\n";
    for (std::size_t i = 0; i < t.actions.size(); ++i) {
      out += "  " + std::to_string(i + 1) + ". " + w.describe(t.actions[i]) + "\n";
      if (i + 1 == t.actions.size() || static_cast<int>(i + 1) == t.loop_start)
        out += "     -> " + describe_state(w, t.states[i + 1]) + "\n";
    }
  }
  return out;
}

std::string to_json(const World& w, const CheckResult& r) {
  nlohmann::ordered_json j;
  j["bounds"] = bounds_json(r.bounds);
  j["symmetry"] = r.symmetry;
  j["complete"] = r.complete;
  if (r.bounds.any_kexecs)
    j["anyKexecsFixpoint"] = r.fixpoint;
  j["stoppedBy"] = stop_name(r.stopped_by);
  j["completeDepth"] = r.complete_depth;
  j["jobs"] = r.jobs;
  j["maxMemoryBytes"] = r.max_memory;
  j["states"] = {
      {"distinct", r.distinct},       {"generated", r.generated}, {"transitions", r.transitions},
      {"represented", r.represented}, {"depth", r.depth},         {"bitsPerState", r.state_bits}};
  j["seconds"] = r.seconds;
  j["searchSeconds"] = r.explore_seconds;
  j["memoryBytes"] = r.memory_bytes;
  j["allHold"] = r.all_hold();
  auto verdicts = nlohmann::ordered_json::array();
  for (const auto& v : r.verdicts) {
    const auto& p = property(v.id);
    nlohmann::ordered_json o{{"property", p.name},
                             {"kind", kind_name(p.kind)},
                             {"verdict", status_name(v.status)},
                             {"note", v.note}};
    if (v.counterexample) {
      const Trace& t = *v.counterexample;
      auto steps = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < t.actions.size(); ++i) {
        const Action& a = t.actions[i];
        steps.push_back({{"action",
                          {{"kind", action_kind_name(a.kind)},
                           {"a", a.a},
                           {"b", a.b},
                           {"text", w.describe(a)}}},
                         {"state", state_json(w, t.states[i + 1])}});
      }
      o["counterexample"] = {
          {"initial", state_json(w, t.states[0])}, {"steps", steps}, {"loopStart", t.loop_start}};
    }
    verdicts.push_back(o);
  }
  j["verdicts"] = verdicts;
  j["notCovered"] = r.not_covered;
  return j.dump(2);
}

}  // namespace luo::proofs
