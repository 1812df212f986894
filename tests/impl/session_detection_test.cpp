// luo_session_name() (impl/kexec_handoff.hpp, spec systemd-luo.md §3.5):
// LIVEUPDATE_SESSION_GET_NAME where the kernel answers it, else systemd's check: an fd on the
// anon-inode filesystem whose /proc link reads "anon_inode:[luo_session] <name>". No kernel without
// LUO can make such an fd, so the tests pin the two ways it must say "not a session".
#include <sys/eventfd.h>
#include <sys/mman.h>

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

}  // namespace
}  // namespace luo::impl_test
