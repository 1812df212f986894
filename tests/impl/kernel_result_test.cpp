// What the kernel answers picks the row (spec kernel-luo.md §1.4, §2.4, §3): an errno a row
// allows comes back with origin `kernel` and the row's target state; an errno no row allows in
// that state is a `disagreement` and changes nothing.
#include <string>
#include <vector>

#include "impl_test_support.hpp"

namespace luo::impl_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class KernelResult : public PerProfile {
 protected:
  static std::vector<Token> tokens_of(const OutgoingSession& s) {
    return {s.tokens().begin(), s.tokens().end()};
  }
};

TEST_P(KernelResult, OpenErrorsTakeTheirRows) {
  Rig rig(profile());
  for (int err : {EMFILE, EBUSY}) {
    SCOPED_TRACE(errno_text(err));
    rig.port.script(PortOp::open_device, err);
    EXPECT_TRUE(failed_with(rig.lu.open_device(), {ErrorOrigin::kernel, err, Operation::open_device,
                                                   "/dev/liveupdate", "never_opened"}));
    EXPECT_EQ(rig.lu.device_state(), DeviceState::never_opened);
  }
  // ENOTTY is no open's answer: nothing changes.
  rig.port.script(PortOp::open_device, ENOTTY);
  EXPECT_TRUE(
      failed_with(rig.lu.open_device(), {ErrorOrigin::disagreement, ENOTTY, Operation::open_device,
                                         "/dev/liveupdate", "never_opened"}));
  EXPECT_EQ(rig.lu.device_state(), DeviceState::never_opened);

  // A failed deserialization is sticky for the boot (§1.2).
  rig.port.script(PortOp::open_device, EIO);
  EXPECT_TRUE(failed_with(rig.lu.open_device(), {ErrorOrigin::kernel, EIO, Operation::open_device,
                                                 "/dev/liveupdate", "deserialization_failed"}));
  EXPECT_EQ(rig.lu.device_state(), DeviceState::deserialization_failed);
  rig.port.script(PortOp::open_device, EIO);
  auto again = rig.lu.open_device();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().raw_errno(), EIO) << again.error().message();
  EXPECT_EQ(rig.lu.device_state(), DeviceState::deserialization_failed);
}

TEST_P(KernelResult, CreateSessionErrorsKeepTheDeviceOpen) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  // EEXIST here is a session of the same name created through another fd: impl cannot know it.
  for (int err : {EMFILE, ENOMEM, EEXIST}) {
    SCOPED_TRACE(errno_text(err));
    rig.port.script(PortOp::create_session, err);
    auto r = dev.create_session("s");
    EXPECT_TRUE(failed_with(
        r, {ErrorOrigin::kernel, err, Operation::create_session, "session 's'", "open"}));
    EXPECT_EQ(rig.lu.device_state(), DeviceState::open);
  }
  // Only the 7.2 name check gives EINVAL, and "s" passes it; ENOTTY is never CREATE_SESSION's;
  // and impl rules out a copy-back EFAULT, because the port's argument is its own memory.
  for (int err : {EINVAL, ENOTTY, EFAULT}) {
    SCOPED_TRACE(errno_text(err));
    rig.port.script(PortOp::create_session, err);
    EXPECT_TRUE(failed_with(
        dev.create_session("s"),
        {ErrorOrigin::disagreement, err, Operation::create_session, "session 's'", "open"}));
    EXPECT_EQ(rig.lu.device_state(), DeviceState::open);
  }
  // None of the failures left a session behind: the name is free.
  auto s = must(dev.create_session("s"));
  EXPECT_EQ(s.state(), OutgoingSessionState::created);
}

TEST_P(KernelResult, PreserveErrorsKeepTheStateAndRecordNoToken) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("s"));
  UniqueFd file = some_file();

  struct Case {
    int err;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {EBADF, "the fd is not open"},
      {ENOENT, "no LUO handler supports this file"},
      {ENOMEM, "out of memory"},
      // A token used through another fd of this session: not something impl can see.
      {EEXIST, "already used in this session"},
      // 6.19 has no double-preservation table, so EBUSY can only be the handler's own error.
      {EBUSY, has(Feature::double_preservation_check) ? "already preserved" : "handler failed"},
      {EOPNOTSUPP, "handler failed"},
  };
  for (OutgoingSessionState state :
       {OutgoingSessionState::created, OutgoingSessionState::preserving}) {
    const std::string name(state_name(state));
    for (const Case& c : cases) {
      SCOPED_TRACE(name + " " + errno_text(c.err));
      const auto before = tokens_of(s);
      rig.port.script(PortOp::preserve_fd, c.err);
      auto r = s.preserve(file.get(), 99);
      EXPECT_TRUE(failed_with(
          r, {ErrorOrigin::kernel, c.err, Operation::preserve_fd, "outgoing session 's'", name}));
      if (!r.ok()) {
        EXPECT_THAT(r.error().message(), HasSubstr(c.detail));
      }
      EXPECT_EQ(s.state(), state);
      EXPECT_EQ(tokens_of(s), before);
    }
    if (state == OutgoingSessionState::created) {
      // The first success moves created -> preserving.
      ASSERT_TRUE(s.preserve(file.get(), 1).ok());
      EXPECT_EQ(s.state(), OutgoingSessionState::preserving);
      EXPECT_THAT(tokens_of(s), ElementsAre(1u));
    }
  }
  // Token 99 never made it in, so it is still free.
  rig.port.forget_calls();
  EXPECT_TRUE(s.preserve(file.get(), 99).ok());
  EXPECT_EQ(rig.port.count(PortOp::preserve_fd), 1u);
  EXPECT_THAT(tokens_of(s), ElementsAre(1u, 99u));
}

// A copy-back EFAULT on PRESERVE_FD leaves the file preserved (§3.1.8): the token must be
// recorded and the session must move to `preserving`, not be read as a handler failure.
TEST_P(KernelResult, CopyBackFaultOnPreserveStillRecordsTheToken) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("s"));
  UniqueFd file = some_file();
  rig.port.script(PortOp::preserve_fd, EFAULT);

  auto r = s.preserve(file.get(), 7);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().origin(), ErrorOrigin::kernel) << r.error().message();
  EXPECT_EQ(r.error().raw_errno(), EFAULT);
  EXPECT_EQ(s.state(), OutgoingSessionState::preserving);
  EXPECT_THAT(tokens_of(s), ElementsAre(7u));

  // The kernel holds token 7 now, so reusing it is the model's EEXIST, decided without a call.
  rig.port.forget_calls();
  rig.port.script(PortOp::preserve_fd, EEXIST);
  auto again = s.preserve(file.get(), 7);
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  EXPECT_TRUE(failed_with(again, {ErrorOrigin::refused, EEXIST, Operation::preserve_fd,
                                  "outgoing session 's'", "preserving"}));
}

// A session's preserved tokens in any order: each one in use is the model's EEXIST, decided
// without a call, whether it came in ascending order or below the last one (TokenTable keeps
// those apart); a token never used between them still reaches the kernel.
TEST_P(KernelResult, ATokenInUseIsRefusedWithoutACallInAnyPreservationOrder) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("s"));
  UniqueFd file = some_file();
  for (std::uint64_t token : {9u, 3u, 5u, 1u, 12u})
    ASSERT_TRUE(s.preserve(file.get(), token).ok()) << token;
  EXPECT_THAT(tokens_of(s), ElementsAre(9u, 3u, 5u, 1u, 12u));
  for (std::uint64_t token : {3u, 12u, 1u, 9u, 5u}) {
    SCOPED_TRACE(token);
    rig.port.forget_calls();
    EXPECT_TRUE(failed_with(s.preserve(file.get(), token),
                            {ErrorOrigin::refused, EEXIST, Operation::preserve_fd,
                             "outgoing session 's'", "preserving"}));
    EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  }
  rig.port.forget_calls();
  EXPECT_TRUE(s.preserve(file.get(), 4).ok());
  EXPECT_EQ(rig.port.count(PortOp::preserve_fd), 1u);
  EXPECT_THAT(tokens_of(s), ElementsAre(9u, 3u, 5u, 1u, 12u, 4u));
}

TEST_P(KernelResult, RetrieveSessionErrors) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  for (int err : {ENOENT, EMFILE}) {
    SCOPED_TRACE(errno_text(err));
    rig.port.script(PortOp::retrieve_session, err);
    EXPECT_TRUE(failed_with(
        dev.retrieve_session("x"),
        {ErrorOrigin::kernel, err, Operation::retrieve_session, "incoming session 'x'", "open"}));
    EXPECT_EQ(rig.lu.device_state(), DeviceState::open);
  }
  // EINVAL: the session is retrieved through another fd (another process, §2.4). The error
  // says which state explains it.
  rig.port.script(PortOp::retrieve_session, EINVAL);
  EXPECT_TRUE(failed_with(dev.retrieve_session("x"),
                          {ErrorOrigin::kernel, EINVAL, Operation::retrieve_session,
                           "incoming session 'x'", "retrieved"}));
  // ENOTTY explains nothing; EFAULT cannot happen with impl's own argument memory.
  for (int err : {ENOTTY, EFAULT}) {
    SCOPED_TRACE(errno_text(err));
    rig.port.script(PortOp::retrieve_session, err);
    auto r = dev.retrieve_session("x");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().origin(), ErrorOrigin::disagreement) << r.error().message();
  }
  // None of that made "x" known: the next retrieve reaches the kernel and succeeds.
  rig.port.forget_calls();
  auto in = must(dev.retrieve_session("x"));
  EXPECT_EQ(rig.port.count(PortOp::retrieve_session), 1u);
  EXPECT_EQ(in.state(), IncomingSessionState::retrieved);
}

TEST_P(KernelResult, RetrieveFdErrors) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));

  // The session's own checks: the file is not touched.
  rig.port.script(PortOp::retrieve_fd, ENOENT);
  EXPECT_TRUE(failed_with(in.retrieve(1), {ErrorOrigin::kernel, ENOENT, Operation::retrieve_fd,
                                           "incoming session 'in'", "retrieved"}));
  EXPECT_EQ(in.file_state(1), FileState::restorable);
  rig.port.script(PortOp::retrieve_fd, EMFILE);
  EXPECT_TRUE(failed_with(in.retrieve(2), {ErrorOrigin::kernel, EMFILE, Operation::retrieve_fd,
                                           "incoming session 'in'", "retrieved"}));
  EXPECT_EQ(in.file_state(2), FileState::restorable);

  // A handler error reaches the file: permanent from 7.0, retryable on 6.19.
  rig.port.script(PortOp::retrieve_fd, EIO);
  const FileState failed =
      has(Feature::sticky_retrieve_failure) ? FileState::retrieve_failed : FileState::restorable;
  EXPECT_TRUE(
      failed_with(in.retrieve(3), {ErrorOrigin::kernel, EIO, Operation::retrieve_fd,
                                   "incoming session 'in'", std::string(state_name(failed))}));
  EXPECT_EQ(in.file_state(3), failed);
  EXPECT_EQ(in.state(), IncomingSessionState::retrieved);

  // Success, then idempotent success.
  auto a = must(in.retrieve(4));
  auto b = must(in.retrieve(4));
  EXPECT_EQ(in.file_state(4), FileState::retrieved);
  EXPECT_NE(a.get(), b.get());
}

TEST_P(KernelResult, FinishErrors) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));

  // can_finish vetoed: nothing changes, a retry may succeed (§3.3).
  rig.port.script(PortOp::finish_session, EBUSY);
  EXPECT_TRUE(failed_with(in.finish(), {ErrorOrigin::kernel, EBUSY, Operation::finish_session,
                                        "incoming session 'in'", "retrieved"}));
  EXPECT_EQ(in.state(), IncomingSessionState::retrieved);
  for (int err : {ENOSPC, ENOENT}) {
    SCOPED_TRACE(errno_text(err));
    rig.port.script(PortOp::finish_session, err);
    EXPECT_TRUE(failed_with(in.finish(), {ErrorOrigin::disagreement, err, Operation::finish_session,
                                          "incoming session 'in'", "retrieved"}));
    EXPECT_EQ(in.state(), IncomingSessionState::retrieved);
  }
  ASSERT_TRUE(in.finish().ok());
  EXPECT_EQ(in.state(), IncomingSessionState::finished);
  // Idempotent; and a veto cannot happen once finished.
  EXPECT_TRUE(in.finish().ok());
  rig.port.script(PortOp::finish_session, EBUSY);
  EXPECT_TRUE(failed_with(in.finish(), {ErrorOrigin::disagreement, EBUSY, Operation::finish_session,
                                        "incoming session 'in'", "finished"}));
  EXPECT_EQ(in.state(), IncomingSessionState::finished);
}

// The kernel finishes before it fails to copy back: after EFAULT the session and its retrieved
// files are `finished`.
TEST_P(KernelResult, CopyBackFaultOnFinishStillFinishesTheFiles) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));
  auto mem = must(in.retrieve(1));
  rig.port.script(PortOp::finish_session, EFAULT);
  EXPECT_TRUE(failed_with(in.finish(), {ErrorOrigin::kernel, EFAULT, Operation::finish_session,
                                        "incoming session 'in'", "finished"}));
  EXPECT_EQ(in.state(), IncomingSessionState::finished);
  EXPECT_EQ(in.file_state(1), FileState::finished);
}

// After FINISH the file list is empty (§3.3): ENOENT belongs to the session, and must neither
// mark a file `retrieve_failed` nor count as a disagreement.
TEST_P(KernelResult, RetrieveAfterFinishIsThePlainSessionEnoent) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));
  auto mem = must(in.retrieve(1));
  ASSERT_TRUE(in.finish().ok());
  rig.observer.clear();
  rig.port.script(PortOp::retrieve_fd, ENOENT, 2);

  for (Token token : {Token{1}, Token{2}}) {
    SCOPED_TRACE("token " + std::to_string(token));
    const FileState before = in.file_state(token);
    auto r = in.retrieve(token);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().origin(), ErrorOrigin::disagreement) << r.error().message();
    EXPECT_EQ(r.error().raw_errno(), ENOENT) << r.error().message();
    EXPECT_EQ(r.error().state(), "finished") << r.error().message();
    EXPECT_EQ(in.file_state(token), before);
    ASSERT_FALSE(rig.observer.records().empty());
    const TransitionRecord& rec = rig.observer.records().back();
    EXPECT_EQ(render(rec).substr(0, render(rec).find(" = ")),
              "b0 incoming-session [incoming session 'in'] RETRIEVE_FD / RETRIEVE_FD: finished "
              "-> finished");
    EXPECT_EQ(rec.result, ENOENT);
  }
  EXPECT_EQ(in.file_state(1), FileState::finished);

  // No RETRIEVE_FD can succeed after FINISH, so the model refuses it without asking the kernel.
  rig.port.forget_calls();
  auto r = in.retrieve(3);
  ASSERT_FALSE(r.ok()) << "an fd after FINISH was accepted";
  EXPECT_EQ(r.error().origin(), ErrorOrigin::refused) << r.error().message();
  EXPECT_EQ(r.error().raw_errno(), ENOENT);
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
}

TEST_P(KernelResult, GetNameErrorsAreDisagreements) {
  if (!has(Feature::get_name))
    GTEST_SKIP() << "GET_NAME is refused before 7.2";
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("s"));
  rig.port.script(PortOp::get_session_name, ENOTTY);
  EXPECT_TRUE(
      failed_with(s.get_name(), {ErrorOrigin::disagreement, ENOTTY, Operation::get_session_name,
                                 "outgoing session 's'", "created"}));
  EXPECT_EQ(s.state(), OutgoingSessionState::created);
}

// An errno luo::Errno does not list keeps its number: error() is empty and message() prints it.
TEST_P(KernelResult, AnErrnoLuoDoesNotKnowKeepsItsNumber) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  rig.port.script(PortOp::create_session, ENOSYS);
  auto created = dev.create_session("s");
  EXPECT_TRUE(failed_with(created, {ErrorOrigin::disagreement, ENOSYS, Operation::create_session,
                                    "session 's'", "open"}));
  EXPECT_FALSE(created.error().error().has_value());
  EXPECT_THAT(created.error().message(), HasSubstr("errno " + std::to_string(ENOSYS)));

  // A handler may return anything: PRESERVE_FD passes it on as the kernel's.
  auto s = must(dev.create_session("s"));
  UniqueFd file = some_file();
  rig.port.script(PortOp::preserve_fd, ENOSYS);
  auto r = s.preserve(file.get(), 1);
  EXPECT_TRUE(failed_with(
      r, {ErrorOrigin::kernel, ENOSYS, Operation::preserve_fd, "outgoing session 's'", "created"}));
  EXPECT_FALSE(r.error().error().has_value());
}

LUO_IMPL_PER_PROFILE(KernelResult);

}  // namespace
}  // namespace luo::impl_test
