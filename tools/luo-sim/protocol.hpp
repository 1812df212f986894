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
// Header-only and free of the project's libraries (scm_rights.hpp is header-only too): the shim
// links nothing but libc.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>

#include "luo/adapters/scm_rights.hpp"

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
  const std::span<const int> fds = fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>();
  return scm_send(sock, data, len, fds, MSG_NOSIGNAL) < 0 ? errno : 0;
}

// Receives one datagram of exactly `len` bytes; *fd is the attached fd (O_CLOEXEC) or -1.
// Returns 0, the errno, or EPIPE when the peer is gone or the message is malformed.
inline int recv_with_fd(int sock, void* data, std::size_t len, int* fd) {
  const ssize_t n = scm_receive(sock, data, len, fd);
  if (n < 0)
    return errno;
  if (static_cast<std::size_t>(n) != len) {
    if (*fd >= 0)
      ::close(*fd);
    *fd = -1;
    return EPIPE;
  }
  return 0;
}

}  // namespace luo::simtool
