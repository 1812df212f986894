// IoctlPort against a recording fake backend: every typed call must turn into exactly one
// ioctl with the exact command and argument bytes the kernel ABI prescribes, and outputs
// (errno, fds, the GET_NAME field) must come back untouched. Expected bytes are spelled out
// field by field here rather than built from the uapi structs, so a wrong struct would fail.
#include "luo/adapters/ioctl_port.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

#include "luo/adapters/ioctl_backend.hpp"

namespace luo {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The kernel reads fields in native byte order; so do these helpers.
void put_u32(Bytes& b, std::size_t off, std::uint32_t v) {
  std::memcpy(b.data() + off, &v, 4);
}
void put_s32(Bytes& b, std::size_t off, std::int32_t v) {
  std::memcpy(b.data() + off, &v, 4);
}
void put_u64(Bytes& b, std::size_t off, std::uint64_t v) {
  std::memcpy(b.data() + off, &v, 8);
}
void put_raw(Bytes& b, std::size_t off, std::string_view s) {
  std::memcpy(b.data() + off, s.data(), s.size());
}

bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

struct RecordedIoctl {
  int fd;
  unsigned long cmd;
  Bytes arg;  // the argument as it arrived, `size` bytes long
};

// Plays the kernel for one ioctl at a time: records what it was sent, then either fails with
// `reply_errno` or succeeds, optionally handing out a fresh fd through the fd field at offset
// 4 and copying `reply_bytes` to `reply_offset`, as the kernel's copy-back would.
class RecordingBackend final : public IoctlBackend {
 public:
  SysResult<UniqueFd> open_device() override {
    ++open_calls;
    if (open_errno != 0)
      return SysResult<UniqueFd>::failure(open_errno);
    return UniqueFd(new_fd());
  }

  SysResult<int> ioctl(int fd, unsigned long cmd, void* arg) override {
    std::uint32_t size = 0;
    std::memcpy(&size, arg, sizeof size);
    // Bounded so a garbage size cannot make the fake itself read out of bounds.
    const std::size_t n = std::min<std::size_t>(size, 128);
    const auto* in = static_cast<const std::uint8_t*>(arg);
    calls.push_back({fd, cmd, Bytes(in, in + n)});
    if (reply_errno != 0)
      return SysResult<int>::failure(reply_errno);
    auto* out = static_cast<std::uint8_t*>(arg);
    if (hand_out_fd) {
      handed_out_fd = new_fd();
      std::memcpy(out + 4, &handed_out_fd, sizeof handed_out_fd);
    }
    if (!reply_bytes.empty())
      std::memcpy(out + reply_offset, reply_bytes.data(), reply_bytes.size());
    return 0;
  }

  SysStatus kexec() override {
    ++kexec_calls;
    if (kexec_errno != 0)
      return SysStatus::failure(kexec_errno);
    return sys_ok();
  }

  bool is_device(int fd) override {
    is_device_calls.push_back(fd);
    return fd == device_fd;
  }

  static int new_fd() { return ::eventfd(0, EFD_CLOEXEC); }

  std::vector<RecordedIoctl> calls;
  int reply_errno = 0;
  bool hand_out_fd = false;
  int handed_out_fd = -1;
  Bytes reply_bytes;
  std::size_t reply_offset = 0;
  int open_errno = 0;
  int open_calls = 0;
  int kexec_errno = 0;
  int kexec_calls = 0;
  int device_fd = -1;  // the fd is_device() says yes to
  std::vector<int> is_device_calls;
};

constexpr int kDeviceFd = 42;  // never dereferenced by the fake, only recorded
constexpr int kSessionFd = 43;

class IoctlPortTest : public ::testing::Test {
 protected:
  RecordingBackend backend;
  IoctlPort port{backend};

  const RecordedIoctl& only_call() {
    EXPECT_EQ(backend.calls.size(), 1U);
    return backend.calls.at(0);
  }
};

// ---- exact argument bytes --------------------------------------------------------------

TEST_F(IoctlPortTest, CreateSessionSendsSizeZeroFdAndNameField) {
  backend.hand_out_fd = true;
  auto r = port.create_session(kDeviceFd, SessionNameField::from("alpha"));
  ASSERT_TRUE(r.ok());
  const RecordedIoctl& call = only_call();
  EXPECT_EQ(call.fd, kDeviceFd);
  EXPECT_EQ(call.cmd, 0xBA00UL);
  Bytes want(72, 0);
  put_u32(want, 0, 72);
  put_raw(want, 8, "alpha");
  EXPECT_EQ(call.arg, want);
}

TEST_F(IoctlPortTest, RetrieveSessionSendsSizeZeroFdAndNameField) {
  backend.hand_out_fd = true;
  auto r = port.retrieve_session(kDeviceFd, SessionNameField::from("beta"));
  ASSERT_TRUE(r.ok());
  const RecordedIoctl& call = only_call();
  EXPECT_EQ(call.fd, kDeviceFd);
  EXPECT_EQ(call.cmd, 0xBA01UL);
  Bytes want(72, 0);
  put_u32(want, 0, 72);
  put_raw(want, 8, "beta");
  EXPECT_EQ(call.arg, want);
}

// The port must not "fix" names: an unterminated field is how callers probe EINVAL (7.2+) and
// truncation (6.19-7.1).
TEST_F(IoctlPortTest, NameFieldWithoutNulIsSentAsIs) {
  backend.hand_out_fd = true;
  const std::string name(64, 'x');
  auto r = port.create_session(kDeviceFd, SessionNameField::from(name));
  ASSERT_TRUE(r.ok());
  Bytes want(72, 0);
  put_u32(want, 0, 72);
  put_raw(want, 8, name);
  EXPECT_EQ(only_call().arg, want);
}

// RETRIEVE_SESSION compares all 64 bytes on old kernels, so bytes after the NUL matter.
TEST_F(IoctlPortTest, NameFieldBytesAfterNulAreSentAsIs) {
  backend.hand_out_fd = true;
  SessionNameField field;
  field.bytes[0] = 'a';
  field.bytes[2] = 'z';
  field.bytes[63] = '\xff';
  auto r = port.retrieve_session(kDeviceFd, field);
  ASSERT_TRUE(r.ok());
  Bytes want(72, 0);
  put_u32(want, 0, 72);
  want[8] = 'a';
  want[10] = 'z';
  want[71] = 0xff;
  EXPECT_EQ(only_call().arg, want);
}

TEST_F(IoctlPortTest, EmptyNameIsSentAsAllZeroField) {
  backend.hand_out_fd = true;
  auto r = port.create_session(kDeviceFd, SessionNameField::from(""));
  ASSERT_TRUE(r.ok());
  Bytes want(72, 0);
  put_u32(want, 0, 72);
  EXPECT_EQ(only_call().arg, want);
}

TEST_F(IoctlPortTest, PreserveFdSendsFdAndToken) {
  const auto status = port.preserve_fd(kSessionFd, 5, 0x0123456789ABCDEFULL);
  ASSERT_TRUE(status.ok());
  const RecordedIoctl& call = only_call();
  EXPECT_EQ(call.fd, kSessionFd);
  EXPECT_EQ(call.cmd, 0xBA40UL);
  Bytes want(16, 0);
  put_u32(want, 0, 16);
  put_s32(want, 4, 5);
  put_u64(want, 8, 0x0123456789ABCDEFULL);
  EXPECT_EQ(call.arg, want);
}

// Invalid fds are the kernel's to reject (EBADF); the port forwards them unchanged.
TEST_F(IoctlPortTest, PreserveFdForwardsNegativeFdAndExtremeToken) {
  const auto status = port.preserve_fd(kSessionFd, -1, ~std::uint64_t{0});
  ASSERT_TRUE(status.ok());
  Bytes want(16, 0);
  put_u32(want, 0, 16);
  put_s32(want, 4, -1);
  put_u64(want, 8, ~std::uint64_t{0});
  EXPECT_EQ(only_call().arg, want);
}

TEST_F(IoctlPortTest, RetrieveFdSendsZeroFdAndToken) {
  backend.hand_out_fd = true;
  auto r = port.retrieve_fd(kSessionFd, 7);
  ASSERT_TRUE(r.ok());
  const RecordedIoctl& call = only_call();
  EXPECT_EQ(call.fd, kSessionFd);
  EXPECT_EQ(call.cmd, 0xBA41UL);
  Bytes want(16, 0);
  put_u32(want, 0, 16);
  put_u64(want, 8, 7);
  EXPECT_EQ(call.arg, want);
}

TEST_F(IoctlPortTest, FinishSendsReservedAsGiven) {
  for (std::uint32_t reserved : {0U, 1U, 0xDEADBEEFU}) {
    SCOPED_TRACE(reserved);
    backend.calls.clear();
    ASSERT_TRUE(port.finish_session(kSessionFd, reserved).ok());
    const RecordedIoctl& call = only_call();
    EXPECT_EQ(call.fd, kSessionFd);
    EXPECT_EQ(call.cmd, 0xBA42UL);
    Bytes want(8, 0);
    put_u32(want, 0, 8);
    put_u32(want, 4, reserved);
    EXPECT_EQ(call.arg, want);
  }
}

TEST_F(IoctlPortTest, GetNameSendsZeroReservedAndEmptyName) {
  auto r = port.get_session_name(kSessionFd);
  ASSERT_TRUE(r.ok());
  const RecordedIoctl& call = only_call();
  EXPECT_EQ(call.fd, kSessionFd);
  EXPECT_EQ(call.cmd, 0xBA43UL);
  Bytes want(72, 0);
  put_u32(want, 0, 72);
  EXPECT_EQ(call.arg, want);
}

// ---- outputs ----------------------------------------------------------------------------

TEST_F(IoctlPortTest, GetNameReturnsTheWholeFieldTheKernelWrote) {
  Bytes field(64, 0);
  put_raw(field, 0, "session-name");
  field[40] = 0x7f;  // past the NUL: still returned byte for byte
  backend.reply_bytes = field;
  backend.reply_offset = 8;
  auto r = port.get_session_name(kSessionFd);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(0, std::memcmp(r.value().bytes.data(), field.data(), 64));
  EXPECT_EQ(r.value().stored(), "session-name");
}

TEST_F(IoctlPortTest, GetNameReturnsAMaximalName) {
  const std::string name(63, 'n');
  Bytes field(64, 0);
  put_raw(field, 0, name);
  backend.reply_bytes = field;
  backend.reply_offset = 8;
  auto r = port.get_session_name(kSessionFd);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), SessionNameField::from(name));
}

// One row per ioctl-backed operation, for the properties every one of them shares.
struct PortOp {
  std::string_view name;
  unsigned long cmd;
  std::function<int(KernelPort&)> run;  // the raw errno, 0 on success
};

const std::vector<PortOp>& all_ops() {
  static const std::vector<PortOp> ops = {
      {"create_session", 0xBA00,
       [](KernelPort& p) {
         return p.create_session(kDeviceFd, SessionNameField::from("s")).raw_errno();
       }},
      {"retrieve_session", 0xBA01,
       [](KernelPort& p) {
         return p.retrieve_session(kDeviceFd, SessionNameField::from("s")).raw_errno();
       }},
      {"preserve_fd", 0xBA40,
       [](KernelPort& p) { return p.preserve_fd(kSessionFd, 3, 1).raw_errno(); }},
      {"retrieve_fd", 0xBA41,
       [](KernelPort& p) { return p.retrieve_fd(kSessionFd, 1).raw_errno(); }},
      {"finish_session", 0xBA42,
       [](KernelPort& p) { return p.finish_session(kSessionFd, 0).raw_errno(); }},
      {"get_session_name", 0xBA43,
       [](KernelPort& p) { return p.get_session_name(kSessionFd).raw_errno(); }},
  };
  return ops;
}

// EPROTO is not in luo::Errno: raw numbers must survive, not be squeezed into the enum.
TEST_F(IoctlPortTest, EveryOperationPropagatesTheBackendErrnoUnchanged) {
  for (const PortOp& op : all_ops()) {
    for (int err : {EEXIST, ENOENT, EINVAL, ENOTTY, EFAULT, EMFILE, EBUSY, EPROTO}) {
      SCOPED_TRACE(::testing::Message() << op.name << " errno " << err);
      backend.calls.clear();
      backend.reply_errno = err;
      backend.hand_out_fd = false;
      EXPECT_EQ(op.run(port), err);
      ASSERT_EQ(backend.calls.size(), 1U);
      EXPECT_EQ(backend.calls[0].cmd, op.cmd);
    }
  }
}

TEST_F(IoctlPortTest, UnknownErrnoKeepsRawValueAndHasNoEnumValue) {
  backend.reply_errno = EPROTO;
  auto r = port.create_session(kDeviceFd, SessionNameField::from("s"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.raw_errno(), EPROTO);
  EXPECT_FALSE(r.error().has_value());
}

TEST_F(IoctlPortTest, KnownErrnoMapsToEnum) {
  backend.reply_errno = EEXIST;
  auto r = port.create_session(kDeviceFd, SessionNameField::from("s"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Errno::eexist);
}

// ---- fd ownership -----------------------------------------------------------------------

struct FdOp {
  std::string_view name;
  std::function<SysResult<UniqueFd>(KernelPort&)> run;
};

const std::vector<FdOp>& fd_ops() {
  static const std::vector<FdOp> ops = {
      {"create_session",
       [](KernelPort& p) { return p.create_session(kDeviceFd, SessionNameField::from("s")); }},
      {"retrieve_session",
       [](KernelPort& p) { return p.retrieve_session(kDeviceFd, SessionNameField::from("s")); }},
      {"retrieve_fd", [](KernelPort& p) { return p.retrieve_fd(kSessionFd, 9); }},
  };
  return ops;
}

TEST_F(IoctlPortTest, ReturnedFdIsTheOneTheKernelWroteAndIsClosedWhenDropped) {
  backend.hand_out_fd = true;
  for (const FdOp& op : fd_ops()) {
    SCOPED_TRACE(op.name);
    int handed = -1;
    {
      auto r = op.run(port);
      ASSERT_TRUE(r.ok());
      handed = backend.handed_out_fd;
      ASSERT_GE(handed, 0);
      EXPECT_EQ(r.value().get(), handed);
      EXPECT_TRUE(fd_is_open(handed));
    }
    EXPECT_FALSE(fd_is_open(handed)) << "fd " << handed << " leaked by " << op.name;
  }
}

TEST_F(IoctlPortTest, ReturnedFdCanBeMovedOutAndOutlivesTheResult) {
  backend.hand_out_fd = true;
  for (const FdOp& op : fd_ops()) {
    SCOPED_TRACE(op.name);
    UniqueFd kept;
    {
      auto r = op.run(port);
      ASSERT_TRUE(r.ok());
      kept = std::move(r).value();
    }
    EXPECT_EQ(kept.get(), backend.handed_out_fd);
    EXPECT_TRUE(fd_is_open(kept.get()));
  }
}

// On failure the zero in the fd field is ours, not the kernel's: the port must not wrap (and
// later close) it. fd 0 staying open proves that.
TEST_F(IoctlPortTest, FailedCallsDoNotTouchTheZeroFdField) {
  if (!fd_is_open(0))
    GTEST_SKIP() << "needs fd 0 open to observe a wrong close of it";
  backend.reply_errno = EMFILE;
  for (const FdOp& op : fd_ops()) {
    SCOPED_TRACE(op.name);
    {
      auto r = op.run(port);
      EXPECT_FALSE(r.ok());
      EXPECT_EQ(r.raw_errno(), EMFILE);
    }
    EXPECT_TRUE(fd_is_open(0));
  }
}

// ---- calls without an ioctl ---------------------------------------------------------------

TEST_F(IoctlPortTest, OpenDeviceForwardsTheBackendsFd) {
  int fd = -1;
  {
    auto r = port.open_device();
    ASSERT_TRUE(r.ok());
    fd = r.value().get();
    EXPECT_TRUE(fd_is_open(fd));
  }
  EXPECT_FALSE(fd_is_open(fd));
  EXPECT_EQ(backend.open_calls, 1);
  EXPECT_TRUE(backend.calls.empty());
}

TEST_F(IoctlPortTest, OpenDevicePropagatesErrno) {
  backend.open_errno = ENOENT;
  auto r = port.open_device();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.raw_errno(), ENOENT);
}

// Stage A's device check is the backend's answer, unchanged, and costs no ioctl.
TEST_F(IoctlPortTest, IsDeviceAsksTheBackend) {
  backend.device_fd = kDeviceFd;
  EXPECT_TRUE(port.is_device(kDeviceFd));
  EXPECT_FALSE(port.is_device(kSessionFd));
  EXPECT_EQ(backend.is_device_calls, (std::vector<int>{kDeviceFd, kSessionFd}));
  EXPECT_TRUE(backend.calls.empty());
}

TEST_F(IoctlPortTest, KexecForwardsSuccessAndErrno) {
  EXPECT_TRUE(port.kexec().ok());
  backend.kexec_errno = EINVAL;  // no image loaded
  EXPECT_EQ(port.kexec().raw_errno(), EINVAL);
  EXPECT_EQ(backend.kexec_calls, 2);
  EXPECT_TRUE(backend.calls.empty());
}

}  // namespace
}  // namespace luo
