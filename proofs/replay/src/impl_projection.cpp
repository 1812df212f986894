// The implementation's side of the projection (replayer.hpp): where the HandoffManager keeps
// each entry, the kernel's view from the simulator's snapshot and the recorded PRESERVE_FD calls,
// and the ledger of what the object reported.
#include <algorithm>

#include "identities.hpp"
#include "replayer.hpp"

namespace luo::proofs::replay_detail {

// ---------------------------------------------------------------------------------------------
// Where the implementation keeps each entry.

std::map<std::pair<int, int>, Replayer::Where> Replayer::locate_fds() const {
  std::map<std::pair<int, int>, Where> at;
  for (const auto& [id, store] : mgr_.owners().owners()) {
    const auto o = owner_of_id(id);
    for (const auto& e : store.entries()) {
      if (auto l = label_of_contents(head_of(e.fd.get())))
        at[*l].store_owner = o.value_or(-1);
    }
  }
  for (const auto& [id, items] : mgr_.held().entries()) {
    for (const auto& h : items) {
      if (auto l = label_of_contents(head_of(h.item.fd.get())))
        at[*l].held = true;
    }
  }
  return at;
}

bool Replayer::store_has(int o, std::string_view name) const {
  const FdStore* s = mgr_.owners().find(owner_id(o));
  if (s == nullptr)
    return false;
  return std::any_of(s->entries().begin(), s->entries().end(),
                     [&](const FdStoreEntry& e) { return e.name == name; });
}

bool Replayer::held_has(int o, std::string_view name) const {
  const auto it = mgr_.held().entries().find(owner_id(o));
  if (it == mgr_.held().entries().end())
    return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](const HeldFds::Held& h) { return h.item.name == name; });
}

bool Replayer::staged_has(int o, std::string_view name) const {
  const StageAResult* staged = mgr_.stage_a_result();
  if (staged == nullptr)
    return false;
  for (const auto& u : staged->document.units) {
    if (u.unit != owner_id(o))
      continue;
    for (const auto& e : u.fdstore) {
      if (e.name == name)
        return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The implementation's projection.

// The world keeps two pipelines, the object one: its restore runs inside this boot's `running`.
HandoffState Replayer::shutdown_state() const {
  return mgr_.state() == HandoffState::restoring ? HandoffState::running : mgr_.state();
}

HandoffState Replayer::restore_state() const {
  if (mgr_.restore_in_progress())
    return HandoffState::restoring;
  if (const RestoreResult* r = mgr_.restore_result())
    return r->state;
  return boot_has_data_ ? HandoffState::running : HandoffState::nothing;
}

Projection Replayer::project_impl() {
  Projection p;
  p.boot = boot_;
  p.out = shutdown_state();
  p.rst = restore_state();
  const auto snap = kernel_.snapshot();

  // "systemd": the manager's, or (token 99) the hijacker's.
  const SimulatedKernel::Snapshot::IncomingSession* in_sys = nullptr;
  for (const auto& s : snap.outgoing) {
    if (s.name != handoff::kSessionName)
      continue;
    if (std::find(s.tokens.begin(), s.tokens.end(), kHijackToken) != s.tokens.end())
      continue;
    p.sys = Sess::outgoing;
    if (std::find(s.tokens.begin(), s.tokens.end(), handoff::kMappingToken) != s.tokens.end())
      p.map_kf = KFile::preserved;
  }
  const auto file_state = [](SimulatedKernel::IncomingFileState f) {
    switch (f) {
      case SimulatedKernel::IncomingFileState::preserved:
        return KFile::restorable;
      case SimulatedKernel::IncomingFileState::retrieved:
        return KFile::retrieved;
      case SimulatedKernel::IncomingFileState::failed:
        return KFile::retrieve_failed;
      case SimulatedKernel::IncomingFileState::finished:
      case SimulatedKernel::IncomingFileState::discarded:
        return KFile::none;
    }
    return KFile::none;
  };
  const auto session_state = [](const SimulatedKernel::Snapshot::IncomingSession& s) {
    switch (s.state) {
      case SimulatedKernel::IncomingSessionState::deserialized:
        return Sess::incoming;
      case SimulatedKernel::IncomingSessionState::retrieved:
        return Sess::retrieved;
      case SimulatedKernel::IncomingSessionState::finished:
        return Sess::finished;
    }
    return Sess::none;
  };
  for (const auto& s : snap.incoming) {
    // Once Stage B ran, the world follows the outgoing "systemd" only: an incoming one left
    // over (its RETRIEVE_SESSION failed) waits for the kexec to drop it.
    if (s.name != handoff::kSessionName || stage_b_tried_)
      continue;
    const bool hijacked = std::any_of(s.files.begin(), s.files.end(),
                                      [](const auto& f) { return f.token == kHijackToken; });
    const Sess ss = session_state(s);
    if (ss == Sess::finished)
      continue;  // the world closes "systemd" with its FINISH
    p.sys = ss;
    p.sys_hijacked = hijacked;
    if (!hijacked)
      in_sys = &s;
    for (const auto& f : s.files) {
      if (f.token == handoff::kMappingToken && !hijacked)
        p.map_kf = file_state(f.state);
    }
  }

  if (b_.hijack) {
    if (hijack_carried_)
      p.hj = Hijack::carried;
    else if (store_has(0, kHijackName))
      p.hj = Hijack::stored;
    else if (staged_has(0, kHijackName) && !hijack_dropped_)
      p.hj = Hijack::staged;
    else if (hijack_made_)
      p.hj = Hijack::gone;
  }

  for (int o = 0; o < b_.owners; ++o) {
    // The object's stores close at Stage A; the world's owners stay loaded as they were.
    const FdStore* s = mgr_.owners().find(owner_id(o));
    const bool closed = shutdown_state() != HandoffState::running;
    p.owner[o] = closed ? loaded_at_stage_a_[o]
                        : OwnerSlot{s != nullptr, s != nullptr && s->config().max == 0, false};
    p.owner[o].alive = alive_[o];
  }

  // Where each memfd is.
  const auto at = locate_fds();
  const StageBResult* preserved = mgr_.stage_b_result();
  const handoff::StageB* mapping = mgr_.state() == HandoffState::preserved && preserved != nullptr
                                       ? &preserved->mapping
                                   : handed_ ? &*handed_
                                             : nullptr;
  const auto mapping_token = [&](int o, int label) -> std::optional<std::uint64_t> {
    if (mapping == nullptr)
      return std::nullopt;
    for (const auto& u : mapping->units) {
      if (u.unit != owner_id(o))
        continue;
      for (const auto& e : u.fdstore) {
        if (e.name == fd_name(label))
          return e.token;
      }
    }
    return std::nullopt;
  };
  std::vector<std::uint64_t> out_tokens;
  for (const auto& s : snap.outgoing) {
    if (s.name == handoff::kSessionName &&
        std::find(s.tokens.begin(), s.tokens.end(), kHijackToken) == s.tokens.end())
      out_tokens = s.tokens;
  }
  for (int o = 0; o < b_.owners; ++o) {
    std::array<std::optional<std::uint64_t>, kMaxFdsPerOwner> token{};
    for (int i = 0; i < b_.fds; ++i) {
      const int label = perm_[o][i];
      FdView& v = p.fd[o * b_.fds + i];
      const Ledger& l = fd_[o][label];
      v.e = l.e;
      v.why = l.why;
      const auto it = at.find({o, label});
      if (it != at.end() && it->second.store_owner >= 0) {
        v.e = Entry::stored;
        v.why = Reason::none;
        v.foreign = it->second.store_owner != o;
      } else if (it != at.end() && it->second.held) {
        v.e = Entry::held;
        v.why = Reason::none;
      } else if (l.e == Entry::stored || l.e == Entry::held) {
        // The implementation's own account says it has the fd; no store and no held list does.
        v.e = Entry::lost;
        v.why = Reason::silent;
      }
      // The kernel's file.
      if (auto t = out_tokens_.find({o, label});
          t != out_tokens_.end() && p.sys == Sess::outgoing) {
        if (std::find(out_tokens.begin(), out_tokens.end(), t->second) != out_tokens.end()) {
          v.kf = KFile::preserved;
          token[i] = t->second;
        }
      }
      if (auto t = in_tokens_.find({o, label}); t != in_tokens_.end() && in_sys != nullptr) {
        for (const auto& f : in_sys->files) {
          if (f.token == t->second && file_state(f.state) != KFile::none) {
            v.kf = file_state(f.state);
            token[i] = t->second;
          }
        }
      }
      if (in_mapping(v.e)) {
        const auto mt = mapping_token(o, label);
        v.mapping_ok = token[i] && mt && *mt == *token[i] && *mt != 0;
      }
    }
    for (int i = 0; i < b_.fds; ++i) {
      if (!token[i])
        continue;
      int rank = 0;
      for (int k = 0; k < b_.fds; ++k)
        rank += token[k] && *token[k] < *token[i] ? 1 : 0;
      p.fd[o * b_.fds + i].rank = rank;
    }
  }

  for (int j = 0; j < b_.sessions; ++j) {
    SessionView& v = p.session[j];
    const std::string name = session_name(j);
    for (const auto& s : snap.outgoing) {
      if (s.name == name)
        v.ss = Sess::outgoing;
    }
    for (const auto& s : snap.incoming) {
      if (s.name == name)
        v.ss = session_state(s);
    }
    v.e = sess_[j].e;
    v.why = sess_[j].why;
    v.svc = svc_[j].has_value();
    const int o = w_.owner_of_session(j);
    v.mgr =
        store_has(o, name) || held_has(o, name) ||
        (staged_has(o, name) && (sess_[j].e == Entry::staged || sess_[j].e == Entry::preserved));
    if ((v.e == Entry::stored || v.e == Entry::held) && !v.mgr) {
      v.e = Entry::lost;
      v.why = Reason::silent;
    }
  }
  return p;
}

// --- the actions ---

}  // namespace luo::proofs::replay_detail
