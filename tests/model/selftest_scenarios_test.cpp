// The kernel's own selftests (spec §6) replayed against the model: the 15 tests of
// liveupdate.c (§6.1) and the four kexec tests (§6.2). The model holds no file data, so the
// data checks of the selftests become checks that the right files are preserved, handed
// over and retrieved. Each test runs on every profile and expects what the spec says that
// kernel does, including the failures the spec predicts for older kernels.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model_test_support.hpp"

namespace luo::model_test {
namespace {

class LiveupdateSelftest : public PerProfile {};

// #1 basic_open_close
TEST_P(LiveupdateSelftest, BasicOpenClose) {
  CheckedModel k(profile());
  EXPECT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(Succeeds(k.release_device()));
}

// #2 exclusive_open
TEST_P(LiveupdateSelftest, ExclusiveOpen) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  EXPECT_TRUE(FailsWith(k.open_device(), Errno::ebusy));
  EXPECT_TRUE(Succeeds(k.release_device()));
}

// #3 create_duplicate_session
TEST_P(LiveupdateSelftest, CreateDuplicateSession) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("duplicate-session-test");
  EXPECT_TRUE(FailsWith(k.create_session("duplicate-session-test"), Errno::eexist));
  EXPECT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_TRUE(Succeeds(k.release_device()));
}

// #4 create_distinct_sessions
TEST_P(LiveupdateSelftest, CreateDistinctSessions) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId a = k.must_create("distinct-session-1");
  const SessionId b = k.must_create("distinct-session-2");
  EXPECT_NE(a, b);
  EXPECT_TRUE(Succeeds(k.release_session(a)));
  EXPECT_TRUE(Succeeds(k.release_session(b)));
  EXPECT_TRUE(k->outgoing().empty());
}

// #5 preserve_memfd: closing the session unpreserves the memfd, which stays a normal file.
TEST_P(LiveupdateSelftest, PreserveMemfd) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("preserve-memfd-test");
  const FileId f = k.new_memfd();
  EXPECT_TRUE(Succeeds(k.preserve_memfd(s, f, 0x1234)));
  EXPECT_TRUE(k->is_registered(f));
  k.clear_handler_log();
  EXPECT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_EQ(k->handler_log(),
            std::vector<HandlerCall>{call(HandlerOp::unpreserve, "preserve-memfd-test", 0x1234)});
  EXPECT_FALSE(k->is_registered(f));
}

// #6 preserve_multiple_memfds
TEST_P(LiveupdateSelftest, PreserveMultipleMemfds) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("preserve-multiple-test");
  const FileId a = k.must_preserve_new_memfd(s, 0xAAAA);
  const FileId b = k.must_preserve_new_memfd(s, 0xBBBB);
  EXPECT_NE(a, b);
  EXPECT_EQ(model_test::tokens_of(*k->find_outgoing(s)), (std::vector<Token>{0xAAAA, 0xBBBB}));
  EXPECT_TRUE(Succeeds(k.release_session(s)));
}

// #7 preserve_complex_scenario: two sessions, each with a data memfd and an empty one.
TEST_P(LiveupdateSelftest, PreserveComplexScenario) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s1 = k.must_create("complex-session-1");
  const SessionId s2 = k.must_create("complex-session-2");
  k.must_preserve_new_memfd(s1, 0x1111);
  k.must_preserve_new_memfd(s1, 0x2222);
  k.must_preserve_new_memfd(s2, 0x3333);
  k.must_preserve_new_memfd(s2, 0x4444);
  EXPECT_TRUE(Succeeds(k.release_session(s1)));
  EXPECT_TRUE(Succeeds(k.release_session(s2)));
  EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::unpreserve).size(), 4U);
}

// #8 preserve_unsupported_fd: /dev/null has no handler.
TEST_P(LiveupdateSelftest, PreserveUnsupportedFd) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("preserve-unsupported-test");
  const FileId dev_null = k.new_unsupported_file();
  EXPECT_TRUE(
      FailsWith(k.preserve_fd(s, FileRef{dev_null, FileKind::unsupported}, 0xDEAD), Errno::enoent));
  EXPECT_TRUE(k->find_outgoing(s)->files.empty());
}

// #9 prevent_double_preservation (7.0/7.1+); 6.19 accepts both.
TEST_P(LiveupdateSelftest, PreventDoublePreservation) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s1 = k.must_create("double-preserve-1");
  const SessionId s2 = k.must_create("double-preserve-2");
  const FileId f = k.new_memfd();
  EXPECT_TRUE(Succeeds(k.preserve_memfd(s1, f, 0x1111)));
  const Step second = k.preserve_memfd(s2, f, 0x2222);
  const Step third = k.preserve_memfd(s1, f, 0x3333);
  if (has(Feature::double_preservation_check)) {
    EXPECT_TRUE(FailsWith(second, Errno::ebusy));
    EXPECT_TRUE(FailsWith(third, Errno::ebusy));
  } else {
    EXPECT_TRUE(Succeeds(second));
    EXPECT_TRUE(Succeeds(third));
  }
}

// #10 create_session_no_null_termination (7.2); older kernels truncate instead (§2.2).
TEST_P(LiveupdateSelftest, CreateSessionNoNullTermination) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const Step s = k.create_session(std::string(64, 'X'));
  if (has(Feature::session_name_validation)) {
    EXPECT_TRUE(FailsWith(s, Errno::einval));
  } else {
    ASSERT_TRUE(Succeeds(s));
    EXPECT_EQ(k->session_name(s.session), std::string(63, 'X'));
  }
}

// #11 create_session_empty_name (7.2); older kernels accept "" (§2.2).
TEST_P(LiveupdateSelftest, CreateSessionEmptyName) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const Step s = k.create_session("");
  if (has(Feature::session_name_validation)) {
    EXPECT_TRUE(FailsWith(s, Errno::einval));
  } else {
    EXPECT_TRUE(Succeeds(s));
  }
}

// #12 get_session_name (7.2); before 7.2 the ioctl nr is unknown: EINVAL (§1.3).
TEST_P(LiveupdateSelftest, GetSessionName) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("get-name-test-session");
  const Step r = k.get_session_name(s);
  if (has(Feature::get_name)) {
    EXPECT_TRUE(Succeeds(r));
    EXPECT_EQ(k->session_name(s), "get-name-test-session");
  } else {
    EXPECT_TRUE(FailsWith(r, Errno::einval));
  }
}

// #13 get_session_name_max_length (7.2)
TEST_P(LiveupdateSelftest, GetSessionNameMaxLength) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const std::string max(63, 'A');
  const SessionId s = k.must_create(max);
  if (has(Feature::get_name)) {
    EXPECT_TRUE(Succeeds(k.get_session_name(s)));
  }
  EXPECT_EQ(k->session_name(s), max);
}

// #14 preserve_many_sessions (7.2): 2000 sessions; would fail with ENOMEM at 820 on 6.19-7.1.
TEST_P(LiveupdateSelftest, PreserveManySessions) {
  CheckedModel k(profile());
  k.set_check_stride(64);
  ASSERT_TRUE(Succeeds(k.open_device()));
  std::vector<SessionId> ids;
  for (int i = 0; i < 2000; ++i) {
    const Step s = k.create_session("many-session-" + std::to_string(i));
    if (has(Feature::legacy_limits) && i >= 819) {
      ASSERT_EQ(i, 819) << "the first failure ends the selftest";
      EXPECT_TRUE(FailsWith(s, Errno::enomem));
      break;
    }
    ASSERT_TRUE(Succeeds(s)) << i;
    ids.push_back(s.session);
  }
  k.check_now();
  EXPECT_EQ(ids.size(), has(Feature::legacy_limits) ? 819U : 2000U);
  for (SessionId s : ids)
    ASSERT_TRUE(Succeeds(k.release_session(s)));
  k.check_now();
  EXPECT_TRUE(k->outgoing().empty());
}

// #15 preserve_many_files (7.2): 500 memfds, tokens 0..499; ENOSPC at 129 on 6.19-7.1.
TEST_P(LiveupdateSelftest, PreserveManyFiles) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("preserve-many-files");
  Token t = 0;
  for (; t < 500; ++t) {
    const Step r = k.preserve_memfd(s, k.new_memfd(), t);
    if (has(Feature::legacy_limits) && t >= 128) {
      EXPECT_TRUE(FailsWith(r, Errno::enospc));
      break;
    }
    ASSERT_TRUE(Succeeds(r)) << t;
  }
  EXPECT_EQ(t, has(Feature::legacy_limits) ? 128U : 500U);
  EXPECT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::unpreserve).size(),
            has(Feature::legacy_limits) ? 128U : 500U);
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, LiveupdateSelftest, ::testing::ValuesIn(kAllProfiles),
                         model_test::profile_param_name);

// ---- §6.2 kexec tests ---------------------------------------------------------------------

// The selftests' helpers, at model level: each step must succeed, as in the selftests.
class KexecSelftest : public PerProfile {
 protected:
  // Stage detection: RETRIEVE_SESSION of the state session is ENOENT in stage 1.
  static void expect_stage(CheckedModel& k, std::string_view state, int stage) {
    const Step s = k.retrieve_session(state);
    if (stage == 1) {
      EXPECT_TRUE(FailsWith(s, Errno::enoent));
      return;
    }
    EXPECT_TRUE(Succeeds(s));
  }
  // create_and_preserve_memfd: the selftest closes the memfd right after; LUO keeps its own
  // reference (§3.1), which the model expresses as the file staying registered.
  static void create_and_preserve(CheckedModel& k, SessionId s, Token t) {
    const FileId f = k.must_preserve_new_memfd(s, t);
    EXPECT_TRUE(k->is_registered(f));
  }
  static SessionId session_by_name(const KernelModel& k, std::string_view n) {
    const auto* s = model_test::incoming_named(k, n);
    return s == nullptr ? kNoSession : s->id;
  }
  static void verify(CheckedModel& k, SessionId s, Token t) {
    const Step r = k.retrieve_fd(s, t);
    EXPECT_TRUE(Succeeds(r)) << "token " << t;
    EXPECT_NE(r.file, kNoFile);
  }
  static void finish_and_close(CheckedModel& k, SessionId s) {
    EXPECT_TRUE(Succeeds(k.finish_session(s)));
    EXPECT_TRUE(Succeeds(k.release_session(s)));
  }
  // Stage 1 of every kexec selftest: open the device, find no state session, and create it with
  // one file (its token), which tells stage 2 that stage 1 ran.
  static void stage_1(CheckedModel& k, std::string_view state, Token t) {
    EXPECT_TRUE(Succeeds(k.open_device()));
    expect_stage(k, state, 1);
    create_and_preserve(k, k.must_create(state), t);
  }
  // The reboot between the stages: the device is closed, the kernel kexecs, and stage 2 opens
  // the device and retrieves the state session.
  static void kexec_into_stage_2(CheckedModel& k, std::string_view state) {
    EXPECT_TRUE(Succeeds(k.release_device()));
    EXPECT_TRUE(Succeeds(k.kexec()));
    EXPECT_TRUE(Succeeds(k.open_device()));
    expect_stage(k, state, 2);
  }
};

// luo_kexec_simple
TEST_P(KexecSelftest, Simple) {
  CheckedModel k(profile());
  stage_1(k, "kexec_simple_state", 999);
  const SessionId test = k.must_create("test-session");
  create_and_preserve(k, test, 0x1A);
  kexec_into_stage_2(k, "kexec_simple_state");
  const SessionId in_state = session_by_name(k.model(), "kexec_simple_state");
  ASSERT_NE(in_state, kNoSession);
  verify(k, in_state, 999);
  const SessionId in_test = k.must_retrieve("test-session");
  verify(k, in_test, 0x1A);
  finish_and_close(k, in_test);
  finish_and_close(k, in_state);
  EXPECT_TRUE(k->incoming().empty());
  // Every file was retrieved, so FINISH discarded nothing.
  EXPECT_TRUE(model_test::only(k->handler_log(), HandlerOp::discard).empty());
  EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::finish).size(), 2U);
}

// luo_multi_session: empty sessions survive kexec and can be finished.
TEST_P(KexecSelftest, MultiSession) {
  CheckedModel k(profile());
  stage_1(k, "kexec_multi_state", 998);
  k.must_create("multi-test-empty-1");
  k.must_create("multi-test-empty-2");
  const SessionId f1 = k.must_create("multi-test-files-1");
  create_and_preserve(k, f1, 0x1001);
  const SessionId f2 = k.must_create("multi-test-files-2");
  create_and_preserve(k, f2, 0x2002);
  create_and_preserve(k, f2, 0x3003);
  kexec_into_stage_2(k, "kexec_multi_state");
  const SessionId in_state = session_by_name(k.model(), "kexec_multi_state");
  const SessionId e1 = k.must_retrieve("multi-test-empty-1");
  const SessionId e2 = k.must_retrieve("multi-test-empty-2");
  const SessionId in_f1 = k.must_retrieve("multi-test-files-1");
  const SessionId in_f2 = k.must_retrieve("multi-test-files-2");
  EXPECT_TRUE(k->find_incoming(e1)->files.empty());
  EXPECT_TRUE(k->find_incoming(e2)->files.empty());
  verify(k, in_f1, 0x1001);
  verify(k, in_f2, 0x2002);
  verify(k, in_f2, 0x3003);
  verify(k, in_state, 998);
  for (SessionId s : {e1, e2, in_f1, in_f2, in_state})
    finish_and_close(k, s);
  EXPECT_TRUE(k->incoming().empty());
}

// luo_stress_files (7.2): 500 memfds in one session, tokens 0..499.
TEST_P(KexecSelftest, StressFiles) {
  if (has(Feature::legacy_limits)) {
    GTEST_SKIP() << "7.2 selftest; 6.19-7.1 stop at 128 files (PreserveManyFiles)";
  }
  CheckedModel k(profile());
  stage_1(k, "kexec_many_files_state", 9999);
  const SessionId s = k.must_create("many_files_session");
  for (Token t = 0; t < 500; ++t)
    create_and_preserve(k, s, t);
  kexec_into_stage_2(k, "kexec_many_files_state");
  const SessionId in = k.must_retrieve("many_files_session");
  std::vector<Token> expected;
  for (Token t = 0; t < 500; ++t)
    expected.push_back(t);
  EXPECT_EQ(model_test::tokens_of(*k->find_incoming(in)), expected);
  for (Token t = 0; t < 500; ++t)
    verify(k, in, t);
  EXPECT_TRUE(Succeeds(k.finish_session(in)));
  EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::finish).size(), 500U);
}

// luo_stress_sessions (7.2): 2000 empty sessions.
TEST_P(KexecSelftest, StressSessions) {
  if (has(Feature::legacy_limits)) {
    GTEST_SKIP() << "7.2 selftest; 6.19-7.1 stop at 819 sessions (PreserveManySessions)";
  }
  CheckedModel k(profile());
  k.set_check_stride(64);
  stage_1(k, "kexec_many_state", 999);
  for (int i = 0; i < 2000; ++i)
    k.must_create("many-test-" + std::to_string(i));
  kexec_into_stage_2(k, "kexec_many_state");
  ASSERT_EQ(k->incoming().size(), 2001U);
  for (int i = 0; i < 2000; ++i) {
    const SessionId s = k.must_retrieve("many-test-" + std::to_string(i));
    ASSERT_NE(s, kNoSession) << i;
    finish_and_close(k, s);
  }
  k.check_now();
  finish_and_close(k, session_by_name(k.model(), "kexec_many_state"));
  EXPECT_TRUE(k->incoming().empty());
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, KexecSelftest, ::testing::ValuesIn(kAllProfiles),
                         model_test::profile_param_name);

}  // namespace
}  // namespace luo::model_test
