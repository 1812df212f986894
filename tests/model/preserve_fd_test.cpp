// LIVEUPDATE_SESSION_PRESERVE_FD (spec §3.1, §2.6, §3.5), per profile.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "model_test_support.hpp"

namespace luo::model_test {
namespace {

class PreserveFdTest : public PerProfile {
 protected:
  bool checks_double() const { return has(Feature::double_preservation_check); }

  // An open device and one outgoing session.
  SessionId setup(CheckedModel& k, std::string_view session = "s") {
    EXPECT_TRUE(Succeeds(k.open_device()));
    return k.must_create(session);
  }
  // A session "old" with one memfd at token 5, carried across a kexec and retrieved.
  SessionId carried_and_retrieved(CheckedModel& k) {
    k.must_preserve_new_memfd(setup(k, "old"), 5);
    EXPECT_TRUE(Succeeds(k.kexec()));
    EXPECT_TRUE(Succeeds(k.open_device()));
    return k.must_retrieve("old");
  }
  static FileRef memfd(FileId id) { return FileRef{id, FileKind::memfd}; }
  static FileRef invalid_fd(FileId id = kNoFile) { return FileRef{id, FileKind::invalid_fd}; }
  static FileRef unsupported(FileId id) { return FileRef{id, FileKind::unsupported}; }
};

TEST_P(PreserveFdTest, FirstPreserveMovesSessionToPreserving) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  EXPECT_EQ(k->find_outgoing(s)->state, OutgoingSessionState::created);
  const FileId f = k.new_memfd();
  ASSERT_TRUE(Succeeds(k.preserve_memfd(s, f, 0x1234)));
  const auto* out = k->find_outgoing(s);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->state, OutgoingSessionState::preserving);
  ASSERT_EQ(out->files.size(), 1U);
  EXPECT_EQ(out->files[0].token, 0x1234U);
  EXPECT_EQ(out->files[0].file, f);
  EXPECT_EQ(out->files[0].state, FileState::preserved);
  EXPECT_TRUE(k->is_registered(f));
}

// §3.1.1: any u64 is a token, 0 included; tokens are per session.
TEST_P(PreserveFdTest, TokensArePerSessionAndAnyU64) {
  CheckedModel k(profile());
  const SessionId a = setup(k, "a");
  const SessionId b = k.must_create("b");
  EXPECT_TRUE(Succeeds(k.preserve_memfd(a, k.new_memfd(), 0)));
  EXPECT_TRUE(Succeeds(k.preserve_memfd(a, k.new_memfd(), std::numeric_limits<Token>::max())));
  EXPECT_TRUE(Succeeds(k.preserve_memfd(b, k.new_memfd(), 0)));
  EXPECT_TRUE(FailsWith(k.preserve_memfd(a, k.new_memfd(), 0), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.preserve_memfd(b, k.new_memfd(), 0), Errno::eexist));
  EXPECT_EQ(k->find_outgoing(a)->files.size(), 2U);
  EXPECT_EQ(k->find_outgoing(b)->files.size(), 1U);
}

// §3.1 check order: EEXIST (1) before ENOSPC (2) before EBADF (3) before ENOENT (4) before
// EBUSY (5) before the handler (7) before the copy-back (8). Each call below also makes a later
// check fail, so only the order explains the errno.
TEST_P(PreserveFdTest, CheckOrder) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  const SessionId other = k.must_create("other");
  // A file preserved elsewhere, so that check 5 would fire.
  const FileId busy = k.must_preserve_new_memfd(other, 1);
  const Token used = 0;
  k.must_preserve_new_memfd(s, used);
  // Fill the session to the legacy 128-file limit, so that check 2 would fire.
  for (Token t = 1; t < kLegacyMaxFilesPerSession; ++t)
    k.must_preserve_new_memfd(s, t);
  ASSERT_EQ(k->find_outgoing(s)->files.size(), 128U);
  const Token fresh = 1000;

  // 1: the token wins over everything.
  EXPECT_TRUE(FailsWith(k.preserve_fd(s, invalid_fd(busy), used), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.preserve_fd(s, unsupported(busy), used), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.preserve_fd(s, memfd(busy), used), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.preserve_fd(s, memfd(k.new_memfd()), used, model_test::out_of_memory()),
                        Errno::eexist));
  SessionId target = s;
  if (legacy()) {
    // 2: the file count, only before 7.2.
    EXPECT_TRUE(FailsWith(k.preserve_fd(s, invalid_fd(busy), fresh), Errno::enospc));
    EXPECT_TRUE(FailsWith(k.preserve_fd(s, unsupported(busy), fresh), Errno::enospc));
    EXPECT_TRUE(FailsWith(k.preserve_fd(s, memfd(busy), fresh), Errno::enospc));
    EXPECT_TRUE(FailsWith(k.preserve_fd(s, memfd(k.new_memfd()), fresh), Errno::enospc));
    EXPECT_EQ(k->find_outgoing(s)->files.size(), 128U);
    // The rest of the order is checked on a session with room.
    ASSERT_TRUE(Succeeds(k.release_session(s)));
    target = k.must_create("roomy");
    k.must_preserve_new_memfd(target, used);
  }
  // 3: an unusable fd before the handler lookup and the double-preservation check.
  EXPECT_TRUE(FailsWith(k.preserve_fd(target, invalid_fd(busy), fresh), Errno::ebadf));
  EXPECT_TRUE(FailsWith(k.preserve_fd(target, invalid_fd(), fresh), Errno::ebadf));
  // 4: no handler for the file, before the double-preservation check.
  EXPECT_TRUE(FailsWith(k.preserve_fd(target, unsupported(busy), fresh), Errno::enoent));
  EXPECT_TRUE(FailsWith(k.preserve_fd(target, unsupported(k.new_unsupported_file()), fresh),
                        Errno::enoent));
  // 5 before 7 before 8: a busy file is EBUSY whatever the handler or the copy-back would do.
  Environment late = model_test::handler_fails(Errno::efbig);
  late.copy_back_fault = true;
  const Step s5 = k.preserve_fd(target, memfd(busy), fresh, late);
  if (checks_double()) {
    EXPECT_TRUE(FailsWith(s5, Errno::ebusy));
  } else {
    // 6.19 has no check 5: the handler's error is next.
    EXPECT_TRUE(FailsWith(s5, Errno::efbig));
  }
  // 7 before 8: the handler failed, so nothing was preserved and nothing copied back.
  EXPECT_TRUE(FailsWith(k.preserve_fd(target, memfd(k.new_memfd()), fresh, late), Errno::efbig));
  EXPECT_EQ(k->find_outgoing(target)->files.size(), legacy() ? 1U : 128U);
}

// §3.1.2: in 7.2+ the serialization space is reserved at check 2 and its failure is ENOMEM, so
// it comes before the fd checks. Before 7.2 check 2 is the file count only; allocation
// failures arise later (FLB at 6, the handler at 7), after EBADF, ENOENT and EBUSY.
// SPEC DISAGREEMENT (legacy profiles): the model's out_of_memory row sits at check 2 for every
// profile, so 6.19/7.0 answer ENOMEM where the spec's order gives EBADF/ENOENT/EBUSY.
TEST_P(PreserveFdTest, OutOfMemoryPositionInCheckOrder) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  const SessionId other = k.must_create("other");
  const FileId busy = k.must_preserve_new_memfd(other, 1);
  const Environment oom = model_test::out_of_memory();
  if (!legacy()) {
    EXPECT_TRUE(FailsWith(k.preserve_fd(s, invalid_fd(), 2, oom), Errno::enomem));
    EXPECT_TRUE(
        FailsWith(k.preserve_fd(s, unsupported(k.new_unsupported_file()), 2, oom), Errno::enomem));
    EXPECT_TRUE(FailsWith(k.preserve_fd(s, memfd(busy), 2, oom), Errno::enomem));
  } else {
    EXPECT_TRUE(FailsWith(k.preserve_fd(s, invalid_fd(), 2, oom), Errno::ebadf));
    EXPECT_TRUE(
        FailsWith(k.preserve_fd(s, unsupported(k.new_unsupported_file()), 2, oom), Errno::enoent));
    if (checks_double()) {
      EXPECT_TRUE(FailsWith(k.preserve_fd(s, memfd(busy), 2, oom), Errno::ebusy));
    }
  }
  // Whatever the position, a plain allocation failure is ENOMEM and preserves nothing.
  EXPECT_TRUE(FailsWith(k.preserve_fd(s, memfd(k.new_memfd()), 3, oom), Errno::enomem));
  EXPECT_TRUE(k->find_outgoing(s)->files.empty());
  EXPECT_EQ(k->find_outgoing(s)->state, OutgoingSessionState::created);
}

// §2.6: 128 files per session before 7.2, the 129th is ENOSPC; 7.2 has no such limit.
TEST_P(PreserveFdTest, FileLimitPerProfile) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  for (Token t = 0; t < 128; ++t)
    k.must_preserve_new_memfd(s, t);
  const Step s129 = k.preserve_memfd(s, k.new_memfd(), 128);
  if (legacy()) {
    EXPECT_TRUE(FailsWith(s129, Errno::enospc));
    EXPECT_EQ(k->find_outgoing(s)->files.size(), 128U);
    // The limit is per session.
    const SessionId t = k.must_create("t");
    EXPECT_TRUE(Succeeds(k.preserve_memfd(t, k.new_memfd(), 128)));
  } else {
    EXPECT_TRUE(Succeeds(s129));
    EXPECT_EQ(k->find_outgoing(s)->files.size(), 129U);
  }
}

// §3.1.5: from 7.0 a file may be in one outgoing session only, whatever the token or session;
// 6.19 accepted double preservation.
TEST_P(PreserveFdTest, DoublePreservation) {
  CheckedModel k(profile());
  const SessionId a = setup(k, "a");
  const SessionId b = k.must_create("b");
  const FileId f = k.must_preserve_new_memfd(a, 0x1111);
  const Step same_session_other_token = k.preserve_memfd(a, f, 0x2222);
  const Step other_session_same_token = k.preserve_memfd(b, f, 0x1111);
  const Step other_session_other_token = k.preserve_memfd(b, f, 0x3333);
  if (checks_double()) {
    EXPECT_TRUE(FailsWith(same_session_other_token, Errno::ebusy));
    EXPECT_TRUE(FailsWith(other_session_same_token, Errno::ebusy));
    EXPECT_TRUE(FailsWith(other_session_other_token, Errno::ebusy));
    EXPECT_EQ(k->find_outgoing(a)->files.size(), 1U);
    EXPECT_TRUE(k->find_outgoing(b)->files.empty());
    // Closing the holder unpreserves the file (§2.3), so it may be preserved again.
    ASSERT_TRUE(Succeeds(k.release_session(a)));
    EXPECT_FALSE(k->is_registered(f));
    EXPECT_TRUE(Succeeds(k.preserve_memfd(b, f, 0x1111)));
  } else {
    EXPECT_TRUE(Succeeds(same_session_other_token));
    EXPECT_TRUE(Succeeds(other_session_same_token));
    EXPECT_TRUE(Succeeds(other_session_other_token));
    EXPECT_EQ(k->find_outgoing(a)->files.size(), 2U);
    EXPECT_EQ(k->find_outgoing(b)->files.size(), 2U);
    // Every copy is handed over.
    ASSERT_TRUE(Succeeds(k.kexec()));
    EXPECT_EQ(model_test::tokens_of(k->incoming()[0]), (std::vector<Token>{0x1111, 0x2222}));
    EXPECT_EQ(model_test::tokens_of(k->incoming()[1]), (std::vector<Token>{0x1111, 0x3333}));
  }
}

// §3.1.5: in 7.x a retrieved file stays in the double-preservation table until its incoming
// session is FINISHed; re-preserving it before that is EBUSY.
TEST_P(PreserveFdTest, RetrievedFileRepreservation) {
  CheckedModel k(profile());
  const SessionId in = carried_and_retrieved(k);
  const Step r = k.retrieve_fd(in, 5);
  ASSERT_TRUE(Succeeds(r));
  const FileId got = r.file;
  ASSERT_NE(got, kNoFile);
  const SessionId next = k.must_create("next");
  const Step before_finish = k.preserve_memfd(next, got, 5);
  if (checks_double()) {
    EXPECT_TRUE(k->is_registered(got));
    EXPECT_TRUE(FailsWith(before_finish, Errno::ebusy));
    ASSERT_TRUE(Succeeds(k.finish_session(in)));
    EXPECT_FALSE(k->is_registered(got));
    EXPECT_TRUE(Succeeds(k.preserve_memfd(next, got, 5)));
  } else {
    EXPECT_TRUE(Succeeds(before_finish));
  }
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(model_test::tokens_of(k->incoming()[0]), (std::vector<Token>{5}));
}

// §2.4 + §3.1.5: closing the retrieved session finishes it implicitly, which also frees the
// retrieved file for preservation.
TEST_P(PreserveFdTest, RetrievedFileRepreservableAfterImplicitFinish) {
  CheckedModel k(profile());
  const SessionId in = carried_and_retrieved(k);
  const FileId got = k.retrieve_fd(in, 5).file;
  ASSERT_TRUE(Succeeds(k.release_session(in)));
  const SessionId next = k.must_create("next");
  EXPECT_TRUE(Succeeds(k.preserve_memfd(next, got, 5)));
}

// §3.1.8: a copy-back fault is EFAULT, yet the file stays preserved.
TEST_P(PreserveFdTest, CopyBackFaultKeepsFilePreserved) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  const SessionId other = k.must_create("other");
  const FileId f = k.new_memfd();
  EXPECT_TRUE(FailsWith(k.preserve_memfd(s, f, 9, model_test::copy_back_fault()), Errno::efault));
  const auto* out = k->find_outgoing(s);
  ASSERT_EQ(out->files.size(), 1U);
  EXPECT_EQ(out->files[0].token, 9U);
  EXPECT_EQ(out->state, OutgoingSessionState::preserving);
  EXPECT_TRUE(k->is_registered(f));
  // It behaves as preserved: the token is taken, and 7.0+ refuses the file elsewhere.
  EXPECT_TRUE(FailsWith(k.preserve_memfd(s, k.new_memfd(), 9), Errno::eexist));
  const Step elsewhere = k.preserve_memfd(other, f, 1);
  if (checks_double()) {
    EXPECT_TRUE(FailsWith(elsewhere, Errno::ebusy));
  } else {
    EXPECT_TRUE(Succeeds(elsewhere));
  }
  // And it crosses the kexec.
  ASSERT_TRUE(Succeeds(k.release_device()));
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_NE(model_test::incoming_named(k.model(), "s"), nullptr);
  EXPECT_EQ(model_test::tokens_of(*model_test::incoming_named(k.model(), "s")),
            (std::vector<Token>{9}));
}

// §3.1.7: the handler's error passes through and nothing is preserved. The handler was called
// (every earlier check passed), so the log shows each failed call.
TEST_P(PreserveFdTest, HandlerErrorPassesThrough) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  const FileId f = k.new_memfd();
  for (Errno e : {Errno::eopnotsupp, Errno::efbig, Errno::enomem}) {
    EXPECT_TRUE(FailsWith(k.preserve_memfd(s, f, 1, model_test::handler_fails(e)), e));
  }
  EXPECT_TRUE(k->find_outgoing(s)->files.empty());
  EXPECT_EQ(k->find_outgoing(s)->state, OutgoingSessionState::created);
  EXPECT_FALSE(k->is_registered(f));
  EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>(3, call(HandlerOp::preserve, "s", 1)));
  // A check that fails before the handler does not reach it.
  k.clear_handler_log();
  EXPECT_TRUE(FailsWith(k.preserve_fd(s, invalid_fd(), 1), Errno::ebadf));
  EXPECT_TRUE(FailsWith(k.preserve_fd(s, unsupported(k.new_unsupported_file()), 1), Errno::enoent));
  EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>{});
  EXPECT_TRUE(Succeeds(k.preserve_memfd(s, f, 1)));
  EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>{call(HandlerOp::preserve, "s", 1)});
}

// §3.5: the preservation list and the preserve callbacks are FIFO; close unpreserves LIFO.
TEST_P(PreserveFdTest, PreserveFifoUnpreserveLifo) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  const SessionId t = k.must_create("t");
  k.must_preserve_new_memfd(s, 3);
  k.must_preserve_new_memfd(t, 10);
  k.must_preserve_new_memfd(s, 1);
  k.must_preserve_new_memfd(s, 2);
  EXPECT_EQ(model_test::tokens_of(*k->find_outgoing(s)), (std::vector<Token>{3, 1, 2}));
  EXPECT_EQ(k->handler_log(),
            (std::vector<HandlerCall>{
                call(HandlerOp::preserve, "s", 3), call(HandlerOp::preserve, "t", 10),
                call(HandlerOp::preserve, "s", 1), call(HandlerOp::preserve, "s", 2)}));
  k.clear_handler_log();
  ASSERT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{call(HandlerOp::unpreserve, "s", 2),
                                                        call(HandlerOp::unpreserve, "s", 1),
                                                        call(HandlerOp::unpreserve, "s", 3)}));
  // The other session is untouched, and only it is handed over (§2.3).
  EXPECT_EQ(model_test::outgoing_names(k.model()), (std::vector<std::string>{"t"}));
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"t"}));
}

// Closing an empty session unpreserves nothing.
TEST_P(PreserveFdTest, ClosingEmptySessionCallsNoHandler) {
  CheckedModel k(profile());
  const SessionId s = setup(k);
  ASSERT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_TRUE(k->handler_log().empty());
  EXPECT_TRUE(k->outgoing().empty());
  // Its fd is gone.
  EXPECT_FALSE(k.release_session(s).ok());
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, PreserveFdTest, ::testing::ValuesIn(kAllProfiles),
                         model_test::profile_param_name);

}  // namespace
}  // namespace luo::model_test
