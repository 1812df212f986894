// The per-owner fd store (spec systemd-luo.md §1.2-§1.7) and its registry.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "luo/impl/fd_store.hpp"
#include "luo/impl/syscalls.hpp"
#include "luo/model/fd_store_limits.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

UniqueFd memfd() {
  return UniqueFd(::memfd_create("store", MFD_CLOEXEC));
}
UniqueFd dup_of(const UniqueFd& fd) {
  return UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
}

TEST(SameOpenFile, DupIsTheSameDescriptionAReopenIsNot) {
  auto a = memfd();
  auto b = dup_of(a);
  UniqueFd reopened = luo::testing::reopen(a.get(), O_RDWR);
  auto other = memfd();
  EXPECT_TRUE(same_open_file(a.get(), b.get()));
  EXPECT_FALSE(same_open_file(a.get(), reopened.get())) << "a second open is a new description";
  EXPECT_FALSE(same_open_file(a.get(), other.get()));
}

TEST(FdStore, NewestFirstWithNamesAndPoll) {
  FdStore store({.max = 4, .preserve = PreserveMode::yes});
  ASSERT_TRUE(store.add(memfd(), "first").ok());
  ASSERT_TRUE(store.add(memfd(), "second", Poll::off).ok());
  ASSERT_EQ(store.size(), 2u);
  EXPECT_EQ(store.entries()[0].name, "second");
  EXPECT_EQ(store.entries()[0].poll, Poll::off);
  EXPECT_EQ(store.entries()[1].name, "first");
  EXPECT_EQ(store.entries()[1].poll, Poll::on);
}

TEST(FdStore, FullStoreRefusesWithExfullAndClosesTheFd) {
  FdStore store({.max = 1});
  ASSERT_TRUE(store.add(memfd(), "one").ok());
  auto extra = memfd();
  const int raw = extra.get();
  auto r = store.add(std::move(extra), "two");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().raw_errno(), EXFULL);
  EXPECT_NE(r.error().message().find("FileDescriptorStoreMax=1"), std::string::npos);
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1) << "the refused fd is closed, as systemd does";
  EXPECT_EQ(store.size(), 1u);
}

TEST(FdStore, AnFdThatIsNotOpenIsRefusedBeforeTheLimitCheck) {
  FdStore store({.max = 0});
  auto r = store.add(UniqueFd(), "nothing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().raw_errno(), EBADF) << "fstat() fails first (§1.4 step 1), not EXFULL";
  EXPECT_EQ(store.size(), 0u);
}

TEST(FdStore, ManyEntriesOfOneInodeAreStillDeduplicatedByDescription) {
  FdStore store({.max = 8});
  auto a = memfd();
  UniqueFd reopened = luo::testing::reopen(a.get(), O_RDWR);
  auto dup = dup_of(reopened);
  ASSERT_EQ(store.add(std::move(a), "a").value(), AddOutcome::stored);
  ASSERT_EQ(store.add(std::move(reopened), "reopened").value(), AddOutcome::stored)
      << "the same inode through a second open is another description";
  EXPECT_EQ(store.add(std::move(dup), "dup").value(), AddOutcome::duplicate);
  EXPECT_EQ(store.size(), 2u);
}

// Past 32 entries a store finds a file's entries through an inode index instead of a scan.
// Fills `store` with 40 memfds named fd-0..fd-39 and returns a duplicate of each.
std::vector<UniqueFd> fill_past_the_index(FdStore& store) {
  std::vector<UniqueFd> copies;
  for (int i = 0; i < 40; ++i) {
    auto fd = memfd();
    copies.push_back(dup_of(fd));
    EXPECT_EQ(store.add(std::move(fd), "fd-" + std::to_string(i)).value(), AddOutcome::stored);
  }
  EXPECT_EQ(store.size(), 40u);
  return copies;
}

TEST(FdStore, ALargeStoreStillFindsEveryDuplicateAfterRemovals) {
  FdStore store({.max = 100});
  const std::vector<UniqueFd> copies = fill_past_the_index(store);
  EXPECT_EQ(store.add(dup_of(copies[3]), "again").value(), AddOutcome::duplicate);
  EXPECT_EQ(store.add(dup_of(copies[39]), "again").value(), AddOutcome::duplicate);
  // A second open of fd-5's file: another description of the same inode, stored beside it.
  UniqueFd reopened = luo::testing::reopen(copies[5].get(), O_RDWR);
  auto reopened_copy = dup_of(reopened);
  ASSERT_EQ(store.add(std::move(reopened), "reopened").value(), AddOutcome::stored);
  // Removing one of the inode's two entries leaves the other found.
  ASSERT_EQ(store.remove("fd-5"), 1u);
  EXPECT_EQ(store.add(dup_of(reopened_copy), "again").value(), AddOutcome::duplicate);
  EXPECT_EQ(store.add(dup_of(copies[5]), "fd-5").value(), AddOutcome::stored)
      << "its removed entry is no longer there to match";
  store.release_all();
  EXPECT_EQ(store.add(dup_of(copies[3]), "fd-3").value(), AddOutcome::stored);
  EXPECT_EQ(store.size(), 1u);
}

// The index counts entries per inode: truncating or hanging up one of an inode's two entries must
// leave the other found (forgetting the whole inode would let a duplicate in).
TEST(FdStore, ALargeStoreKeepsAnInodesOtherEntryAfterTruncationAndHangUp) {
  FdStore store({.max = 100});
  const std::vector<UniqueFd> copies = fill_past_the_index(store);
  // fd-0's file through a second open: another description, the newest entry, the one a
  // truncation drops first.
  UniqueFd second_open = luo::testing::reopen(copies[0].get(), O_RDWR);
  ASSERT_EQ(store.add(std::move(second_open), "second-open").value(), AddOutcome::stored);
  store.set_config({.max = 40});
  ASSERT_EQ(store.truncate_to_limit(), 1u);
  store.set_config({.max = 100});
  EXPECT_EQ(store.add(dup_of(copies[0]), "again").value(), AddOutcome::duplicate)
      << "fd-0 is still stored";

  // fd-1's file: a second open stored beside it, then fd-1 hangs up.
  UniqueFd other_open = luo::testing::reopen(copies[1].get(), O_RDWR);
  auto other_copy = dup_of(other_open);
  ASSERT_EQ(store.add(std::move(other_open), "other-open").value(), AddOutcome::stored);
  const auto fd1 = std::find_if(store.entries().begin(), store.entries().end(),
                                [](const FdStoreEntry& e) { return e.name == "fd-1"; });
  ASSERT_NE(fd1, store.entries().end());
  ASSERT_TRUE(store.hang_up(fd1->fd.get()));
  EXPECT_EQ(store.add(dup_of(other_copy), "again").value(), AddOutcome::duplicate)
      << "other-open is still stored";
  EXPECT_EQ(store.add(dup_of(copies[1]), "fd-1").value(), AddOutcome::stored)
      << "fd-1's description left with its entry";
}

TEST(FdStore, ZeroLimitStoresNothing) {
  FdStore store({.max = 0});
  EXPECT_EQ(store.add(memfd(), "x").error().raw_errno(), EXFULL);
}

TEST(FdStore, SameOpenFileDescriptionIsAlreadyIncludedNotAnError) {
  FdStore store({.max = 4});
  auto a = memfd();
  auto copy = dup_of(a);
  ASSERT_EQ(store.add(std::move(a), "a").value(), AddOutcome::stored);
  EXPECT_EQ(store.add(std::move(copy), "again").value(), AddOutcome::duplicate);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.entries()[0].name, "a");
}

TEST(FdStore, InvalidNamesAreRefusedValidOnesIncludingEmptyAreKept) {
  FdStore store({.max = 8});
  EXPECT_EQ(store.add(memfd(), "a:b").error().raw_errno(), EINVAL);
  EXPECT_EQ(store.add(memfd(), std::string(256, 'n')).error().raw_errno(), EINVAL);
  EXPECT_EQ(store.add(memfd(), "tab\there").error().raw_errno(), EINVAL);
  EXPECT_TRUE(store.add(memfd(), "").ok());
  EXPECT_TRUE(store.add(memfd(), std::string(255, 'n')).ok());
  EXPECT_EQ(store.size(), 2u);
}

TEST(FdStore, RemoveTakesEveryEntryOfThatNameOnly) {
  FdStore store({.max = 8});
  ASSERT_TRUE(store.add(memfd(), "x").ok());
  ASSERT_TRUE(store.add(memfd(), "y").ok());
  ASSERT_TRUE(store.add(memfd(), "x").ok());
  EXPECT_EQ(store.remove("x"), 2u);
  EXPECT_EQ(store.remove("nope"), 0u);
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.entries()[0].name, "y");
}

TEST(FdStore, HangUpRemovesOnlyPolledEntries) {
  FdStore store({.max = 8});
  ASSERT_TRUE(store.add(memfd(), "polled").ok());
  ASSERT_TRUE(store.add(memfd(), "unpolled", Poll::off).ok());
  const int unpolled = store.entries()[0].fd.get();
  const int polled = store.entries()[1].fd.get();
  EXPECT_FALSE(store.hang_up(unpolled)) << "FDPOLL=0 entries are not watched";
  EXPECT_TRUE(store.hang_up(polled));
  EXPECT_FALSE(store.hang_up(polled));
  EXPECT_EQ(store.size(), 1u);
}

// The release decision table of §1.7, row by row.
struct ReleaseCase {
  PreserveMode mode;
  ReleaseTrigger trigger;
  bool failed;
  bool released;
};
class ReleaseTable : public ::testing::TestWithParam<ReleaseCase> {};
TEST_P(ReleaseTable, MatchesTheSpec) {
  const auto c = GetParam();
  FdStore store({.max = 2, .preserve = c.mode});
  ASSERT_TRUE(store.add(memfd(), "x").ok());
  EXPECT_EQ(store.owner_stopped(c.trigger, c.failed), c.released);
  EXPECT_EQ(store.empty(), c.released);
}
INSTANTIATE_TEST_SUITE_P(
    Spec17, ReleaseTable,
    ::testing::Values(ReleaseCase{PreserveMode::no, ReleaseTrigger::dead, false, true},
                      ReleaseCase{PreserveMode::no, ReleaseTrigger::release, false, true},
                      ReleaseCase{PreserveMode::restart, ReleaseTrigger::dead, false, false},
                      ReleaseCase{PreserveMode::restart, ReleaseTrigger::dead, true, false},
                      ReleaseCase{PreserveMode::restart, ReleaseTrigger::release, false, true},
                      ReleaseCase{PreserveMode::yes, ReleaseTrigger::dead, true, false},
                      ReleaseCase{PreserveMode::yes, ReleaseTrigger::release, true, false},
                      ReleaseCase{PreserveMode::on_success, ReleaseTrigger::dead, false, false},
                      ReleaseCase{PreserveMode::on_success, ReleaseTrigger::dead, true, true},
                      ReleaseCase{PreserveMode::on_success, ReleaseTrigger::release, false, false},
                      ReleaseCase{PreserveMode::on_success, ReleaseTrigger::release, true, true}));

TEST(FdStore, LoweredLimitDropsTheNewestFirst) {
  FdStoreRegistry owners;
  auto& store = owners.load("a.service", {.max = 3, .preserve = PreserveMode::yes});
  ASSERT_TRUE(store.add(memfd(), "old").ok());
  ASSERT_TRUE(store.add(memfd(), "mid").ok());
  ASSERT_TRUE(store.add(memfd(), "new").ok());
  owners.load("a.service", {.max = 1, .preserve = PreserveMode::yes});
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.entries()[0].name, "old");
}

TEST(FdStore, HandBackGivesCloexecDuplicatesNewestFirstAndKeepsTheStore) {
  FdStore store({.max = 2});
  auto a = memfd();
  ASSERT_EQ(::write(a.get(), "A", 1), 1);
  auto b = memfd();
  ASSERT_EQ(::write(b.get(), "B", 1), 1);
  ASSERT_TRUE(store.add(std::move(a), "a").ok());
  ASSERT_TRUE(store.add(std::move(b), "b").ok());
  auto back = store.hand_back();
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back.value().size(), 2u);
  char c = 0;
  ASSERT_EQ(::pread(back.value()[0].get(), &c, 1, 0), 1);
  EXPECT_EQ(c, 'B');
  EXPECT_TRUE(::fcntl(back.value()[0].get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(same_open_file(back.value()[1].get(), store.entries()[1].fd.get()));
  EXPECT_EQ(store.size(), 2u) << "handing back leaves the entries in the store";
}

TEST(FdStoreRegistry, FindAndUnload) {
  FdStoreRegistry owners;
  owners.load("x.service", {.max = 1});
  EXPECT_NE(owners.find("x.service"), nullptr);
  EXPECT_EQ(owners.find("y.service"), nullptr);
  owners.unload("x.service");
  EXPECT_EQ(owners.find("x.service"), nullptr);
  FdStore& again = owners.load("x.service", {.max = 2});
  EXPECT_EQ(owners.find("x.service"), &again);
  FdStoreRegistry moved = std::move(owners);
  EXPECT_EQ(moved.find("x.service"), &again) << "a moved registry keeps its stores where they were";
}

// find() remembers the store it found last (a restore asks for one unit's fds in a row): the
// answer is always the lookup's, whatever was asked before.
TEST(FdStoreRegistry, TheStoreFoundLastIsNeverAnotherIdsOrAnUnloadedOne) {
  FdStoreRegistry owners;
  FdStore& a = owners.load("a.service", {.max = 1});
  FdStore& ab = owners.load("a.service.service", {.max = 1});
  EXPECT_EQ(owners.find("a.service"), &a);
  EXPECT_EQ(owners.find("a.service"), &a);
  EXPECT_EQ(owners.find("a.servic"), nullptr) << "a prefix of the last id is another id";
  EXPECT_EQ(owners.find("a.service.service"), &ab);
  EXPECT_EQ(owners.find("a.service"), &a);

  owners.unload("a.service");
  EXPECT_EQ(owners.find("a.service"), nullptr) << "the store found last was unloaded";
  FdStore& reloaded = owners.load("a.service", {.max = 2});
  EXPECT_EQ(owners.find("a.service"), &reloaded);

  FdStoreRegistry moved = std::move(owners);
  EXPECT_EQ(moved.find("a.service"), &reloaded);
  // NOLINTNEXTLINE(bugprone-use-after-move): a moved-from registry is empty, and usable.
  EXPECT_EQ(owners.find("a.service"), nullptr) << "the moved-from registry remembers nothing";
  FdStore& fresh = owners.load("a.service", {.max = 3});
  EXPECT_NE(&fresh, &reloaded);
  EXPECT_EQ(owners.find("a.service"), &fresh);
  EXPECT_EQ(moved.find("a.service"), &reloaded);

  // Assigned over, a registry's stores die: it must not answer with one it found before.
  FdStoreRegistry other;
  other.load("b.service", {.max = 1});
  ASSERT_NE(moved.find("a.service"), nullptr);
  moved = std::move(other);
  EXPECT_EQ(moved.find("a.service"), nullptr) << "the store found last died with the assignment";
  EXPECT_NE(moved.find("b.service"), nullptr);
}

// The restore's adds: what RETRIEVE_FD returned is a new file, so a store of adopted entries only
// asks the kernel nothing; the first add() after them takes their inodes and still finds a
// duplicate of any of them, below and past the index.
class AdoptRetrieved : public ::testing::TestWithParam<int> {
 protected:
  void TearDown() override { sys::FaultPlan::reset(); }
};

TEST_P(AdoptRetrieved, AsksTheKernelNothingUntilAnAddNeedsTheInodes) {
  const int n = GetParam();
  FdStore store({.max = 100});
  std::vector<UniqueFd> copies;
  sys::FaultPlan::count();
  for (int i = 0; i < n; ++i) {
    auto fd = memfd();
    copies.push_back(dup_of(fd));
    ASSERT_EQ(store.adopt_retrieved(std::move(fd), "fd-" + std::to_string(i), false).value(),
              AddOutcome::stored);
  }
  EXPECT_EQ(sys::FaultPlan::calls(sys::Call::fstat), 0u);
  EXPECT_EQ(store.size(), static_cast<std::size_t>(n));
  EXPECT_FALSE(store.entries().front().inode_known);

  // A new file matches no inode, so same_open_file() (whose last fallback, without
  // F_DUPFD_QUERY and kcmp, makes fstat() calls of its own) does not run for it.
  EXPECT_EQ(store.add(memfd(), "new").value(), AddOutcome::stored);
  EXPECT_EQ(sys::FaultPlan::calls(sys::Call::fstat), static_cast<std::size_t>(n) + 1)
      << "the new fd and each adopted entry once";
  EXPECT_TRUE(std::all_of(store.entries().begin(), store.entries().end(),
                          [](const FdStoreEntry& e) { return e.inode_known; }));
  EXPECT_EQ(store.add(memfd(), "newer").value(), AddOutcome::stored);
  EXPECT_EQ(sys::FaultPlan::calls(sys::Call::fstat), static_cast<std::size_t>(n) + 2)
      << "inodes are taken once";
  EXPECT_EQ(store.add(dup_of(copies[n / 2]), "again").value(), AddOutcome::duplicate);
  EXPECT_EQ(store.add(dup_of(copies[0]), "again").value(), AddOutcome::duplicate);
  EXPECT_EQ(store.size(), static_cast<std::size_t>(n) + 2);
}

// The inode index outlives the entries that built it (until release_all()): entries adopted
// into an indexed store that add() emptied are counted in it once their inodes are taken.
TEST(AdoptRetrievedIntoAnIndexedStore, IsFoundByTheIndexOnceAnAddTakesTheInodes) {
  FdStore store({.max = 100});
  fill_past_the_index(store);
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(store.remove("fd-" + std::to_string(i)), 1u);
  ASSERT_TRUE(store.empty());
  auto adopted = memfd();
  auto copy = dup_of(adopted);
  ASSERT_EQ(store.adopt_retrieved(std::move(adopted), "adopted", false).value(),
            AddOutcome::stored);
  ASSERT_EQ(store.adopt_retrieved(memfd(), "other", false).value(), AddOutcome::stored);
  EXPECT_EQ(store.add(dup_of(copy), "again").value(), AddOutcome::duplicate);
  ASSERT_EQ(store.remove("adopted"), 1u);
  EXPECT_EQ(store.add(dup_of(copy), "again").value(), AddOutcome::stored)
      << "its removed entry is no longer there to match";
  EXPECT_EQ(store.size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(BelowAndPastTheIndex, AdoptRetrieved, ::testing::Values(3, 40));

TEST(AdoptRetrievedBesideAddedEntries, IsAnAddWithItsDuplicateCheck) {
  FdStore store({.max = 8});
  auto a = memfd();
  auto copy = dup_of(a);
  ASSERT_EQ(store.add(std::move(a), "added").value(), AddOutcome::stored);
  EXPECT_EQ(store.adopt_retrieved(dup_of(copy), "adopted", false).value(), AddOutcome::duplicate)
      << "an added entry may be any file, so the adopted fd is compared with it";
  // Once the added entry is gone the store holds adopted entries only again.
  ASSERT_EQ(store.remove("added"), 1u);
  ASSERT_TRUE(store.empty());
  sys::FaultPlan::count();
  EXPECT_EQ(store.adopt_retrieved(memfd(), "adopted", false).value(), AddOutcome::stored);
  EXPECT_EQ(sys::FaultPlan::calls(sys::Call::fstat), 0u);
  sys::FaultPlan::reset();
}

TEST(AdoptRetrievedRefusals, AreAddsWithoutAnyEntryStored) {
  FdStore store({.max = 1});
  EXPECT_EQ(store.adopt_retrieved(memfd(), "a:b", false).error().raw_errno(), EINVAL);
  EXPECT_EQ(store.adopt_retrieved(UniqueFd(), "empty", false).error().raw_errno(), EBADF);
  ASSERT_TRUE(store.adopt_retrieved(memfd(), "one", true).ok());
  EXPECT_TRUE(store.entries().front().retrieved_session);
  EXPECT_EQ(store.entries().front().poll, Poll::on);
  EXPECT_EQ(store.adopt_retrieved(memfd(), "two", false).error().raw_errno(), EXFULL);
  EXPECT_EQ(store.size(), 1u);
}

// A failed fstat() of an adopted entry refuses the add that needed it, with its errno, and loses
// nothing: the adopted entries stay, and the next add takes their inodes.
TEST(AdoptRetrievedInodes, AFailedFstatRefusesTheAddAndKeepsTheEntries) {
  FdStore store({.max = 8});
  auto first = memfd();
  auto copy = dup_of(first);
  ASSERT_TRUE(store.adopt_retrieved(std::move(first), "first", false).ok());
  ASSERT_TRUE(store.adopt_retrieved(memfd(), "second", false).ok());
  sys::FaultPlan::fail(sys::Call::fstat, 1, EIO);  // the new fd's passes, an entry's fails
  auto refused = store.add(memfd(), "new");
  sys::FaultPlan::reset();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().raw_errno(), EIO);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.add(dup_of(copy), "again").value(), AddOutcome::duplicate);
  EXPECT_EQ(store.size(), 2u);
}

}  // namespace
}  // namespace luo
