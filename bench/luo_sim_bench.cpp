// The cost of one LUO ioctl (GET_NAME on an outgoing session, 7.2+) by backend:
//
//   BM_Ioctl/in_process   SimulatedKernel in this process (no syscall but its own bookkeeping)
//   BM_Ioctl/device       ioctl(2) on whatever /dev/liveupdate this process sees: run it under
//                         luo-sim for the luo-sim figure, in a LUO VM for the real kernel's
//                         (skipped where there is no device)
//
//   build/default/bench/luo_sim_bench                                         # in-process only
//   build/default/tools/luo-sim/luo-sim run -- build/default/bench/luo_sim_bench   # + luo-sim
//
// Under luo-sim one ioctl is two messages over a Unix socket plus process_vm_readv/writev and
// the shim's fd check (fstat + SO_PEERCRED); the budget of issue 13 is 20 us.
#include <benchmark/benchmark.h>

#include <cstring>

#include "luo/adapters/linux_kernel.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/adapters/uapi.hpp"

namespace {

void get_name_loop(benchmark::State& state, luo::IoctlBackend& kernel) {
  auto dev = kernel.open_device();
  if (!dev.ok()) {
    state.SkipWithError("no device (run under luo-sim or on a LUO kernel)");
    return;
  }
  luo::uapi::CreateSessionArg create{};
  create.size = sizeof create;
  std::memcpy(create.name, "bench", 6);
  if (!kernel.ioctl(dev.value().get(), luo::uapi::kCreateSession, &create).ok()) {
    state.SkipWithError("CREATE_SESSION failed");
    return;
  }
  luo::UniqueFd session(create.fd);
  luo::uapi::SessionGetNameArg arg{};
  for (auto _ : state) {
    arg.size = sizeof arg;
    const auto r = kernel.ioctl(session.get(), luo::uapi::kSessionGetName, &arg);
    benchmark::DoNotOptimize(r);
  }
}

void BM_Ioctl_InProcess(benchmark::State& state) {
  luo::SimulatedKernel kernel(luo::KernelProfile::v7_2);
  get_name_loop(state, kernel);
}
BENCHMARK(BM_Ioctl_InProcess);

void BM_Ioctl_Device(benchmark::State& state) {
  luo::LinuxKernel kernel;
  get_name_loop(state, kernel);
}
BENCHMARK(BM_Ioctl_Device);

}  // namespace
