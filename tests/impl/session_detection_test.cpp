// luo_session_name() (impl/kexec_handoff.hpp, spec systemd-luo.md §3.5):
// LIVEUPDATE_SESSION_GET_NAME where the kernel answers it, else systemd's check: an fd on the
// anon-inode filesystem whose /proc link reads "anon_inode:[luo_session] <name>". No kernel without
// LUO can make such an fd, so the tests pin the two ways it must say "not a session".
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <cstring>
#include <string>

#include "impl_test_support.hpp"
#include "luo/impl/kexec_handoff.hpp"

namespace luo::impl_test {
namespace {

TEST(SessionDetection, GetNameIsAskedFirstAndItsNameIsTaken) {
  FakePort port;
  auto dev = must(port.open_device());
  auto session = must(port.create_session(dev.get(), SessionNameField::from("myvmm-vm0")));
  EXPECT_EQ(luo_session_name(port, session.get()), "myvmm-vm0");
  EXPECT_EQ(port.count(PortOp::get_session_name), 1u);
}

TEST(SessionDetection, WithoutGetNameAMemfdIsNotASession) {
  FakePort port;
  port.script(PortOp::get_session_name, ENOTTY);
  UniqueFd memfd(::memfd_create("not-a-session", MFD_CLOEXEC));
  EXPECT_EQ(luo_session_name(port, memfd.get()), std::nullopt);
}

TEST(SessionDetection, WithoutGetNameAnotherAnonInodeIsNotASession) {
  FakePort port;
  port.script(PortOp::get_session_name, ENOTTY);
  // On the anon-inode filesystem like a session, but its link reads "anon_inode:[eventfd]".
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  EXPECT_EQ(luo_session_name(port, event.get()), std::nullopt);
}

// A kernel before 7.2 answers GET_NAME on a session with EINVAL (its command number is out of
// range, kernel-luo.md §1.3), so EINVAL goes on to the link check, which an eventfd fails.
TEST(SessionDetection, GetNameEinvalFallsBackToTheLinkCheck) {
  FakePort port;
  port.script(PortOp::get_session_name, EINVAL);
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  EXPECT_EQ(luo_session_name(port, event.get()), std::nullopt);
  UniqueFd memfd(::memfd_create("not-a-session", MFD_CLOEXEC));
  port.script(PortOp::get_session_name, EINVAL);
  EXPECT_EQ(luo_session_name(port, memfd.get()), std::nullopt);
}

// An O_PATH fd reopened from an anon-inode file: GET_NAME says EBADF (the real kernel's answer,
// scripted here). 262.1's fd_get_luo_session_name() cannot tell then, and its PID 1 skips the
// entry (tests/systemd/session_detection_test.cpp runs the real function on such fds); reading
// the link text instead would take the reopen of a session for the session, which it does not
// hold.
UniqueFd o_path_reopen(int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return UniqueFd(::open(path.c_str(), O_PATH | O_CLOEXEC));
}

TEST(SessionDetection, AnOPathFdOnTheAnonInodeFilesystemCannotBeTold) {
  FakePort port;
  port.script(PortOp::get_session_name, EBADF);
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  UniqueFd reopened = o_path_reopen(event.get());
  ASSERT_TRUE(reopened);
  const SessionDetection d = detect_luo_session(port, reopened.get());
  EXPECT_EQ(d.kind, SessionDetection::Kind::unknown);
  EXPECT_EQ(d.error, EBADF);
  port.script(PortOp::get_session_name, EBADF);
  EXPECT_EQ(luo_session_name(port, reopened.get()), std::nullopt);
}

TEST(SessionDetection, AnOPathFdOfAFileIsNotASession) {
  // Off the anon-inode filesystem 262.1 never asks GET_NAME: "not a session", whatever it says.
  FakePort port;
  port.script(PortOp::get_session_name, EBADF);
  UniqueFd file(::open("/proc/self/exe", O_PATH | O_CLOEXEC));
  EXPECT_EQ(detect_luo_session(port, file.get()).kind, SessionDetection::Kind::not_session);
}

TEST(SessionDetection, EinvalFromGetNameFallsBackToTheLinkText) {
  // 6.19-7.1 kernels answer GET_NAME with EINVAL on a session, as epoll and userfaultfd do on
  // 7.x; 262.1 then reads the link text, which for this eventfd names no session.
  FakePort port;
  port.script(PortOp::get_session_name, EINVAL);
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  EXPECT_EQ(detect_luo_session(port, event.get()).kind, SessionDetection::Kind::not_session);
}

StageAResult stage_one(int fd, int get_name_errno) {
  FdStoreRegistry owners;
  auto& store = owners.load("a.service", {.max = 4, .preserve = PreserveMode::yes});
  EXPECT_TRUE(store.add(UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)), "x", Poll::off));
  FakePort port;
  port.script(PortOp::get_session_name, get_name_errno);
  return stage_a(owners, nullptr, port, StageAOptions{});
}

TEST(SessionDetection, StageASkipsAnFdItCannotTellAndSaysWhy) {
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  UniqueFd reopened = o_path_reopen(event.get());
  const StageAResult staged = stage_one(reopened.get(), EBADF);
  ASSERT_EQ(staged.report.size(), 1u);
  EXPECT_EQ(staged.report[0].state, FdEntryState::dropped);
  EXPECT_NE(staged.report[0].reason.find("cannot be told"), std::string::npos)
      << staged.report[0].reason;
  EXPECT_NE(staged.report[0].reason.find(std::strerror(EBADF)), std::string::npos)
      << staged.report[0].reason;
  EXPECT_TRUE(staged.document.units.empty());
  EXPECT_TRUE(staged.fds.empty());
}

TEST(SessionDetection, StageAStagesAnOPathFileAs262Does) {
  // PRESERVE_FD refuses it later (Stage B: lost), as it does under 262's systemd-shutdown.
  UniqueFd file(::open("/proc/self/exe", O_PATH | O_CLOEXEC));
  const StageAResult staged = stage_one(file.get(), EBADF);
  ASSERT_EQ(staged.report.size(), 1u);
  EXPECT_EQ(staged.report[0].state, FdEntryState::staged);
  ASSERT_EQ(staged.document.units.size(), 1u);
  EXPECT_EQ(staged.document.units[0].fdstore.at(0).type, handoff::EntryType::fd);
}

}  // namespace
}  // namespace luo::impl_test
