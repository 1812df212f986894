#include "luo/impl/fd_store.hpp"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "luo/impl/unit_name.hpp"

#include "luo/impl/syscalls.hpp"
#include "luo/model/fd_store_limits.hpp"

// Deliberate bugs for the mutation report, compiled only into the test-only library copy
// luo_impl_mutants (tests/mutants/); the shipped library has no mutation point.
#ifdef LUO_TEST_MUTANTS
#include "luo/test/mutants.hpp"
#endif

namespace luo {
namespace {

// Linux 6.10; not in every libc's headers yet.
constexpr int kFcntlDupfdQuery = 1027;

Error store_error(Operation op, int err, std::string_view name, std::string detail) {
  return Error(op, ErrorOrigin::refused, err, "fd '" + std::string(name) + "'", "",
               std::move(detail));
}

Error invalid_name(std::string_view name) {
  return store_error(Operation::store_fd, EINVAL, name,
                     "fd names are 0x20-0x7E without ':' and at most 255 bytes");
}

}  // namespace

bool same_open_file(int a, int b) {
  if (a == b)
    return true;
  const int q = ::fcntl(a, kFcntlDupfdQuery, b);
  if (q >= 0)
    return q == 1;
  const pid_t self = ::getpid();
  const long k = ::syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
  if (k >= 0)
    return k == 0;
  struct stat sa {
  }, sb{};
  if (sys::fstat(a, &sa) != 0 || sys::fstat(b, &sb) != 0)
    return false;
  if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode))
    return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
         ::fcntl(a, F_GETFL) == ::fcntl(b, F_GETFL);
}

Error FdStore::full(std::string_view name) const {
  return store_error(
      Operation::store_fd, EXFULL, name,
      "cannot store more fds than FileDescriptorStoreMax=" + std::to_string(config_.max));
}

Result<AddOutcome> FdStore::add(UniqueFd fd, std::string_view name, Poll poll, std::uint64_t index,
                                bool retrieved_session) {
  if (!fdname_is_valid(name))
    return invalid_name(name);
  struct stat st {};
  if (sys::fstat(fd.get(), &st) != 0)
    return store_error(Operation::store_fd, errno, name, "the fd cannot be inspected");
  if (entries_.size() >= config_.max)
    return full(name);
  if (unknown_inodes_ != 0 && !learn_inodes()) {
    return store_error(Operation::store_fd, errno, name,
                       "a stored fd cannot be inspected for the duplicate check");
  }
  if (!indexed_ && entries_.size() >= kIndexFrom) {
    indexed_ = true;
    for (const auto& e : entries_)
      note_inode(e);
  }
  if (may_hold(Inode{st.st_dev, st.st_ino})) {
    for (const auto& e : entries_) {
      if (e.inode_dev == st.st_dev && e.inode == st.st_ino && same_open_file(e.fd.get(), fd.get()))
        return AddOutcome::duplicate;
    }
  }
  entries_.push_front(FdStoreEntry{std::move(fd), std::string(name), poll, index, st.st_dev,
                                   st.st_ino, retrieved_session});
  ++not_adopted_;
  note_inode(entries_.front());
  return AddOutcome::stored;
}

Result<AddOutcome> FdStore::adopt_retrieved(UniqueFd fd, std::string_view name,
                                            bool retrieved_session) {
  if (not_adopted_ != 0)
    return add(std::move(fd), name, Poll::on, /*index=*/0, retrieved_session);
  if (!fdname_is_valid(name))
    return invalid_name(name);
  if (!fd)
    return store_error(Operation::store_fd, EBADF, name, "no fd was retrieved");
  if (entries_.size() >= config_.max)
    return full(name);
  FdStoreEntry e{std::move(fd), std::string(name), Poll::on, /*index=*/0, 0, 0, retrieved_session};
  e.inode_known = false;
  e.adopted = true;
  entries_.push_front(std::move(e));
  ++unknown_inodes_;
  return AddOutcome::stored;
}

bool FdStore::learn_inodes() {
  for (auto& e : entries_) {
    if (e.inode_known)
      continue;
    struct stat st {};
    if (sys::fstat(e.fd.get(), &st) != 0)
      return false;
    e.inode_dev = st.st_dev;
    e.inode = st.st_ino;
    e.inode_known = true;
    --unknown_inodes_;
    note_inode(e);
  }
  return true;
}

void FdStore::note_inode(const FdStoreEntry& e) {
  if (indexed_ && e.inode_known)
    ++inodes_[Inode{e.inode_dev, e.inode}];
}

void FdStore::forget(const FdStoreEntry& e) {
  if (!e.inode_known)
    --unknown_inodes_;
  if (!e.adopted)
    --not_adopted_;
  if (!indexed_ || !e.inode_known)
    return;
  auto it = inodes_.find(Inode{e.inode_dev, e.inode});
  if (it != inodes_.end() && --it->second == 0)
    inodes_.erase(it);
}

bool FdStore::may_hold(const Inode& i) const {
  return !indexed_ || inodes_.contains(i);
}

void FdStore::release_all() {
  (void)take_entries();
}

std::deque<FdStoreEntry> FdStore::take_entries() {
  std::deque<FdStoreEntry> taken = std::move(entries_);
  entries_.clear();  // a moved-from deque is valid but unspecified
  inodes_.clear();
  indexed_ = false;
  unknown_inodes_ = 0;
  not_adopted_ = 0;
  return taken;
}

std::size_t FdStore::remove(std::string_view name) {
#ifdef LUO_TEST_MUTANTS
  if (LUO_MUTANT(remove_only_first)) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const FdStoreEntry& e) { return e.name == name; });
    if (it == entries_.end())
      return 0;
    forget(*it);
    entries_.erase(it);
    return 1;
  }
#endif
  const auto before = entries_.size();
  std::erase_if(entries_, [&](const FdStoreEntry& e) {
    if (e.name != name)
      return false;
    forget(e);
    return true;
  });
  return before - entries_.size();
}

bool FdStore::hang_up(int fd) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const FdStoreEntry& e) {
    return e.poll == Poll::on && e.fd.get() == fd;
  });
  if (it == entries_.end())
    return false;
  forget(*it);
  entries_.erase(it);
  return true;
}

bool FdStore::owner_stopped(ReleaseTrigger trigger, bool failed) {
  if (!store_released(config_.preserve, trigger, failed))
    return false;
  release_all();
  return true;
}

std::size_t FdStore::truncate_to_limit() {
  std::size_t dropped = 0;
  while (entries_.size() > config_.max) {
#ifdef LUO_TEST_MUTANTS
    if (LUO_MUTANT(truncate_drops_oldest)) {
      forget(entries_.back());
      entries_.pop_back();
      ++dropped;
      continue;
    }
#endif
    forget(entries_.front());
    entries_.pop_front();  // newest first
    ++dropped;
  }
  return dropped;
}

Result<std::vector<UniqueFd>> FdStore::hand_back() const {
  std::vector<UniqueFd> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) {
    UniqueFd dup(sys::dup_cloexec(e.fd.get(), 3));
    if (!dup) {
      return Error(Operation::store_fd, ErrorOrigin::kernel, errno, "fd '" + e.name + "'", "",
                   "cannot duplicate a stored fd for hand-back");
    }
    out.push_back(std::move(dup));
  }
  return out;
}

Status FdStoreRegistry::check_owner(std::string_view id) {
  if (handoff::unit_name_is_valid(id))
    return Done{};
  return Error(Operation::store_fd, ErrorOrigin::refused, EINVAL, "owner '" + std::string(id) + "'",
               "", "not a valid unit name, which a restore would skip with every fd it stores");
}

Result<FdStore*> FdStoreRegistry::try_load(std::string_view id, FdStoreConfig config) {
  if (auto valid = check_owner(id); !valid)
    return valid.error();
  auto it = owners_.find(id);
  if (it == owners_.end()) {
    it = owners_.emplace(std::string(id), FdStore(config)).first;
    // Both indexes or neither: an owner find() cannot see would never be indexed again.
    try {
      by_id_.emplace(it->first, &it->second);
    } catch (...) {
      owners_.erase(it);
      throw;
    }
  }
  it->second.set_config(config);
  it->second.truncate_to_limit();
  return &it->second;
}

FdStore& FdStoreRegistry::load(std::string_view id, FdStoreConfig config) {
  auto r = try_load(id, config);
  if (!r)
    throw std::invalid_argument(r.error().message());
  return *r.value();
}

FdStore* FdStoreRegistry::find(std::string_view id) {
  if (last_found_.store != nullptr && id == last_found_.id)
    return last_found_.store;
  auto it = by_id_.find(id);
  if (it == by_id_.end())
    return nullptr;
  last_found_.id = it->first;
  last_found_.store = it->second;
  return it->second;
}
const FdStore* FdStoreRegistry::find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}
void FdStoreRegistry::unload(std::string_view id) {
  if (auto it = owners_.find(id); it != owners_.end()) {
    last_found_.clear();
    by_id_.erase(it->first);
    owners_.erase(it);
  }
}

}  // namespace luo
