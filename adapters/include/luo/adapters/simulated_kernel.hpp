// luo/adapters/simulated_kernel.hpp: a userspace simulator of the kernel's /dev/liveupdate ABI.
//
// SimulatedKernel plays the kernel side of the Live Update Orchestrator (spec kernel-luo.md) for
// one process, through the same raw IoctlBackend interface as the real device, so byte-level
// tests and IoctlPort run unchanged against either. It is an independent implementation written
// from the spec (lists of sessions and files, a per-inode preservation table, release on last
// close), so it can serve as an oracle for the model's transition tables; it deliberately uses
// nothing from model/ but the errno, limits, profile and session-name headers.
//
// The lifecycle it simulates, one "boot" at a time:
//   - open_device() is exclusive (EBUSY while the previous open is alive); the first open of a
//     boot deserializes the sessions the previous boot handed over.
//   - CREATE_SESSION adds an outgoing session; PRESERVE_FD adds memfds to it (FIFO). Closing
//     the last reference to an outgoing session unpreserves its files (LIFO) and destroys it.
//   - kexec() freezes every live outgoing session (creation order, files FIFO) and "boots" the
//     next kernel: those sessions become the incoming list, every device/session fd of the old
//     boot turns stale (EBADF), and the boot number increments. A freeze failure rolls back and
//     leaves everything as it was.
//   - RETRIEVE_SESSION / RETRIEVE_FD hand the incoming data back (memfds with the same size,
//     contents and position); FINISH (or closing a retrieved session) discards what was not
//     retrieved and releases LUO's ownership.
//
//   luo::SimulatedKernel kernel(luo::KernelProfile::v7_2);
//   luo::UniqueFd dev = std::move(kernel.open_device().value());
//   luo::uapi::CreateSessionArg arg{};
//   arg.size = sizeof arg;
//   std::memcpy(arg.name, "db", 3);
//   kernel.ioctl(dev.get(), luo::uapi::kCreateSession, &arg);   // arg.fd: the session fd
//   ... PRESERVE_FD memfds into arg.fd, keep arg.fd open ...
//   kernel.kexec();                                            // next boot
//
// How the kernel's objects are mapped onto a process:
//   - Device and session fds are real O_CLOEXEC fds: one end of an AF_UNIX SOCK_SEQPACKET pair
//     whose other end the simulator keeps. An fd is recognised by the (st_dev, st_ino) of the
//     caller's end, so dup(), fork() and SCM_RIGHTS keep "the same open file"; the last close is
//     seen as a hang-up on the kept end. Releases are processed lazily at the start of every
//     public call, which no caller can tell apart from the kernel's immediate release. As in
//     the kernel, the release is the last reference's, not the close's: another process that
//     holds the file for a moment (a /proc/<pid>/fd reader) releases it just after our close()
//     returned (docs/reliability.md F10), so a test comparing with a model after a close waits
//     for the release (fuzz/simulated_kernel_ioctl.cpp's await_release()).
//   - LUO's reference to a preserved file is a dup of the caller's fd (same open file
//     description, so the file position at reboot is the caller's). kexec() copies out size,
//     contents and position; a retrieved file is a fresh memfd the simulator keeps and dup()s for
//     every RETRIEVE_FD.
//   - Fault injection (inject()) makes one run of a kernel step fail, for the paths no userspace
//     input can reach (handler errors, freeze failure, can_finish veto, deserialization failure).
//   - handler_log() records the file-handler calls in the order the kernel makes them, when
//     they are made (a call that fails is logged too); every call point is logged as if the
//     handler implemented every op (memfd has no can_finish).
//   - Supported files: the memfd handler's own rule, shmem without links (a regular file on
//     TMPFS_MAGIC with st_nlink == 0). That admits every non-hugetlb memfd, retrieved ones
//     included (their link has no "memfd:" prefix on a real kernel), and, as in the kernel, an
//     unlinked or O_TMPFILE tmpfs file. Everything else is ENOENT.
//
// Decisions where the spec is silent or UNVERIFIED:
//   - Before 7.2 (no Feature::session_type_check) PRESERVE_FD on an incoming session and
//     RETRIEVE_FD/FINISH on an outgoing one ran handlers on the wrong data (undefined, §2.5).
//     The simulator answers EINVAL there too, but from the handler: after the size check and
//     the copy-in (so an oversized non-zero tail is E2BIG) and, for RETRIEVE_FD, after the fd
//     reservation and the token lookup (an unknown token is ENOENT, as in luo_retrieve_file()).
//   - The fd reservation (EMFILE) is the first step of the handler, i.e. after dispatch steps
//     1-6 (nr, size read, cmd, session type, min size, copy-in) and before every other check
//     (name validation, limits, EEXIST, ENOENT, EINVAL).
//   - FINISH whose copy-back faults returns EFAULT with the session already finished (the
//     kernel finishes first, then responds).
//   - A failure to build the retrieved memfd counts as a handler retrieve failure (sticky with
//     Feature::sticky_retrieve_failure). A file whose retrieve failed is discarded at FINISH.
//   - 6.19 (no Feature::memfd_seals_preserved): the retrieved memfd has no seals but still
//     allows sealing. With the feature, seal bits the handler does not know give EOPNOTSUPP
//     at PRESERVE_FD (unreachable with today's seals).
//   - kexec() with LUO disabled succeeds, hands nothing over and still counts a boot.
//   - Releases noticed together are processed device first, then outgoing sessions in creation
//     order, then incoming ones in list order.
//   - A memfd of more than UINT_MAX pages is EFBIG at PRESERVE_FD (Feature::memfd_size_limit;
//     ENOMEM before it). Smaller ones are accepted whatever their size and cross kexec() as
//     their data extents, as the real 7.2/7.3 kernels carry them (docs/kernel-decisions.md).
//
// Where it cannot be faithful:
//   - A preserved memfd is not "mapping frozen": the process writes to the real memfd directly,
//     so ftruncate/fallocate/growing writes succeed where the kernel gives EPERM (spec §3.8),
//     and F_SEAL_WRITE is not refused with EBUSY (§8). Size and contents are taken at kexec().
//     tools/luo-sim enforces those rules in its client shim (mapping_frozen() below), and the
//     anon-inode answers of session fds, for programs in other processes.
//   - Every kernel object costs the process fds (session: 2; preserved or retrieved file: 1), so
//     near RLIMIT_NOFILE the simulator can give EMFILE where the kernel would succeed.
//   - Session fds are sockets: read/write/mmap/fstatfs and /proc/self/fd links do not look like
//     the kernel's anon inodes (§8), and a retrieved memfd's link reads "/memfd: (deleted)", not
//     "/ (deleted)". Memfds handed out stay usable after kexec(): the process survives the
//     simulated reboot, which a real one does not.
//   - No memory limits, FLB, serialize lock (single-threaded: the reboot never races an ioctl)
//     or kexec image checks (EBUSY/EINVAL of reboot() itself).
//   - Not thread-safe: one SimulatedKernel per thread of control.
//   - User memory is read and written with process_vm_readv/writev on our own pid, so a bad
//     argument pointer is EFAULT as in the kernel. Where a sandbox forbids those syscalls,
//     ioctl() throws std::system_error rather than answer EFAULT to everything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/adapters/ioctl_backend.hpp"
#include "luo/model/handler_call.hpp"
#include "luo/model/limits.hpp"
#include "luo/model/profile.hpp"

namespace luo {

// A kernel step whose next run(s) inject() can make fail.
enum class SimFault : std::uint8_t {
  deserialize,         // first open of a boot: every open gives EIO for the rest of the boot
  preserve_handler,    // the handler's preserve() in PRESERVE_FD: that errno, file not preserved
  preserve_copy_back,  // PRESERVE_FD's copy-back: that errno, the file stays preserved
  freeze,              // one file's freeze() in kexec(): rollback, kexec() returns that errno
  retrieve_handler,    // the handler's retrieve() in RETRIEVE_FD: sticky or retryable by profile
  can_finish,          // one file's can_finish() veto: FINISH (or release) gives EBUSY
  // The fd reservation of CREATE_SESSION or RETRIEVE_SESSION (the kernel's get_unused_fd, its
  // first step): that errno (EMFILE is the kernel's, a full fd table), nothing else changes.
  reserve_session_fd,
};

// The name a scenario gives each fault (`luo-lifecycle simulate`'s inject, docs/scenarios.md):
// the enumerator's own spelling. A switch without default, so a new fault without a name is a
// -Wswitch error rather than a fault scenarios cannot reach.
constexpr std::string_view sim_fault_name(SimFault fault) {
  switch (fault) {
    case SimFault::deserialize:
      return "deserialize";
    case SimFault::preserve_handler:
      return "preserve_handler";
    case SimFault::preserve_copy_back:
      return "preserve_copy_back";
    case SimFault::freeze:
      return "freeze";
    case SimFault::retrieve_handler:
      return "retrieve_handler";
    case SimFault::can_finish:
      return "can_finish";
    case SimFault::reserve_session_fd:
      return "reserve_session_fd";
  }
  return {};
}

// The fault of that name. The enumerators are consecutive from 0, so the first value without a
// name ends the list.
constexpr std::optional<SimFault> sim_fault_from_name(std::string_view name) {
  for (std::uint8_t i = 0;; ++i) {
    const std::string_view known = sim_fault_name(static_cast<SimFault>(i));
    if (known.empty())
      return std::nullopt;
    if (known == name)
      return static_cast<SimFault>(i);
  }
}
static_assert(sim_fault_from_name("freeze") == SimFault::freeze);
static_assert(sim_fault_from_name("reserve_session_fd") == SimFault::reserve_session_fd);

// SimulatedKernel::Options. Defined outside the class because a nested struct's default member
// initializers are not usable in the enclosing class's default arguments (GCC).
struct SimulatedKernelOptions {
  // false: the kernel was booted without liveupdate=on, so /dev/liveupdate does not exist.
  bool luo_enabled = true;
  // Files per session under Feature::legacy_limits. The kernel's is 128; a smaller one stands in
  // for it where a test or a bounded proof (proofs/, Bounds::file_limit) scales it down.
  std::uint32_t legacy_files_per_session = kLegacyMaxFilesPerSession;
  // true: LUO's references cost the process no fd, for runs at a scale RLIMIT_NOFILE would not
  // allow otherwise (bench/handoff_bench). PRESERVE_FD takes the file's image at once (size,
  // contents and position as they are then, not at kexec()) and keeps no dup of it, and
  // RETRIEVE_FD hands out the file it built without keeping a reference, so repeating it for the
  // same token fails with EBADF instead of giving the same open file again; a write after
  // PRESERVE_FD (stage_b()'s rewrite of the mapping after a refused fd) does not reach the next
  // boot. Everything else is as without it.
  bool hold_images = false;
};

// The process an ioctl is made for when it is not this one: tools/luo-sim runs SimulatedKernel in
// a server process for clients elsewhere. The argument then lives in the caller's memory (read
// and written with process_vm_readv/writev on pid()), the fd PRESERVE_FD names is a number in the
// caller's table, and a new fd takes a slot the caller reserved beforehand (the kernel's
// get_unused_fd() in the caller's table: EMFILE when it has none).
class SimulatedCaller {
 public:
  virtual ~SimulatedCaller() = default;
  virtual int pid() const = 0;
  // fget(): our own reference to the caller's open file `user_fd` (EBADF if there is none).
  virtual SysResult<UniqueFd> get_fd(int user_fd) = 0;
  // The number the next new fd gets in the caller's table, or -1 when it is full.
  virtual int fd_slot() const = 0;
  // fd_install(): a new fd, ours until the caller takes it at fd_slot().
  virtual void install_fd(UniqueFd fd) = 0;
};

class SimulatedKernel final : public IoctlBackend {
 public:
  using Options = SimulatedKernelOptions;

  // The model's vocabulary of handler calls; when to log one is decided here, independently.
  using HandlerOp = luo::HandlerOp;
  using HandlerCall = luo::HandlerCall;

  enum class IncomingSessionState : std::uint8_t { deserialized, retrieved, finished };
  enum class IncomingFileState : std::uint8_t {
    preserved,  // handed over, not retrieved yet
    retrieved,
    failed,     // retrieve failed permanently (Feature::sticky_retrieve_failure)
    finished,   // retrieved, then finished: LUO let go, the process keeps its fds
    discarded,  // finished without a successful retrieve: the data is gone
  };

  struct Snapshot {
    struct OutgoingSession {
      std::string name;
      std::vector<std::uint64_t> tokens;  // preservation order
      bool operator==(const OutgoingSession&) const = default;
    };
    struct IncomingFile {
      std::uint64_t token = 0;
      IncomingFileState state = IncomingFileState::preserved;
      int error = 0;  // the sticky errno when state == failed
      bool operator==(const IncomingFile&) const = default;
    };
    struct IncomingSession {
      std::string name;
      IncomingSessionState state = IncomingSessionState::deserialized;
      bool open = false;  // a process holds its fd; retrieved && !open means leaked (§2.4)
      std::vector<IncomingFile> files;
      bool operator==(const IncomingSession&) const = default;
    };

    std::uint64_t boot_number = 0;
    bool device_open = false;
    bool incoming_deserialized = false;  // the first open of this boot happened
    bool deserialize_failed = false;
    std::vector<OutgoingSession> outgoing;  // creation order
    std::vector<IncomingSession> incoming;  // handover order; empty until deserialized
    bool operator==(const Snapshot&) const = default;
  };

  explicit SimulatedKernel(KernelProfile profile = kDefaultProfile, Options options = {});
  ~SimulatedKernel() override;
  SimulatedKernel(const SimulatedKernel&) = delete;
  SimulatedKernel& operator=(const SimulatedKernel&) = delete;

  SysResult<UniqueFd> open_device() override;
  SysResult<int> ioctl(int fd, unsigned long cmd, void* arg) override;
  // ioctl() made by another process: `fd` is our own reference to the caller's device or session
  // file, `arg` an address in the caller's memory (see SimulatedCaller).
  SysResult<int> ioctl_for(SimulatedCaller& caller, int fd, unsigned long cmd, void* arg);
  // What /proc/self/fd shows for a device or session fd or a memfd RETRIEVE_FD created:
  // "/dev/liveupdate", "anon_inode:[luo_session] NAME" or "/ (deleted)"; nullopt for anything
  // else (this process's own memfds, which it names "/memfd: (deleted)", are not the kernel's).
  std::optional<std::string> link_text(int fd);
  // Whether the file `fd` refers to is preserved by an outgoing session, i.e. "mapping frozen"
  // in the kernel (spec §3.8): no resize, no fallocate, no write beyond EOF, no F_SEAL_WRITE.
  // The in-process simulator cannot enforce that (the caller writes the memfd directly);
  // tools/luo-sim enforces it in its shim by asking this.
  bool mapping_frozen(int fd);
  // Serializes the live outgoing sessions and boots the next kernel; returns (rather than never
  // returning, as reboot() does) once the new boot is up.
  SysStatus kexec() override;
  // Whether `fd` is (a dup of, or received copy of) this boot's open device. A device fd of an
  // earlier boot is stale and holds nothing, so it is not the device any more.
  bool is_device(int fd) override;

  // The (skip+1)-th run of `where` from now fails with `err`, once. For deserialize and
  // can_finish the errno is the kernel's own (EIO at open, EBUSY from FINISH), so `err` only
  // documents intent there. A second inject() for the same step replaces the first.
  void inject(SimFault where, int err, unsigned skip = 0);
  // Cancels every injection that has not fired (a call can fail an earlier check first).
  void clear_faults();

  KernelProfile profile() const;
  // The live-update generation ("liveupdate number: N"): 0 at the first boot, +1 per kexec().
  std::uint64_t boot_number() const;
  Snapshot snapshot();
  // The memory the simulator holds for preserved file data between kexec() and the retrieve or
  // discard that gives it back (the kernel's preserved pages): RETRIEVE_FD moves a file's data
  // into the memfd it hands out, FINISH frees what was never retrieved.
  std::size_t image_bytes();
  std::vector<HandlerCall> handler_log();
  void clear_handler_log();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string_view incoming_session_state_name(SimulatedKernel::IncomingSessionState state);
std::string_view incoming_file_state_name(SimulatedKernel::IncomingFileState state);
std::ostream& operator<<(std::ostream& os, SimulatedKernel::IncomingSessionState state);
std::ostream& operator<<(std::ostream& os, SimulatedKernel::IncomingFileState state);

}  // namespace luo
