// /dev/liveupdate and its two ioctls (spec §1.2, §1.3, §1.4, §2.1, §2.2, §2.6), per profile.
#include <gtest/gtest.h>

#include <string>

#include "model_test_support.hpp"

namespace luo::model_test {
namespace {

class DeviceTest : public PerProfile {
 protected:
  bool validates_names() const { return has(Feature::session_name_validation); }
};

// §1.2: one in-use flag; a second open is EBUSY while the first is held, and release clears it.
TEST_P(DeviceTest, ExclusiveOpen) {
  CheckedModel k(profile());
  EXPECT_EQ(k->device(), DeviceState::never_opened);
  EXPECT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.open_device(), Errno::ebusy));
  EXPECT_TRUE(FailsWith(k.open_device(), Errno::ebusy));
  // The failed opens did not disturb the holder.
  EXPECT_EQ(k->device(), DeviceState::open);
  EXPECT_TRUE(Succeeds(k.create_session("still-mine")));
  EXPECT_TRUE(Succeeds(k.release_device()));
  EXPECT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(Succeeds(k.release_device()));
}

// §1.3: the fd is reserved before anything else, so EMFILE beats EBUSY and leaves no trace.
TEST_P(DeviceTest, EmfileComesFirstOnOpen) {
  CheckedModel k(profile());
  EXPECT_TRUE(FailsWith(k.open_device(model_test::no_free_fd()), Errno::emfile));
  EXPECT_EQ(k->device(), DeviceState::never_opened);
  // An EMFILE open never ran the driver, so it cannot have failed deserialization either.
  Environment both = model_test::deserialization_fails();
  both.no_free_fd = true;
  EXPECT_TRUE(FailsWith(k.open_device(both), Errno::emfile));
  EXPECT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.open_device(model_test::no_free_fd()), Errno::emfile));
}

// §1.2, §5.3.3: a failed deserialization makes every open of this boot EIO; recovery is
// another reboot. Sessions of the previous kernel are unreachable meanwhile.
TEST_P(DeviceTest, DeserializationFailureIsStickyForTheBoot) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("survivor");
  k.must_preserve_new_memfd(s, 7);
  ASSERT_TRUE(Succeeds(k.kexec()));

  EXPECT_TRUE(FailsWith(k.open_device(model_test::deserialization_fails()), Errno::eio));
  EXPECT_EQ(k->device(), DeviceState::deserialization_failed);
  // The failure is remembered: later opens fail without being told to.
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(FailsWith(k.open_device(), Errno::eio));
  // No device fd was ever handed out, so neither device ioctl can be issued.
  EXPECT_FALSE(k.create_session("new").ok());
  EXPECT_FALSE(k.retrieve_session("survivor").ok());
  // EMFILE still comes first: the fd is reserved before the driver's open runs.
  EXPECT_TRUE(FailsWith(k.open_device(model_test::no_free_fd()), Errno::emfile));

  // The next boot starts over. Nothing was handed over: the failed boot had no outgoing
  // sessions, and its incoming ones are not serialized again (§2.7).
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(k->device(), DeviceState::never_opened);
  EXPECT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.retrieve_session("survivor"), Errno::enoent));
}

// §1.2: only the first successful open deserializes; later opens reuse the cached result,
// so a deserialization fault can no longer strike.
TEST_P(DeviceTest, DeserializationResultIsCached) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  ASSERT_TRUE(Succeeds(k.release_device()));
  EXPECT_TRUE(Succeeds(k.open_device(model_test::deserialization_fails())));
  EXPECT_EQ(k->device(), DeviceState::open);
}

// §1.2: closing /dev/liveupdate does not affect sessions; their fds keep them alive.
TEST_P(DeviceTest, ReleasingDeviceKeepsSessions) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId a = k.must_create("a");
  ASSERT_TRUE(Succeeds(k.release_device()));
  EXPECT_EQ(k->outgoing().size(), 1U);
  EXPECT_TRUE(Succeeds(k.preserve_memfd(a, k.new_memfd(), 1)));
  ASSERT_TRUE(Succeeds(k.open_device()));
  // The name is still taken by the live session.
  EXPECT_TRUE(FailsWith(k.create_session("a"), Errno::eexist));
  k.must_create("b");
  ASSERT_TRUE(Succeeds(k.release_device()));
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"a", "b"}));
}

// §2.1: names are unique among live outgoing sessions.
TEST_P(DeviceTest, CreateSessionDuplicateNameIsEexist) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create("dup");
  EXPECT_TRUE(FailsWith(k.create_session("dup"), Errno::eexist));
  EXPECT_EQ(k->outgoing().size(), 1U);
  // Only the exact name collides.
  k.must_create("dup2");
  k.must_create("Dup");
}

// §8: EMFILE comes before any other check for ioctls that return an fd, even a duplicate name.
TEST_P(DeviceTest, CreateSessionEmfileBeforeEveryOtherCheck) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create("dup");
  EXPECT_TRUE(FailsWith(k.create_session("dup", model_test::no_free_fd()), Errno::emfile));
  EXPECT_TRUE(FailsWith(k.create_session("", model_test::no_free_fd()), Errno::emfile));
  EXPECT_TRUE(
      FailsWith(k.create_session(std::string(64, 'X'), model_test::no_free_fd()), Errno::emfile));
  EXPECT_TRUE(FailsWith(k.create_session("fresh", model_test::no_free_fd()), Errno::emfile));
  EXPECT_EQ(k->outgoing().size(), 1U);
}

// §1.4: ENOMEM on allocation failure, EFAULT on copy-back fault (the session is torn down).
TEST_P(DeviceTest, CreateSessionAllocationAndCopyBackFailuresLeaveNoSession) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.create_session("x", model_test::out_of_memory()), Errno::enomem));
  EXPECT_TRUE(FailsWith(k.create_session("x", model_test::copy_back_fault()), Errno::efault));
  EXPECT_TRUE(k->outgoing().empty());
  // Nothing holds the name afterwards.
  k.must_create("x");
}

// §2.2 / §6.1 #10, #11, #13: 7.2 rejects empty and unterminated names; 63 bytes are fine.
TEST_P(DeviceTest, CreateSessionNameRules) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const std::string max63(63, 'A');
  const std::string unterminated64(64, 'X');

  const Step max = k.create_session(max63);
  ASSERT_TRUE(Succeeds(max));
  EXPECT_EQ(k->session_name(max.session), max63);

  if (validates_names()) {
    EXPECT_TRUE(FailsWith(k.create_session(""), Errno::einval));
    EXPECT_TRUE(FailsWith(k.create_session(unterminated64), Errno::einval));
    // Validation precedes the duplicate check: an unterminated field whose first 63 bytes
    // equal a live name is still EINVAL.
    EXPECT_TRUE(FailsWith(k.create_session(max63 + "Z"), Errno::einval));
    EXPECT_EQ(k->outgoing().size(), 1U);
    return;
  }
  // 6.19-7.1: no validation. The empty name is a name like any other.
  const Step empty = k.create_session("");
  ASSERT_TRUE(Succeeds(empty));
  EXPECT_EQ(k->session_name(empty.session), "");
  EXPECT_TRUE(FailsWith(k.create_session(""), Errno::eexist));
  // An unterminated field is truncated to 63 bytes, and duplicates are found on the
  // truncated name.
  const Step x = k.create_session(unterminated64);
  ASSERT_TRUE(Succeeds(x));
  EXPECT_EQ(k->session_name(x.session), std::string(63, 'X'));
  EXPECT_TRUE(FailsWith(k.create_session(unterminated64), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.create_session(std::string(63, 'X')), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.create_session(std::string(63, 'X') + "Y"), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.create_session(max63 + "Z"), Errno::eexist));
}

// §2.2: no character-set restriction; any byte other than NUL is allowed.
TEST_P(DeviceTest, CreateSessionAcceptsAnyNonNulBytes) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const std::string odd = "sp ace/slash\x01\x7f\xff\xc3\xa9";
  const Step s = k.create_session(odd);
  ASSERT_TRUE(Succeeds(s));
  EXPECT_EQ(k->session_name(s.session), odd);
}

// §2.6: 819 outgoing sessions on 6.19-7.1, the 820th is ENOMEM; 7.2 has no such limit.
TEST_P(DeviceTest, SessionLimitPerProfile) {
  CheckedModel k(profile());
  k.set_check_stride(32);
  ASSERT_TRUE(Succeeds(k.open_device()));
  for (int i = 1; i <= 819; ++i) {
    ASSERT_TRUE(Succeeds(k.create_session("s-" + std::to_string(i)))) << i;
  }
  k.set_check_stride(1);
  k.check_now();
  const Step s820 = k.create_session("s-820");
  if (!legacy()) {
    EXPECT_TRUE(Succeeds(s820));
    EXPECT_EQ(k->outgoing().size(), 820U);
    return;
  }
  EXPECT_TRUE(FailsWith(s820, Errno::enomem));
  EXPECT_EQ(k->outgoing().size(), 819U);
  // The limit is on live sessions: closing one makes room for one more.
  ASSERT_TRUE(Succeeds(k.release_session(k->outgoing().front().id)));
  EXPECT_TRUE(Succeeds(k.create_session("s-820")));
  EXPECT_TRUE(FailsWith(k.create_session("s-821"), Errno::enomem));
}

// §1.4 RETRIEVE_SESSION: ENOENT without a match, EINVAL when already retrieved.
TEST_P(DeviceTest, RetrieveSessionErrors) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  // A cold boot has no incoming sessions, and outgoing ones are not retrievable.
  k.must_create("mine");
  EXPECT_TRUE(FailsWith(k.retrieve_session("mine"), Errno::enoent));
  ASSERT_TRUE(Succeeds(k.kexec()));

  ASSERT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.retrieve_session("other"), Errno::enoent));
  // The comparison is exact: no prefix or case folding.
  EXPECT_TRUE(FailsWith(k.retrieve_session("min"), Errno::enoent));
  EXPECT_TRUE(FailsWith(k.retrieve_session("Mine"), Errno::enoent));
  // EMFILE first (§8), and it leaves the session retrievable.
  EXPECT_TRUE(FailsWith(k.retrieve_session("mine", model_test::no_free_fd()), Errno::emfile));
  EXPECT_TRUE(FailsWith(k.retrieve_session("other", model_test::no_free_fd()), Errno::emfile));
  const SessionId s = k.must_retrieve("mine");
  EXPECT_TRUE(FailsWith(k.retrieve_session("mine"), Errno::einval));
  EXPECT_TRUE(FailsWith(k.retrieve_session("mine", model_test::no_free_fd()), Errno::emfile));
  // Still EINVAL once finished, as long as the session exists (§2.4).
  ASSERT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_TRUE(FailsWith(k.retrieve_session("mine"), Errno::einval));
  // Gone after close (§2.4).
  ASSERT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_TRUE(FailsWith(k.retrieve_session("mine"), Errno::enoent));
}

// §1.4: no name validation on retrieve; an unterminated field simply matches nothing.
TEST_P(DeviceTest, RetrieveSessionUnterminatedNameIsEnoent) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const std::string max63(63, 'A');
  k.must_create(max63);
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.retrieve_session(max63 + "A"), Errno::enoent));
  EXPECT_TRUE(FailsWith(k.retrieve_session(std::string(64, 'A')), Errno::enoent));
  EXPECT_TRUE(Succeeds(k.retrieve_session(max63)));
}

// §2.2 on 6.19-7.1: a session created from an unterminated field is handed over under its
// truncated 63-byte name.
TEST_P(DeviceTest, TruncatedNameSurvivesKexecOnLegacy) {
  if (validates_names())
    GTEST_SKIP() << "7.2+ rejects unterminated names";
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create(std::string(64, 'Q'));
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.retrieve_session(std::string(64, 'Q')), Errno::enoent));
  EXPECT_TRUE(Succeeds(k.retrieve_session(std::string(63, 'Q'))));
}

// §2.1: after an outgoing session is closed its name is free again.
TEST_P(DeviceTest, NameReusableAfterClose) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId first = k.must_create("reuse");
  k.must_preserve_new_memfd(first, 1);
  ASSERT_TRUE(Succeeds(k.release_session(first)));
  const SessionId second = k.must_create("reuse");
  EXPECT_NE(first, second);
  // The new session starts empty: the closed one's files went with it.
  ASSERT_NE(k->find_outgoing(second), nullptr);
  EXPECT_TRUE(k->find_outgoing(second)->files.empty());
  EXPECT_TRUE(Succeeds(k.preserve_memfd(second, k.new_memfd(), 1)));
  // The closed session's fd is gone.
  EXPECT_FALSE(k.preserve_memfd(first, k.new_memfd(), 2).ok());
}

// §2.1: the two lists are independent; an outgoing name may equal an incoming one, and each
// list keeps its own uniqueness.
TEST_P(DeviceTest, OutgoingAndIncomingNamesAreIndependent) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId old_state = k.must_create("state");
  k.must_preserve_new_memfd(old_state, 1);
  ASSERT_TRUE(Succeeds(k.kexec()));

  ASSERT_TRUE(Succeeds(k.open_device()));
  // Re-creating the same name before retrieving the incoming one is allowed...
  const SessionId new_state = k.must_create("state");
  // ...and retrieving the incoming one still finds the incoming session.
  const SessionId in = k.must_retrieve("state");
  EXPECT_NE(in, new_state);
  ASSERT_NE(k->find_incoming(in), nullptr);
  EXPECT_EQ(model_test::tokens_of(*k->find_incoming(in)), (std::vector<Token>{1}));
  // The outgoing list still refuses a second "state".
  EXPECT_TRUE(FailsWith(k.create_session("state"), Errno::eexist));
  k.must_preserve_new_memfd(new_state, 2);

  // Only the outgoing "state" crosses the next kexec (§2.7).
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId again = k.must_retrieve("state");
  ASSERT_NE(k->find_incoming(again), nullptr);
  EXPECT_EQ(model_test::tokens_of(*k->find_incoming(again)), (std::vector<Token>{2}));
  EXPECT_EQ(k->incoming().size(), 1U);
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, DeviceTest, ::testing::ValuesIn(kAllProfiles),
                         model_test::profile_param_name);

}  // namespace
}  // namespace luo::model_test
