// The fd-store handoff at scale: Stage A + Stage B + restore for 10 to 100,000 fds on
// SimulatedKernel (issue 14's goal: under 2 us per fd of the library's own work at 10,000 fds
// over 1,000 owners). bench/callgrind_handoff.sh counts the same work in instructions.
//
// "The library's own work" is everything Stage A, stage_b() and restore() spend outside the
// KernelPort: JSON, bookkeeping, dup/fcntl/readlink of real fds, the stores' duplicate checks.
// A TimingPort around IoctlPort measures the time inside the simulated kernel, which is then
// subtracted; the simulated kexec is not timed at all. The reported time per iteration (manual
// time) is the library's share; counters give it per fd, in all and by phase (stage_a_us_per_fd,
// stage_b_us_per_fd, restore_us_per_fd), next to the simulator's share.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/kexec_handoff.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// A stored fd's file: what the simulated kernel preserves and hands back.
luo::UniqueFd stored_file() {
  auto fd = luo::memfd::create("entry");
  if (!fd.ok() || !luo::memfd::write_at(fd.value().get(), 0, "payload").ok())
    return luo::UniqueFd();
  return std::move(fd).value();
}

// Forwards every call and adds up the time spent below the port, and the bench's own fd
// bookkeeping that happens inside the measured calls (add_spent()).
class TimingPort final : public luo::KernelPort {
 public:
  explicit TimingPort(luo::KernelPort& inner) : inner_(inner) {}
  Clock::duration spent() const { return spent_; }
  void add_spent(Clock::duration d) { spent_ += d; }

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
  // An entry's PRESERVE_FD is given a stand-in: a new file with the stored fd's contents, made
  // and closed inside the timed call. Stage A's fds are closed chunk by chunk (see
  // kChunkFds), so the number in the document names no open file any more; with hold_images the
  // simulator keeps only the image, so it sees the same file either way, and stage_b() makes the
  // same calls with the same answers. The mapping (token 0) is stage_b()'s own memfd, passed on.
  luo::SysStatus preserve_fd(int s, int fd, std::uint64_t token) override {
    return timed([&] {
      if (token == luo::handoff::kMappingToken)
        return inner_.preserve_fd(s, fd, token);
      const luo::UniqueFd stand_in = stored_file();
      return inner_.preserve_fd(s, stand_in.get(), token);
    });
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

// The fd budget: the run fits a stock hard RLIMIT_NOFILE (20,000 here; 4,096 and up elsewhere)
// at every size, 100,000 fds included, holding at most about 2 * kChunkFds + 64 descriptors:
// - Stage A (stage_a_taking_fds(), HandoffManager's: the stores give it their fds, as they
//   close right after it) runs over the owners in chunks of about kChunkFds fds, in the
//   registry's own (id) order, each chunk's fds closed once it is staged. The chunks' documents and
//   reports are joined into the one StageAResult that Stage B takes: the same document and report
//   as one call, with only the per-call header work repeated per chunk.
// - Stage B preserves a stand-in for each closed fd (TimingPort::preserve_fd), and the
//   simulator runs with Options::hold_images, so LUO's references to preserved and retrieved
//   files cost no descriptor either.
// - The restore dispatches into the stores of every owner as usual (RegistryTarget); every
//   kChunkFds dispatches the bench empties the stores (ReleasingTarget), timed apart and
//   counted with the simulator's time, since closing fds is the kernel's work.
// The library's work is that of a run with every descriptor open: stage_a(), stage_b() and
// restore() see the same stores, documents and kernel answers.
constexpr int kChunkFds = 2000;

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

rlim_t hard_fd_limit() {
  rlimit lim{};
  return ::getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_max : 0;
}

std::string owner_id(int o) {
  return "owner-" + std::to_string(o) + ".service";
}

// Owner numbers in the order FdStoreRegistry walks them (by id), so chunks partition that walk.
std::vector<int> owners_in_id_order(int owners) {
  std::vector<int> order(static_cast<std::size_t>(owners));
  for (int o = 0; o < owners; ++o)
    order[static_cast<std::size_t>(o)] = o;
  std::sort(order.begin(), order.end(), [](int a, int b) { return owner_id(a) < owner_id(b); });
  return order;
}

// Appends a later chunk's Stage A to the first's: units and reports in walk order. The chunk's
// fds close with it, after this.
void join(luo::StageAResult& into, luo::StageAResult&& chunk) {
  auto move_all = [](auto& to, auto& from) {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  move_all(into.document.units, chunk.document.units);
  move_all(into.report, chunk.report);
  if (chunk.state == luo::HandoffState::serialized)
    into.state = chunk.state;
}

// RegistryTarget, whose stores the bench empties every kChunkFds dispatches (release(), timed
// into the port's share) so that the restored fds never pile up; counts what was stored.
class ReleasingTarget final : public luo::RestoreTarget {
 public:
  ReleasingTarget(luo::FdStoreRegistry& stores, TimingPort& port)
      : stores_(stores), inner_(stores), port_(port) {}
  luo::DispatchResult dispatch(luo::RestoredItem& item) override {
    auto d = inner_.dispatch(item);
    if (++since_release_ == kChunkFds)
      release();
    return d;
  }
  // Inside the restore: empties every store, timed into the port's share. Never inlined, so
  // that bench/callgrind_handoff.sh finds it by name and subtracts it from the restore's count.
  [[gnu::noinline]] void release() {
    const auto start = Clock::now();
    empty_stores();
    port_.add_spent(Clock::now() - start);
  }
  // After the restore, outside every measured call (and so not named release, which the script
  // would subtract): empties the stores; how many fds they held in all since the start.
  std::size_t restored_in_all() {
    empty_stores();
    return stored_;
  }

 private:
  void empty_stores() {
    for (const auto& [id, store] : stores_.owners()) {
      stored_ += store.size();
      stores_.find(id)->release_all();
    }
    since_release_ = 0;
  }

  luo::FdStoreRegistry& stores_;
  luo::RegistryTarget inner_;
  TimingPort& port_;
  int since_release_ = 0;
  std::size_t stored_ = 0;
};

// The library's share of one run's time, by phase (the simulator's share apart): the three phases
// add up to library_us_per_fd.
struct PhaseSeconds {
  double stage_a = 0;
  double stage_b = 0;
  double restore = 0;
  double kernel = 0;
  double library() const { return stage_a + stage_b + restore; }
  PhaseSeconds& operator+=(const PhaseSeconds& o) {
    stage_a += o.stage_a;
    stage_b += o.stage_b;
    restore += o.restore;
    kernel += o.kernel;
    return *this;
  }
};

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// One run's library share by phase: each phase's wall time less the port's time within it (the
// port's running total read after Stage A, after Stage B, and at the end).
PhaseSeconds library_share(Clock::duration stage_a, Clock::duration stage_b,
                           Clock::duration restore, Clock::duration port_after_stage_a,
                           Clock::duration port_after_stage_b, Clock::duration port_at_end) {
  PhaseSeconds run;
  run.stage_a = seconds(stage_a - port_after_stage_a);
  run.stage_b = seconds(stage_b - (port_after_stage_b - port_after_stage_a));
  run.restore = seconds(restore - (port_at_end - port_after_stage_b));
  run.kernel = seconds(port_at_end);
  return run;
}

void set_counters(benchmark::State& state, int fds, const PhaseSeconds& total) {
  const double per_fd = static_cast<double>(fds) * static_cast<double>(state.iterations());
  state.counters["library_us_per_fd"] = total.library() * 1e6 / per_fd;
  state.counters["simulator_us_per_fd"] = total.kernel * 1e6 / per_fd;
  state.counters["stage_a_us_per_fd"] = total.stage_a * 1e6 / per_fd;
  state.counters["stage_b_us_per_fd"] = total.stage_b * 1e6 / per_fd;
  state.counters["restore_us_per_fd"] = total.restore * 1e6 / per_fd;
  state.SetItemsProcessed(state.iterations() * fds);
}

// After the measured calls: whether every stored fd came back (the stores emptied); if not, the
// run is skipped with `why` (the restore's failure, if any).
bool all_restored(benchmark::State& state, ReleasingTarget& target, int fds,
                  const std::string& why) {
  const std::size_t back = target.restored_in_all();
  if (back == static_cast<std::size_t>(fds))
    return true;
  state.SkipWithError(
      ("restored " + std::to_string(back) + " of " + std::to_string(fds) + " fds: " + why).c_str());
  return false;
}

void BM_HandoffPerFd(benchmark::State& state) {
  const auto owners = static_cast<int>(state.range(0));
  const auto per_owner = static_cast<int>(state.range(1));
  const auto fds = owners * per_owner;
  const int chunk_owners = std::max(1, kChunkFds / per_owner);
  const auto needed = static_cast<rlim_t>(2 * chunk_owners * per_owner + 64);
  if (!raise_fd_limit(needed)) {
    state.SkipWithError(
        ("needs " + std::to_string(needed) +
         " fds open at once (a budget of two per fd of a chunk, 64 spare); the hard "
         "RLIMIT_NOFILE is " +
         std::to_string(hard_fd_limit()))
            .c_str());
    return;
  }
  const luo::FdStoreConfig config{.max = static_cast<unsigned>(per_owner),
                                  .preserve = luo::PreserveMode::yes};
  const std::vector<int> order = owners_in_id_order(owners);
  PhaseSeconds total;
  for (auto _ : state) {
    luo::SimulatedKernel kernel(luo::kDefaultProfile, {.hold_images = true});
    luo::IoctlPort ioctl(kernel);
    TimingPort port(ioctl);
    luo::LiveUpdate lu(port);

    luo::StageAResult staged;
    Clock::duration shutdown_side{};
    for (std::size_t first = 0; first < order.size();
         first += static_cast<std::size_t>(chunk_owners)) {
      luo::FdStoreRegistry stores;
      const std::size_t last =
          std::min(order.size(), first + static_cast<std::size_t>(chunk_owners));
      for (std::size_t k = first; k < last; ++k) {
        auto& store = stores.load(owner_id(order[k]), config);
        for (int i = 0; i < per_owner; ++i) {
          auto fd = stored_file();
          if (!fd || !store.add(std::move(fd), "fd-" + std::to_string(i)).ok()) {
            state.SkipWithError("cannot fill the stores");
            return;
          }
        }
      }
      const auto start = Clock::now();
      auto chunk = luo::stage_a_taking_fds(stores, nullptr, port, {});
      shutdown_side += Clock::now() - start;
      if (first == 0) {
        staged = std::move(chunk);
        staged.fds.clear();
      } else {
        join(staged, std::move(chunk));
      }
      // `chunk` (the staged fds) and `stores` (what was not staged) close here: closing memfds
      // is the kernel's work, not the library's.
    }

    const Clock::duration stage_a_side = shutdown_side;
    const Clock::duration port_after_stage_a = port.spent();
    auto start = Clock::now();
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
    staged = luo::StageAResult();
    if (!kernel.kexec().ok()) {
      state.SkipWithError("kexec failed");
      return;
    }

    const Clock::duration port_after_stage_b = port.spent();
    luo::LiveUpdate next(port);
    luo::FdStoreRegistry restored;
    for (int o = 0; o < owners; ++o)
      restored.load(owner_id(o), config);
    ReleasingTarget target(restored, port);
    luo::HeldFds held;
    start = Clock::now();
    auto dev2 = next.open_device();
    const auto r = dev2 ? luo::restore(dev2.value(), target, held) : luo::RestoreResult();
    const auto boot_side = Clock::now() - start;
    // Before the last release, which is outside the measured calls.
    const PhaseSeconds run = library_share(stage_a_side, shutdown_side - stage_a_side, boot_side,
                                           port_after_stage_a, port_after_stage_b, port.spent());
    if (!all_restored(state, target, fds, r.failure))
      return;
    state.SetIterationTime(run.library());
    total += run;
  }
  set_counters(state, fds, total);
}
// 10 fds, 1,000 (100 owners), 10,000 (1,000 owners: issue 14's point) and 100,000 (10,000).
BENCHMARK(BM_HandoffPerFd)
    ->Args({1, 10})
    ->Args({100, 10})
    ->Args({1000, 10})
    ->Args({10000, 10})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The same handoff through HandoffManager, as an embedder runs it: load_owner() and store() (not
// timed), then stage_a(), stage_b() on the manager's own device, kexec() (not timed) and
// restore() into the same kind of target, each call checked against kHandoffMachine. Up to
// kChunkFds fds, where BM_HandoffPerFd runs Stage A in one chunk too, so the two make the same
// calls on the same stores and their ratio at one size is the manager's own cost per fd. (The
// manager stages every store at once, so past kChunkFds it would need an fd per stored fd.)
void BM_HandoffManagerPerFd(benchmark::State& state) {
  const auto owners = static_cast<int>(state.range(0));
  const auto per_owner = static_cast<int>(state.range(1));
  const auto fds = owners * per_owner;
  if (fds > kChunkFds || !raise_fd_limit(static_cast<rlim_t>(2 * fds + 64))) {
    state.SkipWithError("runs up to kChunkFds fds, with two fds per fd and 64 spare");
    return;
  }
  const luo::FdStoreConfig config{.max = static_cast<unsigned>(per_owner),
                                  .preserve = luo::PreserveMode::yes};
  PhaseSeconds total;
  for (auto _ : state) {
    luo::SimulatedKernel kernel(luo::kDefaultProfile, {.hold_images = true});
    luo::IoctlPort ioctl(kernel);
    TimingPort port(ioctl);
    luo::LiveUpdate lu(port);
    luo::HandoffManager mgr(lu, port);
    for (int o = 0; o < owners; ++o) {
      if (!mgr.load_owner(owner_id(o), config)) {
        state.SkipWithError("cannot load the owners");
        return;
      }
      for (int i = 0; i < per_owner; ++i) {
        if (!mgr.store(owner_id(o), stored_file(), "fd-" + std::to_string(i))) {
          state.SkipWithError("cannot fill the stores");
          return;
        }
      }
    }

    auto start = Clock::now();
    const bool staged = mgr.stage_a().ok();
    const Clock::duration stage_a_side = Clock::now() - start;
    const Clock::duration port_after_stage_a = port.spent();
    start = Clock::now();
    auto b = mgr.stage_b();
    const Clock::duration stage_b_side = Clock::now() - start;
    if (!staged || !b || b.value()->state != luo::HandoffState::preserved) {
      state.SkipWithError("Stage A or Stage B failed");
      return;
    }
    const Clock::duration port_after_stage_b = port.spent();
    if (!mgr.kexec()) {
      state.SkipWithError("kexec failed");
      return;
    }

    luo::FdStoreRegistry restored;
    for (int o = 0; o < owners; ++o)
      restored.load(owner_id(o), config);
    ReleasingTarget target(restored, port);
    start = Clock::now();
    auto r = mgr.restore(&target);
    const auto boot_side = Clock::now() - start;
    const PhaseSeconds run = library_share(stage_a_side, stage_b_side, boot_side,
                                           port_after_stage_a, port_after_stage_b, port.spent());
    if (!all_restored(state, target, fds, r ? r.value()->failure : r.error().message()))
      return;
    state.SetIterationTime(run.library());
    total += run;
  }
  set_counters(state, fds, total);
}
BENCHMARK(BM_HandoffManagerPerFd)
    ->Args({1, 10})
    ->Args({100, 10})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// One owner's store filled with n fds, as the restore fills it: each add() is an fstat() and the
// duplicate check against the entries already stored. Per fd, so the growth with the store's
// size is visible (the handoff points above store 10 fds per owner).
void BM_StoreAddPerFd(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  if (!raise_fd_limit(static_cast<rlim_t>(n + 64))) {
    state.SkipWithError("cannot raise RLIMIT_NOFILE");
    return;
  }
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i)
    names.push_back("fd-" + std::to_string(i));
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<luo::UniqueFd> fds;
    for (int i = 0; i < n; ++i)
      fds.push_back(stored_file());
    luo::FdStore store({.max = static_cast<unsigned>(n), .preserve = luo::PreserveMode::yes});
    state.ResumeTiming();
    for (int i = 0; i < n; ++i) {
      if (!store
               .add(std::move(fds[static_cast<std::size_t>(i)]), names[static_cast<std::size_t>(i)])
               .ok()) {
        state.SkipWithError("add failed");
        return;
      }
    }
    state.PauseTiming();
    store.release_all();
    state.ResumeTiming();
  }
  state.counters["us_per_fd"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * n * 1e-6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_StoreAddPerFd)->Arg(10)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// The JSON side alone, at every size (it needs no fds): Stage B's mapping built from a Stage A
// document and written, then read back as the restore reads it. Per entry; no kernel at all.
void BM_MappingPerEntry(benchmark::State& state) {
  const auto owners = static_cast<int>(state.range(0));
  const auto per_owner = static_cast<int>(state.range(1));
  luo::handoff::StageA doc;
  doc.header.set_kexec_count(3, luo::SystemdProfile::v262);
  int fd = 3;
  for (int o : owners_in_id_order(owners)) {
    luo::handoff::UnitEntries<luo::handoff::StageAEntry> unit{owner_id(o), {}};
    for (int i = 0; i < per_owner; ++i)
      unit.fdstore.push_back({luo::handoff::EntryType::fd, "fd-" + std::to_string(i), fd++, {}});
    doc.units.push_back(std::move(unit));
  }
  const luo::handoff::DualTimestamp now{1760000000000000, 4000000};
  std::size_t entries = 0;
  for (auto _ : state) {
    const auto mapping =
        luo::handoff::stage_b_from_stage_a(doc, luo::SystemdProfile::v262, {now, now});
    const std::string json = luo::handoff::to_json(mapping);
    auto parsed = luo::handoff::parse_stage_b(json);
    benchmark::DoNotOptimize(parsed);
    entries += static_cast<std::size_t>(owners * per_owner);
  }
  state.counters["us_per_entry"] =
      benchmark::Counter(static_cast<double>(entries) * 1e-6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(static_cast<std::int64_t>(entries));
}
BENCHMARK(BM_MappingPerEntry)
    ->Args({1, 10})
    ->Args({100, 10})
    ->Args({1000, 10})
    ->Args({10000, 10})
    ->Unit(benchmark::kMillisecond);

}  // namespace
