// luo/adapters/scm_rights.hpp: one message with fds attached (SCM_RIGHTS) over a Unix socket,
// sent or received, written once for luo-sim's protocol, its broker scenario and the tests that
// hand a manager or the simulator an fd by hand.
//
//   const int fd = session.get();
//   luo::scm_send(sock, &byte, 1, std::span(&fd, 1), MSG_NOSIGNAL);  // -1 and errno on failure
//   int passed = -1;
//   luo::scm_receive(other_end, &byte, 1, &passed);                    // O_CLOEXEC, or -1
//
// Header-only and libc-only: luo-sim's preload shim, which links none of this tree's libraries,
// uses it too. sd_notify's client (sd_notify.cpp) builds its own control message, as it also
// carries SCM_CREDENTIALS and drops them again on EPERM.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>

#include "luo/model/fd_store_limits.hpp"

namespace luo {

// Sends `len` bytes at `data` on `sock` with `fds` attached (no control message when there are
// none), to `to` when the socket is not connected; EINTR is retried. sendmsg()'s result: the
// bytes sent, or -1 with errno (E2BIG for more fds than one message can carry).
inline ssize_t scm_send(int sock, const void* data, std::size_t len, std::span<const int> fds,
                        int flags, const sockaddr_un* to = nullptr, socklen_t to_len = 0) {
  if (fds.size() > kScmMaxFd) {
    errno = E2BIG;
    return -1;
  }
  iovec iov{const_cast<void*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (to != nullptr) {
    msg.msg_name = const_cast<sockaddr_un*>(to);
    msg.msg_namelen = to_len;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kScmMaxFd)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n = 0;
  do {
    n = ::sendmsg(sock, &msg, flags);
  } while (n < 0 && errno == EINTR);
  return n;
}

// Receives one message of at most `len` bytes into `data`; *fd is the fd attached to it
// (O_CLOEXEC) or -1. EINTR is retried. recvmsg()'s result: the bytes received, or -1 with errno.
inline ssize_t scm_receive(int sock, void* data, std::size_t len, int* fd) {
  *fd = -1;
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = 0;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(fd, CMSG_DATA(c), sizeof *fd);
  }
  return n;
}

}  // namespace luo
