// Owners, daemon-reload and the boot restore of the world (Stepper, stepper.hpp). An owner that
// appears late, and every daemon-reload, offers the held entries again. The next boot retrieves
// "systemd", reads token 0 (the mapping, with the kexec counter), dispatches each owner's entries
// in token order and FINISHes "systemd"; a failure at any step is reported per entry.
#include <algorithm>

#include "stepper.hpp"

namespace luo::proofs {

// Held entries of owner `o` are offered again (HeldFds::owner_loaded).
void Stepper::retry_held(int o) {
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

bool Stepper::load_owner(int o, bool zero) {
  if (!b_.late_owners || s_.out != HandoffState::running || s_.owner[o].loaded)
    return false;
  s_.owner[o].loaded = true;
  s_.owner[o].zero = zero;
  retry_held(o);
  return true;
}

bool Stepper::reload() {
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

bool Stepper::has_mapping_entries() const {
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

// The restore cannot deliver (f says why): every handed-over entry, fd or session, takes the
// restore event into its ending, for `why`.
void Stepper::handed_over_lost(const Facts& f, Reason why) {
  for (int d = 0; d < w_.fd_count(); ++d) {
    auto& x = s_.fd[d];
    if (x.e == Entry::handed_over) {
      x.e = entry_step(x.e, FdEntryEvent::restore, f);
      x.why = why;
    }
  }
  for (int j = 0; j < b_.sessions; ++j) {
    if (s_.session[j].e == Entry::handed_over)
      set_session_entry(j, entry_step(Entry::handed_over, FdEntryEvent::restore, f), why);
  }
}

// The next boot's first step: RETRIEVE_SESSION("systemd"), then token 0.
// fault: 0 none, 1 RETRIEVE_FD of token 0 fails, 2 RETRIEVE_SESSION("systemd") itself fails.
bool Stepper::restore_begin(int fault) {
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
    handed_over_lost(f, Reason::retrieve_failed);
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
      s_.kc =
          stuck ? s_.map_kc : static_cast<std::uint8_t>(std::min(s_.map_kc + 1, w_.counter_cap()));
      s_.kc_same = stuck;
      if (stuck || !carried)
        violate(PropertyId::kexec_count_carried);
    }
  }
  if (!usable) {
    // Nothing to dispatch by: every entry is lost, and "systemd" is finished at once (§5.3).
    Facts mf;
    mf.set(Guard::mapping_unusable, true);
    handed_over_lost(mf, Reason::mapping_unusable);
    finish_systemd();
  }
  return true;
}

// The counter's three assignments. With any_kexecs they also keep kc_same, the one fact the
// capped values lose: whether the manager's counter is the one the mapping carries.
void Stepper::counter_starts_over() {
  s_.kc = 0;
  if (b_.any_kexecs)
    s_.kc_same = s_.map_kc == 0;  // 0 is below the cap: exact
}

void Stepper::counter_to_mapping() {
  s_.map_kc = s_.kc;
  if (b_.any_kexecs)
    s_.kc_same = true;
}

bool Stepper::same_counter() const {
  const int cap = w_.counter_cap();
  if (s_.kc < cap || s_.map_kc < cap)
    return s_.kc == s_.map_kc;
  return s_.kc_same;
}

// FINISH and close "systemd": retrieved files stay with whoever retrieved them, the others
// are discarded (§3.3).
void Stepper::finish_systemd() {
  for (int d = 0; d < w_.fd_count(); ++d)
    s_.fd[d].kf = file_step(s_.fd[d].kf, FileEvent::finish);
  s_.map_kf = file_step(s_.map_kf, FileEvent::finish);
  s_.sys = Sess::none;
  s_.sys_hijacked = false;
  s_.rst = pipe_step(s_.rst, HandoffEvent::finish);
}

// The owner's next mapping entry: fds in token order (newest first for restore_lifo), then
// its sessions. -1: none; entries >= fd_count() are sessions.
int Stepper::next_entry(int o) const {
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

bool Stepper::dispatch(int o, bool fault) {
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

bool Stepper::finish() {
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

}  // namespace luo::proofs
