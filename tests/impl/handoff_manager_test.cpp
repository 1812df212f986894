// HandoffManager (impl/handoff_manager.hpp): the handoff pipeline as one object that only moves
// along kHandoffMachine. Every row of the table is played (tests/support/handoff_row_walk.hpp);
// the rest are the object's own promises: the observer trace of a whole lifetime, the stores
// closing at Stage A, per-entry reports, held retries, the manager's re-exec, the exec'd helper.
// Every test runs under the fd-leak listener: a manager that forgets an fd fails it.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "handoff_row_walk.hpp"
#include "luo/adapters/memfd.hpp"

namespace luo {
namespace {

using luo::testing::HandoffRig;
using luo::testing::memfd_with;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr FdStoreConfig kKept{.max = 8, .preserve = PreserveMode::yes};

// The shutdown side of one kexec, each step of which must succeed: Stage A, Stage B, the kexec.
::testing::AssertionResult handed_over(HandoffManager& mgr) {
  if (auto a = mgr.stage_a(); !a.ok())
    return ::testing::AssertionFailure() << "stage A: " << a.error().message();
  if (auto b = mgr.stage_b(); !b.ok())
    return ::testing::AssertionFailure() << "stage B: " << b.error().message();
  if (auto k = mgr.kexec(); !k.ok())
    return ::testing::AssertionFailure() << "kexec: " << k.error().message();
  return ::testing::AssertionSuccess();
}

std::vector<std::string> trace(const luo::testing::HandoffRecorder& r) {
  std::vector<std::string> out;
  for (const auto& t : r.records) {
    out.push_back(std::string(t.event) + " " + std::string(t.from) + "->" + std::string(t.to) +
                  (t.syscall_issued ? "" : " (refused)"));
  }
  return out;
}

TEST(HandoffManager, EveryRowOfTheTableIsTakenOrRefusedAsTheModelSays) {
  const auto failures = luo::testing::walk_handoff_rows();
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
}

// The walk plays rows; this checks that it saw every (state, call) cell a caller can reach.
TEST(HandoffManager, EveryCallIsRefusedInEveryStateTheTableDoesNotAllowIt) {
  using luo::testing::HandoffCall;
  for (HandoffCall call :
       {HandoffCall::stage_a, HandoffCall::stage_b, HandoffCall::kexec, HandoffCall::restore}) {
    // serialized and preserved: the shutdown side; nothing and lost: ended pipelines.
    {
      HandoffRig rig;
      rig.add_kept_fd();
      ASSERT_TRUE(rig.mgr.stage_a().ok());
      if (!luo::testing::table_allows(HandoffState::serialized, call)) {
        const auto err = luo::testing::make_call(rig.mgr, call);
        ASSERT_TRUE(err.has_value()) << "serialized";
        EXPECT_EQ(err->state(), "serialized");
        EXPECT_EQ(err->origin(), ErrorOrigin::refused);
      }
    }
    {
      HandoffRig rig(SystemdProfile::v261);
      ASSERT_EQ(rig.mgr.stage_a().value()->state, HandoffState::nothing);
      const auto err = luo::testing::make_call(rig.mgr, call);
      // Only the kexec follows a pipeline that ended in `nothing`: the boot still ends.
      EXPECT_EQ(err.has_value(), call != HandoffCall::kexec) << "nothing";
    }
    {
      HandoffRig rig;
      rig.add_kept_fd();
      ASSERT_TRUE(rig.mgr.stage_a().ok());
      ASSERT_TRUE(rig.mgr.stage_b().ok());
      rig.kernel.inject(SimFault::freeze, EIO);
      ASSERT_FALSE(rig.mgr.kexec().ok());
      ASSERT_EQ(rig.mgr.state(), HandoffState::lost);
      const auto err = luo::testing::make_call(rig.mgr, call);
      ASSERT_TRUE(err.has_value()) << "lost";
      EXPECT_THAT(err->detail(), HasSubstr("ended in lost"));
    }
  }
}

TEST(HandoffManager, ALifetimeAcrossTwoKexecsIsOneTraceOfTheTable) {
  HandoffRig rig;
  ASSERT_TRUE(rig.mgr.restore().ok());  // cold boot: nothing to retrieve
  rig.add_kept_fd();
  ASSERT_TRUE(handed_over(rig.mgr));
  ASSERT_TRUE(rig.mgr.load_owner("keep.service", kKept).ok());
  ASSERT_EQ(rig.mgr.restore().value()->state, HandoffState::finished);
  EXPECT_EQ(rig.mgr.kexec_count(), 1u);
  ASSERT_TRUE(handed_over(rig.mgr));
  ASSERT_TRUE(rig.mgr.load_owner("keep.service", kKept).ok());
  ASSERT_TRUE(rig.mgr.restore().ok());
  EXPECT_EQ(rig.mgr.kexec_count(), 2u);
  EXPECT_EQ(rig.mgr.state(), HandoffState::running);
  const auto fds = rig.mgr.hand_back("keep.service").value();
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_EQ(luo::testing::contents(fds[0].get()), "kept");
  EXPECT_THAT(trace(rig.recorder),
              ElementsAre("retrieve_session running->nothing", "create ->running",
                          "stage_a running->serialized", "stage_b serialized->preserved",
                          "kexec preserved->handed_over", "create ->running",
                          "retrieve_session running->restoring", "finish restoring->finished",
                          "create ->running", "stage_a running->serialized",
                          "stage_b serialized->preserved", "kexec preserved->handed_over",
                          "create ->running", "retrieve_session running->restoring",
                          "finish restoring->finished", "create ->running"));
}

TEST(HandoffManager, RefusalsAreTypedAndNameOperationObjectAndState) {
  HandoffRig rig;
  auto b = rig.mgr.stage_b();
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().operation(), Operation::stage_b);
  EXPECT_EQ(b.error().origin(), ErrorOrigin::refused);
  EXPECT_EQ(b.error().raw_errno(), EINVAL);
  EXPECT_EQ(b.error().state(), "running");
  EXPECT_EQ(b.error().object(), "fd-store handoff");
  EXPECT_EQ(rig.kernel.snapshot().boot_number, 0u);
  EXPECT_EQ(rig.mgr.stage_b_result(), nullptr);
}

TEST(HandoffManager, TheRestoreRunsOncePerBootAndNotAfterStageA) {
  HandoffRig rig;
  ASSERT_TRUE(rig.mgr.restore().ok());
  auto again = rig.mgr.restore();
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.error().detail(), HasSubstr("already ran"));
  HandoffRig cold;
  cold.add_kept_fd();
  ASSERT_TRUE(cold.mgr.stage_a().ok());
  auto late = cold.mgr.restore();
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().state(), "serialized");
}

TEST(HandoffManager, TheStoresCloseAtStageAAndRefuseEveryOperationAfter) {
  HandoffRig rig;
  rig.add_kept_fd();
  ASSERT_TRUE(
      rig.mgr.load_owner("web.service", {.max = 4, .preserve = PreserveMode::restart}).ok());
  ASSERT_TRUE(rig.mgr.store("web.service", memfd_with("cache"), "cache").ok());
  const auto* a = rig.mgr.stage_a().value();
  EXPECT_THAT(a->report,
              ::testing::UnorderedElementsAre(
                  EntryReport{"keep.service", "state", FdEntryState::staged, ""},
                  EntryReport{"web.service", "cache", FdEntryState::released,
                              "FileDescriptorStorePreserve=restart", EntryReason::not_preserved}));
  EXPECT_TRUE(rig.mgr.owners().owners().empty());
  EXPECT_EQ(a->fds.size(), 1u);
  EXPECT_FALSE(rig.mgr.store("keep.service", memfd_with("late"), "late").ok());
  EXPECT_FALSE(rig.mgr.remove("keep.service", "state").ok());
  EXPECT_FALSE(rig.mgr.load_owner("new.service", kKept).ok());
  EXPECT_FALSE(rig.mgr.daemon_reload().ok());
  EXPECT_FALSE(rig.mgr.serialize().ok());
  auto refused = rig.mgr.owner_stopped("keep.service", ReleaseTrigger::dead, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().operation(), Operation::store_fd);
  EXPECT_EQ(refused.error().state(), "serialized");
}

TEST(HandoffManager, StoreOperationsFaceSdNotify) {
  HandoffRig rig;
  ASSERT_TRUE(rig.mgr.load_owner("a.service", kKept).ok());
  EXPECT_EQ(rig.mgr.store("a.service", memfd_with("1"), "x").value(), AddOutcome::stored);
  EXPECT_EQ(rig.mgr.store("a.service", memfd_with("2"), "x").value(), AddOutcome::stored);
  EXPECT_EQ(rig.mgr.remove("a.service", "x").value(), 2u);
  auto unknown = rig.mgr.store("b.service", memfd_with("3"), "y");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().raw_errno(), ENOENT);
  EXPECT_FALSE(rig.mgr.load_owner("not a unit", kKept).ok());
  EXPECT_FALSE(rig.mgr.owner_stopped("a.service", ReleaseTrigger::dead, false).value());
  EXPECT_TRUE(rig.mgr.unload_owner("a.service").ok());
  EXPECT_FALSE(rig.mgr.unload_owner("a.service").ok());
}

TEST(HandoffManager, EntriesOfOwnersNotLoadedAreHeldAndRetriedWhenTheOwnerLoads) {
  HandoffRig rig;
  rig.add_kept_fd();
  ASSERT_TRUE(handed_over(rig.mgr));
  const auto* r = rig.mgr.restore().value();
  EXPECT_THAT(r->report,
              ElementsAre(EntryReport{"keep.service", "state", FdEntryState::held,
                                      "owner not loaded", EntryReason::owner_not_loaded}));
  EXPECT_EQ(rig.mgr.held().size(), 1u);
  EXPECT_TRUE(rig.mgr.daemon_reload().value().empty() == false);  // still held: owner unknown
  const auto loaded = rig.mgr.load_owner("keep.service", kKept).value();
  EXPECT_THAT(loaded, ElementsAre(EntryReport{"keep.service", "state", FdEntryState::stored, ""}));
  EXPECT_EQ(rig.mgr.held().size(), 0u);
}

TEST(HandoffManager, HeldEntriesAreHandedOverAgain) {
  HandoffRig rig;
  rig.add_kept_fd();
  ASSERT_TRUE(handed_over(rig.mgr));
  ASSERT_TRUE(rig.mgr.restore().ok());  // held: keep.service is not loaded in this boot
  ASSERT_EQ(rig.mgr.stage_a().value()->fds.size(), 1u);
  ASSERT_TRUE(rig.mgr.stage_b().ok());
  ASSERT_TRUE(rig.mgr.kexec().ok());
  ASSERT_TRUE(rig.mgr.load_owner("keep.service", kKept).ok());
  EXPECT_THAT(rig.mgr.restore().value()->report,
              ElementsAre(EntryReport{"keep.service", "state", FdEntryState::stored, ""}));
}

TEST(HandoffManager, TheManagersReexecKeepsStoresHeldEntriesAndTheCounter) {
  HandoffRig rig;
  rig.add_kept_fd();
  ASSERT_TRUE(handed_over(rig.mgr));
  ASSERT_TRUE(rig.mgr.load_owner("other.service", kKept).ok());
  ASSERT_TRUE(rig.mgr.store("other.service", memfd_with("older"), "a").ok());
  ASSERT_TRUE(rig.mgr.store("other.service", memfd_with("newer"), "b").ok());
  ASSERT_TRUE(rig.mgr.restore().ok());  // keep.service's entry is held
  auto s = rig.mgr.serialize();
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto fds = std::move(s.value().fds);
  for (const UniqueFd& fd : fds)  // as a manager's exec passes them
    ASSERT_EQ(::fcntl(fd.get(), F_SETFD, 0), 0);
  luo::testing::HandoffRecorder recorder;
  auto again =
      HandoffManager::deserialize(rig.lu, rig.port, s.value().text, fds, {.observer = &recorder});
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_TRUE(fds.empty()) << "every serialized fd is taken";
  HandoffManager& m = again.value();
  EXPECT_EQ(m.kexec_count(), 1u);
  EXPECT_EQ(m.previous_shutdown(), rig.mgr.previous_shutdown());
  EXPECT_TRUE(m.previous_shutdown().late_finish.has_value()) << "Stage B wrote it";
  EXPECT_EQ(m.held().size(), 1u);
  const FdStore* other = m.owners().find("other.service");
  ASSERT_NE(other, nullptr);
  ASSERT_EQ(other->size(), 2u);
  EXPECT_EQ(other->entries()[0].name, "b");  // newest first, as before
  for (const auto& e : other->entries())
    EXPECT_EQ(::fcntl(e.fd.get(), F_GETFD), FD_CLOEXEC) << "close-on-exec again: " << e.name;
  for (const auto& [owner, items] : m.held().entries()) {
    for (const auto& h : items)
      EXPECT_EQ(::fcntl(h.item.fd.get(), F_GETFD), FD_CLOEXEC) << owner;
  }
  EXPECT_FALSE(m.restore().ok()) << "the restore of this boot ran before the re-exec";
  ASSERT_TRUE(m.load_owner("keep.service", kKept).ok());
  EXPECT_EQ(m.held().size(), 0u);
}

TEST(HandoffManager, ABrokenSerializationIsRefusedWithTheReason) {
  HandoffRig rig;
  std::vector<UniqueFd> none;
  auto r = HandoffManager::deserialize(rig.lu, rig.port, "{\"profile\":\"v999\"}", none);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("unusable"));
  auto missing = HandoffManager::deserialize(rig.lu, rig.port, "[1]", none);
  EXPECT_FALSE(missing.ok());
}

// Stage A on `rig`, then `helper` in a forked child, given the number of Stage A's memfd: the
// child has the manager's fds by number, as after execve(), and its own copy of the simulated
// kernel. Returns the child's exit status (what `helper` returned), or -1 when it did not exit.
int run_helper(HandoffRig& rig, const std::function<int(int memfd)>& helper) {
  rig.add_kept_fd();
  if (!rig.mgr.stage_a().ok())
    return -1;
  auto memfd = rig.mgr.stage_a_memfd();
  if (!memfd.ok())
    return -1;
  const pid_t pid = ::fork();
  if (pid == 0)
    ::_exit(helper(memfd.value().get()));
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

TEST(HandoffManager, TheExecdHelperContinuesFromStageA) {
  HandoffRig rig;
  const int status = run_helper(rig, [&](int memfd) {
    luo::testing::HandoffRecorder recorder;
    const std::string value = std::to_string(memfd);
    auto helper = HandoffManager::inherit(rig.lu, rig.port, value.c_str(), {.observer = &recorder});
    if (!helper.ok() || !helper.value().has_value())
      return 2;
    HandoffManager& h = *helper.value();
    if (h.state() != HandoffState::serialized || h.stage_a().ok())
      return 3;
    // What it keeps while it closes the rest: the memfd it was named, then Stage A's one fd.
    const std::vector<int> kept = h.fds_to_keep();
    if (kept.size() != 2 || kept[0] != memfd || kept[1] != h.stage_a_result()->fds[0].get())
      return 6;
    auto b = h.stage_b();
    if (!b.ok() || b.value()->state != HandoffState::preserved)
      return 4;
    if (h.fds_to_keep() != std::vector<int>{kept[0], kept[1], b.value()->session->fd()})
      return 7;
    const auto t = trace(recorder);
    if (t != std::vector<std::string>{"stage_a running->serialized",
                                      "stage_a serialized->serialized (refused)",
                                      "stage_b serialized->preserved"})
      return 5;
    return 0;
  });
  EXPECT_EQ(status, 0) << "2: not inherited, 3: wrong state, 4: Stage B, 5: trace, 6: fds kept "
                          "before Stage B, 7: after it";
  EXPECT_EQ(rig.mgr.state(), HandoffState::serialized) << "the manager itself is unchanged";
}

// A helper whose Stage B failed keeps only the memfd it was named; when it dies, that goes too.
TEST(HandoffManager, AHelperWhoseStageBFailedKeepsItsMemfdUntilItDies) {
  HandoffRig rig;
  const int status = run_helper(rig, [&](int memfd) {
    const std::string value = std::to_string(memfd);
    auto helper = HandoffManager::inherit(rig.lu, rig.port, value.c_str());
    if (!helper.ok() || !helper.value().has_value())
      return 2;
    HandoffManager& h = *helper.value();
    rig.kernel.inject(SimFault::preserve_handler, ENOSPC);
    auto b = h.stage_b();
    if (!b.ok() || b.value()->state != HandoffState::nothing)
      return 3;
    if (h.fds_to_keep() != std::vector<int>{memfd})
      return 4;
    h.crash();
    if (!h.fds_to_keep().empty() || ::fcntl(memfd, F_GETFD) != -1)
      return 5;
    return 0;
  });
  EXPECT_EQ(status, 0)
      << "2: not inherited, 3: Stage B did not fail, 4: kept after it, 5: kept after the crash";
}

TEST(HandoffManager, NothingInheritedIsNoManager) {
  HandoffRig rig;
  auto helper = HandoffManager::inherit(rig.lu, rig.port, nullptr);
  ASSERT_TRUE(helper.ok());
  EXPECT_FALSE(helper.value().has_value());
}

// The manager's own object (nothing inherited): Stage A's fds, then also "systemd", then none.
TEST(HandoffManager, TheFdsToKeepAreWhatThePipelineHoldsForTheKexec) {
  HandoffRig rig;
  rig.add_kept_fd();
  ASSERT_TRUE(rig.mgr.store("keep.service", memfd_with("more"), "more").ok());
  EXPECT_TRUE(rig.mgr.fds_to_keep().empty()) << "the stores' fds are the services', not kept";
  ASSERT_TRUE(rig.mgr.stage_a().ok());
  std::vector<int> staged;
  for (const auto& fd : rig.mgr.stage_a_result()->fds)
    staged.push_back(fd.get());
  ASSERT_EQ(staged.size(), 2u);
  EXPECT_EQ(rig.mgr.fds_to_keep(), staged);
  const auto* b = rig.mgr.stage_b().value();
  ASSERT_EQ(b->state, HandoffState::preserved);
  staged.push_back(b->session->fd());
  EXPECT_EQ(rig.mgr.fds_to_keep(), staged);
  ASSERT_TRUE(rig.mgr.kexec().ok());
  EXPECT_TRUE(rig.mgr.fds_to_keep().empty());
}

TEST(HandoffManager, AFailedStageBEndsInNothingAndTheKexecStillEndsTheBoot) {
  HandoffRig rig;
  rig.add_kept_fd();
  ASSERT_TRUE(rig.mgr.stage_a().ok());
  rig.kernel.inject(SimFault::preserve_handler, ENOSPC);
  const auto* b = rig.mgr.stage_b().value();
  EXPECT_EQ(b->state, HandoffState::nothing);
  EXPECT_EQ(b->error, ENOSPC);
  EXPECT_TRUE(rig.mgr.fds_to_keep().empty()) << "nothing is handed over: Stage A's fds went";
  ASSERT_TRUE(rig.mgr.kexec().ok());
  EXPECT_EQ(rig.mgr.state(), HandoffState::running);
  ASSERT_TRUE(rig.mgr.load_owner("keep.service", kKept).ok());
  EXPECT_EQ(rig.mgr.restore().value()->state, HandoffState::nothing);
}

}  // namespace
}  // namespace luo

namespace luo {
namespace {

using luo::testing::HandoffRig;
using luo::testing::memfd_with;
using ::testing::ElementsAre;

constexpr FdStoreConfig kOwner{.max = 8, .preserve = PreserveMode::yes};

// Two owners' entries handed over by one kexec, for the stepped restore and the crashes.
void hand_over_two_owners(HandoffRig& rig) {
  ASSERT_TRUE(rig.mgr.load_owner("a.service", kOwner).ok());
  ASSERT_TRUE(rig.mgr.load_owner("b.service", kOwner).ok());
  ASSERT_TRUE(rig.mgr.store("a.service", memfd_with("a"), "fa").ok());
  ASSERT_TRUE(rig.mgr.store("b.service", memfd_with("b"), "fb").ok());
  ASSERT_TRUE(rig.mgr.stage_a().ok());
  ASSERT_EQ(rig.mgr.stage_b().value()->state, HandoffState::preserved);
  ASSERT_TRUE(rig.mgr.kexec().ok());
}

const SimulatedKernel::Snapshot::IncomingSession* incoming_systemd(
    const SimulatedKernel::Snapshot& s) {
  for (const auto& x : s.incoming) {
    if (x.name == handoff::kSessionName)
      return &x;
  }
  return nullptr;
}

TEST(HandoffManagerSteppedRestore, HandsEntriesOutOneAtATimeAndOwnersLoadBetweenThem) {
  HandoffRig rig;
  hand_over_two_owners(rig);
  ASSERT_EQ(rig.mgr.restore_begin().value()->state, HandoffState::restoring);
  EXPECT_EQ(rig.mgr.state(), HandoffState::restoring);
  EXPECT_TRUE(rig.mgr.restore_in_progress());
  // Neither owner is loaded yet: the first entry is held.
  auto first = rig.mgr.restore_next().value();
  ASSERT_TRUE(first && first->item);
  const std::string first_owner = first->item->owner;
  EXPECT_EQ(rig.mgr.restore_dispatch(*first->item).value().cause, EntryReason::owner_not_loaded);
  // Between two entries the main loop goes on: the second entry's owner loads, then takes it.
  auto second = rig.mgr.restore_next().value();
  ASSERT_TRUE(second && second->item);
  ASSERT_NE(second->item->owner, first_owner);
  ASSERT_TRUE(rig.mgr.load_owner(second->item->owner, kOwner).ok());
  const EntryReport took = rig.mgr.restore_dispatch(*second->item).value();
  EXPECT_EQ(took.state, FdEntryState::stored);
  EXPECT_EQ(took.cause, EntryReason::none);
  EXPECT_FALSE(rig.mgr.restore_next().value().has_value());  // none left
  EXPECT_FALSE(rig.mgr.stage_a().ok());                      // the table: not while restoring
  const auto* r = rig.mgr.restore_finish().value();
  EXPECT_EQ(r->state, HandoffState::finished);
  EXPECT_EQ(r->kexecs_count, 1u);
  EXPECT_EQ(r->report.size(), 2u);
  EXPECT_EQ(rig.mgr.state(), HandoffState::running);
  EXPECT_FALSE(rig.mgr.restore_in_progress());
  EXPECT_EQ(rig.mgr.held().size(), 1u);
  // FINISHed and closed: the kernel keeps nothing of it.
  EXPECT_EQ(incoming_systemd(rig.kernel.snapshot()), nullptr);
  EXPECT_FALSE(rig.mgr.restore_begin().ok());  // once per boot, like restore()
}

TEST(HandoffManagerSteppedRestore, AFailedRetrieveIsReportedLostWithItsTypedReason) {
  HandoffRig rig;
  hand_over_two_owners(rig);
  ASSERT_TRUE(rig.mgr.restore_begin().ok());
  rig.kernel.inject(SimFault::retrieve_handler, EIO);
  auto step = rig.mgr.restore_next().value();
  ASSERT_TRUE(step.has_value());
  EXPECT_FALSE(step->item.has_value());
  ASSERT_TRUE(step->lost.has_value());
  EXPECT_EQ(step->lost->state, FdEntryState::lost);
  EXPECT_EQ(step->lost->cause, EntryReason::retrieve_failed);
  ASSERT_TRUE(rig.mgr.restore_finish().ok());
}

TEST(HandoffManagerSteppedRestore, StepsOutsideARestoreAndCallsFromInsideADispatchAreRefused) {
  HandoffRig rig;
  EXPECT_FALSE(rig.mgr.restore_next().ok());
  EXPECT_FALSE(rig.mgr.restore_finish().ok());
  hand_over_two_owners(rig);
  ASSERT_TRUE(rig.mgr.load_owner("a.service", kOwner).ok());
  ASSERT_TRUE(rig.mgr.restore_begin().ok());
  struct CallsBack final : RestoreTarget {
    HandoffManager* mgr;
    std::vector<bool> refused;
    DispatchResult dispatch(RestoredItem&) override {
      refused.push_back(!mgr->load_owner("c.service", kOwner).ok());
      refused.push_back(!mgr->restore_next().ok());
      return {Disposition::refused, EXFULL, "full", ""};
    }
  } target;
  target.mgr = &rig.mgr;
  auto step = rig.mgr.restore_next().value();
  ASSERT_TRUE(step && step->item);
  EXPECT_EQ(rig.mgr.restore_dispatch(*step->item, &target).value().cause,
            EntryReason::refused_by_owner);
  EXPECT_THAT(target.refused, ElementsAre(true, true));
  ASSERT_TRUE(rig.mgr.restore_finish().ok());
}

TEST(HandoffManagerCrash, InRunningTheStoresAreLostAndTheRestartedManagerKnowsItsOwners) {
  HandoffRig rig;
  rig.add_kept_fd();
  rig.mgr.crash();
  EXPECT_EQ(rig.mgr.state(), HandoffState::running);
  const FdStore* s = rig.mgr.owners().find("keep.service");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->entries().empty());
  EXPECT_EQ(s->config().max, 4u);
  EXPECT_EQ(rig.recorder.records.back().event, "manager_crash");
  ASSERT_TRUE(rig.mgr.store("keep.service", memfd_with("again"), "state").ok());
}

TEST(HandoffManagerCrash, AfterStageBNothingIsHandedOverAndTheKernelDropsSystemd) {
  HandoffRig rig;
  rig.add_kept_fd();
  ASSERT_TRUE(rig.mgr.stage_a().ok());
  ASSERT_TRUE(rig.mgr.stage_b().ok());
  ASSERT_FALSE(rig.kernel.snapshot().outgoing.empty());
  rig.mgr.crash();
  EXPECT_EQ(rig.mgr.state(), HandoffState::nothing);
  EXPECT_TRUE(rig.kernel.snapshot().outgoing.empty());
  EXPECT_EQ(rig.mgr.stage_b_result(), nullptr);
  ASSERT_TRUE(rig.mgr.kexec().ok());  // the boot still ends, with nothing
  EXPECT_EQ(rig.mgr.restore().value()->state, HandoffState::nothing);
}

TEST(HandoffManagerCrash, InARestoreSystemdClosesWithoutFinishAndTheRestoreEndsInNothing) {
  HandoffRig rig;
  hand_over_two_owners(rig);
  ASSERT_TRUE(rig.mgr.load_owner("a.service", kOwner).ok());
  ASSERT_TRUE(rig.mgr.load_owner("b.service", kOwner).ok());
  ASSERT_TRUE(rig.mgr.restore_begin().ok());
  auto step = rig.mgr.restore_next().value();
  ASSERT_TRUE(step && step->item);
  ASSERT_EQ(rig.mgr.restore_dispatch(*step->item).value().state, FdEntryState::stored);
  rig.mgr.crash();
  EXPECT_EQ(rig.mgr.state(), HandoffState::running);
  EXPECT_FALSE(rig.mgr.restore_in_progress());
  ASSERT_NE(rig.mgr.restore_result(), nullptr);
  EXPECT_EQ(rig.mgr.restore_result()->state, HandoffState::nothing);
  // The dispatched entry died with the manager's store; the other was never retrieved.
  EXPECT_TRUE(rig.mgr.owners().find("a.service")->entries().empty());
  EXPECT_TRUE(rig.mgr.owners().find("b.service")->entries().empty());
  const auto* sys = incoming_systemd(rig.kernel.snapshot());
  EXPECT_TRUE(sys == nullptr || !sys->open);
  EXPECT_FALSE(rig.mgr.restore().ok());  // this boot's restore is over
}

TEST(HandoffManagerFallbackReboot, FollowsOnlyAFailedKexecAndStartsAColdBoot) {
  HandoffRig rig;
  rig.add_kept_fd();
  EXPECT_FALSE(rig.mgr.fallback_reboot().ok());
  ASSERT_TRUE(rig.mgr.stage_a().ok());
  ASSERT_TRUE(rig.mgr.stage_b().ok());
  rig.kernel.inject(SimFault::freeze, EIO);
  ASSERT_FALSE(rig.mgr.kexec().ok());
  EXPECT_EQ(rig.mgr.state(), HandoffState::lost);
  EXPECT_FALSE(rig.mgr.stage_a().ok());
  const auto boot = rig.kernel.snapshot().boot_number;
  ASSERT_TRUE(rig.mgr.fallback_reboot().ok());
  EXPECT_EQ(rig.kernel.snapshot().boot_number, boot + 1);
  EXPECT_EQ(rig.mgr.state(), HandoffState::running);
  EXPECT_EQ(rig.mgr.kexec_count(), 0u);
  EXPECT_TRUE(rig.mgr.owners().owners().empty());
  EXPECT_EQ(rig.mgr.restore().value()->state, HandoffState::nothing);
}

}  // namespace
}  // namespace luo
