// The replay of a world trace through impl/ over the simulator: the driver, the projection and
// the restore segment. The header (luo/proofs/replay.hpp) documents every mapping decision.
#include "luo/proofs/replay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/model/device_machine.hpp"
#include "recording_port.hpp"

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

namespace {

using namespace replay_detail;

// ---------------------------------------------------------------------------------------------
// The projection: what both sides are compared on.

struct FdView {
  Entry e = Entry::unborn;
  Reason why = Reason::none;
  bool foreign = false;
  KFile kf = KFile::none;
  int rank = -1;           // among the owner's files in "systemd" by token; -1: none
  bool mapping_ok = true;  // preserved/handed over: the mapping's token is the kernel's, not 0
  bool operator==(const FdView&) const = default;
};

struct SessionView {
  Sess ss = Sess::none;
  Entry e = Entry::unborn;
  Reason why = Reason::none;
  bool svc = false;
  bool mgr = false;
  bool operator==(const SessionView&) const = default;
};

struct Projection {
  int boot = 0;
  HandoffState out = HandoffState::running;
  HandoffState rst = HandoffState::nothing;
  Sess sys = Sess::none;
  bool sys_hijacked = false;
  KFile map_kf = KFile::none;
  Hijack hj = Hijack::none;
  std::array<OwnerSlot, kMaxOwners> owner{};
  std::array<FdView, kMaxFds> fd{};
  std::array<SessionView, kMaxSessions> session{};
};

std::string entry_text(Entry e, Reason why) {
  std::string s(entry_name(e));
  if (why != Reason::none)
    s += " (" + std::string(reason_name(why)) + ")";
  return s;
}

bool in_mapping(Entry e) {
  return e == Entry::preserved || e == Entry::handed_over;
}

Projection project_model(const World& w, const State& s) {
  const Bounds& b = w.bounds();
  Projection p;
  p.boot = s.boot;
  p.out = s.out;
  p.rst = s.rst;
  p.sys = s.sys;
  p.sys_hijacked = s.sys_hijacked;
  p.map_kf = s.map_kf;
  p.hj = b.hijack ? s.hj : Hijack::none;
  for (int o = 0; o < b.owners; ++o)
    p.owner[o] = s.owner[o];
  for (int d = 0; d < w.fd_count(); ++d) {
    const auto& x = s.fd[d];
    FdView& v = p.fd[d];
    v.e = x.e;
    v.why = x.why;
    v.foreign = x.foreign;
    v.kf = x.kf;
    if (x.kf != KFile::none) {
      v.rank = 0;
      const int o = w.owner_of_fd(d);
      for (int e = o * b.fds; e < (o + 1) * b.fds; ++e) {
        if (e != d && s.fd[e].kf != KFile::none && s.fd[e].kt < x.kt)
          ++v.rank;
      }
    }
    if (in_mapping(x.e))
      v.mapping_ok = x.kf != KFile::none && x.kt == x.mt && x.kt != 0;
  }
  for (int j = 0; j < b.sessions; ++j) {
    const auto& x = s.session[j];
    p.session[j] = SessionView{x.ss, x.e, x.why, x.svc, x.mgr};
  }
  return p;
}

std::string fd_label(const Bounds& b, int d) {
  return "fd " + std::to_string(d / b.fds) + "." + std::to_string(d % b.fds);
}

std::string describe(const Bounds& b, const Projection& p) {
  std::string out = "boot " + std::to_string(p.boot) + "; shutdown " +
                    std::string(state_name(p.out)) + ", restore " + std::string(state_name(p.rst)) +
                    "; \"systemd\" " + std::string(sess_name(p.sys)) +
                    (p.sys_hijacked ? " (a service's)" : "");
  if (p.map_kf != KFile::none)
    out += ", mapping " + std::string(kfile_name(p.map_kf));
  if (b.hijack && p.hj != Hijack::none)
    out += "; hijack " + std::string(hijack_name(p.hj));
  out += "\n  owners:";
  for (int o = 0; o < b.owners; ++o) {
    out += " " + std::to_string(o) + "[" + (p.owner[o].loaded ? "loaded" : "absent") +
           (p.owner[o].zero ? ",max=0" : "") + (p.owner[o].alive ? ",running" : "") + "]";
  }
  for (int d = 0; d < b.owners * b.fds; ++d) {
    const auto& x = p.fd[d];
    out += "\n  " + fd_label(b, d) + ": " + entry_text(x.e, x.why);
    if (x.kf != KFile::none)
      out += ", kernel " + std::string(kfile_name(x.kf)) + " #" + std::to_string(x.rank);
    if (!x.mapping_ok)
      out += ", NOT in the mapping under the kernel's token";
    if (x.foreign)
      out += ", in another owner's store";
  }
  for (int j = 0; j < b.sessions; ++j) {
    const auto& x = p.session[j];
    out += "\n  session " + std::to_string(j) + ": kernel " + std::string(sess_name(x.ss)) +
           ", entry " + entry_text(x.e, x.why) + (x.svc ? ", held by its service" : "") +
           (x.mgr ? ", held by the manager" : "");
  }
  return out;
}

// "what: model X, implementation Y" for every field that differs.
std::vector<std::string> differences(const Bounds& b, const Projection& m, const Projection& i) {
  std::vector<std::string> out;
  const auto diff = [&](const std::string& what, auto mv, auto iv) {
    out.push_back(what + ": model " + std::string(mv) + ", implementation " + std::string(iv));
  };
  const auto yn = [](bool v) { return v ? "yes" : "no"; };
  if (m.boot != i.boot)
    diff("boot", std::to_string(m.boot), std::to_string(i.boot));
  if (m.out != i.out)
    diff("shutdown pipeline", state_name(m.out), state_name(i.out));
  if (m.rst != i.rst)
    diff("restore pipeline", state_name(m.rst), state_name(i.rst));
  if (m.sys != i.sys || m.sys_hijacked != i.sys_hijacked) {
    diff("\"systemd\" session",
         std::string(sess_name(m.sys)) + (m.sys_hijacked ? " (a service's)" : ""),
         std::string(sess_name(i.sys)) + (i.sys_hijacked ? " (a service's)" : ""));
  }
  if (m.map_kf != i.map_kf)
    diff("the mapping file (token 0)", kfile_name(m.map_kf), kfile_name(i.map_kf));
  if (m.hj != i.hj)
    diff("the hijack session", hijack_name(m.hj), hijack_name(i.hj));
  for (int o = 0; o < b.owners; ++o) {
    const std::string who = "owner " + std::to_string(o);
    if (m.owner[o].loaded != i.owner[o].loaded)
      diff(who + " loaded", yn(m.owner[o].loaded), yn(i.owner[o].loaded));
    if (m.owner[o].zero != i.owner[o].zero)
      diff(who + " FileDescriptorStoreMax=0", yn(m.owner[o].zero), yn(i.owner[o].zero));
    if (m.owner[o].alive != i.owner[o].alive)
      diff(who + " running", yn(m.owner[o].alive), yn(i.owner[o].alive));
  }
  for (int d = 0; d < b.owners * b.fds; ++d) {
    const auto& x = m.fd[d];
    const auto& y = i.fd[d];
    const std::string who = fd_label(b, d);
    if (x.e != y.e || x.why != y.why)
      diff(who, entry_text(x.e, x.why), entry_text(y.e, y.why));
    if (x.foreign != y.foreign)
      diff(who + " attached to another owner (its store or held list)", yn(x.foreign),
           yn(y.foreign));
    if (x.kf != y.kf)
      diff(who + " kernel file", kfile_name(x.kf), kfile_name(y.kf));
    else if (x.rank != y.rank)
      diff(who + " token rank among its owner's files", std::to_string(x.rank),
           std::to_string(y.rank));
    if (x.mapping_ok != y.mapping_ok)
      diff(who + " recorded in the mapping under the kernel's token", yn(x.mapping_ok),
           yn(y.mapping_ok));
  }
  for (int j = 0; j < b.sessions; ++j) {
    const auto& x = m.session[j];
    const auto& y = i.session[j];
    const std::string who = "session " + std::to_string(j);
    if (x.ss != y.ss)
      diff(who + " in the kernel", sess_name(x.ss), sess_name(y.ss));
    if (x.e != y.e || x.why != y.why)
      diff(who + " entry", entry_text(x.e, x.why), entry_text(y.e, y.why));
    if (x.svc != y.svc)
      diff(who + " held by its service", yn(x.svc), yn(y.svc));
    if (x.mgr != y.mgr)
      diff(who + " held by the manager", yn(x.mgr), yn(y.mgr));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Names and contents.

std::string owner_id(int o) {
  return "owner" + std::to_string(o) + ".service";
}
std::optional<int> owner_of_id(std::string_view id) {
  constexpr std::string_view prefix = "owner";
  constexpr std::string_view suffix = ".service";
  if (!id.starts_with(prefix) || !id.ends_with(suffix) ||
      id.size() != prefix.size() + 1 + suffix.size())
    return std::nullopt;
  const char c = id[prefix.size()];
  if (c < '0' || c >= '0' + kMaxOwners)
    return std::nullopt;
  return c - '0';
}
std::string fd_name(int k) {
  return "fd" + std::to_string(k);
}
std::string session_name(int j) {
  return "vmm" + std::to_string(j);
}
constexpr std::string_view kHijackName = "hijack";
constexpr std::uint64_t kHijackToken = 99;
constexpr std::string_view kContentPrefix = "luo-replay fd ";

std::string fd_contents(int o, int k) {
  return std::string(kContentPrefix) + std::to_string(o) + "." + std::to_string(k);
}
// (owner, label) from a memfd's contents.
std::optional<std::pair<int, int>> label_of_contents(std::string_view c) {
  if (!c.starts_with(kContentPrefix) || c.size() != kContentPrefix.size() + 3)
    return std::nullopt;
  const char o = c[kContentPrefix.size()];
  const char k = c[kContentPrefix.size() + 2];
  if (o < '0' || o >= '0' + kMaxOwners || k < '0' || k >= '0' + kMaxFdsPerOwner)
    return std::nullopt;
  return std::pair<int, int>{o - '0', k - '0'};
}
std::optional<int> label_of_name(std::string_view name) {
  if (name.size() != 3 || !name.starts_with("fd") || name[2] < '0' ||
      name[2] >= '0' + kMaxFdsPerOwner)
    return std::nullopt;
  return name[2] - '0';
}
std::optional<int> session_of_name(std::string_view name) {
  if (name.size() != 4 || !name.starts_with("vmm") || name[3] < '0' ||
      name[3] >= '0' + kMaxSessions)
    return std::nullopt;
  return name[3] - '0';
}

// The errnos the replay injects (header: FAULTS).
constexpr int kHandlerErrno = EIO;
int reservation_errno(KernelProfile profile) {
  Facts f;
  f.set(Guard::no_free_fd, true);
  return errno_value(
      select(kDeviceMachine, DeviceState::open, DeviceEvent::create_session, profile, f)
          .outcome.error);
}

struct Ledger {
  Entry e = Entry::unborn;
  Reason why = Reason::none;
};

enum class Phase : std::uint8_t { store, stage_a, stage_b, restore, retry };

// The stop of a restore() call from inside its target.
struct AbortRestore {
  enum Kind : std::uint8_t { crash, stop, disagree, unreplayable } kind;
};

// ---------------------------------------------------------------------------------------------
// The driver.

class Replayer {
 public:
  Replayer(const Bounds& b, const Trace& t)
      : b_(b),
        w_(b),
        t_(t),
        kernel_(b.profile, options(b)),
        port_(kernel_),
        lu_(std::make_unique<LiveUpdate>(port_, b.profile)) {
    for (int o = 0; o < kMaxOwners; ++o) {
      for (int k = 0; k < kMaxFdsPerOwner; ++k)
        perm_[o][k] = k;
    }
    for (int o = 0; o < b_.owners; ++o) {
      reg_.load(owner_id(o), config(false));
      alive_[o] = true;
    }
  }

  ReplayResult run();

 private:
  static SimulatedKernel::Options options(const Bounds& b) {
    SimulatedKernel::Options o;
    if (b.file_limit > 0)
      o.legacy_files_per_session = static_cast<std::uint32_t>(b.file_limit);
    return o;
  }
  static FdStoreConfig config(bool zero) {
    return FdStoreConfig{zero ? 0u : 16u, PreserveMode::yes};
  }

  // --- identities ---
  int world_index(int o, int label) const {
    for (int i = 0; i < b_.fds; ++i) {
      if (perm_[o][i] == label)
        return i;
    }
    return -1;
  }
  Ledger& fd_ledger(int o, int label) { return fd_[o][label]; }

  // --- the step's problems ---
  void problem(std::string s) { problems_.push_back(std::move(s)); }
  std::optional<std::string> not_replayable_;

  // --- reports ---
  Reason reason_of(const EntryReport& r, Phase phase) {
    const Entry e = from_machine(r.state);
    switch (e) {
      case Entry::dropped:
        if (r.reason == guard_description(Guard::reserved_session_name))
          return Reason::reserved_name;
        if (r.reason == guard_description(Guard::incoming_session))
          return Reason::not_outgoing;
        if (r.reason.find("EXFULL") != std::string::npos ||
            r.reason.find("FileDescriptorStoreMax") != std::string::npos)
          return Reason::store_full;
        problem("report of " + r.owner + " " + r.name + ": dropped for '" + r.reason +
                "', a reason the model does not know");
        return Reason::silent;
      case Entry::lost:
        return phase == Phase::stage_b ? Reason::preserve_refused : Reason::retrieve_failed;
      case Entry::removed:
        return Reason::removed;
      case Entry::unborn:
      case Entry::abandoned:
      case Entry::stored:
      case Entry::staged:
      case Entry::preserved:
      case Entry::handed_over:
      case Entry::restorable:
      case Entry::held:
      case Entry::released:
        return Reason::none;
    }
    return Reason::none;
  }
  void note(const EntryReport& r, Phase phase) {
    const auto o = owner_of_id(r.owner);
    if (!o)
      return problem("a report names an unknown owner '" + r.owner + "'");
    const Entry e = from_machine(r.state);
    const Reason why = reason_of(r, phase);
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
  void expect_errno(const std::string& text, int err, const std::string& what) {
    const std::string name(errno_name(static_cast<Errno>(err)));
    if (text.find(name) == std::string::npos)
      problem(what + ": the implementation reports '" + text + "', not the injected " + name);
  }

  // --- locations ---
  struct Where {
    int store_owner = -1;
    bool held = false;
  };
  std::map<std::pair<int, int>, Where> locate_fds() const {
    std::map<std::pair<int, int>, Where> at;
    for (const auto& [id, store] : reg_.owners()) {
      const auto o = owner_of_id(id);
      for (const auto& e : store.entries()) {
        if (auto l = label_of_contents(head_of(e.fd.get())))
          at[*l].store_owner = o.value_or(-1);
      }
    }
    for (const auto& [id, items] : held_.entries()) {
      for (const auto& h : items) {
        if (auto l = label_of_contents(head_of(h.item.fd.get())))
          at[*l].held = true;
      }
    }
    return at;
  }
  bool store_has(int o, std::string_view name) const {
    const FdStore* s = reg_.find(owner_id(o));
    if (s == nullptr)
      return false;
    return std::any_of(s->entries().begin(), s->entries().end(),
                       [&](const FdStoreEntry& e) { return e.name == name; });
  }
  bool held_has(int o, std::string_view name) const {
    const auto it = held_.entries().find(owner_id(o));
    if (it == held_.entries().end())
      return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](const HeldFds::Held& h) { return h.item.name == name; });
  }
  bool staged_has(int o, std::string_view name) const {
    if (!staged_)
      return false;
    for (const auto& u : staged_->document.units) {
      if (u.unit != owner_id(o))
        continue;
      for (const auto& e : u.fdstore) {
        if (e.name == name)
          return true;
      }
    }
    return false;
  }

  // --- the implementation's projection ---
  Projection project_impl(std::optional<std::pair<int, int>> inflight_held = std::nullopt);

  // --- actions ---
  void perform(const Action& a, const State& before);
  void store(int d);
  void remove(int d);
  void open_session(int j);
  void store_session(int j);
  void resume_session(int j);
  void hijack();
  void crash(int o);
  void start(int o);
  void load_owner(int o, bool zero);
  void reload();
  void agent_crash(const State& before);
  void stage_a();
  void stage_b(const Action& a, const State& before);
  void kexec(const Action& a, const State& before);
  void services_stop(int o);
  void new_boot(bool luo_data);
  void manager_loses_stores();

  // The restore segment from step index r; returns the index of its last step, and sets
  // result_ when it ends the replay.
  int restore_segment(int r);

  bool compare(int step, const State& model, const std::string& note = "");
  // Ends the replay at trace index `index` (its step index + 1): the trace cannot be replayed.
  void unreplayable(int index, std::string why) {
    result_.verdict = ReplayVerdict::not_replayable;
    result_.step = index + 1;
    result_.action = w_.describe(t_.actions[static_cast<std::size_t>(index)]);
    result_.why = std::move(why);
    done_ = true;
  }
  ReplayResult finish_result();

  const Bounds& b_;
  World w_;
  const Trace& t_;
  SimulatedKernel kernel_;
  RecordingPort port_;
  std::unique_ptr<LiveUpdate> lu_;

  FdStoreRegistry reg_;
  HeldFds held_;
  std::optional<StageAResult> staged_;
  std::optional<StageBResult> stage_b_;
  std::optional<handoff::StageB> handed_;  // the mapping the previous boot handed over
  HandoffState out_ = HandoffState::running;
  HandoffState rst_ = HandoffState::nothing;
  bool restoring_ = false;
  std::uint32_t kexecs_count_ = 0;
  int boot_ = 0;

  std::array<std::array<int, kMaxFdsPerOwner>, kMaxOwners> perm_{};  // world index -> label
  std::array<std::array<Ledger, kMaxFdsPerOwner>, kMaxOwners> fd_{};
  std::array<Ledger, kMaxSessions> sess_{};
  std::array<bool, kMaxOwners> alive_{};
  std::array<std::optional<OutgoingSession>, kMaxSessions> svc_;
  bool hijack_made_ = false;
  bool hijack_dropped_ = false;
  bool hijack_carried_ = false;
  bool stage_b_tried_ = false;  // this boot's Stage B ran (whatever its outcome)

  // Tokens of this boot's manager "systemd" (outgoing) and of the one handed over (incoming),
  // by (owner, label); taken from the recorded PRESERVE_FD calls.
  std::map<std::pair<int, int>, std::uint64_t> out_tokens_;
  std::map<std::pair<int, int>, std::uint64_t> in_tokens_;

  std::vector<std::string> problems_;
  ReplayResult result_;
  bool done_ = false;
  std::string notes_;
};

Projection Replayer::project_impl(std::optional<std::pair<int, int>> inflight_held) {
  Projection p;
  p.boot = boot_;
  p.out = out_;
  p.rst = restoring_ ? HandoffState::restoring : rst_;
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
    const FdStore* s = reg_.find(owner_id(o));
    p.owner[o] = OwnerSlot{s != nullptr, s != nullptr && s->config().max == 0, alive_[o]};
  }

  // Where each memfd is.
  const auto at = locate_fds();
  const handoff::StageB* mapping = out_ == HandoffState::preserved && stage_b_ ? &stage_b_->mapping
                                   : handed_                                   ? &*handed_
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
      if (inflight_held && *inflight_held == std::pair<int, int>{o, label}) {
        v.e = Entry::held;  // in restore()'s hand, held right after the target returns
        v.why = Reason::none;
      } else if (it != at.end() && it->second.store_owner >= 0) {
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

void Replayer::store(int d) {
  const int o = w_.owner_of_fd(d);
  const int label = perm_[o][d % b_.fds];
  auto fd = memfd::create("replay");
  if (!fd.ok() || !memfd::write_at(fd.value().get(), 0, fd_contents(o, label)).ok())
    return problem("cannot make the memfd of " + fd_label(b_, d));
  FdStore* s = reg_.find(owner_id(o));
  if (s == nullptr)
    return problem(owner_id(o) + " is not loaded in the registry");
  auto r = s->add(std::move(fd).value(), fd_name(label));
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
  FdStore* s = reg_.find(owner_id(o));
  const std::size_t n = s != nullptr ? s->remove(fd_name(label)) : 0;
  if (n == 1)
    fd_ledger(o, label) = Ledger{Entry::removed, Reason::removed};
  else
    problem("FdStore::remove(\"" + fd_name(label) + "\") removed " + std::to_string(n));
}

void Replayer::open_session(int j) {
  port_.service = true;
  auto dev = lu_->open_device();
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
  FdStore* s = reg_.find(owner_id(o));
  if (s == nullptr)
    return problem(owner_id(o) + " is not loaded");
  auto r = s->add(UniqueFd(::fcntl(svc_[j]->fd(), F_DUPFD_CLOEXEC, 3)), session_name(j));
  if (r.ok())
    sess_[j] = Ledger{Entry::stored, Reason::none};
  else if (r.error().raw_errno() == EXFULL)
    sess_[j] = Ledger{Entry::dropped, Reason::store_full};
  else
    problem("FdStore::add of " + session_name(j) + ": " + r.error().message());
}

void Replayer::resume_session(int j) {
  const int o = w_.owner_of_session(j);
  FdStore* s = reg_.find(owner_id(o));
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
  s->remove(session_name(j));
  sess_[j] = Ledger{Entry::removed, Reason::removed};
}

void Replayer::hijack() {
  port_.service = true;
  auto dev = lu_->open_device();
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
  FdStore* store = reg_.find(owner_id(0));
  // Its only fd goes to the store: the service keeps none.
  if (store == nullptr ||
      !store->add(UniqueFd(::fcntl(s->fd(), F_DUPFD_CLOEXEC, 3)), std::string(kHijackName)).ok())
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
  // The world gives every abandoned fd of the owner without a reason this crash as its reason
  // (also one abandoned at an earlier Stage A): environment bookkeeping, mirrored.
  for (int i = 0; i < b_.fds; ++i) {
    Ledger& l = fd_[o][perm_[o][i]];
    if (l.e == Entry::unborn || (l.e == Entry::abandoned && l.why == Reason::none))
      l = Ledger{Entry::abandoned, Reason::owner_crashed};
  }
  services_stop(o);
  if (FdStore* s = reg_.find(owner_id(o)); s != nullptr && s->owner_stopped(ReleaseTrigger::dead,
                                                                            /*failed=*/true))
    problem(owner_id(o) + "'s store (preserve=yes) was released on a crash");
}

void Replayer::start(int o) {
  alive_[o] = true;
  if (const FdStore* s = reg_.find(owner_id(o)); s != nullptr) {
    if (auto fds = s->hand_back(); !fds)
      problem("hand_back of " + owner_id(o) + ": " + fds.error().message());
  }
}

void Replayer::load_owner(int o, bool zero) {
  reg_.load(owner_id(o), config(zero));
  RegistryTarget target(reg_);
  for (const auto& r : held_.owner_loaded(owner_id(o), target))
    note(r, Phase::retry);
}

void Replayer::reload() {
  RegistryTarget target(reg_);
  for (const auto& r : held_.retry_all(target))
    note(r, Phase::retry);
}

void Replayer::manager_loses_stores() {
  for (const auto& [loc, where] : locate_fds())
    fd_[loc.first][loc.second] = Ledger{Entry::lost, Reason::agent_crashed};
  for (int j = 0; j < b_.sessions; ++j) {
    const int o = w_.owner_of_session(j);
    if (store_has(o, session_name(j)) || held_has(o, session_name(j)))
      sess_[j] = Ledger{Entry::lost, Reason::agent_crashed};
  }
  // The restarted manager knows its owners again, with empty stores.
  FdStoreRegistry fresh;
  for (const auto& [id, store] : reg_.owners())
    fresh.load(id, store.config());
  reg_ = std::move(fresh);
  held_ = HeldFds();
}

void Replayer::agent_crash(const State& before) {
  switch (before.out) {
    case HandoffState::running:
      manager_loses_stores();
      break;
    case HandoffState::serialized:
    case HandoffState::preserved:
      for (int o = 0; o < b_.owners; ++o) {
        for (auto& l : fd_[o]) {
          if (l.e == Entry::staged || l.e == Entry::preserved)
            l = Ledger{Entry::lost, Reason::agent_crashed};
        }
      }
      for (auto& l : sess_) {
        if (l.e == Entry::staged || l.e == Entry::preserved)
          l = Ledger{Entry::lost, Reason::agent_crashed};
      }
      stage_b_.reset();  // closing "systemd" unpreserves it
      staged_.reset();
      out_ = HandoffState::nothing;
      break;
    case HandoffState::handed_over:
    case HandoffState::nothing:
    case HandoffState::lost:
    case HandoffState::restoring:
    case HandoffState::finished:
      problem("a manager crash in shutdown state " + std::string(state_name(before.out)));
      break;
  }
}

void Replayer::stage_a() {
  for (int o = 0; o < b_.owners; ++o) {
    if (alive_[o])
      services_stop(o);
    alive_[o] = false;
  }
  StageAOptions options;
  options.profile = b_.systemd;
  options.kexec_count = kexecs_count_;
  StageAResult st = luo::stage_a(reg_, &held_, port_, options);
  for (const auto& r : st.report)
    note(r, Phase::stage_a);
  out_ = st.state;
  staged_.emplace(std::move(st));
  // The stores are freed; what Stage A listed lives on in its duplicates.
  FdStoreRegistry fresh;
  for (const auto& [id, store] : reg_.owners())
    fresh.load(id, store.config());
  reg_ = std::move(fresh);
  held_ = HeldFds();
}

void Replayer::stage_b(const Action& a, const State& before) {
  if (!staged_)
    return problem("Stage B without a Stage A result");
  stage_b_tried_ = true;
  // Pair each owner's staged fds: world index order <-> impl's order (its token order).
  std::vector<std::pair<int, int>> impl_order;  // (owner, label) in PRESERVE_FD order
  for (const auto& u : staged_->document.units) {
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
  auto dev = lu_->open_device();
  if (!dev) {
    port_.plan({});
    return problem("the shutdown side cannot open the device: " + dev.error().message());
  }
  StageBResult sb = luo::stage_b(dev.value(), *staged_);
  dev.value().close();
  port_.plan({});
  for (const auto& r : sb.report)
    note(r, Phase::stage_b);
  if (sb.state == HandoffState::nothing) {
    // Nothing is handed over: every listed entry is lost with the failure, unless its own
    // PRESERVE_FD had failed first.
    for (const auto& u : staged_->document.units) {
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
    // The mapping can no longer name the sessions: the shutdown side lets them go.
    staged_.reset();
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
  out_ = sb.state;
  out_tokens_.clear();
  for (const auto& pr : port_.preserved) {
    if (pr.session != handoff::kSessionName || pr.by_service)
      continue;
    if (auto l = label_of_contents(pr.contents))
      out_tokens_[*l] = pr.token;
  }
  if (sb.state == HandoffState::preserved)
    stage_b_.emplace(std::move(sb));
}

void Replayer::new_boot(bool luo_data) {
  ++boot_;
  stage_b_tried_ = false;
  out_ = HandoffState::running;
  rst_ = luo_data ? HandoffState::running : HandoffState::nothing;
  lu_ = std::make_unique<LiveUpdate>(port_, b_.profile);
  // The manager opens /dev/liveupdate as the boot starts; the first open deserializes what the
  // previous kernel handed over (the world's sessions are incoming from the jump on).
  if (auto dev = lu_->open_device(); dev)
    dev.value().close();
  else
    problem("the new boot cannot open the device: " + dev.error().message());
  reg_ = FdStoreRegistry();
  held_ = HeldFds();
  for (int o = 0; o < b_.owners; ++o) {
    alive_[o] = false;
    if (!b_.late_owners)
      reg_.load(owner_id(o), config(false));
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
  const auto r = lu_->kexec();
  svc_ = {};
  staged_.reset();
  if (injected != 0) {
    if (r.ok())
      problem("reboot(KEXEC) succeeded although a freeze failure was injected");
    else if (r.error().raw_errno() != injected)
      problem("reboot(KEXEC) failed with " + r.error().message() + ", not the injected EIO");
    // The fallback reboot: every process of the boot dies, the next boot has no LUO data.
    for (int o = 0; o < b_.owners; ++o) {
      for (auto& l : fd_[o]) {
        if (l.e == Entry::preserved || l.e == Entry::staged)
          l = Ledger{Entry::lost, Reason::reboot_failed};
      }
    }
    for (auto& l : sess_) {
      if (l.e == Entry::preserved || l.e == Entry::staged)
        l = Ledger{Entry::lost, Reason::reboot_failed};
    }
    stage_b_.reset();
    reg_ = FdStoreRegistry();
    held_ = HeldFds();
    lu_ = std::make_unique<LiveUpdate>(port_, b_.profile);
    if (!lu_->kexec().ok())
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
  handed_.reset();
  if (stage_b_ && stage_b_->state == HandoffState::preserved)
    handed_ = stage_b_->mapping;
  stage_b_.reset();
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

bool Replayer::compare(int step, const State& model, const std::string& note) {
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
  result_.verdict = ReplayVerdict::disagrees;
  result_.step = step;
  result_.action = step > 0 ? w_.describe(t_.actions[static_cast<std::size_t>(step - 1)]) : "";
  result_.differences = std::move(diffs);
  result_.model = describe(b_, m);
  result_.implementation = describe(b_, i);
  result_.why = result_.differences.front();
  if (!note.empty())
    notes_ += note;
  done_ = true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The restore segment (header: RESTORE).

class TraceTarget final : public RestoreTarget {
 public:
  explicit TraceTarget(std::function<DispatchResult(RestoredItem&)> f) : f_(std::move(f)) {}
  DispatchResult dispatch(RestoredItem& item) override { return f_(item); }

 private:
  std::function<DispatchResult(RestoredItem&)> f_;
};

int Replayer::restore_segment(int r) {
  const auto& acts = t_.actions;
  const auto& states = t_.states;
  const int n = static_cast<int>(acts.size());
  const State& after_begin = states[static_cast<std::size_t>(r + 1)];
  const bool restoring = after_begin.rst == HandoffState::restoring;

  // The segment: restore_begin .. finish / agent_crash / the end of the trace.
  int end = r;
  bool terminal = false;
  if (restoring) {
    for (end = r + 1; end < n; ++end) {
      const ActionKind k = acts[static_cast<std::size_t>(end)].kind;
      if (k == ActionKind::finish || k == ActionKind::agent_crash) {
        terminal = true;
        break;
      }
      if (k != ActionKind::dispatch && k != ActionKind::load_owner && k != ActionKind::reload &&
          k != ActionKind::crash) {
        unreplayable(r, "a '" + std::string(action_kind_name(k)) +
                            "' inside a restore: impl's restore() cannot be interrupted by it");
        return end;
      }
    }
    if (!terminal)
      end = n - 1;
  }

  // The implementation's dispatch order: the mapping it wrote at Stage B.
  struct Item {
    int owner;
    int world;  // world entry: fd index, or fd_count() + session
    bool session;
    int label;          // fd label or session index
    int position = -1;  // the trace's dispatch matched to it
  };
  std::vector<Item> order;
  if (handed_) {
    for (const auto& u : handed_->units) {
      const auto o = owner_of_id(u.unit);
      if (!o)
        continue;
      for (const auto& e : u.fdstore) {
        if (auto k = label_of_name(e.name)) {
          order.push_back({*o, *o * b_.fds + world_index(*o, *k), false, *k});
        } else if (auto j = session_of_name(e.name)) {
          order.push_back({*o, w_.fd_count() + *j, true, *j});
        }
      }
    }
  }
  // Each dispatch of the trace took one entry out of the mapping: pair it with impl's item of
  // that entry.
  const auto taken_by = [&](const State& pre, const State& post) {
    for (int d = 0; d < w_.fd_count(); ++d) {
      if (pre.fd[d].e == Entry::handed_over && post.fd[d].e != Entry::handed_over)
        return d;
    }
    for (int j = 0; j < b_.sessions; ++j) {
      if (pre.session[j].e == Entry::handed_over && post.session[j].e != Entry::handed_over)
        return w_.fd_count() + j;
    }
    return -1;
  };
  std::vector<int> others;
  for (int p = r + 1; p <= end && restoring; ++p) {
    const ActionKind k = acts[static_cast<std::size_t>(p)].kind;
    if (k == ActionKind::dispatch) {
      const int e =
          taken_by(states[static_cast<std::size_t>(p)], states[static_cast<std::size_t>(p + 1)]);
      auto it = std::find_if(order.begin(), order.end(),
                             [&](const Item& x) { return x.world == e && x.position < 0; });
      if (it == order.end()) {
        unreplayable(r, "the trace's step " + std::to_string(p + 1) +
                            " restores an entry the implementation's mapping does not hold");
        return end;
      }
      it->position = p;
    } else if (k != ActionKind::finish && k != ActionKind::agent_crash) {
      others.push_back(p);
    }
  }
  // The reordered segment: impl's order, except that the world restores an owner's entries in
  // its own order (fds by token, then sessions by index), so an entry impl reaches earlier
  // waits for the owner's entries the world restores before it.
  const auto world_rank = [&](const Item& x) {
    if (!x.session) {
      int rank = 0;
      for (const auto& y : order)
        rank += !y.session && y.owner == x.owner && &y < &x ? 1 : 0;
      return rank;
    }
    return b_.fds + x.label;
  };
  std::vector<int> seq{r};
  std::vector<bool> emitted(order.size(), false);
  std::size_t next_other = 0;
  const auto emit = [&](std::size_t m) {
    while (next_other < others.size() && others[next_other] < order[m].position)
      seq.push_back(others[next_other++]);
    seq.push_back(order[m].position);
    emitted[m] = true;
  };
  const auto ready = [&](std::size_t m) {
    for (std::size_t y = 0; y < order.size(); ++y) {
      if (y != m && !emitted[y] && order[y].position >= 0 && order[y].owner == order[m].owner &&
          world_rank(order[y]) < world_rank(order[m]))
        return false;
    }
    return true;
  };
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t m = 0; m < order.size(); ++m) {
      if (emitted[m] || order[m].position < 0 || !ready(m))
        continue;
      emit(m);
      progress = true;
      break;  // impl's order first: restart from its earliest entry still waiting
    }
  }
  while (next_other < others.size())
    seq.push_back(others[next_other++]);
  if (terminal)
    seq.push_back(end);
  // An item impl dispatches before the world can (its R place comes after a later item).
  std::vector<int> rpos(order.size(), -1);
  for (std::size_t q = 0; q < seq.size(); ++q) {
    for (std::size_t m = 0; m < order.size(); ++m) {
      if (order[m].position == seq[q])
        rpos[m] = static_cast<int>(q);
    }
  }
  std::vector<bool> deferred(order.size(), false);
  for (std::size_t m = 0; m < order.size(); ++m) {
    for (std::size_t y = m + 1; y < order.size() && rpos[m] >= 0; ++y)
      deferred[m] = deferred[m] || (rpos[y] >= 0 && rpos[y] < rpos[m]);
  }
  std::vector<State> ws{states[static_cast<std::size_t>(r)]};
  for (int p : seq) {
    auto next = w_.apply(ws.back(), acts[static_cast<std::size_t>(p)]);
    if (!next) {
      unreplayable(r,
                   "the restore's steps in the implementation's order (mapping order) are "
                   "not all enabled in the model");
      return end;
    }
    ws.push_back(*next);
  }
  if (ws.back() != states[static_cast<std::size_t>(end + 1)]) {
    unreplayable(r,
                 "the restore's steps in the implementation's order (mapping order) lead "
                 "the model to another state than the trace's order");
    return end;
  }
  bool reordered = false;
  for (std::size_t q = 1; q < seq.size(); ++q)
    reordered = reordered || seq[q] < seq[q - 1];
  if (reordered) {
    std::string s = "steps " + std::to_string(r + 1) + "-" + std::to_string(end + 1) +
                    " replayed in the implementation's restore order:";
    for (int p : seq)
      s += " " + std::to_string(p + 1);
    notes_ += s + "\n";
  }

  // Faults of the segment, at their kernel calls.
  std::vector<Arm> arms;
  std::map<int, int> injected_at;  // trace position -> errno
  const int begin_fault = acts[static_cast<std::size_t>(r)].b;
  if (begin_fault == 1) {
    arms.push_back({Call::retrieve_fd, 0, SimFault::retrieve_handler, kHandlerErrno});
    injected_at[r] = kHandlerErrno;
  } else if (begin_fault == 2) {
    // RETRIEVE_SESSION("systemd") itself fails, as with a full fd table.
    const int err = reservation_errno(b_.profile);
    arms.push_back({Call::retrieve_session, 0, SimFault::reserve_session_fd, err});
    injected_at[r] = err;
  }
  int fd_calls = 1;       // token 0 came first
  int session_calls = 1;  // RETRIEVE_SESSION("systemd") came first
  for (const auto& it : order) {
    const bool fault = it.position >= 0 && acts[static_cast<std::size_t>(it.position)].b != 0;
    if (fault) {
      const int err = it.session ? reservation_errno(b_.profile) : kHandlerErrno;
      arms.push_back(
          it.session ? Arm{Call::retrieve_session, session_calls, SimFault::reserve_session_fd, err}
                     : Arm{Call::retrieve_fd, fd_calls, SimFault::retrieve_handler, err});
      injected_at[it.position] = err;
    }
    (it.session ? session_calls : fd_calls) += 1;
  }

  // Runs the segment's steps seq[q..] up to (not including) the dispatch of item `upto`;
  // dispatches passed over had no callback: restore() found their retrieve failed.
  std::size_t q = 1;
  std::vector<bool> reported(order.size(), false);
  const auto item_at = [&](int position) {
    for (std::size_t m = 0; m < order.size(); ++m) {
      if (order[m].position == position)
        return static_cast<int>(m);
    }
    return -1;
  };
  int stopped_at = -1;  // the trace position where the target stopped restore()
  std::vector<bool> ahead(order.size(), false);  // dispatched by impl before the world could
  const auto entry_text_of = [&](const State& pre, int e) {
    return e < 0 ? std::string("nothing")
           : e < w_.fd_count()
               ? fd_label(b_, e) + " (mapping token " + std::to_string(pre.fd[e].mt) + ")"
               : "session " + std::to_string(e - w_.fd_count());
  };
  // The world's dispatch at seq[qq] must take item m's entry.
  const auto check_choice = [&](std::size_t qq, int m) {
    const Item& it = order[static_cast<std::size_t>(m)];
    const int chosen = taken_by(ws[qq], ws[qq + 1]);
    if (chosen == it.world)
      return;
    problem("the model restores " + entry_text_of(ws[qq], chosen) + " here, the implementation " +
            entry_text_of(ws[qq], it.world) + " (the next in its mapping)");
    // The trace deviates where it first took an entry impl would not have taken then.
    stopped_at = std::min(seq[qq], it.position);
    throw AbortRestore{AbortRestore::disagree};
  };
  const auto catch_up = [&](int upto) -> bool {
    while (q < seq.size()) {
      const int p = seq[q];
      const Action& a = acts[static_cast<std::size_t>(p)];
      if (a.kind == ActionKind::dispatch) {
        const int m = item_at(p);
        if (m == upto)
          return true;
        check_choice(q, m);
        Item& it = order[static_cast<std::size_t>(m)];
        if (!ahead[static_cast<std::size_t>(m)]) {
          // No callback came for it: restore() found its retrieve failed.
          Ledger& l = it.session ? sess_[it.label] : fd_[it.owner][it.label];
          l = Ledger{Entry::lost, Reason::retrieve_failed};
          reported[static_cast<std::size_t>(m)] = true;
        }
      } else if (a.kind == ActionKind::finish || a.kind == ActionKind::agent_crash) {
        return false;
      } else {
        perform(a, ws[q]);
      }
      ++q;
    }
    return false;
  };

  // RegistryTarget's dispatch, with the entry's new state in the ledger.
  const auto dispatch_item = [&](const Item& it, RestoredItem& item) {
    RegistryTarget registry(reg_);
    DispatchResult d = registry.dispatch(item);
    Facts f;
    f.set(Guard::owner_unknown, d.disposition == Disposition::unknown_owner)
        .set(Guard::store_full, d.disposition == Disposition::refused)
        .set(Guard::duplicate_fd, d.disposition == Disposition::duplicate);
    const Entry e = from_machine(
        select(kFdEntryMachine, FdEntryState::restorable, FdEntryEvent::dispatch, b_.profile, f)
            .to);
    Ledger& l = it.session ? sess_[it.label] : fd_[it.owner][it.label];
    l = Ledger{e, e == Entry::dropped ? Reason::store_full : Reason::none};
    if (d.disposition == Disposition::refused && d.error != EXFULL)
      problem("dispatch refused with errno " + std::to_string(d.error));
    return d;
  };

  auto dev = lu_->open_device();
  if (!dev) {
    problem("the manager cannot open the device to restore: " + dev.error().message());
    compare(r + 1, after_begin);
    return end;
  }
  port_.plan(arms);
  // A manager crash inside the restore: it dies at the kernel call after the entries the world
  // dispatched before it (impl's first ones), before the next retrieve or the FINISH.
  if (terminal && acts[static_cast<std::size_t>(end)].kind == ActionKind::agent_crash) {
    const int crash_q = static_cast<int>(seq.size()) - 1;
    std::size_t k = 0;
    while (k < order.size() && rpos[k] >= 0 && rpos[k] < crash_q)
      ++k;
    for (std::size_t x = k; x < order.size(); ++x) {
      if (rpos[x] >= 0 && rpos[x] < crash_q) {
        dev.value().close();
        port_.plan({});
        unreplayable(r,
                     "the manager dies after the model dispatched a later entry of impl's "
                     "mapping but before an earlier one");
        return end;
      }
    }
    // After the last entry the next call is the FINISH of restore()'s exit path, which a
    // destructor makes: that crash is applied after restore() returns (same kernel state).
    if (k < order.size()) {
      port_.crash_at = 2 + static_cast<int>(k);
      // The steps between the last dispatch and the crash happen at the crash's call, once
      // restore() has put that dispatch's entry where it goes.
      port_.before_crash = [&] { (void)catch_up(-2); };
    }
    if (k == 0) {
      // Nothing dispatched before the crash: the steps before it happen before restore().
      while (q < seq.size() && seq[q] != end)
        perform(acts[static_cast<std::size_t>(seq[q])], ws[q]), ++q;
    }
  }
  restoring_ = restoring;
  RestoreResult rr;
  std::optional<AbortRestore::Kind> aborted;
  TraceTarget target([&](RestoredItem& item) -> DispatchResult {
    // Which mapping entry restore() hands over.
    const auto o = owner_of_id(item.owner);
    int m = -1;
    for (std::size_t x = 0; x < order.size(); ++x) {
      const Item& it = order[x];
      if (reported[x] || !o || it.owner != *o)
        continue;
      const bool same = it.session ? session_of_name(item.name) == it.label
                                   : label_of_name(item.name) == it.label;
      if (same) {
        m = static_cast<int>(x);
        break;
      }
    }
    if (m < 0) {
      problem("restore() dispatches " + item.owner + " " + item.name +
              ", which the mapping written at Stage B does not name");
      stopped_at = r;
      throw AbortRestore{AbortRestore::disagree};
    }
    Item& it = order[static_cast<std::size_t>(m)];
    if (!it.session) {
      const auto l = label_of_contents(head_of(item.fd.get()));
      if (!l || *l != std::pair<int, int>{it.owner, it.label})
        problem("RETRIEVE_FD of " + item.owner + " " + item.name + " gave the file of '" +
                head_of(item.fd.get()) + "'");
    }
    if (!restoring) {
      problem("restore() dispatches " + item.owner + " " + item.name +
              "; the model found nothing to dispatch by");
      stopped_at = r;
      throw AbortRestore{AbortRestore::disagree};
    }
    if (deferred[static_cast<std::size_t>(m)]) {
      // The world restores it later (after entries of its owner that impl reaches after it):
      // taken now, judged when the world's order gets there.
      reported[static_cast<std::size_t>(m)] = true;
      ahead[static_cast<std::size_t>(m)] = true;
      return dispatch_item(it, item);
    }
    if (it.position < 0) {
      // The trace never dispatches this entry. If the model took an entry of the same owner
      // that comes after it in the model's own order (a later token), the model broke that
      // order where it took it: impl would have taken this one.
      for (std::size_t y = 0; y < order.size(); ++y) {
        const Item& other = order[y];
        if (other.position >= 0 && other.owner == it.owner && world_rank(other) > world_rank(it)) {
          problem("the model restores " +
                  entry_text_of(states[static_cast<std::size_t>(other.position)], other.world) +
                  " here, the implementation " +
                  entry_text_of(states[static_cast<std::size_t>(other.position)], it.world) +
                  " (the next in its mapping)");
          stopped_at = other.position;
          throw AbortRestore{AbortRestore::disagree};
        }
      }
      // Impl reaches it before the trace's later ones.
      bool later = false;
      for (std::size_t x = q; x < seq.size(); ++x) {
        const int mx = acts[static_cast<std::size_t>(seq[x])].kind == ActionKind::dispatch
                           ? item_at(seq[x])
                           : -1;
        later = later || mx > m;
      }
      if (later && terminal) {
        stopped_at = end;
        throw AbortRestore{AbortRestore::unreplayable};
      }
      if (later) {
        stopped_at = end;
        throw AbortRestore{AbortRestore::stop};
      }
    }
    if (!catch_up(m)) {
      if (q >= seq.size()) {
        stopped_at = end;
        throw AbortRestore{AbortRestore::stop};
      }
      const int p = seq[q];
      if (acts[static_cast<std::size_t>(p)].kind == ActionKind::agent_crash) {
        stopped_at = p;
        reported[static_cast<std::size_t>(m)] = true;
        Ledger& l = it.session ? sess_[it.label] : fd_[it.owner][it.label];
        l = Ledger{Entry::lost, Reason::agent_crashed};
        throw AbortRestore{AbortRestore::crash};
      }
      problem("restore() dispatches " + item.owner + " " + item.name +
              " before FINISH; the model FINISHes with it not dispatched");
      stopped_at = p;
      throw AbortRestore{AbortRestore::disagree};
    }
    const int p = seq[q];
    check_choice(q, m);
    reported[static_cast<std::size_t>(m)] = true;
    DispatchResult d = dispatch_item(it, item);
    ++q;
    // Past the world's dispatches of entries impl already took; compare when none is pending.
    while (q < seq.size() && acts[static_cast<std::size_t>(seq[q])].kind == ActionKind::dispatch &&
           ahead[static_cast<std::size_t>(item_at(seq[q]))]) {
      check_choice(q, item_at(seq[q]));
      ++q;
    }
    bool pending = false;
    for (std::size_t x = 0; x < order.size(); ++x)
      pending = pending || (ahead[x] && rpos[x] >= static_cast<int>(q));
    if (pending)
      return d;
    // An entry restore() is about to hold is counted as held.
    const Projection mp = project_model(w_, ws[q]);
    std::optional<std::pair<int, int>> inflight;
    if (d.disposition == Disposition::unknown_owner && !it.session)
      inflight = std::pair<int, int>{it.owner, it.label};
    Projection ip = project_impl(inflight);
    if (d.disposition == Disposition::unknown_owner && it.session) {
      ip.session[it.label].e = Entry::held;
      ip.session[it.label].why = Reason::none;
      ip.session[it.label].mgr = true;
    }
    auto diffs = differences(b_, mp, ip);
    for (auto& s : problems_)
      diffs.push_back(std::move(s));
    problems_.clear();
    if (!diffs.empty()) {
      result_.verdict = ReplayVerdict::disagrees;
      result_.step = p + 1;
      result_.action = w_.describe(acts[static_cast<std::size_t>(p)]);
      result_.differences = std::move(diffs);
      result_.model = describe(b_, mp);
      result_.implementation = describe(b_, ip);
      result_.why = result_.differences.front();
      done_ = true;
      stopped_at = p;
      throw AbortRestore{AbortRestore::disagree};
    }
    result_.last_agreed = p + 1;
    ++result_.compared;
    return d;
  });
  try {
    rr = luo::restore(dev.value(), target, held_);
  } catch (const AbortRestore& a) {
    aborted = a.kind;
  } catch (const ManagerCrash&) {
    aborted = AbortRestore::crash;
    stopped_at = end;
  }
  port_.crash_at = -1;
  port_.before_crash = nullptr;
  dev.value().close();
  port_.plan({});
  restoring_ = false;
  if (done_)
    return end;
  if (aborted == AbortRestore::unreplayable) {
    unreplayable(stopped_at,
                 "impl's restore() dispatches in mapping order; the trace's restore ends after a "
                 "later entry of the mapping but before an earlier one");
    return end;
  }
  if (aborted == AbortRestore::disagree) {
    // What the target found; the implementation's state is described as restore() left it.
    result_.verdict = ReplayVerdict::disagrees;
    result_.step = stopped_at + 1;
    result_.action = w_.describe(acts[static_cast<std::size_t>(stopped_at)]);
    result_.differences = std::move(problems_);
    problems_.clear();
    result_.why = result_.differences.empty() ? "" : result_.differences.front();
    result_.model = describe(b_, project_model(w_, ws[std::min(q, ws.size() - 1)]));
    result_.implementation = describe(b_, project_impl()) + "\n  (after restore() was stopped)";
    done_ = true;
    return end;
  }
  if (aborted == AbortRestore::stop) {
    notes_ += "the trace ends inside a restore: compared up to its last dispatch\n";
    return end;
  }
  if (aborted == AbortRestore::crash) {
    // The manager died inside restore(): the steps before the crash that are still due (entries
    // without a callback failed their retrieve), then what it held and had not dispatched.
    (void)catch_up(-2);
    manager_loses_stores();
    for (std::size_t m = 0; m < order.size(); ++m) {
      if (!reported[m]) {
        Ledger& l = order[m].session ? sess_[order[m].label] : fd_[order[m].owner][order[m].label];
        l = Ledger{Entry::lost, Reason::agent_crashed};
      }
    }
    rst_ = HandoffState::nothing;
    handed_.reset();
    in_tokens_.clear();
    compare(stopped_at + 1, states[static_cast<std::size_t>(end + 1)]);
    return end;
  }

  // restore() ran to its end: the rest of the segment, then its reports.
  if (restoring)
    (void)catch_up(-2);
  for (const auto& rep : rr.report) {
    const auto o = owner_of_id(rep.owner);
    const Entry e = from_machine(rep.state);
    Ledger* l = nullptr;
    if (auto k = label_of_name(rep.name); o && k)
      l = &fd_[*o][*k];
    else if (auto j = session_of_name(rep.name))
      l = &sess_[*j];
    if (l == nullptr)
      continue;
    if (e == Entry::lost) {
      *l = Ledger{Entry::lost, Reason::retrieve_failed};
      for (std::size_t m = 0; m < order.size(); ++m) {
        const auto& it = order[m];
        if (it.owner == o &&
            (it.session ? session_of_name(rep.name) : label_of_name(rep.name)) == it.label &&
            injected_at.count(it.position) != 0)
          expect_errno(rep.reason, injected_at[it.position], rep.owner + " " + rep.name);
      }
    }
  }
  rst_ = rr.state;
  if (begin_fault == 2 && rr.state == HandoffState::nothing) {
    // Nothing could be read: every entry of the mapping written at Stage B is lost with the
    // failure restore() reports.
    expect_errno(rr.failure, injected_at[r], "RETRIEVE_SESSION(\"systemd\")");
    for (const auto& it : order) {
      Ledger& l = it.session ? sess_[it.label] : fd_[it.owner][it.label];
      if (l.e == Entry::handed_over)
        l = Ledger{Entry::lost, Reason::retrieve_failed};
    }
  }
  if (!rr.failure.empty() && rr.state == HandoffState::finished) {
    // The mapping could not be used: every entry it would have named is lost (§5.3).
    if (injected_at.count(r) != 0)
      expect_errno(rr.failure, injected_at[r], "the mapping's RETRIEVE_FD");
    for (const auto& it : order) {
      Ledger& l = it.session ? sess_[it.label] : fd_[it.owner][it.label];
      if (l.e == Entry::handed_over)
        l = Ledger{Entry::lost, Reason::mapping_unusable};
    }
  }
  if (rr.state != HandoffState::nothing)
    kexecs_count_ = rr.kexecs_count;
  if (terminal && acts[static_cast<std::size_t>(end)].kind == ActionKind::agent_crash) {
    manager_loses_stores();
    rst_ = HandoffState::nothing;
  }
  if (restoring && !terminal) {
    notes_ += "the trace ends inside a restore: compared up to its last dispatch\n";
    return end;
  }
  handed_.reset();
  // A RETRIEVE_SESSION that failed leaves "systemd" and its files in the kernel until the next
  // kexec drops them; every other end of the segment has finished it.
  if (begin_fault != 2)
    in_tokens_.clear();
  compare(end + 1, states[static_cast<std::size_t>(end + 1)]);
  return end;
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
      result_.verdict = ReplayVerdict::not_replayable;
      result_.step = i + 1;
      result_.action = w_.describe(a);
      result_.why = *not_replayable_;
      done_ = true;
    }
  }
  return finish_result();
}

ReplayResult Replayer::finish_result() {
  result_.notes = notes_;
  return result_;
}

}  // namespace

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
        r.verdict = ReplayVerdict::not_replayable;
        r.steps = static_cast<int>(t.actions.size());
        r.step = static_cast<int>(t.states.size());
        r.action = w.describe(a);
        r.why = "the action is not enabled in the model at this step";
        return r;
      }
      t.states.push_back(*next);
    }
  }
  Replayer replayer(bounds, t);
  return replayer.run();
}

}  // namespace luo::proofs
