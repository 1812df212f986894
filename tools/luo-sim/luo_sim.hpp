// luo_sim.hpp: run unmodified LUO programs against SimulatedKernel, across simulated kexecs.
//
// `luo-sim run [--profile P] [--boots N] [--fault SPEC]... -- PROGRAM ARGS`
// (tools/luo-sim/main.cpp) is a thin front end to run() below. The luo-sim process is the
// "machine":
//
//   - it owns one SimulatedKernel and serves it on a Unix socket (protocol.hpp) to every process
//     of the run; LD_PRELOAD=libluo-sim-preload.so (preload.cpp) sends those processes' opens of
//     /dev/liveupdate, their ioctls on device and session fds, kexec_file_load and
//     reboot(LINUX_REBOOT_CMD_KEXEC) there;
//   - boot N runs PROGRAM with LUO_SIM_BOOT=N in its environment (the VM harness's luo_stage=N);
//   - a boot ends with a kexec, requested by a process of the boot (an image loaded with
//     kexec_file_load, then reboot(LINUX_REBOOT_CMD_KEXEC)) or, when PROGRAM exits and boots are
//     left, by luo-sim itself (the VM's /init does the same for the kernel's kexec selftests,
//     whose stage 1 daemonizes a process that keeps the session fds). Like a real kexec it kills
//     every process of the boot (luo-sim is their child subreaper, so daemons are found too),
//     the preserved sessions become the next boot's incoming ones, and the next boot starts.
//   - A failed freeze (an injected fault) makes reboot() return that errno, as on the kernel;
//     when luo-sim itself kexecs, the run stops with an error.
//
//   luo::simtool::RunOptions options;
//   options.profile = luo::KernelProfile::v7_3;
//   options.boots = 2;
//   options.argv = {"./my-vmm-test"};
//   int status = luo::simtool::run(options);   // the first failing boot's status, else 0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/adapters/simulated_kernel.hpp"
#include "luo/model/profile.hpp"

namespace luo::simtool {

// --fault [BOOT:]STEP[=ERRNO][+SKIP]: in boot BOOT (default 1), the (SKIP+1)-th run of STEP
// fails with ERRNO (default: the step's own errno). STEP is a SimFault name.
struct FaultSpec {
  int boot = 1;
  SimFault step = SimFault::freeze;
  int error = 0;
  unsigned skip = 0;
};

// Parses one --fault value; nullopt with `why` set when it is malformed.
std::optional<FaultSpec> parse_fault(std::string_view text, std::string& why);
std::string_view fault_step_name(SimFault step);

struct RunOptions {
  KernelProfile profile = kDefaultProfile;
  int boots = 1;
  std::vector<FaultSpec> faults;
  std::vector<std::string> argv;  // PROGRAM ARGS
  // The preload library; empty: libluo-sim-preload.so next to the running executable.
  std::string preload;
  bool verbose = false;  // one line per boot and kexec on stderr
  // The device node is 0600 root:root and kexec needs CAP_SYS_BOOT, so by default only uid 0
  // may open it or kexec (EACCES, EPERM). true: any uid may, as after a udev rule granting it.
  bool any_user = false;
};

// Runs the boots; returns the first non-zero exit status of PROGRAM (128 + signal when it was
// killed by anything but a kexec), 0 if every boot's PROGRAM succeeded or ended in a kexec, and
// 125 when luo-sim itself failed (its reason on stderr).
int run(const RunOptions& options);

}  // namespace luo::simtool
