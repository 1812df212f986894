// The world's one step, as a class: a Stepper starts from a state, takes one action instance
// (World::successors() calls one member per ActionKind) and leaves the successor and the
// transition properties it broke. Every change of an entry, a session, a file or a pipeline goes
// through one of the model's machines (the helpers below); what the members written in
// world_services.cpp (the services and the kernel's release of a session), world_restore.cpp
// (owners, daemon-reload, the boot restore) and world_shutdown.cpp (the manager's crash, Stage A,
// Stage B, reboot(KEXEC) and the next boot) say is only which event happens to whom, in what
// order. Private to proofs/src.
#pragma once

#include <array>
#include <cstdint>

#include "luo/proofs/properties.hpp"
#include "luo/proofs/world.hpp"

namespace luo::proofs {

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
      case FileState::unpreserved:
      case FileState::finished:
      case FileState::discarded:
      case FileState::dropped:
        return KFile::none;  // LUO let go of it
      case FileState::frozen:
        break;  // lasts only inside freeze_and_reboot(), which steps past it
    }
    return KFile::none;
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

  // --- the services, and the kernel when a session's last fd goes (world_services.cpp) ---
  void release_if_unheld(int j);
  void service_gone(int o, Entry unstored_fate);
  bool services_may_act() const;
  bool store(int d);
  bool remove(int d);
  bool open_session(int j);
  bool store_session(int j);
  bool resume_session(int j);
  bool hijack();
  bool crash(int o);
  bool start(int o);

  // --- owners, daemon-reload and the boot restore (world_restore.cpp) ---
  void retry_held(int o);
  bool load_owner(int o, bool zero);
  bool reload();
  bool has_mapping_entries() const;
  void handed_over_lost(const Facts& f, Reason why);
  bool restore_begin(int fault);
  void counter_starts_over();
  void counter_to_mapping();
  bool same_counter() const;
  void finish_systemd();
  int next_entry(int o) const;
  bool dispatch(int o, bool fault);
  bool finish();
  static constexpr std::uint8_t handoff_mapping_token() { return 0; }

  // --- the manager's crash, the shutdown and the next boot (world_shutdown.cpp) ---
  void manager_loses(const auto& held);
  bool agent_crash();
  void close_systemd_outgoing();
  bool stage_a();
  void stage_b_aborts(Guard guard, Reason why);
  void forget_stale_systemd();
  Outcome preserve_into_systemd(std::uint8_t token, bool fault) const;
  bool stage_b(int fault_file, bool create_fault);
  int frozen_files() const;
  bool kexec(int freeze_fault);
  bool survives_reboot(int j, bool held) const;
  void forget_endings();
  void next_boot(bool luo_data);

 private:
  const World& w_;
  const Bounds& b_;
  State s_;
  Violations v_ = 0;
};

}  // namespace luo::proofs
