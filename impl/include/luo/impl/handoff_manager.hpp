// luo/impl/handoff_manager.hpp: the fd-store handoff across kexec as one object that only moves
// along the model's pipeline machine (kHandoffMachine, model/fd_store_machine.hpp).
//
// LiveUpdate refuses a kernel call the kernel machines forbid before any syscall; HandoffManager
// does the same for the handoff. It owns what a service manager otherwise composes by hand from
// the free functions of kexec_handoff.hpp: the owners' fd stores, the entries held for owners not
// loaded yet, the Stage A and Stage B results (and so every fd and the "systemd" session they
// keep open), the kexec counter, the shutdown timestamps and the pipeline state. Every call is
// first looked up in kHandoffMachine's table for the current state; a call the table does not
// allow (undefined there, or a state in which the pipeline ended) is refused with a typed
// luo::Error (origin `refused`, the operation, the object, the state, EINVAL) before it changes
// anything or reaches the kernel. Every pipeline transition, taken or refused, goes to the
// Observer with machine "kexec-handoff".
//
// Lifetime of one boot (the object outlives a simulated kexec, as the next boot's manager):
//
//   running     restore() first, if the previous boot handed over: retrieve_session -> restoring
//               -> finish (-> finished, or nothing when there was nothing), then a new pipeline
//               begins in `running` for this boot's own handoff. Meanwhile the sd_notify side:
//               load_owner() (held entries retried), store() (FDSTORE=1), remove()
//               (FDSTOREREMOVE=1), hang_up(), owner_stopped(), daemon_reload(), and serialize()
//               for the manager's own re-exec. Stores are open only in this state.
//   serialized  stage_a(): the stores are listed for the shutdown side and closed; the fds
//               listed move from them into the object (stage_a_taking_fds()). Or, for an
//               exec'd helper, stage_a_memfd() and keep_across_exec(), and the helper's object
//               comes from inherit().
//   preserved   stage_b(): "systemd" created and filled; the object keeps it open.
//   handed_over kexec(): reboot(KEXEC) succeeded. The next boot begins: stores, held entries and
//               results are gone (their processes died), a new pipeline begins in `running`.
//   nothing     Stage A had nothing to hand over (v261), or Stage B failed: kexec() still ends
//               the boot, with nothing handed over.
//   lost        reboot(KEXEC) returned: the fallback reboot drops everything; nothing is
//               allowed any more.
//
//   luo::LiveUpdate lu(port);
//   luo::HandoffManager mgr(lu, port);                       // v262 unless options say v261
//   (void)mgr.restore();                                     // first thing in every boot
//   (void)mgr.load_owner("vmm.service", {.max = 8, .preserve = luo::PreserveMode::yes});
//   (void)mgr.store("vmm.service", std::move(memfd), "guest-ram");   // FDSTORE=1
//   mgr.begin_shutdown();                                    // ShutdownStartTimestamp
//   (void)mgr.stage_a();                                     // stores listed and closed
//   (void)mgr.stage_b();                                     // "systemd" filled, kept open
//   (void)mgr.kexec();                                       // next boot: mgr.state() == running
//   mgr.stage_b();          // out of order now: refused, Operation::stage_b, state "running"
//
// Not thread-safe, like LiveUpdate: one manager thread drives it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/impl/error.hpp"
#include "luo/impl/fd_store.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/live_update.hpp"
#include "luo/impl/observer.hpp"
#include "luo/impl/shutdown_exec.hpp"
#include "luo/model/fd_store_machine.hpp"
#include "luo/model/systemd_profile.hpp"

namespace luo {

struct HandoffManagerOptions {
  // What this manager writes (kexec_handoff.hpp); the restore reads either.
  SystemdProfile profile = kDefaultSystemdProfile;
  Observer* observer = nullptr;
};

class HandoffManager {
 public:
  // `lu` and `port` must outlive the object; `port` is the one `lu` calls (Stage A asks it
  // whether a stored fd is a LUO session).
  HandoffManager(LiveUpdate& lu, KernelPort& port, HandoffManagerOptions options = {});
  HandoffManager(HandoffManager&&) noexcept;
  HandoffManager& operator=(HandoffManager&&) noexcept;
  ~HandoffManager();

  // The exec'd shutdown helper's side: $SYSTEMD_LUO_SERIALIZE_FD's value (inherit_stage_a()).
  // nullopt when the manager handed nothing over. The object begins in Stage A's state
  // (`serialized`, or `nothing`), owning the inherited fds; its stage_b() takes the helper's
  // start as ShutdownLateStartTimestamp.
  static Result<std::optional<HandoffManager>> inherit(LiveUpdate& lu, KernelPort& port,
                                                       const char* serialize_fd_value,
                                                       HandoffManagerOptions options = {});

  // Text plus the fds its "fd" numbers name (numbers of this process; for a real execve() the
  // caller clears FD_CLOEXEC on them, as systemd does for its serialization).
  struct Serialized {
    std::string text;
    std::vector<UniqueFd> fds;
  };
  // The manager's own re-exec: stores, held entries, counter, timestamps, profile. Only in
  // `running`, before Stage A (a manager does not re-exec while it shuts down).
  Result<Serialized> serialize() const;
  // The re-exec'd manager: fds named by the text are taken out of `fds`; held entries whose
  // owner is loaded again are dispatched (the retry after deserialization).
  static Result<HandoffManager> deserialize(LiveUpdate& lu, KernelPort& port, std::string_view text,
                                            std::vector<UniqueFd>& fds,
                                            HandoffManagerOptions options = {});

  HandoffState state() const { return state_; }
  SystemdProfile profile() const { return options_.profile; }
  // This boot's counter: 0 after a cold boot, the restored count + 1 after a kexec.
  std::uint32_t kexec_count() const { return kexec_count_; }
  // What the previous boot's shutdown recorded (PreviousShutdown* in systemd's terms).
  const handoff::ShutdownTimestamps& previous_shutdown() const { return previous_shutdown_; }
  const FdStoreRegistry& owners() const { return owners_; }
  const HeldFds& held() const { return held_; }
  // The results of this boot's phases; nullptr before the phase ran.
  const StageAResult* stage_a_result() const { return staged_ ? &*staged_ : nullptr; }
  const StageBResult* stage_b_result() const { return preserved_ ? &*preserved_ : nullptr; }
  const RestoreResult* restore_result() const { return restored_ ? &*restored_ : nullptr; }

  // ---- the sd_notify side (state `running` only)

  // The owner is loaded (or reconfigured): its held entries are offered to it. EINVAL for an id
  // that is no unit name (FdStoreRegistry::try_load()).
  Result<std::vector<EntryReport>> load_owner(std::string_view id, FdStoreConfig config);
  Status unload_owner(std::string_view id);
  // daemon-reload: every held entry is offered again.
  Result<std::vector<EntryReport>> daemon_reload();
  // FDSTORE=1 (FdStore::add(); the fd is consumed either way). ENOENT for an unknown owner.
  Result<AddOutcome> store(std::string_view owner, UniqueFd fd, std::string_view name,
                           Poll poll = Poll::on);
  // FDSTOREREMOVE=1: how many entries went.
  Result<std::size_t> remove(std::string_view owner, std::string_view name);
  // POLLHUP/POLLERR on a polled entry's fd.
  Result<bool> hang_up(std::string_view owner, int fd);
  // The owner stopped (§1.7 decision table): whether its store closed.
  Result<bool> owner_stopped(std::string_view owner, ReleaseTrigger trigger, bool failed);
  // Duplicates of the owner's fds, newest first, for LISTEN_FDS.
  Result<std::vector<UniqueFd>> hand_back(std::string_view owner) const;

  // ---- the pipeline

  // For a manager that keeps the counter in its own state (a scenario, its own serialization):
  // this boot's counter, in place of the restored one. Only in `running`.
  Status adopt_kexec_count(std::uint32_t count);
  // ShutdownStartTimestamp: units begin to stop. Written by Stage A under v262.
  void begin_shutdown(handoff::DualTimestamp when = dual_timestamp_now());
  // running -> serialized (or nothing). ShutdownFinishTimestamp is `finished`, else now when
  // begin_shutdown() was called (else none). The stores close: what Stage A did not list is
  // released.
  Result<const StageAResult*> stage_a(std::optional<handoff::DualTimestamp> finished = {});
  // For an exec'd shutdown helper (shutdown_exec.hpp), state `serialized`: the sealed
  // "luo-fd-store" memfd, and, after fork() and before execve(), FD_CLOEXEC cleared on exactly
  // it and the staged fds.
  Result<UniqueFd> stage_a_memfd() const;
  Status keep_across_exec(int memfd) const;
  // What the pipeline holds open for the kexec: the inherited "luo-fd-store" memfd (a helper's
  // object), Stage A's fds and, once preserved, Stage B's "systemd" session. An exec'd helper
  // keeps exactly these while it closes every other fd it inherited. A failed Stage B, or a
  // kexec() that returned, lets Stage A's and Stage B's go (the memfd stays while the helper
  // runs); a kexec, a crash of the manager or the fallback reboot, all of them.
  std::vector<int> fds_to_keep() const;
  // serialized -> preserved (or nothing). On `device`, or on a device of its own opened and
  // closed here (then an absent /dev/liveupdate is the model's luo_unavailable). A Stage B that
  // ends in nothing also closes Stage A's fds (stage_a_result() is nullptr after it):
  // nothing names the third-party sessions they kept open.
  Result<const StageBResult*> stage_b(Device& device, StageBOptions options = {});
  Result<const StageBResult*> stage_b(StageBOptions options = {});
  // reboot(KEXEC) through LiveUpdate: preserved -> handed_over, then the next boot begins. A
  // kexec that returns: -> lost. Also ends a boot whose pipeline is `nothing`.
  Status kexec();
  // The next boot's restore: running -> restoring -> finished (or nothing); then this boot's
  // own pipeline begins in `running`. Once per boot, before Stage A. `target` defaults to the
  // object's own stores; entries of unknown owners are held here.
  Result<const RestoreResult*> restore(Device& device, RestoreTarget* target = nullptr);
  Result<const RestoreResult*> restore(RestoreTarget* target = nullptr);

  // The same restore, one entry at a time, for a manager that works between the entries (a
  // caller that must see each entry before it goes, or a simulation of the manager dying in the
  // middle). restore_begin() retrieves "systemd" and reads the mapping, on a device of its own
  // kept until the restore ends: running -> restoring, or, when there is nothing, -> nothing
  // and this boot's own pipeline begins at once (restore_result() says why; no restore_next()).
  // restore_next() retrieves the next entry of the mapping; nullopt when none is left. The caller
  // dispatches a retrieved item with restore_dispatch() (into `target`, default the object's own
  // stores; an unknown owner's item is held) or drops it (its fd closes; the entry is gone).
  // restore_finish() FINISHes and closes "systemd": restoring -> finished, then this boot's
  // pipeline begins. Between two entries the sd_notify side works (load_owner(),
  // daemon_reload(), owner_stopped(), ...), as systemd loads units while it deserializes; from
  // inside a dispatch (a target calling back) it stays refused. No callback here may throw.
  struct RestoreStep {
    std::optional<RestoredItem> item;  // retrieved: dispatch it (or drop it)
    std::optional<EntryReport> lost;   // or: its retrieve failed, and it is lost
  };
  Result<const RestoreResult*> restore_begin();
  Result<std::optional<RestoreStep>> restore_next();
  Result<EntryReport> restore_dispatch(RestoredItem& item, RestoreTarget* target = nullptr);
  Result<const RestoreResult*> restore_finish();
  bool restore_in_progress() const { return cursor_ != nullptr; }

  // ---- the environment: not steps of the pipeline, so never refused

  // The manager process dies and is restarted at once. Whatever it held closes as a dying
  // process's fds do: the stores' fds, the held entries, Stage A's fds and Stage B's
  // "systemd" (the kernel then drops it whole), a restore's "systemd" (closed without FINISH:
  // the kernel discards what was not retrieved). The restarted manager loads the same owners
  // with the same configuration and empty stores; the counter and the shutdown timestamps it
  // had read survive (systemd keeps them in its serialization). The pipeline: `running` stays
  // `running`; `serialized` and `preserved` end in `nothing` (kexec() then hands nothing over);
  // in `restoring` the restore ends in `nothing` (the restarted manager finds no "systemd") and
  // this boot's own pipeline begins. Reported to the Observer as event "manager_crash".
  void crash();
  // After a kexec() that failed (`lost`, or `nothing`): the fallback reboot. Every process of
  // the boot dies with what it held; the machine reboots with nothing preserved (through
  // LiveUpdate::kexec() with every session of this object closed, as a simulator reboots) and
  // the next boot is a cold one: counter 0, no timestamps, nothing to restore. Refused (EINVAL,
  // nothing changed) in any other state.
  Status fallback_reboot();

 private:
  Error refuse(Operation op, std::string_view event, std::string detail) const;
  // The table's verdict on `event` in the current state; an Error when it refuses.
  std::optional<Error> check(Operation op, HandoffEvent event) const;
  std::optional<Error> check_stores_open(Operation op, std::string_view event) const;
  void report(Operation op, std::string_view event, HandoffState from, HandoffState to, int result,
              bool issued) const;
  void take(Operation op, HandoffEvent event, HandoffState to, int result);
  // A new pipeline: a new boot, or this boot's own after the restore.
  void begin_pipeline(Operation op);
  // The start restore() and restore_begin() share: once a boot, the table's verdict, the device.
  // The device when the restore goes on; otherwise `*ended` is the call's answer (a refusal, or
  // the result of a restore that found no device).
  std::optional<Device> open_restore(Result<const RestoreResult*>* ended);
  // The restore's end, whichever way: the result is this boot's, its pipeline begins.
  void end_restore(RestoreResult result);
  // Everything of this boot is gone (a kexec, a reboot): the next boot's empty manager.
  void forget_boot();

  LiveUpdate* lu_;
  KernelPort* port_;
  HandoffManagerOptions options_;
  // The boot this pipeline belongs to: a kexec's own records still name the boot it ended.
  std::uint64_t boot_ = 0;
  HandoffState state_ = kHandoffMachine.initial;
  bool restored_this_boot_ = false;
  std::uint32_t kexec_count_ = 0;
  handoff::ShutdownTimestamps previous_shutdown_;
  std::optional<handoff::DualTimestamp> shutdown_start_;
  std::optional<handoff::DualTimestamp> late_start_;  // an inherited helper's start
  FdStoreRegistry owners_;
  HeldFds held_;
  std::optional<StageAResult> staged_;
  UniqueFd inherited_memfd_;
  std::optional<StageBResult> preserved_;
  std::optional<RestoreResult> restored_;
  // A restore in progress (restore_begin() .. restore_finish()): its own device, declared first
  // so that it outlives the cursor that reads through it.
  std::unique_ptr<Device> restore_device_;
  std::unique_ptr<RestoreCursor> cursor_;
  bool in_dispatch_ = false;  // a restore target is running: no call back into the stores
};

}  // namespace luo
