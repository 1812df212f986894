// A simulated preserve -> kexec -> retrieve -> finish round trip through impl/ and IoctlPort
// over SimulatedKernel, reported per file. Includes the simulator's own syscalls (memfd copies,
// socket pairs), so it bounds what a test suite pays per file, not the kernel's cost.
#include <benchmark/benchmark.h>

#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/live_update.hpp"

namespace {

void BM_SimulatedRoundTripPerFile(benchmark::State& state) {
  const auto files = static_cast<luo::Token>(state.range(0));
  const std::string payload(4096, 'p');
  for (auto _ : state) {
    luo::SimulatedKernel kernel;
    luo::IoctlPort port(kernel);
    luo::LiveUpdate lu(port);
    {
      auto dev = lu.open_device().value();
      auto session = dev.create_session("bench").value();
      for (luo::Token t = 0; t < files; ++t) {
        auto fd = luo::memfd::create("bench").value();
        (void)luo::memfd::write_at(fd.get(), 0, payload);
        if (!session.preserve(fd.get(), t))
          state.SkipWithError("preserve failed");
      }
      dev.close();
      if (!lu.kexec())
        state.SkipWithError("kexec failed");
    }
    auto dev = lu.open_device().value();
    auto in = dev.retrieve_session("bench").value();
    for (luo::Token t = 0; t < files; ++t) {
      auto fd = in.retrieve(t);
      if (!fd)
        state.SkipWithError("retrieve failed");
      benchmark::DoNotOptimize(fd.value().get());
    }
    if (!in.finish())
      state.SkipWithError("finish failed");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files));
}
BENCHMARK(BM_SimulatedRoundTripPerFile)->Arg(1)->Arg(64)->Arg(500);

}  // namespace
