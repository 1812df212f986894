// Session fds after a kexec and the session-fd ioctls: session-type rules (§2.5), GET_NAME
// (§1.4), RETRIEVE_FD (§3.2), FINISH (§3.3), implicit finish on close (§2.4) and the copy-back
// fault on RETRIEVE_SESSION observed on real kernels (§8). Per profile.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "model_test_support.hpp"

namespace luo::model_test {
namespace {

class IncomingSessionTest : public PerProfile {
 protected:
  // Boot 0 creates the sessions with one memfd per token; boot 1 opens the device.
  void boot_with(CheckedModel& k, const CheckedModel::SessionPlan& sessions) {
    ASSERT_TRUE(Succeeds(k.open_device()));
    k.must_create_all(sessions);
    ASSERT_TRUE(Succeeds(k.release_device()));
    ASSERT_TRUE(Succeeds(k.kexec()));
    ASSERT_TRUE(Succeeds(k.open_device()));
    k.clear_handler_log();
  }

  static std::vector<FileState> file_states(const ModelIncomingSession& s) {
    std::vector<FileState> out;
    for (const auto& f : s.files)
      out.push_back(f.state);
    return out;
  }
};

// §2.5: 7.2 rejects PRESERVE_FD on incoming and RETRIEVE_FD/FINISH on outgoing sessions with
// EINVAL. Before 7.2 these calls ran on the wrong kind of session: undefined.
TEST_P(IncomingSessionTest, SessionTypeRules) {
  CheckedModel k(profile());
  boot_with(k, {{"old", {1}}});
  const SessionId in = k.must_retrieve("old");
  const SessionId out = k.must_create("new");
  k.must_preserve_new_memfd(out, 1);
  k.clear_handler_log();

  const Step retrieve_on_out = k.retrieve_fd(out, 1);
  const Step finish_on_out = k.finish_session(out);
  const Step preserve_on_in = k.preserve_memfd(in, k.new_memfd(), 2);
  if (has(Feature::session_type_check)) {
    EXPECT_TRUE(FailsWith(retrieve_on_out, Errno::einval));
    EXPECT_TRUE(FailsWith(finish_on_out, Errno::einval));
    // §8: the type check runs before the copy-in, so a bad reserved value changes nothing.
    EXPECT_TRUE(FailsWith(k.finish_session(out, 7), Errno::einval));
    EXPECT_TRUE(FailsWith(preserve_on_in, Errno::einval));
    // Also once the incoming session is finished.
    ASSERT_TRUE(Succeeds(k.finish_session(in)));
    k.clear_handler_log();
    EXPECT_TRUE(FailsWith(k.preserve_memfd(in, k.new_memfd(), 3), Errno::einval));
  } else {
    EXPECT_TRUE(IsUndefined(retrieve_on_out));
    EXPECT_TRUE(IsUndefined(finish_on_out));
    EXPECT_TRUE(IsUndefined(preserve_on_in));
  }
  // The refused calls changed nothing.
  EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>{});
  ASSERT_NE(k->find_outgoing(out), nullptr);
  EXPECT_EQ(k->find_outgoing(out)->state, OutgoingSessionState::preserving);
  EXPECT_EQ(model_test::tokens_of(*k->find_outgoing(out)), (std::vector<Token>{1}));
  ASSERT_NE(k->find_incoming(in), nullptr);
  EXPECT_EQ(model_test::tokens_of(*k->find_incoming(in)), (std::vector<Token>{1}));
}

// §1.4: GET_NAME exists from 7.2 on any session fd, with reserved == 0; before 7.2 its nr is
// past the session op table, which is EINVAL (§1.3).
TEST_P(IncomingSessionTest, GetName) {
  CheckedModel k(profile());
  boot_with(k, {{"incoming-name", {1}}});
  const SessionId in = k.must_retrieve("incoming-name");
  const SessionId out = k.must_create("outgoing-name");
  for (SessionId s : {in, out}) {
    if (has(Feature::get_name)) {
      EXPECT_TRUE(Succeeds(k.get_session_name(s)));
      EXPECT_TRUE(FailsWith(k.get_session_name(s, 1), Errno::einval));
      EXPECT_TRUE(FailsWith(k.get_session_name(s, 0x80000000U), Errno::einval));
    } else {
      EXPECT_TRUE(FailsWith(k.get_session_name(s), Errno::einval));
      EXPECT_TRUE(FailsWith(k.get_session_name(s, 1), Errno::einval));
    }
  }
  EXPECT_EQ(k->session_name(in), "incoming-name");
  EXPECT_EQ(k->session_name(out), "outgoing-name");
  // Still answered by a finished session: it exists until its fd is closed (§2.4).
  ASSERT_TRUE(Succeeds(k.finish_session(in)));
  const Step finished = k.get_session_name(in);
  if (has(Feature::get_name)) {
    EXPECT_TRUE(Succeeds(finished));
  } else {
    EXPECT_TRUE(FailsWith(finished, Errno::einval));
  }
  // No fd, no name.
  ASSERT_TRUE(Succeeds(k.release_session(in)));
  EXPECT_FALSE(k.get_session_name(in).ok());
}

// §1.4 + §8: FINISH's reserved field is EINVAL on 7.2 and 7.3 (real 7.2.13 already checks it)
// and ignored on 6.19 and 7.0. A refused FINISH changes nothing and calls no handler.
TEST_P(IncomingSessionTest, FinishReservedField) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1, 2}}});
  const SessionId s = k.must_retrieve("s");
  const Step r = k.finish_session(s, 1);
  if (has(Feature::finish_reserved_checked)) {
    EXPECT_TRUE(FailsWith(r, Errno::einval));
    EXPECT_EQ(k->find_incoming(s)->state, IncomingSessionState::retrieved);
    EXPECT_EQ(file_states(*k->find_incoming(s)),
              (std::vector<FileState>{FileState::restorable, FileState::restorable}));
    EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>{});
    // The files are still there to retrieve.
    EXPECT_TRUE(Succeeds(k.retrieve_fd(s, 1)));
    ASSERT_TRUE(Succeeds(k.finish_session(s)));
    // A finished session checks reserved too.
    EXPECT_TRUE(FailsWith(k.finish_session(s, 0xFFFFFFFFU), Errno::einval));
    EXPECT_EQ(k->find_incoming(s)->state, IncomingSessionState::finished);
  } else {
    EXPECT_TRUE(Succeeds(r));
    EXPECT_EQ(k->find_incoming(s)->state, IncomingSessionState::finished);
    EXPECT_TRUE(Succeeds(k.finish_session(s, 0xFFFFFFFFU)));
  }
}

// §3.3: can_finish FIFO, then finish LIFO; unretrieved files are discarded; FINISH again is 0;
// RETRIEVE_FD afterwards is ENOENT for every token.
TEST_P(IncomingSessionTest, FinishDiscardsUnretrievedAndIsIdempotent) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1, 2, 3}}});
  const SessionId s = k.must_retrieve("s");
  const Step got = k.retrieve_fd(s, 2);
  ASSERT_TRUE(Succeeds(got));
  k.clear_handler_log();

  ASSERT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{
                                  call(HandlerOp::can_finish, "s", 1),
                                  call(HandlerOp::can_finish, "s", 2),
                                  call(HandlerOp::can_finish, "s", 3),
                                  call(HandlerOp::discard, "s", 3),
                                  call(HandlerOp::finish, "s", 2),
                                  call(HandlerOp::discard, "s", 1),
                              }));
  const auto* in = k->find_incoming(s);
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->state, IncomingSessionState::finished);
  EXPECT_EQ(file_states(*in), (std::vector<FileState>{FileState::discarded, FileState::finished,
                                                      FileState::discarded}));
  // LUO released the retrieved file (§3.3 phase 2).
  EXPECT_FALSE(k->is_registered(got.file));

  k.clear_handler_log();
  EXPECT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>{});
  for (Token t : {Token{1}, Token{2}, Token{3}, Token{4}}) {
    EXPECT_TRUE(FailsWith(k.retrieve_fd(s, t), Errno::enoent)) << t;
  }
  // The fd is reserved first (§1.3): EMFILE even after FINISH.
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 2, model_test::no_free_fd()), Errno::emfile));
  // Closing the finished session: nothing left to finish.
  ASSERT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>{});
  EXPECT_TRUE(k->incoming().empty());
}

// §3.3 / §6.2 luo_multi_session: an empty session can be finished, any number of times.
TEST_P(IncomingSessionTest, FinishEmptySession) {
  CheckedModel k(profile());
  boot_with(k, {{"empty", {}}});
  const SessionId s = k.must_retrieve("empty");
  EXPECT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_EQ(k->handler_log(), std::vector<HandlerCall>{});
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 0), Errno::enoent));
  EXPECT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_TRUE(FailsWith(k.retrieve_session("empty"), Errno::enoent));
}

// §3.3 phase 1: a can_finish veto is EBUSY and nothing changes; a later FINISH may succeed.
TEST_P(IncomingSessionTest, CanFinishVetoChangesNothing) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1, 2}}});
  const SessionId s = k.must_retrieve("s");
  const FileId f1 = k.retrieve_fd(s, 1).file;
  k.clear_handler_log();
  EXPECT_TRUE(FailsWith(k.finish_session(s, 0, model_test::can_finish_vetoes()), Errno::ebusy));
  EXPECT_EQ(k->find_incoming(s)->state, IncomingSessionState::retrieved);
  EXPECT_EQ(file_states(*k->find_incoming(s)),
            (std::vector<FileState>{FileState::retrieved, FileState::restorable}));
  // Only can_finish ran, starting with the first file; no finish, no discard.
  const auto& log = k->handler_log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.front(), call(HandlerOp::can_finish, "s", 1));
  for (const auto& c : log)
    EXPECT_EQ(c.op, HandlerOp::can_finish) << ::testing::PrintToString(c);
  // Still usable: the retrieved file is the same, the other one is retrievable.
  EXPECT_EQ(k.retrieve_fd(s, 1).file, f1);
  EXPECT_TRUE(Succeeds(k.retrieve_fd(s, 2)));
  EXPECT_TRUE(k->is_registered(f1));
  EXPECT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_EQ(k->find_incoming(s)->state, IncomingSessionState::finished);
}

// §3.2: a retrieved token returns the same file again; files come back in any order; the
// handler's retrieve runs once per file.
TEST_P(IncomingSessionTest, RetrieveFdIsIdempotentInAnyOrder) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {10, 20, 30}}});
  const SessionId s = k.must_retrieve("s");
  const Step r30 = k.retrieve_fd(s, 30);
  const Step r10 = k.retrieve_fd(s, 10);
  ASSERT_TRUE(Succeeds(r30));
  ASSERT_TRUE(Succeeds(r10));
  EXPECT_NE(r30.file, kNoFile);
  EXPECT_NE(r10.file, r30.file);
  for (int i = 0; i < 3; ++i) {
    const Step again = k.retrieve_fd(s, 30);
    ASSERT_TRUE(Succeeds(again));
    EXPECT_EQ(again.file, r30.file);
  }
  // The handler is not asked again, so it cannot fail a retrieved token.
  const Step cached = k.retrieve_fd(s, 10, model_test::handler_fails(Errno::enomem));
  ASSERT_TRUE(Succeeds(cached));
  EXPECT_EQ(cached.file, r10.file);
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{call(HandlerOp::retrieve, "s", 30),
                                                        call(HandlerOp::retrieve, "s", 10)}));
  // Retrieval does not reorder the session's list (§3.5).
  EXPECT_EQ(model_test::tokens_of(*k->find_incoming(s)), (std::vector<Token>{10, 20, 30}));
}

// §3.2: ENOENT for an unknown token or an empty session; EMFILE first.
TEST_P(IncomingSessionTest, RetrieveFdErrors) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1}}, {"empty", {}}});
  const SessionId s = k.must_retrieve("s");
  const SessionId e = k.must_retrieve("empty");
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 2), Errno::enoent));
  EXPECT_TRUE(FailsWith(k.retrieve_fd(e, 1), Errno::enoent));
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 2, model_test::no_free_fd()), Errno::emfile));
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 1, model_test::no_free_fd()), Errno::emfile));
  // The EMFILE left the file untouched.
  EXPECT_EQ(k->find_incoming(s)->files[0].state, FileState::restorable);
  EXPECT_TRUE(Succeeds(k.retrieve_fd(s, 1)));
  // Once retrieved, EMFILE still comes first: each call installs a new fd.
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 1, model_test::no_free_fd()), Errno::emfile));
}

// §3.2: from 7.0 a failed retrieve returns the same error forever; 6.19 could retry.
TEST_P(IncomingSessionTest, RetrieveFdFailureStickiness) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1, 2}}});
  const SessionId s = k.must_retrieve("s");
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 1, model_test::handler_fails(Errno::eio)), Errno::eio));
  if (has(Feature::sticky_retrieve_failure)) {
    EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 1), Errno::eio));
    // The remembered error wins over whatever the handler would say now.
    EXPECT_TRUE(
        FailsWith(k.retrieve_fd(s, 1, model_test::handler_fails(Errno::enomem)), Errno::eio));
    EXPECT_EQ(k->find_incoming(s)->files[0].state, FileState::retrieve_failed);
    // The handler ran once only: a remembered failure is not retried.
    EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::retrieve).size(), 1U);
  } else {
    EXPECT_EQ(k->find_incoming(s)->files[0].state, FileState::restorable);
    EXPECT_TRUE(
        FailsWith(k.retrieve_fd(s, 1, model_test::handler_fails(Errno::enomem)), Errno::enomem));
    EXPECT_TRUE(Succeeds(k.retrieve_fd(s, 1)));
  }
  // Other tokens are unaffected.
  EXPECT_TRUE(Succeeds(k.retrieve_fd(s, 2)));
  // FINISH discards a failed file like any unretrieved one (§3.3).
  ASSERT_TRUE(Succeeds(k.finish_session(s)));
  for (const auto& f : k->find_incoming(s)->files) {
    EXPECT_TRUE(f.state == FileState::finished || f.state == FileState::discarded);
  }
}

// §8: a copy-back fault on RETRIEVE_FD is EFAULT, and a retry succeeds.
TEST_P(IncomingSessionTest, RetrieveFdCopyBackFaultThenRetry) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1}}});
  const SessionId s = k.must_retrieve("s");
  EXPECT_TRUE(FailsWith(k.retrieve_fd(s, 1, model_test::copy_back_fault()), Errno::efault));
  const Step retry = k.retrieve_fd(s, 1);
  ASSERT_TRUE(Succeeds(retry));
  EXPECT_NE(retry.file, kNoFile);
  EXPECT_EQ(k.retrieve_fd(s, 1).file, retry.file);
}

// §2.4: closing a retrieved session performs an implicit FINISH (can_finish FIFO, finish
// LIFO, unretrieved files discarded); the session is then gone.
TEST_P(IncomingSessionTest, CloseFinishesImplicitly) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1, 2, 3}}, {"t", {4}}});
  const SessionId s = k.must_retrieve("s");
  const FileId f1 = k.retrieve_fd(s, 1).file;
  ASSERT_TRUE(Succeeds(k.retrieve_fd(s, 3)));
  k.clear_handler_log();
  ASSERT_TRUE(Succeeds(k.release_session(s)));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{
                                  call(HandlerOp::can_finish, "s", 1),
                                  call(HandlerOp::can_finish, "s", 2),
                                  call(HandlerOp::can_finish, "s", 3),
                                  call(HandlerOp::finish, "s", 3),
                                  call(HandlerOp::discard, "s", 2),
                                  call(HandlerOp::finish, "s", 1),
                              }));
  EXPECT_TRUE(FailsWith(k.retrieve_session("s"), Errno::enoent));
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"t"}));
  EXPECT_FALSE(k->is_registered(f1));
  // The fd is gone with it.
  EXPECT_FALSE(k.retrieve_fd(s, 1).ok());
}

// §2.4: if the implicit FINISH is vetoed, the session stays with its retrieved flag set: it is
// leaked until the next live update, and RETRIEVE_SESSION gives EINVAL.
TEST_P(IncomingSessionTest, VetoedCloseLeaksSession) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1}}});
  const SessionId s = k.must_retrieve("s");
  const FileId f = k.retrieve_fd(s, 1).file;
  // release's errno is not seen by close().
  EXPECT_TRUE(Succeeds(k.release_session(s, model_test::can_finish_vetoes())));
  const auto* leaked = model_test::incoming_named(k.model(), "s");
  ASSERT_NE(leaked, nullptr);
  EXPECT_EQ(leaked->state, IncomingSessionState::leaked);
  EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::finish).size(), 0U);
  EXPECT_TRUE(FailsWith(k.retrieve_session("s"), Errno::einval));
  // The fd is gone.
  EXPECT_FALSE(k.finish_session(s).ok());
  // The retrieved file was never finished, so it stays in the double-preservation table.
  const SessionId next = k.must_create("next");
  const Step represerve = k.preserve_memfd(next, f, 1);
  if (has(Feature::double_preservation_check)) {
    EXPECT_TRUE(FailsWith(represerve, Errno::ebusy));
  } else {
    EXPECT_TRUE(Succeeds(represerve));
  }
  // The next live update drops it (§2.7).
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"next"}));
}

// §8: a copy-back fault on RETRIEVE_SESSION is EFAULT, and the release of the new fd runs the
// implicit FINISH: the session is gone and its files are discarded.
TEST_P(IncomingSessionTest, RetrieveSessionCopyBackFaultLosesSession) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1, 2}}, {"t", {3}}});
  EXPECT_TRUE(FailsWith(k.retrieve_session("s", model_test::copy_back_fault()), Errno::efault));
  EXPECT_TRUE(FailsWith(k.retrieve_session("s"), Errno::enoent));
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"t"}));
  // Nothing was retrieved, so everything is discarded, LIFO.
  EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::discard),
            (std::vector<HandlerCall>{call(HandlerOp::discard, "s", 2),
                                      call(HandlerOp::discard, "s", 1)}));
  // The other session is unaffected.
  EXPECT_TRUE(Succeeds(k.retrieve_session("t")));
}

// §8 + §2.4 + §3.3: the implicit FINISH run by that release is a FINISH, so it begins with
// can_finish FIFO before discarding LIFO.
// SPEC DISAGREEMENT: KernelModel::retrieve_session's copy-back path calls finish_files() only,
// without the can_finish phase that release_session runs.
TEST_P(IncomingSessionTest, RetrieveSessionCopyBackFaultRunsFullImplicitFinish) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1, 2}}});
  EXPECT_TRUE(FailsWith(k.retrieve_session("s", model_test::copy_back_fault()), Errno::efault));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{
                                  call(HandlerOp::can_finish, "s", 1),
                                  call(HandlerOp::can_finish, "s", 2),
                                  call(HandlerOp::discard, "s", 2),
                                  call(HandlerOp::discard, "s", 1),
                              }));
}

// §8 + §2.4: if a handler vetoes that implicit FINISH, the session stays with its retrieved
// flag set (leaked), so RETRIEVE_SESSION gives EINVAL rather than ENOENT.
// SPEC DISAGREEMENT: the incoming machine's row deserialized --RETRIEVE_SESSION[copy_back_fault]
// --> gone has no can_finish_vetoes alternative, and KernelModel ignores the veto there.
TEST_P(IncomingSessionTest, RetrieveSessionCopyBackFaultWithVetoLeaks) {
  CheckedModel k(profile());
  boot_with(k, {{"s", {1}}});
  Environment env = model_test::copy_back_fault();
  env.can_finish_vetoes = true;
  EXPECT_TRUE(FailsWith(k.retrieve_session("s", env), Errno::efault));
  const auto* s = model_test::incoming_named(k.model(), "s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->state, IncomingSessionState::leaked);
  EXPECT_TRUE(FailsWith(k.retrieve_session("s"), Errno::einval));
}

// §2.7: incoming sessions never retrieved stay for the whole boot; EMFILE on RETRIEVE_SESSION
// leaves the session retrievable.
TEST_P(IncomingSessionTest, UnretrievedSessionsStayForTheBoot) {
  CheckedModel k(profile());
  boot_with(k, {{"a", {1}}, {"b", {2}}});
  EXPECT_TRUE(FailsWith(k.retrieve_session("a", model_test::no_free_fd()), Errno::emfile));
  const auto* a = model_test::incoming_named(k.model(), "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state, IncomingSessionState::deserialized);
  EXPECT_EQ(a->id, kNoSession);
  // Closing and reopening the device does not touch them.
  ASSERT_TRUE(Succeeds(k.release_device()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(Succeeds(k.retrieve_session("b")));
  EXPECT_TRUE(Succeeds(k.retrieve_session("a")));
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, IncomingSessionTest, ::testing::ValuesIn(kAllProfiles),
                         model_test::profile_param_name);

}  // namespace
}  // namespace luo::model_test
