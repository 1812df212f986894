// The manager's crash, the shutdown and the next boot of the world (Stepper, stepper.hpp): Stage A
// stops the services and stages the stores, Stage B creates "systemd" and preserves the mapping
// at token 0 and the entries at tokens 1.., reboot(KEXEC) freezes and hands over (or rolls back
// into the fallback reboot, which keeps nothing), and the next boot starts with the services
// stopped and the owners not yet loaded.
#include <algorithm>

#include "luo/proofs/world_environment.hpp"
#include "stepper.hpp"

namespace luo::proofs {

// Every entry the manager holds (those `held` names) is gone with it: lost, with the crash as
// the reason.
void Stepper::manager_loses(const auto& held) {
  for (int d = 0; d < w_.fd_count(); ++d) {
    auto& x = s_.fd[d];
    if (held(x.e)) {
      x.e = Entry::lost;
      x.why = Reason::agent_crashed;
    }
  }
  for (int j = 0; j < b_.sessions; ++j) {
    if (held(s_.session[j].e)) {
      set_session_entry(j, Entry::lost, Reason::agent_crashed);
      release_if_unheld(j);
    }
  }
}

bool Stepper::agent_crash() {
  if (!crash_ok())
    return false;
  const auto lost_with_it = [out = s_.out](Entry e) {
    return environment::lost_with_manager(e, out);
  };
  switch (s_.out) {
    case HandoffState::running:
      ++s_.faults;
      manager_loses(lost_with_it);
      // The stored hijack session's only fd was in the store: it goes with the manager.
      if (s_.hj == Hijack::stored)
        s_.hj = Hijack::gone;
      if (s_.rst == HandoffState::restoring) {
        // Closing the retrieved "systemd" finishes it implicitly: what was not dispatched is
        // discarded, and the restarted manager finds no session to restore (§2.4).
        manager_loses([](Entry e) { return e == Entry::handed_over; });
        for (int d = 0; d < w_.fd_count(); ++d)
          s_.fd[d].kf = file_step(s_.fd[d].kf, FileEvent::finish);
        s_.map_kf = file_step(s_.map_kf, FileEvent::finish);
        s_.sys = Sess::none;
        s_.sys_hijacked = false;
        s_.rst = HandoffState::nothing;
      }
      return true;
    case HandoffState::serialized:
    case HandoffState::preserved:
      ++s_.faults;
      if (s_.out == HandoffState::preserved)
        close_systemd_outgoing();
      manager_loses(lost_with_it);
      if (s_.hj == Hijack::staged)
        s_.hj = Hijack::gone;
      s_.out = HandoffState::nothing;
      return true;
    // No shutdown side left to crash (it ended, or handed over), or states only the restore takes.
    case HandoffState::handed_over:
    case HandoffState::nothing:
    case HandoffState::lost:
    case HandoffState::restoring:
    case HandoffState::finished:
      return false;
  }
  return false;
}

// Closing the outgoing "systemd" unpreserves every file in it (§2.3).
void Stepper::close_systemd_outgoing() {
  if (s_.sys != Sess::outgoing)
    return;
  for (int d = 0; d < w_.fd_count(); ++d)
    s_.fd[d].kf = file_step(s_.fd[d].kf, FileEvent::unpreserve);
  s_.map_kf = file_step(s_.map_kf, FileEvent::unpreserve);
  s_.sys = Sess::none;
}

bool Stepper::stage_a() {
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
void Stepper::stage_b_aborts(Guard guard, Reason why) {
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
void Stepper::forget_stale_systemd() {
  if (s_.sys != Sess::incoming || s_.sys_hijacked)
    return;
  for (int d = 0; d < w_.fd_count(); ++d)
    s_.fd[d].kf = KFile::none;
  s_.map_kf = KFile::none;
  s_.sys = Sess::none;
}

// One PRESERVE_FD into the outgoing "systemd": the outgoing session machine decides.
Outcome Stepper::preserve_into_systemd(std::uint8_t token, bool fault) const {
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
bool Stepper::stage_b(int fault_file, bool create_fault) {
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
  if (mapping_first && b_.mutant != Mutant::mapping_skipped) {
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
    x.mt = b_.mutant == Mutant::mapping_off_by_one ? static_cast<std::uint8_t>(token + 1) : token;
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
int Stepper::frozen_files() const {
  int n = s_.map_kf == KFile::preserved ? 1 : 0;
  for (int d = 0; d < w_.fd_count(); ++d)
    n += s_.fd[d].kf == KFile::preserved ? 1 : 0;
  for (int j = 0; j < b_.sessions; ++j)
    n += s_.session[j].ss == Sess::outgoing && session_held(j) ? 1 : 0;
  return n;
}

bool Stepper::kexec(int freeze_fault) {
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
bool Stepper::survives_reboot(int j, bool held) const {
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
void Stepper::forget_endings() {
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

void Stepper::next_boot(bool luo_data) {
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

}  // namespace luo::proofs
