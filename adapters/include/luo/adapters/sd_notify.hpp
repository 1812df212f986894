// luo/adapters/sd_notify.hpp: the sd_notify protocol with fds (FDSTORE=1, FDSTOREREMOVE=1,
// BARRIER=1, ...), both ends, over real AF_UNIX datagram sockets (spec systemd-luo.md §1.3, §1.9).
//
// A service talks to its manager by sending one datagram per message to $NOTIFY_SOCKET: the
// payload is newline-separated KEY=VALUE tags, the fds travel as SCM_RIGHTS, and the kernel adds
// the sender's credentials. Nothing ever comes back (§1.3 rule 8) except through a barrier: the
// client sends the write end of a pipe with BARRIER=1 and waits for POLLHUP, which arrives once
// the manager has read (and closed) that message, and so every message sent before it.
//
// Client side (what sd_pid_notify_with_fds() and sd_notify_barrier() do):
//
//   auto addr = luo::notify::from_environment();          // $NOTIFY_SOCKET
//   if (!addr.ok()) return addr.error();                  // e.g. vsock: not supported here
//   if (!addr.value()) return;                            // not configured: nothing to do
//   int fds[] = {state_memfd.get(), listen_socket.get()};
//   (void)luo::notify::store_fds(*addr.value(), fds, "db-state", luo::notify::Poll::off);
//   (void)luo::notify::barrier(*addr.value(), std::chrono::seconds(5));
//
// Manager side (what PID 1, a user manager or nspawn do with their notify socket):
//
//   auto rx = luo::notify::Receiver::bind(luo::notify::Address::parse("@mgr").value());
//   while (rx.value().wait(std::chrono::seconds(1)).value()) {
//     auto d = rx.value().receive();
//     if (!d.ok() || d.value().kind() != luo::notify::DeliveryKind::message) continue;
//     luo::notify::FdStoreRequest req = luo::notify::interpret_fd_store(
//         std::move(d.value().message()));
//     // req.kind, req.name, req.poll, req.fds: hand them to the fd store.
//   }
//
// Every fd the receiver gets is O_CLOEXEC (MSG_CMSG_CLOEXEC) and owned by a UniqueFd before any
// check runs, so an ignored message cannot leak one. Errors are raw errnos in a SysResult, or a
// typed reason where the protocol names one (an address form, an ignored datagram).
//
// Not supported by this library: the vsock forms of $NOTIFY_SOCKET (vsock:, vsock-dgram:,
// vsock-seqpacket:, vsock-stream:), which systemd uses for VMs. They are recognised and refused
// with AddressError::vsock_unsupported rather than being treated as an unknown form.
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "luo/adapters/reason_result.hpp"
#include "luo/impl/sys_result.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/fd_store_limits.hpp"

namespace luo::notify {

// ---------------------------------------------------------------------------------------------
// Addresses

// Why a $NOTIFY_SOCKET string was refused.
enum class AddressError : std::uint8_t {
  unsupported_form,   // neither "/path", "@name" nor a vsock form (systemd: EPROTO)
  vsock_unsupported,  // a vsock form: valid for systemd, not supported by this library
  too_short,          // "/" or "@" alone (systemd refuses strings shorter than 2 bytes)
  too_long,           // the string plus its NUL does not fit sockaddr_un.sun_path (108 bytes)
  embedded_nul,       // a NUL byte inside the string
};

constexpr std::string_view address_error_message(AddressError e) {
  switch (e) {
    case AddressError::unsupported_form:
      return "NOTIFY_SOCKET is neither an absolute path nor an @abstract name";
    case AddressError::vsock_unsupported:
      return "NOTIFY_SOCKET names a vsock address; vsock is not supported by this library";
    case AddressError::too_short:
      return "NOTIFY_SOCKET is too short (an empty path or abstract name)";
    case AddressError::too_long:
      return "NOTIFY_SOCKET does not fit into sockaddr_un.sun_path";
    case AddressError::embedded_nul:
      return "NOTIFY_SOCKET contains a NUL byte";
  }
  return "?";
}

// The errno a C caller would see: EPROTO for an unknown form (as systemd), EAFNOSUPPORT for
// vsock, EINVAL otherwise.
constexpr int address_error_errno(AddressError e) {
  switch (e) {
    case AddressError::unsupported_form:
      return EPROTO;
    case AddressError::vsock_unsupported:
      return EAFNOSUPPORT;
    case AddressError::too_short:
    case AddressError::too_long:
    case AddressError::embedded_nul:
      return EINVAL;
  }
  return EINVAL;
}

// A value, or the reason an address string was refused.
template <class T>
using AddressResult = ReasonResult<T, AddressError>;

// An AF_UNIX datagram address in $NOTIFY_SOCKET syntax. On the wire a path address is the path
// plus its NUL; an abstract address is a NUL byte plus the name, without a trailing NUL (the
// length systemd uses, so both ends agree on the exact bytes).
class Address {
 public:
  enum class Kind : std::uint8_t { path, abstract };

  // "/path" or "@name"; the syntax rules are systemd's sockaddr_un_set_path(). The vsock forms
  // are refused (see the file comment).
  static AddressResult<Address> parse(std::string_view notify_socket);

  Kind kind() const { return kind_; }
  // The path ("/run/x") or the abstract name without its '@'.
  const std::string& name() const { return name_; }
  // Back to $NOTIFY_SOCKET syntax.
  std::string to_string() const;
  // Fills sa for this address; returns the address length (an abstract name: a leading NUL and
  // no trailing one, as systemd).
  socklen_t to_sockaddr(sockaddr_un& sa) const;
  bool operator==(const Address&) const = default;

 private:
  Address(Kind kind, std::string name) : kind_(kind), name_(std::move(name)) {}
  Kind kind_;
  std::string name_;
};

// $NOTIFY_SOCKET of this process. An unset variable is "not configured" (an empty optional),
// not an error: sd_notify() returns 0 in that case. Reads the environment, so it is as
// thread-safe as getenv().
AddressResult<std::optional<Address>> from_environment();

// ---------------------------------------------------------------------------------------------
// Client side

// FDPOLL= (luo/model/fd_store_limits.hpp), spelled notify::Poll here as well.
using luo::Poll;

// One sd_notify datagram under construction. Tags are sent in the order added, joined by '\n'
// (no trailing newline or NUL, as sd_notify()); fds are borrowed, never closed, and may repeat.
//
//   luo::notify::Message m;
//   m.fdstore().fdname("x").fdpoll_off().fd(memfd.get());
//   (void)luo::notify::send(addr, m);      // "FDSTORE=1\nFDNAME=x\nFDPOLL=0" + 1 fd
class Message {
 public:
  Message& fdstore() { return tag("FDSTORE", "1"); }
  Message& fdname(std::string_view name) { return tag("FDNAME", name); }
  Message& fdstore_remove() { return tag("FDSTOREREMOVE", "1"); }
  Message& fdpoll_off() { return tag("FDPOLL", "0"); }
  Message& barrier() { return tag("BARRIER", "1"); }
  Message& ready() { return tag("READY", "1"); }
  Message& tag(std::string_view key, std::string_view value);
  Message& fd(int fd);
  Message& fds(std::span<const int> fds);
  // Claim to be another process, as sd_pid_notify(pid, ...): sent as SCM_CREDENTIALS, which the
  // kernel accepts only with CAP_SYS_ADMIN; without it send() retries with the caller's own pid
  // (as libsystemd does).
  Message& as_pid(pid_t pid);

  const std::vector<std::pair<std::string, std::string>>& tags() const { return tags_; }
  const std::vector<int>& borrowed_fds() const { return fds_; }
  std::optional<pid_t> pid() const { return pid_; }
  // The datagram's bytes.
  std::string payload() const;

  // What send() refuses before any syscall, in this order:
  //   E2BIG     more than SCM_MAX_FD (253) fds, as sd_pid_notify_with_fds();
  //   EBADF     a negative fd;
  //   EINVAL    an empty key, a key with '=', or a key or value with '\n', '\r', '\\' or NUL.
  //             '\n' and '\r' would split the tag, NUL makes the receiver drop the datagram, and
  //             systemd's receiver strips backslashes as escapes (a trailing one drops the
  //             datagram), so none of them can arrive as written;
  //   EMSGSIZE  a payload above NOTIFY_BUFFER_MAX (4096) bytes: the receiver would ignore it as
  //             truncated (§1.3 rule 1). EMSGSIZE is what the kernel itself says for a datagram
  //             that cannot be sent whole, and it keeps E2BIG meaning "too many fds".
  SysStatus check() const;

 private:
  std::vector<std::pair<std::string, std::string>> tags_;
  std::vector<int> fds_;
  std::optional<pid_t> pid_;
};

// Sends one datagram from a fresh AF_UNIX SOCK_DGRAM|SOCK_CLOEXEC socket: SCM_RIGHTS with the
// fds, and SCM_CREDENTIALS with (pid or getpid(), getuid(), getgid()). The explicit credentials
// are what the kernel would attach anyway, except that they carry the real rather than the
// effective ids, which is what sd_notify() sends when the two differ. Errors: those of check(),
// then socket()/sendmsg() errnos (ENOENT or ECONNREFUSED: nobody listens; EAGAIN never: the
// socket blocks while the receiver's queue is full, as sd_notify()), EIO on a short send.
// Success means "datagram queued", never "accepted" (§1.3 rule 8).
SysStatus send(const Address& to, const Message& message);

// FDSTORE=1, FDNAME=name, FDPOLL=0 if poll is off, with the fds. Refuses with EINVAL, before
// sending, a name that fdname_is_valid() rejects (the manager would silently store it as
// "stored") and an empty fd list (the manager would do nothing).
SysStatus store_fds(const Address& to, std::span<const int> fds, std::string_view name,
                    Poll poll = Poll::on);
// FDSTOREREMOVE=1, FDNAME=name: the manager closes every stored fd of that name (§1.3 rule 6).
// EINVAL for an invalid name (the manager would ignore the request).
SysStatus remove_fds(const Address& to, std::string_view name);
// sd_notify_barrier(): pipe, BARRIER=1 with the write end, close it, wait for POLLHUP on the read
// end. Success means the receiver has read this message and so every earlier one from this
// client (not that managers further up have). ETIMEDOUT when the timeout passes first.
SysStatus barrier(const Address& to, std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------------------------
// Manager side

// Why a datagram was dropped (§1.3 rules 1-2), in the order the checks run.
enum class IgnoreReason : std::uint8_t {
  truncated_control_data,  // MSG_CTRUNC: more fds than the control buffer holds
  truncated_payload,       // MSG_TRUNC: more than NOTIFY_BUFFER_MAX bytes
  missing_credentials,     // no SCM_CREDENTIALS, or a pid the kernel could not map (0)
  embedded_nul,            // a NUL byte other than one trailing
  unterminated_escape,     // a trailing backslash (systemd's tag splitter fails on it)
};

// systemd's log line for each reason (the last one is ours: systemd logs it as out-of-memory).
constexpr std::string_view ignore_reason_message(IgnoreReason r) {
  switch (r) {
    case IgnoreReason::truncated_control_data:
      return "Got message with truncated control data (too many fds sent?), ignoring.";
    case IgnoreReason::truncated_payload:
      return "Got message with truncated payload data, ignoring.";
    case IgnoreReason::missing_credentials:
      return "Got notification datagram lacking valid credential information, ignoring.";
    case IgnoreReason::embedded_nul:
      return "Got notification message with embedded NUL, ignoring.";
    case IgnoreReason::unterminated_escape:
      return "Got notification message ending in a lone backslash, ignoring.";
  }
  return "?";
}

// A BARRIER=1 message that was not exactly "BARRIER=1 and one fd" (§1.3 rule 3): only a warning,
// the message is swallowed all the same.
enum class BarrierWarning : std::uint8_t { none, extra_tags, wrong_fd_count };

constexpr std::string_view barrier_warning_message(BarrierWarning w) {
  switch (w) {
    case BarrierWarning::none:
      return "";
    case BarrierWarning::extra_tags:
      return "Extra notification messages sent with BARRIER=1, ignoring everything.";
    case BarrierWarning::wrong_fd_count:
      return "Got incorrect number of fds with BARRIER=1, closing them.";
  }
  return "?";
}

// An accepted datagram.
struct Received {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  // In order. Each line is split at its first '='; a line without one becomes {line, ""}.
  std::vector<std::pair<std::string, std::string>> tags;
  // Every fd is O_CLOEXEC; kernel order (systemd itself treats them as an unordered set).
  std::vector<UniqueFd> fds;
  // SCM_PIDFD of the sender when the kernel provides it (SO_PASSPIDFD, Linux 6.5+).
  UniqueFd pidfd;
  // fds that arrived at a FdPolicy::refuse receiver; already closed.
  std::size_t fds_closed = 0;

  // Whether the line "key=value" is present (systemd's strv_contains(tags, "KEY=VALUE")).
  bool has(std::string_view key, std::string_view value) const;
  // The value of the first tag with this key (systemd's strv_find_startswith(tags, "KEY=")).
  std::optional<std::string_view> first(std::string_view key) const;
};

// A consumed barrier: its fds are already closed, so the client's poll() sees POLLHUP.
struct Barrier {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  BarrierWarning warning = BarrierWarning::none;
  std::size_t fds_closed = 0;
};

// A dropped datagram; every fd that arrived with it is already closed.
struct Ignored {
  IgnoreReason reason = IgnoreReason::truncated_payload;
  std::size_t fds_closed = 0;
};

enum class DeliveryKind : std::uint8_t { message, barrier, ignored };

// What one receive() produced.
class Delivery {
 public:
  Delivery(Received m) : v_(std::move(m)) {}  // NOLINT: implicit by design
  Delivery(Barrier b) : v_(b) {}              // NOLINT
  Delivery(Ignored i) : v_(i) {}              // NOLINT

  DeliveryKind kind() const { return static_cast<DeliveryKind>(v_.index()); }
  Received& message() { return std::get<Received>(v_); }
  const Received& message() const { return std::get<Received>(v_); }
  const Barrier& barrier() const { return std::get<Barrier>(v_); }
  const Ignored& ignored() const { return std::get<Ignored>(v_); }

 private:
  // The order matches DeliveryKind.
  std::variant<Received, Barrier, Ignored> v_;
};

// Whether a notify socket takes fds at all. nspawn's socket for its payload refuses them unless
// it can forward them (§2.5).
enum class FdPolicy : std::uint8_t {
  accept,
  // SO_PASSRIGHTS off (Linux 6.16+), so a sender's sendmsg() with fds fails with EPERM; on older
  // kernels fds still arrive and are closed at once (Received::fds_closed), the message is kept.
  refuse,
};

struct ReceiverOptions {
  // Room in the control buffer for at least this many fds: NOTIFY_FD_MAX, as PID 1. A message
  // with more is ignored as truncated (§1.3 rule 1). The kernel packs fds into the space kept
  // for SCM_PIDFD and alignment as well, so a few more than max_fds may fit. Since one message
  // carries at most SCM_MAX_FD (253) fds, only a smaller value can ever truncate.
  std::size_t max_fds = kNotifyFdMax;
  FdPolicy fds = FdPolicy::accept;
};

// A bound notify socket: AF_UNIX SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK with SO_PASSCRED (and
// SO_PASSPIDFD where the kernel has it; SO_PASSRIGHTS off for FdPolicy::refuse). Move-only; a path
// socket is unlinked on destruction if the path still names the socket this Receiver created.
class Receiver {
 public:
  // Binds to addr. For a path: a stale socket file (one nobody receives on: connect() says
  // ECONNREFUSED) is removed first; a live socket or a non-socket file is left alone and the
  // call fails with EADDRINUSE.
  static SysResult<Receiver> bind(const Address& addr, ReceiverOptions options = {});

  Receiver(Receiver&& other) noexcept;
  Receiver& operator=(Receiver&& other) noexcept;
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver();

  int fd() const { return fd_.get(); }
  const Address& address() const { return address_; }

  // Reads one datagram and applies §1.3 rules 1-3. Fails with EAGAIN when none is queued (the
  // socket is non-blocking), otherwise with the errno of recvmsg().
  SysResult<Delivery> receive();
  // Waits until a datagram is queued: true, or false after timeout.
  SysResult<bool> wait(std::chrono::milliseconds timeout) const;

 private:
  Receiver(UniqueFd fd, Address address, ReceiverOptions options);
  void unlink_own_path();

  UniqueFd fd_;
  Address address_;
  ReceiverOptions options_;
  // Identity of the socket file this Receiver created, to unlink only that one.
  bool owns_path_ = false;
  dev_t path_dev_ = 0;
  ino_t path_ino_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Interpreting a message as an fd-store request (§1.3 rules 6-7)

enum class FdStoreWarning : std::uint8_t {
  remove_without_valid_name,  // FDSTOREREMOVE=1 without a valid FDNAME=: request ignored
  invalid_name_ignored,       // FDSTORE=1 with an invalid FDNAME=: stored as "stored"
  extra_fds_closed,           // fds no request consumed were closed
};

// systemd's log lines.
constexpr std::string_view fd_store_warning_message(FdStoreWarning w) {
  switch (w) {
    case FdStoreWarning::remove_without_valid_name:
      return "FDSTOREREMOVE=1 requested, but no valid file descriptor name passed, ignoring.";
    case FdStoreWarning::invalid_name_ignored:
      return "Passed FDNAME= name is invalid, ignoring.";
    case FdStoreWarning::extra_fds_closed:
      return "Got extra auxiliary fds with notification message, closing them.";
  }
  return "?";
}

struct FdStoreRequest {
  enum class Kind : std::uint8_t { store, remove, none };
  Kind kind = Kind::none;
  // store: the FDNAME= value if valid, else "stored"; remove: the (valid) name; none: empty.
  std::string name;
  // An FDNAME= tag was present but fdname_is_valid() rejected it.
  bool name_was_invalid = false;
  // store: off iff the line FDPOLL=0 is present (exactly that; FDPOLL=no does not count).
  Poll poll = Poll::on;
  // store: every fd of the message, to be added under `name`. Otherwise empty.
  std::vector<UniqueFd> fds;
  // fds of the message that no request consumed; already closed.
  std::size_t fds_closed = 0;
  // In the order systemd logs them.
  std::vector<FdStoreWarning> warnings;
};

// Rule 6, in systemd's order: FDSTOREREMOVE=1 wins over FDSTORE=1; the first FDNAME= counts.
// FDSTORE=1 with no fds is a store request with an empty fd list (the store does nothing).
// Rule 7: fds of a remove or of a message with neither tag are closed here.
FdStoreRequest interpret_fd_store(Received&& message);

}  // namespace luo::notify
