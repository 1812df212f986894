// The Promela twin of world.cpp. Read it next to world.cpp: each emitting function below mirrors
// the Stepper member of the same name, statement by statement, so that a difference between the
// two is a difference SPIN and check() can find. The machines are not mirrored: every
// entry_step/pipe_step/file_step/select of world.cpp becomes a call of a selector generated from
// the machine's table (selector() below), so both sides read the same rows.
#include "luo/proofs/promela.hpp"

#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "luo/model/errno.hpp"

namespace luo::proofs {
namespace {

// ---------------------------------------------------------------------------------------------
// Spellings of the world's enums in Promela. Only the names live here; every value is the C++
// enumerator's own (static_cast), so the two sides cannot disagree on a number.

std::string_view entry_id(Entry e) {
  switch (e) {
    case Entry::unborn:
      return "unborn";
    case Entry::abandoned:
      return "abandoned";
    case Entry::stored:
    case Entry::staged:
    case Entry::preserved:
    case Entry::handed_over:
    case Entry::restorable:
    case Entry::held:
    case Entry::removed:
    case Entry::released:
    case Entry::dropped:
    case Entry::lost:
      return state_name(to_machine(e));
  }
  return "?";
}

template <class T>
std::string num(T v) {
  return std::to_string(static_cast<int>(v));
}

std::string E(Entry e) {
  return "E_" + std::string(entry_id(e));
}
std::string R(Reason r) {
  return "R_" + std::string(reason_id(r));
}
std::string KF(KFile k) {
  return "KF_" + std::string(kfile_name(k));
}
std::string SS(Sess s) {
  return "SS_" + std::string(sess_name(s));
}
std::string HJ(Hijack h) {
  return "HJ_" + std::string(hijack_name(h));
}
std::string HS(HandoffState s) {
  return "HS_" + std::string(state_name(s));
}
std::string FS(FileState s) {
  return "FS_" + std::string(state_name(s));
}
std::string OS(OutgoingSessionState s) {
  return "OS_" + std::string(state_name(s));
}
std::string IS(IncomingSessionState s) {
  return "IS_" + std::string(state_name(s));
}
std::string ES(FdEntryState s) {
  return "ES_" + std::string(state_name(s));
}
std::string G(Guard g) {
  return "g_" + std::string(guard_name(g));
}

std::string lower_id(std::string_view s) {
  std::string out;
  for (char c : s)
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : (c == '-' ? '_' : c);
  return out;
}

// "((a) && (b) && (c))", safe to negate or nest; "1" for none.
std::string all_of(const std::vector<std::string>& parts) {
  if (parts.empty())
    return "1";
  std::string s;
  for (const auto& p : parts)
    s += (s.empty() ? "(" : " && (") + p + ")";
  return parts.size() == 1 ? s : "(" + s + ")";
}
std::string any_of(const std::vector<std::string>& parts) {
  if (parts.empty())
    return "0";
  std::string s;
  for (const auto& p : parts)
    s += (s.empty() ? "(" : " || (") + p + ")";
  return parts.size() == 1 ? s : "(" + s + ")";
}

// Indented lines of Promela.
class Text {
 public:
  void line(std::string_view s) {
    if (s.empty()) {
      out_ += "\n";
      return;
    }
    out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
    out_ += s;
    out_ += "\n";
  }
  void open(std::string_view s) {
    line(s);
    ++depth_;
  }
  // Dedents, then writes `s` unless it is empty.
  void close(std::string_view s) {
    --depth_;
    if (!s.empty())
      line(s);
  }
  // `if :: cond -> <then> :: else -> skip fi` around what `then` writes.
  template <class F>
  void when(const std::string& cond, F&& then) {
    open("if");
    open(":: " + cond + " ->");
    then();
    close("");
    line(":: else -> skip");
    close("fi;");
  }
  void append(const Text& other) { append(other.out_); }
  void append(const std::string& s) {
    const std::string indent(static_cast<std::size_t>(depth_) * 2, ' ');
    std::size_t pos = 0;
    while (pos < s.size()) {
      const std::size_t end = s.find('\n', pos);
      const std::string ln = s.substr(pos, end - pos);
      out_ += ln.empty() ? "" : indent + ln;
      out_ += "\n";
      pos = end == std::string::npos ? s.size() : end + 1;
    }
  }
  const std::string& str() const { return out_; }
  bool empty() const { return out_.empty(); }

 private:
  std::string out_;
  int depth_ = 0;
};

using FactList = std::vector<std::pair<Guard, std::string>>;

// ---------------------------------------------------------------------------------------------

class Generator {
 public:
  Generator(const Bounds& b, const PromelaOptions& opt) : b_(b), w_(b), opt_(opt) {}

  std::string run() {
    Text glue = glue_inlines();
    Text props = property_inlines();
    Text procs = processes();
    Text out;
    header(out);
    constants(out);
    state_variables(out);
    hidden_variables(out);
    out.line("/* ---- The machines: one selector per (machine, event) the world uses, generated");
    out.line("   from model/'s table for profile " + std::string(profile_name(b_.profile)) +
             ". Like luo::select, the first row of the");
    out.line("   (state, event) cell whose guard holds wins; the guards are the g_ facts. */");
    for (const auto& [name, text] : selectors_) {
      out.line("");
      out.append(text);
    }
    out.line("");
    out.line("/* ---- The glue of world.cpp's Stepper, written again. */");
    out.append(glue);
    out.line("");
    out.append(props);
    out.line("");
    out.line("/* ---- The actions: one d_step per action instance of World::successors(), grouped");
    out.line(
        "   into one process per weak-fairness class (World::fairness_class) of the manager's");
    out.line("   and the kernel's actions; the services' actions and the faults are in env. */");
    out.append(procs);
    ltl(out);
    return out.str();
  }

 private:
  // ---- names -------------------------------------------------------------------------------

  int fds() const { return w_.fd_count(); }
  int sessions() const { return b_.sessions; }
  std::string fd(std::string_view field, const std::string& d) const {
    return "fd_" + std::string(field) + "[" + d + "]";
  }
  std::string fd(std::string_view field, int d) const { return fd(field, std::to_string(d)); }
  std::string sess(std::string_view field, const std::string& j) const {
    return "sess_" + std::string(field) + "[" + j + "]";
  }
  std::string sess(std::string_view field, int j) const { return sess(field, std::to_string(j)); }
  std::string owner(std::string_view field, int o) const {
    return "owner_" + std::string(field) + "[" + std::to_string(o) + "]";
  }
  std::vector<int> fds_of(int o) const {
    std::vector<int> v;
    for (int d = o * b_.fds; d < (o + 1) * b_.fds; ++d)
      v.push_back(d);
    return v;
  }
  std::vector<int> sessions_of(int o) const {
    std::vector<int> v;
    for (int j = 0; j < sessions(); ++j) {
      if (w_.owner_of_session(j) == o)
        v.push_back(j);
    }
    return v;
  }
  bool errnos() const { return b_.errnos && b_.faults > 0; }
  bool crashes() const { return b_.crashes && b_.faults > 0; }

  // ---- the machines --------------------------------------------------------------------------

  // The selector of one (machine, event), generated on first use from the machine's rows for
  // the bounds' profile, in the machine's own cell order.
  template <class S, class Ev>
  std::string selector(const Machine<S, Ev>& m, std::string (*state_id)(S), Ev event,
                       bool outcome) {
    const std::string name = lower_id(m.name) + "__" + lower_id(event_name(event));
    if (selectors_.count(name) != 0)
      return name;
    Text t;
    t.line("/* " + std::string(m.name) + ", " + std::string(event_name(event)) + " */");
    t.open("inline " + name + "(from, to) {");
    t.open("if");
    for (S s : m.states) {
      const Cell& c = m.cell(b_.profile, s, event);
      std::string earlier;
      for (std::size_t i = c.first; i < c.first + c.count; ++i) {
        const auto& row = m.rows[m.order[i]];
        std::string cond = "(from) == " + state_id(s) + earlier;
        if (row.guard != Guard::always) {
          guards_.insert(row.guard);
          cond += " && " + G(row.guard);
        }
        std::string effect = "to = " + state_id(row.to);
        if (outcome) {
          effect += "; t_ok = " + std::string(row.outcome.ok() ? "1" : "0") + "; t_err = " +
                    std::to_string(row.outcome.kind == OutcomeKind::failure
                                       ? errno_value(row.outcome.error)
                                       : 0);
        }
        t.line(":: " + cond + " -> " + effect + "; /* " + to_string(row.outcome) + ", " +
               std::string(row.spec) + " */");
        if (row.guard == Guard::always)
          break;
        earlier += " && !" + G(row.guard);
      }
    }
    t.line(":: else -> assert(table_has_row)");
    t.close("fi");
    t.close("}");
    selectors_[name] = t.str();
    return name;
  }

  void set_facts(Text& t, const FactList& facts) {
    for (const auto& [g, expr] : facts) {
      guards_.insert(g);
      t.line(G(g) + " = (" + expr + ");");
    }
  }
  void clear_facts(Text& t, const FactList& facts) {
    for (const auto& [g, expr] : facts)
      t.line(G(g) + " = 0;");
  }

  // Stepper::entry_step: `target = entry_step(from, ev, facts)` over Entry values.
  void entry_step(Text& t, const std::string& target, const std::string& from, FdEntryEvent ev,
                  const FactList& facts = {}) {
    const std::string sel = selector(kFdEntryMachine, &ES, ev, false);
    set_facts(t, facts);
    t.line(sel + "(MACHINE_OF(" + from + "), t_to);");
    t.line(target + " = ENTRY_OF(t_to);");
    clear_facts(t, facts);
  }
  // Stepper::pipe_step.
  void pipe_step(Text& t, const std::string& var, HandoffEvent ev, const FactList& facts = {}) {
    const std::string sel = selector(kHandoffMachine, &HS, ev, false);
    set_facts(t, facts);
    t.line(sel + "(" + var + ", t_to);");
    t.line(var + " = t_to;");
    clear_facts(t, facts);
  }
  // Stepper::file_step: a KFile of none stays none.
  void file_step(Text& t, const std::string& var, FileEvent ev, const FactList& facts = {}) {
    const std::string sel = selector(kFileMachine, &FS, ev, false);
    t.open("if");
    t.open(":: " + var + " != " + KF(KFile::none) + " ->");
    set_facts(t, facts);
    t.line("kfile_to_file(" + var + ", t_f);");
    t.line(sel + "(t_f, t_to);");
    t.line("file_to_kfile(t_to, " + var + ");");
    clear_facts(t, facts);
    t.close("");
    t.line(":: else -> skip");
    t.close("fi;");
  }

  // ---- constants and variables ---------------------------------------------------------------

  void header(Text& t) const {
    t.line("/* The fd-store handoff world of luo-lifecycle (proofs/world.hpp) as Promela, for the");
    t.line("   SPIN cross-check. Generated by luo::proofs::to_promela (proofs/src/promela.cpp);");
    t.line("   do not edit.");
    t.line("   Bounds: " + b_.describe() + ".");
    t.line("   spin -a; gcc -DNOREDUCE -DNFAIR=" +
           std::to_string(promela_process_count(b_) / 4 + 2) + " -o pan pan.c; then");
    t.line("   safety:   ./pan -c0 -N safety  reports every property assertion it breaks, and its");
    t.line("             \"states, stored\" equals check()'s unreduced distinct states (so does a");
    t.line("             -DSAFETY -DNOCLAIM build's plain ./pan -c0);");
    t.line("   liveness: ./pan -a -f -A -N <claim>, one claim per entry. */");
    t.line("");
  }

  void constants(Text& t) const {
    t.line("/* ---- Values: the C++ enumerators' own. */");
    for (Entry e : kAllEntries)
      t.line("#define " + E(e) + " " + num(e));
    t.line("#define MACHINE_OF(e) ((e) - " + E(Entry::stored) + ")  /* Entry -> FdEntryState */");
    t.line("#define ENTRY_OF(s) ((s) + " + E(Entry::stored) + ")  /* FdEntryState -> Entry */");
    for (Reason r : kAllReasons)
      t.line("#define " + R(r) + " " + num(r));
    for (KFile k : kAllKFiles)
      t.line("#define " + KF(k) + " " + num(k));
    for (Sess s : kAllSess)
      t.line("#define " + SS(s) + " " + num(s));
    for (Hijack h : kAllHijacks)
      t.line("#define " + HJ(h) + " " + num(h));
    for (FdEntryState s : kFdEntryMachine.states)
      t.line("#define " + ES(s) + " " + num(s));
    for (HandoffState s : kHandoffMachine.states)
      t.line("#define " + HS(s) + " " + num(s));
    for (FileState s : kFileMachine.states)
      t.line("#define " + FS(s) + " " + num(s));
    for (OutgoingSessionState s : kOutgoingSessionMachine.states)
      t.line("#define " + OS(s) + " " + num(s));
    for (IncomingSessionState s : kIncomingSessionMachine.states)
      t.line("#define " + IS(s) + " " + num(s));
    t.line("#define EEXIST " + std::to_string(errno_value(Errno::eexist)));
    t.line("#define NONE 255  /* no index */");
    t.line("");
  }

  // Exactly the fields Codec packs, in its order, and nothing else.
  void state_variables(Text& t) const {
    const State init = w_.initial();
    t.line("/* ---- The state: the fields of the checker's packed State (encoding.cpp). */");
    t.line("byte boot = " + std::to_string(init.boot) + ";");
    t.line("byte faults = " + std::to_string(init.faults) + ";");
    t.line("byte out = " + HS(init.out) + ";");
    t.line("byte rst = " + HS(init.rst) + ";");
    t.line("byte sys = " + SS(init.sys) + ";");
    t.line("bit sys_hijacked = " + num(init.sys_hijacked) + ";");
    t.line("byte map_kf = " + KF(init.map_kf) + ";");
    t.line("byte map_kt = " + std::to_string(init.map_kt) + ";");
    t.line("byte kc = " + std::to_string(init.kc) + ";");
    t.line("byte map_kc = " + std::to_string(init.map_kc) + ";");
    if (b_.hijack)
      t.line("byte hj = " + HJ(init.hj) + ";");
    const auto uniform = [&](auto get) {
      for (int o = 1; o < b_.owners; ++o) {
        if (get(init.owner[o]) != get(init.owner[0]))
          throw std::logic_error("promela: owners start alike in World::initial()");
      }
      return num(get(init.owner[0]));
    };
    const std::string n = std::to_string(b_.owners);
    t.line("bit owner_loaded[" + n + "] = " + uniform([](const OwnerSlot& x) { return x.loaded; }) +
           ";");
    t.line("bit owner_zero[" + n + "] = " + uniform([](const OwnerSlot& x) { return x.zero; }) +
           ";");
    t.line("bit owner_alive[" + n + "] = " + uniform([](const OwnerSlot& x) { return x.alive; }) +
           ";");
    if (fds() > 0) {
      const std::string f = std::to_string(fds());
      t.line("byte fd_e[" + f + "] = " + E(Entry::unborn) + ";");
      t.line("byte fd_why[" + f + "] = " + R(Reason::none) + ";");
      t.line("byte fd_kf[" + f + "] = " + KF(KFile::none) + ";");
      t.line("byte fd_kt[" + f + "] = 0;");
      t.line("byte fd_mt[" + f + "] = 0;");
      t.line("bit fd_foreign[" + f + "] = 0;");
    }
    if (sessions() > 0) {
      const std::string s = std::to_string(sessions());
      t.line("byte sess_ss[" + s + "] = " + SS(Sess::none) + ";");
      t.line("byte sess_e[" + s + "] = " + E(Entry::unborn) + ";");
      t.line("byte sess_why[" + s + "] = " + R(Reason::none) + ";");
      t.line("bit sess_svc[" + s + "] = 0;");
      t.line("bit sess_mgr[" + s + "] = 0;");
    }
    t.line("");
  }

  void hidden_variables(Text& t) const {
    t.line("/* ---- Hidden: not part of the state vector. Temporaries of one d_step, the facts a");
    t.line("   selector reads (always reset to 0 after the call), and one carrier per property");
    t.line("   so that pan's \"assertion violated <name>\" names the property. */");
    t.line("hidden byte t_to, t_f, t_e, t_e2, t_from, t_best, t_j, t_file, t_token, t_i, t_files;");
    t.line("hidden byte t_ok, t_err, t_any, t_usable, t_wait, t_msys, t_rec, t_surv, t_abort;");
    t.line("hidden byte t_prev;");
    if (sessions() > 0)
      t.line("hidden byte t_carried[" + std::to_string(sessions()) + "];");
    for (Guard g : guards_)
      t.line("hidden byte " + G(g) + ";  /* " + std::string(guard_description(g)) + " */");
    t.line("hidden byte table_has_row;  /* 0: a selector met a cell without a row */");
    for (const auto& p : kProperties) {
      if (p.kind != PropertyKind::liveness && wanted(p.id))
        t.line("hidden byte " + std::string(p.name) + " = 1;");
    }
    t.line("");
  }

  bool wanted(PropertyId id) const { return (opt_.properties & bit(id)) != 0; }

  // ---- glue: Stepper's helpers ---------------------------------------------------------------

  static std::string manager_holds(const std::string& e) {
    return "(" + e + " == " + E(Entry::stored) + " || " + e + " == " + E(Entry::held) + " || " + e +
           " == " + E(Entry::staged) + " || " + e + " == " + E(Entry::preserved) + " || " + e +
           " == " + E(Entry::restorable) + ")";
  }
  static std::string services_may_act() {
    return "out == " + HS(HandoffState::running) + " && (rst == " + HS(HandoffState::finished) +
           " || rst == " + HS(HandoffState::nothing) + ")";
  }
  std::string errno_ok() const { return "faults < " + std::to_string(b_.faults); }
  std::string crash_ok() const { return "faults < " + std::to_string(b_.faults); }

  void violate(Text& t, PropertyId id) const {
    if (!wanted(id))
      return;
    const std::string p(property(id).name);
    t.line(p + " = 0; assert(" + p + "); " + p + " = 1;");
  }

  Text glue_inlines() {
    Text t;
    // Stepper::to_file / from_file.
    t.open("inline kfile_to_file(k, f) {");
    t.open("if");
    for (KFile k : kAllKFiles) {
      if (k == KFile::none)
        continue;
      const FileState f = k == KFile::preserved    ? FileState::preserved
                          : k == KFile::restorable ? FileState::restorable
                          : k == KFile::retrieved  ? FileState::retrieved
                                                   : FileState::retrieve_failed;
      t.line(":: k == " + KF(k) + " -> f = " + FS(f));
    }
    t.line(":: else -> f = " + FS(FileState::unpreserved));
    t.close("fi");
    t.close("}");
    t.line("/* unpreserved, finished, discarded, dropped: LUO let go of it */");
    t.open("inline file_to_kfile(f, k) {");
    t.open("if");
    t.line(":: f == " + FS(FileState::preserved) + " -> k = " + KF(KFile::preserved));
    t.line(":: f == " + FS(FileState::restorable) + " -> k = " + KF(KFile::restorable));
    t.line(":: f == " + FS(FileState::retrieved) + " -> k = " + KF(KFile::retrieved));
    t.line(":: f == " + FS(FileState::retrieve_failed) + " -> k = " + KF(KFile::retrieve_failed));
    t.line(":: else -> k = " + KF(KFile::none));
    t.close("fi");
    t.close("}");

    if (sessions() > 0) {
      t.line("");
      t.open("inline set_session_entry(j, e, why) {");
      t.line("sess_e[j] = e;");
      t.line("if :: why != " + R(Reason::none) + " -> sess_why[j] = why :: else -> skip fi;");
      t.line("sess_mgr[j] = " + manager_holds("sess_e[j]"));
      t.close("}");
      t.line("");
      t.line("/* The last fd of a session is gone: the kernel acts on the session. */");
      t.open("inline release_if_unheld(j) {");
      t.when("!sess_svc[j] && !sess_mgr[j]", [&] {
        t.open("if");
        t.open(":: sess_ss[j] == " + SS(Sess::outgoing) + " ->");
        const auto rel =
            selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::release, false);
        t.line(rel + "(" + OS(OutgoingSessionState::preserving) + ", t_to);");
        t.line("if :: t_to == " + OS(OutgoingSessionState::closed) +
               " -> sess_ss[j] = " + SS(Sess::none) + " :: else -> skip fi");
        t.close("");
        t.open(":: sess_ss[j] == " + SS(Sess::retrieved) +
               " || sess_ss[j] == " + SS(Sess::finished) + " ->");
        t.line("t_from = (sess_ss[j] == " + SS(Sess::retrieved) + " -> " +
               IS(IncomingSessionState::retrieved) + " : " + IS(IncomingSessionState::finished) +
               ");");
        const auto irel =
            selector(kIncomingSessionMachine, &IS, IncomingSessionEvent::release, false);
        t.line(irel + "(t_from, t_to);");
        t.line("if :: t_to == " + IS(IncomingSessionState::gone) +
               " -> sess_ss[j] = " + SS(Sess::none) + " :: else -> skip fi");
        t.close("");
        t.line(":: else -> skip");
        t.close("fi");
      });
      t.close("}");
    }

    for (int o = 0; o < b_.owners; ++o) {
      t.line("");
      t.line("/* Owner " + std::to_string(o) + "'s service dies or stops. */");
      t.open("inline service_gone_" + std::to_string(o) + "(fate) {");
      for (int d : fds_of(o))
        t.line("if :: " + fd("e", d) + " == " + E(Entry::unborn) + " -> " + fd("e", d) +
               " = fate :: else -> skip fi;");
      for (int j : sessions_of(o)) {
        t.when(sess("svc", j), [&] {
          t.line(sess("svc", j) + " = 0;");
          t.line("release_if_unheld(" + std::to_string(j) + ");");
          t.when(sess("ss", j) + " == " + SS(Sess::none) + " && " + sess("e", j) +
                     " == " + E(Entry::unborn),
                 [&] {
                   t.line(sess("e", j) + " = " + E(Entry::abandoned) + ";");
                   t.line(sess("why", j) + " = " + R(Reason::owner_crashed) + ";");
                 });
        });
      }
      t.line("skip");
      t.close("}");
      retry_held(t, o);
    }

    t.line("");
    t.line("/* Every entry the manager holds in state e is lost with it. */");
    t.open("inline manager_loses(e) {");
    for (int d = 0; d < fds(); ++d) {
      t.when(fd("e", d) + " == e", [&] {
        t.line(fd("e", d) + " = " + E(Entry::lost) + ";");
        t.line(fd("why", d) + " = " + R(Reason::agent_crashed) + ";");
      });
    }
    for (int j = 0; j < sessions(); ++j) {
      t.when(sess("e", j) + " == e", [&] {
        t.line("set_session_entry(" + std::to_string(j) + ", " + E(Entry::lost) + ", " +
               R(Reason::agent_crashed) + ");");
        t.line("release_if_unheld(" + std::to_string(j) + ");");
      });
    }
    t.line("skip");
    t.close("}");

    t.line("");
    t.line("/* FINISH and close \"systemd\". */");
    t.open("inline finish_systemd() {");
    for (int d = 0; d < fds(); ++d)
      file_step(t, fd("kf", d), FileEvent::finish);
    file_step(t, "map_kf", FileEvent::finish);
    t.line("sys = " + SS(Sess::none) + ";");
    t.line("sys_hijacked = 0;");
    pipe_step(t, "rst", HandoffEvent::finish);
    t.close("}");

    t.line("");
    t.line("/* Closing the outgoing \"systemd\" unpreserves every file in it. */");
    t.open("inline close_systemd_outgoing() {");
    t.when("sys == " + SS(Sess::outgoing), [&] {
      for (int d = 0; d < fds(); ++d)
        file_step(t, fd("kf", d), FileEvent::unpreserve);
      file_step(t, "map_kf", FileEvent::unpreserve);
      t.line("sys = " + SS(Sess::none) + ";");
    });
    t.close("}");

    t.line("");
    t.line("/* Stage B failed as a whole; guard is the g_ fact of the pipeline's row. */");
    t.open("inline stage_b_aborts(guard, why) {");
    t.line("close_systemd_outgoing();");
    for (int d = 0; d < fds(); ++d) {
      t.when(fd("e", d) + " == " + E(Entry::staged) + " || " + fd("e", d) +
                 " == " + E(Entry::preserved),
             [&] {
               t.line(fd("e", d) + " = " + E(Entry::lost) + ";");
               t.line(fd("why", d) + " = why;");
             });
    }
    for (int j = 0; j < sessions(); ++j) {
      t.when(sess("e", j) + " == " + E(Entry::staged) + " || " + sess("e", j) +
                 " == " + E(Entry::preserved),
             [&] {
               t.line("set_session_entry(" + std::to_string(j) + ", " + E(Entry::lost) + ", why);");
               t.line("release_if_unheld(" + std::to_string(j) + ");");
             });
    }
    t.line("guard = 1;");
    const auto sb = selector(kHandoffMachine, &HS, HandoffEvent::stage_b, false);
    t.line(sb + "(out, t_to);");
    t.line("out = t_to;");
    t.line("guard = 0");
    t.close("}");
    for (Guard g : {Guard::held_elsewhere, Guard::name_in_use, Guard::preserve_fails})
      guards_.insert(g);

    t.line("");
    t.line("/* One PRESERVE_FD into the outgoing \"systemd\": t_ok, t_err. */");
    t.open("inline preserve_into_systemd(token, fault) {");
    std::string files = "(map_kf != " + KF(KFile::none) + " -> 1 : 0)";
    std::vector<std::string> used{"map_kf != " + KF(KFile::none) + " && map_kt == token"};
    for (int d = 0; d < fds(); ++d) {
      files += " + (" + fd("kf", d) + " == " + KF(KFile::preserved) + " -> 1 : 0)";
      used.push_back(fd("kf", d) + " == " + KF(KFile::preserved) + " && " + fd("kt", d) +
                     " == token");
    }
    t.line("t_files = " + files + ";");
    const auto pf = selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::preserve_fd, true);
    const FactList facts{{Guard::token_in_use, any_of(used)},
                         {Guard::file_limit_reached,
                          b_.file_limit > 0 ? "t_files >= " + std::to_string(b_.file_limit) : "0"},
                         {Guard::handler_fails, "fault"}};
    set_facts(t, facts);
    t.line(pf + "((t_files == 0 -> " + OS(OutgoingSessionState::created) + " : " +
           OS(OutgoingSessionState::preserving) + "), t_to);");
    clear_facts(t, facts);
    t.line("skip");
    t.close("}");

    t.line("");
    t.line("/* A successful reboot(): freeze, then the jump. */");
    t.open("inline freeze_and_reboot(k) {");
    t.open("if");
    t.open(":: k == " + KF(KFile::preserved) + " ->");
    const auto fz = selector(kFileMachine, &FS, FileEvent::freeze, false);
    const auto rb = selector(kFileMachine, &FS, FileEvent::reboot, false);
    t.line(fz + "(" + FS(FileState::preserved) + ", t_f);");
    t.line(rb + "(t_f, t_to);");
    t.line("file_to_kfile(t_to, k)");
    t.close("");
    t.open(":: else ->");
    file_step(t, "k", FileEvent::reboot);
    t.close("");
    t.close("fi");
    t.close("}");

    if (sessions() > 0) {
      t.line("");
      t.line("/* What reboot() does to a third-party session: t_surv. */");
      t.open("inline survives_reboot(j, held) {");
      t.line("t_surv = 0;");
      t.open("if");
      t.open(":: sess_ss[j] == " + SS(Sess::outgoing) + " && held ->");
      const auto ofz = selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::freeze, false);
      const auto orb = selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::reboot, false);
      t.line(ofz + "(" + OS(OutgoingSessionState::preserving) + ", t_from);");
      t.line(orb + "(t_from, t_to);");
      t.line("t_surv = (t_to == " + OS(OutgoingSessionState::handed_over) + ")");
      t.close("");
      t.open(":: sess_ss[j] == " + SS(Sess::incoming) + " || sess_ss[j] == " + SS(Sess::retrieved) +
             " || sess_ss[j] == " + SS(Sess::finished) + " ->");
      t.line("t_from = (sess_ss[j] == " + SS(Sess::incoming) + " -> " +
             IS(IncomingSessionState::deserialized) + " : (sess_ss[j] == " + SS(Sess::retrieved) +
             " -> " + IS(IncomingSessionState::retrieved) + " : " +
             IS(IncomingSessionState::finished) + "));");
      const auto irb = selector(kIncomingSessionMachine, &IS, IncomingSessionEvent::reboot, false);
      t.line(irb + "(t_from, t_to);");
      t.line("t_surv = (t_to != " + IS(IncomingSessionState::dropped) + ")");
      t.close("");
      t.line(":: else -> skip");
      t.close("fi");
      t.close("}");
    }

    t.line("");
    t.open("inline next_boot(luo) {");
    t.line("boot = boot + 1;");
    t.line("out = " + HS(HandoffState::running) + ";");
    t.line("rst = (luo -> " + HS(HandoffState::running) + " : " + HS(HandoffState::nothing) + ");");
    t.line("if :: !luo -> kc = 0 :: else -> skip fi;");
    if (b_.hijack)
      t.line("if :: hj == " + HJ(Hijack::stored) + " || hj == " + HJ(Hijack::staged) +
             " -> hj = " + HJ(Hijack::gone) + " :: else -> skip fi;");
    for (int o = 0; o < b_.owners; ++o) {
      t.line(owner("loaded", o) + " = " + (b_.late_owners ? "0" : "1") + "; " + owner("zero", o) +
             " = 0; " + owner("alive", o) + " = 0;");
    }
    t.line("skip");
    t.close("}");

    t.line("");
    t.line("/* world.cpp's normalize(): values that no longer mean anything are zeroed. */");
    t.open("inline normalize() {");
    for (int d = 0; d < fds(); ++d) {
      t.line("if :: " + fd("kf", d) + " == " + KF(KFile::none) + " -> " + fd("kt", d) +
             " = 0 :: else -> skip fi;");
      t.line("if :: " + fd("e", d) + " != " + E(Entry::preserved) + " && " + fd("e", d) +
             " != " + E(Entry::handed_over) + " && " + fd("e", d) + " != " + E(Entry::restorable) +
             " -> " + fd("mt", d) + " = 0 :: else -> skip fi;");
    }
    t.line("if :: map_kf == " + KF(KFile::none) + " -> map_kt = 0; map_kc = 0 :: else -> skip fi");
    t.close("}");
    return t;
  }

  // Stepper::retry_held, for one owner: retry_held_<o>().
  void retry_held(Text& t, int o) {
    t.line("");
    t.line("/* Held entries of owner " + std::to_string(o) + " are offered again. */");
    t.open("inline retry_held_" + std::to_string(o) + "() {");
    if (b_.mutant != Mutant::never_retry_held) {
      const FactList f{{Guard::store_full, owner("zero", o)}};
      for (int d : fds_of(o)) {
        t.when(fd("e", d) + " == " + E(Entry::held) + " && !" + fd("foreign", d), [&] {
          entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::owner_loaded, f);
          t.line("if :: " + fd("e", d) + " == " + E(Entry::dropped) + " -> " + fd("why", d) +
                 " = " + R(Reason::store_full) + " :: else -> skip fi;");
        });
      }
      for (int j : sessions_of(o)) {
        t.when(sess("e", j) + " == " + E(Entry::held), [&] {
          entry_step(t, "t_e", E(Entry::held), FdEntryEvent::owner_loaded, f);
          t.line("set_session_entry(" + std::to_string(j) + ", t_e, (t_e == " + E(Entry::dropped) +
                 " -> " + R(Reason::store_full) + " : " + R(Reason::none) + "));");
          t.line("release_if_unheld(" + std::to_string(j) + ");");
        });
      }
    }
    t.line("skip");
    t.close("}");
  }

  // ---- properties (properties.cpp, written again) ---------------------------------------------

  static std::string is_one_of(const std::string& v, std::initializer_list<std::string> values) {
    std::vector<std::string> parts;
    for (const auto& x : values)
      parts.push_back(v + " == " + x);
    return any_of(parts);
  }
  std::string ended(const std::string& e) const {
    return is_one_of(e, {E(Entry::removed), E(Entry::released), E(Entry::dropped), E(Entry::lost)});
  }

  std::string no_silent_loss() const {
    const std::string running = "out == " + HS(HandoffState::running);
    std::vector<std::string> all;
    for (int d = 0; d < fds(); ++d) {
      const std::string e = fd("e", d);
      all.push_back("!" + is_one_of(e, {E(Entry::stored), E(Entry::held)}) + " || " + running);
      all.push_back(e + " != " + E(Entry::staged) + " || out == " + HS(HandoffState::serialized));
      all.push_back(e + " != " + E(Entry::preserved) +
                    " || (out == " + HS(HandoffState::preserved) + " && " + fd("kf", d) +
                    " == " + KF(KFile::preserved) + ")");
      all.push_back("!" + is_one_of(e, {E(Entry::handed_over), E(Entry::restorable)}) + " || " +
                    fd("kf", d) + " != " + KF(KFile::none));
    }
    for (int j = 0; j < sessions(); ++j) {
      const std::string e = sess("e", j);
      const std::string ss = sess("ss", j);
      all.push_back("!" + is_one_of(e, {E(Entry::stored), E(Entry::held)}) + " || (" + running +
                    " && " + ss + " != " + SS(Sess::none) + " && " + ss +
                    " != " + SS(Sess::incoming) + ")");
      all.push_back(e + " != " + E(Entry::staged) + " || (out == " + HS(HandoffState::serialized) +
                    " && " + ss + " == " + SS(Sess::outgoing) + ")");
      all.push_back(e + " != " + E(Entry::preserved) + " || (out == " +
                    HS(HandoffState::preserved) + " && " + ss + " == " + SS(Sess::outgoing) + ")");
      all.push_back(e + " != " + E(Entry::handed_over) + " || " + ss + " == " + SS(Sess::incoming));
    }
    return all_of(all);
  }

  std::string losses_legitimate() const {
    std::vector<std::string> illegitimate;
    for (Reason r : kAllReasons) {
      if (r == Reason::none || !legitimate(r))
        illegitimate.push_back(R(r));
    }
    std::vector<std::string> all;
    const auto one = [&](const std::string& e, const std::string& why) {
      std::vector<std::string> fine;
      for (const auto& r : illegitimate)
        fine.push_back(why + " != " + r);
      all.push_back("!" + ended(e) + " || " + all_of(fine));
    };
    for (int d = 0; d < fds(); ++d)
      one(fd("e", d), fd("why", d));
    for (int j = 0; j < sessions(); ++j)
      one(sess("e", j), sess("why", j));
    return all_of(all);
  }

  std::string mapping_matches() const {
    std::vector<std::string> all;
    for (int d = 0; d < fds(); ++d) {
      const std::string recorded = fd("e", d) + " == " + E(Entry::preserved);
      const std::string held = fd("kf", d) + " == " + KF(KFile::preserved);
      all.push_back("(" + recorded + ") == (" + held + ")");
      all.push_back("!(" + recorded + ") || " + fd("kt", d) + " == " + fd("mt", d));
    }
    return "out != " + HS(HandoffState::preserved) + " || " + all_of(all);
  }

  std::string token0() const {
    const std::string live =
        is_one_of("sys", {SS(Sess::outgoing), SS(Sess::incoming), SS(Sess::retrieved)});
    std::vector<std::string> no_zero, any_file;
    for (int d = 0; d < fds(); ++d) {
      no_zero.push_back(fd("kf", d) + " == " + KF(KFile::none) + " || " + fd("kt", d) + " != 0");
      any_file.push_back(fd("kf", d) + " != " + KF(KFile::none));
    }
    return "!" + live + " || sys_hijacked || (" + all_of(no_zero) + " && (!" + any_of(any_file) +
           " || (map_kf != " + KF(KFile::none) + " && map_kt == 0)))";
  }

  std::string systemd_is_managers() const {
    if (!b_.hijack)
      return "!sys_hijacked";
    return "hj != " + HJ(Hijack::staged) + " && hj != " + HJ(Hijack::carried) + " && !sys_hijacked";
  }

  std::string pending(int entry) const {
    const std::string e = entry < fds() ? fd("e", entry) : sess("e", entry - fds());
    return is_one_of(e, {E(Entry::staged), E(Entry::preserved), E(Entry::handed_over),
                         E(Entry::restorable), E(Entry::held)});
  }

  Text property_inlines() const {
    Text t;
    t.line("/* ---- The state properties (properties.cpp), asserted after every step. */");
    t.open("inline check_state() {");
    const std::pair<PropertyId, std::string> state_props[] = {
        {PropertyId::no_silent_loss, no_silent_loss()},
        {PropertyId::losses_have_legitimate_reasons, losses_legitimate()},
        {PropertyId::mapping_matches_session, mapping_matches()},
        {PropertyId::token0_is_mapping, token0()},
        {PropertyId::systemd_session_is_managers, systemd_is_managers()},
    };
    for (const auto& [id, expr] : state_props) {
      if (!wanted(id))
        continue;
      const std::string p(property(id).name);
      t.line(p + " = (" + expr + ");");
      t.line("assert(" + p + ");");
    }
    t.line("skip");
    t.close("}");
    if (wanted(PropertyId::eventually_delivered)) {
      t.line("");
      t.line("/* An entry still owed a delivery or a reason (properties.cpp pending()). */");
      for (int k = 0; k < fds() + sessions(); ++k)
        t.line("#define pending_" + std::to_string(k) + " (" + pending(k) + ")");
    }
    return t;
  }

  // ---- the actions: one function per ActionKind, mirroring Stepper ---------------------------
  // Each writes the d_step's guard (the conditions under which Stepper returns true, evaluated
  // before any change) and fills `t` with its effect.

  std::string store(Text& t, int d) {
    const int o = w_.owner_of_fd(d);
    t.open("if");
    t.line(":: " + owner("zero", o) + " -> " + fd("e", d) + " = " + E(Entry::dropped) + "; " +
           fd("why", d) + " = " + R(Reason::store_full));
    t.line(":: else -> " + fd("e", d) + " = " + E(Entry::stored));
    t.close("fi;");
    return all_of({services_may_act(), owner("loaded", o), owner("alive", o),
                   fd("e", d) + " == " + E(Entry::unborn)});
  }

  std::string remove(Text& t, int d) {
    const int o = w_.owner_of_fd(d);
    entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::remove);
    t.line(fd("why", d) + " = " + R(Reason::removed) + ";");
    return all_of({services_may_act(), owner("alive", o), fd("e", d) + " == " + E(Entry::stored),
                   "!" + fd("foreign", d)});
  }

  std::string open_session(Text& t, int j) {
    const int o = w_.owner_of_session(j);
    t.line(sess("ss", j) + " = " + SS(Sess::outgoing) + "; " + sess("e", j) + " = " +
           E(Entry::unborn) + "; " + sess("why", j) + " = " + R(Reason::none) + ";");
    t.line(sess("svc", j) + " = 1; " + sess("mgr", j) + " = 0;");
    const std::string entry_free =
        "!" + manager_holds(sess("e", j)) + " && " + sess("e", j) + " != " + E(Entry::handed_over);
    return all_of({services_may_act(), owner("loaded", o), owner("alive", o),
                   sess("ss", j) + " == " + SS(Sess::none), entry_free});
  }

  std::string store_session(Text& t, int j) {
    const int o = w_.owner_of_session(j);
    const std::string js = std::to_string(j);
    t.open("if");
    t.line(":: " + owner("zero", o) + " -> set_session_entry(" + js + ", " + E(Entry::dropped) +
           ", " + R(Reason::store_full) + ")");
    t.line(":: else -> set_session_entry(" + js + ", " + E(Entry::stored) + ", " + R(Reason::none) +
           ")");
    t.close("fi;");
    return all_of({services_may_act(), owner("alive", o),
                   sess("ss", j) + " == " + SS(Sess::outgoing), sess("svc", j),
                   sess("e", j) + " == " + E(Entry::unborn)});
  }

  std::string resume_session(Text& t, int j) {
    const int o = w_.owner_of_session(j);
    const std::string js = std::to_string(j);
    const auto fin = selector(kIncomingSessionMachine, &IS, IncomingSessionEvent::finish, false);
    t.line(fin + "(" + IS(IncomingSessionState::retrieved) + ", t_to);");
    t.line("if :: t_to == " + IS(IncomingSessionState::finished) + " -> " + sess("ss", j) + " = " +
           SS(Sess::finished) + " :: else -> skip fi;");
    entry_step(t, "t_e", sess("e", j), FdEntryEvent::remove);
    t.line("set_session_entry(" + js + ", t_e, " + R(Reason::removed) + ");");
    t.line("release_if_unheld(" + js + ");");
    return all_of({services_may_act(), owner("alive", o), sess("e", j) + " == " + E(Entry::stored),
                   sess("ss", j) + " == " + SS(Sess::retrieved)});
  }

  std::string hijack(Text& t) {
    t.line("hj = " + HJ(Hijack::stored) + ";");
    return all_of({services_may_act(), owner("loaded", 0), owner("alive", 0),
                   "hj == " + HJ(Hijack::none), "!" + owner("zero", 0)});
  }

  std::string crash(Text& t, int o) {
    t.line("faults = faults + 1;");
    t.line("service_gone_" + std::to_string(o) + "(" + E(Entry::abandoned) + ");");
    for (int d : fds_of(o)) {
      t.line("if :: " + fd("e", d) + " == " + E(Entry::abandoned) + " && " + fd("why", d) +
             " == " + R(Reason::none) + " -> " + fd("why", d) + " = " + R(Reason::owner_crashed) +
             " :: else -> skip fi;");
    }
    return all_of({crash_ok(), "out == " + HS(HandoffState::running), owner("alive", o)});
  }

  std::string start(Text& t, int o) {
    t.line(owner("alive", o) + " = 1;");
    return all_of({services_may_act(), owner("loaded", o), "!" + owner("alive", o)});
  }

  std::string load_owner(Text& t, int o, bool zero) {
    t.line(owner("loaded", o) + " = 1;");
    t.line(owner("zero", o) + " = " + (zero ? "1" : "0") + ";");
    t.line("retry_held_" + std::to_string(o) + "();");
    return all_of({"out == " + HS(HandoffState::running), "!" + owner("loaded", o)});
  }

  std::string reload(Text& t) {
    // The initial state has out == running, so reload is enabled in it: checking the state
    // before the step covers the initial state without a step of its own (which would add a
    // state to SPIN's count).
    t.line("check_state();  /* the state before: covers the initial state */");
    for (int d = 0; d < fds(); ++d) {
      t.when(is_one_of(fd("e", d), {E(Entry::stored), E(Entry::held)}),
             [&] { entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::reload); });
    }
    for (int o = 0; o < b_.owners; ++o)
      t.line("if :: " + owner("loaded", o) + " -> retry_held_" + std::to_string(o) +
             "() :: else -> skip fi;");
    return "out == " + HS(HandoffState::running);
  }

  std::string any_handed_over() const {
    std::vector<std::string> parts;
    for (int d = 0; d < fds(); ++d)
      parts.push_back(fd("e", d) + " == " + E(Entry::handed_over));
    for (int j = 0; j < sessions(); ++j)
      parts.push_back(sess("e", j) + " == " + E(Entry::handed_over));
    return any_of(parts);
  }

  // fault: 0 none, 1 RETRIEVE_FD of token 0 fails, 2 RETRIEVE_SESSION("systemd") itself fails.
  std::string restore_begin(Text& t, int fault) {
    std::vector<std::string> g{"boot != 0", "rst == " + HS(HandoffState::running),
                               "out == " + HS(HandoffState::running)};
    if (fault != 0) {
      g.push_back(errno_ok());
      g.push_back("sys == " + SS(Sess::incoming));  // else Stepper returns fault == 0
    }
    if (fault == 2) {
      t.line("faults = faults + 1;");
      const FactList f{{Guard::retrieve_fails, "1"}};
      pipe_step(t, "rst", HandoffEvent::retrieve_session, f);
      for (int d = 0; d < fds(); ++d) {
        t.when(fd("e", d) + " == " + E(Entry::handed_over), [&] {
          entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::restore, f);
          t.line(fd("why", d) + " = " + R(Reason::retrieve_failed) + ";");
        });
      }
      for (int j = 0; j < sessions(); ++j) {
        t.when(sess("e", j) + " == " + E(Entry::handed_over), [&] {
          entry_step(t, "t_e", E(Entry::handed_over), FdEntryEvent::restore, f);
          t.line("set_session_entry(" + std::to_string(j) + ", t_e, " + R(Reason::retrieve_failed) +
                 ");");
        });
      }
      return all_of(g);
    }
    t.open("if");
    t.open(":: sys != " + SS(Sess::incoming) + " ->");
    pipe_step(t, "rst", HandoffEvent::retrieve_session, {{Guard::name_unknown, "1"}});
    t.line("kc = 0;");
    t.close("");
    t.open(":: else ->");
    if (fault != 0)
      t.line("faults = faults + 1;");
    t.line("t_prev = kc;");
    t.line("kc = 0;");
    pipe_step(t, "rst", HandoffEvent::retrieve_session);
    t.line("sys = " + SS(Sess::retrieved) + ";");
    file_step(t, "map_kf", FileEvent::retrieve, {{Guard::handler_fails, fault == 1 ? "1" : "0"}});
    t.line("t_usable = " + std::string(fault == 0 ? "1" : "0") +
           " && !sys_hijacked && map_kf == " + KF(KFile::retrieved) + " && map_kt == 0;");
    t.when("t_usable", [&] {
      const std::string cap = std::to_string(kMaxKexecCount);
      t.line("kc = (map_kc + 1 < " + cap + " -> map_kc + 1 : " + cap + ");");
      Text v;
      violate(v, PropertyId::kexec_count_carried);
      if (!v.empty()) {
        t.open("if :: kc != t_prev + 1 ->");
        t.append(v);
        t.close("   skip :: else -> skip fi;");
      }
    });
    t.when("!t_usable", [&] {
      const FactList mf{{Guard::mapping_unusable, "1"}};
      for (int d = 0; d < fds(); ++d) {
        t.when(fd("e", d) + " == " + E(Entry::handed_over), [&] {
          entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::restore, mf);
          t.line(fd("why", d) + " = " + R(Reason::mapping_unusable) + ";");
        });
      }
      for (int j = 0; j < sessions(); ++j) {
        t.when(sess("e", j) + " == " + E(Entry::handed_over), [&] {
          entry_step(t, "t_e", E(Entry::handed_over), FdEntryEvent::restore, mf);
          t.line("set_session_entry(" + std::to_string(j) + ", t_e, " +
                 R(Reason::mapping_unusable) + ");");
        });
      }
      t.line("finish_systemd();");
    });
    t.close("");
    t.close("fi;");
    return all_of(g);
  }

  std::string dispatch(Text& t, int o, bool fault) {
    if (fault)
      t.line("faults = faults + 1;");
    const int target = b_.mutant == Mutant::wrong_owner      ? (o + 1) % b_.owners
                       : b_.mutant == Mutant::two_unit_slots ? o % 2
                                                             : o;
    const FactList df{
        {Guard::owner_unknown, "!" + owner("loaded", target)},
        {Guard::store_full, owner("loaded", target) + " && " + owner("zero", target)}};
    // next_entry(o): the fd with the smallest mapping token (largest for restore_lifo), else
    // the owner's first handed-over session.
    const char* better = b_.mutant == Mutant::restore_lifo ? " > " : " < ";
    t.line("t_best = NONE;");
    for (int d : fds_of(o)) {
      t.line("if :: " + fd("e", d) + " == " + E(Entry::handed_over) + " && (t_best == NONE || " +
             fd("mt", d) + better + fd("mt", "t_best") + ") -> t_best = " + std::to_string(d) +
             " :: else -> skip fi;");
    }
    t.line("t_j = NONE;");
    const std::vector<int> own_sessions = sessions_of(o);
    for (auto it = own_sessions.rbegin(); it != own_sessions.rend(); ++it) {
      t.line("if :: " + sess("e", *it) + " == " + E(Entry::handed_over) +
             " -> t_j = " + std::to_string(*it) + " :: else -> skip fi;");
    }
    t.open("if");
    if (b_.fds > 0) {
      t.open(":: t_best != NONE ->");
      dispatch_fd(t, o, target, fault, df);
      t.close("");
    }
    t.open(":: t_j != NONE && t_best == NONE ->");
    if (!own_sessions.empty())
      dispatch_session(t, o, target, fault, df);
    t.line("skip");
    t.close("");
    t.line(":: else -> skip");
    t.close("fi;");
    std::vector<std::string> g{"rst == " + HS(HandoffState::restoring),
                               "out == " + HS(HandoffState::running)};
    if (fault)
      g.push_back(errno_ok());
    std::vector<std::string> mine;
    for (int d : fds_of(o))
      mine.push_back(fd("e", d) + " == " + E(Entry::handed_over));
    for (int j : sessions_of(o))
      mine.push_back(sess("e", j) + " == " + E(Entry::handed_over));
    g.push_back(any_of(mine));
    return all_of(g);
  }

  void dispatch_fd(Text& t, int o, int target, bool fault, const FactList& df) {
    const std::string x = "t_best";
    for (int d : fds_of(o)) {
      t.line("if :: " + std::to_string(d) + " != t_best && " + fd("e", d) +
             " == " + E(Entry::handed_over) + " && " + fd("mt", d) + " < " + fd("mt", x) + " ->");
      Text v;
      violate(v, PropertyId::restore_in_preservation_order);
      t.append(v);
      t.line("   skip :: else -> skip fi;");
    }
    // RETRIEVE_FD(the mapping's token): the file the kernel holds under that token.
    t.line("t_file = NONE;");
    for (int d = 0; d < fds(); ++d) {
      t.line("if :: " + fd("kf", d) + " != " + KF(KFile::none) + " && " + fd("kt", d) +
             " == " + fd("mt", x) + " -> t_file = " + std::to_string(d) + " :: else -> skip fi;");
    }
    t.when("t_file != NONE", [&] {
      file_step(t, fd("kf", "t_file"), FileEvent::retrieve,
                {{Guard::handler_fails, fault ? "1" : "0"}});
    });
    t.line("t_ok = (t_file != NONE && " + fd("kf", "t_file") + " == " + KF(KFile::retrieved) +
           ");");
    entry_step(t, fd("e", x), fd("e", x), FdEntryEvent::restore,
               {{Guard::retrieve_fails, "!t_ok"}});
    t.open("if");
    t.line(":: " + fd("e", x) + " != " + E(Entry::restorable) + " -> " + fd("why", x) + " = " +
           R(Reason::retrieve_failed));
    t.open(":: else ->");
    t.line("if :: t_file != t_best || " + std::to_string(target) + " != t_best / " +
           std::to_string(b_.fds) + " ->");
    Text v;
    violate(v, PropertyId::delivered_to_owner);
    t.append(v);
    t.line("   skip :: else -> skip fi;");
    t.line(fd("foreign", x) + " = " + (target != o ? "1" : "0") + ";");
    entry_step(t, fd("e", x), fd("e", x), FdEntryEvent::dispatch, df);
    t.line("if :: " + fd("e", x) + " == " + E(Entry::dropped) + " -> " + fd("why", x) + " = " +
           R(Reason::store_full) + " :: else -> skip fi");
    t.close("");
    t.close("fi;");
  }

  void dispatch_session(Text& t, int o, int target, bool fault, const FactList& df) {
    // RETRIEVE_SESSION(its name): only an incoming session of that name answers.
    t.line("t_ok = " + std::string(fault ? "0" : "1") + " && " + sess("ss", "t_j") +
           " == " + SS(Sess::incoming) + ";");
    entry_step(t, "t_e", sess("e", "t_j"), FdEntryEvent::restore,
               {{Guard::retrieve_fails, "!t_ok"}});
    t.open("if");
    t.line(":: t_e != " + E(Entry::restorable) + " -> set_session_entry(t_j, t_e, " +
           R(Reason::retrieve_failed) + ")");
    t.open(":: else ->");
    t.line(sess("ss", "t_j") + " = " + SS(Sess::retrieved) + ";");
    if (target != o)
      violate(t, PropertyId::delivered_to_owner);
    entry_step(t, "t_e2", "t_e", FdEntryEvent::dispatch, df);
    t.line("set_session_entry(t_j, t_e2, (t_e2 == " + E(Entry::dropped) + " -> " +
           R(Reason::store_full) + " : " + R(Reason::none) + "));");
    t.line("release_if_unheld(t_j)");
    t.close("");
    t.close("fi;");
  }

  std::string finish(Text& t) {
    t.line("t_wait = " + any_handed_over() + ";");
    Text v;
    violate(v, PropertyId::finish_once_after_dispatch);
    if (!v.empty()) {
      t.open("if :: t_wait ->");
      t.append(v);
      t.close("   skip :: else -> skip fi;");
    }
    t.line("finish_systemd();");
    std::vector<std::string> g{"rst == " + HS(HandoffState::restoring),
                               "out == " + HS(HandoffState::running)};
    if (b_.mutant != Mutant::finish_before_dispatch)
      g.push_back("!" + any_handed_over());
    return all_of(g);
  }

  std::string agent_crash(Text& t) {
    t.line("faults = faults + 1;");
    t.open("if");
    t.open(":: out == " + HS(HandoffState::running) + " ->");
    t.line("manager_loses(" + E(Entry::stored) + ");");
    t.line("manager_loses(" + E(Entry::held) + ");");
    // The stored hijack session's only fd was in the store: it goes with the manager.
    if (b_.hijack)
      t.line("if :: hj == " + HJ(Hijack::stored) + " -> hj = " + HJ(Hijack::gone) +
             " :: else -> skip fi;");
    t.when("rst == " + HS(HandoffState::restoring), [&] {
      // Closing the retrieved "systemd" finishes it implicitly.
      t.line("manager_loses(" + E(Entry::handed_over) + ");");
      for (int d = 0; d < fds(); ++d)
        file_step(t, fd("kf", d), FileEvent::finish);
      file_step(t, "map_kf", FileEvent::finish);
      t.line("sys = " + SS(Sess::none) + ";");
      t.line("sys_hijacked = 0;");
      t.line("rst = " + HS(HandoffState::nothing) + ";");
    });
    t.close("");
    t.open(":: out == " + HS(HandoffState::serialized) + " ->");
    t.line("manager_loses(" + E(Entry::staged) + ");");
    if (b_.hijack)
      t.line("if :: hj == " + HJ(Hijack::staged) + " -> hj = " + HJ(Hijack::gone) +
             " :: else -> skip fi;");
    t.line("out = " + HS(HandoffState::nothing));
    t.close("");
    t.open(":: out == " + HS(HandoffState::preserved) + " ->");
    t.line("close_systemd_outgoing();");
    t.line("manager_loses(" + E(Entry::preserved) + ");");
    if (b_.hijack)
      t.line("if :: hj == " + HJ(Hijack::staged) + " -> hj = " + HJ(Hijack::gone) +
             " :: else -> skip fi;");
    t.line("out = " + HS(HandoffState::nothing));
    t.close("");
    t.close("fi;");
    return all_of(
        {crash_ok(), is_one_of("out", {HS(HandoffState::running), HS(HandoffState::serialized),
                                       HS(HandoffState::preserved)})});
  }

  std::string stage_a(Text& t) {
    // The shutdown transaction stops every service first.
    for (int o = 0; o < b_.owners; ++o) {
      t.line("if :: " + owner("alive", o) + " -> service_gone_" + std::to_string(o) + "(" +
             E(Entry::abandoned) + ") :: else -> skip fi;");
      t.line(owner("alive", o) + " = 0;");
    }
    t.line("t_any = 0;");
    const bool forget = b_.mutant == Mutant::forget_held_at_stage_a;
    for (int d = 0; d < fds(); ++d) {
      const std::string cond = forget ? fd("e", d) + " == " + E(Entry::stored)
                                      : is_one_of(fd("e", d), {E(Entry::stored), E(Entry::held)});
      t.when(cond, [&] {
        entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::stage);
        t.line("t_any = t_any || " + fd("e", d) + " == " + E(Entry::staged) + ";");
      });
    }
    for (int j = 0; j < sessions(); ++j) {
      const std::string cond = forget ? sess("e", j) + " == " + E(Entry::stored)
                                      : is_one_of(sess("e", j), {E(Entry::stored), E(Entry::held)});
      t.when(cond, [&] {
        entry_step(t, "t_e", sess("e", j), FdEntryEvent::stage,
                   {{Guard::incoming_session, sess("ss", j) + " != " + SS(Sess::outgoing)}});
        t.line("set_session_entry(" + std::to_string(j) + ", t_e, (t_e == " + E(Entry::dropped) +
               " -> " + R(Reason::not_outgoing) + " : " + R(Reason::none) + "));");
        t.line("release_if_unheld(" + std::to_string(j) + ");");
        t.line("t_any = t_any || t_e == " + E(Entry::staged) + ";");
      });
    }
    if (b_.hijack) {
      t.when("hj == " + HJ(Hijack::stored), [&] {
        entry_step(
            t, "t_e", E(Entry::stored), FdEntryEvent::stage,
            {{Guard::reserved_session_name, b_.mutant != Mutant::no_namespace_guard ? "1" : "0"}});
        t.line("hj = (t_e == " + E(Entry::staged) + " -> " + HJ(Hijack::staged) + " : " +
               HJ(Hijack::gone) + ");");
        t.line("t_any = t_any || t_e == " + E(Entry::staged) + ";");
      });
    }
    // v262 writes Stage A, and so hands over, on every kexec.
    const bool every = systemd_profile_has(b_.systemd, SystemdFeature::handover_every_kexec);
    pipe_step(t, "out", HandoffEvent::stage_a,
              {{Guard::nothing_to_hand_over, every ? "0" : "!t_any"}});
    return all_of({services_may_act(), "boot < " + std::to_string(b_.kexecs)});
  }

  // fault_file: 0 none, 1 the mapping's PRESERVE_FD, 2+i the i-th staged entry's.
  std::string stage_b(Text& t, int fault_file, bool create_fault) {
    if (fault_file != 0 || create_fault)
      t.line("faults = faults + 1;");
    // world.cpp's forget_stale_systemd(): a "systemd" whose RETRIEVE_SESSION failed.
    t.open("if");
    t.open(":: sys == " + SS(Sess::incoming) + " && !sys_hijacked ->");
    for (int d = 0; d < fds(); ++d)
      t.line(fd("kf", d) + " = " + KF(KFile::none) + ";");
    t.line("map_kf = " + KF(KFile::none) + ";");
    t.line("sys = " + SS(Sess::none));
    t.close("");
    t.line(":: else -> skip");
    t.close("fi;");
    if (create_fault) {
      t.line("stage_b_aborts(" + G(Guard::held_elsewhere) + ", " + R(Reason::no_luo) + ");");
    } else if (b_.hijack) {
      t.open("if");
      // The service's "systemd" is alive: CREATE_SESSION gives EEXIST.
      t.line(":: hj == " + HJ(Hijack::staged) + " -> stage_b_aborts(" + G(Guard::name_in_use) +
             ", " + R(Reason::no_luo) + ")");
      t.open(":: else ->");
      stage_b_fill(t, fault_file);
      t.close("");
      t.close("fi;");
    } else {
      stage_b_fill(t, fault_file);
    }
    std::vector<std::string> g{"out == " + HS(HandoffState::serialized)};
    if (fault_file != 0 || create_fault)
      g.push_back(errno_ok());
    if (fault_file > 1) {
      std::string staged = "1";
      for (int d = 0; d < fds(); ++d)
        staged += " + (" + fd("e", d) + " == " + E(Entry::staged) + " -> 1 : 0)";
      g.push_back(std::to_string(fault_file) + " <= " + staged);
    }
    return all_of(g);
  }

  void stage_b_fill(Text& t, int fault_file) {
    const bool mapping_first = b_.mutant != Mutant::mapping_last;
    const std::string mapping_fault = fault_file == 1 ? "1" : "0";
    t.line("sys = " + SS(Sess::outgoing) + ";");
    t.line("t_abort = 0;");
    if (mapping_first) {
      t.line("preserve_into_systemd(0, " + mapping_fault + ");");
      t.open("if");
      t.line(":: !t_ok -> stage_b_aborts(" + G(Guard::preserve_fails) + ", " + R(Reason::no_luo) +
             "); t_abort = 1");
      t.line(":: else -> map_kf = " + KF(KFile::preserved) + "; map_kt = 0; map_kc = kc");
      t.close("fi;");
    }
    t.open("if");
    t.open(":: !t_abort ->");
    // Dense tokens from 1 over the fds that were preserved, owners in order.
    t.line("t_token = 1;");
    t.line("t_i = 0;");
    for (int d = 0; d < fds(); ++d) {
      t.when(fd("e", d) + " == " + E(Entry::staged), [&] {
        t.line("preserve_into_systemd(t_token, (t_i + 2 == " + std::to_string(fault_file) + "));");
        t.line("t_i = t_i + 1;");
        entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::preserve,
                   {{Guard::preserve_fails, "!t_ok"}});
        t.open("if");
        t.line(":: !t_ok -> " + fd("why", d) + " = (t_err == EEXIST -> " +
               R(Reason::token_conflict) + " : " + R(Reason::preserve_refused) + ")");
        t.open(":: else ->");
        t.line(fd("kf", d) + " = " + KF(KFile::preserved) + ";");
        t.line(fd("kt", d) + " = t_token;");
        t.line(fd("mt", d) + " = t_token;");
        t.line(b_.mutant != Mutant::token_reuse ? "t_token = t_token + 1" : "skip");
        t.close("");
        t.close("fi;");
      });
    }
    if (!mapping_first) {
      t.line("preserve_into_systemd(0, " + mapping_fault + ");");
      t.open("if");
      t.line(":: !t_ok -> stage_b_aborts(" + G(Guard::preserve_fails) + ", " +
             R(fault_file == 1 ? Reason::no_luo : Reason::mapping_lost) + "); t_abort = 1");
      t.line(":: else -> map_kf = " + KF(KFile::preserved) + "; map_kt = 0; map_kc = kc");
      t.close("fi;");
    }
    t.open("if");
    t.open(":: !t_abort ->");
    // Sessions cannot nest: recorded by name, held open until the kexec.
    for (int j = 0; j < sessions(); ++j) {
      t.when(sess("e", j) + " == " + E(Entry::staged), [&] {
        entry_step(t, "t_e", E(Entry::staged), FdEntryEvent::preserve);
        t.line("set_session_entry(" + std::to_string(j) + ", t_e, " + R(Reason::none) + ");");
        if (b_.mutant == Mutant::close_sessions_early) {
          t.line(sess("mgr", j) + " = 0;");
          t.line("release_if_unheld(" + std::to_string(j) + ");");
        }
      });
    }
    pipe_step(t, "out", HandoffEvent::stage_b);
    t.close("");
    t.line(":: else -> skip");
    t.close("fi");
    t.close("");
    t.line(":: else -> skip");
    t.close("fi;");
  }

  std::string frozen_files() const {
    std::string n = "(map_kf == " + KF(KFile::preserved) + " -> 1 : 0)";
    for (int d = 0; d < fds(); ++d)
      n += " + (" + fd("kf", d) + " == " + KF(KFile::preserved) + " -> 1 : 0)";
    for (int j = 0; j < sessions(); ++j)
      n += " + (" + sess("ss", j) + " == " + SS(Sess::outgoing) + " && (" + sess("svc", j) +
           " || " + sess("mgr", j) + ") -> 1 : 0)";
    return n;
  }

  // freeze_fault: 0 none, 1+i the i-th file fails to freeze.
  std::string kexec(Text& t, int freeze_fault) {
    // Who survives is decided now, before anything moves.
    for (int j = 0; j < sessions(); ++j)
      t.line("t_carried[" + std::to_string(j) + "] = (" + sess("ss", j) + " == " +
             SS(Sess::outgoing) + " && (" + sess("svc", j) + " || " + sess("mgr", j) + "));");
    if (freeze_fault != 0) {
      // Rolled back, reboot(KEXEC) returns, the fallback reboot keeps nothing.
      t.line("faults = faults + 1;");
      pipe_step(t, "out", HandoffEvent::reboot_fails);
      for (int d = 0; d < fds(); ++d) {
        t.when(is_one_of(fd("e", d), {E(Entry::preserved), E(Entry::staged)}), [&] {
          entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::reboot_fails);
          t.line(fd("why", d) + " = " + R(Reason::reboot_failed) + ";");
        });
        t.line(fd("kf", d) + " = " + KF(KFile::none) + ";");
      }
      for (int j = 0; j < sessions(); ++j) {
        t.line("if :: " + is_one_of(sess("e", j), {E(Entry::preserved), E(Entry::staged)}) +
               " -> set_session_entry(" + std::to_string(j) + ", " + E(Entry::lost) + ", " +
               R(Reason::reboot_failed) + ") :: else -> skip fi;");
        t.line(sess("ss", j) + " = " + SS(Sess::none) + "; " + sess("svc", j) + " = 0; " +
               sess("mgr", j) + " = 0;");
      }
      t.line("map_kf = " + KF(KFile::none) + ";");
      t.line("sys = " + SS(Sess::none) + ";");
      if (b_.hijack)
        t.line("if :: hj == " + HJ(Hijack::staged) + " -> hj = " + HJ(Hijack::gone) +
               " :: else -> skip fi;");
      t.line("next_boot(0);");
    } else {
      t.when("out == " + HS(HandoffState::preserved),
             [&] { pipe_step(t, "out", HandoffEvent::kexec); });
      for (int d = 0; d < fds(); ++d) {
        // Preserved files are handed over; anything of the old boot still incoming is dropped.
        t.line("freeze_and_reboot(" + fd("kf", d) + ");");
        t.when(fd("e", d) + " == " + E(Entry::preserved),
               [&] { entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::kexec); });
      }
      t.line("freeze_and_reboot(map_kf);");
      t.line("t_msys = (sys == " + SS(Sess::outgoing) + ");");
      t.line("sys = " + SS(Sess::none) + ";");
      t.line("sys_hijacked = 0;");
      t.open("if");
      t.line(":: t_msys -> sys = " + SS(Sess::incoming));
      if (b_.hijack)
        t.line(":: !t_msys && hj == " + HJ(Hijack::staged) + " -> sys = " + SS(Sess::incoming) +
               "; sys_hijacked = 1; hj = " + HJ(Hijack::carried));
      t.line(":: else -> skip");
      t.close("fi;");
      for (int j = 0; j < sessions(); ++j) {
        const std::string js = std::to_string(j);
        t.when(sess("e", j) + " == " + E(Entry::preserved), [&] {
          entry_step(t, "t_e", sess("e", j), FdEntryEvent::kexec);
          t.line("set_session_entry(" + js + ", t_e, " + R(Reason::none) + ");");
        });
        t.line("t_rec = (" + sess("e", j) + " == " + E(Entry::handed_over) + ");");
        t.line("survives_reboot(" + js + ", t_carried[" + js + "]);");
        t.line(sess("ss", j) + " = (t_surv -> " + SS(Sess::incoming) + " : " + SS(Sess::none) +
               ");");
        t.line(sess("svc", j) + " = 0;");
        t.line(sess("mgr", j) + " = " + manager_holds(sess("e", j)) + ";");
        Text v;
        violate(v, PropertyId::third_party_survives_iff_held_outgoing);
        if (!v.empty()) {
          t.open("if :: t_surv != t_carried[" + js + "] || (t_rec && !t_surv) ->");
          t.append(v);
          t.close("   skip :: else -> skip fi;");
        }
      }
      t.line("next_boot(1);");
    }
    std::vector<std::string> g{
        "boot < " + std::to_string(b_.kexecs),
        is_one_of("out", {HS(HandoffState::preserved), HS(HandoffState::nothing)})};
    if (freeze_fault != 0) {
      g.push_back(errno_ok());
      g.push_back(std::to_string(freeze_fault) + " <= " + frozen_files());
    }
    return all_of(g);
  }

  // ---- processes -----------------------------------------------------------------------------

  struct Instance {
    Action action;
    std::string guard;
    Text effect;
  };

  // World::successors()'s instances, in its order; those that can never be enabled under the
  // bounds (a fault with no faults allowed, a feature turned off) are left out.
  std::vector<Instance> instances() {
    std::vector<Instance> v;
    using K = ActionKind;
    const auto add = [&](Action a, auto&& emit) {
      Instance in{a, "", {}};
      in.guard = emit(in.effect);
      v.push_back(std::move(in));
    };
    const auto u = [](int x) { return static_cast<std::uint8_t>(x); };
    for (int d = 0; d < fds(); ++d) {
      add({K::store, u(d), 0}, [&](Text& t) { return store(t, d); });
      add({K::remove, u(d), 0}, [&](Text& t) { return remove(t, d); });
    }
    for (int j = 0; j < sessions(); ++j) {
      add({K::open_session, u(j), 0}, [&](Text& t) { return open_session(t, j); });
      add({K::store_session, u(j), 0}, [&](Text& t) { return store_session(t, j); });
      add({K::resume_session, u(j), 0}, [&](Text& t) { return resume_session(t, j); });
    }
    if (b_.hijack)
      add({K::hijack, 0, 0}, [&](Text& t) { return hijack(t); });
    for (int o = 0; o < b_.owners; ++o) {
      if (crashes())
        add({K::crash, u(o), 0}, [&](Text& t) { return crash(t, o); });
      add({K::start, u(o), 0}, [&](Text& t) { return start(t, o); });
      if (b_.late_owners) {
        add({K::load_owner, u(o), 0}, [&](Text& t) { return load_owner(t, o, false); });
        add({K::load_owner, u(o), 1}, [&](Text& t) { return load_owner(t, o, true); });
      }
    }
    add({K::reload, 0, 0}, [&](Text& t) { return reload(t); });
    for (int f = 0; f <= 2; ++f) {
      if (f == 0 || errnos())
        add({K::restore_begin, 0, static_cast<std::uint8_t>(f)},
            [&, f](Text& t) { return restore_begin(t, f); });
    }
    for (int o = 0; o < b_.owners; ++o) {
      add({K::dispatch, u(o), 0}, [&](Text& t) { return dispatch(t, o, false); });
      if (errnos())
        add({K::dispatch, u(o), 1}, [&](Text& t) { return dispatch(t, o, true); });
    }
    add({K::finish, 0, 0}, [&](Text& t) { return finish(t); });
    if (crashes())
      add({K::agent_crash, 0, 0}, [&](Text& t) { return agent_crash(t); });
    add({K::stage_a, 0, 0}, [&](Text& t) { return stage_a(t); });
    for (int f = 0; f <= fds() + 1; ++f) {
      if (f == 0 || errnos())
        add({K::stage_b, u(f), 0}, [&](Text& t) { return stage_b(t, f, false); });
    }
    if (errnos())
      add({K::stage_b, 0, 1}, [&](Text& t) { return stage_b(t, 0, true); });
    for (int f = 0; f <= fds() + 1 + sessions(); ++f) {
      if (f == 0 || errnos())
        add({K::kexec, u(f), 0}, [&](Text& t) { return kexec(t, f); });
    }
    return v;
  }

  Text processes() {
    std::vector<Instance> all = instances();
    // Weak fairness in SPIN (pan -f) is per process: one process per fairness class of the
    // checker, and env for the actions no fairness is assumed for.
    std::map<int, std::vector<const Instance*>> fair;
    std::vector<const Instance*> env;
    std::vector<std::string> fair_guards;
    for (const auto& in : all) {
      if (World::is_fair(in.action.kind)) {
        fair[w_.fairness_class(in.action)].push_back(&in);
        fair_guards.push_back(in.guard);
      } else {
        env.push_back(&in);
      }
    }
    std::map<ActionKind, int> classes_of_kind;
    for (const auto& [cls, ins] : fair)
      ++classes_of_kind[ins.front()->action.kind];

    Text t;
    const auto body = [&](const Instance& in) {
      t.open(":: d_step {  /* " + w_.describe(in.action) + " */");
      t.line(in.guard);
      t.line("->");
      t.append(in.effect);
      t.line("normalize();");
      t.line("check_state()");
      t.close("}");
    };
    t.line("");
    t.line("/* The services, crashes and Stage A: no fairness assumed. `idle` keeps pan -f from");
    t.line("   assuming it either: it lets env take a step that changes nothing whenever a fair");
    t.line("   action is enabled, so a run that never takes env's actions is still fair to env,");
    t.line("   and it is disabled where nothing fair is enabled, so that a state where only env");
    t.line("   can move must move, as in the checker. It adds no state, only a self-loop. */");
    t.open("active proctype env() {");
    t.line("end:");
    t.open("do");
    for (const Instance* in : env)
      body(*in);
    t.line(":: d_step {  /* idle */ " + any_of(fair_guards) + " -> skip }");
    t.close("od");
    t.close("}");
    for (const auto& [cls, ins] : fair) {
      const Action& a = ins.front()->action;
      std::string name(action_kind_name(a.kind));
      if (classes_of_kind[a.kind] > 1)
        name += "_" + std::to_string(cls % 16);
      t.line("");
      t.open("active proctype " + name + "() {");
      t.line("end:");
      t.open("do");
      for (const Instance* in : ins)
        body(*in);
      t.close("od");
      t.close("}");
    }
    return t;
  }

  void ltl(Text& t) const {
    t.line("");
    t.line(
        "/* The safety run's claim: it never accepts and never blocks, so the product with it is");
    t.line(
        "   the plain state graph (pan -N safety, without -a; first, so also pan's default). It");
    t.line(
        "   lets one pan build, compiled without -DSAFETY, answer the safety properties exactly");
    t.line(
        "   and the liveness claims below; a -DSAFETY -DNOCLAIM build needs no claim at all. */");
    t.line("ltl safety { [] true }");
    if (!wanted(PropertyId::eventually_delivered))
      return;
    t.line("");
    t.line("/* eventually_delivered, one claim per entry (pan -a -f -N <name>). */");
    for (int k = 0; k < fds() + sessions(); ++k) {
      const std::string p = "pending_" + std::to_string(k);
      t.line("ltl " + promela_claim_name(w_, k) + " { [] (" + p + " -> <> !" + p + ") }");
    }
  }

  Bounds b_;
  World w_;
  PromelaOptions opt_;
  std::map<std::string, std::string> selectors_;
  std::set<Guard> guards_;
};

}  // namespace

std::string promela_refusal(const Bounds& bounds) {
  if (bounds.any_kexecs)
    return "the Promela twin is the bounded world: any_kexecs (an abstraction of it) is not "
           "modelled";
  return "";
}

std::string to_promela(const Bounds& bounds, const PromelaOptions& options) {
  if (auto why = bounds.validate(); !why.empty())
    throw std::invalid_argument("to_promela: " + why);
  if (auto why = promela_refusal(bounds); !why.empty())
    throw PromelaUnsupported("to_promela: " + why);
  return Generator(bounds, options).run();
}

std::string promela_claim_name(const World& world, int entry) {
  if (entry < world.fd_count())
    return "eventually_delivered_fd" + std::to_string(world.owner_of_fd(entry)) + "_" +
           std::to_string(entry % world.bounds().fds);
  return "eventually_delivered_session" + std::to_string(entry - world.fd_count());
}

int promela_process_count(const Bounds& bounds) {
  const World w(bounds);
  std::set<int> classes;
  // Every fair kind is emitted for every owner it names; the count only sizes pan's tables.
  for (ActionKind k : {ActionKind::start, ActionKind::load_owner, ActionKind::dispatch}) {
    for (int o = 0; o < bounds.owners; ++o) {
      if (k == ActionKind::load_owner && !bounds.late_owners)
        continue;
      classes.insert(w.fairness_class(Action{k, static_cast<std::uint8_t>(o), 0}));
    }
  }
  for (ActionKind k : {ActionKind::reload, ActionKind::restore_begin, ActionKind::finish,
                       ActionKind::stage_b, ActionKind::kexec})
    classes.insert(w.fairness_class(Action{k, 0, 0}));
  return static_cast<int>(classes.size()) + 1;  // and env
}

}  // namespace luo::proofs
