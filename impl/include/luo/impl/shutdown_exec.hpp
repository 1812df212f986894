// luo/impl/shutdown_exec.hpp: carrying Stage A from the manager to a shutdown helper it execs,
// the way PID 1 hands it to systemd-shutdown (spec systemd-luo.md §3.2 phases 2-4).
//
// The manager's stores die with the manager, so Stage A's fds and the document naming
// them must survive an execve(): the document goes into a sealed memfd named "luo-fd-store",
// its fd number into $SYSTEMD_LUO_SERIALIZE_FD, and FD_CLOEXEC is cleared on exactly these fds
// as the very last step before the exec. The helper takes them back into UniqueFds (CLOEXEC set
// again), knows which fds to keep while it closes everything else, and runs stage_b() late.
//
// These are the building blocks. An embedder uses them through HandoffManager
// (handoff_manager.hpp): stage_a_memfd() and keep_across_exec() on the manager's object, and in
// the helper HandoffManager::inherit(), whose object continues the pipeline from Stage A
// (fds_to_keep(), stage_b(), kexec()). Spelled out with the blocks alone:
//
//   // manager, leaving its main loop for kexec
//   auto staged = luo::stage_a(owners, &held, port, kexecs);
//   auto memfd = luo::write_stage_a_memfd(staged).value();
//   std::string env = luo::serialize_fd_assignment(memfd.get());  // "SYSTEMD_LUO_SERIALIZE_FD=7"
//   (void)luo::keep_across_exec(staged, memfd.get());               // after fork, before execve
//   execve("/usr/lib/my-shutdown", argv, envp_with(env));
//
//   // shutdown helper
//   auto inherited = luo::inherit_stage_a(std::getenv(luo::handoff::kSerializeFdEnv), port);
//   if (!inherited) log(inherited.error().message());             // nothing to keep: no LUO
//   else if (inherited.value()) {
//     close_all_fds_except(inherited.value()->keep());
//     ... kill, unmount, sync ...
//     auto b = luo::stage_b(device, inherited.value()->staged,
//                           {.late_start = inherited.value()->started});  // hold b.session

//   }
//
// What the helper accepts beyond systemd-shutdown's own checks (each entry it cannot use is
// reported as `lost` with the reason, the rest go on): an entry fd must be open in the helper,
// must not be stdin/stdout/stderr or the memfd itself. An entry that is /dev/liveupdate itself
// (`port.is_device()`: a manager that is not this library may have staged it) is closed at once
// and reported `dropped`, as stage_a() does, since holding it would make Stage B's own open fail
// with EBUSY for every entry (docs/reliability.md F1). A document that does not parse, or a
// variable that is not a plain decimal fd, protects nothing, as in systemd: the error says why.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "luo/impl/error.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo {

// The Stage A document in a new sealed, O_CLOEXEC memfd named "luo-fd-store".
Result<UniqueFd> write_stage_a_memfd(const StageAResult& staged);

// "SYSTEMD_LUO_SERIALIZE_FD=<fd>", ready for the helper's environment.
std::string serialize_fd_assignment(int memfd);

// Clears FD_CLOEXEC on `memfd` and on every fd Stage A staged, so exactly they survive the
// execve(). Only fcntl(): safe between fork() and execve() of a multi-threaded process. Call it
// last; on an error nothing further should be exec'd with LUO expectations.
Status keep_across_exec(const StageAResult& staged, int memfd);

// What the helper found in its environment.
struct InheritedStageA {
  StageAResult staged;  // document, owned fds, per-entry report; state `serialized` or `nothing`
  // When the helper took Stage A over, as systemd-shutdown's start: pass it to stage_b() as its
  // ShutdownLateStartTimestamp.
  handoff::DualTimestamp started;
  UniqueFd memfd;  // the "luo-fd-store" memfd itself
  // Every fd the helper must not close: the memfd and the entries' fds.
  std::vector<int> keep() const;
};

// Reads $SYSTEMD_LUO_SERIALIZE_FD's value (nullptr or empty: the manager handed nothing over,
// nullopt). Takes ownership of the memfd and every fd the document names, with FD_CLOEXEC set
// again. Entries the helper cannot use are left out of the document and reported `lost`; the
// device is closed and reported `dropped`. `port` is the kernel Stage B will use (only
// is_device() is asked here). The Stage B to come follows `profile` (with v262 a document
// without entries still hands over).
Result<std::optional<InheritedStageA>> inherit_stage_a(
    const char* serialize_fd_value, KernelPort& port,
    SystemdProfile profile = kDefaultSystemdProfile);

}  // namespace luo
