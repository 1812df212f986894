// protocol.hpp: the messages between luo-sim's preload shim (in every client process) and the
// simulator server (in the luo-sim process, which owns the one SimulatedKernel).
//
// Each client process holds one SOCK_SEQPACKET connection to the server; a call is one Request
// and one Reply, each a single datagram with at most one fd attached (SCM_RIGHTS):
//
//   open_device   ->  Reply{0} + the device fd
//   ioctl   + fd  ->  Reply{result|errno} (+ the new fd of CREATE/RETRIEVE_SESSION, RETRIEVE_FD)
//   link_text + fd->  Reply{0, text}
//   kexec_load    ->  Reply{0}                    (kexec_file_load: an image is now loaded)
//   kexec         ->  Reply{errno} if the freeze failed; on success no reply: the boot ends
//   power_off     ->  no reply: the run ends
//   frozen  + fd  ->  Reply{1} if the file is preserved by an outgoing session ("mapping frozen")
//
// The fd attached to `ioctl` is the caller's device or session fd itself: device and session fds
// are real sockets created by the server, so the server recognises them by identity whichever
// process sends them (fork, dup and SCM_RIGHTS keep working). The argument pointer is an address
// in the caller's memory, which the server reads and writes with process_vm_readv/writev, exactly
// as the in-process SimulatedKernel reads its own. `slot` is the fd number the caller reserved for
// a new fd (the kernel's get_unused_fd() in the caller's table; -1: EMFILE).
//
// Header-only and free of the project's libraries: the shim links nothing but libc.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace luo::simtool {

// The environment luo-sim gives every process of a boot.
inline constexpr const char* kSocketEnv = "LUO_SIM_SOCKET";  // the server's socket path
inline constexpr const char* kBootEnv = "LUO_SIM_BOOT";      // 1, 2, ... as luo_stage=N in the VM
inline constexpr const char* kProfileEnv = "LUO_SIM_PROFILE";
inline constexpr const char* kCmdlineEnv = "LUO_SIM_CMDLINE";  // the cmdline kexec_file_load gave
// The server's pid: device and session fds are sockets whose peer (SO_PEERCRED) is the server.
inline constexpr const char* kServerPidEnv = "LUO_SIM_SERVER_PID";

enum class Op : std::uint32_t {
  open_device = 1,
  ioctl = 2,
  link_text = 3,
  kexec_load = 4,
  kexec = 5,
  power_off = 6,
  frozen = 7,
};

struct Request {
  Op op = Op::ioctl;
  std::int32_t slot = -1;
  std::uint64_t cmd = 0;
  std::uint64_t arg = 0;  // an address in the caller's memory
  char text[256] = {};    // kexec_load: the command line
};

struct Reply {
  std::int64_t result = 0;  // >= 0 on success
  std::int32_t error = 0;   // the errno when result < 0
  char text[128] = {};      // link_text
};

// One datagram with `len` bytes and, when fd >= 0, that fd. Returns 0 or the errno.
inline int send_with_fd(int sock, const void* data, std::size_t len, int fd) {
  iovec iov{const_cast<void*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 ? errno : 0;
  }
}

// Receives one datagram of exactly `len` bytes; *fd is the attached fd (O_CLOEXEC) or -1.
// Returns 0, the errno, or EPIPE when the peer is gone or the message is malformed.
inline int recv_with_fd(int sock, void* data, std::size_t len, int* fd) {
  *fd = -1;
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(fd, CMSG_DATA(c), sizeof *fd);
  }
  if (static_cast<std::size_t>(n) != len) {
    if (*fd >= 0)
      ::close(*fd);
    *fd = -1;
    return EPIPE;
  }
  return 0;
}

}  // namespace luo::simtool
