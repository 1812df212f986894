// Our Stage B and restore beside systemd 262.1's own, phase by phase, in one run (issue 14 item
// 4's peer: each of ours should be faster than systemd's at every size).
//
// systemd's side is Debian's pinned libsystemd-shared/-core 262.1 loaded in-process by the Tier 0
// harness (tests/systemd/systemd262.hpp): its Stage B builder luo_preserve_fd_stores() and PID 1's
// restore manager_luo_restore_fd_stores(), their /dev/liveupdate diverted into a SimulatedKernel.
// Our side is luo::stage_b() and luo::restore() on another SimulatedKernel. Both start from the
// same Stage A document (units of 10 memfds each; systemd's reads it as JSON, ours takes it
// parsed, as each side's Stage B does) and neither Stage B time includes reading Stage A.
//
// The simulated kernel is excluded on both sides at the same boundary: a TimingBackend between
// each side and its SimulatedKernel adds up the time of every open/ioctl, and that is subtracted
// from the phase's wall time. What remains is each side's own work: JSON, bookkeeping, real
// syscalls (the mapping memfd), and on the restore side the hand-off of each fd to its unit (our
// RegistryTarget's store, systemd's manager_dispatch_external_fd_to_unit() stand-in recording
// it). When systemd's packages cannot be had, its rows say why and are skipped.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "systemd262.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kFdsPerUnit = 10;

// Forwards to the simulator and adds up the time spent in it.
class TimingBackend final : public luo::IoctlBackend {
 public:
  explicit TimingBackend(luo::IoctlBackend& inner) : inner_(inner) {}
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
  luo::SysResult<int> ioctl(int fd, unsigned long cmd, void* arg) override {
    return timed([&] { return inner_.ioctl(fd, cmd, arg); });
  }
  luo::SysStatus kexec() override { return inner_.kexec(); }
  bool is_device(int fd) override {
    return timed([&] { return inner_.is_device(fd); });
  }

 private:
  luo::IoctlBackend& inner_;
  Clock::duration spent_{};
};

std::string owner_id(int o) {
  return "owner-" + std::to_string(o) + ".service";
}

// One iteration's Stage A: `entries` memfds over entries/10 units, in the units' id order as
// PID 1's walk writes them. The memfds are open until Stage B has preserved them.
struct StageAInput {
  luo::StageAResult staged;
  std::string json;  // the same document as systemd-shutdown reads it
};
StageAInput make_stage_a(int entries) {
  StageAInput in;
  in.staged.profile = luo::SystemdProfile::v262;
  in.staged.state = luo::HandoffState::serialized;
  auto& doc = in.staged.document;
  doc.header.set_kexec_count(3, luo::SystemdProfile::v262);
  std::vector<int> owners(static_cast<std::size_t>(entries / kFdsPerUnit));
  for (std::size_t o = 0; o < owners.size(); ++o)
    owners[o] = static_cast<int>(o);
  std::sort(owners.begin(), owners.end(), [](int a, int b) { return owner_id(a) < owner_id(b); });
  for (int o : owners) {
    luo::handoff::UnitEntries<luo::handoff::StageAEntry> unit{owner_id(o), {}};
    for (int i = 0; i < kFdsPerUnit; ++i) {
      auto fd = luo::memfd::create("entry");
      if (!fd.ok() || !luo::memfd::write_at(fd.value().get(), 0, "payload").ok())
        return {};
      unit.fdstore.push_back(
          {luo::handoff::EntryType::fd, "fd-" + std::to_string(i), fd.value().get(), {}});
      in.staged.fds.push_back(std::move(fd).value());
    }
    doc.units.push_back(std::move(unit));
  }
  in.json = luo::handoff::to_json(doc);
  return in;
}

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Per-entry counters of one side's two phases; the iteration's time is their sum.
struct Phases {
  double stage_b = 0;
  double restore = 0;
};
void report(benchmark::State& state, const Phases& total, int entries) {
  const double n = static_cast<double>(entries) * static_cast<double>(state.iterations());
  state.counters["stage_b_us_per_entry"] = total.stage_b * 1e6 / n;
  state.counters["restore_us_per_entry"] = total.restore * 1e6 / n;
  state.SetItemsProcessed(state.iterations() * entries);
}

void BM_Ours(benchmark::State& state) {
  const auto entries = static_cast<int>(state.range(0));
  const luo::FdStoreConfig config{.max = kFdsPerUnit, .preserve = luo::PreserveMode::yes};
  Phases total;
  for (auto _ : state) {
    auto in = make_stage_a(entries);
    if (in.json.empty()) {
      state.SkipWithError("cannot create the memfds");
      return;
    }
    luo::SimulatedKernel kernel(luo::kDefaultProfile, {.hold_images = true});
    TimingBackend timing(kernel);
    luo::IoctlPort port(timing);

    luo::LiveUpdate lu(port);
    auto start = Clock::now();
    auto dev = lu.open_device();
    if (!dev) {
      state.SkipWithError(dev.error().message().c_str());
      return;
    }
    auto b = luo::stage_b(dev.value(), in.staged);
    dev.value().close();
    const double stage_b = seconds(Clock::now() - start) - seconds(timing.spent());
    if (b.state != luo::HandoffState::preserved) {
      state.SkipWithError(("our Stage B failed: " + b.failure).c_str());
      return;
    }
    in = {};  // LUO holds the preserved files; only "systemd" stays open through the kexec
    if (!kernel.kexec().ok()) {
      state.SkipWithError("kexec failed");
      return;
    }

    luo::LiveUpdate next(port);
    luo::FdStoreRegistry restored;
    for (int o = 0; o < entries / kFdsPerUnit; ++o)
      restored.load(owner_id(o), config);
    luo::RegistryTarget target(restored);
    luo::HeldFds held;
    timing.reset();
    start = Clock::now();
    auto dev2 = next.open_device();
    const auto r = dev2 ? luo::restore(dev2.value(), target, held) : luo::RestoreResult();
    const double restore = seconds(Clock::now() - start) - seconds(timing.spent());
    std::size_t back = 0;
    for (const auto& [id, store] : restored.owners())
      back += store.size();
    if (back != static_cast<std::size_t>(entries)) {
      state.SkipWithError(("our restore brought back " + std::to_string(back) + " of " +
                           std::to_string(entries) + ": " + r.failure)
                              .c_str());
      return;
    }
    state.SetIterationTime(stage_b + restore);
    total.stage_b += stage_b;
    total.restore += restore;
  }
  report(state, total, entries);
}

void BM_Systemd262(benchmark::State& state) {
  const auto entries = static_cast<int>(state.range(0));
  std::string why_not;
  auto* sd = luo::sdtest::Systemd262::get(&why_not);
  if (sd == nullptr) {
    state.SkipWithError(("systemd 262.1 unavailable, its rows skipped: " + why_not).c_str());
    return;
  }
  // The late shutdown timestamps 262's systemd-shutdown merges just before Stage B (ours takes
  // them from the clock inside stage_b()).
  const std::array<luo::sdtest::DualTimestamp, 2> late{
      luo::sdtest::DualTimestamp{1'760'000'000'000'001, 5'000'001},
      luo::sdtest::DualTimestamp{1'760'000'000'000'002, 5'000'002}};
  Phases total;
  for (auto _ : state) {
    auto in = make_stage_a(entries);
    if (in.json.empty()) {
      state.SkipWithError("cannot create the memfds");
      return;
    }
    luo::SimulatedKernel kernel(luo::kDefaultProfile, {.hold_images = true});
    TimingBackend timing(kernel);

    // luo_parse_serialization() and the timestamp merge make no LUO call, so everything the
    // backend measured during the call was inside the builder.
    auto b = sd->stage_b(timing, in.json, late);
    const double stage_b = seconds(b.builder_time) - seconds(timing.spent());
    if (b.result < 0 || b.session.get() < 0) {
      state.SkipWithError(
          ("systemd's Stage B failed: luo_preserve_fd_stores " + std::to_string(b.result)).c_str());
      return;
    }
    in = {};
    if (!kernel.kexec().ok()) {
      state.SkipWithError("kexec failed");
      return;
    }
    b = {};

    timing.reset();
    auto r = sd->restore(timing);
    const double restore = seconds(r.restore_time) - seconds(timing.spent());
    if (r.result < 0 || r.dispatched.size() != static_cast<std::size_t>(entries)) {
      state.SkipWithError(("systemd's restore brought back " + std::to_string(r.dispatched.size()) +
                           " of " + std::to_string(entries) + " (manager_luo_restore_fd_stores " +
                           std::to_string(r.result) + ")")
                              .c_str());
      return;
    }
    state.SetIterationTime(stage_b + restore);
    total.stage_b += stage_b;
    total.restore += restore;
  }
  report(state, total, entries);
}

// 10 entries (one unit), 1,000 (100 units), 10,000 (1,000 units: issue 14's shape), each size's
// two rows one after the other, so that a change of the machine's load hits both alike.
const bool registered = [] {
  for (const int entries : {10, 1000, 10000}) {
    for (auto* b : {benchmark::RegisterBenchmark("BM_Ours", BM_Ours),
                    benchmark::RegisterBenchmark("BM_Systemd262", BM_Systemd262)}) {
      b->Arg(entries)->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
