// luo/impl/fd_store.hpp: per-owner fd stores, the runtime side of model/fd_store_machine.hpp.
//
// An owner is what systemd calls a unit: an id such as "vmm.service". Its store keeps the
// manager's own duplicates of the fds the owner handed over (sd_notify FDSTORE=1), newest first,
// each with a name, a poll flag and an upstream index (§1.2). Adding follows §1.4 exactly: a full
// store refuses with EXFULL, the same open file description twice is "already included", not
// an error. Whole-store release follows the decision table of §1.7 (kReleaseRules).
//
//   luo::FdStoreRegistry owners;
//   auto& vmm = owners.load("vmm.service", {.max = 16, .preserve = luo::PreserveMode::yes});
//   vmm.add(std::move(memfd), "guest-ram");          // Result<AddOutcome>
//   vmm.remove("guest-ram");                          // FDSTOREREMOVE=1
//   auto fds = vmm.hand_back();                       // duplicates for LISTEN_FDS, newest first
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "luo/impl/error.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/fd_store_limits.hpp"
#include "luo/model/fd_store_machine.hpp"

namespace luo {

struct FdStoreConfig {
  unsigned max = 0;  // FileDescriptorStoreMax=; 0 disables the store
  PreserveMode preserve = kDefaultPreserveMode;
};

struct FdStoreEntry {
  UniqueFd fd;
  std::string name;
  Poll poll = Poll::on;
  std::uint64_t index = 0;  // upstream mirror index; 0 = not mirrored (§2.2)
  // The file's inode: only entries of the same inode can share an open file description, so
  // the duplicate check asks the kernel about those alone. Taken at add(); for an entry from
  // adopt_retrieved() only when a later add() needs it (inode_known false until then, both 0).
  dev_t inode_dev = 0;
  ino_t inode = 0;
  // A LUO session this manager retrieved at restore: incoming, so it cannot be handed over
  // again (§5.6); Stage A drops it with that reason.
  bool retrieved_session = false;
  bool inode_known = true;
  // Stored by adopt_retrieved(): a file the kernel created at this boot's restore.
  bool adopted = false;
};

enum class AddOutcome : std::uint8_t { stored, duplicate };

// Whether two fds refer to the same open file description (systemd's same_fd()): the kernel's
// F_DUPFD_QUERY where it exists, else kcmp(), else same inode and same open flags (never equal
// for character or block devices, whose inode says nothing about the open).
bool same_open_file(int a, int b);

class FdStore {
 public:
  explicit FdStore(FdStoreConfig config = {}) : config_(config) {}

  const FdStoreConfig& config() const { return config_; }
  void set_config(FdStoreConfig config) { config_ = config; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Newest first, the order the owner gets them back in.
  const std::deque<FdStoreEntry>& entries() const { return entries_; }

  // The fd is consumed either way, as systemd closes it on every failure. Errors: EINVAL for an
  // invalid name (luo::fdname_is_valid), EXFULL when the store is full, fstat()'s errno when the
  // fd is not open (§1.4 step 1).
  Result<AddOutcome> add(UniqueFd fd, std::string_view name, Poll poll = Poll::on,
                         std::uint64_t index = 0, bool retrieved_session = false);
  // The restore's add(), polled and unmirrored as the restore stores every fd: for an fd that
  // RETRIEVE_FD or RETRIEVE_SESSION returned at this boot's restore, the first retrieval of its
  // token or session. The kernel builds a new file for each preserved token (and each
  // session), so such an fd is never the open file description of another retrieved one: while
  // the store holds only adopted entries there is nothing to compare it with, and it is stored
  // without asking the kernel anything (the restore's one syscall per fd, out of the kexec's
  // blackout). A later add() takes the adopted entries' inodes first. Once the store holds an
  // entry add() stored, this is add(). Errors as add()'s, EBADF for an empty fd.
  Result<AddOutcome> adopt_retrieved(UniqueFd fd, std::string_view name, bool retrieved_session);
  // FDSTOREREMOVE=1: every entry of that name; returns how many.
  std::size_t remove(std::string_view name);
  // POLLHUP/POLLERR on a polled entry's fd; false if no entry has that fd.
  bool hang_up(int fd);
  // The owner stopped: applies the release decision table; true if the store was closed.
  bool owner_stopped(ReleaseTrigger trigger, bool failed);
  void release_all();
  // Empties the store and hands its entries over, fds included, newest first: for a Stage A
  // that takes the fds it stages instead of duplicating them (stage_a_taking_fds()).
  std::deque<FdStoreEntry> take_entries();
  // A lowered limit drops the newest entries first (§1.5); returns how many were dropped.
  std::size_t truncate_to_limit();
  // O_CLOEXEC duplicates of every entry, newest first, for handing back at activation.
  Result<std::vector<UniqueFd>> hand_back() const;

 private:
  // From this many entries on, add() finds the entries of a file's inode through inodes_
  // instead of scanning them all, so filling a store stays linear in its size.
  static constexpr std::size_t kIndexFrom = 32;
  struct Inode {
    dev_t dev;
    ino_t ino;
    bool operator==(const Inode&) const = default;
  };
  struct InodeHash {
    std::size_t operator()(const Inode& i) const noexcept {
      return std::hash<ino_t>{}(i.ino) ^ (std::hash<dev_t>{}(i.dev) << 1);
    }
  };
  // The EXFULL refusal, add()'s and adopt_retrieved()'s.
  Error full(std::string_view name) const;
  void note_inode(const FdStoreEntry& e);
  // Every removal of an entry goes through here, to keep the index and the counts below.
  void forget(const FdStoreEntry& e);
  bool may_hold(const Inode& i) const;
  // fstat() of each adopted entry whose inode is not known yet; false, errno set, if one fails.
  bool learn_inodes();

  FdStoreConfig config_;
  std::deque<FdStoreEntry> entries_;  // prepending stays O(1) for stores of any size
  // How many entries each inode has: built when the store first reaches kIndexFrom entries
  // (indexed_), then kept, however small the store gets, until release_all() empties it.
  std::unordered_map<Inode, std::size_t, InodeHash> inodes_;
  bool indexed_ = false;
  std::size_t unknown_inodes_ = 0;  // entries with inode_known false
  std::size_t not_adopted_ = 0;     // entries add() stored
};

struct FdStoreOwner {
  std::string id;
  FdStore store;
};

// Every owner's store. An owner is "loaded" once the manager knows its configuration.
//
// Owner ids are unit names: the restore skips every unit whose name fails
// handoff::unit_name_is_valid() (impl/unit_name.hpp), so a store under any other id would be
// staged, preserved and then lost after the kexec, when nothing can be done. The registry
// refuses such an id when it is loaded instead (issue 18); fd names are checked by
// FdStore::add(), with the restore's own fdname_is_valid().
class FdStoreRegistry {
 public:
  // EINVAL (Operation::store_fd, naming the owner) unless `id` is a valid unit name.
  static Status check_owner(std::string_view id);
  // Loads or reconfigures an owner; a lowered limit truncates the store (§2.4). EINVAL from
  // check_owner() for an id the restore would skip.
  Result<FdStore*> try_load(std::string_view id, FdStoreConfig config);
  // try_load() for ids known to be unit names (literals, ids read from a mapping): throws
  // std::invalid_argument with try_load()'s message for any other. Ids from outside (a
  // configuration, a C caller, a scenario file) go through try_load().
  FdStore& load(std::string_view id, FdStoreConfig config);
  FdStore* find(std::string_view id);
  const FdStore* find(std::string_view id) const;
  void unload(std::string_view id);
  // Owners in id order, so every walk over them is deterministic.
  const std::map<std::string, FdStore, std::less<>>& owners() const { return owners_; }

 private:
  std::map<std::string, FdStore, std::less<>> owners_;
  // The same stores by id, for find(): a restore looks up an owner per fd, and a walk down the
  // map compares about log2(owners) ids. Keys view the map's own ids; map nodes never move.
  std::unordered_map<std::string_view, FdStore*> by_id_;
  // The store find() returned last: a restore dispatches a unit's fds one after the other, and
  // comparing one id spares the hash and the buckets, which the kernel's work between two
  // dispatches has long evicted. Valid until unload(); a move leaves both registries without it.
  struct LastFound {
    std::string_view id;  // views the map's own id
    FdStore* store = nullptr;
    LastFound() = default;
    LastFound(LastFound&& other) noexcept { other.clear(); }
    LastFound& operator=(LastFound&& other) noexcept {
      clear();
      other.clear();
      return *this;
    }
    void clear() {
      id = {};
      store = nullptr;
    }
  };
  LastFound last_found_;
};

}  // namespace luo
