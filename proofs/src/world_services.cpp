// The services' actions of the world (Stepper, stepper.hpp): store and remove memfds, open, store
// and resume a VMM's session, push a session named "systemd", crash and start; and what the
// kernel does when a session's last fd is gone. Services act only while the shutdown has not
// begun and the restore is over (or there is none).
#include <algorithm>

#include "luo/proofs/world_environment.hpp"
#include "stepper.hpp"

namespace luo::proofs {

// The last fd of a session is gone: the kernel acts on the session (§2.3, §2.4).
void Stepper::release_if_unheld(int j) {
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
      const auto to =
          select(kIncomingSessionMachine, from, IncomingSessionEvent::release, b_.profile, Facts{})
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
void Stepper::service_gone(int o, Entry unstored_fate) {
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
bool Stepper::services_may_act() const {
  return s_.out == HandoffState::running &&
         (s_.rst == HandoffState::finished || s_.rst == HandoffState::nothing);
}

bool Stepper::store(int d) {
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

bool Stepper::remove(int d) {
  const int o = w_.owner_of_fd(d);
  auto& f = s_.fd[d];
  if (!services_may_act() || !s_.owner[o].alive || f.e != Entry::stored || f.foreign)
    return false;
  f.e = entry_step(f.e, FdEntryEvent::remove);
  f.why = Reason::removed;
  return true;
}

bool Stepper::open_session(int j) {
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

bool Stepper::store_session(int j) {
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

bool Stepper::resume_session(int j) {
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

bool Stepper::hijack() {
  if (!b_.hijack || !services_may_act() || !s_.owner[0].loaded || !s_.owner[0].alive ||
      s_.hj != Hijack::none || s_.owner[0].zero) {
    return false;
  }
  s_.hj = Hijack::stored;
  return true;
}

bool Stepper::crash(int o) {
  if (!crash_ok() || s_.out != HandoffState::running || !s_.owner[o].alive)
    return false;
  ++s_.faults;
  // It is restarted at once, without what it had not stored yet.
  service_gone(o, Entry::abandoned);
  for (int d = o * b_.fds; d < (o + 1) * b_.fds; ++d)
    environment::service_crashed(s_.fd[d].e, s_.fd[d].why);
  return true;
}

bool Stepper::start(int o) {
  if (!services_may_act() || !s_.owner[o].loaded || s_.owner[o].alive)
    return false;
  s_.owner[o].alive = true;
  return true;
}

}  // namespace luo::proofs
