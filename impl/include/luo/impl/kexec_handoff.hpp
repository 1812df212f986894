// luo/impl/kexec_handoff.hpp: carrying every owner's fd store through a kexec, the way systemd
// does (spec systemd-luo.md §3; §9 for 262.1), with the lifecycle of model/fd_store_machine.hpp.
// A systemd profile (model/systemd_profile.hpp, default v262) says what the writers write: the
// counter's key, whether a kexec with nothing to carry still hands over (v262: always, so the
// counter and the shutdown timestamps survive it), and whether timestamps are written.
//
// Three calls, one per phase:
//   stage_a()   the manager, leaving its main loop for kexec: lists every entry of every store
//               whose owner preserves it (yes/on-success), recognises LUO session fds (GET_NAME,
//               /proc fallback), skips an fd it cannot tell (as 262.1), refuses a session named
//               "systemd" and drops /dev/liveupdate itself (KernelPort::is_device; a staged copy
//               would keep the device busy for Stage B, docs/reliability.md F1), each with a
//               per-entry reason. Result: the Stage A
//               document (counter, ShutdownStart/FinishTimestamp when given) plus the
//               duplicated fds it names.
//   stage_b()   the shutdown side, as late as possible: adds ShutdownLateStart/FinishTimestamp,
//               creates the "systemd" session, preserves the fds with dense tokens 1..N and
//               writes the token-0 mapping (alone, when there is nothing else). Third-party
//               sessions are not nested (they cannot be): their fds are kept open by the caller
//               through the Stage A result until reboot(KEXEC).
//   restore()   the next boot's manager: retrieves "systemd", reads token 0 (format C, or the
//               legacy format B), adopts the counter + 1 and the previous shutdown timestamps,
//               dispatches every entry to its owner through a RestoreTarget, holds entries
//               whose owner is not loaded yet, and finishes "systemd" on every path.
//               Third-party sessions are retrieved and handed over unfinished.
//
//   luo::StageAOptions opt{.profile = luo::SystemdProfile::v262, .kexec_count = counter,
//                          .shutdown_start = started, .shutdown_finish =
//                          luo::dual_timestamp_now()};
//   auto staged = luo::stage_a(owners, &held, port, opt);
//   auto b = luo::stage_b(device, staged);                 // hold b.session until reboot(KEXEC)
//   ...                                                    // next boot:
//   auto r = luo::restore(device, target, held);           // r.kexecs_count, r.previous_shutdown
//
// Improvement over systemd (§5.4, documented in docs/fd-store-handoff.md): the mapping is
// preserved *first*, into a memfd pre-sized for the largest mapping this Stage A can produce, and
// the final JSON is written into it afterwards (writes inside the size are allowed while
// preserved, kernel-luo.md §3.8), padded with JSON whitespace. A per-session file limit can then
// never cost the mapping, only the entries past the limit. systemd's reader parses it unchanged.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/impl/fd_store.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/live_update.hpp"
#include "luo/model/systemd_profile.hpp"

namespace luo {

// Why an entry did not move on, as a value beside the report's text: callers decide on this,
// the text is for people (it carries the errno and the details).
enum class EntryReason : std::uint8_t {
  none,                // it moved on (or went on request)
  not_preserved,       // FileDescriptorStorePreserve= does not carry it across kexec
  reserved_name,       // a LUO session named "systemd": the manager's own name
  incoming_session,    // a session retrieved in this boot: the kernel drops it at the kexec
  luo_device,          // /dev/liveupdate itself
  detection_failed,    // whether it is a LUO session cannot be told (262.1 skips it)
  dup_failed,          // the fd could not be duplicated for the shutdown side
  helper_fd_unusable,  // the exec'd shutdown helper did not get a usable fd for it
  preserve_refused,    // its PRESERVE_FD was refused
  handoff_failed,      // Stage B failed as a whole: no "systemd" carries anything
  retrieve_failed,     // its RETRIEVE_FD / RETRIEVE_SESSION failed in the next boot
  entry_unusable,      // the document's entry could not be read (skipped by the parser)
  refused_by_owner,    // the owner's store refused it (full, FileDescriptorStoreMax=0)
  owner_not_loaded,    // held until its owner is loaded
};
std::string_view entry_reason_name(EntryReason r);
// The reason of an entry that Stage A did not stage, from the row of kFdEntryMachine that decided.
EntryReason stage_reason(Guard guard);

// What happened to one store entry on its way through the handoff.
struct EntryReport {
  std::string owner;
  std::string name;
  FdEntryState state;                     // where the entry ended this phase
  std::string reason;                     // why, when it did not move on
  EntryReason cause = EntryReason::none;  // the same, typed
  bool operator==(const EntryReport&) const = default;
};

// What Stage A makes of a stored fd, with the verdicts of 262.1's fd_get_luo_session_name()
// (spec §9.6; run on the host and under the real PID 1 in tests/vm): GET_NAME gives the name;
// ENOTTY (no such ioctl: never a session) and an fd off the anon-inode filesystem are no
// session; on it, the other "not supported" answers (EINVAL, ...) fall back to the
// "anon_inode:[luo_session] <name>" link text, which /proc may truncate; any other failure (EBADF
// on an O_PATH fd, a failed fstatfs or readlink) means it cannot be told, and 262's PID 1 skips
// that entry.
struct SessionDetection {
  enum class Kind : std::uint8_t { not_session, session, unknown };
  Kind kind = Kind::not_session;
  std::string name;  // the session's name, for `session`
  int error = 0;     // why it cannot be told, for `unknown`
};
SessionDetection detect_luo_session(KernelPort& port, int fd);

// The kernel name of a LUO session fd, or nullopt if `fd` is not one or cannot be told.
std::optional<std::string> luo_session_name(KernelPort& port, int fd);

// CLOCK_REALTIME and CLOCK_MONOTONIC now, in microseconds, as systemd's dual_timestamp_now().
handoff::DualTimestamp dual_timestamp_now();

struct StageAOptions {
  SystemdProfile profile = kDefaultSystemdProfile;
  // The manager's counter (KExecCount for v262, kexecsCount for v261): restore()'s
  // kexecs_count of this boot, or 0 after a cold boot.
  std::uint32_t kexec_count = 0;
  // PID 1's ShutdownStartTimestamp (units began to stop) and ShutdownFinishTimestamp (all
  // stopped), written when set and the profile has shutdown timestamps.
  std::optional<handoff::DualTimestamp> shutdown_start{};
  std::optional<handoff::DualTimestamp> shutdown_finish{};
};

// The three phase results are [[nodiscard]]: each carries the per-entry report of what was lost
// and (Stage A, B) the fds and session that must live until the kexec; dropping one is a bug.
struct [[nodiscard]] StageAResult {
  SystemdProfile profile = kDefaultSystemdProfile;  // the writers of this handoff follow it
  handoff::StageA document;
  std::vector<UniqueFd> fds;  // what the document's `fd` numbers refer to
  std::vector<EntryReport> report;
  HandoffState state = HandoffState::running;
};

// `held` entries (restored for owners not loaded yet) are handed over again, like systemd's
// not-found units whose preserve mode is forced to yes.
class HeldFds;
StageAResult stage_a(const FdStoreRegistry& owners, const HeldFds* held, KernelPort& port,
                     const StageAOptions& options);
// The default profile, no timestamps.
StageAResult stage_a(const FdStoreRegistry& owners, const HeldFds* held, KernelPort& port,
                     std::uint32_t kexecs_count);
// stage_a() for a manager whose stores close with Stage A (HandoffManager): the fds it stages
// move from the stores and held entries into the result instead of being duplicated, which
// saves a dup() per fd now and the original's close() after; every store and `held` is left
// empty, the entries Stage A did not stage closed. Same document and report as stage_a(),
// the fds aside (an entry's own number, or a duplicate at 3 or above for fds 0-2, which the
// exec'd shutdown helper needs for its standard streams).
StageAResult stage_a_taking_fds(FdStoreRegistry& owners, HeldFds* held, KernelPort& port,
                                const StageAOptions& options);

struct [[nodiscard]] StageBResult {
  // "systemd": keep it open until reboot(KEXEC); closing it drops everything.
  std::optional<OutgoingSession> session;
  handoff::StageB mapping;
  std::vector<EntryReport> report;
  HandoffState state = HandoffState::serialized;
  std::string failure;  // why state is `nothing`
  int error = 0;        // the errno behind `failure` (EIO when there was none), else 0
};

struct StageBOptions {
  // When the shutdown side began: ShutdownLateStartTimestamp. Unset: when stage_b() is called.
  // ShutdownLateFinishTimestamp is always stage_b()'s own start, just before the session.
  std::optional<handoff::DualTimestamp> late_start{};
};

// Follows staged.profile; does nothing unless staged.state is `serialized`.
StageBResult stage_b(Device& device, const StageAResult& staged, const StageBOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Restore

struct RestoredItem {
  std::string owner;
  std::string name;
  handoff::EntryType type = handoff::EntryType::fd;
  UniqueFd fd;               // the retrieved memfd, or the retrieved third-party session fd
  std::string session_name;  // for luo_session entries
  // Set by the restore alone (RestoreCursor::next()), when fd is what it just retrieved: a new
  // file, which RegistryTarget stores with FdStore::adopt_retrieved(). An item built any other
  // way (by hand, the C API, the manager's re-exec) keeps false and goes through FdStore::add()
  // and its duplicate check.
  bool retrieved_at_restore = false;
};

enum class Disposition : std::uint8_t { attached, duplicate, unknown_owner, refused };

struct DispatchResult {
  Disposition disposition = Disposition::attached;
  int error = 0;       // for refused, e.g. EXFULL
  std::string reason;  // for refused and unknown_owner
  std::string cgroup;  // for unknown_owner: kept with the held entry so the owner can be verified
};

// The embedding manager's side of the restore: take the item (move its fd) or say why not.
class RestoreTarget {
 public:
  virtual ~RestoreTarget() = default;
  virtual DispatchResult dispatch(RestoredItem& item) = 0;
};

// Dispatches into an FdStoreRegistry: loaded owners take the fd into their store (polled, no
// upstream index, §2.4), with FdStore::adopt_retrieved() when the restore retrieved it
// (RestoredItem::retrieved_at_restore) and FdStore::add() otherwise; unknown owners are held; a
// full or disabled store refuses with EXFULL.
class RegistryTarget final : public RestoreTarget {
 public:
  explicit RegistryTarget(FdStoreRegistry& owners) : owners_(owners) {}
  DispatchResult dispatch(RestoredItem& item) override;

 private:
  FdStoreRegistry& owners_;
};

// Entries whose owner was not loaded at restore time, by owner id. They are retried when the
// manager reports an owner loaded, and after the manager's own deserialization.
class HeldFds {
 public:
  struct Held {
    RestoredItem item;
    std::string cgroup;
  };
  void hold(RestoredItem item, std::string cgroup);
  // Offers the owner's held entries again; returns what happened to each.
  std::vector<EntryReport> owner_loaded(std::string_view owner, RestoreTarget& target);
  std::vector<EntryReport> retry_all(RestoreTarget& target);
  const std::map<std::string, std::vector<Held>, std::less<>>& entries() const { return held_; }
  std::size_t size() const;
  // Empties this and hands the entries over, fds included (stage_a_taking_fds()).
  std::map<std::string, std::vector<Held>, std::less<>> take_entries();

 private:
  std::map<std::string, std::vector<Held>, std::less<>> held_;
};

struct [[nodiscard]] RestoreResult {
  HandoffState state = HandoffState::running;
  // The counter to adopt: the mapping's KExecCount (or v261's kexecsCount) + 1, wrapping at
  // u32 as 262.1 does (1 when `state` was ignored), once a usable mapping was read; else 0.
  std::uint32_t kexecs_count = 0;
  // The previous boot's shutdown timestamps, as the mapping carried them (PreviousShutdown*).
  handoff::ShutdownTimestamps previous_shutdown;
  std::vector<EntryReport> report;
  std::string failure;  // why nothing was restored
  int error = 0;        // the errno behind `failure`: the retrieve's, or EINVAL for the mapping
};

RestoreResult restore(Device& device, RestoreTarget& target, HeldFds& held);

// restore() one entry at a time, for a manager that does other work between the entries (loads
// owners, reloads) or dies in the middle. Construction retrieves "systemd" and reads the mapping;
// next() retrieves the next entry; dispatch() hands it to its owner. finish() FINISHes and closes
// "systemd" (the destructor does when nobody did); abandon() closes it without a FINISH, as the
// death of the manager does: the kernel discards what was not retrieved either way. `device`
// must outlive the cursor; nothing here throws on purpose.
class RestoreCursor {
 public:
  explicit RestoreCursor(Device& device);
  RestoreCursor(RestoreCursor&&) noexcept;
  RestoreCursor& operator=(RestoreCursor&&) = delete;
  ~RestoreCursor();

  // No entry left (or none at all: "systemd" or its mapping could not be had).
  bool done() const;
  // The next entry of the mapping, retrieved: to be dispatched. nullopt when its retrieve failed
  // (then result().report says why) or done().
  std::optional<RestoredItem> next();
  // Consumes `item` (its fd and strings move on, to the owner, the held list or the report).
  // The report stays valid until the next call on the cursor.
  const EntryReport& dispatch(RestoredItem& item, RestoreTarget& target, HeldFds& held);
  RestoreResult finish();
  void abandon();
  const RestoreResult& result() const { return out_; }

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
  RestoreResult out_;
};

}  // namespace luo
