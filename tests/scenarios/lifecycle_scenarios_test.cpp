// Lifecycle scenarios beyond the kernel's selftests (spec kernel-luo.md §2-§5, §8), through
// impl/ over the simulator and checked against the model at every step.
#include <unistd.h>

#include <string>

#include "luo/adapters/memfd.hpp"
#include "per_profile.hpp"
#include "twin_kernel.hpp"

namespace luo::testing {
namespace {

class Lifecycle : public PerProfile {
 protected:
  // One session "s" with files (token -> data) preserved, then a kexec into boot 1 with the
  // device open again.
  void handover(TwinKernel& t, std::initializer_list<std::pair<Token, std::string>> files) {
    ASSERT_EQ(t.open_device(), 0);
    auto s = t.create("s");
    for (const auto& [token, data] : files) {
      auto f = t.memfd(data);
      ASSERT_EQ(t.preserve(s, f, token), 0);
      t.close_file(f);
    }
    t.close_device();
    ASSERT_EQ(t.kexec(), 0);
    ASSERT_EQ(t.open_device(), 0);
  }
};

TEST_P(Lifecycle, FinishDiscardsUnretrievedFiles) {
  TwinKernel t(profile());
  handover(t, {{1, "kept"}, {2, "dropped"}});
  auto in = t.retrieve_session("s");
  TwinKernel::FileHandle kept = 0;
  ASSERT_EQ(t.retrieve_fd(in, 1, &kept), 0);
  EXPECT_EQ(t.finish(in), 0);
  EXPECT_EQ(t.contents(kept), "kept");      // retrieved fds stay valid after FINISH
  EXPECT_EQ(t.retrieve_fd(in, 2), ENOENT);  // the list is empty after FINISH
  EXPECT_EQ(t.finish(in), 0);               // FINISH is idempotent
  t.close(in);
}

TEST_P(Lifecycle, RetrieveIsIdempotentAndSharesTheOpenFileDescription) {
  TwinKernel t(profile());
  handover(t, {{7, "0123456789"}});
  auto in = t.retrieve_session("s");
  TwinKernel::FileHandle a = 0;
  TwinKernel::FileHandle b = 0;
  ASSERT_EQ(t.retrieve_fd(in, 7, &a), 0);
  ASSERT_EQ(t.retrieve_fd(in, 7, &b), 0);
  EXPECT_NE(t.fd_of(a), t.fd_of(b));
  ASSERT_EQ(::lseek(t.fd_of(a), 4, SEEK_SET), 4);
  EXPECT_EQ(::lseek(t.fd_of(b), 0, SEEK_CUR), 4) << "both fds share one file position";
  EXPECT_EQ(t.finish(in), 0);
  t.close(in);
}

TEST_P(Lifecycle, CloseFinishesImplicitlyAndTheSessionIsGone) {
  TwinKernel t(profile());
  handover(t, {{1, "x"}});
  auto in = t.retrieve_session("s");
  EXPECT_EQ(t.retrieve_session(SessionNameField::from("s")), EINVAL);  // already retrieved
  t.close(in);
  EXPECT_EQ(t.retrieve_session(SessionNameField::from("s")), ENOENT);  // gone after close
}

TEST_P(Lifecycle, RetrievedMemfdCanBePreservedAgainOnlyAfterFinish) {
  TwinKernel t(profile());
  handover(t, {{1, "carried twice"}});
  auto in = t.retrieve_session("s");
  TwinKernel::FileHandle f = 0;
  ASSERT_EQ(t.retrieve_fd(in, 1, &f), 0);
  auto next = t.create("s");  // an outgoing session may reuse an incoming name (§2.1)
  EXPECT_EQ(t.preserve(next, f, 1), has(Feature::double_preservation_check) ? EBUSY : 0);
  ASSERT_EQ(t.finish(in), 0);
  if (has(Feature::double_preservation_check)) {
    EXPECT_EQ(t.preserve(next, f, 1), 0);
  }
  t.close(in);
  t.close_device();
  ASSERT_EQ(t.kexec(), 0);
  ASSERT_EQ(t.open_device(), 0);
  auto again = t.retrieve_session("s");
  TwinKernel::FileHandle g = 0;
  ASSERT_EQ(t.retrieve_fd(again, 1, &g), 0);
  EXPECT_EQ(t.contents(g), "carried twice");
  t.close(again);
}

TEST_P(Lifecycle, SessionClosedBeforeKexecDoesNotComeBack) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto gone = t.create("closed-early");
  auto f = t.memfd("lost on purpose");
  ASSERT_EQ(t.preserve(gone, f, 1), 0);
  t.close(gone);
  auto kept = t.create("kept");
  ASSERT_EQ(t.kexec(), 0);
  ASSERT_EQ(t.open_device(), 0);
  EXPECT_EQ(t.retrieve_session(SessionNameField::from("closed-early")), ENOENT);
  t.close(t.retrieve_session("kept"));
  t.close(kept);  // a handle of the previous boot: nothing left to release
}

TEST_P(Lifecycle, FreezeFailureRollsBackAndEverythingStaysUsable) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto a = t.create("a");
  auto b = t.create("b");
  for (Token token : {1, 2}) {
    auto f = t.memfd("a" + std::to_string(token));
    ASSERT_EQ(t.preserve(a, f, token), 0);
  }
  for (Token token : {3, 4}) {
    auto f = t.memfd("b" + std::to_string(token));
    ASSERT_EQ(t.preserve(b, f, token), 0);
  }
  // The fourth file in freeze order (b's second) fails: b's first and all of a's unfreeze.
  EXPECT_EQ(t.kexec(Fault::freeze(3, ENOMEM)), ENOMEM);
  EXPECT_EQ(t.model().boot_number(), 0u);
  auto f5 = t.memfd("after rollback");
  EXPECT_EQ(t.preserve(a, f5, 5), 0);  // still a live outgoing session
  ASSERT_EQ(t.kexec(), 0);
  ASSERT_EQ(t.open_device(), 0);
  auto in = t.retrieve_session("a");
  TwinKernel::FileHandle r = 0;
  ASSERT_EQ(t.retrieve_fd(in, 5, &r), 0);
  EXPECT_EQ(t.contents(r), "after rollback");
  t.close(in);
}

TEST_P(Lifecycle, IncomingSessionsAreDroppedAtTheNextKexec) {
  TwinKernel t(profile());
  handover(t, {{1, "one boot only"}});
  auto held = t.retrieve_session("s");  // retrieved and held, never finished
  ASSERT_EQ(t.kexec(), 0);
  ASSERT_EQ(t.open_device(), 0);
  EXPECT_EQ(t.retrieve_session(SessionNameField::from("s")), ENOENT);
  t.close(held);
}

TEST_P(Lifecycle, FailedRetrieveIsStickyFrom70AndRetryableOn619) {
  TwinKernel t(profile());
  handover(t, {{1, "data"}});
  auto in = t.retrieve_session("s");
  EXPECT_EQ(t.retrieve_fd(in, 1, nullptr, Fault::handler(ENOMEM)), ENOMEM);
  TwinKernel::FileHandle f = 0;
  if (has(Feature::sticky_retrieve_failure)) {
    EXPECT_EQ(t.retrieve_fd(in, 1, &f), ENOMEM) << "retrieve failure is permanent (§3.2)";
  } else {
    ASSERT_EQ(t.retrieve_fd(in, 1, &f), 0);
    EXPECT_EQ(t.contents(f), "data");
  }
  EXPECT_EQ(t.finish(in), 0);
  t.close(in);
}

TEST_P(Lifecycle, CanFinishVetoChangesNothing) {
  TwinKernel t(profile());
  handover(t, {{1, "a"}, {2, "b"}});
  auto in = t.retrieve_session("s");
  EXPECT_EQ(t.finish(in, 0, Fault::can_finish()), EBUSY);
  TwinKernel::FileHandle f = 0;
  EXPECT_EQ(t.retrieve_fd(in, 2, &f), 0);  // still retrievable: nothing was finished
  EXPECT_EQ(t.finish(in), 0);
  t.close(in);
}

TEST_P(Lifecycle, FailedDeserializationMakesEveryOpenEio) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  t.create("s");
  t.close_device();
  ASSERT_EQ(t.kexec(), 0);
  EXPECT_EQ(t.open_device(Fault::deserialize()), EIO);
  EXPECT_EQ(t.open_device(), EIO) << "sticky for the whole boot (§1.2)";
}

TEST_P(Lifecycle, FinishReservedFieldPerProfile) {
  TwinKernel t(profile());
  handover(t, {{1, "x"}});
  auto in = t.retrieve_session("s");
  // The text says 7.3; a real 7.2.13 kernel already refuses it (§8), and the kernel wins.
  EXPECT_EQ(t.finish(in, 1), has(Feature::finish_reserved_checked) ? EINVAL : 0);
  EXPECT_EQ(t.finish(in, 0), 0);
  t.close(in);
}

TEST_P(Lifecycle, GetNameReservedMustBeZero) {
  if (!has(Feature::get_name))
    GTEST_SKIP() << "GET_NAME exists from 7.2";
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("named");
  EXPECT_EQ(t.get_name(s, nullptr, 1), EINVAL);
  t.close(s);
}

TEST_P(Lifecycle, CopyBackFaultOnPreserveKeepsTheFilePreserved) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("s");
  auto f = t.memfd("kept despite EFAULT");
  EXPECT_EQ(t.preserve(s, f, 1, Fault::copy_back()), EFAULT);
  EXPECT_EQ(t.preserve(s, f, 1), EEXIST) << "the token is taken: the file was preserved";
  ASSERT_EQ(t.kexec(), 0);
  ASSERT_EQ(t.open_device(), 0);
  auto in = t.retrieve_session("s");
  TwinKernel::FileHandle r = 0;
  ASSERT_EQ(t.retrieve_fd(in, 1, &r), 0);
  EXPECT_EQ(t.contents(r), "kept despite EFAULT");
  t.close(in);
}

TEST_P(Lifecycle, HandlerPreserveFailureLeavesNothingPreserved) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("s");
  auto f = t.memfd("x");
  EXPECT_EQ(t.preserve(s, f, 1, Fault::handler(EFBIG)), EFBIG);
  EXPECT_EQ(t.preserve(s, f, 1), 0) << "the token is free again";
  t.close(s);
}

TEST_P(Lifecycle, SizeContentsAndPositionSurviveKexec) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("s");
  auto f = t.memfd(std::string(3000, 'z'));
  ASSERT_EQ(t.preserve(s, f, 1), 0);
  // Writes inside the size still reach the preserved pages; the position at reboot wins.
  ASSERT_TRUE(memfd::write_at(t.fd_of(f), 10, "late write").ok());
  ASSERT_EQ(::lseek(t.fd_of(f), 1234, SEEK_SET), 1234);
  ASSERT_EQ(t.kexec(), 0);
  ASSERT_EQ(t.open_device(), 0);
  auto in = t.retrieve_session("s");
  TwinKernel::FileHandle r = 0;
  ASSERT_EQ(t.retrieve_fd(in, 1, &r), 0);
  std::string expected(3000, 'z');
  expected.replace(10, 10, "late write");
  EXPECT_EQ(t.contents(r), expected);
  EXPECT_EQ(::lseek(t.fd_of(r), 0, SEEK_CUR), 1234);
  t.close(in);
}

LUO_INSTANTIATE_PER_PROFILE(Lifecycle);

}  // namespace
}  // namespace luo::testing
