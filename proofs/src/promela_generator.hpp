// The Promela generator (promela.hpp) as a class, private to proofs/src. Its members are written
// where their concept is: promela.cpp (the whole model's order, the machines' selectors, the
// constants and variables), promela_glue.cpp (Stepper's helpers as Promela inlines),
// promela_properties.cpp (properties.cpp written again), promela_services.cpp,
// promela_restore.cpp and promela_shutdown.cpp (one function per ActionKind, mirroring
// world_services.cpp, world_restore.cpp and world_shutdown.cpp statement by statement) and
// promela_processes.cpp (the action instances grouped into processes, the ltl claims).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "luo/proofs/promela.hpp"

namespace luo::proofs::pml {

// ---------------------------------------------------------------------------------------------
// Spellings of the world's enums in Promela. Only the names live here; every value is the C++
// enumerator's own (static_cast), so the two sides cannot disagree on a number.

// The world's own names but one: Promela calls a never-stored entry "unborn".
inline std::string_view entry_id(Entry e) {
  return e == Entry::unborn ? "unborn" : entry_name(e);
}

template <class T>
inline std::string num(T v) {
  return std::to_string(static_cast<int>(v));
}

inline std::string E(Entry e) {
  return "E_" + std::string(entry_id(e));
}
inline std::string R(Reason r) {
  return "R_" + std::string(reason_id(r));
}
inline std::string KF(KFile k) {
  return "KF_" + std::string(kfile_name(k));
}
inline std::string SS(Sess s) {
  return "SS_" + std::string(sess_name(s));
}
inline std::string HJ(Hijack h) {
  return "HJ_" + std::string(hijack_name(h));
}
inline std::string HS(HandoffState s) {
  return "HS_" + std::string(state_name(s));
}
inline std::string FS(FileState s) {
  return "FS_" + std::string(state_name(s));
}
inline std::string OS(OutgoingSessionState s) {
  return "OS_" + std::string(state_name(s));
}
inline std::string IS(IncomingSessionState s) {
  return "IS_" + std::string(state_name(s));
}
inline std::string ES(FdEntryState s) {
  return "ES_" + std::string(state_name(s));
}
inline std::string G(Guard g) {
  return "g_" + std::string(guard_name(g));
}

inline std::string lower_id(std::string_view s) {
  std::string out;
  for (char c : s)
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : (c == '-' ? '_' : c);
  return out;
}

// "((a) && (b) && (c))", safe to negate or nest; "1" for none.
inline std::string all_of(const std::vector<std::string>& parts) {
  if (parts.empty())
    return "1";
  std::string s;
  for (const auto& p : parts)
    s += (s.empty() ? "(" : " && (") + p + ")";
  return parts.size() == 1 ? s : "(" + s + ")";
}
inline std::string any_of(const std::vector<std::string>& parts) {
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

  std::string run();

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

  void set_facts(Text& t, const FactList& facts);
  void clear_facts(Text& t, const FactList& facts);
  void entry_step(Text& t, const std::string& target, const std::string& from, FdEntryEvent ev,
                  const FactList& facts = {});
  void pipe_step(Text& t, const std::string& var, HandoffEvent ev, const FactList& facts = {});
  void file_step(Text& t, const std::string& var, FileEvent ev, const FactList& facts = {});

  // ---- constants and variables ---------------------------------------------------------------

  void header(Text& t) const;
  void constants(Text& t) const;
  void state_variables(Text& t) const;
  void hidden_variables(Text& t) const;
  bool wanted(PropertyId id) const { return (opt_.properties & bit(id)) != 0; }

  // ---- glue: Stepper's helpers ---------------------------------------------------------------

  static std::string manager_holds(const std::string& e);
  static std::string services_may_act();
  std::string errno_ok() const;
  std::string crash_ok() const;
  void violate(Text& t, PropertyId id) const;
  void violate_if(Text& t, const std::string& cond, PropertyId id) const;
  Text glue_inlines();
  void retry_held(Text& t, int o);

  // ---- properties (properties.cpp, written again) ---------------------------------------------

  static std::string is_one_of(const std::string& v, std::initializer_list<std::string> values);
  std::string ended(const std::string& e) const;
  std::string no_silent_loss() const;
  std::string losses_legitimate() const;
  std::string mapping_matches() const;
  std::string token0() const;
  std::string systemd_is_managers() const;
  std::string pending(int entry) const;
  Text property_inlines() const;

  // ---- the actions: one function per ActionKind, mirroring Stepper ---------------------------

  std::string store(Text& t, int d);
  std::string remove(Text& t, int d);
  std::string open_session(Text& t, int j);
  std::string store_session(Text& t, int j);
  std::string resume_session(Text& t, int j);
  std::string hijack(Text& t);
  std::string crash(Text& t, int o);
  std::string start(Text& t, int o);
  std::string load_owner(Text& t, int o, bool zero);
  std::string reload(Text& t);
  std::string any_handed_over() const;
  void handed_over_lost(Text& t, const FactList& f, Reason why);
  std::string restore_begin(Text& t, int fault);
  std::string dispatch(Text& t, int o, bool fault);
  void dispatch_fd(Text& t, int o, int target, bool fault, const FactList& df);
  void dispatch_session(Text& t, int o, int target, bool fault, const FactList& df);
  std::string finish(Text& t);
  std::string agent_crash(Text& t);
  std::string stage_a(Text& t);
  std::string stage_b(Text& t, int fault_file, bool create_fault);
  void stage_b_fill(Text& t, int fault_file);
  std::string frozen_files() const;
  std::string kexec(Text& t, int freeze_fault);

  // ---- processes -----------------------------------------------------------------------------

  struct Instance {
    Action action;
    std::string guard;
    Text effect;
  };

  std::vector<Instance> instances();
  std::string emit(Text& t, const Action& a);
  Text processes();
  void ltl(Text& t) const;

  Bounds b_;
  World w_;
  PromelaOptions opt_;
  std::map<std::string, std::string> selectors_;
  std::set<Guard> guards_;
};

}  // namespace luo::proofs::pml
