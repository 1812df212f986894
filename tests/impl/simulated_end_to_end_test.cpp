// impl/ end to end over the real IoctlPort and SimulatedKernel, for profile-dependent paths the
// scenario suites (tests/scenarios) do not reach: what a refusal's message says, that a refusal
// really leaves the kernel untouched, and the paths where impl's own bookkeeping matters (tokens
// after a copy-back fault, retrieve after FINISH, calls on closed objects, a device held across
// kexec).
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "impl_test_support.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"

namespace luo::impl_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using HandlerOp = SimulatedKernel::HandlerOp;

class EndToEnd : public PerProfile {
 protected:
  EndToEnd() : kernel_(GetParam()), port_(kernel_), lu_(port_, GetParam()) {}

  static UniqueFd memfd_with(std::string_view data) {
    auto fd = memfd::create("e2e");
    if (!fd.ok())
      throw std::runtime_error("memfd_create: " + errno_text(fd.raw_errno()));
    if (!memfd::write_at(fd.value().get(), 0, data).ok())
      throw std::runtime_error("write");
    return std::move(fd).value();
  }
  std::size_t handler_calls(HandlerOp op) {
    std::size_t n = 0;
    for (const auto& c : kernel_.handler_log())
      n += c.op == op ? 1 : 0;
    return n;
  }
  // Session "s" holding `tokens` handed over, and the device of the new boot open.
  Device handover(std::initializer_list<Token> tokens) {
    auto dev = must(lu_.open_device());
    auto s = must(dev.create_session("s"));
    for (Token t : tokens) {
      UniqueFd mem = memfd_with("data " + std::to_string(t));
      must(s.preserve(mem.get(), t));
    }
    dev.close();
    must(lu_.kexec());
    return must(lu_.open_device());
  }

  SimulatedKernel kernel_;
  IoctlPort port_;
  LiveUpdate lu_;
};

TEST_P(EndToEnd, ARefusedDuplicateTokenNamesSessionStateAndErrnoAndSparesTheKernel) {
  auto dev = must(lu_.open_device());
  auto s = must(dev.create_session("vm0"));
  UniqueFd a = memfd_with("a");
  UniqueFd b = memfd_with("b");
  ASSERT_TRUE(s.preserve(a.get(), 0x1234).ok());

  auto r = s.preserve(b.get(), 0x1234);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "PRESERVE_FD on outgoing session 'vm0' (preserving) refused before any syscall: "
            "EEXIST: the token is already used in this session");
  // The kernel never saw the second call: one preserve in its log, one token in the session.
  EXPECT_EQ(handler_calls(HandlerOp::preserve), 1u);
  const auto snap = kernel_.snapshot();
  ASSERT_EQ(snap.outgoing.size(), 1u);
  EXPECT_THAT(snap.outgoing[0].tokens, ElementsAre(0x1234u));
  // `b` is not preserved anywhere, so another session takes it (7.0+ would say EBUSY if it were).
  auto other = must(dev.create_session("vm1"));
  EXPECT_TRUE(other.preserve(b.get(), 0x1234).ok());
}

// 7.2 refuses an unterminated 64-byte name; 6.19-7.1 truncate it to 63 bytes, and the truncated
// name then collides with the same 63 bytes spelled with a NUL (§2.2).
TEST_P(EndToEnd, UnterminatedNamesPerProfile) {
  auto dev = must(lu_.open_device());
  const std::string x64(kSessionNameFieldSize, 'X');
  const std::string x63 = x64.substr(0, kSessionNameMaxLength);
  auto r = dev.create_session(x64);
  if (has(Feature::session_name_validation)) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().raw_errno(), EINVAL) << r.error().message();
    EXPECT_THAT(r.error().message(), HasSubstr("not NUL-terminated"));
    EXPECT_TRUE(kernel_.snapshot().outgoing.empty());
    auto full = must(dev.create_session(x63));
    EXPECT_EQ(must(full.get_name()), x63);
  } else {
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r.value().name(), x63);
    auto dup = dev.create_session(x63);
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().raw_errno(), EEXIST) << dup.error().message();
    EXPECT_THAT(dup.error().message(), HasSubstr("'" + x63 + "'"));
    EXPECT_EQ(kernel_.snapshot().outgoing.size(), 1u);
  }
}

// Found by the KernelLifecycle property: the kernel compares all 64 bytes, so an unterminated
// field never names a session, not even the one whose stored name is its first 63 bytes. impl
// matched its own bookkeeping by the stored (63-byte) name and refused with EINVAL ("already
// retrieved") where the kernel answers ENOENT.
TEST_P(EndToEnd, AnUnterminatedFieldNeverNamesAnIncomingSession) {
  const std::string x64(kSessionNameFieldSize, 'X');
  const std::string x63 = x64.substr(0, kSessionNameMaxLength);
  {
    auto dev = must(lu_.open_device());
    auto out = must(dev.create_session(x63));
    ASSERT_TRUE(out.preserve(memfd_with("x").get(), 1).ok());
    dev.close();
    ASSERT_TRUE(lu_.kexec().ok());
  }
  auto dev = must(lu_.open_device());
  auto in = must(dev.retrieve_session(x63));
  auto again = dev.retrieve_session(x64);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().raw_errno(), ENOENT) << again.error().message();
  EXPECT_EQ(again.error().origin(), ErrorOrigin::kernel) << again.error().message();
  in.close();
  auto gone = dev.retrieve_session(x64);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().raw_errno(), ENOENT) << gone.error().message();
}

TEST_P(EndToEnd, GetNameBefore72IsRefusedWithAMessage) {
  auto dev = must(lu_.open_device());
  auto s = must(dev.create_session("named"));
  auto r = s.get_name();
  if (has(Feature::get_name)) {
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r.value(), "named");
  } else {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(),
              "GET_NAME on outgoing session 'named' (created) refused before any syscall: EINVAL");
  }
}

// The refusal of a sticky retrieve is real: the kernel's handler runs once from 7.0, twice on
// 6.19 where the retry is allowed and succeeds.
TEST_P(EndToEnd, AStickyRetrieveFailureIsNotRetriedFrom70) {
  auto dev = handover({1});
  auto in = must(dev.retrieve_session("s"));
  kernel_.inject(SimFault::retrieve_handler, EIO);
  auto first = in.retrieve(1);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().origin(), ErrorOrigin::kernel) << first.error().message();

  auto again = in.retrieve(1);
  if (has(Feature::sticky_retrieve_failure)) {
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().message(),
              "RETRIEVE_FD on incoming session 's' (retrieve_failed) refused before any "
              "syscall: EIO");
    EXPECT_EQ(handler_calls(HandlerOp::retrieve), 1u);
  } else {
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ(must(memfd::read_all(again.value().get())), "data 1");
    EXPECT_EQ(handler_calls(HandlerOp::retrieve), 2u);
  }
  EXPECT_TRUE(in.finish().ok());
}

// End to end: after a copy-back EFAULT the simulator keeps the file preserved, and so must
// tokens() and state().
TEST_P(EndToEnd, CopyBackFaultOnPreserveIsTrackedLikeTheKernel) {
  auto dev = must(lu_.open_device());
  auto s = must(dev.create_session("s"));
  UniqueFd mem = memfd_with("kept");
  kernel_.inject(SimFault::preserve_copy_back, EFAULT);
  auto r = s.preserve(mem.get(), 9);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().raw_errno(), EFAULT);
  ASSERT_EQ(kernel_.snapshot().outgoing.size(), 1u);
  EXPECT_THAT(kernel_.snapshot().outgoing[0].tokens, ElementsAre(9u));
  EXPECT_THAT(std::vector<Token>(s.tokens().begin(), s.tokens().end()), ElementsAre(9u));
  EXPECT_EQ(s.state(), OutgoingSessionState::preserving);
}

// End to end: RETRIEVE_FD after FINISH is the session's ENOENT.
TEST_P(EndToEnd, RetrieveAfterFinishIsEnoentWithoutDisagreement) {
  auto dev = handover({1, 2});
  auto in = must(dev.retrieve_session("s"));
  auto mem = must(in.retrieve(1));
  ASSERT_TRUE(in.finish().ok());
  for (Token token : {Token{1}, Token{2}}) {
    SCOPED_TRACE("token " + std::to_string(token));
    auto r = in.retrieve(token);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().raw_errno(), ENOENT) << r.error().message();
    EXPECT_NE(r.error().origin(), ErrorOrigin::disagreement) << r.error().message();
    EXPECT_NE(in.file_state(token), FileState::retrieve_failed);
  }
  EXPECT_EQ(must(memfd::read_all(mem.get())), "data 1");
}

// End to end: calls on a closed session never reach the simulator.
TEST_P(EndToEnd, CallsOnAClosedSessionAreRefused) {
  auto dev = must(lu_.open_device());
  auto s = must(dev.create_session("s"));
  s.close();
  UniqueFd mem = memfd_with("x");
  auto r = s.preserve(mem.get(), 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().raw_errno(), EBADF) << r.error().message();
  EXPECT_EQ(r.error().origin(), ErrorOrigin::refused) << r.error().message();
  EXPECT_TRUE(kernel_.snapshot().outgoing.empty());
}

// A Device kept open across kexec is stale: it neither blocks the new boot's open nor, when it
// finally closes, releases the new boot's device.
TEST_P(EndToEnd, ADeviceHeldAcrossKexecDoesNotHoldTheNextBoot) {
  std::optional<Device> old_dev(must(lu_.open_device()));
  auto s = must(old_dev->create_session("s"));
  ASSERT_TRUE(lu_.kexec().ok());
  auto dev = must(lu_.open_device());
  EXPECT_EQ(lu_.boot(), 1u);
  EXPECT_EQ(kernel_.boot_number(), 1u);

  auto stale = old_dev->create_session("t");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().origin(), ErrorOrigin::stale);
  EXPECT_TRUE(kernel_.snapshot().outgoing.empty());

  old_dev.reset();
  EXPECT_EQ(lu_.device_state(), DeviceState::open);
  EXPECT_TRUE(kernel_.snapshot().device_open);
  // "s" came over and the new device serves it.
  auto in = must(dev.retrieve_session("s"));
  EXPECT_TRUE(in.finish().ok());
}

LUO_IMPL_PER_PROFILE(EndToEnd);

}  // namespace
}  // namespace luo::impl_test
