#include "luo/proofs/world.hpp"

#include <algorithm>

#include "luo/proofs/properties.hpp"
#include "luo/proofs/world_environment.hpp"

namespace luo::proofs {

std::string_view mutant_name(Mutant m) {
  switch (m) {
    case Mutant::none:
      return "none";
    case Mutant::finish_before_dispatch:
      return "finish_before_dispatch";
    case Mutant::restore_lifo:
      return "restore_lifo";
    case Mutant::no_namespace_guard:
      return "no_namespace_guard";
    case Mutant::mapping_last:
      return "mapping_last";
    case Mutant::token_reuse:
      return "token_reuse";
    case Mutant::never_retry_held:
      return "never_retry_held";
    case Mutant::wrong_owner:
      return "wrong_owner";
    case Mutant::forget_held_at_stage_a:
      return "forget_held_at_stage_a";
    case Mutant::close_sessions_early:
      return "close_sessions_early";
    case Mutant::counter_stuck:
      return "counter_stuck";
    case Mutant::two_unit_slots:
      return "two_unit_slots";
  }
  return "?";
}

std::optional<Mutant> parse_mutant(std::string_view name) {
  if (name == "none")
    return Mutant::none;
  for (Mutant m : kAllMutants) {
    if (mutant_name(m) == name)
      return m;
  }
  for (Mutant m : kBeyondBoundsMutants) {
    if (mutant_name(m) == name)
      return m;
  }
  return std::nullopt;
}

std::string Bounds::validate() const {
  if (owners < 1 || owners > kMaxOwners)
    return "owners must be 1.." + std::to_string(kMaxOwners);
  if (fds < 0 || fds > kMaxFdsPerOwner)
    return "fds must be 0.." + std::to_string(kMaxFdsPerOwner);
  if (sessions < 0 || sessions > kMaxSessions)
    return "sessions must be 0.." + std::to_string(kMaxSessions);
  if (kexecs < 0 || kexecs > kMaxKexecs)
    return "kexecs must be 0.." + std::to_string(kMaxKexecs);
  if (faults < 0 || faults > kMaxFaults)
    return "faults must be 0.." + std::to_string(kMaxFaults);
  if (file_limit < 0 || file_limit > kMaxFds + 1)
    return "file-limit must be 0.." + std::to_string(kMaxFds + 1);
  if (file_limit > 0 && !profile_has(profile, Feature::legacy_limits))
    return "file-limit needs a profile with per-session file limits (6.19, 7.0/7.1)";
  return "";
}

std::string Bounds::describe() const {
  std::string s =
      std::to_string(owners) + " owners x " + std::to_string(fds) + " fds, " +
      std::to_string(sessions) + " third-party sessions, " +
      (any_kexecs ? "any number of kexecs, " + std::to_string(faults) + " faults per boot ("
                  : std::to_string(kexecs) + " kexecs, " + std::to_string(faults) + " faults (") +
      (errnos && crashes ? "errnos and crashes"
       : errnos          ? "errnos only"
       : crashes         ? "crashes only"
                         : "none enabled") +
      "), hijack " + (hijack ? "on" : "off") + ", late owners " + (late_owners ? "on" : "off") +
      ", profile " + std::string(profile_name(profile)) + ", systemd " +
      std::string(systemd_profile_name(systemd));
  if (file_limit > 0)
    s += ", file limit " + std::to_string(file_limit);
  if (mutant != Mutant::none)
    s += ", MUTANT " + std::string(mutant_name(mutant));
  return s;
}

std::string_view entry_name(Entry e) {
  switch (e) {
    case Entry::unborn:
      return "unstored";
    case Entry::abandoned:
      return "abandoned";
    default:
      return state_name(to_machine(e));
  }
}

FdEntryState to_machine(Entry e) {
  return static_cast<FdEntryState>(static_cast<int>(e) - static_cast<int>(Entry::stored));
}
Entry from_machine(FdEntryState s) {
  return static_cast<Entry>(static_cast<int>(s) + static_cast<int>(Entry::stored));
}
static_assert(static_cast<int>(Entry::lost) - static_cast<int>(Entry::stored) ==
              static_cast<int>(FdEntryState::lost));

std::string_view reason_name(Reason r) {
  switch (r) {
    case Reason::none:
      return "none";
    case Reason::removed:
      return "removed by its owner";
    case Reason::store_full:
      return "store full (EXFULL)";
    case Reason::reserved_name:
      return "session name \"systemd\" is reserved";
    case Reason::preserve_refused:
      return "PRESERVE_FD refused";
    case Reason::retrieve_failed:
      return "retrieve failed";
    case Reason::reboot_failed:
      return "reboot(KEXEC) failed";
    case Reason::no_luo:
      return "no \"systemd\" session";
    case Reason::mapping_unusable:
      return "mapping unusable";
    case Reason::agent_crashed:
      return "manager crashed";
    case Reason::not_outgoing:
      return "retrieved session cannot be handed over again";
    case Reason::owner_crashed:
      return "its service died holding it alone";
    case Reason::token_conflict:
      return "token reused by the manager";
    case Reason::mapping_lost:
      return "mapping lost to the file limit";
    case Reason::silent:
      return "silent";
    case Reason::earlier_boot:
      return "ended in an earlier boot, for a legitimate reason";
  }
  return "?";
}

std::string_view reason_id(Reason r) {
  switch (r) {
    case Reason::none:
      return "none";
    case Reason::removed:
      return "removed";
    case Reason::store_full:
      return "store_full";
    case Reason::reserved_name:
      return "reserved_name";
    case Reason::preserve_refused:
      return "preserve_refused";
    case Reason::retrieve_failed:
      return "retrieve_failed";
    case Reason::reboot_failed:
      return "reboot_failed";
    case Reason::no_luo:
      return "no_luo";
    case Reason::mapping_unusable:
      return "mapping_unusable";
    case Reason::agent_crashed:
      return "agent_crashed";
    case Reason::not_outgoing:
      return "not_outgoing";
    case Reason::owner_crashed:
      return "owner_crashed";
    case Reason::token_conflict:
      return "token_conflict";
    case Reason::mapping_lost:
      return "mapping_lost";
    case Reason::silent:
      return "silent";
    case Reason::earlier_boot:
      return "earlier_boot";
  }
  return "?";
}

std::string_view kfile_name(KFile k) {
  switch (k) {
    case KFile::none:
      return "none";
    case KFile::preserved:
      return "preserved";
    case KFile::restorable:
      return "restorable";
    case KFile::retrieved:
      return "retrieved";
    case KFile::retrieve_failed:
      return "retrieve_failed";
  }
  return "?";
}

std::string_view sess_name(Sess s) {
  switch (s) {
    case Sess::none:
      return "none";
    case Sess::outgoing:
      return "outgoing";
    case Sess::incoming:
      return "incoming";
    case Sess::retrieved:
      return "retrieved";
    case Sess::finished:
      return "finished";
  }
  return "?";
}

std::string_view hijack_name(Hijack h) {
  switch (h) {
    case Hijack::none:
      return "none";
    case Hijack::stored:
      return "stored";
    case Hijack::staged:
      return "staged";
    case Hijack::gone:
      return "gone";
    case Hijack::carried:
      return "carried";
  }
  return "?";
}

bool legitimate(Reason r) {
  switch (r) {
    case Reason::token_conflict:
    case Reason::mapping_lost:
    case Reason::silent:
      return false;
    default:
      return true;
  }
}

std::string_view action_kind_name(ActionKind k) {
  switch (k) {
    case ActionKind::store:
      return "store";
    case ActionKind::remove:
      return "remove";
    case ActionKind::open_session:
      return "open_session";
    case ActionKind::store_session:
      return "store_session";
    case ActionKind::resume_session:
      return "resume_session";
    case ActionKind::hijack:
      return "hijack";
    case ActionKind::crash:
      return "crash";
    case ActionKind::start:
      return "start";
    case ActionKind::load_owner:
      return "load_owner";
    case ActionKind::reload:
      return "reload";
    case ActionKind::restore_begin:
      return "restore_begin";
    case ActionKind::dispatch:
      return "dispatch";
    case ActionKind::finish:
      return "finish";
    case ActionKind::agent_crash:
      return "agent_crash";
    case ActionKind::stage_a:
      return "stage_a";
    case ActionKind::stage_b:
      return "stage_b";
    case ActionKind::kexec:
      return "kexec";
  }
  return "?";
}

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

// ---------------------------------------------------------------------------------------------
// The steps. Every change of an entry, a session, a file or a pipeline goes through one of the
// model's machines; what is written here is only which event happens to whom, in what order.

class Stepper {
 public:
  Stepper(const World& w, const State& s) : w_(w), b_(w.bounds()), s_(s) {}

  State& state() { return s_; }
  Violations violations() const { return v_; }
  void violate(PropertyId id) { v_ |= bit(id); }

  // --- machines ---
  Entry entry_step(Entry e, FdEntryEvent ev, const Facts& f = {}) const {
    return from_machine(select(kFdEntryMachine, to_machine(e), ev, b_.profile, f).to);
  }
  HandoffState pipe_step(HandoffState h, HandoffEvent ev, const Facts& f = {}) const {
    return select(kHandoffMachine, h, ev, b_.profile, f).to;
  }
  static FileState to_file(KFile k) {
    switch (k) {
      case KFile::preserved:
        return FileState::preserved;
      case KFile::restorable:
        return FileState::restorable;
      case KFile::retrieved:
        return FileState::retrieved;
      case KFile::retrieve_failed:
        return FileState::retrieve_failed;
      case KFile::none:
        break;
    }
    return FileState::unpreserved;
  }
  static KFile from_file(FileState f) {
    switch (f) {
      case FileState::preserved:
        return KFile::preserved;
      case FileState::restorable:
        return KFile::restorable;
      case FileState::retrieved:
        return KFile::retrieved;
      case FileState::retrieve_failed:
        return KFile::retrieve_failed;
      default:
        return KFile::none;  // unpreserved, finished, discarded, dropped: LUO let go of it
    }
  }
  KFile file_step(KFile k, FileEvent ev, const Facts& f = {}) const {
    if (k == KFile::none)
      return k;
    return from_file(select(kFileMachine, to_file(k), ev, b_.profile, f).to);
  }
  // A successful reboot(): freeze, then the jump (frozen is never seen between steps).
  KFile freeze_and_reboot(KFile k) const {
    if (k != KFile::preserved)
      return file_step(k, FileEvent::reboot);
    const FileState frozen =
        select(kFileMachine, FileState::preserved, FileEvent::freeze, b_.profile, Facts{}).to;
    return from_file(select(kFileMachine, frozen, FileEvent::reboot, b_.profile, Facts{}).to);
  }

  bool fault_left() const { return s_.faults < b_.faults; }
  bool errno_ok() const { return b_.errnos && fault_left(); }
  bool crash_ok() const { return b_.crashes && fault_left(); }

  // --- who holds what ---
  static bool manager_holds(Entry e) {
    return e == Entry::stored || e == Entry::held || e == Entry::staged || e == Entry::preserved ||
           e == Entry::restorable;
  }
  bool session_held(int j) const {
    const auto& x = s_.session[j];
    return x.svc || x.mgr;
  }
  void set_session_entry(int j, Entry e, Reason why = Reason::none) {
    auto& x = s_.session[j];
    x.e = e;
    if (why != Reason::none)
      x.why = why;
    x.mgr = manager_holds(e);
  }
  // The last fd of a session is gone: the kernel acts on the session (§2.3, §2.4).
  void release_if_unheld(int j) {
    auto& x = s_.session[j];
    if (session_held(j))
      return;
    switch (x.ss) {
      case Sess::outgoing: {
        const auto to = select(kOutgoingSessionMachine, OutgoingSessionState::preserving,
                               OutgoingSessionEvent::release, b_.profile, Facts{})
                            .to;
        if (to == OutgoingSessionState::closed)
          x.ss = Sess::none;  // its memory is unpreserved: gone unless someone retrieved it
        break;
      }
      case Sess::retrieved:
      case Sess::finished: {
        const auto from = x.ss == Sess::retrieved ? IncomingSessionState::retrieved
                                                  : IncomingSessionState::finished;
        const auto to = select(kIncomingSessionMachine, from, IncomingSessionEvent::release,
                               b_.profile, Facts{})
                            .to;
        if (to == IncomingSessionState::gone)
          x.ss = Sess::none;  // implicit FINISH: an unretrieved memory is discarded
        break;
      }
      case Sess::none:
      case Sess::incoming:
        break;
    }
  }
  // The service dies or stops: what it alone held goes with it.
  void service_gone(int o, Entry unstored_fate) {
    for (int d = o * b_.fds; d < (o + 1) * b_.fds; ++d) {
      if (s_.fd[d].e == Entry::unborn)
        s_.fd[d].e = unstored_fate;
    }
    for (int j = 0; j < b_.sessions; ++j) {
      auto& x = s_.session[j];
      if (w_.owner_of_session(j) != o || !x.svc)
        continue;
      x.svc = false;
      release_if_unheld(j);
      if (x.ss == Sess::none && x.e == Entry::unborn) {
        x.e = Entry::abandoned;
        x.why = Reason::owner_crashed;
      }
    }
  }

  // --- one action each ---
  bool services_may_act() const {
    return s_.out == HandoffState::running &&
           (s_.rst == HandoffState::finished || s_.rst == HandoffState::nothing);
  }

  bool store(int d) {
    const int o = w_.owner_of_fd(d);
    auto& f = s_.fd[d];
    if (!services_may_act() || !s_.owner[o].loaded || !s_.owner[o].alive || f.e != Entry::unborn)
      return false;
    // §1.4: the store is full exactly for an owner loaded with FileDescriptorStoreMax=0; the
    // others have room for every fd and session they can push.
    if (s_.owner[o].zero) {
      f.e = Entry::dropped;
      f.why = Reason::store_full;
    } else {
      f.e = Entry::stored;
    }
    return true;
  }

  bool remove(int d) {
    const int o = w_.owner_of_fd(d);
    auto& f = s_.fd[d];
    if (!services_may_act() || !s_.owner[o].alive || f.e != Entry::stored || f.foreign)
      return false;
    f.e = entry_step(f.e, FdEntryEvent::remove);
    f.why = Reason::removed;
    return true;
  }

  bool open_session(int j) {
    const int o = w_.owner_of_session(j);
    auto& x = s_.session[j];
    const bool entry_free = !manager_holds(x.e) && x.e != Entry::handed_over;
    if (!services_may_act() || !s_.owner[o].loaded || !s_.owner[o].alive || x.ss != Sess::none ||
        !entry_free) {
      return false;
    }
    // CREATE_SESSION (its own name is free: only this VMM uses it) and PRESERVE_FD of its memory.
    x = SessionSlot{Sess::outgoing, Entry::unborn, Reason::none, true, false};
    return true;
  }

  bool store_session(int j) {
    const int o = w_.owner_of_session(j);
    auto& x = s_.session[j];
    if (!services_may_act() || !s_.owner[o].alive || x.ss != Sess::outgoing || !x.svc ||
        x.e != Entry::unborn) {
      return false;
    }
    if (s_.owner[o].zero)
      set_session_entry(j, Entry::dropped, Reason::store_full);
    else
      set_session_entry(j, Entry::stored);
    return true;
  }

  bool resume_session(int j) {
    const int o = w_.owner_of_session(j);
    auto& x = s_.session[j];
    if (!services_may_act() || !s_.owner[o].alive || x.e != Entry::stored ||
        x.ss != Sess::retrieved) {
      return false;
    }
    // RETRIEVE_FD of its memory, FINISH, FDSTOREREMOVE of the old session fd: the memory is
    // back with the VMM and the session goes when its last fd does.
    x.ss = select(kIncomingSessionMachine, IncomingSessionState::retrieved,
                  IncomingSessionEvent::finish, b_.profile, Facts{})
                       .to == IncomingSessionState::finished
               ? Sess::finished
               : x.ss;
    set_session_entry(j, entry_step(x.e, FdEntryEvent::remove), Reason::removed);
    release_if_unheld(j);
    return true;
  }

  bool hijack() {
    if (!b_.hijack || !services_may_act() || !s_.owner[0].loaded || !s_.owner[0].alive ||
        s_.hj != Hijack::none || s_.owner[0].zero) {
      return false;
    }
    s_.hj = Hijack::stored;
    return true;
  }

  bool crash(int o) {
    if (!crash_ok() || s_.out != HandoffState::running || !s_.owner[o].alive)
      return false;
    ++s_.faults;
    // It is restarted at once, without what it had not stored yet.
    service_gone(o, Entry::abandoned);
    for (int d = o * b_.fds; d < (o + 1) * b_.fds; ++d)
      environment::service_crashed(s_.fd[d].e, s_.fd[d].why);
    return true;
  }

  bool start(int o) {
    if (!services_may_act() || !s_.owner[o].loaded || s_.owner[o].alive)
      return false;
    s_.owner[o].alive = true;
    return true;
  }

  // Held entries of owner `o` are offered again (HeldFds::owner_loaded).
  void retry_held(int o) {
    if (b_.mutant == Mutant::never_retry_held)
      return;
    Facts f;
    f.set(Guard::store_full, s_.owner[o].zero);
    for (int d = o * b_.fds; d < (o + 1) * b_.fds; ++d) {
      auto& x = s_.fd[d];
      if (x.e != Entry::held || x.foreign)
        continue;
      x.e = entry_step(x.e, FdEntryEvent::owner_loaded, f);
      if (x.e == Entry::dropped)
        x.why = Reason::store_full;
    }
    for (int j = 0; j < b_.sessions; ++j) {
      if (w_.owner_of_session(j) != o || s_.session[j].e != Entry::held)
        continue;
      const Entry to = entry_step(Entry::held, FdEntryEvent::owner_loaded, f);
      set_session_entry(j, to, to == Entry::dropped ? Reason::store_full : Reason::none);
      release_if_unheld(j);
    }
  }

  bool load_owner(int o, bool zero) {
    if (!b_.late_owners || s_.out != HandoffState::running || s_.owner[o].loaded)
      return false;
    s_.owner[o].loaded = true;
    s_.owner[o].zero = zero;
    retry_held(o);
    return true;
  }

  bool reload() {
    if (s_.out != HandoffState::running)
      return false;
    // Serialized and deserialized: every entry comes back as it was (kFdEntryMachine `reload`
    // keeps stored and held entries), and held ones of loaded owners are offered again.
    for (int d = 0; d < w_.fd_count(); ++d) {
      auto& x = s_.fd[d];
      if (x.e == Entry::stored || x.e == Entry::held)
        x.e = entry_step(x.e, FdEntryEvent::reload);
    }
    for (int o = 0; o < b_.owners; ++o) {
      if (s_.owner[o].loaded)
        retry_held(o);
    }
    return true;
  }

  bool has_mapping_entries() const {
    for (int d = 0; d < w_.fd_count(); ++d) {
      if (s_.fd[d].e == Entry::handed_over)
        return true;
    }
    for (int j = 0; j < b_.sessions; ++j) {
      if (s_.session[j].e == Entry::handed_over)
        return true;
    }
    return false;
  }

  // The next boot's first step: RETRIEVE_SESSION("systemd"), then token 0.
  // fault: 0 none, 1 RETRIEVE_FD of token 0 fails, 2 RETRIEVE_SESSION("systemd") itself fails.
  bool restore_begin(int fault) {
    if (s_.boot == 0 || s_.rst != HandoffState::running || s_.out != HandoffState::running)
      return false;
    if (fault != 0 && !errno_ok())
      return false;
    if (s_.sys != Sess::incoming) {
      Facts f;
      f.set(Guard::name_unknown, true);
      s_.rst = pipe_step(s_.rst, HandoffEvent::retrieve_session, f);
      counter_starts_over();  // no mapping, no counter: it starts over
      return fault == 0;
    }
    if (fault != 0)
      ++s_.faults;
    const std::uint8_t previous = s_.kc;
    // Whether the mapping carries exactly the previous boot's counter (at the cap, only
    // kc_same knows; below it the values say so).
    const bool carried = b_.any_kexecs ? same_counter() : s_.map_kc == previous;
    counter_starts_over();
    if (fault == 2) {
      // Nothing restored and nothing to read the entries from: all reported lost with the
      // failure; the session stays in the kernel until the next kexec drops it.
      Facts f;
      f.set(Guard::retrieve_fails, true);
      s_.rst = pipe_step(s_.rst, HandoffEvent::retrieve_session, f);
      for (int d = 0; d < w_.fd_count(); ++d) {
        auto& x = s_.fd[d];
        if (x.e == Entry::handed_over) {
          x.e = entry_step(x.e, FdEntryEvent::restore, f);
          x.why = Reason::retrieve_failed;
        }
      }
      for (int j = 0; j < b_.sessions; ++j) {
        if (s_.session[j].e == Entry::handed_over)
          set_session_entry(j, entry_step(Entry::handed_over, FdEntryEvent::restore, f),
                            Reason::retrieve_failed);
      }
      return true;
    }
    s_.rst = pipe_step(s_.rst, HandoffEvent::retrieve_session);
    s_.sys = Sess::retrieved;
    Facts rf;
    rf.set(Guard::handler_fails, fault == 1);
    s_.map_kf = file_step(s_.map_kf, FileEvent::retrieve, rf);
    const bool usable = fault == 0 && !s_.sys_hijacked && s_.map_kf == KFile::retrieved &&
                        s_.map_kt == handoff_mapping_token();
    if (usable) {
      // counter_stuck: a counter that cannot go past 3 keeps the carried value from there on.
      const bool stuck = b_.mutant == Mutant::counter_stuck && s_.map_kc >= 3;
      if (!b_.any_kexecs) {
        // The mapping's counter + 1, saturating (§9.2); a bounded world never reaches the cap.
        s_.kc =
            stuck ? s_.map_kc : static_cast<std::uint8_t>(std::min(s_.map_kc + 1, kMaxKexecCount));
        if (s_.kc != previous + 1)
          violate(PropertyId::kexec_count_carried);
      } else {
        // "previous + 1" holds exactly when the mapping carried the previous value and the new
        // one is the mapping's plus one. A stuck counter keeps the mapping's value, which is
        // previous + 1 only if the mapping did not carry the previous value: whatever the
        // concrete values behind the cap, that is a violation too (here the mapping always
        // carries it; were it not, judging it a violation errs on the safe side).
        s_.kc = stuck ? s_.map_kc
                      : static_cast<std::uint8_t>(std::min(s_.map_kc + 1, w_.counter_cap()));
        s_.kc_same = stuck;
        if (stuck || !carried)
          violate(PropertyId::kexec_count_carried);
      }
    }
    if (!usable) {
      // Nothing to dispatch by: every entry is lost, and "systemd" is finished at once (§5.3).
      Facts mf;
      mf.set(Guard::mapping_unusable, true);
      for (int d = 0; d < w_.fd_count(); ++d) {
        auto& x = s_.fd[d];
        if (x.e == Entry::handed_over) {
          x.e = entry_step(x.e, FdEntryEvent::restore, mf);
          x.why = Reason::mapping_unusable;
        }
      }
      for (int j = 0; j < b_.sessions; ++j) {
        if (s_.session[j].e == Entry::handed_over)
          set_session_entry(j, entry_step(Entry::handed_over, FdEntryEvent::restore, mf),
                            Reason::mapping_unusable);
      }
      finish_systemd();
    }
    return true;
  }
  static constexpr std::uint8_t handoff_mapping_token() { return 0; }

  // The counter's three assignments. With any_kexecs they also keep kc_same, the one fact the
  // capped values lose: whether the manager's counter is the one the mapping carries.
  void counter_starts_over() {
    s_.kc = 0;
    if (b_.any_kexecs)
      s_.kc_same = s_.map_kc == 0;  // 0 is below the cap: exact
  }
  void counter_to_mapping() {
    s_.map_kc = s_.kc;
    if (b_.any_kexecs)
      s_.kc_same = true;
  }
  bool same_counter() const {
    const int cap = w_.counter_cap();
    if (s_.kc < cap || s_.map_kc < cap)
      return s_.kc == s_.map_kc;
    return s_.kc_same;
  }

  // FINISH and close "systemd": retrieved files stay with whoever retrieved them, the others
  // are discarded (§3.3).
  void finish_systemd() {
    for (int d = 0; d < w_.fd_count(); ++d)
      s_.fd[d].kf = file_step(s_.fd[d].kf, FileEvent::finish);
    s_.map_kf = file_step(s_.map_kf, FileEvent::finish);
    s_.sys = Sess::none;
    s_.sys_hijacked = false;
    s_.rst = pipe_step(s_.rst, HandoffEvent::finish);
  }

  // The owner's next mapping entry: fds in token order (newest first for restore_lifo), then
  // its sessions. -1: none; entries >= fd_count() are sessions.
  int next_entry(int o) const {
    int best = -1;
    for (int d = o * b_.fds; d < (o + 1) * b_.fds; ++d) {
      const auto& x = s_.fd[d];
      if (x.e != Entry::handed_over)
        continue;
      const bool better = best < 0 || (b_.mutant == Mutant::restore_lifo ? x.mt > s_.fd[best].mt
                                                                         : x.mt < s_.fd[best].mt);
      if (better)
        best = d;
    }
    if (best >= 0)
      return best;
    for (int j = 0; j < b_.sessions; ++j) {
      if (w_.owner_of_session(j) == o && s_.session[j].e == Entry::handed_over)
        return w_.fd_count() + j;
    }
    return -1;
  }

  bool dispatch(int o, bool fault) {
    if (s_.rst != HandoffState::restoring || s_.out != HandoffState::running)
      return false;
    if (fault && !errno_ok())
      return false;
    const int entry = next_entry(o);
    if (entry < 0)
      return false;
    if (fault)
      ++s_.faults;
    const int target = b_.mutant == Mutant::wrong_owner      ? (o + 1) % b_.owners
                       : b_.mutant == Mutant::two_unit_slots ? o % 2
                                                             : o;
    Facts df;
    df.set(Guard::owner_unknown, !s_.owner[target].loaded)
        .set(Guard::store_full, s_.owner[target].loaded && s_.owner[target].zero);

    if (entry >= w_.fd_count()) {
      const int j = entry - w_.fd_count();
      auto& x = s_.session[j];
      // RETRIEVE_SESSION(its name): only an incoming session of that name answers.
      const bool ok = !fault && x.ss == Sess::incoming;
      Facts rf;
      rf.set(Guard::retrieve_fails, !ok);
      const Entry restored = entry_step(x.e, FdEntryEvent::restore, rf);
      if (restored != Entry::restorable) {
        set_session_entry(j, restored, Reason::retrieve_failed);
        return true;
      }
      x.ss = Sess::retrieved;
      if (target != o)
        violate(PropertyId::delivered_to_owner);
      const Entry to = entry_step(restored, FdEntryEvent::dispatch, df);
      set_session_entry(j, to, to == Entry::dropped ? Reason::store_full : Reason::none);
      release_if_unheld(j);
      return true;
    }

    auto& x = s_.fd[entry];
    // No entry of this owner with an earlier token may still wait (the property judges the
    // manager's choice, not the world's search).
    for (int d = o * b_.fds; d < (o + 1) * b_.fds; ++d) {
      if (d != entry && s_.fd[d].e == Entry::handed_over && s_.fd[d].mt < x.mt)
        violate(PropertyId::restore_in_preservation_order);
    }
    // RETRIEVE_FD(the mapping's token): the file the kernel holds under that token.
    int file = -1;
    for (int d = 0; d < w_.fd_count(); ++d) {
      if (s_.fd[d].kf != KFile::none && s_.fd[d].kt == x.mt)
        file = d;
    }
    Facts ff;
    ff.set(Guard::handler_fails, fault);
    if (file >= 0)
      s_.fd[file].kf = file_step(s_.fd[file].kf, FileEvent::retrieve, ff);
    const bool ok = file >= 0 && s_.fd[file].kf == KFile::retrieved;
    Facts rf;
    rf.set(Guard::retrieve_fails, !ok);
    x.e = entry_step(x.e, FdEntryEvent::restore, rf);
    if (x.e != Entry::restorable) {
      x.why = Reason::retrieve_failed;
      return true;
    }
    if (file != entry || target != w_.owner_of_fd(entry))
      violate(PropertyId::delivered_to_owner);
    x.foreign = target != o;
    x.e = entry_step(x.e, FdEntryEvent::dispatch, df);
    if (x.e == Entry::dropped)
      x.why = Reason::store_full;
    return true;
  }

  bool finish() {
    if (s_.rst != HandoffState::restoring || s_.out != HandoffState::running)
      return false;
    const bool waiting = has_mapping_entries();
    if (waiting && b_.mutant != Mutant::finish_before_dispatch)
      return false;
    if (waiting)
      violate(PropertyId::finish_once_after_dispatch);
    finish_systemd();
    return true;
  }

  // Every entry the manager holds is gone with it: lost, with the crash as the reason.
  void manager_loses(Entry e) {
    for (int d = 0; d < w_.fd_count(); ++d) {
      auto& x = s_.fd[d];
      if (x.e == e) {
        x.e = Entry::lost;
        x.why = Reason::agent_crashed;
      }
    }
    for (int j = 0; j < b_.sessions; ++j) {
      if (s_.session[j].e == e) {
        set_session_entry(j, Entry::lost, Reason::agent_crashed);
        release_if_unheld(j);
      }
    }
  }

  bool agent_crash() {
    if (!crash_ok())
      return false;
    switch (s_.out) {
      case HandoffState::running:
        ++s_.faults;
        manager_loses(Entry::stored);
        manager_loses(Entry::held);
        // The stored hijack session's only fd was in the store: it goes with the manager.
        if (s_.hj == Hijack::stored)
          s_.hj = Hijack::gone;
        if (s_.rst == HandoffState::restoring) {
          // Closing the retrieved "systemd" finishes it implicitly: what was not dispatched is
          // discarded, and the restarted manager finds no session to restore (§2.4).
          manager_loses(Entry::handed_over);
          for (int d = 0; d < w_.fd_count(); ++d)
            s_.fd[d].kf = file_step(s_.fd[d].kf, FileEvent::finish);
          s_.map_kf = file_step(s_.map_kf, FileEvent::finish);
          s_.sys = Sess::none;
          s_.sys_hijacked = false;
          s_.rst = HandoffState::nothing;
        }
        return true;
      case HandoffState::serialized:
        ++s_.faults;
        manager_loses(Entry::staged);
        if (s_.hj == Hijack::staged)
          s_.hj = Hijack::gone;
        s_.out = HandoffState::nothing;
        return true;
      case HandoffState::preserved:
        ++s_.faults;
        close_systemd_outgoing();
        manager_loses(Entry::preserved);
        if (s_.hj == Hijack::staged)
          s_.hj = Hijack::gone;
        s_.out = HandoffState::nothing;
        return true;
      default:
        return false;
    }
  }

  // Closing the outgoing "systemd" unpreserves every file in it (§2.3).
  void close_systemd_outgoing() {
    if (s_.sys != Sess::outgoing)
      return;
    for (int d = 0; d < w_.fd_count(); ++d)
      s_.fd[d].kf = file_step(s_.fd[d].kf, FileEvent::unpreserve);
    s_.map_kf = file_step(s_.map_kf, FileEvent::unpreserve);
    s_.sys = Sess::none;
  }

  bool stage_a() {
    if (!services_may_act() || (!b_.any_kexecs && s_.boot >= b_.kexecs))
      return false;
    // The shutdown transaction stops every service first (§3.2 phase 1).
    for (int o = 0; o < b_.owners; ++o) {
      if (s_.owner[o].alive)
        service_gone(o, Entry::abandoned);
      s_.owner[o].alive = false;
    }
    bool any = false;
    for (int d = 0; d < w_.fd_count(); ++d) {
      auto& x = s_.fd[d];
      if (x.e == Entry::held && b_.mutant == Mutant::forget_held_at_stage_a)
        continue;
      // The world's stored fds are memfds: none is the device, so Guard::luo_device stays
      // false here (the row is exercised by tests/scenarios/hostile_service_test.cpp).
      if (x.e == Entry::stored || x.e == Entry::held) {
        x.e = entry_step(x.e, FdEntryEvent::stage);
        any = any || x.e == Entry::staged;
      }
    }
    for (int j = 0; j < b_.sessions; ++j) {
      auto& x = s_.session[j];
      if (x.e != Entry::stored && x.e != Entry::held)
        continue;
      if (x.e == Entry::held && b_.mutant == Mutant::forget_held_at_stage_a)
        continue;
      Facts f;
      f.set(Guard::incoming_session, x.ss != Sess::outgoing);
      const Entry to = entry_step(x.e, FdEntryEvent::stage, f);
      set_session_entry(j, to, to == Entry::dropped ? Reason::not_outgoing : Reason::none);
      release_if_unheld(j);
      any = any || to == Entry::staged;
    }
    if (s_.hj == Hijack::stored) {
      Facts f;
      f.set(Guard::reserved_session_name, b_.mutant != Mutant::no_namespace_guard);
      const Entry to = entry_step(Entry::stored, FdEntryEvent::stage, f);
      s_.hj = to == Entry::staged ? Hijack::staged : Hijack::gone;
      any = any || to == Entry::staged;
    }
    // v262 writes Stage A, and so hands over, on every kexec (§9.3).
    Facts nf;
    nf.set(Guard::nothing_to_hand_over,
           !any && !systemd_profile_has(b_.systemd, SystemdFeature::handover_every_kexec));
    s_.out = pipe_step(s_.out, HandoffEvent::stage_a, nf);
    return true;
  }

  // Stage B failed as a whole: "systemd" is closed, every staged entry lost for `why`, and the
  // third-party sessions, which the mapping can no longer name, are let go.
  void stage_b_aborts(Guard guard, Reason why) {
    close_systemd_outgoing();
    for (int d = 0; d < w_.fd_count(); ++d) {
      auto& x = s_.fd[d];
      if (x.e == Entry::staged || x.e == Entry::preserved) {
        x.e = Entry::lost;
        x.why = why;
      }
    }
    for (int j = 0; j < b_.sessions; ++j) {
      if (s_.session[j].e == Entry::staged || s_.session[j].e == Entry::preserved) {
        set_session_entry(j, Entry::lost, why);
        release_if_unheld(j);
      }
    }
    Facts pf;
    pf.set(guard, true);
    s_.out = pipe_step(s_.out, HandoffEvent::stage_b, pf);
  }

  // A "systemd" still incoming here is the one whose RETRIEVE_SESSION failed this boot: no entry
  // counts on its files any more (they ended retrieve_failed) and the kexec drops it (§2.7).
  // The outgoing "systemd" Stage B creates is another session of the same name (CREATE_SESSION
  // checks only outgoing names), which the world's one "systemd" slot follows from here on.
  void forget_stale_systemd() {
    if (s_.sys != Sess::incoming || s_.sys_hijacked)
      return;
    for (int d = 0; d < w_.fd_count(); ++d)
      s_.fd[d].kf = KFile::none;
    s_.map_kf = KFile::none;
    s_.sys = Sess::none;
  }

  // One PRESERVE_FD into the outgoing "systemd": the outgoing session machine decides.
  Outcome preserve_into_systemd(std::uint8_t token, bool fault) const {
    int files = s_.map_kf != KFile::none ? 1 : 0;
    bool token_used = s_.map_kf != KFile::none && s_.map_kt == token;
    for (int d = 0; d < w_.fd_count(); ++d) {
      if (s_.fd[d].kf == KFile::preserved) {
        ++files;
        token_used = token_used || s_.fd[d].kt == token;
      }
    }
    Facts f;
    f.set(Guard::token_in_use, token_used)
        .set(Guard::file_limit_reached, b_.file_limit > 0 && files >= b_.file_limit)
        .set(Guard::handler_fails, fault);
    return select(kOutgoingSessionMachine,
                  files == 0 ? OutgoingSessionState::created : OutgoingSessionState::preserving,
                  OutgoingSessionEvent::preserve_fd, b_.profile, f)
        .outcome;
  }

  // a: 0 no fault, 1 the mapping's PRESERVE_FD faults, 2+i the i-th entry's; create: the
  // CREATE_SESSION("systemd") faults.
  bool stage_b(int fault_file, bool create_fault) {
    if (s_.out != HandoffState::serialized)
      return false;
    if ((fault_file != 0 || create_fault) && !errno_ok())
      return false;
    if (fault_file != 0 && create_fault)
      return false;
    int staged_fds = 0;
    for (int d = 0; d < w_.fd_count(); ++d)
      staged_fds += s_.fd[d].e == Entry::staged ? 1 : 0;
    if (fault_file > staged_fds + 1)
      return false;
    if (fault_file != 0 || create_fault)
      ++s_.faults;
    forget_stale_systemd();
    if (create_fault) {
      stage_b_aborts(Guard::held_elsewhere, Reason::no_luo);
      return true;
    }
    if (s_.hj == Hijack::staged) {
      // The service's "systemd" is alive: CREATE_SESSION gives EEXIST.
      stage_b_aborts(Guard::name_in_use, Reason::no_luo);
      return true;
    }
    s_.sys = Sess::outgoing;
    const bool mapping_first = b_.mutant != Mutant::mapping_last;
    if (mapping_first) {
      if (!preserve_into_systemd(handoff_mapping_token(), fault_file == 1).ok()) {
        stage_b_aborts(Guard::preserve_fails, Reason::no_luo);
        return true;
      }
      s_.map_kf = KFile::preserved;
      s_.map_kt = handoff_mapping_token();
      counter_to_mapping();  // Stage A wrote the counter, Stage B copies `state`
    }
    // Dense tokens from 1 over the fds that were preserved, owners in order (§3.4).
    std::uint8_t token = 1;
    int i = 0;
    for (int d = 0; d < w_.fd_count(); ++d) {
      auto& x = s_.fd[d];
      if (x.e != Entry::staged)
        continue;
      const Outcome o = preserve_into_systemd(token, fault_file == 2 + i);
      ++i;
      Facts f;
      f.set(Guard::preserve_fails, !o.ok());
      x.e = entry_step(x.e, FdEntryEvent::preserve, f);
      if (!o.ok()) {
        x.why = o.error == Errno::eexist ? Reason::token_conflict : Reason::preserve_refused;
        continue;
      }
      x.kf = KFile::preserved;
      x.kt = token;
      x.mt = token;
      if (b_.mutant != Mutant::token_reuse)
        ++token;
    }
    if (!mapping_first) {
      if (!preserve_into_systemd(handoff_mapping_token(), fault_file == 1).ok()) {
        stage_b_aborts(Guard::preserve_fails,
                       fault_file == 1 ? Reason::no_luo : Reason::mapping_lost);
        return true;
      }
      s_.map_kf = KFile::preserved;
      s_.map_kt = handoff_mapping_token();
      counter_to_mapping();
    }
    // Sessions cannot nest: recorded by name, held open until the kexec.
    for (int j = 0; j < b_.sessions; ++j) {
      if (s_.session[j].e != Entry::staged)
        continue;
      set_session_entry(j, entry_step(Entry::staged, FdEntryEvent::preserve));
      if (b_.mutant == Mutant::close_sessions_early) {
        s_.session[j].mgr = false;
        release_if_unheld(j);
      }
    }
    s_.out = pipe_step(s_.out, HandoffEvent::stage_b);
    return true;
  }

  // The files reboot() freezes, in order: "systemd" (mapping first when it was preserved
  // first) then the third-party sessions.
  int frozen_files() const {
    int n = s_.map_kf == KFile::preserved ? 1 : 0;
    for (int d = 0; d < w_.fd_count(); ++d)
      n += s_.fd[d].kf == KFile::preserved ? 1 : 0;
    for (int j = 0; j < b_.sessions; ++j)
      n += s_.session[j].ss == Sess::outgoing && session_held(j) ? 1 : 0;
    return n;
  }

  bool kexec(int freeze_fault) {
    if (!b_.any_kexecs && s_.boot >= b_.kexecs)
      return false;
    if (s_.out != HandoffState::preserved && s_.out != HandoffState::nothing)
      return false;
    if (freeze_fault != 0 && (!errno_ok() || freeze_fault > frozen_files()))
      return false;
    // Who survives is decided now, before anything moves (third_party property).
    std::array<bool, kMaxSessions> carried{};
    for (int j = 0; j < b_.sessions; ++j)
      carried[j] = s_.session[j].ss == Sess::outgoing && session_held(j);

    if (freeze_fault != 0) {
      ++s_.faults;
      // Rolled back, reboot(KEXEC) returns, the fallback reboot keeps nothing (§3.2 phase 7).
      s_.out = pipe_step(s_.out, HandoffEvent::reboot_fails);
      for (int d = 0; d < w_.fd_count(); ++d) {
        auto& x = s_.fd[d];
        environment::fallback_reboot(x.e, x.why, b_.profile);
        x.kf = KFile::none;
      }
      for (int j = 0; j < b_.sessions; ++j) {
        auto& x = s_.session[j];
        if (environment::lost_in_fallback_reboot(x.e))
          set_session_entry(j, Entry::lost, Reason::reboot_failed);
        x = SessionSlot{Sess::none, x.e, x.why, false, false};
      }
      s_.map_kf = KFile::none;
      s_.sys = Sess::none;
      if (s_.hj == Hijack::staged)
        s_.hj = Hijack::gone;
      next_boot(false);
      return true;
    }

    if (s_.out == HandoffState::preserved)
      s_.out = pipe_step(s_.out, HandoffEvent::kexec);
    // Outgoing "systemd" becomes incoming; its files freeze and are restorable.
    for (int d = 0; d < w_.fd_count(); ++d) {
      auto& x = s_.fd[d];
      // Preserved files are handed over; anything of the old boot still incoming is dropped.
      x.kf = freeze_and_reboot(x.kf);
      if (x.e == Entry::preserved)
        x.e = entry_step(x.e, FdEntryEvent::kexec);
    }
    s_.map_kf = freeze_and_reboot(s_.map_kf);
    const bool manager_systemd = s_.sys == Sess::outgoing;
    s_.sys = Sess::none;
    s_.sys_hijacked = false;
    if (manager_systemd) {
      s_.sys = Sess::incoming;
    } else if (s_.hj == Hijack::staged) {
      s_.sys = Sess::incoming;
      s_.sys_hijacked = true;
      s_.hj = Hijack::carried;
    }
    for (int j = 0; j < b_.sessions; ++j) {
      auto& x = s_.session[j];
      if (x.e == Entry::preserved)
        set_session_entry(j, entry_step(x.e, FdEntryEvent::kexec));
      const bool recorded = x.e == Entry::handed_over;
      x.ss = survives_reboot(j, carried[j]) ? Sess::incoming : Sess::none;
      x.svc = false;
      x.mgr = manager_holds(x.e);
      const bool survived = x.ss == Sess::incoming;
      if (survived != carried[j] || (recorded && !survived))
        violate(PropertyId::third_party_survives_iff_held_outgoing);
    }
    next_boot(true);
    return true;
  }

  // What reboot() does to a third-party session, by the session machines: a held outgoing one
  // is frozen and handed over; an incoming one (retrieved or not) is dropped (§2.7).
  bool survives_reboot(int j, bool held) const {
    switch (s_.session[j].ss) {
      case Sess::outgoing: {
        if (!held)
          return false;
        const auto frozen = select(kOutgoingSessionMachine, OutgoingSessionState::preserving,
                                   OutgoingSessionEvent::freeze, b_.profile, Facts{})
                                .to;
        return select(kOutgoingSessionMachine, frozen, OutgoingSessionEvent::reboot, b_.profile,
                      Facts{})
                   .to == OutgoingSessionState::handed_over;
      }
      case Sess::incoming:
      case Sess::retrieved:
      case Sess::finished: {
        const auto from = s_.session[j].ss == Sess::incoming    ? IncomingSessionState::deserialized
                          : s_.session[j].ss == Sess::retrieved ? IncomingSessionState::retrieved
                                                                : IncomingSessionState::finished;
        return select(kIncomingSessionMachine, from, IncomingSessionEvent::reboot, b_.profile,
                      Facts{})
                   .to != IncomingSessionState::dropped;
      }
      case Sess::none:
        break;
    }
    return false;
  }

  // With any_kexecs: why an entry ended in a boot before this one. No step reads an ended
  // entry's reason (losses_have_legitimate_reasons judged it in the state where it ended), and an
  // abandoned entry's is only ever written (a crash names itself where none is set), so a
  // legitimate reason becomes earlier_boot (a removed entry's stays "removed", its only one) and
  // an abandoned entry's is cleared. Otherwise every combination of past endings would be a state
  // of its own: with a fault budget per boot, each boot can end another entry for another reason,
  // and the combinations multiply (docs/properties.md measures it). An illegitimate reason is
  // kept: it is a violation on record.
  void forget_endings() {
    const auto forget = [](Entry e, Reason& why) {
      const bool ended =
          e == Entry::removed || e == Entry::released || e == Entry::dropped || e == Entry::lost;
      if (e == Entry::abandoned)
        why = Reason::none;
      else if (ended && e != Entry::removed && legitimate(why) && why != Reason::none)
        why = Reason::earlier_boot;
    };
    for (int d = 0; d < w_.fd_count(); ++d)
      forget(s_.fd[d].e, s_.fd[d].why);
    for (int j = 0; j < b_.sessions; ++j)
      forget(s_.session[j].e, s_.session[j].why);
  }

  void next_boot(bool luo_data) {
    if (b_.any_kexecs) {
      // Nothing tells boot 2 from boot 7 but its number: "a later boot" is all the world keeps,
      // and each boot gets the whole fault budget afresh (so any run with F faults in all is
      // among these, whatever its number of kexecs).
      s_.boot = 1;
      s_.faults = 0;
      forget_endings();
    } else {
      ++s_.boot;
    }
    // A fallback reboot is a cold boot: nothing carries the counter, and there is no restore.
    if (!luo_data)
      counter_starts_over();
    s_.out = HandoffState::running;
    s_.rst = luo_data ? HandoffState::running : HandoffState::nothing;
    if (s_.hj == Hijack::stored || s_.hj == Hijack::staged)
      s_.hj = Hijack::gone;
    for (int o = 0; o < b_.owners; ++o) {
      s_.owner[o].loaded = !b_.late_owners;
      s_.owner[o].zero = false;
      s_.owner[o].alive = false;
    }
  }

 private:
  const World& w_;
  const Bounds& b_;
  State s_;
  Violations v_ = 0;
};

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
