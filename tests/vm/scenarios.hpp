// scenarios.hpp: the scenarios that run on a real LUO kernel in qemu and, unchanged, on
// SimulatedKernel, so the two can be compared observation by observation.
//
// A test run is three boots. Boot 1 runs the ioctl conformance suite (the kernel selftests of
// liveupdate.c plus every errno row userspace can provoke, at the raw ioctl level) and stage 1
// of every kexec scenario, which leaves sessions open in `Held`. The kernel then kexecs into
// boot 2, where stage 2 retrieves and checks them through impl/; boot 3 checks what must not
// survive a second kexec. Each scenario cleans up after itself so the order is the only coupling.
#pragma once

#include <memory>
#include <vector>

#include "luo/adapters/ioctl_backend.hpp"
#include "recorder.hpp"

namespace luo::vm {

// What must stay open across a reboot: session fds and the objects that own them.
struct Held {
  std::vector<std::shared_ptr<void>> objects;
  std::vector<UniqueFd> fds;
};

inline constexpr int kBoots = 3;

// `real_kernel` enables the scenarios the simulator cannot reproduce (spec §3.8 "mapping
// frozen", §8 anon-inode details); their names start with "real_only_".
void run_boot(int boot, IoctlBackend& kernel, Recorder& rec, Held& held, bool real_kernel);

}  // namespace luo::vm
