// The world as a transition system (world.hpp): its initial state, the fairness classes of its
// actions, the enumeration of its action instances and their successors, and their descriptions.
// One step is a Stepper (stepper.hpp); the steps themselves are in world_services.cpp,
// world_restore.cpp and world_shutdown.cpp, the enums' names in world_names.cpp.
#include "luo/proofs/world.hpp"

#include "stepper.hpp"

namespace luo::proofs {

World::World(Bounds bounds) : b_(bounds) {}

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
    default:
      return false;
  }
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
  const auto emit = [&](Action a, auto&& apply_it) {
    Stepper st(*this, s);
    if (apply_it(st)) {
      normalize(*this, st.state());
      out.push_back(Step{a, st.state(), st.violations()});
    }
  };
  using K = ActionKind;
  for (int d = 0; d < fd_count(); ++d) {
    const auto u = static_cast<std::uint8_t>(d);
    emit({K::store, u, 0}, [&](Stepper& st) { return st.store(d); });
    emit({K::remove, u, 0}, [&](Stepper& st) { return st.remove(d); });
  }
  for (int j = 0; j < b_.sessions; ++j) {
    const auto u = static_cast<std::uint8_t>(j);
    emit({K::open_session, u, 0}, [&](Stepper& st) { return st.open_session(j); });
    emit({K::store_session, u, 0}, [&](Stepper& st) { return st.store_session(j); });
    emit({K::resume_session, u, 0}, [&](Stepper& st) { return st.resume_session(j); });
  }
  emit({K::hijack, 0, 0}, [&](Stepper& st) { return st.hijack(); });
  for (int o = 0; o < b_.owners; ++o) {
    const auto u = static_cast<std::uint8_t>(o);
    emit({K::crash, u, 0}, [&](Stepper& st) { return st.crash(o); });
    emit({K::start, u, 0}, [&](Stepper& st) { return st.start(o); });
    emit({K::load_owner, u, 0}, [&](Stepper& st) { return st.load_owner(o, false); });
    emit({K::load_owner, u, 1}, [&](Stepper& st) { return st.load_owner(o, true); });
  }
  emit({K::reload, 0, 0}, [&](Stepper& st) { return st.reload(); });
  for (int f = 0; f <= 2; ++f) {
    const auto u = static_cast<std::uint8_t>(f);
    emit({K::restore_begin, 0, u}, [&](Stepper& st) { return st.restore_begin(f); });
  }
  for (int o = 0; o < b_.owners; ++o) {
    const auto u = static_cast<std::uint8_t>(o);
    emit({K::dispatch, u, 0}, [&](Stepper& st) { return st.dispatch(o, false); });
    emit({K::dispatch, u, 1}, [&](Stepper& st) { return st.dispatch(o, true); });
  }
  emit({K::finish, 0, 0}, [&](Stepper& st) { return st.finish(); });
  emit({K::agent_crash, 0, 0}, [&](Stepper& st) { return st.agent_crash(); });
  emit({K::stage_a, 0, 0}, [&](Stepper& st) { return st.stage_a(); });
  for (int f = 0; f <= fd_count() + 1; ++f) {
    const auto u = static_cast<std::uint8_t>(f);
    emit({K::stage_b, u, 0}, [&](Stepper& st) { return st.stage_b(f, false); });
  }
  emit({K::stage_b, 0, 1}, [&](Stepper& st) { return st.stage_b(0, true); });
  for (int f = 0; f <= fd_count() + 1 + b_.sessions; ++f) {
    const auto u = static_cast<std::uint8_t>(f);
    emit({K::kexec, u, 0}, [&](Stepper& st) { return st.kexec(f); });
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
