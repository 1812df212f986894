// The fd-store handoff at scale: Stage A + Stage B + restore for 10,000 fds over 1,000 owners on
// SimulatedKernel (issue 4's goal: under 2 us per fd of the library's own work).
//
// "The library's own work" is everything stage_a(), stage_b() and restore() spend outside the
// KernelPort: JSON, bookkeeping, dup/fcntl/readlink of real fds, the stores' duplicate checks.
// A TimingPort around IoctlPort measures the time inside the simulated kernel, which is then
// subtracted; the simulated kexec is not timed at all. The reported time per iteration (manual
// time) is the library's share; counters give it per fd, next to the simulator's share.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/kexec_handoff.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Forwards every call and adds up the time spent below the port.
class TimingPort final : public luo::KernelPort {
 public:
  explicit TimingPort(luo::KernelPort& inner) : inner_(inner) {}
  Clock::duration spent() const { return spent_; }
  void reset() { spent_ = {}; }

 private:
  template <class F>
  auto timed(F&& f) {
    const auto start = Clock::now();
    auto r = f();
    spent_ += Clock::now() - start;
    return r;
  }

 public:
  luo::SysResult<luo::UniqueFd> open_device() override {
    return timed([&] { return inner_.open_device(); });
  }
  luo::SysResult<luo::UniqueFd> create_session(int dev, const luo::SessionNameField& n) override {
    return timed([&] { return inner_.create_session(dev, n); });
  }
  luo::SysResult<luo::UniqueFd> retrieve_session(int dev, const luo::SessionNameField& n) override {
    return timed([&] { return inner_.retrieve_session(dev, n); });
  }
  luo::SysStatus preserve_fd(int s, int fd, std::uint64_t token) override {
    return timed([&] { return inner_.preserve_fd(s, fd, token); });
  }
  luo::SysResult<luo::UniqueFd> retrieve_fd(int s, std::uint64_t token) override {
    return timed([&] { return inner_.retrieve_fd(s, token); });
  }
  luo::SysStatus finish_session(int s, std::uint32_t reserved) override {
    return timed([&] { return inner_.finish_session(s, reserved); });
  }
  luo::SysResult<luo::SessionNameField> get_session_name(int s) override {
    return timed([&] { return inner_.get_session_name(s); });
  }
  luo::SysStatus kexec() override { return inner_.kexec(); }
  bool is_device(int fd) override {
    return timed([&] { return inner_.is_device(fd); });
  }

 private:
  luo::KernelPort& inner_;
  Clock::duration spent_{};
};

// At its peak every stored fd costs two descriptors at once (the store's and Stage A's dup, then
// the simulator's reference and its next-boot copy, then that copy and the restored fd): 10,000
// fds need an RLIMIT_NOFILE above 20,000, one more than some sandboxes allow (unprivileged, hard
// limit 20,000). The 990-owner run is the largest that fits there.
bool raise_fd_limit(rlim_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return false;
  if (lim.rlim_cur >= wanted)
    return true;
  lim.rlim_cur = wanted;
  if (lim.rlim_max < wanted)
    lim.rlim_max = wanted;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

void BM_HandoffPerFd(benchmark::State& state) {
  const auto owners = static_cast<int>(state.range(0));
  const auto per_owner = static_cast<int>(state.range(1));
  const auto fds = owners * per_owner;
  if (!raise_fd_limit(static_cast<rlim_t>(fds) * 2 + 64)) {
    state.SkipWithError("cannot raise RLIMIT_NOFILE to 2 fds per stored fd plus 64");
    return;
  }
  const luo::FdStoreConfig config{.max = static_cast<unsigned>(per_owner),
                                  .preserve = luo::PreserveMode::yes};
  double library_seconds = 0;
  double kernel_seconds = 0;
  for (auto _ : state) {
    luo::SimulatedKernel kernel;
    luo::IoctlPort ioctl(kernel);
    TimingPort port(ioctl);
    luo::LiveUpdate lu(port);
    luo::FdStoreRegistry stores;
    for (int o = 0; o < owners; ++o) {
      auto& store = stores.load("owner-" + std::to_string(o) + ".service", config);
      for (int i = 0; i < per_owner; ++i) {
        auto fd = luo::memfd::create("entry");
        if (!fd.ok() || !luo::memfd::write_at(fd.value().get(), 0, "payload").ok() ||
            !store.add(std::move(fd).value(), "fd-" + std::to_string(i)).ok()) {
          state.SkipWithError("cannot fill the stores");
          return;
        }
      }
    }

    port.reset();
    auto start = Clock::now();
    auto staged = luo::stage_a(stores, nullptr, port, 0);
    auto shutdown_side = Clock::now() - start;
    // The manager's stores die before the shutdown side runs; closing 10,000 memfds is the
    // kernel's work, not the library's.
    stores = luo::FdStoreRegistry();
    start = Clock::now();
    auto dev = lu.open_device();
    if (!dev) {
      state.SkipWithError(dev.error().message().c_str());
      return;
    }
    auto b = luo::stage_b(dev.value(), staged);
    dev.value().close();
    shutdown_side += Clock::now() - start;
    if (b.state != luo::HandoffState::preserved) {
      state.SkipWithError(("stage B failed: " + b.failure).c_str());
      return;
    }
    // LUO holds its own reference to every preserved file: Stage A's duplicates may go now, only
    // "systemd" itself must stay open through the reboot.
    staged = luo::StageAResult();
    if (!kernel.kexec().ok()) {
      state.SkipWithError("kexec failed");
      return;
    }

    luo::LiveUpdate next(port);
    luo::FdStoreRegistry restored;
    for (int o = 0; o < owners; ++o)
      restored.load("owner-" + std::to_string(o) + ".service", config);
    luo::RegistryTarget target(restored);
    luo::HeldFds held;
    start = Clock::now();
    auto dev2 = next.open_device();
    const auto r = dev2 ? luo::restore(dev2.value(), target, held) : luo::RestoreResult();
    const auto boot_side = Clock::now() - start;
    std::size_t back = 0;
    for (const auto& [id, store] : restored.owners())
      back += store.size();
    if (back != static_cast<std::size_t>(fds)) {
      state.SkipWithError(
          ("restored " + std::to_string(back) + " of " + std::to_string(fds) + " fds: " + r.failure)
              .c_str());
      return;
    }
    const double kernel_s = std::chrono::duration<double>(port.spent()).count();
    const double library_s =
        std::chrono::duration<double>(shutdown_side + boot_side).count() - kernel_s;
    state.SetIterationTime(library_s);
    library_seconds += library_s;
    kernel_seconds += kernel_s;
  }
  const double per_fd = static_cast<double>(fds) * static_cast<double>(state.iterations());
  state.counters["library_us_per_fd"] = library_seconds * 1e6 / per_fd;
  state.counters["simulator_us_per_fd"] = kernel_seconds * 1e6 / per_fd;
  state.SetItemsProcessed(state.iterations() * fds);
}
BENCHMARK(BM_HandoffPerFd)
    ->Args({1000, 10})
    ->Args({990, 10})
    ->Args({100, 10})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
