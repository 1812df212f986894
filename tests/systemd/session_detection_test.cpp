// Stage A's session detection (spec §9.6) against 262.1's own fd_get_luo_session_name(), run
// in-process on this machine's kernel with nothing diverted: for every kind of fd a service can
// push into its store, the library's detect_luo_session() must reach 262's verdict (a session
// and its name, "not a session", or "cannot tell", which makes PID 1 skip the entry).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/linux_kernel.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "systemd_fixture.hpp"

namespace luo::sdtest {
namespace {

UniqueFd reopen_o_path(int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return UniqueFd(::open(path.c_str(), O_PATH | O_CLOEXEC));
}

TEST_F(SystemdTier0, SessionDetectionVerdictsAreAs262) {
  LinuxKernel kernel;
  IoctlPort port(kernel);
  int pipe_fds[2] = {-1, -1};
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  int socket_fds[2] = {-1, -1};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socket_fds), 0);
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  std::vector<std::pair<std::string, UniqueFd>> fds;
  fds.emplace_back("memfd", UniqueFd(::memfd_create("x", MFD_CLOEXEC)));
  fds.emplace_back("pipe", UniqueFd(pipe_fds[0]));
  fds.emplace_back("pipe write end", UniqueFd(pipe_fds[1]));
  fds.emplace_back("socket", UniqueFd(socket_fds[0]));
  fds.emplace_back("socket peer", UniqueFd(socket_fds[1]));
  fds.emplace_back("regular file", UniqueFd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC)));
  // GET_NAME says ENOTTY on most anon-inode files and EINVAL on an epoll fd: both fall back to
  // the link text, which names no session.
  fds.emplace_back("timerfd", UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)));
  fds.emplace_back("O_PATH of a file", UniqueFd(::open("/proc/self/exe", O_PATH | O_CLOEXEC)));
  fds.emplace_back("O_PATH of a directory", UniqueFd(::open("/", O_PATH | O_CLOEXEC)));
  // On the anon-inode filesystem, where GET_NAME says EBADF: 262 cannot tell, and skips it.
  fds.emplace_back("O_PATH of an eventfd", reopen_o_path(event.get()));
  fds.emplace_back("O_PATH of an epoll fd", reopen_o_path(epoll.get()));
  fds.emplace_back("eventfd", std::move(event));
  fds.emplace_back("epoll", std::move(epoll));

  int unknown = 0;
  for (const auto& [what, fd] : fds) {
    ASSERT_TRUE(fd) << what << ": " << std::strerror(errno);
    std::string name;
    const int r = sd().fd_get_luo_session_name(fd.get(), &name);
    const SessionDetection d = detect_luo_session(port, fd.get());
    if (r == 0) {
      EXPECT_EQ(d.kind, SessionDetection::Kind::session) << what;
      EXPECT_EQ(d.name, name) << what;
    } else if (r == -EMEDIUMTYPE) {
      EXPECT_EQ(d.kind, SessionDetection::Kind::not_session) << what;
    } else {
      ++unknown;
      EXPECT_EQ(d.kind, SessionDetection::Kind::unknown) << what << ": 262 says " << -r;
      EXPECT_EQ(d.error, -r) << what;
    }
  }
  // Both O_PATH reopens of anon-inode files, and nothing else, cannot be told.
  EXPECT_EQ(unknown, 2);
}

}  // namespace
}  // namespace luo::sdtest
