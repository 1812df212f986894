// sd_notify_datagram.cpp: hostile datagrams through the real notify receiver
// (adapters/sd_notify.hpp) on a real AF_UNIX socket, fds and credentials included.
//
// Input: byte 0 picks the receiver (fds accepted with room for NOTIFY_FD_MAX, accepted with room
// for 2 so MSG_CTRUNC happens, or refused) and the credentials (none given: the kernel attaches
// the real ones; our own given explicitly; a forged pid from bytes 2-5), byte 1 the number of fds
// (0-15), then one byte per fd choosing its kind (memfd, pipe ends, /dev/null, a socket, O_PATH,
// a directory, an eventfd, a pidfd), then the payload.
// Properties: one datagram in, exactly one delivery out; every fd that arrived is either handed
// to the caller or counted as closed (none when the control data was truncated: the kernel
// dropped some); the fd-store interpretation hands on only what it says; no fd leaks.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/sd_notify.hpp"

namespace {

using luo::notify::DeliveryKind;

struct Fixture {
  std::vector<luo::notify::Receiver> receivers;
  luo::UniqueFd sender;
  std::vector<luo::UniqueFd> pool;

  Fixture() {
    const std::string base = "@luo-fuzz-notify-" + std::to_string(::getpid()) + "-";
    const luo::notify::ReceiverOptions options[] = {
        {},
        {.max_fds = 2, .fds = luo::notify::FdPolicy::accept},
        {.max_fds = luo::kNotifyFdMax, .fds = luo::notify::FdPolicy::refuse}};
    for (int i = 0; i < 3; ++i) {
      auto addr = luo::notify::Address::parse(base + std::to_string(i));
      luo::fuzz::check(addr.ok(), "address");
      auto rx = luo::notify::Receiver::bind(addr.value(), options[i]);
      luo::fuzz::check(rx.ok(), "bind");
      receivers.push_back(std::move(rx).value());
    }
    sender.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    pool.push_back(std::move(luo::memfd::create("fuzz-pool").value()));
    int p[2];
    luo::fuzz::check(::pipe2(p, O_CLOEXEC) == 0, "pipe");
    pool.emplace_back(p[0]);
    pool.emplace_back(p[1]);
    pool.emplace_back(::open("/dev/null", O_RDWR | O_CLOEXEC));
    pool.emplace_back(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    pool.emplace_back(::open("/", O_PATH | O_CLOEXEC));
    pool.emplace_back(::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    pool.emplace_back(::eventfd(0, EFD_CLOEXEC));
    const long pidfd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
    pool.emplace_back(pidfd >= 0 ? static_cast<int>(pidfd) : ::open("/", O_PATH | O_CLOEXEC));
    for (const auto& fd : pool)
      luo::fuzz::check(fd.get() >= 0, "fd pool");
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// Sends the datagram to receiver `rx`; false if the kernel refused it (no delivery then).
bool send_datagram(Fixture& f, const luo::notify::Receiver& rx, const std::string& payload,
                   const std::vector<int>& fds, int creds_mode, pid_t forged_pid) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string& name = rx.address().name();
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  const auto salen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16) + CMSG_SPACE(sizeof(ucred))] = {};
  msghdr msg{};
  msg.msg_name = &sa;
  msg.msg_namelen = salen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  std::size_t used = 0;
  cmsghdr* c = nullptr;
  if (!fds.empty()) {
    msg.msg_controllen = sizeof control;
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    used += CMSG_SPACE(sizeof(int) * fds.size());
  }
  if (creds_mode != 0) {
    msg.msg_controllen = sizeof control;
    c = c == nullptr ? CMSG_FIRSTHDR(&msg) : CMSG_NXTHDR(&msg, c);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(ucred));
    const ucred cred{creds_mode == 1 ? ::getpid() : forged_pid, ::getuid(), ::getgid()};
    std::memcpy(CMSG_DATA(c), &cred, sizeof cred);
    used += CMSG_SPACE(sizeof(ucred));
  }
  msg.msg_controllen = used;
  if (used == 0)
    msg.msg_control = nullptr;
  return ::sendmsg(f.sender.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fixture();
  luo::fuzz::FdLeakGuard leaks;
  luo::fuzz::Bytes in(data, size);
  const std::uint8_t mode = in.u8();
  const std::size_t nfds = in.u8() % 16;
  const int creds_mode = (mode >> 2) % 3;
  const auto forged_pid = static_cast<pid_t>(creds_mode == 2 ? in.u32() : 0);
  std::vector<int> fds;
  for (std::size_t i = 0; i < nfds; ++i)
    fds.push_back(f.pool[in.u8() % f.pool.size()].get());
  const std::string payload = in.rest();
  auto& rx = f.receivers[(mode & 3) % f.receivers.size()];

  if (!send_datagram(f, rx, payload, fds, creds_mode, forged_pid)) {
    auto none = rx.receive();
    luo::fuzz::check(!none.ok() && none.raw_errno() == EAGAIN, "a refused send was delivered");
    return 0;
  }
  auto d = rx.receive();
  luo::fuzz::check(d.ok(), "a queued datagram was not received", std::strerror(d.raw_errno()));
  switch (d.value().kind()) {
    case DeliveryKind::message: {
      auto& m = d.value().message();
      luo::fuzz::check(m.fds.size() + m.fds_closed == nfds, "fds lost in an accepted message");
      luo::fuzz::check(m.pid > 0, "a message without a sender pid");
      for (const auto& fd : m.fds)
        luo::fuzz::check((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0, "an fd without CLOEXEC");
      const std::size_t got = m.fds.size();
      (void)m.has("FDSTORE", "1");
      (void)m.first("FDNAME");
      auto req = luo::notify::interpret_fd_store(std::move(m));
      using Kind = luo::notify::FdStoreRequest::Kind;
      luo::fuzz::check(req.fds.size() + req.fds_closed == got, "fds lost interpreting a message");
      luo::fuzz::check(req.kind == Kind::store || req.fds.empty(), "fds handed on by a non-store");
      if (req.kind == Kind::store)
        luo::fuzz::check(luo::fdname_is_valid(req.name), "a store request under an invalid name",
                         req.name);
      if (req.kind == Kind::remove)
        luo::fuzz::check(luo::fdname_is_valid(req.name), "a remove of an invalid name", req.name);
      break;
    }
    case DeliveryKind::barrier:
      luo::fuzz::check(d.value().barrier().fds_closed == nfds, "fds of a barrier not closed");
      break;
    case DeliveryKind::ignored: {
      const auto& ig = d.value().ignored();
      if (ig.reason == luo::notify::IgnoreReason::truncated_control_data)
        luo::fuzz::check(ig.fds_closed <= nfds, "more fds closed than sent");
      else
        luo::fuzz::check(ig.fds_closed == nfds, "fds of an ignored datagram not closed");
      break;
    }
  }
  auto none = rx.receive();
  luo::fuzz::check(!none.ok() && none.raw_errno() == EAGAIN, "one datagram delivered twice");
  return 0;
}
