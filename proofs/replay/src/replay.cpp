// The replay's driver (replayer.hpp): the world's actions played on the HandoffManager, the
// services and the kernel, and the implementation's side of the projection. The header
// (luo/proofs/replay.hpp) documents every mapping decision.
#include "luo/proofs/replay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "disagreement.hpp"
#include "identities.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/proofs/world_environment.hpp"
#include "replayer.hpp"

namespace luo::proofs {

std::string_view replay_verdict_name(ReplayVerdict v) {
  switch (v) {
    case ReplayVerdict::agrees:
      return "agrees";
    case ReplayVerdict::disagrees:
      return "disagrees";
    case ReplayVerdict::not_replayable:
      return "not replayable";
  }
  return "?";
}

namespace replay_detail {

namespace {

SimulatedKernel::Options kernel_options(const Bounds& b) {
  SimulatedKernel::Options o;
  if (b.file_limit > 0)
    o.legacy_files_per_session = static_cast<std::uint32_t>(b.file_limit);
  return o;
}

FdStoreConfig config(bool zero) {
  return FdStoreConfig{zero ? 0u : 16u, PreserveMode::yes};
}

}  // namespace

std::optional<Reason> model_reason(const EntryReport& r) {
  switch (r.cause) {
    case EntryReason::none:
      return r.state == FdEntryState::removed ? Reason::removed : Reason::none;
    case EntryReason::reserved_name:
      return Reason::reserved_name;
    case EntryReason::incoming_session:
      return Reason::not_outgoing;
    case EntryReason::refused_by_owner:
      return Reason::store_full;
    case EntryReason::preserve_refused:
      return Reason::preserve_refused;
    case EntryReason::handoff_failed:
      return Reason::no_luo;
    case EntryReason::retrieve_failed:
      return Reason::retrieve_failed;
    case EntryReason::owner_not_loaded:
      return Reason::none;  // held: not an end
    case EntryReason::not_preserved:
    case EntryReason::luo_device:
    case EntryReason::detection_failed:
    case EntryReason::dup_failed:
    case EntryReason::helper_fd_unusable:
    case EntryReason::entry_unusable:
      return std::nullopt;  // the world has no such entry
  }
  return std::nullopt;
}

Replayer::Replayer(const Bounds& b, const Trace& t)
    : b_(b),
      w_(b),
      t_(t),
      kernel_(b.profile, kernel_options(b)),
      port_(kernel_),
      lu_(port_, b.profile),
      mgr_(lu_, port_, {.profile = b.systemd, .observer = nullptr}) {
  for (int o = 0; o < kMaxOwners; ++o) {
    for (int k = 0; k < kMaxFdsPerOwner; ++k)
      perm_[o][k] = k;
  }
  for (int o = 0; o < b_.owners; ++o) {
    if (!mgr_.load_owner(owner_id(o), config(false)).ok())
      problem("the manager cannot load " + owner_id(o));
    alive_[o] = true;
  }
}

int Replayer::world_index(int o, int label) const {
  for (int i = 0; i < b_.fds; ++i) {
    if (perm_[o][i] == label)
      return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// What the implementation reports, in the ledger.

void Replayer::note(const EntryReport& r) {
  const auto o = owner_of_id(r.owner);
  if (!o)
    return problem("a report names an unknown owner '" + r.owner + "'");
  const Entry e = from_machine(r.state);
  Reason why = Reason::none;
  if (e == Entry::dropped || e == Entry::lost || e == Entry::removed) {
    const auto known = model_reason(r);
    if (!known || *known == Reason::none) {
      problem("report of " + r.owner + " " + r.name + ": " + std::string(entry_name(e)) + " for '" +
              r.reason + "' (" + std::string(entry_reason_name(r.cause)) +
              "), a reason the model does not know");
    }
    why = known && *known != Reason::none ? *known : Reason::silent;
  }
  if (auto k = label_of_name(r.name)) {
    fd_ledger(*o, *k) = Ledger{e, why};
  } else if (auto j = session_of_name(r.name)) {
    sess_[*j] = Ledger{e, why};
  } else if (r.name == kHijackName) {
    hijack_dropped_ = e != Entry::staged && e != Entry::stored;
  } else {
    problem("a report names an unknown entry '" + r.name + "'");
  }
}

void Replayer::expect_errno(const std::string& text, int err, const std::string& what) {
  const std::string name(errno_name(static_cast<Errno>(err)));
  if (text.find(name) == std::string::npos)
    problem(what + ": the implementation reports '" + text + "', not the injected " + name);
}

// ---------------------------------------------------------------------------------------------
// The actions.

void Replayer::store(int d) {
  const int o = w_.owner_of_fd(d);
  const int label = perm_[o][d % b_.fds];
  auto fd = memfd::create("replay");
  if (!fd.ok() || !memfd::write_at(fd.value().get(), 0, fd_contents(o, label)).ok())
    return problem("cannot make the memfd of " + fd_label(b_, d));
  auto r = mgr_.store(owner_id(o), std::move(fd).value(), fd_name(label));
  if (r.ok()) {
    fd_ledger(o, label) = Ledger{Entry::stored, Reason::none};
  } else if (r.error().raw_errno() == EXFULL) {
    fd_ledger(o, label) = Ledger{Entry::dropped, Reason::store_full};
  } else {
    fd_ledger(o, label) = Ledger{Entry::lost, Reason::silent};
    problem("FdStore::add of " + fd_label(b_, d) + ": " + r.error().message());
  }
}

void Replayer::remove(int d) {
  const int o = w_.owner_of_fd(d);
  const int label = perm_[o][d % b_.fds];
  const auto removed = mgr_.remove(owner_id(o), fd_name(label));
  const std::size_t n = removed ? removed.value() : 0;
  if (n == 1)
    fd_ledger(o, label) = Ledger{Entry::removed, Reason::removed};
  else
    problem("FdStore::remove(\"" + fd_name(label) + "\") removed " + std::to_string(n));
}

void Replayer::open_session(int j) {
  port_.service = true;
  auto dev = lu_.open_device();
  if (!dev) {
    port_.service = false;
    return problem("the VMM cannot open the device: " + dev.error().message());
  }
  auto s = dev.value().create_session(session_name(j));
  dev.value().close();
  port_.service = false;
  if (!s)
    return problem("CREATE_SESSION " + session_name(j) + ": " + s.error().message());
  auto mem = memfd::create("replay-vmm");
  if (!mem.ok() || !memfd::write_at(mem.value().get(), 0, session_name(j) + " memory").ok())
    return problem("cannot make the VMM's memory memfd");
  port_.service = true;
  auto r = s.value().preserve(mem.value().get(), 1);
  port_.service = false;
  if (!r)
    return problem("PRESERVE_FD of " + session_name(j) + "'s memory: " + r.error().message());
  svc_[j].emplace(std::move(s).value());
  sess_[j] = Ledger{};
}

void Replayer::store_session(int j) {
  const int o = w_.owner_of_session(j);
  if (!svc_[j])
    return problem("the VMM holds no session " + session_name(j));
  auto r = mgr_.store(owner_id(o), UniqueFd(::fcntl(svc_[j]->fd(), F_DUPFD_CLOEXEC, 3)),
                      session_name(j));
  if (r.ok())
    sess_[j] = Ledger{Entry::stored, Reason::none};
  else if (r.error().raw_errno() == EXFULL)
    sess_[j] = Ledger{Entry::dropped, Reason::store_full};
  else
    problem("FdStore::add of " + session_name(j) + ": " + r.error().message());
}

void Replayer::resume_session(int j) {
  const int o = w_.owner_of_session(j);
  const FdStore* s = mgr_.owners().find(owner_id(o));
  const FdStoreEntry* entry = nullptr;
  if (s != nullptr) {
    for (const auto& e : s->entries()) {
      if (e.name == session_name(j))
        entry = &e;
    }
  }
  if (entry == nullptr)
    return problem("no store entry " + session_name(j) + " for the VMM to resume from");
  UniqueFd fd(::fcntl(entry->fd.get(), F_DUPFD_CLOEXEC, 3));
  auto mem = port_.retrieve_fd(fd.get(), 1);
  if (!mem.ok())
    return problem("the VMM's RETRIEVE_FD 1 of " + session_name(j) + " failed");
  if (head_of(mem.value().get()) != session_name(j) + " memory")
    problem("the VMM's memory came back as '" + head_of(mem.value().get()) + "'");
  if (!port_.finish_session(fd.get(), 0).ok())
    problem("the VMM's FINISH of " + session_name(j) + " failed");
  if (!mgr_.remove(owner_id(o), session_name(j)).ok())
    problem("FDSTOREREMOVE of " + session_name(j) + " was refused");
  sess_[j] = Ledger{Entry::removed, Reason::removed};
}

void Replayer::hijack() {
  port_.service = true;
  auto dev = lu_.open_device();
  std::optional<OutgoingSession> s;
  if (dev) {
    auto c = dev.value().create_session(handoff::kSessionName);
    if (c)
      s.emplace(std::move(c).value());
    dev.value().close();
  }
  auto mem = memfd::create("replay-hijack");
  const bool ok = s && mem.ok() && memfd::write_at(mem.value().get(), 0, "hijack").ok() &&
                  s->preserve(mem.value().get(), kHijackToken).ok();
  port_.service = false;
  if (!ok)
    return problem("the hijacker could not create its \"systemd\" session");
  // Its only fd goes to the store: the service keeps none.
  if (!mgr_.store(owner_id(0), UniqueFd(::fcntl(s->fd(), F_DUPFD_CLOEXEC, 3)), kHijackName).ok())
    problem("the hijack session could not be stored");
  hijack_made_ = true;
}

void Replayer::services_stop(int o) {
  for (int i = 0; i < b_.fds; ++i) {
    Ledger& l = fd_[o][perm_[o][i]];
    if (l.e == Entry::unborn)
      l.e = Entry::abandoned;
  }
  for (int j = 0; j < b_.sessions; ++j) {
    if (w_.owner_of_session(j) != o || !svc_[j])
      continue;
    svc_[j].reset();
    if (sess_[j].e == Entry::unborn)
      sess_[j] = Ledger{Entry::abandoned, Reason::owner_crashed};
  }
}

void Replayer::crash(int o) {
  // The environment's rule, as the world applies it.
  for (int i = 0; i < b_.fds; ++i) {
    Ledger& l = fd_[o][perm_[o][i]];
    environment::service_crashed(l.e, l.why);
  }
  services_stop(o);
  if (const auto released = mgr_.owner_stopped(owner_id(o), ReleaseTrigger::dead, /*failed=*/true);
      released && released.value())
    problem(owner_id(o) + "'s store (preserve=yes) was released on a crash");
}

void Replayer::start(int o) {
  alive_[o] = true;
  if (mgr_.owners().find(owner_id(o)) != nullptr) {
    if (auto fds = mgr_.hand_back(owner_id(o)); !fds)
      problem("hand_back of " + owner_id(o) + ": " + fds.error().message());
  }
}

void Replayer::load_owner(int o, bool zero) {
  auto reports = mgr_.load_owner(owner_id(o), config(zero));
  if (!reports)
    return problem("loading " + owner_id(o) + ": " + reports.error().message());
  for (const auto& r : reports.value())
    note(r);
}

void Replayer::reload() {
  auto reports = mgr_.daemon_reload();
  if (!reports)
    return problem("daemon-reload: " + reports.error().message());
  for (const auto& r : reports.value())
    note(r);
}

void Replayer::manager_dies() {
  // What its stores and held list had, as the implementation's objects say: lost with it.
  for (const auto& [loc, where] : locate_fds())
    fd_[loc.first][loc.second] = Ledger{Entry::lost, Reason::agent_crashed};
  for (int j = 0; j < b_.sessions; ++j) {
    const int o = w_.owner_of_session(j);
    if (store_has(o, session_name(j)) || held_has(o, session_name(j)))
      sess_[j] = Ledger{Entry::lost, Reason::agent_crashed};
  }
  // Past running, what it had listed for the shutdown side (Stage A's fds, Stage B's
  // "systemd"): the world's rule, applied to the ledger.
  if (const HandoffState out = mgr_.state(); out != HandoffState::running) {
    for (int o = 0; o < b_.owners; ++o) {
      for (auto& l : fd_[o])
        environment::manager_crashed(l.e, l.why, out);
    }
    for (auto& l : sess_)
      environment::manager_crashed(l.e, l.why, out);
  }
  mgr_.crash();
}

void Replayer::agent_crash(const State& before) {
  switch (before.out) {
    case HandoffState::running:
    case HandoffState::serialized:
    case HandoffState::preserved:
      return manager_dies();
    case HandoffState::handed_over:
    case HandoffState::nothing:
    case HandoffState::lost:
    case HandoffState::restoring:
    case HandoffState::finished:
      return problem("a manager crash in shutdown state " + std::string(state_name(before.out)));
  }
}

void Replayer::stage_a() {
  for (int o = 0; o < b_.owners; ++o) {
    if (alive_[o])
      services_stop(o);
    alive_[o] = false;
  }
  for (int o = 0; o < b_.owners; ++o) {
    const FdStore* s = mgr_.owners().find(owner_id(o));
    loaded_at_stage_a_[o] = OwnerSlot{s != nullptr, s != nullptr && s->config().max == 0, false};
  }
  // The stores close with it; what Stage A listed lives on in its fds (taken from the stores).
  const auto st = mgr_.stage_a();
  if (!st)
    return problem("Stage A: " + st.error().message());
  for (const auto& r : st.value()->report)
    note(r);
}

void Replayer::stage_b(const Action& a, const State& before) {
  if (mgr_.stage_a_result() == nullptr)
    return problem("Stage B without a Stage A result");
  // What Stage A listed (a failed Stage B closes the object's Stage A result).
  const handoff::StageA listed = mgr_.stage_a_result()->document;
  stage_b_tried_ = true;
  // Pair each owner's staged fds: world index order <-> impl's order (its token order).
  std::vector<std::pair<int, int>> impl_order;  // (owner, label) in PRESERVE_FD order
  for (const auto& u : listed.units) {
    const auto o = owner_of_id(u.unit);
    for (const auto& e : u.fdstore) {
      const auto k = label_of_name(e.name);
      if (o && k && e.type == handoff::EntryType::fd)
        impl_order.emplace_back(*o, *k);
    }
  }
  for (int o = 0; o < b_.owners; ++o) {
    std::vector<int> world;
    for (int i = 0; i < b_.fds; ++i) {
      if (before.fd[o * b_.fds + i].e == Entry::staged)
        world.push_back(i);
    }
    std::vector<int> impl;
    for (const auto& [io, k] : impl_order) {
      if (io == o)
        impl.push_back(k);
    }
    std::vector<int> a_sorted = impl;
    std::vector<int> w_labels;
    for (int i : world)
      w_labels.push_back(perm_[o][i]);
    std::sort(a_sorted.begin(), a_sorted.end());
    std::sort(w_labels.begin(), w_labels.end());
    if (a_sorted != w_labels)
      continue;  // the staged sets already differ: the comparison after Stage A said so
    for (std::size_t n = 0; n < world.size(); ++n)
      perm_[o][world[n]] = impl[n];
  }
  // The fault.
  std::vector<Arm> arms;
  int injected = 0;
  std::string fault_what;
  std::optional<std::pair<int, int>> faulted;  // the entry whose PRESERVE_FD fails
  if (a.b != 0) {
    injected = reservation_errno(b_.profile);
    arms.push_back({Call::create_session, 0, SimFault::reserve_session_fd, injected});
    fault_what = "CREATE_SESSION(\"systemd\")";
  } else if (a.a == 1) {
    injected = kHandlerErrno;
    arms.push_back({Call::preserve_fd, 0, SimFault::preserve_handler, injected});
    fault_what = "PRESERVE_FD of the mapping";
  } else if (a.a >= 2) {
    int i = a.a - 2;
    int d = -1;
    for (int e = 0; e < w_.fd_count(); ++e) {
      if (before.fd[e].e == Entry::staged && i-- == 0) {
        d = e;
        break;
      }
    }
    const int o = d >= 0 ? w_.owner_of_fd(d) : 0;
    const auto it = d >= 0 ? std::find(impl_order.begin(), impl_order.end(),
                                       std::pair<int, int>{o, perm_[o][d % b_.fds]})
                           : impl_order.end();
    if (it == impl_order.end()) {
      not_replayable_ = "the world's faulted entry has no PRESERVE_FD in the implementation";
      return;
    }
    injected = kHandlerErrno;
    faulted = *it;
    arms.push_back({Call::preserve_fd, static_cast<int>(it - impl_order.begin()) + 1,
                    SimFault::preserve_handler, injected});
    fault_what = "PRESERVE_FD of " + fd_label(b_, d);
  }
  port_.plan(arms);
  port_.preserved.clear();
  const auto done = mgr_.stage_b();
  port_.plan({});
  if (!done)
    return problem("Stage B: " + done.error().message());
  const StageBResult& sb = *done.value();
  for (const auto& r : sb.report)
    note(r);
  if (sb.state == HandoffState::nothing) {
    // Nothing is handed over: every listed entry is lost with the failure, unless its own
    // PRESERVE_FD had failed first.
    for (const auto& u : listed.units) {
      const auto o = owner_of_id(u.unit);
      for (const auto& e : u.fdstore) {
        Ledger* l = nullptr;
        if (auto k = label_of_name(e.name); o && k)
          l = &fd_[*o][*k];
        else if (auto j = session_of_name(e.name))
          l = &sess_[*j];
        if (l != nullptr && (l->e != Entry::lost || l->why != Reason::preserve_refused))
          *l = Ledger{Entry::lost, Reason::no_luo};
      }
    }
    if (injected != 0 && sb.error != injected)
      problem("Stage B failed with errno " + std::to_string(sb.error) + ", not the injected " +
              std::string(errno_name(static_cast<Errno>(injected))));
  } else if (injected != 0 && faulted) {
    bool seen = false;
    for (const auto& r : sb.report) {
      if (r.state == FdEntryState::lost && r.owner == owner_id(faulted->first) &&
          r.name == fd_name(faulted->second)) {
        // The kernel checks the file limit before the handler runs: a limit reached first
        // gives its own errno, in the model (check order) and in the simulator alike.
        Facts lf;
        lf.set(Guard::file_limit_reached, true);
        const Errno limit = select(kOutgoingSessionMachine, OutgoingSessionState::preserving,
                                   OutgoingSessionEvent::preserve_fd, b_.profile, lf)
                                .outcome.error;
        if (b_.file_limit == 0 || r.reason.find(errno_name(limit)) == std::string::npos)
          expect_errno(r.reason, injected, fault_what);
        seen = true;
      }
    }
    if (!seen)
      problem(fault_what + " was injected but the entry is not reported lost");
  }
  out_tokens_.clear();
  for (const auto& pr : port_.preserved) {
    if (pr.session != handoff::kSessionName || pr.by_service)
      continue;
    if (auto l = label_of_contents(pr.contents))
      out_tokens_[*l] = pr.token;
  }
}

void Replayer::new_boot(bool luo_data) {
  ++boot_;
  stage_b_tried_ = false;
  boot_has_data_ = luo_data;
  // The manager opens /dev/liveupdate as the boot starts; the first open deserializes what the
  // previous kernel handed over (the world's sessions are incoming from the jump on).
  if (auto dev = lu_.open_device(); dev)
    dev.value().close();
  else
    problem("the new boot cannot open the device: " + dev.error().message());
  for (int o = 0; o < b_.owners; ++o) {
    alive_[o] = false;
    if (!b_.late_owners && !mgr_.load_owner(owner_id(o), config(false)).ok())
      problem("the new boot's manager cannot load " + owner_id(o));
  }
  hijack_dropped_ = false;
}

void Replayer::kexec(const Action& a, const State& before) {
  const auto snap = kernel_.snapshot();
  int injected = 0;
  if (a.a != 0) {
    // The world's i-th file, at its place in the simulator's freeze order (sessions in
    // creation order, files in preservation order).
    int i = a.a - 1;
    std::string session;
    std::uint64_t token = 0;
    const bool map = before.map_kf == KFile::preserved;
    if (map && i-- == 0) {
      session = handoff::kSessionName;
      token = handoff::kMappingToken;
    }
    for (int d = 0; session.empty() && d < w_.fd_count(); ++d) {
      if (before.fd[d].kf == KFile::preserved && i-- == 0) {
        const int o = w_.owner_of_fd(d);
        const auto t = out_tokens_.find({o, perm_[o][d % b_.fds]});
        if (t != out_tokens_.end()) {
          session = handoff::kSessionName;
          token = t->second;
        }
      }
    }
    for (int j = 0; session.empty() && j < b_.sessions; ++j) {
      const auto& x = before.session[j];
      if (x.ss == Sess::outgoing && (x.svc || x.mgr) && i-- == 0) {
        session = session_name(j);
        token = 1;
      }
    }
    int ordinal = -1;
    int n = 0;
    for (const auto& s : snap.outgoing) {
      for (auto tk : s.tokens) {
        const bool hijack_session =
            std::find(s.tokens.begin(), s.tokens.end(), kHijackToken) != s.tokens.end();
        if (s.name == session && tk == token && !hijack_session)
          ordinal = n;
        ++n;
      }
    }
    if (ordinal < 0) {
      not_replayable_ = "the world's failing file #" + std::to_string(a.a - 1) +
                        " is not among the files the simulator freezes";
      return;
    }
    injected = kHandlerErrno;
    kernel_.inject(SimFault::freeze, injected, static_cast<unsigned>(ordinal));
  }
  // The mapping this boot hands over, as the object wrote it (kexec() forgets it).
  std::optional<handoff::StageB> handing;
  if (const StageBResult* sb = mgr_.stage_b_result();
      sb != nullptr && sb->state == HandoffState::preserved)
    handing = sb->mapping;
  const auto r = mgr_.kexec();
  svc_ = {};
  if (injected != 0) {
    if (r.ok())
      problem("reboot(KEXEC) succeeded although a freeze failure was injected");
    else if (r.error().raw_errno() != injected)
      problem("reboot(KEXEC) failed with " + r.error().message() + ", not the injected EIO");
    // The fallback reboot: every process of the boot dies, the next boot has no LUO data.
    for (int o = 0; o < b_.owners; ++o) {
      for (auto& l : fd_[o])
        environment::fallback_reboot(l.e, l.why, b_.profile);
    }
    for (auto& l : sess_) {
      if (environment::lost_in_fallback_reboot(l.e))
        l = Ledger{Entry::lost, Reason::reboot_failed};
    }
    if (!mgr_.fallback_reboot().ok())
      problem("the fallback reboot (a kexec with nothing preserved) failed");
    out_tokens_.clear();
    in_tokens_.clear();
    handed_.reset();
    new_boot(false);
    return;
  }
  if (!r.ok()) {
    problem("reboot(KEXEC) failed: " + r.error().message());
    return;
  }
  in_tokens_ = out_tokens_;
  out_tokens_.clear();
  handed_ = std::move(handing);
  for (int o = 0; o < b_.owners; ++o) {
    for (auto& l : fd_[o]) {
      if (l.e == Entry::preserved)
        l.e = Entry::handed_over;
    }
  }
  for (auto& l : sess_) {
    if (l.e == Entry::preserved)
      l.e = Entry::handed_over;
  }
  new_boot(true);
  for (const auto& s : kernel_.snapshot().incoming) {
    if (s.name == handoff::kSessionName &&
        std::any_of(s.files.begin(), s.files.end(),
                    [](const auto& f) { return f.token == kHijackToken; }))
      hijack_carried_ = true;
  }
}

void Replayer::perform(const Action& a, const State& before) {
  switch (a.kind) {
    case ActionKind::store:
      return store(a.a);
    case ActionKind::remove:
      return remove(a.a);
    case ActionKind::open_session:
      return open_session(a.a);
    case ActionKind::store_session:
      if (!profile_has(b_.profile, Feature::get_name)) {
        not_replayable_ =
            "profile " + std::string(profile_name(b_.profile)) +
            " has no GET_NAME: impl recognises a stored session by its /proc link, which the "
            "simulator's session fds (sockets) do not have";
        return;
      }
      return store_session(a.a);
    case ActionKind::resume_session:
      return resume_session(a.a);
    case ActionKind::hijack:
      if (!profile_has(b_.profile, Feature::get_name)) {
        not_replayable_ = "profile " + std::string(profile_name(b_.profile)) +
                          " has no GET_NAME: impl cannot tell the stored hijack session is one "
                          "in the simulator (its session fds are sockets)";
        return;
      }
      return hijack();
    case ActionKind::crash:
      return crash(a.a);
    case ActionKind::start:
      return start(a.a);
    case ActionKind::load_owner:
      return load_owner(a.a, a.b != 0);
    case ActionKind::reload:
      return reload();
    case ActionKind::agent_crash:
      return agent_crash(before);
    case ActionKind::stage_a:
      return stage_a();
    case ActionKind::stage_b:
      return stage_b(a, before);
    case ActionKind::kexec:
      return kexec(a, before);
    case ActionKind::restore_begin:
    case ActionKind::dispatch:
    case ActionKind::finish:
      not_replayable_ = "a restore step outside a restore segment";
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison and the result.

bool Replayer::compare(int step, const State& model) {
  const Projection m = project_model(w_, model);
  const Projection i = project_impl();
  auto diffs = differences(b_, m, i);
  for (auto& p : problems_)
    diffs.push_back(std::move(p));
  problems_.clear();
  if (diffs.empty()) {
    result_.last_agreed = step;
    ++result_.compared;
    return true;
  }
  disagree(step, std::move(diffs), m, i);
  return false;
}

void Replayer::disagree(int step, std::vector<std::string> diffs, const Projection& m,
                        const Projection& i, const std::string& suffix) {
  report_disagreement(result_, step,
                      step > 0 ? w_.describe(t_.actions[static_cast<std::size_t>(step - 1)]) : "",
                      std::move(diffs), describe(b_, m), describe(b_, i) + suffix);
  done_ = true;
}

void Replayer::unreplayable(int index, std::string why) {
  report_not_replayable(result_, index + 1,
                        w_.describe(t_.actions[static_cast<std::size_t>(index)]), std::move(why));
  done_ = true;
}

ReplayResult Replayer::run() {
  const int n = static_cast<int>(t_.actions.size());
  result_.steps = n;
  if (!compare(0, t_.states[0]))
    return finish_result();
  for (int i = 0; i < n && !done_; ++i) {
    const Action& a = t_.actions[static_cast<std::size_t>(i)];
    const State& before = t_.states[static_cast<std::size_t>(i)];
    if (a.kind == ActionKind::dispatch || a.kind == ActionKind::finish) {
      not_replayable_ = "a restore step outside a restore segment";
    } else if (a.kind == ActionKind::restore_begin) {
      i = restore_segment(i);
    } else {
      perform(a, before);
      if (!not_replayable_)
        compare(i + 1, t_.states[static_cast<std::size_t>(i + 1)]);
    }
    if (not_replayable_ && !done_) {
      report_not_replayable(result_, i + 1, w_.describe(a), *not_replayable_);
      done_ = true;
    }
  }
  return finish_result();
}

ReplayResult Replayer::finish_result() {
  result_.notes = notes_;
  return result_;
}

}  // namespace replay_detail

ReplayResult replay(const Bounds& bounds, const Trace& trace) {
  Trace t = trace;
  const World w(bounds);
  if (t.states.empty())
    t.states.push_back(w.initial());
  // The model's states are the world's own: recomputed where the trace has none.
  if (t.states.size() != t.actions.size() + 1) {
    t.states.resize(1);
    for (const auto& a : t.actions) {
      auto next = w.apply(t.states.back(), a);
      if (!next) {
        ReplayResult r;
        r.steps = static_cast<int>(t.actions.size());
        replay_detail::report_not_replayable(r, static_cast<int>(t.states.size()), w.describe(a),
                                             "the action is not enabled in the model at this step");
        return r;
      }
      t.states.push_back(*next);
    }
  }
  replay_detail::Replayer replayer(bounds, t);
  return replayer.run();
}

}  // namespace luo::proofs
