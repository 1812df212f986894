// luo/impl/kexec_handoff.hpp: carrying every owner's fd store through a kexec, the way systemd
// v261 does (spec systemd-luo.md §3), with the lifecycle of model/fd_store_machine.hpp.
//
// Three calls, one per phase:
//   stage_a()   the manager, leaving its main loop for kexec: lists every entry of every store
//               whose owner preserves it (yes/on-success), recognises LUO session fds (GET_NAME,
//               /proc fallback) and refuses a session named "systemd". Result: the Stage A
//               document plus the duplicated fds it names.
//   stage_b()   the shutdown side, as late as possible: creates the "systemd" session, preserves
//               the fds with dense tokens 1..N and writes the token-0 mapping. Third-party
//               sessions are not nested (they cannot be): their fds are kept open by the caller
//               through the Stage A result until reboot(KEXEC).
//   restore()   the next boot's manager: retrieves "systemd", reads token 0 (format C, or the
//               legacy format B), dispatches every entry to its owner through a RestoreTarget,
//               holds entries whose owner is not loaded yet, and finishes "systemd" on every
//               path. Third-party sessions are retrieved and handed over unfinished.
//
// Improvement over systemd (§5.4, documented in docs/fd-store-handoff.md): the mapping is
// preserved *first*, into a memfd pre-sized for the largest mapping this Stage A can produce, and
// the final JSON is written into it afterwards (writes inside the size are allowed while
// preserved, kernel-luo.md §3.8), padded with JSON whitespace. A per-session file limit can then
// never cost the mapping, only the entries past the limit. systemd's reader parses it unchanged.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "luo/impl/fd_store.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/live_update.hpp"

namespace luo {

// What happened to one store entry on its way through the handoff.
struct EntryReport {
  std::string owner;
  std::string name;
  FdEntryState state;  // where the entry ended this phase
  std::string reason;  // why, when it did not move on
  bool operator==(const EntryReport&) const = default;
};

// The kernel name of a LUO session fd, or nullopt if `fd` is not one: GET_NAME where the
// kernel has it, else the "anon_inode:[luo_session] <name>" link text, which /proc may truncate.
std::optional<std::string> luo_session_name(KernelPort& port, int fd);

struct StageAResult {
  handoff::StageA document;
  std::vector<UniqueFd> fds;  // the duplicates the document's `fd` numbers refer to
  std::vector<EntryReport> report;
  HandoffState state = HandoffState::running;
};

// `held` entries (restored for owners not loaded yet) are handed over again, like systemd's
// not-found units whose preserve mode is forced to yes.
class HeldFds;
StageAResult stage_a(const FdStoreRegistry& owners, const HeldFds* held, KernelPort& port,
                     std::uint32_t kexecs_count);

struct StageBResult {
  // "systemd": keep it open until reboot(KEXEC); closing it drops everything.
  std::optional<OutgoingSession> session;
  handoff::StageB mapping;
  std::vector<EntryReport> report;
  HandoffState state = HandoffState::serialized;
  std::string failure;  // why state is `nothing`
  int error = 0;        // the errno behind `failure` (EIO when there was none), else 0
};

StageBResult stage_b(Device& device, const StageAResult& staged);

// ---------------------------------------------------------------------------------------------
// Restore

struct RestoredItem {
  std::string owner;
  std::string name;
  handoff::EntryType type = handoff::EntryType::fd;
  UniqueFd fd;               // the retrieved memfd, or the retrieved third-party session fd
  std::string session_name;  // for luo_session entries
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
// upstream index, §2.4); unknown owners are held; a full or disabled store refuses with EXFULL.
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

 private:
  std::map<std::string, std::vector<Held>, std::less<>> held_;
};

struct RestoreResult {
  HandoffState state = HandoffState::running;
  std::uint32_t kexecs_count = 0;  // previous + 1 once a usable mapping was read
  std::vector<EntryReport> report;
  std::string failure;  // why nothing was restored
  int error = 0;        // the errno behind `failure`: the retrieve's, or EINVAL for the mapping
};

RestoreResult restore(Device& device, RestoreTarget& target, HeldFds& held);

}  // namespace luo
