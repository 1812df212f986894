// The Observer sees every transition impl/ takes or refuses, with enough in each record (machine,
// object, event, states, result, whether a syscall was made, token, boot) to replay it against
// the model.
#include <string>
#include <vector>

#include "impl_test_support.hpp"

namespace luo::impl_test {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

TEST(Observer, AFullLifecycleIsReportedInOrder) {
  Rig rig(KernelProfile::v7_2);
  UniqueFd file = some_file();
  {
    auto dev = must(rig.lu.open_device());
    auto vm = must(dev.create_session("vm"));
    ASSERT_TRUE(vm.preserve(file.get(), 1).ok());
    ASSERT_FALSE(vm.preserve(file.get(), 1).ok());  // refused: token in use
    ASSERT_TRUE(vm.get_name().ok());
    dev.close();
    ASSERT_TRUE(rig.lu.kexec().ok());
    // `vm` belongs to boot 0 now: destroying it at the end of this scope reports nothing.
  }
  {
    auto dev = must(rig.lu.open_device());
    auto in = must(dev.retrieve_session("vm"));
    auto mem = must(in.retrieve(1));
    ASSERT_TRUE(in.finish().ok());
    in.close();
  }
  const std::string out = "outgoing-session [outgoing session 'vm'] ";
  const std::string in = "incoming-session [incoming session 'vm'] ";
  const std::string file_rec = "file [incoming session 'vm'] ";
  const std::string dev = "device [/dev/liveupdate] ";
  EXPECT_THAT(
      render(rig.observer.records()),
      ElementsAreArray<std::string>({
          "b0 " + dev + "open /dev/liveupdate / open: never_opened -> open = OK issued",
          "b0 device [session 'vm'] CREATE_SESSION / CREATE_SESSION: open -> open = OK "
          "issued",
          "b0 " + out + "CREATE_SESSION / create: - -> created = OK issued",
          "b0 " + out + "PRESERVE_FD / PRESERVE_FD: created -> preserving = OK issued token 1",
          "b0 " + out +
              "PRESERVE_FD / PRESERVE_FD: preserving -> preserving = EEXIST refused "
              "token 1",
          "b0 " + out + "GET_NAME / GET_NAME: preserving -> preserving = OK issued",
          "b0 " + dev + "close /dev/liveupdate / release: open -> closed = OK issued",
          "b0 " + out + "reboot(KEXEC) / freeze: preserving -> frozen = OK issued",
          "b0 " + out + "reboot(KEXEC) / reboot: frozen -> handed_over = OK issued",
          "b1 " + dev + "open /dev/liveupdate / open: never_opened -> open = OK issued",
          "b1 device [incoming session 'vm'] RETRIEVE_SESSION / RETRIEVE_SESSION: open -> open "
          "= OK issued",
          "b1 " + in +
              "RETRIEVE_SESSION / RETRIEVE_SESSION: deserialized -> retrieved = OK "
              "issued",
          "b1 " + file_rec + "RETRIEVE_FD / retrieve: restorable -> retrieved = OK issued token 1",
          "b1 " + in + "FINISH / FINISH: retrieved -> finished = OK issued",
          "b1 " + file_rec + "FINISH / finish: retrieved -> finished = OK issued token 1",
          "b1 " + in + "close session / release: finished -> gone = OK issued",
          "b1 " + dev + "close /dev/liveupdate / release: open -> closed = OK issued",
      }));
}

// What the session knows per token does not depend on the order of the retrieves (a restore goes
// up, a caller or a hostile mapping may go down), and FINISH reports the files in token order.
TEST(Observer, FinishReportsTheFilesInTokenOrderWhateverTheRetrieveOrder) {
  Rig rig(KernelProfile::v7_2);
  std::vector<UniqueFd> files;
  for (int i = 0; i < 6; ++i)
    files.push_back(some_file());
  {
    auto dev = must(rig.lu.open_device());
    auto vm = must(dev.create_session("vm"));
    for (Token t = 1; t <= 6; ++t)
      ASSERT_TRUE(vm.preserve(files[t - 1].get(), t).ok()) << t;
    dev.close();
    ASSERT_TRUE(rig.lu.kexec().ok());
  }
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("vm"));
  std::vector<UniqueFd> back;
  for (Token t : {5, 2, 6, 1, 4})
    back.push_back(must(in.retrieve(t), "retrieve " + std::to_string(t)));
  for (Token t : {1, 2, 4, 5, 6})
    EXPECT_EQ(in.file_state(t), FileState::retrieved) << t;
  EXPECT_FALSE(in.knows_file(3));
  rig.observer.clear();
  ASSERT_TRUE(in.finish().ok());
  std::vector<Token> finished;
  for (const auto& r : rig.observer.records()) {
    if (r.machine == "file" && r.event == "finish")
      finished.push_back(r.token.value_or(0));
  }
  EXPECT_THAT(finished, ElementsAre(1u, 2u, 4u, 5u, 6u));
}

// Field by field, for the record of a refusal: nothing may be left at its default.
TEST(Observer, ARefusalRecordCarriesEveryField) {
  Rig rig(KernelProfile::v7_0);
  auto dev = must(rig.lu.open_device());
  auto in = must(dev.retrieve_session("in"));
  rig.port.script(PortOp::retrieve_fd, EIO);
  ASSERT_FALSE(in.retrieve(0xABCD).ok());
  rig.observer.clear();

  ASSERT_FALSE(in.retrieve(0xABCD).ok());
  ASSERT_EQ(rig.observer.records().size(), 1u);
  const TransitionRecord& r = rig.observer.records()[0];
  EXPECT_EQ(r.boot, 0u);
  EXPECT_EQ(r.machine, "file");
  EXPECT_EQ(r.object, "incoming session 'in'");
  EXPECT_EQ(r.operation, Operation::retrieve_fd);
  EXPECT_EQ(r.event, "retrieve");
  EXPECT_EQ(r.from, "retrieve_failed");
  EXPECT_EQ(r.to, "retrieve_failed");
  EXPECT_EQ(r.result, EIO);
  EXPECT_FALSE(r.syscall_issued);
  EXPECT_EQ(r.token, 0xABCDu);
}

TEST(Observer, KernelFailuresAndDisagreementsAreReportedAsIssuedWithTheirResult) {
  Rig rig(KernelProfile::v7_2);
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("s"));
  auto in = must(dev.retrieve_session("in"));
  UniqueFd file = some_file();
  rig.observer.clear();

  rig.port.script(PortOp::preserve_fd, ENOENT);
  ASSERT_FALSE(s.preserve(file.get(), 5).ok());
  rig.port.script(PortOp::finish_session, ENOSPC);
  ASSERT_FALSE(in.finish().ok());
  rig.port.script(PortOp::create_session, ENOTTY);
  ASSERT_FALSE(dev.create_session("t").ok());
  EXPECT_THAT(
      render(rig.observer.records()),
      ElementsAre("b0 outgoing-session [outgoing session 's'] PRESERVE_FD / PRESERVE_FD: created "
                  "-> created = ENOENT issued token 5",
                  "b0 incoming-session [incoming session 'in'] FINISH / FINISH: retrieved -> "
                  "retrieved = ENOSPC issued",
                  "b0 device [session 't'] CREATE_SESSION / CREATE_SESSION: open -> open = ENOTTY "
                  "issued"));
}

TEST(Observer, AFailedKexecIsReportedAsARollback) {
  Rig rig(KernelProfile::v7_2);
  auto dev = must(rig.lu.open_device());
  auto s = must(dev.create_session("s"));
  rig.observer.clear();
  rig.port.script(PortOp::kexec, EIO);
  ASSERT_FALSE(rig.lu.kexec().ok());
  // No freeze record: from the caller's view no session moved.
  EXPECT_THAT(render(rig.observer.records()),
              ElementsAre("b0 kexec [reboot] reboot(KEXEC) / rollback: - -> - = EIO issued"));
}

TEST(Observer, SessionCloseIsAReleaseTransition) {
  Rig rig(KernelProfile::v7_2);
  auto dev = must(rig.lu.open_device());
  auto empty = must(dev.create_session("empty"));
  auto full = must(dev.create_session("full"));
  UniqueFd file = some_file();
  ASSERT_TRUE(full.preserve(file.get(), 1).ok());
  auto in = must(dev.retrieve_session("in"));
  rig.observer.clear();

  empty.close();
  full.close();
  in.close();
  EXPECT_THAT(render(rig.observer.records()),
              ElementsAre("b0 outgoing-session [outgoing session 'empty'] close session / "
                          "release: created -> closed = OK issued",
                          "b0 outgoing-session [outgoing session 'full'] close session / "
                          "release: preserving -> closed = OK issued",
                          "b0 incoming-session [incoming session 'in'] close session / release: "
                          "retrieved -> gone = OK issued"));
  EXPECT_EQ(empty.state(), OutgoingSessionState::closed);
  EXPECT_EQ(full.state(), OutgoingSessionState::closed);
  EXPECT_EQ(in.state(), IncomingSessionState::gone);
}

// Refusals on a closed Device go to the Observer like every other refusal (live_update.hpp).
TEST(Observer, RefusalsOnAClosedDeviceAreReported) {
  Rig rig(KernelProfile::v7_2);
  auto dev = must(rig.lu.open_device());
  dev.close();
  rig.observer.clear();
  ASSERT_FALSE(dev.create_session("x").ok());
  ASSERT_FALSE(dev.retrieve_session("y").ok());
  EXPECT_THAT(render(rig.observer.records()),
              ElementsAre("b0 device [session 'x'] CREATE_SESSION / CREATE_SESSION: closed -> "
                          "closed = EBADF refused",
                          "b0 device [incoming session 'y'] RETRIEVE_SESSION / RETRIEVE_SESSION: "
                          "closed -> closed = EBADF refused"));
}

TEST(Observer, NoObserverIsFine) {
  FakePort port;
  LiveUpdate lu(port, KernelProfile::v7_3, nullptr);
  auto dev = must(lu.open_device());
  auto s = must(dev.create_session("s"));
  UniqueFd file = some_file();
  ASSERT_TRUE(s.preserve(file.get(), 1).ok());
  EXPECT_FALSE(s.preserve(file.get(), 1).ok());
  ASSERT_TRUE(lu.kexec().ok());
  auto dev1 = must(lu.open_device());
  auto in = must(dev1.retrieve_session("s"));
  EXPECT_TRUE(in.finish().ok());
}

}  // namespace
}  // namespace luo::impl_test
