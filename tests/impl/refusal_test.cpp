// Calls the model forbids outright are refused before any syscall (spec kernel-luo.md §1-§3, §8):
// the fake port must see no call at all, and the Error says who refused, what, where and why.
// Where the profile allows the call, the same step must reach the kernel instead.
#include <string>
#include <vector>

#include "impl_test_support.hpp"

namespace luo::impl_test {
namespace {

using ::testing::HasSubstr;

class Refusal : public PerProfile {};

// Every candidate row of a second open fails (EMFILE or EBUSY), so it is refused without a
// syscall even though no_free_fd is unknown.
TEST_P(Refusal, SecondOpenWhileADeviceIsAliveIsEbusy) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  rig.port.forget_calls();
  rig.port.script(PortOp::open_device, EBUSY);  // what the kernel answers if asked
  auto again = rig.lu.open_device();
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  EXPECT_TRUE(failed_with(
      again, {ErrorOrigin::refused, EBUSY, Operation::open_device, "/dev/liveupdate", "open"}));
  EXPECT_EQ(rig.lu.device_state(), DeviceState::open);
  EXPECT_TRUE(dev.is_open());
}

// The duplicate name is refused: the model knows it is EEXIST whatever EMFILE might say.
TEST_P(Refusal, CreateWithTheNameOfALiveSessionIsEexist) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto first = must(dev.create_session("dup"));
  rig.port.forget_calls();

  auto second = dev.create_session("dup");
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  EXPECT_TRUE(failed_with(
      second, {ErrorOrigin::refused, EEXIST, Operation::create_session, "session 'dup'", "open"}));
  if (!second.ok()) {
    EXPECT_THAT(second.error().message(), HasSubstr("already has this name"));
  }

  // Closing the session frees its name again (§2.1): the next create reaches the kernel.
  first.close();
  rig.port.forget_calls();
  auto third = dev.create_session("dup");
  EXPECT_TRUE(third.ok());
  EXPECT_EQ(rig.port.count(PortOp::create_session), 1u);
}

// 7.2 rejects an empty or unterminated name (§2.2); earlier kernels accept both, truncating the
// unterminated one to 63 bytes. The refusal must not wait for the unknown no_free_fd row.
TEST_P(Refusal, InvalidNamesAreRefusedFrom72AndIssuedBefore) {
  const std::string unterminated(kSessionNameFieldSize, 'X');
  struct Case {
    std::string name;
    std::string stored;
  };
  for (const Case& c : {Case{"", ""}, Case{unterminated, unterminated.substr(0, 63)}}) {
    SCOPED_TRACE("name of " + std::to_string(c.name.size()) + " bytes");
    Rig rig(profile());
    auto dev = must(rig.lu.open_device());
    rig.port.forget_calls();
    if (has(Feature::session_name_validation))
      rig.port.script(PortOp::create_session, EINVAL);
    auto r = dev.create_session(c.name);
    if (has(Feature::session_name_validation)) {
      EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
      EXPECT_TRUE(failed_with(r, {ErrorOrigin::refused, EINVAL, Operation::create_session,
                                  "session '" + c.stored + "'", "open"}));
    } else {
      ASSERT_EQ(rig.port.count(PortOp::create_session), 1u);
      // The field goes to the kernel byte for byte, unterminated if the caller made it so.
      EXPECT_EQ(rig.port.calls()[0].name, SessionNameField::from(c.name));
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(r.value().name(), c.stored);
    }
  }
}

TEST_P(Refusal, PreserveWithATokenAlreadyUsedInTheSessionIsEexist) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("s"));
  auto other = must(dev.create_session("other"));
  UniqueFd a = some_file();
  UniqueFd b = some_file();
  ASSERT_TRUE(s.preserve(a.get(), 0x1234).ok());
  rig.port.forget_calls();

  auto r = s.preserve(b.get(), 0x1234);
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  EXPECT_TRUE(failed_with(r, {ErrorOrigin::refused, EEXIST, Operation::preserve_fd,
                              "outgoing session 's'", "preserving"}));
  EXPECT_THAT(r.error().message(), HasSubstr("the token is already used in this session"));
  EXPECT_EQ(s.tokens().size(), 1u);

  // Tokens are per session (§3.1.1): the same token elsewhere is the kernel's business.
  EXPECT_TRUE(other.preserve(b.get(), 0x1234).ok());
  EXPECT_EQ(rig.port.count(PortOp::preserve_fd), 1u);
}

// On 6.19/7.0 the 129th PRESERVE_FD cannot succeed whatever the unknown rows before it say.
TEST_P(Refusal, The129thPreserveIsEnospcOnLegacyProfilesAndIssuedFrom72) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("full"));
  UniqueFd file = some_file();
  for (Token t = 0; t < kLegacyMaxFilesPerSession; ++t) {
    ASSERT_TRUE(s.preserve(file.get(), t).ok()) << "token " << t;
  }
  rig.port.forget_calls();
  if (has(Feature::legacy_limits))
    rig.port.script(PortOp::preserve_fd, ENOSPC);

  auto r = s.preserve(file.get(), kLegacyMaxFilesPerSession);
  if (has(Feature::legacy_limits)) {
    EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
    EXPECT_TRUE(failed_with(r, {ErrorOrigin::refused, ENOSPC, Operation::preserve_fd,
                                "outgoing session 'full'", "preserving"}));
    EXPECT_EQ(s.tokens().size(), kLegacyMaxFilesPerSession);
  } else {
    EXPECT_EQ(rig.port.count(PortOp::preserve_fd), 1u);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(s.tokens().size(), kLegacyMaxFilesPerSession + 1);
  }
}

// GET_NAME exists from 7.2 (§1.4); before, its nr is past the session op table: EINVAL.
TEST_P(Refusal, GetNameIsRefusedBefore72AndWithReservedSet) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto out = must(dev.create_session("outgoing-name"));
  auto in = must(dev.retrieve_session("incoming-name"));
  rig.port.forget_calls();

  auto out_name = out.get_name();
  auto in_name = in.get_name();
  if (has(Feature::get_name)) {
    EXPECT_EQ(rig.port.count(PortOp::get_session_name), 2u);
    ASSERT_TRUE(out_name.ok()) << out_name.error().message();
    ASSERT_TRUE(in_name.ok()) << in_name.error().message();
    EXPECT_EQ(out_name.value(), "outgoing-name");
    EXPECT_EQ(in_name.value(), "incoming-name");

    rig.port.forget_calls();
    EXPECT_TRUE(
        failed_with(out.get_name(1), {ErrorOrigin::refused, EINVAL, Operation::get_session_name,
                                      "outgoing session 'outgoing-name'", "created"}));
    EXPECT_TRUE(failed_with(in.get_name(0x80000000u),
                            {ErrorOrigin::refused, EINVAL, Operation::get_session_name,
                             "incoming session 'incoming-name'", "retrieved"}));
    EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  } else {
    EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
    EXPECT_TRUE(failed_with(out_name, {ErrorOrigin::refused, EINVAL, Operation::get_session_name,
                                       "outgoing session 'outgoing-name'", "created"}));
    EXPECT_TRUE(failed_with(in_name, {ErrorOrigin::refused, EINVAL, Operation::get_session_name,
                                      "incoming session 'incoming-name'", "retrieved"}));
  }
}

// 7.2.13 already rejects FINISH reserved != 0 (§8); 6.19-7.1 ignore the field.
TEST_P(Refusal, FinishWithReservedSetIsRefusedFrom72AndIssuedBefore) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));
  rig.port.forget_calls();

  auto r = in.finish(7);
  if (has(Feature::finish_reserved_checked)) {
    EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
    EXPECT_TRUE(failed_with(r, {ErrorOrigin::refused, EINVAL, Operation::finish_session,
                                "incoming session 'in'", "retrieved"}));
    EXPECT_EQ(in.state(), IncomingSessionState::retrieved);
  } else {
    ASSERT_EQ(rig.port.count(PortOp::finish_session), 1u);
    EXPECT_EQ(rig.port.calls()[0].reserved, 7u);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(in.state(), IncomingSessionState::finished);
  }
}

// From 7.0 a failed retrieve returns the same error forever (§3.2); 6.19 retries.
TEST_P(Refusal, RetrieveAfterAFailedRetrieveIsStickyFrom70AndRetriedOn619) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));
  rig.port.script(PortOp::retrieve_fd, EOPNOTSUPP);
  auto first = in.retrieve(5);
  const std::string failed_state =
      has(Feature::sticky_retrieve_failure) ? "retrieve_failed" : "restorable";
  EXPECT_TRUE(failed_with(first, {ErrorOrigin::kernel, EOPNOTSUPP, Operation::retrieve_fd,
                                  "incoming session 'in'", failed_state}));
  rig.port.forget_calls();

  auto again = in.retrieve(5);
  if (has(Feature::sticky_retrieve_failure)) {
    EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
    EXPECT_TRUE(failed_with(again, {ErrorOrigin::refused, EOPNOTSUPP, Operation::retrieve_fd,
                                    "incoming session 'in'", "retrieve_failed"}));
    EXPECT_EQ(in.file_state(5), FileState::retrieve_failed);
  } else {
    EXPECT_EQ(rig.port.count(PortOp::retrieve_fd), 1u);
    EXPECT_TRUE(again.ok());
    EXPECT_EQ(in.file_state(5), FileState::retrieved);
  }
  // Other tokens are not affected.
  rig.port.forget_calls();
  EXPECT_TRUE(in.retrieve(6).ok());
  EXPECT_EQ(rig.port.count(PortOp::retrieve_fd), 1u);
}

TEST_P(Refusal, RetrieveSessionOfANameThisRuntimeHoldsIsEinval) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));
  rig.port.forget_calls();

  EXPECT_TRUE(failed_with(dev.retrieve_session("in"),
                          {ErrorOrigin::refused, EINVAL, Operation::retrieve_session,
                           "incoming session 'in'", "retrieved"}));
  ASSERT_TRUE(in.finish().ok());
  rig.port.forget_calls();
  EXPECT_TRUE(failed_with(dev.retrieve_session("in"),
                          {ErrorOrigin::refused, EINVAL, Operation::retrieve_session,
                           "incoming session 'in'", "finished"}));
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
}

// A session this runtime closed is gone (§2.4): RETRIEVE_SESSION of it is ENOENT, refused.
TEST_P(Refusal, RetrieveSessionOfANameClosedThisBootIsEnoent) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  must(dev.retrieve_session("in")).close();
  rig.port.forget_calls();
  rig.port.script(PortOp::retrieve_session, ENOENT);

  auto r = dev.retrieve_session("in");
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  EXPECT_TRUE(failed_with(r, {ErrorOrigin::refused, ENOENT, Operation::retrieve_session,
                              "incoming session 'in'", "open"}));
}

TEST_P(Refusal, CreateOrRetrieveOnAClosedDeviceIsEbadf) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  dev.close();
  rig.port.forget_calls();

  EXPECT_TRUE(failed_with(
      dev.create_session("x"),
      {ErrorOrigin::refused, EBADF, Operation::create_session, "session 'x'", "closed"}));
  EXPECT_TRUE(failed_with(dev.retrieve_session("y"),
                          {ErrorOrigin::refused, EBADF, Operation::retrieve_session,
                           "incoming session 'y'", "closed"}));
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
}

// A closed session object has no fd: every call is EBADF without a syscall, never an ioctl on -1.
TEST_P(Refusal, CallsOnAClosedSessionAreEbadfWithoutASyscall) {
  Rig rig(profile());
  auto dev = must(rig.lu.open_device());
  auto out = must(dev.create_session("out"));
  auto in = must(dev.retrieve_session("in"));
  out.close();
  in.close();
  rig.port.forget_calls();
  // What a kernel would answer for fd -1, should the call get through.
  rig.port.script(PortOp::preserve_fd, EBADF);
  rig.port.script(PortOp::retrieve_fd, EBADF);
  rig.port.script(PortOp::finish_session, EBADF);
  rig.port.script(PortOp::get_session_name, EBADF, 2);

  UniqueFd file = some_file();
  auto preserve = out.preserve(file.get(), 1);
  auto retrieve = in.retrieve(1);
  auto finish = in.finish();
  EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
  for (const Error* e : {&preserve.error(), &retrieve.error(), &finish.error()}) {
    EXPECT_EQ(e->origin(), ErrorOrigin::refused) << e->message();
    EXPECT_EQ(e->raw_errno(), EBADF) << e->message();
  }
  if (has(Feature::get_name)) {
    auto out_name = out.get_name();
    auto in_name = in.get_name();
    EXPECT_EQ(rig.port.calls().size(), 0u) << rig.port.describe_calls();
    ASSERT_FALSE(out_name.ok());
    ASSERT_FALSE(in_name.ok());
    EXPECT_EQ(out_name.error().origin(), ErrorOrigin::refused) << out_name.error().message();
    EXPECT_EQ(in_name.error().origin(), ErrorOrigin::refused) << in_name.error().message();
  }
}

LUO_IMPL_PER_PROFILE(Refusal);

}  // namespace
}  // namespace luo::impl_test
