// The world as a transition system (world.hpp): its initial state, the fairness classes of its
// actions, the enumeration of its action instances and their successors, and their descriptions.
// One step is a Stepper (stepper.hpp); the steps themselves are in world_services.cpp,
// world_restore.cpp and world_shutdown.cpp, the enums' names in world_names.cpp.
#include "luo/proofs/world.hpp"

#include "stepper.hpp"

namespace luo::proofs {

namespace {

std::vector<Action> enumerate_instances(const Bounds& b) {
  const int fds = b.owners * b.fds;
  const bool errnos = b.errnos && b.faults > 0;
  const bool crashes = b.crashes && b.faults > 0;
  std::vector<Action> v;
  using K = ActionKind;
  const auto add = [&](K kind, int a, int p) {
    v.push_back(Action{kind, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(p)});
  };
  for (int d = 0; d < fds; ++d) {
    add(K::store, d, 0);
    add(K::remove, d, 0);
  }
  for (int j = 0; j < b.sessions; ++j) {
    add(K::open_session, j, 0);
    add(K::store_session, j, 0);
    add(K::resume_session, j, 0);
  }
  if (b.hijack)
    add(K::hijack, 0, 0);
  for (int o = 0; o < b.owners; ++o) {
    if (crashes)
      add(K::crash, o, 0);
    add(K::start, o, 0);
    if (b.late_owners) {
      add(K::load_owner, o, 0);
      add(K::load_owner, o, 1);
    }
  }
  add(K::reload, 0, 0);
  for (int f = 0; f <= 2; ++f) {
    if (f == 0 || errnos)
      add(K::restore_begin, 0, f);
  }
  for (int o = 0; o < b.owners; ++o) {
    add(K::dispatch, o, 0);
    if (errnos)
      add(K::dispatch, o, 1);
  }
  add(K::finish, 0, 0);
  if (crashes)
    add(K::agent_crash, 0, 0);
  add(K::stage_a, 0, 0);
  for (int f = 0; f <= fds + 1; ++f) {
    if (f == 0 || errnos)
      add(K::stage_b, f, 0);
  }
  if (errnos)
    add(K::stage_b, 0, 1);
  for (int f = 0; f <= fds + 1 + b.sessions; ++f) {
    if (f == 0 || errnos)
      add(K::kexec, f, 0);
  }
  return v;
}

// One action instance taken by the Stepper member of its kind; false if it is not enabled.
bool take(Stepper& st, const Action& a) {
  switch (a.kind) {
    case ActionKind::store:
      return st.store(a.a);
    case ActionKind::remove:
      return st.remove(a.a);
    case ActionKind::open_session:
      return st.open_session(a.a);
    case ActionKind::store_session:
      return st.store_session(a.a);
    case ActionKind::resume_session:
      return st.resume_session(a.a);
    case ActionKind::hijack:
      return st.hijack();
    case ActionKind::crash:
      return st.crash(a.a);
    case ActionKind::start:
      return st.start(a.a);
    case ActionKind::load_owner:
      return st.load_owner(a.a, a.b != 0);
    case ActionKind::reload:
      return st.reload();
    case ActionKind::restore_begin:
      return st.restore_begin(a.b);
    case ActionKind::dispatch:
      return st.dispatch(a.a, a.b != 0);
    case ActionKind::finish:
      return st.finish();
    case ActionKind::agent_crash:
      return st.agent_crash();
    case ActionKind::stage_a:
      return st.stage_a();
    case ActionKind::stage_b:
      return st.stage_b(a.a, a.b != 0);
    case ActionKind::kexec:
      return st.kexec(a.a);
  }
  return false;
}

}  // namespace

World::World(Bounds bounds) : b_(bounds), instances_(enumerate_instances(bounds)) {}

int World::counter_cap() const {
  // The exact range must hold every constant the manager compares its counter with. The correct
  // manager compares with none: it copies the counter (Stage B), adds one (restore) and starts
  // over at 0, and kexec_count_carried asks only whether the restored value is the carried one
  // plus one, which State::kc_same answers at the cap. So 0 and "1 or more" suffice. counter_stuck
  // tests the carried value against 3, so it needs 0..3 exact and "4 or more".
  return b_.mutant == Mutant::counter_stuck ? 4 : 1;
}

State World::initial() const {
  State s;
  // Boot 0 is a cold boot: every owner is configured and running, nothing to restore.
  for (int o = 0; o < b_.owners; ++o)
    s.owner[o] = OwnerSlot{true, false, true};
  return s;
}

bool World::is_fair(ActionKind k) {
  switch (k) {
    case ActionKind::load_owner:
    case ActionKind::reload:
    case ActionKind::restore_begin:
    case ActionKind::dispatch:
    case ActionKind::finish:
    case ActionKind::stage_b:
    case ActionKind::kexec:
    case ActionKind::start:
      return true;
    case ActionKind::store:
    case ActionKind::remove:
    case ActionKind::open_session:
    case ActionKind::store_session:
    case ActionKind::resume_session:
    case ActionKind::hijack:
    case ActionKind::crash:
    case ActionKind::agent_crash:
    case ActionKind::stage_a:
      return false;
  }
  return false;
}

int World::fairness_classes() const {
  return kActionKinds * 16;
}
int World::fairness_class(const Action& a) const {
  // The fault choice of an action is not part of its identity: taking it either way is taking it.
  const bool parameter_is_fault = a.kind == ActionKind::stage_b || a.kind == ActionKind::kexec ||
                                  a.kind == ActionKind::restore_begin;
  return static_cast<int>(a.kind) * 16 + (parameter_is_fault ? 0 : a.a);
}

namespace {

// Values that no longer mean anything are zeroed, so states that differ only in them are one
// state: a token once the file left the kernel, a mapping token once the entry left the mapping.
void normalize(const World& w, State& s) {
  for (int d = 0; d < w.fd_count(); ++d) {
    auto& x = s.fd[d];
    if (x.kf == KFile::none)
      x.kt = 0;
    if (x.e != Entry::preserved && x.e != Entry::handed_over && x.e != Entry::restorable)
      x.mt = 0;
  }
  if (s.map_kf == KFile::none) {
    s.map_kt = 0;
    s.map_kc = 0;
  }
  // kc_same is a fact about two counters only while the mapping exists, and below the cap the
  // values carry it already: keep it only where it is information.
  if (w.bounds().any_kexecs) {
    const int cap = w.counter_cap();
    if (s.map_kf == KFile::none)
      s.kc_same = false;
    else if (s.kc < cap || s.map_kc < cap)
      s.kc_same = s.kc == s.map_kc;
  }
}

}  // namespace

void World::successors(const State& s, std::vector<Step>& out) const {
  out.clear();
  for (const Action& a : instances_) {
    Stepper st(*this, s);
    if (take(st, a)) {
      normalize(*this, st.state());
      out.push_back(Step{a, st.state(), st.violations()});
    }
  }
}

std::optional<State> World::apply(const State& s, const Action& a, Violations* v) const {
  std::vector<Step> steps;
  successors(s, steps);
  for (const auto& step : steps) {
    if (step.action == a) {
      if (v)
        *v = step.violations;
      return step.next;
    }
  }
  return std::nullopt;
}

std::string World::describe(const Action& a) const {
  // A trace read from a file may name any fd or session, and bounds of 0 fds per owner or 0
  // owners: describe those without dividing by the bounds (the reader's error names them).
  const auto fd_owner = [&](int d) {
    return d >= 0 && d < fd_count() ? std::to_string(owner_of_fd(d)) : std::string("?");
  };
  const auto fd_label = [&](int d) {
    if (d < 0 || d >= fd_count())
      return "fd #" + std::to_string(d) + " (outside the bounds)";
    return "fd " + fd_owner(d) + "." + std::to_string(d % b_.fds);
  };
  const auto session_label = [&](int j) {
    return "session " + std::to_string(j) + " (owner " +
           (b_.owners > 0 ? std::to_string(owner_of_session(j)) : std::string("?")) + ")";
  };
  switch (a.kind) {
    case ActionKind::store:
      return "owner " + fd_owner(a.a) + " stores " + fd_label(a.a);
    case ActionKind::remove:
      return "owner " + fd_owner(a.a) + " removes " + fd_label(a.a);
    case ActionKind::open_session:
      return "VMM opens " + session_label(a.a) + " and preserves its memory";
    case ActionKind::store_session:
      return "VMM stores the fd of " + session_label(a.a);
    case ActionKind::resume_session:
      return "VMM resumes from " + session_label(a.a) + " (retrieve, FINISH, remove)";
    case ActionKind::hijack:
      return "owner 0 stores a session it named \"systemd\"";
    case ActionKind::crash:
      return "service of owner " + std::to_string(a.a) + " crashes and restarts";
    case ActionKind::start:
      return "service of owner " + std::to_string(a.a) + " starts";
    case ActionKind::load_owner:
      return "owner " + std::to_string(a.a) + " is loaded" +
             (a.b ? " with FileDescriptorStoreMax=0" : "");
    case ActionKind::reload:
      return "daemon-reload";
    case ActionKind::restore_begin:
      return a.b == 2   ? "manager: RETRIEVE_SESSION(\"systemd\") fails"
             : a.b == 1 ? "manager retrieves \"systemd\"; RETRIEVE_FD of token 0 fails"
                        : "manager retrieves \"systemd\" and reads token 0";
    case ActionKind::dispatch:
      return "manager restores owner " + std::to_string(a.a) + "'s next entry" +
             (a.b ? " (its retrieve fails)" : "");
    case ActionKind::finish:
      return "manager FINISHes \"systemd\"";
    case ActionKind::agent_crash:
      return "manager crashes and restarts";
    case ActionKind::stage_a:
      return "services stop; Stage A lists the stores";
    case ActionKind::stage_b:
      if (a.b)
        return "Stage B: CREATE_SESSION(\"systemd\") fails";
      if (a.a == 0)
        return "Stage B fills \"systemd\"";
      if (a.a == 1)
        return "Stage B: PRESERVE_FD of the mapping fails";
      return "Stage B: PRESERVE_FD of staged fd #" + std::to_string(a.a - 2) + " fails";
    case ActionKind::kexec:
      return a.a == 0 ? "reboot(KEXEC)"
                      : "reboot(KEXEC): file #" + std::to_string(a.a - 1) +
                            " fails to freeze, the reboot falls back";
  }
  return "?";
}

}  // namespace luo::proofs
