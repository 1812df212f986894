// Starved resources (issue 16): the fd-store handoff over SimulatedKernel with one of the
// library's own syscalls failing (luo/impl/syscalls.hpp: memfd_create, dup, read, write,
// ftruncate, fstat), walked through every call of every phase, and with RLIMIT_NOFILE lowered to
// the edge of what each phase needs.
//
// The phases are HandoffManager's calls: stage_a(), stage_b() (on its own device), the next
// boot's restore(), and load_owner() of an owner whose entry was held (the retry). After any
// failure the rest of the handoff runs normally, and then:
//   - every failure is a typed error (a failure text and an errno) or a per-entry reason;
//   - the "systemd" session, once the next boot retrieved it, is finished;
//   - every entry is accounted for: in a store, held, or reported lost (or dropped) with a reason.
//   - no fd leaked (the suite's leak listener, plus a count around each run).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fd_leak_listener.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/syscalls.hpp"
#include "memfd_fixtures.hpp"

namespace luo::starved_test {

using luo::testing::count_open_fds;
using luo::testing::memfd_with;

constexpr FdStoreConfig kKept{.max = 8, .preserve = PreserveMode::yes};
// Five entries: four memfds in three units (one whose owner is not loaded at restore, so it is
// held and retried) and one third-party session.
constexpr std::size_t kEntries = 5;
constexpr char kHeldOwner[] = "late.service";

enum class Phase { stage_a, stage_b, restore, retry };
constexpr Phase kPhases[] = {Phase::stage_a, Phase::stage_b, Phase::restore, Phase::retry};

std::string phase_name(Phase p) {
  switch (p) {
    case Phase::stage_a:
      return "Stage A";
    case Phase::stage_b:
      return "Stage B";
    case Phase::restore:
      return "restore";
    case Phase::retry:
      return "held retry";
  }
  return "?";
}

// A phase runs with `starve` around it and nothing else.
using Starve = std::function<void(const std::function<void()>&)>;

void no_starving(const std::function<void()>& phase) {
  phase();
}

// What one handoff run produced, for the accounting checks.
struct HandoffRun {
  StageAResult staged;  // document and report only; its fds die with the old boot
  StageBResult stage_b;
  RestoreResult restored;
  std::vector<EntryReport> retried;
  std::size_t in_stores = 0;
  std::size_t held = 0;
  std::optional<SimulatedKernel::IncomingSessionState> systemd_state;
};

HandoffRun run_handoff(Phase starved, const Starve& starve) {
  HandoffRun run;
  SimulatedKernel kernel(KernelProfile::v7_2);
  IoctlPort port(kernel);
  LiveUpdate lu(port, kernel.profile());
  HandoffManager mgr(lu, port);
  const auto phase = [&](Phase p, const std::function<void()>& body) {
    if (starved == p)
      starve(body);
    else
      body();
  };

  EXPECT_TRUE(mgr.load_owner("a.service", kKept).ok());
  EXPECT_TRUE(mgr.store("a.service", memfd_with("a1"), "a1").ok());
  EXPECT_TRUE(mgr.store("a.service", memfd_with("a2"), "a2").ok());
  EXPECT_TRUE(mgr.load_owner("b.service", kKept).ok());
  EXPECT_TRUE(mgr.store("b.service", memfd_with("b1"), "b1").ok());
  {
    auto dev = lu.open_device();
    EXPECT_TRUE(dev.ok());
    auto s = dev.value().create_session("b-own");
    EXPECT_TRUE(s.ok());
    UniqueFd data = memfd_with("b-own-data");
    EXPECT_TRUE(s.value().preserve(data.get(), 1).ok());
    EXPECT_TRUE(
        mgr.store("b.service", UniqueFd(::fcntl(s.value().fd(), F_DUPFD_CLOEXEC, 3)), "b-own")
            .ok());
  }
  EXPECT_TRUE(mgr.load_owner(kHeldOwner, kKept).ok());
  EXPECT_TRUE(mgr.store(kHeldOwner, memfd_with("l1"), "l1").ok());

  // Stage A closes the stores: what it did not stage is released with them.
  phase(Phase::stage_a, [&] { EXPECT_TRUE(mgr.stage_a().ok()); });
  if (mgr.stage_a_result() == nullptr) {
    ADD_FAILURE() << "Stage A was refused";
    return run;
  }
  const StageAResult& staged = *mgr.stage_a_result();
  run.staged = {staged.profile, staged.document, {}, staged.report, staged.state};
  // On a device of its own: a failed open ends Stage B in `nothing` with the open's errno.
  phase(Phase::stage_b, [&] {
    auto b = mgr.stage_b();
    EXPECT_TRUE(b.ok()) << b.error().message();
    if (!b)
      return;
    run.stage_b.mapping = b.value()->mapping;
    run.stage_b.report = b.value()->report;
    run.stage_b.state = b.value()->state;
    run.stage_b.failure = b.value()->failure;
    run.stage_b.error = b.value()->error;
  });
  EXPECT_TRUE(mgr.kexec().ok());

  // The next boot: two units are loaded before the restore, the third only after it (its entry
  // is held meanwhile, and retried when it loads).
  EXPECT_TRUE(mgr.load_owner("a.service", kKept).ok());
  EXPECT_TRUE(mgr.load_owner("b.service", kKept).ok());
  phase(Phase::restore, [&] {
    auto r = mgr.restore();
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (!r)
      return;
    run.restored.report = r.value()->report;
    run.restored.state = r.value()->state;
    run.restored.failure = r.value()->failure;
    run.restored.error = r.value()->error;
  });
  phase(Phase::retry, [&] {
    auto retried = mgr.load_owner(kHeldOwner, kKept);
    EXPECT_TRUE(retried.ok()) << retried.error().message();
    if (retried)
      run.retried = std::move(retried).value();
  });
  for (const auto& [id, store] : mgr.owners().owners())
    run.in_stores += store.size();
  run.held = mgr.held().size();
  for (const auto& s : kernel.snapshot().incoming)
    if (s.name == handoff::kSessionName)
      run.systemd_state = s.state;
  return run;
}

bool lost_with_reason(const EntryReport& r) {
  return (r.state == FdEntryState::lost || r.state == FdEntryState::dropped) && !r.reason.empty() &&
         r.cause != EntryReason::none;
}

// How many entries of a phase's report reached `state`; every other one must be lost with a
// reason.
std::size_t count_reached(const std::vector<EntryReport>& report, FdEntryState state) {
  std::size_t reached = 0;
  for (const auto& r : report) {
    if (r.state == state)
      ++reached;
    else
      EXPECT_TRUE(lost_with_reason(r)) << r.owner << " " << r.name << ": " << r.reason;
  }
  return reached;
}

// The accounting every run must satisfy, whatever failed.
void check_accounting(const HandoffRun& run, const std::string& what) {
  SCOPED_TRACE(what);
  // Stage A reports every entry: staged, or not with a reason.
  ASSERT_EQ(run.staged.report.size(), kEntries);
  const std::size_t staged = count_reached(run.staged.report, FdEntryState::staged);
  std::size_t lost_before_kexec = kEntries - staged;
  if (run.stage_b.state != HandoffState::preserved) {
    // Typed: the whole handoff failed with a text and an errno; everything staged is lost.
    EXPECT_FALSE(run.stage_b.failure.empty());
    EXPECT_NE(run.stage_b.error, 0);
    EXPECT_FALSE(run.systemd_state.has_value()) << "a failed Stage B left \"systemd\" behind";
    EXPECT_EQ(run.in_stores + run.held, 0u);
    return;
  }
  const std::size_t preserved = count_reached(run.stage_b.report, FdEntryState::preserved);
  EXPECT_EQ(run.stage_b.report.size(), staged);
  lost_before_kexec += staged - preserved;
  // The next boot: "systemd" is retrieved and finished, or the restore says why not.
  if (run.restored.state != HandoffState::finished) {
    EXPECT_FALSE(run.restored.failure.empty());
    EXPECT_NE(run.restored.error, 0);
  }
  // Listed only while not released. Retrieved, it must also be finished: a retrieved but
  // unfinished "systemd" would pin its files. Never retrieved (RETRIEVE_SESSION itself failed,
  // e.g. EMFILE with no fd left for the session) it stays deserialized, as on the real kernel,
  // and the restore must say why.
  if (run.systemd_state) {
    if (*run.systemd_state == SimulatedKernel::IncomingSessionState::deserialized) {
      EXPECT_FALSE(run.restored.failure.empty()) << "\"systemd\" was never retrieved";
      EXPECT_NE(run.restored.failure.find("RETRIEVE_SESSION"), std::string::npos)
          << run.restored.failure;
    } else {
      EXPECT_EQ(*run.systemd_state, SimulatedKernel::IncomingSessionState::finished)
          << "\"systemd\" was left unfinished: " << run.restored.failure;
    }
  }
  if (!run.restored.failure.empty())
    return;  // nothing was dispatched: the failure text covers every entry
  std::size_t lost_after = 0;
  for (const auto& r : run.restored.report)
    if (r.state != FdEntryState::stored && r.state != FdEntryState::held) {
      EXPECT_TRUE(lost_with_reason(r)) << r.owner << " " << r.name << ": " << r.reason;
      ++lost_after;
    }
  for (const auto& r : run.retried)
    if (r.state != FdEntryState::stored && r.state != FdEntryState::held) {
      EXPECT_TRUE(lost_with_reason(r)) << r.owner << " " << r.name << ": " << r.reason;
      ++lost_after;
    }
  // Nothing vanishes: stored + held + reported lost = every entry.
  EXPECT_EQ(run.in_stores + run.held + lost_after + lost_before_kexec, kEntries);
}

TEST(StarvedResources, TheUnstarvedHandoffAccountsForEveryEntry) {
  const HandoffRun run = run_handoff(Phase::stage_a, no_starving);
  check_accounting(run, "no failure");
  EXPECT_EQ(run.in_stores, kEntries);
  EXPECT_EQ(run.restored.state, HandoffState::finished);
}

TEST(StarvedResources, EverySyscallOfEveryPhaseMayFail) {
  std::size_t walked = 0;
  std::string per_call;
  std::map<std::pair<Phase, sys::Call>, std::size_t> calls;
  for (Phase phase : kPhases) {
    for (sys::Call call : sys::kAllCalls) {
      std::size_t n = 0;
      run_handoff(phase, [&](const std::function<void()>& p) {
        sys::FaultPlan::count();
        p();
        n = sys::FaultPlan::calls(call);
        sys::FaultPlan::reset();
      });
      for (std::size_t k = 0; k < n; ++k) {
        for (int err : {EMFILE, ENOMEM, EIO}) {
          const std::string what = phase_name(phase) + ": " + std::string(sys::call_name(call)) +
                                   " #" + std::to_string(k) + " fails with " +
                                   std::string(errno_name(*errno_from_int(err)));
          const int fds_before = count_open_fds();
          const HandoffRun run = run_handoff(phase, [&](const std::function<void()>& p) {
            sys::FaultPlan::fail(call, k, err);
            p();
            EXPECT_TRUE(sys::FaultPlan::fired()) << what;
            sys::FaultPlan::reset();
          });
          check_accounting(run, what);
          EXPECT_EQ(count_open_fds(), fds_before) << what;
          ++walked;
        }
      }
      // What the restore stores it retrieved: a new file each, stored without asking the kernel
      // (FdStore::adopt_retrieved()).
      if (call == sys::Call::fstat && (phase == Phase::restore || phase == Phase::retry)) {
        EXPECT_EQ(n, 0u) << phase_name(phase);
      }
      calls[{phase, call}] = n;
      per_call += phase_name(phase) + " " + std::string(sys::call_name(call)) + " x" +
                  std::to_string(n) + "; ";
    }
  }
  // Stage A takes the stores' fds, which close with it: it makes no dup (the copying stage_a()
  // building block's failed dup is fd_store_handoff_test's AFailedDupInStageALosesThatEntryAlone).
  for (sys::Call call : sys::kAllCalls)
    EXPECT_EQ((calls[{Phase::stage_a, call}]), 0u) << "Stage A " << sys::call_name(call);
  // Stage B writes the mapping into a memfd of its own (created, sized, written once); the restore
  // reads it (its size, then its text). Nothing else makes a syscall of its own: the restore and
  // the held retry store what they retrieved without an fstat(). docs/reliability.md quotes these.
  const std::map<std::pair<Phase, sys::Call>, std::size_t> expected = {
      {{Phase::stage_b, sys::Call::memfd_create}, 1},
      {{Phase::stage_b, sys::Call::ftruncate}, 1},
      {{Phase::stage_b, sys::Call::write}, 1},
      {{Phase::restore, sys::Call::read}, 2}};
  for (const auto& [where, n] : calls) {
    const auto want = expected.find(where);
    EXPECT_EQ(n, want == expected.end() ? 0u : want->second)
        << phase_name(where.first) << " " << sys::call_name(where.second);
  }
  std::printf("[starved] %zu failure points walked (%s)\n", walked, per_call.c_str());
}

// Regression (docs/reliability.md F3): a failed read of the token-0 mapping used to come out as
// malformed JSON (EINVAL); it must carry the read's own errno, and "systemd" is still finished.
TEST(StarvedResources, AFailedMappingReadIsReportedWithItsErrno) {
  const HandoffRun run = run_handoff(Phase::restore, [](const std::function<void()>& p) {
    sys::FaultPlan::fail(sys::Call::read, 0, EIO);
    p();
    sys::FaultPlan::reset();
  });
  EXPECT_EQ(run.restored.error, EIO);
  EXPECT_NE(run.restored.failure.find("cannot be read: EIO"), std::string::npos)
      << run.restored.failure;
  // Finished and closed: the kernel no longer lists it (an unfinished one would still be there).
  EXPECT_FALSE(run.systemd_state.has_value());
}

// The highest fd number open now: RLIMIT_NOFILE must stay above it.
int highest_open_fd() {
  int highest = 2;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0)
      highest = fd;
  return highest;
}

TEST(StarvedResources, RlimitNofileAtTheEdgeOfEveryPhase) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::size_t runs = 0;
  for (Phase phase : kPhases) {
    // From no free fd at all up to more than the phase needs.
    for (int slack = 0; slack <= 12; ++slack) {
      const std::string what =
          phase_name(phase) + " with " + std::to_string(slack) + " fds left under RLIMIT_NOFILE";
      const int fds_before = count_open_fds();
      const HandoffRun run = run_handoff(phase, [&](const std::function<void()>& p) {
        // Holes below the highest fd would be free fds too, and how many there are depends on
        // the environment (the sanitizer runtime, ctest, CI's shell): plugged, exactly `slack`
        // fds are left, on every machine.
        const int highest = highest_open_fd();
        std::vector<UniqueFd> plugs;
        for (int fd = 0; fd < highest; ++fd)
          if (::fcntl(fd, F_GETFD) < 0)
            plugs.emplace_back(::fcntl(highest, F_DUPFD_CLOEXEC, fd));
        rlimit low = saved;
        low.rlim_cur = static_cast<rlim_t>(highest + 1 + slack);
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
        p();
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
      });
      ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
      check_accounting(run, what);
      EXPECT_EQ(count_open_fds(), fds_before) << what;
      ++runs;
    }
  }
  EXPECT_EQ(runs, 4u * 13u);
}

}  // namespace luo::starved_test
