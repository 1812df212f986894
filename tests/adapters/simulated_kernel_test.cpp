// SimulatedKernel within one boot: the kernel's liveupdate.c selftests (spec §6.1) for every
// profile, and every errno row of §1.3/§1.4/§2/§3, at the byte level.
#include "luo/adapters/simulated_kernel.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "luo/adapters/scm_rights.hpp"
#include "luo/adapters/uapi.hpp"
#include "memfd_fixtures.hpp"
#include "simulated_test_util.hpp"

namespace luo::simtest {
namespace {

using Op = SimulatedKernel::HandlerOp;
using Call = SimulatedKernel::HandlerCall;

using SimSelftest = SimulatedKernelTest;
using SimIoctlAbi = SimulatedKernelTest;
using SimSessions = SimulatedKernelTest;
using SimFiles = SimulatedKernelTest;

INSTANTIATE_TEST_SUITE_P(Profiles, SimSelftest, ::testing::ValuesIn(kAllProfiles),
                         profile_test_name);
INSTANTIATE_TEST_SUITE_P(Profiles, SimIoctlAbi, ::testing::ValuesIn(kAllProfiles),
                         profile_test_name);
INSTANTIATE_TEST_SUITE_P(Profiles, SimSessions, ::testing::ValuesIn(kAllProfiles),
                         profile_test_name);
INSTANTIATE_TEST_SUITE_P(Profiles, SimFiles, ::testing::ValuesIn(kAllProfiles), profile_test_name);

// ---- §6.1 selftests 1-15 ------------------------------------------------------------------

TEST_P(SimSelftest, S01BasicOpenClose) {
  auto dev = kernel.open_device();
  ASSERT_TRUE(dev.ok());
  EXPECT_GE(dev.value().get(), 0);
  EXPECT_EQ(::close(dev.value().release()), 0);
}

TEST_P(SimSelftest, S02ExclusiveOpen) {
  UniqueFd first = open_device();
  EXPECT_EQ(errno_of(kernel.open_device()), EBUSY);
  // dup() shares the one open file: only the last close releases it (§1.2).
  UniqueFd copy(::fcntl(first.get(), F_DUPFD_CLOEXEC, 0));
  first.reset();
  EXPECT_EQ(errno_of(kernel.open_device()), EBUSY);
  copy.reset();
  EXPECT_TRUE(kernel.open_device().ok());
}

TEST_P(SimSelftest, S03CreateDuplicateSession) {
  UniqueFd dev = open_device();
  auto first = create_session(kernel, dev.get(), "duplicate-session-test");
  ASSERT_TRUE(first.ok());
  EXPECT_GE(first.value().get(), 0);
  EXPECT_EQ(errno_of(create_session(kernel, dev.get(), "duplicate-session-test")), EEXIST);
  EXPECT_EQ(::close(first.value().release()), 0);
}

TEST_P(SimSelftest, S04CreateDistinctSessions) {
  UniqueFd dev = open_device();
  auto a = create_session(kernel, dev.get(), "distinct-session-1");
  auto b = create_session(kernel, dev.get(), "distinct-session-2");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(::close(a.value().release()), 0);
  EXPECT_EQ(::close(b.value().release()), 0);
}

TEST_P(SimSelftest, S05PreserveMemfd) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "preserve-memfd-test");
  UniqueFd memfd = make_memfd("hello liveupdate");
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 0x1234), 0);
  EXPECT_EQ(::close(session.release()), 0);
  EXPECT_EQ(::lseek(memfd.get(), 0, SEEK_SET), 0);
  char buf[64] = {};
  EXPECT_EQ(::read(memfd.get(), buf, sizeof buf), 16);
  EXPECT_STREQ(buf, "hello liveupdate");
  EXPECT_EQ(kernel.handler_log(),
            (std::vector<Call>{{Op::preserve, "preserve-memfd-test", 0x1234},
                               {Op::unpreserve, "preserve-memfd-test", 0x1234}}));
}

TEST_P(SimSelftest, S06PreserveMultipleMemfds) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "preserve-multi-memfd-test");
  UniqueFd a = make_memfd("data for memfd 1");
  UniqueFd b = make_memfd("data for memfd 2");
  EXPECT_EQ(preserve_fd(kernel, session.get(), a.get(), 0xAAAA), 0);
  EXPECT_EQ(preserve_fd(kernel, session.get(), b.get(), 0xBBBB), 0);
  EXPECT_EQ(read_all(a.get()), "data for memfd 1");
  EXPECT_EQ(read_all(b.get()), "data for memfd 2");
}

TEST_P(SimSelftest, S07PreserveComplexScenario) {
  UniqueFd dev = open_device();
  UniqueFd s1 = create(dev.get(), "complex-session-1");
  UniqueFd s2 = create(dev.get(), "complex-session-2");
  UniqueFd d1 = make_memfd("complex data 1");
  UniqueFd e1 = make_memfd("");
  UniqueFd d2 = make_memfd("complex data 2");
  UniqueFd e2 = make_memfd("");
  EXPECT_EQ(preserve_fd(kernel, s1.get(), d1.get(), 0x1111), 0);
  EXPECT_EQ(preserve_fd(kernel, s1.get(), e1.get(), 0x2222), 0);
  EXPECT_EQ(preserve_fd(kernel, s2.get(), d2.get(), 0x3333), 0);
  EXPECT_EQ(preserve_fd(kernel, s2.get(), e2.get(), 0x4444), 0);
  EXPECT_EQ(read_all(d1.get()), "complex data 1");
  EXPECT_EQ(read_all(d2.get()), "complex data 2");
  EXPECT_EQ(read_all(e1.get()), "");
  EXPECT_EQ(read_all(e2.get()), "");
  EXPECT_EQ(::close(s1.release()), 0);
  EXPECT_EQ(::close(s2.release()), 0);
}

TEST_P(SimSelftest, S08PreserveUnsupportedFd) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "unsupported-fd-test");
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(null_fd);
  EXPECT_EQ(preserve_fd(kernel, session.get(), null_fd.get(), 0xDEAD), ENOENT);
}

TEST_P(SimSelftest, S09PreventDoublePreservation) {
  UniqueFd dev = open_device();
  UniqueFd s1 = create(dev.get(), "double-preserve-session-1");
  UniqueFd s2 = create(dev.get(), "double-preserve-session-2");
  UniqueFd memfd = make_memfd("");
  EXPECT_EQ(preserve_fd(kernel, s1.get(), memfd.get(), 0x1111), 0);
  const int expected = has(Feature::double_preservation_check) ? EBUSY : 0;
  EXPECT_EQ(preserve_fd(kernel, s2.get(), memfd.get(), 0x2222), expected);
  EXPECT_EQ(preserve_fd(kernel, s1.get(), memfd.get(), 0x3333), expected);
}

TEST_P(SimSelftest, S10CreateSessionNoNullTermination) {
  UniqueFd dev = open_device();
  const std::string x64(64, 'X');
  auto r = create_session(kernel, dev.get(), x64);
  if (has(Feature::session_name_validation)) {
    EXPECT_EQ(errno_of(r), EINVAL);
    return;
  }
  // 6.19-7.1: silently truncated to 63 bytes, and duplicates are judged on the truncated name.
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(kernel.snapshot().outgoing.at(0).name, std::string(63, 'X'));
  EXPECT_EQ(errno_of(create_session(kernel, dev.get(), std::string(63, 'X'))), EEXIST);
}

TEST_P(SimSelftest, S11CreateSessionEmptyName) {
  UniqueFd dev = open_device();
  auto r = create_session(kernel, dev.get(), "");
  EXPECT_EQ(errno_of(r), has(Feature::session_name_validation) ? EINVAL : 0);
}

TEST_P(SimSelftest, S12GetSessionName) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "get-name-test-session");
  auto name = get_name(kernel, session.get());
  if (!has(Feature::get_name)) {
    EXPECT_EQ(errno_of(name), EINVAL);  // nr 0x43 is beyond the 3-op table
    return;
  }
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name.value(), "get-name-test-session");
}

TEST_P(SimSelftest, S13GetSessionNameMaxLength) {
  UniqueFd dev = open_device();
  const std::string a63(63, 'A');
  UniqueFd session = create(dev.get(), a63);
  auto name = get_name(kernel, session.get());
  if (!has(Feature::get_name)) {
    EXPECT_EQ(errno_of(name), EINVAL);
    EXPECT_EQ(kernel.snapshot().outgoing.at(0).name, a63);
    return;
  }
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name.value(), a63);
}

TEST_P(SimSelftest, S14PreserveManySessions) {
  constexpr int kSessions = 2000;
  FdLimit limit;
  if (!limit.raise_to(2 * kSessions + 64)) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low for " << kSessions << " sessions";
  }
  UniqueFd dev = open_device();
  std::vector<UniqueFd> sessions;
  for (int i = 0; i < kSessions; ++i) {
    auto r = create_session(kernel, dev.get(), "many-session-" + std::to_string(i));
    if (has(Feature::legacy_limits) && i == static_cast<int>(kLegacyMaxOutgoingSessions)) {
      EXPECT_EQ(errno_of(r), ENOMEM) << "session " << i + 1;
      break;
    }
    ASSERT_TRUE(r.ok()) << "session " << i + 1 << ": " << std::strerror(r.raw_errno());
    sessions.push_back(std::move(r.value()));
  }
  EXPECT_EQ(sessions.size(),
            has(Feature::legacy_limits) ? kLegacyMaxOutgoingSessions : std::size_t{kSessions});
  for (UniqueFd& s : sessions)
    EXPECT_EQ(::close(s.release()), 0);
  EXPECT_TRUE(kernel.snapshot().outgoing.empty());
}

TEST_P(SimSelftest, S15PreserveManyFiles) {
  constexpr int kFiles = 500;
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "many-files-session");
  int preserved = 0;
  for (int i = 0; i < kFiles; ++i) {
    UniqueFd memfd = make_memfd("");
    const int err = preserve_fd(kernel, session.get(), memfd.get(), static_cast<std::uint64_t>(i));
    if (has(Feature::legacy_limits) && i == static_cast<int>(kLegacyMaxFilesPerSession)) {
      EXPECT_EQ(err, ENOSPC) << "file " << i + 1;
      break;
    }
    ASSERT_EQ(err, 0) << "file " << i + 1;
    ++preserved;
  }
  EXPECT_EQ(preserved,
            has(Feature::legacy_limits) ? static_cast<int>(kLegacyMaxFilesPerSession) : kFiles);
  EXPECT_EQ(::close(session.release()), 0);
}

// ---- §1.3 dispatch and §1.4 rows ----------------------------------------------------------

TEST_P(SimIoctlAbi, DeviceUnknownNrIsEinvalNotEnotty) {
  UniqueFd dev = open_device();
  auto arg = sized_arg<uapi::CreateSessionArg>();
  for (unsigned nr : {2U, 3U, 0x40U, 0x41U, 0xFFU}) {
    EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::io_cmd(nr), &arg)), EINVAL) << nr;
  }
}

TEST_P(SimIoctlAbi, SessionUnknownNrIsEinval) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "nr");
  auto arg = sized_arg<uapi::SessionGetNameArg>();
  const unsigned ops = has(Feature::get_name) ? uapi::kSessionOpCount : uapi::kSessionOpCountLegacy;
  for (unsigned nr : {0x00U, 0x01U, 0x3FU, 0x40U + ops, 0xFFU}) {
    EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::io_cmd(nr), &arg)), EINVAL) << nr;
  }
}

TEST_P(SimIoctlAbi, WrongTypeOrDirectionBitsIsEnotty) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "type");
  auto create_arg = sized_arg<uapi::CreateSessionArg>();
  set_name(create_arg.name, "never-created");
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), 0xBB00UL, &create_arg)), ENOTTY);
  const unsigned long iowr = _IOWR(0xBA, 0x00, uapi::CreateSessionArg);
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), iowr, &create_arg)), ENOTTY);
  auto name_arg = sized_arg<uapi::SessionFinishArg>();
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), 0xBB42UL, &name_arg)), ENOTTY);
  // nr is checked first: a wrong type with an out-of-range nr is EINVAL (§8).
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), 0xBB05UL, &create_arg)), EINVAL);
  EXPECT_EQ(kernel.snapshot().outgoing.size(), 1U);
}

TEST_P(SimIoctlAbi, CommandUpperBitsAreDroppedLikeIoctl2) {
  UniqueFd dev = open_device();
  auto arg = sized_arg<uapi::CreateSessionArg>();
  set_name(arg.name, "upper");
  constexpr unsigned long kHigh = 1UL << 40;
  ASSERT_TRUE(kernel.ioctl(dev.get(), uapi::kCreateSession | kHigh, &arg).ok());
  UniqueFd session(arg.fd);
}

TEST_P(SimIoctlAbi, NullOrUnreadableArgIsEfaultEvenWithWrongType) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "null");
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, nullptr)), EFAULT);
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), 0xBB00UL, nullptr)), EFAULT);
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kPreserveFd, nullptr)), EFAULT);
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), 0xBB40UL, nullptr)), EFAULT);
  Pages pages(PROT_NONE);
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, pages.second())), EFAULT);
  // nr first: an out-of-range nr with a NULL pointer never reads the size.
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::io_cmd(7), nullptr)), EINVAL);
}

TEST_P(SimIoctlAbi, SizeBelowMinSizeIsEinval) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "short");
  UniqueFd memfd = make_memfd("x");
  auto create_arg = sized_arg<uapi::CreateSessionArg>();
  set_name(create_arg.name, "short-2");
  for (std::uint32_t size : {0U, 4U, 8U, 71U}) {
    create_arg.size = size;
    EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, &create_arg)), EINVAL);
  }
  auto preserve_arg = sized_arg<uapi::PreserveFdArg>();
  preserve_arg.fd = memfd.get();
  preserve_arg.size = 15;
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kPreserveFd, &preserve_arg)), EINVAL);
  auto finish_arg = sized_arg<uapi::SessionFinishArg>();
  finish_arg.size = 7;
  // On an outgoing session 7.2+ fails the type check first; both are EINVAL.
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kSessionFinish, &finish_arg)), EINVAL);
  EXPECT_EQ(kernel.snapshot().outgoing.at(0).tokens, std::vector<std::uint64_t>{});
}

struct OversizedCreate {
  uapi::CreateSessionArg arg;
  std::uint8_t tail[24];
};

TEST_P(SimIoctlAbi, OversizedStructNeedsZeroTail) {
  UniqueFd dev = open_device();
  OversizedCreate big{};
  big.arg.size = sizeof big;
  set_name(big.arg.name, "oversized");
  ASSERT_TRUE(kernel.ioctl(dev.get(), uapi::kCreateSession, &big).ok());
  UniqueFd session(big.arg.fd);
  EXPECT_EQ(big.arg.size, sizeof big);  // inputs echoed, the tail untouched
  big.tail[23] = 1;
  set_name(big.arg.name, "oversized-2");
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, &big)), E2BIG);
  EXPECT_EQ(kernel.snapshot().outgoing.size(), 1U);
}

TEST_P(SimIoctlAbi, OversizedTailIntoUnmappedPageIsEfault) {
  UniqueFd dev = open_device();
  Pages pages(PROT_NONE);
  auto arg = sized_arg<uapi::CreateSessionArg>();
  set_name(arg.name, "tail-fault");
  arg.size = sizeof arg + 8;
  // The struct ends exactly at the boundary: its zero tail would be in the unmapped page.
  void* at_boundary = pages.before_boundary(sizeof arg);
  std::memcpy(at_boundary, &arg, sizeof arg);
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, at_boundary)), EFAULT);
  // One non-zero tail byte still in the mapped page comes before the fault: E2BIG. (Copied
  // with memcpy: the address is deliberately misaligned, which the kernel does not mind.)
  auto* unaligned = static_cast<char*>(pages.before_boundary(sizeof arg + 1));
  std::memcpy(unaligned, &arg, sizeof arg);
  unaligned[sizeof arg] = 1;
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, unaligned)), E2BIG);
  EXPECT_TRUE(kernel.snapshot().outgoing.empty());
}

TEST_P(SimIoctlAbi, ShortStructIsRejectedBeforeTheHandlerCouldZeroFill) {
  // Every op's min_size equals sizeof today, so "short size zero-filled" is unreachable: the
  // size check of step 5 fires first.
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "s");
  auto arg = sized_arg<uapi::RetrieveFdArg>();
  arg.size = sizeof arg - 1;
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kRetrieveFd, &arg)), EINVAL);
}

TEST_P(SimIoctlAbi, SessionTypeCheckPrecedesCopyIn) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "outgoing");
  struct {
    uapi::SessionFinishArg arg;
    std::uint8_t tail[8];
  } finish_big{};
  finish_big.arg.size = sizeof finish_big;
  finish_big.tail[0] = 1;
  struct {
    uapi::RetrieveFdArg arg;
    std::uint8_t tail[8];
  } retrieve_big{};
  retrieve_big.arg.size = sizeof retrieve_big;
  retrieve_big.tail[0] = 1;
  // §8: FINISH on an outgoing session with an oversized non-zero tail is EINVAL on 7.2+,
  // because the session-type check runs before the copy-in; older kernels reach the copy-in.
  const int expected = has(Feature::session_type_check) ? EINVAL : E2BIG;
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kSessionFinish, &finish_big)), expected);
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kRetrieveFd, &retrieve_big)), expected);
  // With a well-formed argument the wrong-kind op is EINVAL on every profile (the simulator's
  // stand-in for the pre-7.2 undefined behaviour) once it would reach the handler.
  EXPECT_EQ(finish(kernel, session.get()), EINVAL);
  UniqueFd file = make_memfd("x");
  ASSERT_EQ(preserve_fd(kernel, session.get(), file.get(), 1), 0);
  EXPECT_EQ(errno_of(retrieve_fd(kernel, session.get(), 1)), EINVAL);
}

// Found by the KernelLifecycle property: before 7.2, RETRIEVE_FD on an outgoing session looks
// the token up before any handler runs (luo_retrieve_file(), §3.2), so an unknown token is
// ENOENT there, as the model's outgoing-session table says; the simulator answered EINVAL.
TEST_P(SimIoctlAbi, RetrieveFdOnAnOutgoingSessionLooksTheTokenUpFirst) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "outgoing");
  const int unknown = has(Feature::session_type_check) ? EINVAL : ENOENT;
  EXPECT_EQ(errno_of(retrieve_fd(kernel, session.get(), 7)), unknown) << "empty session";
  UniqueFd file = make_memfd("x");
  ASSERT_EQ(preserve_fd(kernel, session.get(), file.get(), 1), 0);
  EXPECT_EQ(errno_of(retrieve_fd(kernel, session.get(), 7)), unknown) << "unknown token";
  EXPECT_EQ(errno_of(retrieve_fd(kernel, session.get(), 1)), EINVAL) << "known token";
}

TEST_P(SimIoctlAbi, GetNameReservedMustBeZero) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "reserved");
  auto arg = sized_arg<uapi::SessionGetNameArg>();
  arg.reserved = 1;
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kSessionGetName, &arg)), EINVAL);
  arg.reserved = 0;
  const auto r = kernel.ioctl(session.get(), uapi::kSessionGetName, &arg);
  if (!has(Feature::get_name)) {
    EXPECT_EQ(errno_of(r), EINVAL);  // before 7.2 the nr itself is out of range
    return;
  }
  ASSERT_TRUE(r.ok());
  EXPECT_STREQ(reinterpret_cast<const char*>(arg.name), "reserved");
  EXPECT_EQ(arg.size, sizeof arg);
}

TEST_P(SimIoctlAbi, CopyBackFaultOnCreateTearsTheSessionDown) {
  UniqueFd dev = open_device();
  Pages pages(PROT_READ | PROT_WRITE);
  auto* arg = reinterpret_cast<uapi::CreateSessionArg*>(pages.first());
  *arg = sized_arg<uapi::CreateSessionArg>();
  set_name(arg->name, "copy-back");
  pages.protect_first(PROT_READ);
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, arg)), EFAULT);
  EXPECT_TRUE(kernel.snapshot().outgoing.empty());
  UniqueFd again = create(dev.get(), "copy-back");  // the name is free
}

TEST_P(SimIoctlAbi, CopyBackFaultOnPreserveKeepsTheFilePreserved) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "copy-back");
  UniqueFd memfd = make_memfd("kept");
  Pages pages(PROT_READ | PROT_WRITE);
  auto* arg = reinterpret_cast<uapi::PreserveFdArg*>(pages.first());
  *arg = sized_arg<uapi::PreserveFdArg>();
  arg->fd = memfd.get();
  arg->token = 7;
  pages.protect_first(PROT_READ);
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kPreserveFd, arg)), EFAULT);
  EXPECT_EQ(kernel.snapshot().outgoing.at(0).tokens, std::vector<std::uint64_t>{7});
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 7), EEXIST);
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 8),
            has(Feature::double_preservation_check) ? EBUSY : 0);
}

TEST_P(SimIoctlAbi, InjectedCopyBackFaultOnPreserve) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "inject");
  UniqueFd memfd = make_memfd("");
  kernel.inject(SimFault::preserve_copy_back, EFAULT);
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 1), EFAULT);
  EXPECT_EQ(kernel.snapshot().outgoing.at(0).tokens, std::vector<std::uint64_t>{1});
}

TEST_P(SimIoctlAbi, CopyBackFaultOnGetName) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "ro");
  Pages pages(PROT_READ | PROT_WRITE);
  auto* arg = reinterpret_cast<uapi::SessionGetNameArg*>(pages.first());
  *arg = sized_arg<uapi::SessionGetNameArg>();
  pages.protect_first(PROT_READ);
  EXPECT_EQ(errno_of(kernel.ioctl(session.get(), uapi::kSessionGetName, arg)),
            has(Feature::get_name) ? EFAULT : EINVAL);
}

TEST_P(SimIoctlAbi, ForeignClosedAndOpathFds) {
  UniqueFd dev = open_device();
  auto arg = sized_arg<uapi::CreateSessionArg>();
  UniqueFd memfd = make_memfd("");
  EXPECT_EQ(errno_of(kernel.ioctl(memfd.get(), uapi::kCreateSession, &arg)), ENOTTY);
  EXPECT_EQ(errno_of(kernel.ioctl(-1, uapi::kCreateSession, &arg)), EBADF);
  const int closed = ::fcntl(memfd.get(), F_DUPFD_CLOEXEC, 0);
  ::close(closed);
  EXPECT_EQ(errno_of(kernel.ioctl(closed, uapi::kCreateSession, &arg)), EBADF);
  UniqueFd opath(::open("/dev/null", O_PATH | O_CLOEXEC));
  ASSERT_TRUE(opath);
  EXPECT_EQ(errno_of(kernel.ioctl(opath.get(), uapi::kCreateSession, &arg)), EBADF);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd s0(sv[0]);
  UniqueFd s1(sv[1]);
  EXPECT_EQ(errno_of(kernel.ioctl(s0.get(), uapi::kCreateSession, &arg)), ENOTTY);
}

TEST_P(SimIoctlAbi, EmfileComesBeforeEveryHandlerError) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "dup");
  FdLimit limit;
  limit.exhaust();
  const int create_err = errno_of(create_session(kernel, dev.get(), "dup"));
  const int retrieve_err = errno_of(retrieve_session(kernel, dev.get(), "unknown"));
  const int open_err = errno_of(kernel.open_device());
  limit.restore();
  EXPECT_EQ(create_err, EMFILE);    // not EEXIST (§8)
  EXPECT_EQ(retrieve_err, EMFILE);  // not ENOENT
  EXPECT_EQ(open_err, EMFILE);      // not EBUSY: open(2) allocates the fd first
}

TEST(SimulatedKernelOptions, LuoDisabledMeansNoDevice) {
  SimulatedKernel kernel(kDefaultProfile, SimulatedKernel::Options{.luo_enabled = false});
  EXPECT_EQ(errno_of(kernel.open_device()), ENOENT);
  EXPECT_TRUE(kernel.kexec().ok());
  EXPECT_EQ(errno_of(kernel.open_device()), ENOENT);
}

// ---- §2 sessions --------------------------------------------------------------------------

TEST_P(SimSessions, ClosingTheDeviceKeepsSessions) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "survivor");
  UniqueFd memfd = make_memfd("x");
  dev.reset();
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 1), 0);
  EXPECT_EQ(kernel.snapshot().outgoing.size(), 1U);
  EXPECT_FALSE(kernel.snapshot().device_open);
}

TEST_P(SimSessions, NameIsFreeAgainAfterClose) {
  UniqueFd dev = open_device();
  UniqueFd first = create(dev.get(), "reuse");
  first.reset();
  UniqueFd second = create(dev.get(), "reuse");
  EXPECT_TRUE(second);
}

TEST_P(SimSessions, BytesAfterTheNulDoNotCount) {
  UniqueFd dev = open_device();
  UniqueFd first = create(dev.get(), "same");
  auto arg = sized_arg<uapi::CreateSessionArg>();
  set_name(arg.name, "same");
  arg.name[10] = 'Z';  // after the NUL: strscpy/strncmp never see it
  EXPECT_EQ(errno_of(kernel.ioctl(dev.get(), uapi::kCreateSession, &arg)), EEXIST);
}

TEST_P(SimSessions, DupAndScmRightsKeepTheSessionAlive) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "passed");
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd tx(sv[0]);
  UniqueFd rx(sv[1]);
  char byte = 0;
  const int raw = session.get();
  ASSERT_EQ(scm_send(tx.get(), &byte, 1, std::span(&raw, 1), 0), 1);
  session.reset();  // in flight: the file is still referenced
  EXPECT_EQ(kernel.snapshot().outgoing.size(), 1U);
  int received = -1;
  ASSERT_EQ(scm_receive(rx.get(), &byte, 1, &received), 1);
  ASSERT_GE(received, 0);
  UniqueFd passed(received);
  UniqueFd memfd = make_memfd("via scm");
  EXPECT_EQ(preserve_fd(kernel, passed.get(), memfd.get(), 5), 0);
  UniqueFd copy(::fcntl(passed.get(), F_DUPFD_CLOEXEC, 0));
  passed.reset();
  EXPECT_EQ(kernel.snapshot().outgoing.size(), 1U);
  copy.reset();
  EXPECT_TRUE(kernel.snapshot().outgoing.empty());
}

// The release is the last reference's, not the close's: another process holding the file (a
// forked child here; a /proc/<pid>/fd reader does it for a moment, F10) keeps the device in use
// after our close, and its exit releases it. The VM scenario s16 checks a real kernel agrees.
TEST_P(SimSessions, AnotherProcessKeepsTheDeviceInUseUntilItsReferenceGoes) {
  UniqueFd dev = open_device();
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  UniqueFd go_read(go[0]);
  UniqueFd go_write(go[1]);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte = 0;
    go_write.reset();
    (void)!::read(go_read.get(), &byte, 1);  // holds its copy of `dev` until told to go
    ::_exit(0);
  }
  go_read.reset();
  dev.reset();
  EXPECT_EQ(errno_of(kernel.open_device()), EBUSY);
  EXPECT_TRUE(kernel.snapshot().device_open);
  go_write.reset();  // EOF: the child exits, and its files are released before waitpid returns
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(kernel.snapshot().device_open);
  EXPECT_TRUE(kernel.open_device().ok());
}

TEST_P(SimSessions, RetrieveSessionWithoutIncomingIsEnoent) {
  UniqueFd dev = open_device();
  UniqueFd outgoing = create(dev.get(), "only-outgoing");
  EXPECT_EQ(errno_of(retrieve_session(kernel, dev.get(), "only-outgoing")), ENOENT);
}

// ---- §3 files -----------------------------------------------------------------------------

TEST_P(SimFiles, PreserveCheckOrder) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "order");
  UniqueFd memfd = make_memfd("");
  ASSERT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 1), 0);
  // 1. token in use beats a bad fd
  EXPECT_EQ(preserve_fd(kernel, session.get(), -1, 1), EEXIST);
  // 3. bad fds
  EXPECT_EQ(preserve_fd(kernel, session.get(), -1, 2), EBADF);
  UniqueFd opath(::open("/dev/null", O_PATH | O_CLOEXEC));
  EXPECT_EQ(preserve_fd(kernel, session.get(), opath.get(), 2), EBADF);
  // 4. unsupported file beats double preservation (a session fd is not a memfd)
  EXPECT_EQ(preserve_fd(kernel, session.get(), session.get(), 2), ENOENT);
  EXPECT_EQ(preserve_fd(kernel, session.get(), dev.get(), 2), ENOENT);
  // tokens are per session; any u64 is fine
  UniqueFd other = create(dev.get(), "order-2");
  UniqueFd memfd2 = make_memfd("");
  EXPECT_EQ(preserve_fd(kernel, other.get(), memfd2.get(), 1), 0);
  UniqueFd memfd3 = make_memfd("");
  UniqueFd memfd4 = make_memfd("");
  EXPECT_EQ(preserve_fd(kernel, other.get(), memfd3.get(), 0), 0);
  EXPECT_EQ(preserve_fd(kernel, other.get(), memfd4.get(), UINT64_MAX), 0);
  EXPECT_EQ(kernel.snapshot().outgoing.at(1).tokens,
            (std::vector<std::uint64_t>{1, 0, UINT64_MAX}));
}

TEST_P(SimFiles, FileLimitComesBeforeBadFd) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "full");
  for (std::uint64_t i = 0; i < kLegacyMaxFilesPerSession; ++i) {
    UniqueFd memfd = make_memfd("");
    ASSERT_EQ(preserve_fd(kernel, session.get(), memfd.get(), i), 0);
  }
  // The 129th: ENOSPC before the fd is even looked at, unless 7.2 removed the limit.
  EXPECT_EQ(preserve_fd(kernel, session.get(), -1, 1000),
            has(Feature::legacy_limits) ? ENOSPC : EBADF);
  EXPECT_EQ(preserve_fd(kernel, session.get(), -1, 0), EEXIST);
}

TEST_P(SimFiles, UnsupportedFilesAreEnoent) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "unsupported");
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd s0(sv[0]);
  UniqueFd s1(sv[1]);
  EXPECT_EQ(preserve_fd(kernel, session.get(), s0.get(), 1), ENOENT);
  char path[] = "/tmp/luo-sim-named-XXXXXX";
  UniqueFd named(::mkostemp(path, O_CLOEXEC));
  ASSERT_TRUE(named);
  EXPECT_EQ(preserve_fd(kernel, session.get(), named.get(), 2), ENOENT);  // it has a link
  ::unlink(path);
  UniqueFd huge(::memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB));
  if (huge) {  // only where hugetlbfs is available
    EXPECT_EQ(preserve_fd(kernel, session.get(), huge.get(), 3), ENOENT);
  }
  EXPECT_TRUE(kernel.snapshot().outgoing.at(0).tokens.empty());
}

// The handler's rule is "shmem file without links", not "made by memfd_create": an O_TMPFILE on
// tmpfs qualifies too (and so does a retrieved memfd, whose link has no "memfd:" prefix, §8).
TEST_P(SimFiles, UnlinkedTmpfsFileIsAcceptedLikeTheKernel) {
  UniqueFd tmp(::open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!tmp)
    GTEST_SKIP() << "no tmpfs at /dev/shm: " << std::strerror(errno);
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "tmpfile");
  EXPECT_EQ(preserve_fd(kernel, session.get(), tmp.get(), 1), 0);
}

TEST_P(SimFiles, ReadOnlyMemfdFdCanBePreserved) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "ro");
  UniqueFd memfd = make_memfd("ro data");
  UniqueFd ro = luo::testing::reopen(memfd.get(), O_RDONLY);
  ASSERT_TRUE(ro);
  EXPECT_EQ(preserve_fd(kernel, session.get(), ro.get(), 1), 0);
  // The same inode through another fd (or a reopen) is the same file to the 7.0+ table.
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 2),
            has(Feature::double_preservation_check) ? EBUSY : 0);
}

TEST_P(SimFiles, DoublePreservationIsFreeAgainAfterUnpreserve) {
  UniqueFd dev = open_device();
  UniqueFd s1 = create(dev.get(), "first");
  UniqueFd memfd = make_memfd("");
  ASSERT_EQ(preserve_fd(kernel, s1.get(), memfd.get(), 1), 0);
  s1.reset();
  UniqueFd s2 = create(dev.get(), "second");
  EXPECT_EQ(preserve_fd(kernel, s2.get(), memfd.get(), 1), 0);
}

TEST_P(SimFiles, CloseUnpreservesLifo) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "lifo");
  for (std::uint64_t token : {1, 2, 3})
    preserve_data(session.get(), token, "");
  kernel.clear_handler_log();
  session.reset();
  EXPECT_EQ(kernel.handler_log(), (std::vector<Call>{{Op::unpreserve, "lifo", 3},
                                                     {Op::unpreserve, "lifo", 2},
                                                     {Op::unpreserve, "lifo", 1}}));
}

TEST_P(SimFiles, InjectedPreserveHandlerFailure) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "handler");
  UniqueFd a = make_memfd("");
  UniqueFd b = make_memfd("");
  kernel.inject(SimFault::preserve_handler, ENOMEM, 1);
  EXPECT_EQ(preserve_fd(kernel, session.get(), a.get(), 1), 0);
  EXPECT_EQ(preserve_fd(kernel, session.get(), b.get(), 2), ENOMEM);
  EXPECT_EQ(preserve_fd(kernel, session.get(), b.get(), 2), 0);  // once only
  EXPECT_EQ(kernel.snapshot().outgoing.at(0).tokens, (std::vector<std::uint64_t>{1, 2}));
}

TEST_P(SimFiles, SealedMemfdCanBePreserved) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "seals");
  UniqueFd memfd = make_memfd("sealed");
  ASSERT_EQ(::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
  EXPECT_EQ(preserve_fd(kernel, session.get(), memfd.get(), 1), 0);
}

// Spec §3.8: a file of more than UINT_MAX pages is refused by the handler's size check (EFBIG)
// where the handler has one; the 6.19 handler fails to pin it (ENOMEM). Sparse, so it costs
// nothing; one page below the limit is not tried (it would be accepted and kept).
TEST_P(SimFiles, MemfdOverUintMaxPagesIsEfbigByProfile) {
  UniqueFd dev = open_device();
  UniqueFd session = create(dev.get(), "huge");
  UniqueFd m = make_memfd("x");
  const off_t page = ::sysconf(_SC_PAGESIZE);
  const off_t huge = (off_t{1} << 32) * page + page;  // UINT_MAX + 2 pages
  ASSERT_EQ(::ftruncate(m.get(), huge), 0) << std::strerror(errno);
  EXPECT_EQ(preserve_fd(kernel, session.get(), m.get(), 1),
            has(Feature::memfd_size_limit) ? EFBIG : ENOMEM);
  EXPECT_TRUE(kernel.snapshot().outgoing.at(0).tokens.empty());
  // The same file within the limit is an ordinary memfd.
  ASSERT_EQ(::ftruncate(m.get(), page), 0);
  EXPECT_EQ(preserve_fd(kernel, session.get(), m.get(), 1), 0);
}

}  // namespace
}  // namespace luo::simtest
