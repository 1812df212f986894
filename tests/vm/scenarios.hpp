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

// KernelPort::is_device (finding F1, docs/reliability.md) on this boot's device: yes for an open
// of /dev/liveupdate and its duplicate, no for a session fd, a memfd or no fd, and on a real
// kernel no for /dev/null and an O_PATH fd of the node. Only the host has no device, so this is
// where LinuxKernel's comparison of device numbers meets the real node. It records expectations
// only, no observations: under luo-sim the device fd is a socket the shim answers for and
// fstat() sees as such, so `luo-vm boot` cannot run it, and the comparisons never look for it.
// Leaves nothing open.
void device_identity(int boot, IoctlBackend& kernel, Recorder& rec, bool real_kernel);

}  // namespace luo::vm
