// reboot(LINUX_REBOOT_CMD_KEXEC) and the next boot (spec §2.3, §2.7, §3.5, §3.6, §5.2, §5.3),
// with the handler-callback order of §3.5 read from handler_log(). Per profile.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model_test_support.hpp"

namespace luo::model_test {
namespace {

class KexecTest : public PerProfile {
 protected:
  // Everything about the outgoing list that a failed reboot must leave as it was.
  struct OutgoingSnapshot {
    std::string name;
    SessionId id;
    OutgoingSessionState state;
    std::vector<Token> tokens;
    std::vector<FileState> files;
    bool operator==(const OutgoingSnapshot&) const = default;
  };
  static std::vector<OutgoingSnapshot> snapshot(const KernelModel& k) {
    std::vector<OutgoingSnapshot> out;
    for (const auto& s : k.outgoing()) {
      std::vector<FileState> states;
      for (const auto& f : s.files)
        states.push_back(f.state);
      out.push_back({s.name, s.id, s.state, model_test::tokens_of(s), states});
    }
    return out;
  }
};

// §2.3, §3.5, §5.3: sessions open at reboot are handed over in creation order, files in
// preservation order; a session closed before is gone; the device starts over.
TEST_P(KexecTest, HandsOverInCreationOrder) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const auto ids =
      k.must_create_all({{"zeta", {5, 1}}, {"alpha", {}}, {"closed", {7}}, {"mid", {}}});
  // Interleave: files of one session preserved around another session's.
  k.must_preserve_new_memfd(ids[3], 30);
  k.must_preserve_new_memfd(ids[0], 3);
  k.must_preserve_new_memfd(ids[3], 20);
  ASSERT_TRUE(Succeeds(k.release_session(ids[2])));
  EXPECT_EQ(k->boot_number(), 0U);

  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(k->boot_number(), 1U);
  EXPECT_EQ(k->device(), DeviceState::never_opened);
  EXPECT_TRUE(k->outgoing().empty());
  ASSERT_EQ(model_test::incoming_names(k.model()),
            (std::vector<std::string>{"zeta", "alpha", "mid"}));
  EXPECT_EQ(model_test::tokens_of(k->incoming()[0]), (std::vector<Token>{5, 1, 3}));
  EXPECT_TRUE(k->incoming()[1].files.empty());
  EXPECT_EQ(model_test::tokens_of(k->incoming()[2]), (std::vector<Token>{30, 20}));
  for (const auto& s : k->incoming()) {
    // No fd exists for them until RETRIEVE_SESSION (§2.4).
    EXPECT_EQ(s.state, IncomingSessionState::deserialized);
    EXPECT_EQ(s.id, kNoSession);
    for (const auto& f : s.files)
      EXPECT_EQ(f.state, FileState::restorable);
  }
  // The new kernel's outgoing side is ready at once (§5.3.2).
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create("zeta");
  // Old session fds belong to the previous kernel.
  EXPECT_FALSE(k.preserve_memfd(ids[0], k.new_memfd(), 99).ok());
}

// §2.7, §8: incoming sessions, retrieved or not, finished or not, are not carried into the
// next live update; only the outgoing ones are.
TEST_P(KexecTest, IncomingSessionsAreDroppedAtNextKexec) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"untouched", {1}}, {"retrieved", {2}}, {"finished", {3}}});
  ASSERT_TRUE(Succeeds(k.kexec()));

  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId r = k.must_retrieve("retrieved");
  ASSERT_TRUE(Succeeds(k.retrieve_fd(r, 2)));
  const SessionId f = k.must_retrieve("finished");
  ASSERT_TRUE(Succeeds(k.finish_session(f)));
  k.must_create_all({{"next", {4}}});
  ASSERT_TRUE(Succeeds(k.kexec()));

  EXPECT_EQ(k->boot_number(), 2U);
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"next"}));
  ASSERT_TRUE(Succeeds(k.open_device()));
  for (const char* gone : {"untouched", "retrieved", "finished"}) {
    EXPECT_TRUE(FailsWith(k.retrieve_session(gone), Errno::enoent)) << gone;
  }
}

// A reboot with nothing to hand over still succeeds and starts a new boot.
TEST_P(KexecTest, EmptyKexec) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(k->boot_number(), 2U);
  EXPECT_TRUE(k->incoming().empty());
  EXPECT_TRUE(k->handler_log().empty());
}

// §3.5: freeze visits sessions in creation order and files FIFO within each.
TEST_P(KexecTest, FreezeOrder) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"z", {2, 1}}, {"empty", {}}, {"a", {9, 8, 7}}});
  k.clear_handler_log();
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{
                                  call(HandlerOp::freeze, "z", 2), call(HandlerOp::freeze, "z", 1),
                                  call(HandlerOp::freeze, "a", 9), call(HandlerOp::freeze, "a", 8),
                                  call(HandlerOp::freeze, "a", 7)}));
}

// §5.2, §2.3, §3.5: a freeze failure fails reboot() with that errno and rolls everything
// back: the failing session's frozen files FIFO, then the earlier sessions newest first, each
// FIFO. Nothing else changes and every session stays usable.
TEST_P(KexecTest, FreezeFailureRollsBackInSpecOrder) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  // Freeze order: a1 a2 | b1 | (empty) | c1 c2 c3 | d1; the 5th file (index 4) is c2.
  const auto ids = k.must_create_all(
      {{"A", {0xA1, 0xA2}}, {"B", {0xB1}}, {"E", {}}, {"C", {0xC1, 0xC2, 0xC3}}, {"D", {0xD1}}});
  const auto before = snapshot(k.model());
  k.clear_handler_log();

  EXPECT_TRUE(FailsWith(k.kexec(model_test::freeze_fails(4, Errno::enomem)), Errno::enomem));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{
                                  call(HandlerOp::freeze, "A", 0xA1),
                                  call(HandlerOp::freeze, "A", 0xA2),
                                  call(HandlerOp::freeze, "B", 0xB1),
                                  call(HandlerOp::freeze, "C", 0xC1),
                                  // The failing call itself: freeze() ran and returned the error.
                                  call(HandlerOp::freeze, "C", 0xC2),
                                  // The failing session's frozen files, FIFO.
                                  call(HandlerOp::unfreeze, "C", 0xC1),
                                  // Earlier sessions newest first (E has no files), each FIFO.
                                  call(HandlerOp::unfreeze, "B", 0xB1),
                                  call(HandlerOp::unfreeze, "A", 0xA1),
                                  call(HandlerOp::unfreeze, "A", 0xA2),
                              }));
  // Nothing changed: same sessions, states, files; no new boot; the device is still open.
  EXPECT_EQ(snapshot(k.model()), before);
  EXPECT_EQ(k->boot_number(), 0U);
  EXPECT_EQ(k->device(), DeviceState::open);
  EXPECT_TRUE(k->incoming().empty());

  // All sessions are usable: preserve, close, create, and a later reboot succeeds.
  EXPECT_TRUE(Succeeds(k.preserve_memfd(ids[2], k.new_memfd(), 0xE1)));
  EXPECT_TRUE(FailsWith(k.preserve_memfd(ids[3], k.new_memfd(), 0xC2), Errno::eexist));
  ASSERT_TRUE(Succeeds(k.release_session(ids[1])));
  EXPECT_TRUE(FailsWith(k.create_session("A"), Errno::eexist));
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(k->boot_number(), 1U);
  EXPECT_EQ(model_test::incoming_names(k.model()), (std::vector<std::string>{"A", "E", "C", "D"}));
  EXPECT_EQ(model_test::tokens_of(k->incoming()[2]), (std::vector<Token>{0xC1, 0xC2, 0xC3}));
}

// The first file failing: nothing was frozen, so nothing is unfrozen.
TEST_P(KexecTest, FreezeFailureOnFirstFileUnfreezesNothing) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"A", {1, 2}}, {"B", {3}}});
  const auto before = snapshot(k.model());
  k.clear_handler_log();
  EXPECT_TRUE(FailsWith(k.kexec(model_test::freeze_fails(0, Errno::eio)), Errno::eio));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{call(HandlerOp::freeze, "A", 1)}));
  EXPECT_EQ(snapshot(k.model()), before);
}

// The first file of a later session failing: only earlier sessions are unfrozen, newest first.
TEST_P(KexecTest, FreezeFailureAtSessionBoundary) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"A", {1}}, {"B", {2, 3}}, {"C", {4}}});
  k.clear_handler_log();
  EXPECT_TRUE(FailsWith(k.kexec(model_test::freeze_fails(3, Errno::efbig)), Errno::efbig));
  EXPECT_EQ(model_test::only(k->handler_log(), HandlerOp::unfreeze),
            (std::vector<HandlerCall>{call(HandlerOp::unfreeze, "B", 2),
                                      call(HandlerOp::unfreeze, "B", 3),
                                      call(HandlerOp::unfreeze, "A", 1)}));
  EXPECT_EQ(k->boot_number(), 0U);
}

// A failed reboot leaves this boot's incoming sessions alone too.
TEST_P(KexecTest, FreezeFailureKeepsIncomingSessions) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"old", {1, 2}}});
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId in = k.must_retrieve("old");
  const FileId f = k.retrieve_fd(in, 1).file;
  k.must_create_all({{"new", {3}}});
  EXPECT_TRUE(FailsWith(k.kexec(model_test::freeze_fails(0, Errno::eio)), Errno::eio));
  EXPECT_EQ(k->boot_number(), 1U);
  EXPECT_EQ(k->find_incoming(in)->state, IncomingSessionState::retrieved);
  EXPECT_EQ(k.retrieve_fd(in, 1).file, f);
  EXPECT_TRUE(Succeeds(k.retrieve_fd(in, 2)));
  EXPECT_TRUE(Succeeds(k.finish_session(in)));
}

// An injected failure past the last file never fires: the reboot succeeds.
TEST_P(KexecTest, FreezeFailureBeyondLastFileIsNoFailure) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"A", {1, 2}}});
  EXPECT_TRUE(Succeeds(k.kexec(model_test::freeze_fails(2, Errno::eio))));
  EXPECT_EQ(k->boot_number(), 1U);
}

// boot_number counts successful reboots only; §8 logs it as "liveupdate number: N".
TEST_P(KexecTest, BootNumberCountsSuccessfulKexecsOnly) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"s", {1}}});
  for (std::uint64_t boot = 0; boot < 3; ++boot) {
    EXPECT_EQ(k->boot_number(), boot);
    EXPECT_FALSE(k.kexec(model_test::freeze_fails(0, Errno::eio)).ok());
    EXPECT_EQ(k->boot_number(), boot);
    ASSERT_TRUE(Succeeds(k.kexec()));
    // Carry "s" forward: retrieve, finish, and recreate it in the new kernel.
    ASSERT_TRUE(Succeeds(k.open_device()));
    const SessionId in = k.must_retrieve("s");
    ASSERT_TRUE(Succeeds(k.finish_session(in)));
    ASSERT_TRUE(Succeeds(k.release_session(in)));
    k.must_create_all({{"s", {1}}});
  }
  EXPECT_EQ(k->boot_number(), 3U);
}

// §3.5: can_finish FIFO, then finish LIFO, across retrieved and unretrieved files, in a
// session handed over with several files.
TEST_P(KexecTest, FinishOrderAfterKexec) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create_all({{"s", {4, 3, 2, 1}}});
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_retrieve("s");
  ASSERT_TRUE(Succeeds(k.retrieve_fd(s, 1)));
  ASSERT_TRUE(Succeeds(k.retrieve_fd(s, 3)));
  k.clear_handler_log();
  ASSERT_TRUE(Succeeds(k.finish_session(s)));
  EXPECT_EQ(k->handler_log(), (std::vector<HandlerCall>{
                                  call(HandlerOp::can_finish, "s", 4),
                                  call(HandlerOp::can_finish, "s", 3),
                                  call(HandlerOp::can_finish, "s", 2),
                                  call(HandlerOp::can_finish, "s", 1),
                                  call(HandlerOp::finish, "s", 1),
                                  call(HandlerOp::discard, "s", 2),
                                  call(HandlerOp::finish, "s", 3),
                                  call(HandlerOp::discard, "s", 4),
                              }));
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, KexecTest, ::testing::ValuesIn(kAllProfiles),
                         model_test::profile_param_name);

}  // namespace
}  // namespace luo::model_test
