// SimulatedKernel across simulated reboots: the kexec selftests (spec §6.2), the incoming
// session and file lifecycle (§2.4, §3.2-§3.3, §3.8), freeze rollback (§5.2) and the injected
// kernel-internal failures that no real userspace can provoke.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "fd_leak_listener.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/adapters/uapi.hpp"
#include "memfd_fixtures.hpp"
#include "simulated_test_util.hpp"

namespace luo::simtest {
namespace {

using Op = SimulatedKernel::HandlerOp;
using Call = SimulatedKernel::HandlerCall;
using FileState = SimulatedKernel::IncomingFileState;
using SessionState = SimulatedKernel::IncomingSessionState;

using SimKexec = SimulatedKernelTest;
using SimFaults = SimulatedKernelTest;

INSTANTIATE_TEST_SUITE_P(Profiles, SimKexec, ::testing::ValuesIn(kAllProfiles), profile_test_name);
INSTANTIATE_TEST_SUITE_P(Profiles, SimFaults, ::testing::ValuesIn(kAllProfiles), profile_test_name);

// ---- §6.2 kexec selftests -------------------------------------------------------------------

TEST_P(SimKexec, KexecSimple) {
  {
    UniqueFd dev = open_device();
    // Stage detection: the state session is not there yet.
    EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "kexec_simple_state")), ENOENT);
    UniqueFd state = create(dev.get(), "kexec_simple_state");
    preserve_data(state.get(), 999, "2");
    UniqueFd session = create(dev.get(), "test-session");
    preserve_data(session.get(), 0x1A, "hello kexec world");
    dev.reset();  // the device is closed; only the session fds stay open across the reboot
    ASSERT_TRUE(kernel.kexec().ok());
  }
  EXPECT_EQ(kernel.boot_number(), 1U);
  UniqueFd dev = open_device();
  UniqueFd state = retrieve(dev.get(), "kexec_simple_state");
  expect_file(state.get(), 999, "2");
  UniqueFd session = retrieve(dev.get(), "test-session");
  expect_file(session.get(), 0x1A, "hello kexec world");
  EXPECT_EQ(finish(kernel, session.get()), 0);
  EXPECT_EQ(::close(session.release()), 0);
  EXPECT_EQ(finish(kernel, state.get()), 0);
  EXPECT_EQ(::close(state.release()), 0);
  EXPECT_TRUE(kernel.snapshot().incoming.empty());
}

TEST_P(SimKexec, KexecMultiSession) {
  {
    UniqueFd dev = open_device();
    UniqueFd state = create(dev.get(), "kexec_multi_state");
    preserve_data(state.get(), 998, "2");
    UniqueFd empty1 = create(dev.get(), "multi-test-empty-1");
    UniqueFd empty2 = create(dev.get(), "multi-test-empty-2");
    UniqueFd files1 = create(dev.get(), "multi-test-files-1");
    preserve_data(files1.get(), 0x1001, "data-1");
    UniqueFd files2 = create(dev.get(), "multi-test-files-2");
    preserve_data(files2.get(), 0x2002, "data-2a");
    preserve_data(files2.get(), 0x3003, "data-2b");
    dev.reset();
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  const auto snap = kernel.snapshot();
  ASSERT_EQ(snap.incoming.size(), 5U);  // creation order, empty sessions included
  EXPECT_EQ(snap.incoming[1].name, "multi-test-empty-1");
  EXPECT_EQ(snap.incoming[4].files.size(), 2U);
  UniqueFd state = retrieve(dev.get(), "kexec_multi_state");
  UniqueFd empty1 = retrieve(dev.get(), "multi-test-empty-1");
  UniqueFd empty2 = retrieve(dev.get(), "multi-test-empty-2");
  UniqueFd files1 = retrieve(dev.get(), "multi-test-files-1");
  UniqueFd files2 = retrieve(dev.get(), "multi-test-files-2");
  expect_file(files1.get(), 0x1001, "data-1");
  expect_file(files2.get(), 0x2002, "data-2a");
  expect_file(files2.get(), 0x3003, "data-2b");
  for (UniqueFd* s : {&empty1, &empty2, &files1, &files2, &state}) {
    EXPECT_EQ(finish(kernel, s->get()), 0);
    EXPECT_EQ(::close(s->release()), 0);
  }
  EXPECT_TRUE(kernel.snapshot().incoming.empty());
}

TEST_P(SimKexec, KexecStressFiles) {
  // 500 files on 7.2+; the legacy profiles take their maximum of 128.
  const int files = has(Feature::legacy_limits) ? static_cast<int>(kLegacyMaxFilesPerSession) : 500;
  {
    UniqueFd dev = open_device();
    UniqueFd state = create(dev.get(), "kexec_many_files_state");
    preserve_data(state.get(), 9999, "2");
    UniqueFd session = create(dev.get(), "many_files_session");
    for (int i = 0; i < files; ++i) {
      preserve_data(session.get(), static_cast<std::uint64_t>(i), "file-data-" + std::to_string(i));
    }
    dev.reset();
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  UniqueFd state = retrieve(dev.get(), "kexec_many_files_state");
  UniqueFd session = retrieve(dev.get(), "many_files_session");
  for (int i = 0; i < files; ++i) {
    expect_file(session.get(), static_cast<std::uint64_t>(i), "file-data-" + std::to_string(i));
  }
  EXPECT_EQ(finish(kernel, session.get()), 0);
  EXPECT_EQ(finish(kernel, state.get()), 0);
}

TEST_P(SimKexec, KexecStressSessions) {
  // 2000 sessions on 7.2+; the legacy profiles take their maximum of 819 (state included).
  const int sessions =
      has(Feature::legacy_limits) ? static_cast<int>(kLegacyMaxOutgoingSessions) - 1 : 2000;
  FdLimit limit;
  if (!limit.raise_to(2 * static_cast<rlim_t>(sessions) + 64)) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low for " << sessions << " sessions";
  }
  {
    UniqueFd dev = open_device();
    UniqueFd state = create(dev.get(), "kexec_many_state");
    preserve_data(state.get(), 999, "2");
    std::vector<UniqueFd> fds;
    for (int i = 0; i < sessions; ++i)
      fds.push_back(create(dev.get(), "many-test-" + std::to_string(i)));
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  UniqueFd state = retrieve(dev.get(), "kexec_many_state");
  expect_file(state.get(), 999, "2");
  for (int i = 0; i < sessions; ++i) {
    UniqueFd s = retrieve(dev.get(), "many-test-" + std::to_string(i));
    ASSERT_EQ(finish(kernel, s.get()), 0) << i;
  }
  EXPECT_EQ(finish(kernel, state.get()), 0);
  state.reset();
  EXPECT_TRUE(kernel.snapshot().incoming.empty());
}

// ---- the reboot itself ----------------------------------------------------------------------

TEST_P(SimKexec, OldBootFdsAreStaleAndTheDeviceIsClosed) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "old");
  ASSERT_TRUE(kernel.kexec().ok());
  auto arg = sized_arg<uapi::CreateSessionArg>();
  set_name(arg.name, "from-old-device");
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, &arg)), EBADF);
  UniqueFd memfd = make_memfd("");
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 1), EBADF);
  UniqueFd copy(::fcntl(session.get(), F_DUPFD_CLOEXEC, 0));
  EXPECT_EQ(preserve_fd(kernel, copy.get(), memfd.get(), 1), EBADF);
  UniqueFd new_dev = open_device();  // not EBUSY: the old open died with the old kernel
  const auto snap = kernel.snapshot();
  EXPECT_TRUE(snap.outgoing.empty());
  ASSERT_EQ(snap.incoming.size(), 1U);
  EXPECT_EQ(snap.incoming[0].name, "old");
}

// is_device() says yes to this boot's open device and its duplicates only: not to a session or
// a memfd, and not to the device fd of a boot that is gone (it holds nothing any more).
TEST_P(SimKexec, IsDeviceKnowsOnlyThisBootsOpenDevice) {
  UniqueFd dev = open_device();
  UniqueFd copy(::fcntl(dev.get(), F_DUPFD_CLOEXEC, 0));
  UniqueFd session = create(dev.get(), "not-the-device");
  UniqueFd memfd = make_memfd("");
  EXPECT_TRUE(kernel.is_device(dev.get()));
  EXPECT_TRUE(kernel.is_device(copy.get()));
  EXPECT_FALSE(kernel.is_device(session.get()));
  EXPECT_FALSE(kernel.is_device(memfd.get()));
  EXPECT_FALSE(kernel.is_device(-1));
  ASSERT_TRUE(kernel.kexec().ok());
  EXPECT_FALSE(kernel.is_device(dev.get())) << "stale after the reboot";
  UniqueFd next = open_device();
  EXPECT_TRUE(kernel.is_device(next.get()));
}

TEST_P(SimKexec, SessionClosedBeforeKexecDoesNotComeBack) {
  {
    UniqueFd dev = open_device();
    UniqueFd kept = create(dev.get(), "kept");
    UniqueFd closed = create(dev.get(), "closed");
    preserve_data(closed.get(), 1, "lost");
    closed.reset();
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "closed")), ENOENT);
  UniqueFd kept = retrieve(dev.get(), "kept");
}

TEST_P(SimKexec, BootNumberCounts) {
  EXPECT_EQ(kernel.boot_number(), 0U);
  ASSERT_TRUE(kernel.kexec().ok());
  ASSERT_TRUE(kernel.kexec().ok());
  EXPECT_EQ(kernel.boot_number(), 2U);
  EXPECT_EQ(kernel.snapshot().boot_number, 2U);
}

TEST_P(SimKexec, ContentsAndPositionAtRebootWin) {
  UniqueFd memfd = make_memfd("0123456789");
  {
    UniqueFd dev = open_device();
    UniqueFd session = create(dev.get(), "pos");
    ASSERT_EQ(::lseek(memfd.get(), 3, SEEK_SET), 3);
    ASSERT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 1), 0);
    // After PRESERVE_FD, within the size: the kernel hands over the latest data and position.
    ASSERT_EQ(::pwrite(memfd.get(), "AB", 2, 0), 2);
    ASSERT_EQ(::lseek(memfd.get(), 7, SEEK_SET), 7);
    ASSERT_TRUE(kernel.kexec().ok());
  }
  ASSERT_EQ(::pwrite(memfd.get(), "zz", 2, 0), 2);  // the old boot's file is not the new one's
  UniqueFd dev = open_device();
  UniqueFd session = retrieve(dev.get(), "pos");
  UniqueFd restored = retrieve_file(session.get(), 1);
  EXPECT_EQ(::lseek(restored.get(), 0, SEEK_CUR), 7);
  EXPECT_EQ(read_all(restored.get()), "AB23456789");
  struct stat st {};
  ASSERT_EQ(::fstat(restored.get(), &st), 0);
  EXPECT_EQ(st.st_size, 10);
}

TEST_P(SimKexec, SealsPerProfile) {
  {
    UniqueFd dev = open_device();
    UniqueFd session = create(dev.get(), "seals");
    UniqueFd memfd = make_memfd("sealed");
    ASSERT_EQ(::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    ASSERT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 1), 0);
    // Added after PRESERVE_FD: silently lost (§8 "seals are snapshotted at PRESERVE_FD").
    ASSERT_EQ(::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  UniqueFd session = retrieve(dev.get(), "seals");
  UniqueFd restored = retrieve_file(session.get(), 1);
  const int seals = ::fcntl(restored.get(), F_GET_SEALS);
  EXPECT_EQ(seals, has(Feature::memfd_seals_preserved) ? (F_SEAL_SHRINK | F_SEAL_GROW) : 0);
  EXPECT_EQ(read_all(restored.get()), "sealed");
}

TEST_P(SimKexec, RetrievedMemfdIsReadWriteAndCloexecWhateverWasPreserved) {
  {
    UniqueFd dev = open_device();
    UniqueFd session = create(dev.get(), "flags");
    UniqueFd memfd = make_memfd("flags");
    UniqueFd ro = luo::testing::reopen(memfd.get(), O_RDONLY);
    ASSERT_EQ(preserve_fd(kernel, session.get(), ro.get(), 1), 0);
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  UniqueFd session = retrieve(dev.get(), "flags");
  UniqueFd restored = retrieve_file(session.get(), 1);
  EXPECT_EQ(::fcntl(restored.get(), F_GETFL) & O_ACCMODE, O_RDWR);
  EXPECT_EQ(::fcntl(restored.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(read_all(restored.get()), "flags");
}

TEST_P(SimKexec, FreezeFailureRollsBackInSpecOrder) {
  UniqueFd dev = open_device();
  UniqueFd a = create(dev.get(), "A");
  preserve_data(a.get(), 1, "a1");
  preserve_data(a.get(), 2, "a2");
  UniqueFd b = create(dev.get(), "B");
  preserve_data(b.get(), 3, "b3");
  UniqueFd c = create(dev.get(), "C");
  preserve_data(c.get(), 4, "c4");
  preserve_data(c.get(), 5, "c5");
  preserve_data(c.get(), 6, "c6");
  const auto before = kernel.snapshot();
  kernel.clear_handler_log();
  kernel.inject(SimFault::freeze, EIO, 5);  // the 6th file frozen: C's token 6
  EXPECT_EQ(errno_of(kernel.kexec()), EIO);
  EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{
                                      {Op::freeze, "A", 1},
                                      {Op::freeze, "A", 2},
                                      {Op::freeze, "B", 3},
                                      {Op::freeze, "C", 4},
                                      {Op::freeze, "C", 5},
                                      {Op::freeze, "C", 6},
                                      // failing session's frozen files FIFO
                                      {Op::unfreeze, "C", 4},
                                      {Op::unfreeze, "C", 5},
                                      // earlier sessions in reverse, each FIFO
                                      {Op::unfreeze, "B", 3},
                                      {Op::unfreeze, "A", 1},
                                      {Op::unfreeze, "A", 2},
                                  }));
  // Nothing happened: same boot, same sessions, still usable.
  EXPECT_EQ(kernel.snapshot(), before);
  EXPECT_EQ(kernel.boot_number(), 0U);
  preserve_data(b.get(), 7, "b7");
  ASSERT_TRUE(kernel.kexec().ok());
  UniqueFd new_dev = open_device();
  UniqueFd nb = retrieve(new_dev.get(), "B");
  expect_file(nb.get(), 7, "b7");
}

TEST_P(SimKexec, FreezeFailureOnTheFirstFile) {
  UniqueFd dev = open_device();
  UniqueFd a = create(dev.get(), "A");
  preserve_data(a.get(), 1, "a1");
  kernel.clear_handler_log();
  kernel.inject(SimFault::freeze, ENOMEM);
  EXPECT_EQ(errno_of(kernel.kexec()), ENOMEM);
  EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{{Op::freeze, "A", 1}}));
}

TEST_P(SimKexec, StickyDeserializeFailure) {
  {
    UniqueFd dev = open_device();
    UniqueFd s = create(dev.get(), "s");
    dev.reset();
    ASSERT_TRUE(kernel.kexec().ok());
  }
  kernel.inject(SimFault::deserialize, ENOENT);
  EXPECT_EQ(errno_of(kernel.open_device()), EIO);
  EXPECT_EQ(errno_of(kernel.open_device()), EIO);  // remembered for the whole boot
  EXPECT_TRUE(kernel.snapshot().deserialize_failed);
  ASSERT_TRUE(kernel.kexec().ok());  // the expected recovery: another reboot
  UniqueFd dev = open_device();
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "s")), ENOENT);
}

TEST_P(SimKexec, DeserializeRunsOncePerBoot) {
  kernel.inject(SimFault::deserialize, EIO, 1);  // the second boot's deserialization
  { UniqueFd dev = open_device(); }
  UniqueFd again = open_device();  // same boot: no second deserialization to fail
  again.reset();
  ASSERT_TRUE(kernel.kexec().ok());
  EXPECT_EQ(errno_of(kernel.open_device()), EIO);
}

TEST_P(SimKexec, UnopenedBootDropsTheHandover) {
  {
    UniqueFd dev = open_device();
    UniqueFd s = create(dev.get(), "never-looked-at");
    dev.reset();
    ASSERT_TRUE(kernel.kexec().ok());
  }
  ASSERT_TRUE(kernel.kexec().ok());  // the device was never opened in boot 1
  UniqueFd dev = open_device();
  EXPECT_TRUE(kernel.snapshot().incoming.empty());
}

// ---- §2.4 / §3.2-3.3: incoming sessions and files --------------------------------------------

class SimIncomingBoot : public SimulatedKernelTest {
 protected:
  // Boot 0 preserves `sessions` (name -> {token, data}...), kexec()s, and opens the device.
  void handover(
      const std::vector<std::pair<std::string, std::vector<std::pair<std::uint64_t, std::string>>>>&
          sessions) {
    {
      UniqueFd old_dev = open_device();
      std::vector<UniqueFd> fds;
      for (const auto& [name, files] : sessions) {
        fds.push_back(create(old_dev.get(), name));
        for (const auto& [token, data] : files)
          preserve_data(fds.back().get(), token, data);
      }
      ASSERT_TRUE(kernel.kexec().ok());
    }
    dev = open_device();
    kernel.clear_handler_log();
  }
  UniqueFd dev;
};

INSTANTIATE_TEST_SUITE_P(Profiles, SimIncomingBoot, ::testing::ValuesIn(kAllProfiles),
                         profile_test_name);

TEST_P(SimIncomingBoot, FinishDiscardsUnretrievedFiles) {
  handover({{"s", {{1, "one"}, {2, "two"}, {3, "three"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  UniqueFd two = retrieve_file(s.get(), 2);
  EXPECT_EQ(finish(kernel, s.get()), 0);
  EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{{Op::retrieve, "s", 2},
                                                     {Op::can_finish, "s", 1},
                                                     {Op::can_finish, "s", 2},
                                                     {Op::can_finish, "s", 3},
                                                     {Op::discard, "s", 3},
                                                     {Op::finish, "s", 2},
                                                     {Op::discard, "s", 1}}));
  EXPECT_EQ(errno_of(retrieve_fd(kernel, s.get(), 1)), ENOENT);
  EXPECT_EQ(errno_of(retrieve_fd(kernel, s.get(), 2)), ENOENT);  // every token after FINISH
  EXPECT_EQ(read_all(two.get()), "two");                         // still fully valid
  ASSERT_EQ(::pwrite(two.get(), "TWO", 3, 0), 3);
  const auto snap = kernel.snapshot();
  ASSERT_EQ(snap.incoming.size(), 1U);
  EXPECT_EQ(snap.incoming[0].state, SessionState::finished);
  EXPECT_EQ(snap.incoming[0].files,
            (std::vector<SimulatedKernel::Snapshot::IncomingFile>{{1, FileState::discarded, 0},
                                                                  {2, FileState::finished, 0},
                                                                  {3, FileState::discarded, 0}}));
  // Idempotent, and a finished session still answers RETRIEVE_SESSION with EINVAL.
  kernel.clear_handler_log();
  EXPECT_EQ(finish(kernel, s.get()), 0);
  EXPECT_TRUE(kernel.handler_log().empty());
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "s")), EINVAL);
  s.reset();
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "s")), ENOENT);
}

TEST_P(SimIncomingBoot, RetrieveFdIsIdempotentOnTheSameOpenFile) {
  handover({{"s", {{1, "shared file"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  UniqueFd first = retrieve_file(s.get(), 1);
  UniqueFd second = retrieve_file(s.get(), 1);
  EXPECT_NE(first.get(), second.get());
  ASSERT_EQ(::lseek(first.get(), 5, SEEK_SET), 5);
  EXPECT_EQ(::lseek(second.get(), 0, SEEK_CUR), 5);  // one open file description
  struct stat a {};
  struct stat b {};
  ASSERT_EQ(::fstat(first.get(), &a), 0);
  ASSERT_EQ(::fstat(second.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{{Op::retrieve, "s", 1}}));  // once
}

TEST_P(SimIncomingBoot, FilesCanBeRetrievedInAnyOrder) {
  handover({{"s", {{1, "a"}, {2, "b"}, {3, "c"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  expect_file(s.get(), 3, "c");
  expect_file(s.get(), 1, "a");
  expect_file(s.get(), 2, "b");
  EXPECT_EQ(errno_of(retrieve_fd(kernel, s.get(), 4)), ENOENT);
}

TEST_P(SimIncomingBoot, CloseOfRetrievedSessionIsImplicitFinish) {
  handover({{"s", {{1, "one"}, {2, "two"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  UniqueFd one = retrieve_file(s.get(), 1);
  kernel.clear_handler_log();
  s.reset();
  EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{{Op::can_finish, "s", 1},
                                                     {Op::can_finish, "s", 2},
                                                     {Op::discard, "s", 2},
                                                     {Op::finish, "s", 1}}));
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "s")), ENOENT);
  EXPECT_EQ(read_all(one.get()), "one");
}

TEST_P(SimIncomingBoot, RetrieveSessionRules) {
  handover({{"twice", {}}, {std::string(63, 'N'), {}}});
  UniqueFd s = retrieve(dev.get(), "twice");
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "twice")), EINVAL);
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "unknown")), ENOENT);
  // No name validation: an unterminated field simply matches nothing.
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), std::string(64, 'N'))), ENOENT);
  UniqueFd n63 = retrieve(dev.get(), std::string(63, 'N'));
  if (has(Feature::get_name)) {
    auto name = get_name(kernel, n63.get());
    ASSERT_TRUE(name.ok());
    EXPECT_EQ(name.value(), std::string(63, 'N'));
  }
}

TEST_P(SimIncomingBoot, OutgoingNameMayEqualAnIncomingName) {
  handover({{"same-name", {{1, "old"}}}});
  UniqueFd out = create(dev.get(), "same-name");
  EXPECT_EQ(errno_of(create_session(kernel, dev.get(), "same-name")), EEXIST);
  UniqueFd in = retrieve(dev.get(), "same-name");
  expect_file(in.get(), 1, "old");
}

TEST_P(SimIncomingBoot, RepreservingARetrievedMemfd) {
  handover({{"in", {{1, "carry on"}}}});
  UniqueFd in = retrieve(dev.get(), "in");
  UniqueFd file = retrieve_file(in.get(), 1);
  UniqueFd out = create(dev.get(), "out");
  // 7.0+: the retrieved file sits in the preservation table until its session is finished.
  EXPECT_EQ(preserve_fd(kernel, out.get(), file.get(), 1),
            has(Feature::double_preservation_check) ? EBUSY : 0);
  EXPECT_EQ(finish(kernel, in.get()), 0);
  const int after = preserve_fd(kernel, out.get(), file.get(), 2);
  EXPECT_EQ(after, 0);
  in.reset();
  ASSERT_TRUE(kernel.kexec().ok());
  UniqueFd dev2 = open_device();
  UniqueFd again = retrieve(dev2.get(), "out");
  expect_file(again.get(), 2, "carry on");
}

TEST_P(SimIncomingBoot, PreserveOnIncomingSessionIsEinval) {
  handover({{"in", {}}});
  UniqueFd in = retrieve(dev.get(), "in");
  UniqueFd memfd = make_memfd("");
  EXPECT_EQ(preserve_fd(kernel, in.get(), memfd.get(), 1), EINVAL);
}

TEST_P(SimIncomingBoot, FinishReservedPerProfile) {
  handover({{"in", {}}});
  UniqueFd in = retrieve(dev.get(), "in");
  // §8: already 7.2.13 checks it; 6.19-7.1 ignore it.
  EXPECT_EQ(finish(kernel, in.get(), 1), has(Feature::finish_reserved_checked) ? EINVAL : 0);
}

TEST_P(SimIncomingBoot, GetNameOnIncomingSession) {
  handover({{"incoming-name", {}}});
  UniqueFd in = retrieve(dev.get(), "incoming-name");
  auto name = get_name(kernel, in.get());
  if (!has(Feature::get_name)) {
    EXPECT_EQ(errno_of(name), EINVAL);
    return;
  }
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name.value(), "incoming-name");
}

TEST_P(SimIncomingBoot, NeverRetrievedSessionIsDroppedAtTheNextKexec) {
  handover({{"ignored", {{1, "x"}}}, {"held", {{2, "y"}}}});
  UniqueFd held = retrieve(dev.get(), "held");  // retrieved, unfinished, open across kexec
  UniqueFd file = retrieve_file(held.get(), 2);
  dev.reset();
  ASSERT_TRUE(kernel.kexec().ok());
  UniqueFd dev2 = open_device();
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev2.get(), "ignored")), ENOENT);
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev2.get(), "held")), ENOENT);
  EXPECT_EQ(finish(kernel, held.get()), EBADF);  // an fd of the dead kernel
}

TEST_P(SimIncomingBoot, CopyBackFaultOnRetrieveSessionFinishesIt) {
  handover({{"s", {{1, "gone"}}}});
  Pages pages(PROT_READ | PROT_WRITE);
  auto* arg = reinterpret_cast<uapi::RetrieveSessionArg*>(pages.first());
  *arg = sized_arg<uapi::RetrieveSessionArg>();
  set_name(arg->name, "s");
  pages.protect_first(PROT_READ);
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kRetrieveSession, arg)), EFAULT);
  // §8: the release of the new fd ran the implicit FINISH.
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "s")), ENOENT);
  EXPECT_EQ(kernel.handler_log(),
            (std::vector<Call>{{Op::can_finish, "s", 1}, {Op::discard, "s", 1}}));
}

TEST_P(SimIncomingBoot, CopyBackFaultOnRetrieveFdThenRetrySucceeds) {
  handover({{"s", {{1, "retry me"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  Pages pages(PROT_READ | PROT_WRITE);
  auto* arg = reinterpret_cast<uapi::RetrieveFdArg*>(pages.first());
  *arg = sized_arg<uapi::RetrieveFdArg>();
  arg->token = 1;
  pages.protect_first(PROT_READ);
  const int fds_before = luo::testing::count_open_fds();
  EXPECT_EQ(errno_of(kernel.ioctl(s.get(), uapi::kRetrieveFd, arg)), EFAULT);
  // The new fd was released; LUO's own reference (one fd in the simulator) remains.
  EXPECT_EQ(luo::testing::count_open_fds(), fds_before + 1);
  expect_file(s.get(), 1, "retry me");
}

TEST_P(SimIncomingBoot, CopyBackFaultOnFinishStillFinishes) {
  handover({{"s", {{1, "x"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  Pages pages(PROT_READ | PROT_WRITE);
  auto* arg = reinterpret_cast<uapi::SessionFinishArg*>(pages.first());
  *arg = sized_arg<uapi::SessionFinishArg>();
  pages.protect_first(PROT_READ);
  EXPECT_EQ(errno_of(kernel.ioctl(s.get(), uapi::kSessionFinish, arg)), EFAULT);
  EXPECT_EQ(kernel.snapshot().incoming.at(0).state, SessionState::finished);
}

TEST_P(SimIncomingBoot, EmfileBeforeEnoentOnRetrieveFd) {
  handover({{"s", {}}});
  UniqueFd s = retrieve(dev.get(), "s");
  FdLimit limit;
  limit.exhaust();
  const int err = errno_of(retrieve_fd(kernel, s.get(), 12345));
  limit.restore();
  EXPECT_EQ(err, EMFILE);
  EXPECT_EQ(errno_of(retrieve_fd(kernel, s.get(), 12345)), ENOENT);
}

// ---- injected kernel-internal failures --------------------------------------------------------

TEST_P(SimIncomingBoot, CanFinishVetoChangesNothing) {
  handover({{"s", {{1, "a"}, {2, "b"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  kernel.inject(SimFault::can_finish, EBUSY, 1);
  EXPECT_EQ(finish(kernel, s.get()), EBUSY);
  EXPECT_EQ(kernel.handler_log(),
            (std::vector<Call>{{Op::can_finish, "s", 1}, {Op::can_finish, "s", 2}}));
  EXPECT_EQ(kernel.snapshot().incoming.at(0).state, SessionState::retrieved);
  expect_file(s.get(), 2, "b");  // still usable
  EXPECT_EQ(finish(kernel, s.get()), 0);
}

TEST_P(SimIncomingBoot, CanFinishVetoOnCloseLeaksTheSession) {
  handover({{"s", {{1, "a"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  UniqueFd file = retrieve_file(s.get(), 1);
  kernel.inject(SimFault::can_finish, EBUSY);
  s.reset();
  const auto snap = kernel.snapshot();
  ASSERT_EQ(snap.incoming.size(), 1U);
  EXPECT_EQ(snap.incoming[0].state, SessionState::retrieved);
  EXPECT_FALSE(snap.incoming[0].open);
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "s")), EINVAL);
  // Its retrieved file stays in the preservation table until the next live update.
  UniqueFd out = create(dev.get(), "out");
  EXPECT_EQ(preserve_fd(kernel, out.get(), file.get(), 1),
            has(Feature::double_preservation_check) ? EBUSY : 0);
  out.reset();
  dev.reset();
  ASSERT_TRUE(kernel.kexec().ok());
  UniqueFd dev2 = open_device();
  EXPECT_TRUE(kernel.snapshot().incoming.empty());
}

TEST_P(SimIncomingBoot, RetrieveFailureStickyPerProfile) {
  handover({{"s", {{1, "a"}}}});
  UniqueFd s = retrieve(dev.get(), "s");
  kernel.inject(SimFault::retrieve_handler, EIO);
  EXPECT_EQ(errno_of(retrieve_fd(kernel, s.get(), 1)), EIO);
  auto again = retrieve_fd(kernel, s.get(), 1);
  if (has(Feature::sticky_retrieve_failure)) {
    EXPECT_EQ(errno_of(again), EIO);  // forever, without calling the handler again
    EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{{Op::retrieve, "s", 1}}));
    EXPECT_EQ(kernel.snapshot().incoming.at(0).files.at(0),
              (SimulatedKernel::Snapshot::IncomingFile{1, FileState::failed, EIO}));
  } else {
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(read_all(again.value().get()), "a");
  }
  kernel.clear_handler_log();
  EXPECT_EQ(finish(kernel, s.get()), 0);
  const Op last = has(Feature::sticky_retrieve_failure) ? Op::discard : Op::finish;
  EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{{Op::can_finish, "s", 1}, {last, "s", 1}}));
}

TEST_P(SimFaults, InjectionSkipsCountRunsOfTheStep) {
  UniqueFd dev = open_device();
  UniqueFd s = create(dev.get(), "skip");
  kernel.inject(SimFault::preserve_handler, EOPNOTSUPP, 2);
  std::vector<int> results;
  for (std::uint64_t token = 0; token < 5; ++token) {
    UniqueFd memfd = make_memfd("");
    results.push_back(preserve_fd(kernel, s.get(), memfd.get(), token));
  }
  EXPECT_EQ(results, (std::vector<int>{0, 0, EOPNOTSUPP, 0, 0}));
}

// A full fd table at CREATE_SESSION or RETRIEVE_SESSION (the kernel's first step): the errno,
// and nothing created, retrieved or consumed; the next call succeeds.
TEST_P(SimIncomingBoot, ReservedSessionFdFailureChangesNothing) {
  handover({{"s", {{1, "a"}}}});
  kernel.inject(SimFault::reserve_session_fd, EMFILE);
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "s")), EMFILE);
  EXPECT_EQ(kernel.snapshot().incoming.at(0).state, SessionState::deserialized);
  kernel.inject(SimFault::reserve_session_fd, EMFILE);
  EXPECT_EQ(errno_of(create_session(kernel, dev.get(), "new")), EMFILE);
  EXPECT_TRUE(kernel.snapshot().outgoing.empty());
  UniqueFd s = retrieve(dev.get(), "s");
  expect_file(s.get(), 1, "a");
  EXPECT_EQ(finish(kernel, s.get()), 0);
}

TEST_P(SimFaults, ClearedInjectionsNeverFire) {
  UniqueFd dev = open_device();
  UniqueFd s = create(dev.get(), "clear");
  kernel.inject(SimFault::preserve_handler, EIO);
  kernel.clear_faults();
  UniqueFd memfd = make_memfd("x");
  EXPECT_EQ(preserve_fd(kernel, s.get(), memfd.get(), 1), 0);
}

TEST_P(SimFaults, AScaledDownLegacyFileLimitIsTheLimit) {
  SimulatedKernel small(profile(), SimulatedKernel::Options{.legacy_files_per_session = 2});
  auto dev = small.open_device();
  ASSERT_TRUE(dev.ok());
  auto s = create_session(small, dev.value().get(), "s");
  ASSERT_TRUE(s.ok());
  std::vector<int> results;
  for (std::uint64_t token = 0; token < 3; ++token) {
    UniqueFd memfd = make_memfd("x");
    results.push_back(preserve_fd(small, s.value().get(), memfd.get(), token));
  }
  EXPECT_EQ(results, (std::vector<int>{0, 0, has(Feature::legacy_limits) ? ENOSPC : 0}));
}

// The preserved data is the kernel's memory until it is retrieved or discarded: RETRIEVE_FD
// moves it into the memfd it hands out, FINISH frees what nobody retrieved (§3.3, §3.8). The
// simulator's own accounting must drop at each step, not only when the session is closed.
TEST_P(SimKexec, RetrieveAndFinishGiveThePreservedMemoryBack) {
  const std::string big(1 << 20, 'b');
  {
    UniqueFd dev = open_device();
    UniqueFd session = create(dev.get(), "memory");
    preserve_data(session.get(), 1, big);
    preserve_data(session.get(), 2, big);
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  const std::size_t handed_over = kernel.image_bytes();
  EXPECT_GE(handed_over, 2 * big.size());
  UniqueFd session = retrieve(dev.get(), "memory");
  {
    UniqueFd first = retrieve_file(session.get(), 1);
    EXPECT_EQ(read_all(first.get()), big);
  }
  EXPECT_LE(kernel.image_bytes(), handed_over - big.size()) << "RETRIEVE_FD kept its copy";
  EXPECT_GE(kernel.image_bytes(), big.size()) << "token 2 is still preserved";
  EXPECT_EQ(finish(kernel, session.get()), 0);
  EXPECT_EQ(kernel.image_bytes(), 0U) << "FINISH kept the unretrieved file's data";
  EXPECT_EQ(kernel.snapshot().incoming.at(0).files.at(1).state, FileState::discarded);
}

// A large sparse memfd crosses kexec() as its data (the real 7.2/7.3 kernels carry a 300 MiB
// memfd in a 1 GiB VM: docs/kernel-decisions.md), with its size, holes and data intact.
TEST_P(SimKexec, LargeSparseMemfdCrossesKexec) {
  const off_t size = off_t{300} << 20;
  {
    UniqueFd dev = open_device();
    UniqueFd session = create(dev.get(), "large");
    UniqueFd m = make_memfd("head");
    ASSERT_EQ(::ftruncate(m.get(), size), 0);
    ASSERT_EQ(::pwrite(m.get(), "tail", 4, size - 4), 4);
    EXPECT_EQ(preserve_fd(kernel, session.get(), m.get(), 7), 0);
    ASSERT_TRUE(kernel.kexec().ok());
  }
  UniqueFd dev = open_device();
  EXPECT_LT(kernel.image_bytes(), std::size_t{1} << 20) << "holes are not stored";
  UniqueFd session = retrieve(dev.get(), "large");
  UniqueFd m = retrieve_file(session.get(), 7);
  struct stat st {};
  ASSERT_EQ(::fstat(m.get(), &st), 0);
  EXPECT_EQ(st.st_size, size);
  char buf[4] = {};
  EXPECT_EQ(::pread(m.get(), buf, 4, 0), 4);
  EXPECT_EQ(std::string(buf, 4), "head");
  EXPECT_EQ(::pread(m.get(), buf, 4, size / 2), 4);
  EXPECT_EQ(std::string(buf, 4), std::string(4, '\0'));
  EXPECT_EQ(::pread(m.get(), buf, 4, size - 4), 4);
  EXPECT_EQ(std::string(buf, 4), "tail");
}

// Freezing reads a file's data without touching the caller's open file: after a rolled-back
// kexec the position of a preserved memfd is where the caller left it (the file was frozen
// before the failing one).
TEST_P(SimKexec, FreezeLeavesTheCallersFilePosition) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "position");
  UniqueFd m = make_memfd("0123456789");
  ASSERT_EQ(::ftruncate(m.get(), 1 << 20), 0);  // a hole after the data: several extents
  ASSERT_EQ(::pwrite(m.get(), "end", 3, (1 << 20) - 3), 3);
  ASSERT_EQ(::lseek(m.get(), 3, SEEK_SET), 3);
  EXPECT_EQ(preserve_fd(kernel, session.get(), m.get(), 1), 0);
  preserve_data(session.get(), 2, "second");
  kernel.inject(SimFault::freeze, EIO, 1);
  EXPECT_EQ(errno_of(kernel.kexec()), EIO);
  EXPECT_EQ(::lseek(m.get(), 0, SEEK_CUR), 3);
}

}  // namespace
}  // namespace luo::simtest
