// preload.cpp: libluo-sim-preload.so, the LD_PRELOAD shim luo-sim puts into every process of a
// run. It sends what a LUO client does to the kernel to the luo-sim server (protocol.hpp) and
// passes everything else to libc unchanged:
//
//   open/openat("/dev/liveupdate")       the simulated device (exclusive across processes, 0600)
//   stat/lstat/fstatat/access of it      a 0600 root:root character device (LUO is available)
//   ioctl on a device or session fd      the raw bytes, read and written by the server in place
//   read/write on a session fd           EINVAL, as on the kernel's anon inode
//   a preserved memfd ("mapping frozen")  ftruncate to another size, fallocate: EPERM; a write
//                                        crossing EOF: cut at the last page boundary before EOF
//                                        or EPERM (write/pwrite/writev/pwritev); F_ADD_SEALS
//                                        with F_SEAL_WRITE: EBUSY
//   fstatfs on a device or session fd    the anon-inode filesystem (f_type 0x09041934)
//   readlink("/proc/self/fd/N")          "anon_inode:[luo_session] NAME" for a session fd,
//                                        "/ (deleted)" for a memfd RETRIEVE_FD created
//   kexec_file_load / kexec_load         "an image is loaded" (nothing reaches the host)
//   reboot(LINUX_REBOOT_CMD_KEXEC)       the simulated kexec: on success this process is killed
//                                        with every other process of the boot
//   reboot(any other command)            ends the run (never the host's reboot)
//
// Device and session fds are real sockets made by the server, so they travel by fork, dup and
// SCM_RIGHTS like any fd; the shim recognises one by its peer credentials (the server's pid).
// Without LUO_SIM_SOCKET in the environment the shim does nothing.
//
// Static binaries do not load the shim: they see the host kernel (normally no /dev/liveupdate,
// so ENOENT: "LUO not available").
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "luo/adapters/uapi.hpp"
#include "protocol.hpp"

namespace {

using luo::simtool::Op;
using luo::simtool::Reply;
using luo::simtool::Request;

using luo::uapi::kDevicePath;
// The anon-inode filesystem a session fd lives on (spec §8); linux/magic.h names it from 6.x on.
constexpr long kAnonInodeMagic = 0x09041934;

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

using IoctlFn = int (*)(int, unsigned long, ...);
using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using ReadFn = ssize_t (*)(int, void*, size_t);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using FstatfsFn = int (*)(int, struct statfs*);
using ReadlinkFn = ssize_t (*)(const char*, char*, size_t);
using ReadlinkatFn = ssize_t (*)(int, const char*, char*, size_t);
using RebootFn = int (*)(int);
using SyscallFn = long (*)(long, ...);

// The server connection of this process (a forked child makes its own: the server knows a
// client by the connection's peer pid).
struct Client {
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  int sock = -1;
  pid_t owner = 0;
  dev_t dev = 0;
  ino_t ino = 0;
};
Client client;

const char* socket_path() {
  return std::getenv(luo::simtool::kSocketEnv);
}

bool active() {
  return socket_path() != nullptr;
}

pid_t server_pid() {
  static const pid_t pid = [] {
    const char* text = std::getenv(luo::simtool::kServerPidEnv);
    return text != nullptr ? static_cast<pid_t>(std::atoi(text)) : 0;
  }();
  return pid;
}

// Still our socket? The program may have closed it (closefrom) and reused the number.
bool connection_valid() {
  if (client.sock < 0 || client.owner != ::getpid())
    return false;
  struct stat st {};
  return ::fstat(client.sock, &st) == 0 && st.st_dev == client.dev && st.st_ino == client.ino;
}

int connect_server() {
  if (connection_valid())
    return client.sock;
  client.sock = -1;  // closed or reused by the program: the number is not ours to close
  const char* path = socket_path();
  if (path == nullptr)
    return -1;
  const int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(s);
    return -1;
  }
  // Out of the way of the program's own low fd numbers (the kernel hands out the lowest).
  int high = ::fcntl(s, F_DUPFD_CLOEXEC, 512);
  if (high >= 0) {
    ::close(s);
  } else {
    high = s;
  }
  struct stat st {};
  ::fstat(high, &st);
  client.sock = high;
  client.owner = ::getpid();
  client.dev = st.st_dev;
  client.ino = st.st_ino;
  return high;
}

void forget_connection_in_child() {
  // The child shares the parent's socket; closing our copy leaves the parent's intact.
  if (client.sock >= 0)
    ::close(client.sock);
  client.sock = -1;
  client.owner = 0;
}

__attribute__((constructor)) void install_fork_handler() {
  ::pthread_atfork(nullptr, nullptr, forget_connection_in_child);
}

// One round trip; 0 or the errno of the transport (the reply's own errno is in `reply`).
int call(Request& req, int send_fd, Reply& reply, int* recv_fd) {
  ::pthread_mutex_lock(&client.lock);
  int err = ENOSYS;
  const int s = connect_server();
  if (s >= 0) {
    err = luo::simtool::send_with_fd(s, &req, sizeof req, send_fd);
    if (err == 0)
      err = luo::simtool::recv_with_fd(s, &reply, sizeof reply, recv_fd);
  }
  ::pthread_mutex_unlock(&client.lock);
  return err;
}

// A device or session fd of the simulated kernel.
bool is_sim_fd(int fd) {
  if (!active() || fd < 0)
    return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
    return false;
  if (client.sock >= 0 && st.st_ino == client.ino && st.st_dev == client.dev)
    return false;
  ucred cred{};
  socklen_t len = sizeof cred;
  return ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == server_pid();
}

int fail(int e) {
  errno = e;
  return -1;
}

// The kernel reserves the lowest free fd before anything else; so do we, in our own table.
int reserve_slot() {
  const int any = connect_server();
  if (any < 0)
    return -1;
  return ::fcntl(any, F_DUPFD_CLOEXEC, 0);
}

// Puts a received fd at the reserved number.
void place(int received, int slot, bool cloexec) {
  ::dup3(received, slot, cloexec ? O_CLOEXEC : 0);
  ::close(received);
}

int open_device(int flags) {
  const int slot = reserve_slot();
  if (slot < 0)
    return fail(errno == EMFILE ? EMFILE : ENOENT);
  Request req;
  req.op = Op::open_device;
  Reply reply;
  int got = -1;
  if (const int err = call(req, -1, reply, &got); err != 0) {
    ::close(slot);
    return fail(ENOENT);
  }
  if (got < 0) {
    ::close(slot);
    return fail(reply.error != 0 ? reply.error : EIO);
  }
  place(got, slot, (flags & O_CLOEXEC) != 0);
  return slot;
}

int sim_ioctl(int fd, unsigned long request, void* arg) {
  const auto cmd = static_cast<unsigned>(request);
  const bool returns_fd = cmd == luo::uapi::kCreateSession || cmd == luo::uapi::kRetrieveSession ||
                          cmd == luo::uapi::kRetrieveFd;
  int slot = -1;
  if (returns_fd)
    slot = reserve_slot();  // -1: the server answers EMFILE at the kernel's point
  Request req;
  req.op = Op::ioctl;
  req.slot = slot;
  req.cmd = request;
  req.arg = reinterpret_cast<std::uintptr_t>(arg);
  Reply reply;
  int got = -1;
  if (const int err = call(req, fd, reply, &got); err != 0) {
    if (slot >= 0)
      ::close(slot);
    return fail(err == EBADF ? EBADF : EIO);
  }
  if (got >= 0 && slot >= 0) {
    place(got, slot, true);  // the server already wrote `slot` into the argument
  } else {
    if (got >= 0)
      ::close(got);
    if (slot >= 0)
      ::close(slot);
  }
  if (reply.result < 0)
    return fail(reply.error);
  return static_cast<int>(reply.result);
}

long kexec_load(const char* cmdline) {
  Request req;
  req.op = Op::kexec_load;
  if (cmdline != nullptr)
    std::snprintf(req.text, sizeof req.text, "%s", cmdline);
  Reply reply;
  int got = -1;
  if (call(req, -1, reply, &got) != 0)
    return fail(EPERM);
  return reply.result < 0 ? fail(reply.error) : 0;
}

int sim_reboot(int cmd) {
  if (cmd == static_cast<int>(LINUX_REBOOT_CMD_CAD_ON) ||
      cmd == static_cast<int>(LINUX_REBOOT_CMD_CAD_OFF))
    return 0;
  Request req;
  req.op = cmd == static_cast<int>(LINUX_REBOOT_CMD_KEXEC) ? Op::kexec : Op::power_off;
  Reply reply;
  int got = -1;
  if (call(req, -1, reply, &got) != 0) {
    // Success: the server ends the boot and kills us; never return into the old boot.
    for (;;)
      ::pause();
  }
  return reply.result < 0 ? fail(reply.error) : 0;
}

// "/proc/self/fd/N" (or our own pid, or thread-self): N, else -1.
int proc_fd_number(const char* path) {
  if (path == nullptr)
    return -1;
  char self[64];
  std::snprintf(self, sizeof self, "/proc/%d/fd/", static_cast<int>(::getpid()));
  for (const char* prefix :
       {"/proc/self/fd/", "/proc/thread-self/fd/", static_cast<const char*>(self)}) {
    const std::size_t n = std::strlen(prefix);
    if (std::strncmp(path, prefix, n) == 0) {
      char* end = nullptr;
      const long fd = std::strtol(path + n, &end, 10);
      if (end != path + n && *end == 0 && fd >= 0)
        return static_cast<int>(fd);
    }
  }
  return -1;
}

// A file that may be a memfd RETRIEVE_FD created (its link text is the kernel's, not ours).
bool is_memfd_like(int fd) {
  struct stat st {};
  return active() && fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0;
}

ssize_t sim_readlink(int fd, char* buf, size_t size) {
  Request req;
  req.op = Op::link_text;
  Reply reply;
  int got = -1;
  if (call(req, fd, reply, &got) != 0 || reply.result < 0)
    return -2;  // not ours after all: let libc answer
  if (got >= 0)
    ::close(got);
  const std::size_t len = std::min(size, std::strlen(reply.text));
  std::memcpy(buf, reply.text, len);
  return static_cast<ssize_t>(len);
}

// Not inlined: libc declares open's path nonnull, which would let the NULL check (open(NULL)
// is EFAULT, not a crash) be optimised away.
__attribute__((noinline)) bool is_device(const char* path) {
  return active() && path != nullptr && std::strcmp(path, kDevicePath) == 0;
}

// What stat() of the device node shows: the misc device's devtmpfs defaults (spec §1.2). The
// minor is dynamic on the kernel; this one is only recognisably the misc major's.
void device_stat(struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_mode = S_IFCHR | 0600;
  st->st_nlink = 1;
  st->st_rdev = makedev(10, 255);
  st->st_blksize = 4096;
}

mode_t open_mode(int flags, va_list ap) {
  return ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE)
             ? static_cast<mode_t>(va_arg(ap, int))
             : 0;
}

// ---- "mapping frozen" (spec §3.8): the rules of a memfd while an outgoing session holds it ----

// Only an unlinked regular file can be a preserved memfd; anything else never asks the server.
bool may_be_preserved(const struct stat& st) {
  return S_ISREG(st.st_mode) && st.st_nlink == 0;
}

bool frozen(int fd) {
  Request req;
  req.op = Op::frozen;
  Reply reply;
  int got = -1;
  if (call(req, fd, reply, &got) != 0)
    return false;
  if (got >= 0)
    ::close(got);
  return reply.result == 1;
}

// How much of a write of n bytes at pos a frozen memfd takes. shmem writes page by page and
// refuses (EPERM) the first page-sized chunk that would end beyond EOF: a write inside the last
// page that crosses EOF is refused whole, one that crosses a page boundary first is cut there
// (measured on 7.2.13 and 7.3.4). -1: nothing (EPERM).
ssize_t frozen_write_limit(int fd, const struct stat& st, std::size_t n, off_t pos) {
  if (n == 0 || pos < 0 || pos + static_cast<off_t>(n) <= st.st_size || !frozen(fd))
    return static_cast<ssize_t>(n);
  const off_t page = ::sysconf(_SC_PAGESIZE);
  const off_t last_full = st.st_size / page * page;
  return last_full > pos ? static_cast<ssize_t>(last_full - pos) : -1;
}

// The position a write() through fd starts at.
off_t write_position(int fd, const struct stat& st) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_APPEND) != 0 ? st.st_size : ::lseek(fd, 0, SEEK_CUR);
}

std::size_t iov_total(const iovec* iov, int count) {
  std::size_t n = 0;
  for (int i = 0; i < count; ++i)
    n += iov[i].iov_len;
  return n;
}

// The first `limit` bytes of an iovec array, in `out` (at most IOV_MAX entries).
int iov_prefix(const iovec* iov, int count, std::size_t limit, iovec* out) {
  int used = 0;
  for (int i = 0; i < count && limit > 0; ++i) {
    out[used] = iov[i];
    out[used].iov_len = std::min(limit, iov[i].iov_len);
    limit -= out[used].iov_len;
    ++used;
  }
  return used;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = open_mode(flags, ap);
  va_end(ap);
  if (is_device(path))
    return open_device(flags);
  static const auto next = real<OpenFn>("open");
  return next(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = open_mode(flags, ap);
  va_end(ap);
  if (is_device(path))
    return open_device(flags);
  static const auto next = real<OpenFn>("open64");
  return next(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = open_mode(flags, ap);
  va_end(ap);
  if (is_device(path))
    return open_device(flags);
  static const auto next = real<OpenatFn>("openat");
  return next(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = open_mode(flags, ap);
  va_end(ap);
  if (is_device(path))
    return open_device(flags);
  static const auto next = real<OpenatFn>("openat64");
  return next(dirfd, path, flags, mode);
}

// _FORTIFY_SOURCE callers.
int __open_2(const char* path, int flags) {
  return open(path, flags);
}
int __open64_2(const char* path, int flags) {
  return open64(path, flags);
}
int __openat_2(int dirfd, const char* path, int flags) {
  return openat(dirfd, path, flags);
}

int stat(const char* path, struct stat* st) noexcept {
  if (is_device(path)) {
    device_stat(st);
    return 0;
  }
  using Fn = int (*)(const char*, struct stat*);
  static const auto next = real<Fn>("stat");
  return next(path, st);
}

int stat64(const char* path, struct stat64* st) noexcept {
  return stat(path, reinterpret_cast<struct stat*>(st));
}

int lstat(const char* path, struct stat* st) noexcept {
  if (is_device(path)) {
    device_stat(st);
    return 0;
  }
  using Fn = int (*)(const char*, struct stat*);
  static const auto next = real<Fn>("lstat");
  return next(path, st);
}

int lstat64(const char* path, struct stat64* st) noexcept {
  return lstat(path, reinterpret_cast<struct stat*>(st));
}

int fstatat(int dirfd, const char* path, struct stat* st, int flags) noexcept {
  if (is_device(path)) {
    device_stat(st);
    return 0;
  }
  using Fn = int (*)(int, const char*, struct stat*, int);
  static const auto next = real<Fn>("fstatat");
  return next(dirfd, path, st, flags);
}

int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) noexcept {
  return fstatat(dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}

int access(const char* path, int mode) noexcept {
  if (is_device(path))
    return ::geteuid() == 0 || mode == F_OK ? 0 : fail(EACCES);
  using Fn = int (*)(const char*, int);
  static const auto next = real<Fn>("access");
  return next(path, mode);
}

int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (is_sim_fd(fd))
    return sim_ioctl(fd, request, arg);
  static const auto next = real<IoctlFn>("ioctl");
  return next(fd, request, arg);
}

ssize_t read(int fd, void* buf, size_t count) {
  if (is_sim_fd(fd))
    return fail(EINVAL);
  static const auto next = real<ReadFn>("read");
  return next(fd, buf, count);
}

ssize_t write(int fd, const void* buf, size_t count) {
  static const auto next = real<WriteFn>("write");
  struct stat st {};
  if (!active() || ::fstat(fd, &st) != 0)
    return next(fd, buf, count);
  if (S_ISSOCK(st.st_mode) && is_sim_fd(fd))
    return fail(EINVAL);
  if (may_be_preserved(st)) {
    const ssize_t limit = frozen_write_limit(fd, st, count, write_position(fd, st));
    if (limit < 0)
      return fail(EPERM);
    count = static_cast<std::size_t>(limit);
  }
  return next(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  using Fn = ssize_t (*)(int, const void*, size_t, off_t);
  static const auto next = real<Fn>("pwrite");
  struct stat st {};
  if (active() && ::fstat(fd, &st) == 0 && may_be_preserved(st)) {
    const ssize_t limit = frozen_write_limit(fd, st, count, offset);
    if (limit < 0)
      return fail(EPERM);
    count = static_cast<std::size_t>(limit);
  }
  return next(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  return pwrite(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  using Fn = ssize_t (*)(int, const struct iovec*, int);
  static const auto next = real<Fn>("writev");
  struct stat st {};
  if (active() && iovcnt > 0 && iovcnt <= IOV_MAX && ::fstat(fd, &st) == 0 &&
      may_be_preserved(st)) {
    const ssize_t limit =
        frozen_write_limit(fd, st, iov_total(iov, iovcnt), write_position(fd, st));
    if (limit < 0)
      return fail(EPERM);
    iovec cut[IOV_MAX];
    return next(fd, cut, iov_prefix(iov, iovcnt, static_cast<std::size_t>(limit), cut));
  }
  return next(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  using Fn = ssize_t (*)(int, const struct iovec*, int, off_t);
  static const auto next = real<Fn>("pwritev");
  struct stat st {};
  if (active() && iovcnt > 0 && iovcnt <= IOV_MAX && ::fstat(fd, &st) == 0 &&
      may_be_preserved(st)) {
    const ssize_t limit = frozen_write_limit(fd, st, iov_total(iov, iovcnt), offset);
    if (limit < 0)
      return fail(EPERM);
    iovec cut[IOV_MAX];
    return next(fd, cut, iov_prefix(iov, iovcnt, static_cast<std::size_t>(limit), cut), offset);
  }
  return next(fd, iov, iovcnt, offset);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  return pwritev(fd, iov, iovcnt, offset);
}

int ftruncate(int fd, off_t length) noexcept {
  using Fn = int (*)(int, off_t);
  static const auto next = real<Fn>("ftruncate");
  struct stat st {};
  if (active() && length >= 0 && ::fstat(fd, &st) == 0 && may_be_preserved(st) &&
      length != st.st_size && frozen(fd))
    return fail(EPERM);
  return next(fd, length);
}

int ftruncate64(int fd, off_t length) noexcept {
  return ftruncate(fd, length);
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
  using Fn = int (*)(int, int, off_t, off_t);
  static const auto next = real<Fn>("fallocate");
  struct stat st {};
  if (active() && offset >= 0 && len > 0 && ::fstat(fd, &st) == 0 && may_be_preserved(st) &&
      frozen(fd)) {
    // shmem_fallocate(): unknown modes first, then the frozen mapping refuses every mode.
    return fail((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) != 0 ? EOPNOTSUPP : EPERM);
  }
  return next(fd, mode, offset, len);
}

int fallocate64(int fd, int mode, off_t offset, off_t len) {
  return fallocate(fd, mode, offset, len);
}

int posix_fallocate(int fd, off_t offset, off_t len) {
  using Fn = int (*)(int, off_t, off_t);
  static const auto next = real<Fn>("posix_fallocate");
  struct stat st {};
  if (active() && offset >= 0 && len > 0 && ::fstat(fd, &st) == 0 && may_be_preserved(st) &&
      frozen(fd))
    return EPERM;  // fallocate(2)'s EPERM is not one glibc emulates around
  return next(fd, offset, len);
}

int posix_fallocate64(int fd, off_t offset, off_t len) {
  return posix_fallocate(fd, offset, len);
}

// F_ADD_SEALS with F_SEAL_WRITE on a preserved memfd: its pages are pinned, so EBUSY (§8).
int sealing_refused(int fd, int cmd, long arg) {
  if (!active() || cmd != F_ADD_SEALS || (arg & F_SEAL_WRITE) == 0)
    return 0;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !may_be_preserved(st))
    return 0;
  using Fn = int (*)(int, int, ...);
  static const auto next = real<Fn>("fcntl");
  const int seals = next(fd, F_GET_SEALS);
  const int mode = next(fd, F_GETFL);
  // Already sealed against sealing, or not writable: the kernel's EPERM comes first.
  if (seals < 0 || (seals & F_SEAL_SEAL) != 0 || mode < 0 || (mode & O_ACCMODE) == O_RDONLY)
    return 0;
  return frozen(fd) ? EBUSY : 0;
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (const int err = sealing_refused(fd, cmd, reinterpret_cast<long>(arg)); err != 0)
    return fail(err);
  using Fn = int (*)(int, int, ...);
  static const auto next = real<Fn>("fcntl");
  return next(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (const int err = sealing_refused(fd, cmd, reinterpret_cast<long>(arg)); err != 0)
    return fail(err);
  using Fn = int (*)(int, int, ...);
  static const auto next = real<Fn>("fcntl64");
  return next(fd, cmd, arg);
}

int fstatfs(int fd, struct statfs* buf) noexcept {
  if (is_sim_fd(fd)) {
    std::memset(buf, 0, sizeof *buf);
    buf->f_type = kAnonInodeMagic;
    buf->f_bsize = ::sysconf(_SC_PAGESIZE);
    buf->f_namelen = 255;
    return 0;
  }
  static const auto next = real<FstatfsFn>("fstatfs");
  return next(fd, buf);
}

int fstatfs64(int fd, struct statfs64* buf) noexcept {
  if (is_sim_fd(fd)) {
    std::memset(buf, 0, sizeof *buf);
    buf->f_type = kAnonInodeMagic;
    buf->f_bsize = ::sysconf(_SC_PAGESIZE);
    buf->f_namelen = 255;
    return 0;
  }
  using Fn = int (*)(int, struct statfs64*);
  static const auto next = real<Fn>("fstatfs64");
  return next(fd, buf);
}

ssize_t readlink(const char* path, char* buf, size_t size) noexcept {
  if (const int fd = proc_fd_number(path); is_sim_fd(fd) || is_memfd_like(fd)) {
    if (const ssize_t n = sim_readlink(fd, buf, size); n != -2)
      return n;
  }
  static const auto next = real<ReadlinkFn>("readlink");
  return next(path, buf, size);
}

ssize_t readlinkat(int dirfd, const char* path, char* buf, size_t size) noexcept {
  if (const int fd = proc_fd_number(path); is_sim_fd(fd) || is_memfd_like(fd)) {
    if (const ssize_t n = sim_readlink(fd, buf, size); n != -2)
      return n;
  }
  static const auto next = real<ReadlinkatFn>("readlinkat");
  return next(dirfd, path, buf, size);
}

int reboot(int cmd) noexcept {
  if (active())
    return sim_reboot(cmd);
  static const auto next = real<RebootFn>("reboot");
  return next(cmd);
}

long syscall(long number, ...) noexcept {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& x : a)
    x = va_arg(ap, long);
  va_end(ap);
  if (active()) {
    switch (number) {
      case SYS_reboot:
        if (static_cast<unsigned>(a[0]) != LINUX_REBOOT_MAGIC1)
          return fail(EINVAL);
        return sim_reboot(static_cast<int>(a[2]));
      case SYS_kexec_file_load:
        return kexec_load(reinterpret_cast<const char*>(a[3]));
      case SYS_kexec_load:
        return kexec_load(nullptr);
      case SYS_ioctl:
        return ioctl(static_cast<int>(a[0]), static_cast<unsigned long>(a[1]),
                     reinterpret_cast<void*>(a[2]));
      case SYS_open:
        return open(reinterpret_cast<const char*>(a[0]), static_cast<int>(a[1]),
                    static_cast<int>(a[2]));
      case SYS_openat:
        return openat(static_cast<int>(a[0]), reinterpret_cast<const char*>(a[1]),
                      static_cast<int>(a[2]), static_cast<int>(a[3]));
      default:
        break;
    }
  }
  static const auto next = real<SyscallFn>("syscall");
  return next(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

}  // extern "C"
