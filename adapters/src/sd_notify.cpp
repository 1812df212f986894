#include "luo/adapters/sd_notify.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace luo::notify {

namespace {

static_assert(kNotifyBufferMax == PIPE_BUF, "NOTIFY_BUFFER_MAX is PIPE_BUF (§1.3 rule 1)");

// SO_PASSPIDFD and SCM_PIDFD are newer than bookworm's headers; the numbers are the kernel's
// (include/uapi/asm-generic/socket.h, x86 and the generic ABI alike).
#ifndef SO_PASSPIDFD
constexpr int SO_PASSPIDFD = 76;
#endif
#ifndef SCM_PIDFD
constexpr int SCM_PIDFD = 0x04;
#endif
#ifndef SO_PASSRIGHTS
constexpr int SO_PASSRIGHTS = 83;
#endif

constexpr std::string_view kVsockPrefixes[] = {
    "vsock:", "vsock-dgram:", "vsock-seqpacket:", "vsock-stream:"};

bool tag_part_ok(std::string_view s) {
  return s.find_first_of(std::string_view("\n\r\\\0", 4)) == std::string_view::npos;
}

// poll() until one of events (or POLLHUP/POLLERR) or the timeout; retries EINTR with the time
// left. Returns the revents, 0 on timeout.
SysResult<short> poll_one(int fd, short events, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    // Rounded up: poll() must not wake before the deadline.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    const int ms = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(
        left.count(), 0, std::numeric_limits<int>::max()));
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, ms);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return SysResult<short>::failure(last_errno());
    }
    return n == 0 ? short{0} : p.revents;
  }
}

// systemd's strv_split_newlines(): separators '\n' and '\r', runs of them (and leading or
// trailing ones) produce no empty tags, and a backslash makes the next byte literal (it is not
// a C escape: "\n" is 'n'). A trailing lone backslash fails the whole split.
std::optional<std::vector<std::string>> split_tags(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t i = 0;
  const auto is_sep = [](char c) { return c == '\n' || c == '\r'; };
  for (;;) {
    while (i < text.size() && is_sep(text[i]))
      ++i;
    if (i == text.size())
      return lines;
    std::string word;
    while (i < text.size() && !is_sep(text[i])) {
      if (text[i] == '\\') {
        if (i + 1 == text.size())
          return std::nullopt;
        word.push_back(text[i + 1]);
        i += 2;
        continue;
      }
      word.push_back(text[i]);
      ++i;
    }
    lines.push_back(std::move(word));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Address

AddressResult<Address> Address::parse(std::string_view s) {
  for (std::string_view prefix : kVsockPrefixes) {
    if (s.starts_with(prefix))
      return AddressError::vsock_unsupported;
  }
  if (s.empty() || (s[0] != '/' && s[0] != '@'))
    return AddressError::unsupported_form;
  if (s.find('\0') != std::string_view::npos)
    return AddressError::embedded_nul;
  if (s.size() < 2)
    return AddressError::too_short;
  // systemd insists on room for a NUL after the string for both kinds (sockaddr_un_set_path()).
  if (s.size() >= sizeof(sockaddr_un::sun_path))
    return AddressError::too_long;
  if (s[0] == '@')
    return Address(Kind::abstract, std::string(s.substr(1)));
  return Address(Kind::path, std::string(s));
}

std::string Address::to_string() const {
  switch (kind_) {
    case Kind::path:
      return name_;
    case Kind::abstract:
      return "@" + name_;
  }
  return name_;
}

socklen_t Address::to_sockaddr(sockaddr_un& sa) const {
  sa = {};
  sa.sun_family = AF_UNIX;
  switch (kind_) {
    case Kind::path:
      std::memcpy(sa.sun_path, name_.data(), name_.size());
      return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + 1);
    case Kind::abstract:
      std::memcpy(sa.sun_path + 1, name_.data(), name_.size());
      return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
  }
  return 0;
}

AddressResult<std::optional<Address>> from_environment() {
  const char* value = std::getenv("NOTIFY_SOCKET");
  if (value == nullptr)
    return std::optional<Address>();
  auto parsed = Address::parse(value);
  if (!parsed.ok())
    return parsed.error();
  return std::optional<Address>(std::move(parsed).value());
}

// ---------------------------------------------------------------------------------------------
// Message and the client calls

Message& Message::tag(std::string_view key, std::string_view value) {
  tags_.emplace_back(std::string(key), std::string(value));
  return *this;
}

Message& Message::fd(int fd) {
  fds_.push_back(fd);
  return *this;
}

Message& Message::fds(std::span<const int> fds) {
  fds_.insert(fds_.end(), fds.begin(), fds.end());
  return *this;
}

Message& Message::as_pid(pid_t pid) {
  pid_ = pid;
  return *this;
}

std::string Message::payload() const {
  std::string out;
  bool first = true;
  for (const auto& [key, value] : tags_) {
    if (!first)
      out.push_back('\n');
    first = false;
    out += key;
    out.push_back('=');
    out += value;
  }
  return out;
}

SysStatus Message::check() const {
  if (fds_.size() > kScmMaxFd)
    return SysStatus::failure(E2BIG);
  for (int fd : fds_) {
    if (fd < 0)
      return SysStatus::failure(EBADF);
  }
  std::size_t size = 0;
  for (const auto& [key, value] : tags_) {
    if (key.empty() || key.find('=') != std::string::npos || !tag_part_ok(key) ||
        !tag_part_ok(value))
      return SysStatus::failure(EINVAL);
    size += key.size() + 1 + value.size() + 1;
  }
  if (size > 0)
    --size;  // no newline after the last tag
  if (size > kNotifyBufferMax)
    return SysStatus::failure(EMSGSIZE);
  return sys_ok();
}

SysStatus send(const Address& to, const Message& message) {
  if (SysStatus ok = message.check(); !ok.ok())
    return ok;
  const std::string payload = message.payload();

  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock)
    return SysStatus::failure(last_errno());

  sockaddr_un sa{};
  const socklen_t sa_len = to.to_sockaddr(sa);

  const std::vector<int>& fds = message.borrowed_fds();
  const std::size_t rights_space = fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * fds.size());
  const std::size_t cred_space = CMSG_SPACE(sizeof(ucred));
  // max_align_t storage keeps the cmsghdr aligned.
  std::vector<std::max_align_t> control((rights_space + cred_space) / sizeof(std::max_align_t) + 1);

  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  msghdr mh{};
  mh.msg_name = &sa;
  mh.msg_namelen = sa_len;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.data();
  mh.msg_controllen = rights_space + cred_space;

  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  if (!fds.empty()) {
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    c = CMSG_NXTHDR(&mh, c);
  }
  const bool foreign_pid = message.pid().has_value() && *message.pid() != ::getpid();
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof(ucred));
  const ucred cred{message.pid().value_or(::getpid()), ::getuid(), ::getgid()};
  std::memcpy(CMSG_DATA(c), &cred, sizeof cred);

  for (;;) {
    const ssize_t n = ::sendmsg(sock.get(), &mh, MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) != payload.size())
        return SysStatus::failure(EIO);
      return sys_ok();
    }
    if (errno == EINTR)
      continue;
    // Claiming a foreign pid needs CAP_SYS_ADMIN; like libsystemd, fall back to our own
    // credentials (the kernel adds them, the receiver has SO_PASSCRED).
    if (foreign_pid && mh.msg_controllen == rights_space + cred_space) {
      mh.msg_controllen = rights_space;
      if (rights_space == 0)
        mh.msg_control = nullptr;
      continue;
    }
    return SysStatus::failure(last_errno());
  }
}

SysStatus store_fds(const Address& to, std::span<const int> fds, std::string_view name, Poll poll) {
  if (!fdname_is_valid(name) || fds.empty())
    return SysStatus::failure(EINVAL);
  Message m;
  m.fdstore().fdname(name);
  switch (poll) {
    case Poll::on:
      break;
    case Poll::off:
      m.fdpoll_off();
      break;
  }
  m.fds(fds);
  return send(to, m);
}

SysStatus remove_fds(const Address& to, std::string_view name) {
  if (!fdname_is_valid(name))
    return SysStatus::failure(EINVAL);
  Message m;
  m.fdstore_remove().fdname(name);
  return send(to, m);
}

SysStatus barrier(const Address& to, std::chrono::milliseconds timeout) {
  int ends[2] = {-1, -1};
  if (::pipe2(ends, O_CLOEXEC) != 0)
    return SysStatus::failure(last_errno());
  const UniqueFd read_end(ends[0]);
  UniqueFd write_end(ends[1]);

  Message m;
  m.barrier().fd(write_end.get());
  if (SysStatus sent = send(to, m); !sent.ok())
    return sent;
  // Our copy must go, or the read end could never see POLLHUP: from now on the only write end
  // is the one in flight, which the receiver closes after reading the message.
  write_end.reset();

  // events 0: POLLHUP is always reported.
  const SysResult<short> r = poll_one(read_end.get(), 0, timeout);
  if (!r.ok())
    return SysStatus::failure(r.raw_errno());
  if (r.value() == 0)
    return SysStatus::failure(ETIMEDOUT);
  return sys_ok();
}

// ---------------------------------------------------------------------------------------------
// Receiver

bool Received::has(std::string_view key, std::string_view value) const {
  return std::any_of(tags.begin(), tags.end(),
                     [&](const auto& kv) { return kv.first == key && kv.second == value; });
}

std::optional<std::string_view> Received::first(std::string_view key) const {
  for (const auto& [k, v] : tags) {
    if (k == key)
      return std::string_view(v);
  }
  return std::nullopt;
}

Receiver::Receiver(UniqueFd fd, Address address, ReceiverOptions options)
    : fd_(std::move(fd)), address_(std::move(address)), options_(options) {}

Receiver::Receiver(Receiver&& other) noexcept
    : fd_(std::move(other.fd_)),
      address_(other.address_),
      options_(other.options_),
      owns_path_(std::exchange(other.owns_path_, false)),
      path_dev_(other.path_dev_),
      path_ino_(other.path_ino_) {}

Receiver& Receiver::operator=(Receiver&& other) noexcept {
  if (this != &other) {
    unlink_own_path();
    fd_ = std::move(other.fd_);
    address_ = other.address_;
    options_ = other.options_;
    owns_path_ = std::exchange(other.owns_path_, false);
    path_dev_ = other.path_dev_;
    path_ino_ = other.path_ino_;
  }
  return *this;
}

Receiver::~Receiver() {
  unlink_own_path();
}

void Receiver::unlink_own_path() {
  if (!owns_path_)
    return;
  owns_path_ = false;
  // Only our own socket file: another Receiver may have replaced it since.
  struct stat st {};
  if (::lstat(address_.name().c_str(), &st) == 0 && st.st_dev == path_dev_ &&
      st.st_ino == path_ino_)
    ::unlink(address_.name().c_str());
}

SysResult<Receiver> Receiver::bind(const Address& addr, ReceiverOptions options) {
  using R = SysResult<Receiver>;
  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock)
    return R::failure(last_errno());
  const int on = 1;
  // Credentials are mandatory for every message (§1.3 rule 2): without SO_PASSCRED every one
  // would be ignored.
  if (::setsockopt(sock.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
    return R::failure(last_errno());
  // Optional, as in systemd: kernels before 6.5 do not have it.
  (void)::setsockopt(sock.get(), SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on);
  switch (options.fds) {
    case FdPolicy::accept:
      break;
    case FdPolicy::refuse: {
      // Best effort: before 6.16 there is no such option and receive() closes the fds instead.
      const int off = 0;
      (void)::setsockopt(sock.get(), SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof off);
      break;
    }
  }

  sockaddr_un sa{};
  const socklen_t sa_len = addr.to_sockaddr(sa);

  if (addr.kind() == Address::Kind::path) {
    struct stat st {};
    if (::lstat(addr.name().c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return R::failure(EADDRINUSE);
      // A socket file outlives its socket; only one nobody receives on may be replaced.
      UniqueFd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!probe)
        return R::failure(last_errno());
      if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sa), sa_len) == 0)
        return R::failure(EADDRINUSE);
      if (errno == ECONNREFUSED)
        (void)::unlink(addr.name().c_str());
    }
  }

  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&sa), sa_len) != 0)
    return R::failure(last_errno());

  Receiver rx(std::move(sock), addr, options);
  if (addr.kind() == Address::Kind::path) {
    struct stat st {};
    if (::lstat(addr.name().c_str(), &st) == 0) {
      rx.owns_path_ = true;
      rx.path_dev_ = st.st_dev;
      rx.path_ino_ = st.st_ino;
    }
  }
  return R(std::move(rx));
}

SysResult<bool> Receiver::wait(std::chrono::milliseconds timeout) const {
  const SysResult<short> r = poll_one(fd_.get(), POLLIN, timeout);
  if (!r.ok())
    return SysResult<bool>::failure(r.raw_errno());
  return (r.value() & POLLIN) != 0;
}

SysResult<Delivery> Receiver::receive() {
  using R = SysResult<Delivery>;
  // One byte more than NOTIFY_BUFFER_MAX is not needed: MSG_TRUNC reports a longer datagram.
  char buf[kNotifyBufferMax];
  const std::size_t control_size =
      CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int)) /* SCM_PIDFD */ +
      (options_.max_fds == 0 ? 0 : CMSG_SPACE(sizeof(int) * options_.max_fds));
  std::vector<std::max_align_t> control(control_size / sizeof(std::max_align_t) + 1);

  iovec iov{buf, sizeof buf};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.data();
  mh.msg_controllen = control_size;

  ssize_t n = 0;
  for (;;) {
    n = ::recvmsg(fd_.get(), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0)
      break;
    if (errno != EINTR)
      return R::failure(last_errno());
  }

  // Take ownership of every fd before looking at anything else, so each early return closes
  // them (rule 1: "a receiver that does not expect fds closes any it gets").
  std::vector<UniqueFd> fds;
  UniqueFd pidfd;
  std::optional<ucred> cred;
  const auto* const control_end = reinterpret_cast<const unsigned char*>(control.data()) +
                                  std::min<std::size_t>(mh.msg_controllen, control_size);
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_len < CMSG_LEN(0))
      break;
    if (c->cmsg_level != SOL_SOCKET)
      continue;
    const unsigned char* data = CMSG_DATA(c);
    if (data > control_end)
      break;
    // Bounded by the buffer too: after MSG_CTRUNC the kernel's lengths are the only guide.
    const std::size_t len = std::min<std::size_t>(c->cmsg_len - CMSG_LEN(0),
                                                  static_cast<std::size_t>(control_end - data));
    if (c->cmsg_type == SCM_RIGHTS) {
      for (std::size_t off = 0; off + sizeof(int) <= len; off += sizeof(int)) {
        int fd = -1;
        std::memcpy(&fd, data + off, sizeof fd);
        fds.emplace_back(fd);
      }
    } else if (c->cmsg_type == SCM_PIDFD && len >= sizeof(int)) {
      int fd = -1;
      std::memcpy(&fd, data, sizeof fd);
      pidfd.reset(fd);
    } else if (c->cmsg_type == SCM_CREDENTIALS && len >= sizeof(ucred)) {
      ucred u{};
      std::memcpy(&u, data, sizeof u);
      cred = u;
    }
  }

  const auto ignore = [&](IgnoreReason why) {
    return R(Delivery(Ignored{why, fds.size()}));  // fds and pidfd close on return
  };
  // systemd's order (recvmsg_safe(), then notify_recv_with_fds()).
  if ((mh.msg_flags & MSG_CTRUNC) != 0)
    return ignore(IgnoreReason::truncated_control_data);
  if ((mh.msg_flags & MSG_TRUNC) != 0)
    return ignore(IgnoreReason::truncated_payload);
  if (!cred || cred->pid <= 0)
    return ignore(IgnoreReason::missing_credentials);
  const auto size = static_cast<std::size_t>(n);
  if (size > 1 && std::memchr(buf, '\0', size - 1) != nullptr)
    return ignore(IgnoreReason::embedded_nul);
  std::string_view text(buf, size);
  if (!text.empty() && text.back() == '\0')
    text.remove_suffix(1);
  std::optional<std::vector<std::string>> lines = split_tags(text);
  if (!lines)
    return ignore(IgnoreReason::unterminated_escape);

  Received m;
  m.pid = cred->pid;
  m.uid = cred->uid;
  m.gid = cred->gid;
  for (std::string& line : *lines) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos)
      m.tags.emplace_back(std::move(line), std::string());
    else
      m.tags.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }

  // Rule 3: BARRIER=1 anywhere swallows the message; its fds close here, which is the signal.
  if (m.has("BARRIER", "1")) {
    Barrier b{m.pid, m.uid, m.gid, BarrierWarning::none, fds.size()};
    if (m.tags.size() != 1)
      b.warning = BarrierWarning::extra_tags;
    else if (fds.size() != 1)
      b.warning = BarrierWarning::wrong_fd_count;
    return R(Delivery(b));
  }
  switch (options_.fds) {
    case FdPolicy::accept:
      m.fds = std::move(fds);
      break;
    case FdPolicy::refuse:
      // systemd: "Received fds via notification while none is expected, closing all."
      m.fds_closed = fds.size();
      fds.clear();
      break;
  }
  m.pidfd = std::move(pidfd);
  return R(Delivery(std::move(m)));
}

// ---------------------------------------------------------------------------------------------
// fd-store interpretation

FdStoreRequest interpret_fd_store(Received&& message) {
  FdStoreRequest req;
  std::vector<UniqueFd> fds = std::move(message.fds);
  const std::optional<std::string_view> name = message.first("FDNAME");
  const bool name_valid = name.has_value() && fdname_is_valid(*name);
  req.name_was_invalid = name.has_value() && !name_valid;

  if (message.has("FDSTOREREMOVE", "1")) {
    if (name_valid) {
      req.kind = FdStoreRequest::Kind::remove;
      req.name = std::string(*name);
    } else {
      req.warnings.push_back(FdStoreWarning::remove_without_valid_name);
    }
  } else if (message.has("FDSTORE", "1")) {
    req.kind = FdStoreRequest::Kind::store;
    if (req.name_was_invalid)
      req.warnings.push_back(FdStoreWarning::invalid_name_ignored);
    req.name = name_valid ? std::string(*name) : std::string(kDefaultFdName);
    req.poll = message.has("FDPOLL", "0") ? Poll::off : Poll::on;
    req.fds.swap(fds);  // leaves fds empty: nothing extra
  }

  // Rule 7: whatever the request did not take.
  if (!fds.empty()) {
    req.fds_closed = fds.size();
    req.warnings.push_back(FdStoreWarning::extra_fds_closed);
    fds.clear();
  }
  return req;
}

}  // namespace luo::notify
