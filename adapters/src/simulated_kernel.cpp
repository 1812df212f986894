// SimulatedKernel: the kernel side of /dev/liveupdate, written from spec kernel-luo.md.
//
// Structure follows the kernel's: a device with an in-use flag and a once-per-boot
// deserialization, an outgoing and an incoming session list, per-session file lists, a
// per-inode table of preserved files (the 7.0 xarray) and release on the last close. The ioctl
// dispatch is the kernel's luo_ioctl()/luo_session_ioctl() sequence step by step (§1.3).
#include "luo/adapters/simulated_kernel.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <compare>
#include <cstring>
#include <iterator>
#include <list>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <variant>

#include "luo/adapters/uapi.hpp"
#include "luo/model/limits.hpp"
#include "simulated_memfd.hpp"
#include "simulated_user_memory.hpp"

// Deliberate bugs for the mutation report, compiled only into the test-only library copy
// luo_adapters_mutants (tests/mutants/); the shipped library has no mutation point.
#ifdef LUO_TEST_MUTANTS
#include "luo/test/mutants.hpp"
#endif

namespace luo {
namespace {

using sim::UserAddr;
using HandlerOp = SimulatedKernel::HandlerOp;
using IncomingSessionState = SimulatedKernel::IncomingSessionState;
using IncomingFileState = SimulatedKernel::IncomingFileState;

// An open file (caller's fd object) or an inode, as fstat() names it.
struct Identity {
  dev_t dev = 0;
  ino_t ino = 0;
  auto operator<=>(const Identity&) const = default;
};

std::optional<Identity> identity_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return std::nullopt;
  return Identity{st.st_dev, st.st_ino};
}

// The kernel's session name buffer: strscpy() of the user field into a zeroed 64-byte array,
// so at most 63 bytes and always NUL-terminated. An unterminated 64-byte field loses its last
// byte, which is how 6.19-7.1 "truncate" (§2.2).
using NameField = std::array<char, kSessionNameFieldSize>;

NameField store_name(const std::uint8_t (&raw)[kSessionNameFieldSize]) {
  NameField out{};
  const auto* begin = reinterpret_cast<const char*>(raw);
  const std::size_t len = ::strnlen(begin, kSessionNameMaxLength);
  std::memcpy(out.data(), begin, len);
  return out;
}

// The kernel compares names with strncmp over the 64-byte field: bytes after a NUL do not
// count, and an unterminated user field never equals a stored (terminated) name.
bool name_matches(const NameField& stored, const char* other) {
  return std::strncmp(stored.data(), other, kSessionNameFieldSize) == 0;
}

std::string name_string(const NameField& name) {
  return std::string(name.data());
}

// A device or session "struct file": the caller holds one end of a socketpair, we hold the
// other and learn about the last close from its hang-up.
struct Endpoint {
  UniqueFd peer;
  Identity caller;
  std::uint64_t key = 0;
};

struct OutgoingFile {
  std::uint64_t token = 0;
  UniqueFd ref;  // LUO's reference (the kernel's fget())
  Identity inode;
  unsigned seals = 0;  // snapshotted at PRESERVE_FD (§8)
  // Options::hold_images: the file as PRESERVE_FD saw it, in place of `ref`.
  std::optional<sim::MemfdImage> image;
};

struct OutgoingSession {
  NameField name{};
  std::vector<OutgoingFile> files;  // preservation order
  // Token -> index into `files` (files are never removed): a session of 100,000 files
  // (bench/handoff_bench) answers PRESERVE_FD without a scan of them all.
  std::unordered_map<std::uint64_t, std::size_t> by_token;
  Endpoint endpoint;
};

struct HandedOverFile {
  std::uint64_t token = 0;
  sim::MemfdImage image;
};

struct HandedOverSession {
  NameField name{};
  std::vector<HandedOverFile> files;
};

struct IncomingFile {
  std::uint64_t token = 0;
  sim::MemfdImage image;
  IncomingFileState state = IncomingFileState::preserved;
  int error = 0;
  UniqueFd restored;  // LUO's reference to the retrieved file, until FINISH
  Identity restored_inode;
};

struct IncomingSession {
  NameField name{};
  IncomingSessionState state = IncomingSessionState::deserialized;
  std::optional<Endpoint> endpoint;
  std::vector<IncomingFile> files;
  // Token -> index into `files`, as OutgoingSession::by_token (tokens are unique there).
  std::unordered_map<std::uint64_t, std::size_t> by_token;
};

struct DeviceTarget {};
using Target = std::variant<DeviceTarget, OutgoingSession*, IncomingSession*>;

struct NewEndpoint {
  UniqueFd caller;
  Endpoint endpoint;
};

struct PendingFault {
  int err = 0;
  unsigned skip = 0;
};

constexpr std::size_t kFaultCount = static_cast<std::size_t>(SimFault::reserve_session_fd) + 1;

// The session ops in the kernel's table order (index = nr - LIVEUPDATE_CMD_SESSION_BASE).
enum class SessionOp : std::uint8_t { preserve_fd, retrieve_fd, finish, get_name };
constexpr unsigned long kSessionCmds[] = {uapi::kPreserveFd, uapi::kRetrieveFd,
                                          uapi::kSessionFinish, uapi::kSessionGetName};
constexpr unsigned long kDeviceCmds[] = {uapi::kCreateSession, uapi::kRetrieveSession};

bool is_live(IncomingFileState state) {
  switch (state) {
    case IncomingFileState::preserved:
    case IncomingFileState::retrieved:
    case IncomingFileState::failed:
      return true;
    case IncomingFileState::finished:
    case IncomingFileState::discarded:
      return false;
  }
  return false;
}

SysResult<int> status(int err) {
  if (err != 0)
    return SysResult<int>::failure(err);
  return 0;
}

// Dispatch steps 5 and 6 (§1.3): the size check against min_size, then the extensible copy-in.
template <class Arg>
int copy_in(Arg& arg, UserAddr user, std::uint32_t size) {
  if (size < uapi::kMinSize<Arg>)
    return EINVAL;
  return sim::copy_struct_from_user(&arg, sizeof arg, user, size);
}

// Step 9: min(size, sizeof) bytes back, inputs echoed.
template <class Arg>
int copy_out(UserAddr user, std::uint32_t size, const Arg& arg) {
  return sim::copy_to_user(user, &arg, std::min<std::size_t>(size, sizeof arg));
}

}  // namespace

struct SimulatedKernel::State {
  KernelProfile profile;
  Options options;
  UniqueFd epoll;  // hang-ups of our socketpair ends = releases
  std::uint64_t boot = 0;
  std::uint64_t next_key = 1;

  std::optional<Endpoint> device;
  bool deserialized = false;
  bool deserialize_failed = false;
  std::vector<HandedOverSession> handed_over;  // the previous boot's data, until deserialized

  std::list<OutgoingSession> outgoing;  // creation order
  std::list<IncomingSession> incoming;  // handover order
  // Inodes preserved by outgoing sessions or retrieved by unfinished incoming ones (§3.1 step
  // 5). A count, because without the check (6.19) one inode can be preserved twice.
  std::map<Identity, unsigned> preserved_inodes;
  // Every memfd RETRIEVE_FD created in this boot: its /proc link is the kernel's "/ (deleted)".
  std::set<Identity> retrieved_inodes;

  std::map<std::uint64_t, Target> by_key;
  std::map<Identity, std::uint64_t> by_caller;
  std::set<Identity> stale;  // device/session fds of earlier boots

  std::array<std::optional<PendingFault>, kFaultCount> faults;
  std::vector<HandlerCall> log;
  // The process the current call is made for, when it is not this one (ioctl_for).
  SimulatedCaller* remote = nullptr;

  State(KernelProfile p, Options o) : profile(p), options(o) {
    epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll)
      throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }

  bool has(Feature f) const { return profile_has(profile, f); }

  std::optional<int> fire(SimFault where) {
    auto& slot = faults[static_cast<std::size_t>(where)];
    if (!slot)
      return std::nullopt;
    if (slot->skip > 0) {
      --slot->skip;
      return std::nullopt;
    }
    const int err = slot->err;
    slot.reset();
    return err;
  }

  void record(HandlerOp op, const NameField& session, std::uint64_t token) {
    log.push_back(HandlerCall{op, name_string(session), token});
  }

  void table_add(Identity inode) { ++preserved_inodes[inode]; }
  void table_remove(Identity inode) {
    const auto it = preserved_inodes.find(inode);
    if (it != preserved_inodes.end() && --it->second == 0)
      preserved_inodes.erase(it);
  }

  // --- fds ----------------------------------------------------------------------------------

  // Reserving the caller's fd is the first thing an fd-returning op does (§1.3 "fd creation"),
  // so EMFILE beats every handler error.
  SysResult<NewEndpoint> make_endpoint() {
    if (remote != nullptr && remote->fd_slot() < 0)
      return SysResult<NewEndpoint>::failure(EMFILE);  // the caller's table is full
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      return SysResult<NewEndpoint>::failure(errno);
    }
    UniqueFd caller(sv[0]);
    UniqueFd peer(sv[1]);
    const auto id = identity_of(caller.get());
    if (!id)
      return SysResult<NewEndpoint>::failure(errno);
    // A read() on the caller's end then sees EOF at once instead of blocking forever; only one
    // direction, since shutting both would look like a hang-up.
    ::shutdown(peer.get(), SHUT_WR);
    const std::uint64_t key = next_key++;
    epoll_event ev{};
    ev.events = EPOLLONESHOT;  // EPOLLHUP is always reported; once is enough
    ev.data.u64 = key;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, peer.get(), &ev) != 0) {
      return SysResult<NewEndpoint>::failure(errno);
    }
    return NewEndpoint{std::move(caller), Endpoint{std::move(peer), *id, key}};
  }

  // The number a new fd has in the caller's table, and the fd_install() after a successful
  // copy-back: ours to keep in this process, the caller's when it lives elsewhere.
  int user_fd_number(const UniqueFd& fd) const {
    return remote != nullptr ? remote->fd_slot() : fd.get();
  }
  void hand_out(UniqueFd fd) {
    if (remote != nullptr)
      remote->install_fd(std::move(fd));
    else
      (void)fd.release();
  }

  void attach(const Endpoint& ep, Target target) {
    by_key.emplace(ep.key, target);
    by_caller.emplace(ep.caller, ep.key);
  }
  void detach(const Endpoint& ep) {
    by_key.erase(ep.key);
    by_caller.erase(ep.caller);
  }

  // fdget() plus the file-operations lookup of ioctl(2).
  SysResult<Target> resolve(int fd) const {
    if (fd < 0)
      return SysResult<Target>::failure(EBADF);
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0)
      return SysResult<Target>::failure(errno);
    if ((flags & O_PATH) != 0)
      return SysResult<Target>::failure(EBADF);
    const auto id = identity_of(fd);
    if (!id)
      return SysResult<Target>::failure(errno);
    if (const auto it = by_caller.find(*id); it != by_caller.end())
      return by_key.at(it->second);
    if (stale.count(*id) != 0)
      return SysResult<Target>::failure(EBADF);
    return SysResult<Target>::failure(ENOTTY);
  }

  // --- releases -----------------------------------------------------------------------------

  // The kernel releases a file the moment its last reference goes; we notice at the next entry
  // point, before anything could observe the difference. Several releases found at once run
  // device first, then sessions in list order (the real order of the closes is unknowable).
  void reap() {
    std::set<std::uint64_t> hung;
    std::array<epoll_event, 64> events{};
    for (;;) {
      const int n = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      for (int i = 0; i < n; ++i) {
        // epoll_event is packed on x86-64: copy the key out before binding a reference to it.
        const std::uint64_t key = events[static_cast<std::size_t>(i)].data.u64;
        hung.insert(key);
      }
    }
    if (hung.empty())
      return;
    if (device && hung.count(device->key) != 0)
      release_device();
    for (auto it = outgoing.begin(); it != outgoing.end();) {
      it = hung.count(it->endpoint.key) != 0 ? release_outgoing(it) : std::next(it);
    }
    for (auto it = incoming.begin(); it != incoming.end();) {
      it =
          it->endpoint && hung.count(it->endpoint->key) != 0 ? release_incoming(it) : std::next(it);
    }
  }

  void release_device() {
    detach(*device);
    device.reset();  // the in-use flag; sessions live on (§1.2)
  }

  // §2.3: unpreserve LIFO, drop LUO's references, free the session (its name is free again).
  std::list<OutgoingSession>::iterator release_outgoing(std::list<OutgoingSession>::iterator it) {
    detach(it->endpoint);
#ifdef LUO_TEST_MUTANTS
    if (LUO_MUTANT(fifo_unpreserve)) {
      for (const OutgoingFile& f : it->files) {
        record(HandlerOp::unpreserve, it->name, f.token);
        table_remove(f.inode);
      }
      return outgoing.erase(it);
    }
#endif
    for (auto f = it->files.rbegin(); f != it->files.rend(); ++f) {
      record(HandlerOp::unpreserve, it->name, f->token);
      table_remove(f->inode);
    }
    return outgoing.erase(it);
  }

  // §2.4: implicit FINISH; on a veto the session stays, retrieved and unreachable.
  std::list<IncomingSession>::iterator release_incoming(std::list<IncomingSession>::iterator it) {
    detach(*it->endpoint);
    it->endpoint.reset();
    if (finish_session(*it) != 0)
      return std::next(it);
    return incoming.erase(it);
  }

  // §3.3: can_finish FIFO (a veto changes nothing), then finish LIFO; unretrieved files are
  // discarded. A finished session has no live files left, so a second FINISH is a no-op.
  int finish_session(IncomingSession& s) {
    for (const IncomingFile& f : s.files) {
      if (!is_live(f.state))
        continue;
      record(HandlerOp::can_finish, s.name, f.token);
      if (fire(SimFault::can_finish))
        return EBUSY;
    }
    for (auto f = s.files.rbegin(); f != s.files.rend(); ++f) {
      switch (f->state) {
        case IncomingFileState::retrieved:
          record(HandlerOp::finish, s.name, f->token);
#ifdef LUO_TEST_MUTANTS
          if (!LUO_MUTANT(finish_keeps_preservation_entry))
            table_remove(f->restored_inode);
#else
          table_remove(f->restored_inode);
#endif
          f->restored.reset();  // the process's fds stay valid: they hold their own references
          f->state = IncomingFileState::finished;
          break;
        case IncomingFileState::preserved:
        case IncomingFileState::failed:
#ifdef LUO_TEST_MUTANTS
          if (LUO_MUTANT(finish_keeps_unretrieved) && f->state == IncomingFileState::preserved)
            break;
#endif
          record(HandlerOp::discard, s.name, f->token);
          f->image.release();  // the kernel frees the preserved pages here
          f->state = IncomingFileState::discarded;
          break;
        case IncomingFileState::finished:
        case IncomingFileState::discarded:
          break;
      }
    }
    s.state = IncomingSessionState::finished;
    return 0;
  }

  // --- device -------------------------------------------------------------------------------

  SysResult<UniqueFd> open_device() {
    auto ep = make_endpoint();  // open(2) allocates the fd before it looks up the path
    if (!ep.ok())
      return SysResult<UniqueFd>::failure(ep.raw_errno());
    if (!options.luo_enabled)
      return SysResult<UniqueFd>::failure(ENOENT);
    if (device)
      return SysResult<UniqueFd>::failure(EBUSY);
    if (!deserialized) {
      deserialized = true;
      if (fire(SimFault::deserialize)) {
        deserialize_failed = true;  // partial state is leaked; nothing reaches the lists
      } else {
        deserialize();
      }
    }
    if (deserialize_failed)
      return SysResult<UniqueFd>::failure(EIO);
    device = std::move(ep.value().endpoint);
    attach(*device, DeviceTarget{});
    return std::move(ep.value().caller);
  }

  void deserialize() {
    for (HandedOverSession& h : handed_over) {
      IncomingSession& s = incoming.emplace_back();
      s.name = h.name;
      for (HandedOverFile& f : h.files) {
        s.by_token.emplace(f.token, s.files.size());
        IncomingFile& in = s.files.emplace_back();
        in.token = f.token;
        in.image = std::move(f.image);
      }
    }
    handed_over.clear();
  }

  SysResult<int> device_ioctl(std::uint32_t cmd, UserAddr arg) {
    const unsigned index = (cmd & 0xFFU) - uapi::kDeviceCmdBase;
    if (index >= uapi::kDeviceOpCount)
      return status(EINVAL);
    std::uint32_t size = 0;
    if (sim::copy_from_user(&size, arg, sizeof size) != 0)
      return status(EFAULT);
    if (cmd != kDeviceCmds[index])
      return status(ENOTTY);  // ENOIOCTLCMD
    return status(index == 0 ? create_session(arg, size) : retrieve_session(arg, size));
  }

  // CREATE_SESSION and RETRIEVE_SESSION share the kernel's frame: copy the argument in, reserve
  // the new fd (a fault point) and make the session file; `bind` gives the file its session or
  // refuses with an errno (the fd and the file go again); then the fd number is copied back out,
  // `unbind` being the kernel's error path when that faults, and the fd is installed.
  template <class Arg, class Bind, class Unbind>
  int new_session_fd(UserAddr user, std::uint32_t size, Bind bind, Unbind unbind) {
    Arg arg{};
    if (const int err = copy_in(arg, user, size); err != 0)
      return err;
    if (const auto err = fire(SimFault::reserve_session_fd))
      return *err;
    auto ep = make_endpoint();
    if (!ep.ok())
      return ep.raw_errno();
    if (const int err = bind(arg, ep.value().endpoint); err != 0)
      return err;
    arg.fd = user_fd_number(ep.value().caller);
    if (copy_out(user, size, arg) != 0) {
      unbind();
      return EFAULT;
    }
    hand_out(std::move(ep.value().caller));
    return 0;
  }

  int create_session(UserAddr user, std::uint32_t size) {
    const auto bind = [&](const uapi::CreateSessionArg& arg, Endpoint& endpoint) {
      if (has(Feature::session_name_validation)) {
        const bool terminated = std::memchr(arg.name, 0, sizeof arg.name) != nullptr;
        if (!terminated || arg.name[0] == 0)
          return EINVAL;
      }
      const NameField name = store_name(arg.name);
      // The legacy serialization array is checked before the duplicate scan, as in the kernel.
      if (has(Feature::legacy_limits) && outgoing.size() >= kLegacyMaxOutgoingSessions)
        return ENOMEM;
      for (const OutgoingSession& s : outgoing) {
        if (name_matches(s.name, name.data()))
          return EEXIST;
      }
      OutgoingSession& s = outgoing.emplace_back();
      s.name = name;
      s.endpoint = std::move(endpoint);
      attach(s.endpoint, &s);
      return 0;
    };
    // The fput() of the error path.
    const auto unbind = [&] { release_outgoing(std::prev(outgoing.end())); };
    return new_session_fd<uapi::CreateSessionArg>(user, size, bind, unbind);
  }

  int retrieve_session(UserAddr user, std::uint32_t size) {
    auto it = incoming.end();
    const auto bind = [&](const uapi::RetrieveSessionArg& arg, Endpoint& endpoint) {
      const auto* wanted = reinterpret_cast<const char*>(arg.name);
      it = std::find_if(incoming.begin(), incoming.end(),
                        [&](const IncomingSession& s) { return name_matches(s.name, wanted); });
      if (it == incoming.end())
        return ENOENT;
      if (it->state != IncomingSessionState::deserialized)
        return EINVAL;
      it->state = IncomingSessionState::retrieved;
      it->endpoint = std::move(endpoint);
      attach(*it->endpoint, &*it);
      return 0;
    };
    // Observed on 7.2/7.3: an implicit FINISH, the session is gone (§8).
    const auto unbind = [&] { release_incoming(it); };
    return new_session_fd<uapi::RetrieveSessionArg>(user, size, bind, unbind);
  }

  // --- sessions -----------------------------------------------------------------------------

  SysResult<int> session_ioctl(Target target, std::uint32_t cmd, UserAddr arg) {
    const unsigned index = (cmd & 0xFFU) - uapi::kSessionCmdBase;
    const unsigned ops =
        has(Feature::get_name) ? uapi::kSessionOpCount : uapi::kSessionOpCountLegacy;
    if (index >= ops)
      return status(EINVAL);
    std::uint32_t size = 0;
    if (sim::copy_from_user(&size, arg, sizeof size) != 0)
      return status(EFAULT);
    if (cmd != kSessionCmds[index])
      return status(ENOTTY);
    auto* out = std::get_if<OutgoingSession*>(&target);
    auto* in = std::get_if<IncomingSession*>(&target);
    const auto op = static_cast<SessionOp>(index);
    if (has(Feature::session_type_check)) {
      bool allowed = true;
      switch (op) {
        case SessionOp::preserve_fd:
          allowed = out != nullptr;
          break;
        case SessionOp::retrieve_fd:
        case SessionOp::finish:
          allowed = in != nullptr;
          break;
        case SessionOp::get_name:
          break;
      }
      if (!allowed)
        return status(EINVAL);
    }
    switch (op) {
      case SessionOp::preserve_fd:
        return status(preserve_fd(out ? *out : nullptr, arg, size));
      case SessionOp::retrieve_fd:
        return status(retrieve_fd(in ? *in : nullptr, out ? *out : nullptr, arg, size));
      case SessionOp::finish:
        return status(finish(in ? *in : nullptr, arg, size));
      case SessionOp::get_name:
        return status(get_name(out ? (*out)->name : (*in)->name, arg, size));
    }
    return status(ENOTTY);
  }

  // A null session below means "the op reached the handler on the wrong kind of session",
  // which only profiles without Feature::session_type_check allow. The real pre-7.2 kernels
  // then ran the handler on the wrong data with undefined results (§2.5 asks to model 7.2), so
  // the simulator refuses it with the same EINVAL, but only after the copy-in (and, for
  // RETRIEVE_FD, the fd reservation and the token lookup: an unknown token is ENOENT before any
  // handler runs, §3.2), where a 6.19 kernel would have reached the handler.

  int preserve_fd(OutgoingSession* s, UserAddr user, std::uint32_t size) {
    uapi::PreserveFdArg arg{};
    if (const int err = copy_in(arg, user, size); err != 0)
      return err;
    if (s == nullptr)
      return EINVAL;
    if (s->by_token.contains(arg.token))
      return EEXIST;
    if (has(Feature::legacy_limits) && s->files.size() >= options.legacy_files_per_session) {
      return ENOSPC;
    }
    // fget(): an O_PATH fd has no file LUO could use.
    if (arg.fd < 0)
      return EBADF;
    UniqueFd ref;
    if (remote != nullptr) {
      auto got = remote->get_fd(arg.fd);
      if (!got.ok())
        return got.raw_errno();
      ref = std::move(got.value());
    } else {
      if (::fcntl(arg.fd, F_GETFL) < 0)
        return EBADF;
      ref.reset(::fcntl(arg.fd, F_DUPFD_CLOEXEC, 0));
      if (!ref)
        return errno;  // simulator-only: our reference costs an fd
    }
    const int flags = ::fcntl(ref.get(), F_GETFL);
    if (flags < 0 || (flags & O_PATH) != 0)
      return EBADF;
    if (!sim::memfd_handler_accepts(ref.get()))
      return ENOENT;
    const auto inode = identity_of(ref.get());
    if (!inode)
      return errno;
    bool check_double = has(Feature::double_preservation_check);
#ifdef LUO_TEST_MUTANTS
    check_double = check_double && !LUO_MUTANT(no_double_preservation_ebusy);
#endif
    if (check_double && preserved_inodes.count(*inode) != 0)
      return EBUSY;
    record(HandlerOp::preserve, s->name, arg.token);
    if (const auto err = fire(SimFault::preserve_handler))
      return *err;
    const unsigned seals = sim::memfd_seals(ref.get());
    if (has(Feature::memfd_seals_preserved) && (seals & ~sim::memfd_supported_seals()) != 0) {
      return EOPNOTSUPP;
    }
    // After the seal check, as in memfd_luo_preserve() (7.2.13). Without the limit the handler
    // tries to pin every page, which cannot succeed either.
    struct stat st {};
    if (::fstat(ref.get(), &st) != 0)
      return errno;
    if (sim::memfd_exceeds_page_limit(st.st_size))
      return has(Feature::memfd_size_limit) ? EFBIG : ENOMEM;
    std::optional<sim::MemfdImage> image;
    if (options.hold_images) {
      auto captured = sim::memfd_capture(ref.get());
      if (!captured.ok())
        return captured.raw_errno();
      image = std::move(captured.value());
      image->seals = seals;
      ref.reset();
    }
    s->by_token.emplace(arg.token, s->files.size());
    s->files.push_back(OutgoingFile{arg.token, std::move(ref), *inode, seals, std::move(image)});
    table_add(*inode);
    // From here on a failure is reported but the file stays preserved (§3.1 step 8).
    if (const auto err = fire(SimFault::preserve_copy_back))
      return *err;
    return copy_out(user, size, arg) != 0 ? EFAULT : 0;
  }

  int retrieve_fd(IncomingSession* s, const OutgoingSession* wrong_kind, UserAddr user,
                  std::uint32_t size) {
    uapi::RetrieveFdArg arg{};
    if (const int err = copy_in(arg, user, size); err != 0)
      return err;
    // get_unused_fd_flags(): any fd of ours will do as a placeholder for the number.
    if (remote != nullptr && remote->fd_slot() < 0)
      return EMFILE;
    UniqueFd reserved(::fcntl(epoll.get(), F_DUPFD_CLOEXEC, 0));
    if (!reserved)
      return errno;
    if (s == nullptr) {
      const bool known = wrong_kind != nullptr &&
                         std::any_of(wrong_kind->files.begin(), wrong_kind->files.end(),
                                     [&](const OutgoingFile& f) { return f.token == arg.token; });
      return known ? EINVAL : ENOENT;
    }
    const auto it = s->by_token.find(arg.token);
    if (it == s->by_token.end() || !is_live(s->files[it->second].state))
      return ENOENT;
    IncomingFile& f = s->files[it->second];
#ifdef LUO_TEST_MUTANTS
    const bool repeat = f.state == IncomingFileState::retrieved;
#endif
    switch (f.state) {
      case IncomingFileState::retrieved:
        break;  // idempotent: the same open file again
      case IncomingFileState::failed:
        return f.error;
      case IncomingFileState::preserved:
        if (const int err = retrieve_file(*s, f); err != 0)
          return err;
        break;
      case IncomingFileState::finished:
      case IncomingFileState::discarded:
        return ENOENT;
    }
    arg.fd = user_fd_number(reserved);
    // On a copy-back fault the new fd goes away but LUO keeps the file: a retry succeeds.
    if (copy_out(user, size, arg) != 0)
      return EFAULT;
    int source = f.restored.get();
#ifdef LUO_TEST_MUTANTS
    UniqueFd copy;  // a fresh file with the same contents: not the same open file description
    if (LUO_MUTANT(retrieve_not_idempotent) && repeat) {
      if (auto image = sim::memfd_capture(source); image.ok()) {
        if (auto fresh = sim::memfd_restore(image.value(), false); fresh.ok()) {
          copy = std::move(fresh.value());
          source = copy.get();
        }
      }
    }
#endif
    if (::dup3(source, reserved.get(), O_CLOEXEC) < 0)
      return errno;
    if (options.hold_images)
      f.restored.reset();  // the caller's fd is now the only one
    hand_out(std::move(reserved));
    return 0;
  }

  int retrieve_file(const IncomingSession& s, IncomingFile& f) {
    record(HandlerOp::retrieve, s.name, f.token);
    int err = fire(SimFault::retrieve_handler).value_or(0);
    if (err == 0) {
      auto restored = sim::memfd_restore(f.image, has(Feature::memfd_seals_preserved));
      if (restored.ok()) {
        const auto inode = identity_of(restored.value().get());
        if (inode) {
          f.restored = std::move(restored.value());
          f.restored_inode = *inode;
        } else {
          err = errno;
        }
      } else {
        err = restored.raw_errno();
      }
    }
    if (err != 0) {
      if (has(Feature::sticky_retrieve_failure)) {
        f.state = IncomingFileState::failed;
        f.error = err;
      }
      return err;
    }
    f.image.release();  // the data now lives in the file
    f.state = IncomingFileState::retrieved;
    table_add(f.restored_inode);
    retrieved_inodes.insert(f.restored_inode);
    return 0;
  }

  int finish(IncomingSession* s, UserAddr user, std::uint32_t size) {
    uapi::SessionFinishArg arg{};
    if (const int err = copy_in(arg, user, size); err != 0)
      return err;
    if (has(Feature::finish_reserved_checked) && arg.reserved != 0)
      return EINVAL;
    if (s == nullptr)
      return EINVAL;
    if (const int err = finish_session(*s); err != 0)
      return err;
    return copy_out(user, size, arg) != 0 ? EFAULT : 0;  // finished either way
  }

  int get_name(const NameField& name, UserAddr user, std::uint32_t size) {
    uapi::SessionGetNameArg arg{};
    if (const int err = copy_in(arg, user, size); err != 0)
      return err;
    if (arg.reserved != 0)
      return EINVAL;
    std::memcpy(arg.name, name.data(), sizeof arg.name);  // stored names are NUL-terminated
    return copy_out(user, size, arg) != 0 ? EFAULT : 0;
  }

  // --- reboot -------------------------------------------------------------------------------

  SysStatus kexec() {
    std::vector<HandedOverSession> out;
    for (auto it = outgoing.begin(); it != outgoing.end(); ++it) {
      HandedOverSession& h = out.emplace_back();
      h.name = it->name;
      for (std::size_t i = 0; i < it->files.size(); ++i) {
        const OutgoingFile& f = it->files[i];
        record(HandlerOp::freeze, it->name, f.token);
        int err = fire(SimFault::freeze).value_or(0);
        if (err == 0) {
          // A held image is copied: a later freeze failure rolls back to the session as it was.
          auto image =
              f.image ? SysResult<sim::MemfdImage>(*f.image) : sim::memfd_capture(f.ref.get());
          if (image.ok()) {
            image.value().seals = f.seals;
#ifdef LUO_TEST_MUTANTS
            if (LUO_MUTANT(freeze_forgets_position))
              image.value().position = 0;
#endif
            h.files.push_back(HandedOverFile{f.token, std::move(image.value())});
          } else {
            err = image.raw_errno();
          }
        }
        if (err != 0) {
          unfreeze(it, i);
          return SysStatus::failure(err);
        }
      }
    }
    boot_next(std::move(out));
    return sys_ok();
  }

  // §3.5: the failing session's already-frozen files FIFO, then the earlier sessions in
  // reverse order, each FIFO.
  void unfreeze(std::list<OutgoingSession>::iterator failing, std::size_t frozen) {
    for (std::size_t i = 0; i < frozen; ++i) {
      record(HandlerOp::unfreeze, failing->name, failing->files[i].token);
    }
    for (auto it = std::make_reverse_iterator(failing); it != outgoing.rend(); ++it) {
      for (const OutgoingFile& f : it->files)
        record(HandlerOp::unfreeze, it->name, f.token);
    }
  }

  // The new kernel: the old one's device and session files died with it, so their fds are
  // stale; its incoming sessions (retrieved or not) are not carried over (§2.7, §8).
  void boot_next(std::vector<HandedOverSession> out) {
    if (device)
      stale.insert(device->caller);
    for (const OutgoingSession& s : outgoing)
      stale.insert(s.endpoint.caller);
    for (const IncomingSession& s : incoming) {
      if (s.endpoint)
        stale.insert(s.endpoint->caller);
    }
    by_key.clear();
    by_caller.clear();
    device.reset();
    outgoing.clear();
    incoming.clear();
    preserved_inodes.clear();
    retrieved_inodes.clear();
    handed_over = std::move(out);
    deserialized = false;
    deserialize_failed = false;
    ++boot;
  }

  Snapshot snapshot() const {
    Snapshot snap;
    snap.boot_number = boot;
    snap.device_open = device.has_value();
    snap.incoming_deserialized = deserialized;
    snap.deserialize_failed = deserialize_failed;
    for (const OutgoingSession& s : outgoing) {
      Snapshot::OutgoingSession& o = snap.outgoing.emplace_back();
      o.name = name_string(s.name);
      for (const OutgoingFile& f : s.files)
        o.tokens.push_back(f.token);
    }
    for (const IncomingSession& s : incoming) {
      Snapshot::IncomingSession& i = snap.incoming.emplace_back();
      i.name = name_string(s.name);
      i.state = s.state;
      i.open = s.endpoint.has_value();
      for (const IncomingFile& f : s.files)
        i.files.push_back({f.token, f.state, f.error});
    }
    return snap;
  }
};

SimulatedKernel::SimulatedKernel(KernelProfile profile, Options options)
    : state_(std::make_unique<State>(profile, options)) {}

SimulatedKernel::~SimulatedKernel() = default;

SysResult<UniqueFd> SimulatedKernel::open_device() {
  state_->reap();
  return state_->open_device();
}

SysResult<int> SimulatedKernel::ioctl(int fd, unsigned long cmd, void* arg) {
  state_->reap();
  auto target = state_->resolve(fd);
  if (!target.ok())
    return SysResult<int>::failure(target.raw_errno());
  // ioctl(2) takes the command as an unsigned int; the upper bits never reach the driver.
  const auto kcmd = static_cast<std::uint32_t>(cmd);
  const UserAddr user = sim::user_addr(arg);
  if (std::holds_alternative<DeviceTarget>(target.value())) {
    return state_->device_ioctl(kcmd, user);
  }
  return state_->session_ioctl(target.value(), kcmd, user);
}

SysResult<int> SimulatedKernel::ioctl_for(SimulatedCaller& caller, int fd, unsigned long cmd,
                                          void* arg) {
  // Both are reset on every exit path, exceptions included (the caller may vanish mid-call).
  struct Scope {
    State& state;
    Scope(State& s, SimulatedCaller& c) : state(s) {
      state.remote = &c;
      sim::set_user_process(c.pid());
    }
    ~Scope() {
      state.remote = nullptr;
      sim::set_user_process(0);
    }
  } scope(*state_, caller);
  return ioctl(fd, cmd, arg);
}

bool SimulatedKernel::mapping_frozen(int fd) {
  state_->reap();
  const auto inode = identity_of(fd);
  if (!inode)
    return false;
  for (const OutgoingSession& s : state_->outgoing) {
    for (const OutgoingFile& f : s.files) {
      if (f.inode == *inode)
        return true;
    }
  }
  return false;
}

std::optional<std::string> SimulatedKernel::link_text(int fd) {
  state_->reap();
  // A retrieved memfd: the kernel's new shmem file has an empty name and no "memfd:" prefix.
  if (const auto inode = identity_of(fd); inode && state_->retrieved_inodes.count(*inode) != 0)
    return std::string("/ (deleted)");
  auto target = state_->resolve(fd);
  if (!target.ok())
    return std::nullopt;
  if (std::holds_alternative<DeviceTarget>(target.value()))
    return std::string("/dev/liveupdate");
  const NameField& name = std::holds_alternative<OutgoingSession*>(target.value())
                              ? std::get<OutgoingSession*>(target.value())->name
                              : std::get<IncomingSession*>(target.value())->name;
  return "anon_inode:[luo_session] " + name_string(name);
}

bool SimulatedKernel::is_device(int fd) {
  state_->reap();
  auto target = state_->resolve(fd);
  return target.ok() && std::holds_alternative<DeviceTarget>(target.value());
}

SysStatus SimulatedKernel::kexec() {
  state_->reap();
  return state_->kexec();
}

void SimulatedKernel::inject(SimFault where, int err, unsigned skip) {
  state_->faults[static_cast<std::size_t>(where)] = PendingFault{err, skip};
}

void SimulatedKernel::clear_faults() {
  state_->faults = {};
}

KernelProfile SimulatedKernel::profile() const {
  return state_->profile;
}

std::uint64_t SimulatedKernel::boot_number() const {
  return state_->boot;
}

std::size_t SimulatedKernel::image_bytes() {
  state_->reap();
  std::size_t n = 0;
  for (const HandedOverSession& s : state_->handed_over) {
    for (const HandedOverFile& f : s.files)
      n += f.image.held_bytes();
  }
  for (const IncomingSession& s : state_->incoming) {
    for (const IncomingFile& f : s.files)
      n += f.image.held_bytes();
  }
  return n;
}

SimulatedKernel::Snapshot SimulatedKernel::snapshot() {
  state_->reap();
  return state_->snapshot();
}

std::vector<SimulatedKernel::HandlerCall> SimulatedKernel::handler_log() {
  state_->reap();
  return state_->log;
}

void SimulatedKernel::clear_handler_log() {
  state_->reap();
  state_->log.clear();
}

std::string_view incoming_session_state_name(SimulatedKernel::IncomingSessionState state) {
  switch (state) {
    case IncomingSessionState::deserialized:
      return "deserialized";
    case IncomingSessionState::retrieved:
      return "retrieved";
    case IncomingSessionState::finished:
      return "finished";
  }
  return "?";
}

std::string_view incoming_file_state_name(SimulatedKernel::IncomingFileState state) {
  switch (state) {
    case IncomingFileState::preserved:
      return "preserved";
    case IncomingFileState::retrieved:
      return "retrieved";
    case IncomingFileState::failed:
      return "failed";
    case IncomingFileState::finished:
      return "finished";
    case IncomingFileState::discarded:
      return "discarded";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, SimulatedKernel::IncomingSessionState state) {
  return os << incoming_session_state_name(state);
}

std::ostream& operator<<(std::ostream& os, SimulatedKernel::IncomingFileState state) {
  return os << incoming_file_state_name(state);
}

}  // namespace luo
