// The fd-store handoff end to end over SimulatedKernel with a simulated kexec (spec
// systemd-luo.md §3, TEST-91 scenarios of §4.3/§4.4 without nested managers): stores filled,
// Stage A, Stage B, kexec, restore, and the stores and contents compared afterwards. The
// manager is a HandoffManager, as an embedder's; the tests at the end feed the building blocks
// (stage_a(), stage_b()) directly where they check one of them alone.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "fd_leak_listener.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/syscalls.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

using luo::testing::contents;
using luo::testing::entry_named;
using luo::testing::memfd_with;

constexpr FdStoreConfig kKept{.max = 20, .preserve = PreserveMode::yes};

// One machine: the simulated kernel, the runtime, and the manager of the current boot, a
// HandoffManager that keeps what must stay open across the reboot (Stage A's fds and the
// "systemd" session) and carries on as the next boot's manager after kexec().
class Machine {
 public:
  explicit Machine(KernelProfile profile = kDefaultProfile,
                   SystemdProfile systemd = kDefaultSystemdProfile)
      : kernel_(profile),
        port_(kernel_),
        lu_(port_, profile),
        mgr(lu_, port_, {.profile = systemd}) {}

  SimulatedKernel& kernel() { return kernel_; }
  IoctlPort& port() { return port_; }
  LiveUpdate& runtime() { return lu_; }

  // The unit is loaded in this boot; returns what happened to entries held for it.
  std::vector<EntryReport> load(std::string_view owner, FdStoreConfig config) {
    auto r = mgr.load_owner(owner, config);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r ? std::move(r).value() : std::vector<EntryReport>{};
  }
  // FDSTORE=1.
  bool add(std::string_view owner, UniqueFd fd, std::string_view name) {
    auto r = mgr.store(owner, std::move(fd), name);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok();
  }
  const FdStore& store(std::string_view owner) {
    const FdStore* s = mgr.owners().find(owner);
    EXPECT_NE(s, nullptr) << owner;
    static const FdStore kNone;
    return s != nullptr ? *s : kNone;
  }

  // A service that creates its own session, preserves a memfd at `token` and hands the session
  // fd to its store (test-luo store's "<prefix>-direct").
  void own_session(std::string_view owner, const std::string& session_name, Token token,
                   std::string_view data) {
    auto dev = lu_.open_device();
    ASSERT_TRUE(dev.ok()) << dev.error().message();
    auto s = dev.value().create_session(session_name);
    ASSERT_TRUE(s.ok()) << s.error().message();
    auto m = memfd_with(data);
    ASSERT_TRUE(s.value().preserve(m.get(), token).ok());
    ASSERT_TRUE(add(owner, UniqueFd(::fcntl(s.value().fd(), F_DUPFD_CLOEXEC, 3)), session_name));
  }

  // Manager shutdown for kexec: Stage A (the stores close with it), Stage B, reboot(KEXEC).
  // `timestamps`: ShutdownStart/FinishTimestamp as the manager recorded them.
  void kexec(std::optional<std::pair<handoff::DualTimestamp, handoff::DualTimestamp>> timestamps =
                 std::nullopt) {
    if (timestamps)
      mgr.begin_shutdown(timestamps->first);
    auto a = mgr.stage_a(timestamps ? std::optional(timestamps->second) : std::nullopt);
    ASSERT_TRUE(a.ok()) << a.error().message();
    last_stage_a = {
        a.value()->profile, a.value()->document, {}, a.value()->report, a.value()->state};
    if (a.value()->state == HandoffState::serialized) {
      auto b = mgr.stage_b();
      ASSERT_TRUE(b.ok()) << b.error().message();
    }
    ASSERT_TRUE(mgr.kexec().ok());
  }

  // The next boot's restore, by this boot's manager.
  RestoreResult restore() {
    auto r = mgr.restore();
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (!r)
      return {};
    const RestoreResult& out = *r.value();
    return RestoreResult{out.state,  out.kexecs_count, out.previous_shutdown,
                         out.report, out.failure,      out.error};
  }

  // The last Stage A's document and report, without its fds (they died with the old boot).
  StageAResult last_stage_a;

 private:
  SimulatedKernel kernel_;
  IoctlPort port_;
  LiveUpdate lu_;

 public:
  HandoffManager mgr;
};

TEST(FdStoreHandoff, MainServiceWithTwoMemfdsAndItsOwnSession) {
  Machine m;
  m.load("TEST-91-LIVEUPDATE.service", kKept);
  ASSERT_TRUE(m.add("TEST-91-LIVEUPDATE.service", memfd_with("liveupdate-test-data-1"), "testfd1"));
  ASSERT_TRUE(m.add("TEST-91-LIVEUPDATE.service", memfd_with("liveupdate-test-data-2"), "testfd2"));
  m.own_session("TEST-91-LIVEUPDATE.service", "luosession-direct", 42,
                "luo-session-memfd-test-data");
  m.kexec();

  m.load("TEST-91-LIVEUPDATE.service", kKept);
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(r.kexecs_count, 1u);
  const FdStore& restored = m.store("TEST-91-LIVEUPDATE.service");
  ASSERT_EQ(restored.size(), 3u);
  EXPECT_EQ(contents(entry_named(restored, "testfd1")->fd.get()), "liveupdate-test-data-1");
  EXPECT_EQ(contents(entry_named(restored, "testfd2")->fd.get()), "liveupdate-test-data-2");
  // The third-party session comes back unfinished: the service retrieves its memfd itself.
  const auto* session = entry_named(restored, "luosession-direct");
  ASSERT_NE(session, nullptr);
  auto name = m.port().get_session_name(session->fd.get());
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name.value().stored(), "luosession-direct");
  auto data = m.port().retrieve_fd(session->fd.get(), 42);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(contents(data.value().get()), "luo-session-memfd-test-data");
  EXPECT_EQ(m.mgr.held().size(), 0u);
}

// systemd's §5.6 gap, reported instead of silent: a restored third-party session is incoming,
// which the kernel never hands over; a service that keeps it in its store across the next kexec
// loses it either way, but here Stage A says so, and nothing else is affected.
TEST(FdStoreHandoff, ARetrievedSessionKeptAcrossTheNextKexecIsDroppedAtStageAWithItsReason) {
  Machine m;
  m.load("vmm.service", kKept);
  ASSERT_TRUE(m.add("vmm.service", memfd_with("state"), "state"));
  m.own_session("vmm.service", "vmm-vm0", 1, "guest memory");
  m.kexec();

  m.load("vmm.service", kKept);
  ASSERT_EQ(m.restore().state, HandoffState::finished);
  ASSERT_EQ(m.store("vmm.service").size(), 2u);
  m.kexec();

  const auto& report = m.last_stage_a.report;
  const auto dropped = std::find_if(report.begin(), report.end(),
                                    [](const EntryReport& r) { return r.name == "vmm-vm0"; });
  ASSERT_NE(dropped, report.end());
  EXPECT_EQ(dropped->state, FdEntryState::dropped);
  EXPECT_NE(dropped->reason.find("only outgoing sessions survive a kexec"), std::string::npos)
      << dropped->reason;
  const auto& units = m.last_stage_a.document.units;
  ASSERT_EQ(units.size(), 1u);
  ASSERT_EQ(units[0].fdstore.size(), 1u);
  EXPECT_EQ(units[0].fdstore[0].name, "state");

  m.load("vmm.service", kKept);
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  const FdStore& vmm = m.store("vmm.service");
  ASSERT_EQ(vmm.size(), 1u);
  EXPECT_EQ(contents(vmm.entries()[0].fd.get()), "state");
}

TEST(FdStoreHandoff, OnlyYesAndOnSuccessStoresAreHandedOver) {
  Machine m;
  for (PreserveMode mode : kAllPreserveModes) {
    const std::string id = std::string(preserve_mode_name(mode)) + ".service";
    m.load(id, {.max = 2, .preserve = mode});
    ASSERT_TRUE(m.add(id, memfd_with(std::string(preserve_mode_name(mode))), "x"));
  }
  m.kexec();
  for (PreserveMode mode : kAllPreserveModes)
    m.load(std::string(preserve_mode_name(mode)) + ".service", {.max = 2, .preserve = mode});
  const RestoreResult restored = m.restore();
  EXPECT_EQ(restored.state, HandoffState::finished) << restored.failure;
  EXPECT_EQ(m.store("yes.service").size(), 1u);
  EXPECT_EQ(m.store("on-success.service").size(), 1u);
  EXPECT_EQ(m.store("restart.service").size(), 0u);
  EXPECT_EQ(m.store("no.service").size(), 0u);
}

TEST(FdStoreHandoff, LateOwnersAreHeldThenAttachedOrDroppedWithAReason) {
  Machine m;
  for (auto id : {"late.service", "late-noreload.service", "late-zerofds.service"}) {
    m.load(id, kKept);
    ASSERT_TRUE(m.add(id, memfd_with(std::string(id) + "-1"), "testfd1"));
    ASSERT_TRUE(m.add(id, memfd_with(std::string(id) + "-2"), "testfd2"));
  }
  m.kexec();

  // None of the late units exists yet in the new boot.
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished);
  EXPECT_EQ(m.mgr.held().size(), 6u);
  for (const auto& report : r.report)
    EXPECT_EQ(report.state, FdEntryState::held) << report.name;

  // The manager loads the units (daemon-reload, or lazily) and reports each one.
  auto attached = m.load("late.service", kKept);
  ASSERT_EQ(attached.size(), 2u);
  for (const auto& report : attached)
    EXPECT_EQ(report.state, FdEntryState::stored);
  EXPECT_EQ(contents(entry_named(m.store("late.service"), "testfd1")->fd.get()), "late.service-1");

  auto dropped = m.load("late-zerofds.service", {.max = 0, .preserve = PreserveMode::yes});
  ASSERT_EQ(dropped.size(), 2u);
  for (const auto& report : dropped) {
    EXPECT_EQ(report.state, FdEntryState::dropped);
    EXPECT_EQ(report.cause, EntryReason::refused_by_owner) << report.reason;
    EXPECT_NE(report.reason.find("FileDescriptorStoreMax=0"), std::string::npos) << report.reason;
  }
  // Still unknown: stays held, nothing lost; retried at the next daemon-reload.
  EXPECT_EQ(m.mgr.daemon_reload().value().size(), 2u);
  EXPECT_EQ(m.mgr.held().size(), 2u);
  m.load("late-noreload.service", kKept);
  EXPECT_EQ(m.mgr.held().size(), 0u);
  EXPECT_EQ(m.store("late-noreload.service").size(), 2u);
}

TEST(FdStoreHandoff, HeldEntriesGoThroughTheNextKexecToo) {
  Machine m;
  m.load("late.service", kKept);
  ASSERT_TRUE(m.add("late.service", memfd_with("twice"), "fd"));
  m.kexec();
  ASSERT_EQ(m.restore().state, HandoffState::finished);
  ASSERT_EQ(m.mgr.held().size(), 1u);
  m.kexec();
  m.load("late.service", kKept);
  const auto second = m.restore();
  EXPECT_EQ(second.kexecs_count, 2u);
  const FdStore& late = m.store("late.service");
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(contents(late.entries()[0].fd.get()), "twice");
}

TEST(FdStoreHandoff, ASessionNamedSystemdIsRefusedAndNothingElseIsLost) {
  Machine m;
  m.load("hijack.service", kKept);
  m.own_session("hijack.service", "systemd", 99, "luo-hijack-memfd-test-data");
  m.load("good.service", kKept);
  ASSERT_TRUE(m.add("good.service", memfd_with("kept"), "fd"));
  m.kexec();

  m.load("hijack.service", kKept);
  m.load("good.service", kKept);
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(m.store("hijack.service").size(), 0u);
  ASSERT_EQ(m.store("good.service").size(), 1u);
  EXPECT_EQ(contents(m.store("good.service").entries()[0].fd.get()), "kept");
}

TEST(FdStoreHandoff, StageAReportsTheHijackWithItsReason) {
  Machine m;
  m.load("hijack.service", kKept);
  m.own_session("hijack.service", "systemd", 99, "x");
  const auto* staged = m.mgr.stage_a().value();
  ASSERT_EQ(staged->report.size(), 1u);
  EXPECT_EQ(staged->report[0].state, FdEntryState::dropped);
  EXPECT_NE(staged->report[0].reason.find("namespace"), std::string::npos);
  EXPECT_EQ(staged->state, HandoffState::serialized) << "262 hands over even with nothing";
  Machine v261(kDefaultProfile, SystemdProfile::v261);
  v261.load("hijack.service", kKept);
  v261.own_session("hijack.service", "systemd", 99, "x");
  EXPECT_EQ(v261.mgr.stage_a().value()->state, HandoffState::nothing) << "nothing else qualified";
}

TEST(FdStoreHandoff, OnSuccessStoreSurvivesRestartsButNotAPermanentFailure) {
  FdStore store({.max = 4, .preserve = PreserveMode::on_success});
  ASSERT_TRUE(store.add(memfd_with("/dev/zero stand-in"), "mem").ok());
  EXPECT_FALSE(store.owner_stopped(ReleaseTrigger::dead, /*failed=*/false));
  EXPECT_FALSE(store.owner_stopped(ReleaseTrigger::release, false));
  EXPECT_EQ(store.size(), 1u) << "kept through the auto-restart states";
  EXPECT_TRUE(store.owner_stopped(ReleaseTrigger::dead, /*failed=*/true));
  EXPECT_EQ(store.size(), 0u) << "gone once the failure is permanent";
}

TEST(FdStoreHandoff, KexecCounterCountsEveryHandoff) {
  Machine m;
  m.load("a.service", kKept);
  ASSERT_TRUE(m.add("a.service", memfd_with("x"), "fd"));
  for (int i = 1; i <= 3; ++i) {
    m.kexec();
    m.load("a.service", kKept);
    EXPECT_EQ(m.restore().kexecs_count, static_cast<std::uint32_t>(i));
    EXPECT_EQ(m.mgr.kexec_count(), static_cast<std::uint32_t>(i));
  }
}

// systemd's §5.16, reproduced for the v261 profile: the counter travels only inside the
// mapping, so a kexec with nothing to hand over leaves the next boot without one.
TEST(FdStoreHandoff, TheKexecCounterStartsOverAfterAKexecWithNothingToHandOverInV261) {
  Machine m(kDefaultProfile, SystemdProfile::v261);
  m.load("a.service", kKept);
  ASSERT_TRUE(m.add("a.service", memfd_with("x"), "fd"));
  m.kexec();
  m.load("a.service", kKept);
  const auto first = m.restore();
  ASSERT_EQ(first.kexecs_count, 1u);
  ASSERT_EQ(m.mgr.remove("a.service", "fd").value(), 1u);
  m.kexec();
  EXPECT_EQ(m.last_stage_a.state, HandoffState::nothing);
  const auto second = m.restore();
  EXPECT_EQ(second.state, HandoffState::nothing);
  EXPECT_EQ(second.kexecs_count, 0u);
}

// 262 (§9.3): every kexec hands over, so the counter and the shutdown timestamps survive a
// kexec that carries no fd; the mapping is then {"version":1,"state":{...}} alone at token 0.
TEST(FdStoreHandoff, V262HandsOverTheCounterAndTimestampsEvenWithNothingStored) {
  Machine m;
  const handoff::DualTimestamp start{1000, 10}, finish{2000, 20};
  ASSERT_TRUE(m.mgr.adopt_kexec_count(6).ok());
  m.kexec(std::pair(start, finish));
  EXPECT_EQ(m.last_stage_a.state, HandoffState::serialized);
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(r.kexecs_count, 7u);
  EXPECT_EQ(r.previous_shutdown.start, start);
  EXPECT_EQ(r.previous_shutdown.finish, finish);
  EXPECT_EQ(m.mgr.previous_shutdown(), r.previous_shutdown);
  ASSERT_TRUE(r.previous_shutdown.late_start && r.previous_shutdown.late_finish);
  EXPECT_LE(r.previous_shutdown.late_start->monotonic, r.previous_shutdown.late_finish->monotonic);
  EXPECT_GT(r.previous_shutdown.late_finish->realtime, 0u);
  EXPECT_TRUE(r.report.empty());
}

TEST(FdStoreHandoff, TheEmptyV262MappingIsTheStateAlone) {
  Machine m;
  ASSERT_TRUE(m.mgr.adopt_kexec_count(2).ok());
  auto staged = m.mgr.stage_a();
  ASSERT_TRUE(staged.ok()) << staged.error().message();
  EXPECT_EQ(handoff::to_json(staged.value()->document),
            R"({"version":1,"state":{"KExecCount":2}})");
  auto dev = m.runtime().open_device();
  ASSERT_TRUE(dev.ok());
  auto preserved = m.mgr.stage_b(dev.value(), {.late_start = handoff::DualTimestamp{5, 6}});
  ASSERT_TRUE(preserved.ok()) << preserved.error().message();
  const StageBResult& b = *preserved.value();
  ASSERT_EQ(b.state, HandoffState::preserved) << b.failure;
  EXPECT_TRUE(b.mapping.units.empty());
  const std::string json = handoff::to_json(b.mapping);
  EXPECT_THAT(json,
              ::testing::StartsWith(
                  R"({"version":1,"state":{"KExecCount":2,"ShutdownLateStartTimestamp":)"
                  R"({"realtime":5,"monotonic":6},"ShutdownLateFinishTimestamp":{"realtime":)"));
  EXPECT_EQ(json.find("units"), std::string::npos);
}

// A v261 manager on one side, a v262 one on the other: the counter key differs, and the
// library reads both, so the counter keeps counting in either direction (§9.2).
TEST(FdStoreHandoff, TheCounterSurvivesAV261ToV262KexecAndBack) {
  Machine m(kDefaultProfile, SystemdProfile::v261);
  m.load("a.service", kKept);
  ASSERT_TRUE(m.add("a.service", memfd_with("x"), "fd"));
  ASSERT_TRUE(m.mgr.adopt_kexec_count(4).ok());
  m.kexec();
  EXPECT_NE(m.last_stage_a.document.header.state->dump().find("kexecsCount"), std::string::npos);
  // The next boot runs a v262 manager.
  m.mgr = HandoffManager(m.runtime(), m.port(), {.profile = SystemdProfile::v262});
  m.load("a.service", kKept);
  const auto first = m.restore();
  EXPECT_EQ(first.kexecs_count, 5u);
  EXPECT_EQ(first.previous_shutdown, handoff::ShutdownTimestamps{});
  m.kexec();
  m.load("a.service", kKept);
  const auto second = m.restore();
  EXPECT_EQ(second.kexecs_count, 6u);
  EXPECT_EQ(m.store("a.service").size(), 1u);
}

TEST(FdStoreHandoff, NonMemfdEntriesAreLostAloneAndTokensStayDense) {
  Machine m;
  m.load("mixed.service", kKept);
  ASSERT_TRUE(m.add("mixed.service", memfd_with("one"), "one"));
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd write_end(pipe_fds[1]);
  ASSERT_TRUE(m.add("mixed.service", UniqueFd(pipe_fds[0]), "pipe"));
  ASSERT_TRUE(m.add("mixed.service", memfd_with("three"), "three"));

  ASSERT_TRUE(m.mgr.stage_a().ok());
  auto preserved = m.mgr.stage_b();
  ASSERT_TRUE(preserved.ok()) << preserved.error().message();
  const StageBResult& b = *preserved.value();
  EXPECT_EQ(b.state, HandoffState::preserved);
  ASSERT_EQ(b.mapping.units.size(), 1u);
  const auto& entries = b.mapping.units[0].fdstore;
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].token, 1u);
  EXPECT_EQ(entries[1].token, 2u) << "the refused pipe took no token";
  const auto lost = std::find_if(b.report.begin(), b.report.end(),
                                 [](const EntryReport& r) { return r.name == "pipe"; });
  ASSERT_NE(lost, b.report.end());
  EXPECT_EQ(lost->state, FdEntryState::lost);
  EXPECT_NE(lost->reason.find("ENOENT"), std::string::npos) << lost->reason;
}

// The manager's Stage A takes the fds it stages (its stores close right after): the document
// and report are stage_a()'s, each fd is the entry's own instead of a duplicate, no dup() runs,
// the stores and held entries are left empty and what was not staged is closed.
TEST(FdStoreHandoff, StageATakingFdsListsWhatStageAListsWithTheEntriesOwnFds) {
  Machine m;
  FdStoreRegistry copied;  // stage_a() duplicates from these; the same files as `taken`
  FdStoreRegistry taken;
  HeldFds held_copied;
  HeldFds held_taken;
  std::vector<int> numbers;  // the taken entries' fd numbers, in the order Stage A lists them
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd write_end(pipe_fds[1]);
  UniqueFd read_end(pipe_fds[0]);
  const auto both = [&](const char* owner, FdStoreConfig config, UniqueFd fd, const char* name) {
    UniqueFd copy(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
    ASSERT_TRUE(copied.load(owner, config).add(std::move(copy), name).ok());
    ASSERT_TRUE(taken.load(owner, config).add(std::move(fd), name).ok());
  };
  both("a.service", kKept, memfd_with("one"), "one");
  both("a.service", kKept, memfd_with("two"), "two");
  both("b.service", kKept, std::move(read_end), "pipe");  // staged; Stage B will refuse it
  both("c.service", {.max = 20, .preserve = PreserveMode::no}, memfd_with("c"), "not-kept");
  const int not_kept = taken.find("c.service")->entries().front().fd.get();
  for (const char* owner : {"a.service", "b.service"}) {  // Stage A's order: by id, newest first
    for (const auto& e : taken.find(owner)->entries())
      numbers.push_back(e.fd.get());
  }
  auto held_file = memfd_with("held");
  held_copied.hold({"late.service", "held", handoff::EntryType::fd,
                    UniqueFd(::fcntl(held_file.get(), F_DUPFD_CLOEXEC, 3)), "", false},
                   "");
  numbers.push_back(held_file.get());
  held_taken.hold({"late.service", "held", handoff::EntryType::fd, std::move(held_file), "", false},
                  "");

  const StageAOptions options{.kexec_count = 3};
  const StageAResult want = stage_a(copied, &held_copied, m.port(), options);
  sys::FaultPlan::count();
  const StageAResult got = stage_a_taking_fds(taken, &held_taken, m.port(), options);
  const std::size_t dups = sys::FaultPlan::calls(sys::Call::dup);
  sys::FaultPlan::reset();

  EXPECT_EQ(dups, 0u);
  EXPECT_EQ(got.report, want.report);
  EXPECT_EQ(got.state, want.state);
  ASSERT_EQ(got.document.units.size(), want.document.units.size());
  std::vector<int> listed;
  for (std::size_t u = 0; u < got.document.units.size(); ++u) {
    const auto& g = got.document.units[u];
    const auto& w = want.document.units[u];
    EXPECT_EQ(g.unit, w.unit);
    ASSERT_EQ(g.fdstore.size(), w.fdstore.size());
    for (std::size_t i = 0; i < g.fdstore.size(); ++i) {
      EXPECT_EQ(g.fdstore[i].name, w.fdstore[i].name);
      EXPECT_EQ(g.fdstore[i].type, w.fdstore[i].type);
      EXPECT_TRUE(same_open_file(g.fdstore[i].fd, w.fdstore[i].fd)) << g.fdstore[i].name;
      listed.push_back(g.fdstore[i].fd);
    }
  }
  EXPECT_EQ(listed, numbers) << "each staged fd is the entry's own";
  ASSERT_EQ(got.fds.size(), want.fds.size());
  for (std::size_t i = 0; i < got.fds.size(); ++i)
    EXPECT_EQ(got.fds[i].get(), listed[i]);
  for (const char* owner : {"a.service", "b.service", "c.service"})
    EXPECT_TRUE(taken.find(owner)->empty()) << owner;
  EXPECT_EQ(held_taken.size(), 0u);
  EXPECT_EQ(::fcntl(not_kept, F_GETFD), -1) << "the entry Stage A did not stage is closed";
  EXPECT_EQ(copied.find("c.service")->size(), 1u) << "stage_a() leaves the stores as they are";
}

// stage_a(), the building block that copies (the C API's luo_stage_a; HandoffManager takes the
// fds instead and makes no dup): each dup that fails loses its entry alone, with the dup's
// cause, and the copies made before it are neither leaked nor listed.
TEST(FdStoreHandoff, AFailedDupInStageALosesThatEntryAlone) {
  Machine m;
  FdStoreRegistry owners;
  auto& a = owners.load("a.service", kKept);
  for (const char* name : {"x", "y", "z"})
    ASSERT_TRUE(a.add(memfd_with(name), name).ok());
  std::multiset<std::string> lost_names;
  for (std::size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE("dup #" + std::to_string(k) + " fails");
    const int fds_before = luo::testing::count_open_fds();
    sys::FaultPlan::fail(sys::Call::dup, k, EMFILE);
    StageAResult staged = stage_a(owners, nullptr, m.port(), 0);
    EXPECT_TRUE(sys::FaultPlan::fired());
    sys::FaultPlan::reset();
    ASSERT_EQ(staged.report.size(), 3u);
    std::size_t lost = 0;
    for (const auto& r : staged.report) {
      if (r.state == FdEntryState::staged)
        continue;
      ++lost;
      lost_names.insert(r.name);
      EXPECT_EQ(r.state, FdEntryState::lost);
      EXPECT_EQ(r.cause, EntryReason::dup_failed);
      EXPECT_FALSE(r.reason.empty());
    }
    EXPECT_EQ(lost, 1u);
    EXPECT_EQ(staged.fds.size(), 2u);
    ASSERT_EQ(staged.document.units.size(), 1u);
    EXPECT_EQ(staged.document.units[0].fdstore.size(), 2u);
    EXPECT_EQ(a.size(), 3u) << "the stores are left as they are";
    staged = StageAResult();
    EXPECT_EQ(luo::testing::count_open_fds(), fds_before);
  }
  EXPECT_EQ(lost_names, (std::multiset<std::string>{"x", "y", "z"})) << "each dup is its entry's";
}

// A stored fd numbered 0-2 (a manager running without standard streams) would land on the
// exec'd shutdown helper's stdin, stdout or stderr: it is duplicated to 3 or above instead.
TEST(FdStoreHandoff, StageATakingFdsDuplicatesAnFdNumberedBelowThree) {
  Machine m;
  UniqueFd saved_stdin(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  if (!saved_stdin)
    GTEST_SKIP() << "fd 0 is not open here";
  // stdin comes back on every way out, failed assertions included.
  struct RestoreStdin {
    int saved;
    ~RestoreStdin() { (void)::dup2(saved, 0); }
  } restore_stdin{saved_stdin.get()};
  // Twice: the duplicate made, then the duplicate failing (the only dup this Stage A makes).
  for (const bool dup_fails : {false, true}) {
    SCOPED_TRACE(dup_fails ? "the dup fails" : "the dup succeeds");
    // fd 0 open again (the last round's closed with its store), so the memfd lands above it.
    ASSERT_EQ(::dup2(saved_stdin.get(), 0), 0);
    auto file = memfd_with("on stdin");
    struct stat want {};
    ASSERT_EQ(::fstat(file.get(), &want), 0);
    ASSERT_EQ(::dup2(file.get(), 0), 0);
    file.reset();
    FdStoreRegistry owners;
    auto added = owners.load("a.service", kKept).add(UniqueFd(0), "zero");
    ASSERT_TRUE(added.ok()) << added.error().message();
    if (dup_fails)
      sys::FaultPlan::fail(sys::Call::dup, 0, EMFILE);
    const StageAResult got = stage_a_taking_fds(owners, nullptr, m.port(), {});
    sys::FaultPlan::reset();
    EXPECT_EQ(::fcntl(0, F_GETFD), -1) << "the store's fd 0 closed with the store";
    if (dup_fails) {
      EXPECT_TRUE(got.fds.empty());
      ASSERT_EQ(got.report.size(), 1u);
      EXPECT_EQ(got.report[0].state, FdEntryState::lost);
      EXPECT_EQ(got.report[0].cause, EntryReason::dup_failed);
      EXPECT_TRUE(got.document.units.empty() || got.document.units[0].fdstore.empty());
      continue;
    }
    ASSERT_EQ(got.fds.size(), 1u);
    EXPECT_GE(got.fds[0].get(), 3);
    EXPECT_EQ(got.document.units.at(0).fdstore.at(0).fd, got.fds[0].get());
    struct stat st {};
    ASSERT_EQ(::fstat(got.fds[0].get(), &st), 0);
    EXPECT_EQ(st.st_ino, want.st_ino);
  }
}

// Finding F1 (docs/reliability.md) in the copying stage_a(), the C API's luo_stage_a: the device
// fd in a store is dropped with the entry table's reason, never duplicated, and the store keeps
// its own (the manager's stores close after Stage A; this caller's stay).
TEST(FdStoreHandoff, TheCopyingStageADropsTheDeviceFd) {
  Machine m;
  auto dev = m.kernel().open_device();
  ASSERT_TRUE(dev.ok());
  FdStoreRegistry owners;
  auto& a = owners.load("a.service", kKept);
  ASSERT_TRUE(a.add(std::move(dev).value(), "device").ok());
  ASSERT_TRUE(a.add(memfd_with("data"), "fine").ok());
  const int fds_before = luo::testing::count_open_fds();
  const StageAResult staged = stage_a(owners, nullptr, m.port(), 0);
  ASSERT_EQ(staged.report.size(), 2u);
  for (const auto& r : staged.report) {
    if (r.name == "device") {
      EXPECT_EQ(r.state, FdEntryState::dropped);
      EXPECT_EQ(r.reason, guard_description(Guard::luo_device));
    } else {
      EXPECT_EQ(r.state, FdEntryState::staged) << r.name;
    }
  }
  EXPECT_EQ(staged.fds.size(), 1u) << "only the memfd is duplicated";
  EXPECT_EQ(luo::testing::count_open_fds(), fds_before + 1);
  EXPECT_EQ(a.size(), 2u);
}

TEST(FdStoreHandoff, TheMappingIsNeverTheFileLostToTheLegacyFileLimit) {
  Machine m(KernelProfile::v7_0);
  const FdStoreConfig many{.max = 200, .preserve = PreserveMode::yes};
  m.load("many.service", many);
  for (int i = 0; i < 130; ++i) {
    ASSERT_TRUE(
        m.add("many.service", memfd_with("file-" + std::to_string(i)), "f" + std::to_string(i)));
  }
  m.kexec();
  m.load("many.service", many);
  const auto r = m.restore();
  // systemd would preserve the mapping last and lose all 130 (§5.4); the mapping took token 0
  // first, so 127 entries fit and only the 3 past the 128-file limit are lost.
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(m.store("many.service").size(), 127u);
}

TEST(FdStoreHandoff, ColdBootHasNothingToRestore) {
  Machine m;
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::nothing);
  EXPECT_NE(r.failure.find("ENOENT"), std::string::npos) << r.failure;
  EXPECT_EQ(r.error, ENOENT);
}

TEST(FdStoreHandoff, NothingQualifyingMeansNoSystemdSessionInV261) {
  Machine m(kDefaultProfile, SystemdProfile::v261);
  m.load("r.service", {.max = 1, .preserve = PreserveMode::restart});
  ASSERT_TRUE(m.add("r.service", memfd_with("x"), "fd"));
  m.kexec();
  EXPECT_EQ(m.restore().state, HandoffState::nothing);
}

TEST(FdStoreHandoff, NothingQualifyingStillHandsOverTheMappingInV262) {
  Machine m;
  m.load("r.service", {.max = 1, .preserve = PreserveMode::restart});
  ASSERT_TRUE(m.add("r.service", memfd_with("x"), "fd"));
  ASSERT_TRUE(m.mgr.adopt_kexec_count(1).ok());
  m.kexec();
  m.load("r.service", {.max = 1, .preserve = PreserveMode::restart});
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(r.kexecs_count, 2u);
  EXPECT_EQ(m.store("r.service").size(), 0u) << "a restart store is not carried";
}

// A "systemd" session written by hand, to feed restore() a mapping of our choosing.
void plant_mapping(Machine& m, std::string_view json,
                   std::initializer_list<std::pair<Token, std::string>> files = {}) {
  auto dev = m.runtime().open_device();
  ASSERT_TRUE(dev.ok());
  auto s = dev.value().create_session("systemd");
  ASSERT_TRUE(s.ok());
  auto mapping = memfd_with(json);
  ASSERT_TRUE(s.value().preserve(mapping.get(), 0).ok());
  for (const auto& [token, data] : files) {
    auto f = memfd_with(data);
    ASSERT_TRUE(s.value().preserve(f.get(), token).ok());
  }
  dev.value().close();
  // The planting process ends with the boot; the manager of the next boot is a new one.
  ASSERT_TRUE(m.runtime().kexec().ok());
  m.mgr = HandoffManager(m.runtime(), m.port());
}

TEST(FdStoreHandoff, LegacyFormatBIsRead) {
  Machine m;
  plant_mapping(m, R"({"old.service":[{"type":"fd","name":"state","token":1}]})",
                {{1, "from v261-rc1"}});
  m.load("old.service", kKept);
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  const FdStore& old = m.store("old.service");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(contents(old.entries()[0].fd.get()), "from v261-rc1");
}

TEST(FdStoreHandoff, AnUnknownVersionIsRefusedClearlyAndTheSessionStillFinished) {
  Machine m;
  plant_mapping(
      m, R"({"version":2,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":1}]}}})",
      {{1, "unreadable future"}});
  m.load("a.service", kKept);
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished);
  EXPECT_NE(r.failure.find("version"), std::string::npos) << r.failure;
  EXPECT_EQ(r.error, EINVAL) << "the entry machine's mapping_unusable errno";
  EXPECT_EQ(m.store("a.service").size(), 0u);
  // FINISH and close ran: the session is gone.
  auto dev = m.runtime().open_device();
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev.value().retrieve_session("systemd").error().raw_errno(), ENOENT);
}

TEST(FdStoreHandoff, BadEntriesAreSkippedWithTheirPathAndTheRestIsRestored) {
  Machine m;
  plant_mapping(m,
                R"({"version":1,"units":{"a.service":{"fdstore":[)"
                R"({"type":"fd","name":"zero","token":0},)"
                R"({"type":"fd","name":"no-token"},)"
                R"({"type":"weird","name":"w","token":2},)"
                R"({"type":"fd","name":"good","token":1}]},)"
                R"("not a unit":{"fdstore":[{"type":"fd","name":"x","token":3}]}}})",
                {{1, "good data"}, {2, "w"}, {3, "x"}});
  m.load("a.service", kKept);
  const auto r = m.restore();
  const FdStore& a = m.store("a.service");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(contents(a.entries()[0].fd.get()), "good data");
  int lost = 0;
  for (const auto& report : r.report) {
    if (report.state == FdEntryState::lost) {
      ++lost;
      EXPECT_FALSE(report.reason.empty());
      EXPECT_NE(report.cause, EntryReason::none) << report.reason;
    }
  }
  EXPECT_EQ(lost, 4) << "token 0, missing token, unknown type, invalid unit name";
}

TEST(FdStoreHandoff, AnOutgoingSystemdSessionAlreadyHeldMakesStageBFailCleanly) {
  Machine m;
  m.load("a.service", kKept);
  ASSERT_TRUE(m.add("a.service", memfd_with("x"), "fd"));
  ASSERT_TRUE(m.mgr.stage_a().ok());
  auto dev = m.runtime().open_device();
  ASSERT_TRUE(dev.ok());
  auto squatter = dev.value().create_session("systemd");
  ASSERT_TRUE(squatter.ok());
  auto preserved = m.mgr.stage_b(dev.value());
  ASSERT_TRUE(preserved.ok()) << preserved.error().message();
  const StageBResult& b = *preserved.value();
  EXPECT_EQ(b.state, HandoffState::nothing);
  EXPECT_NE(b.failure.find("EEXIST"), std::string::npos) << b.failure;
  EXPECT_EQ(b.error, EEXIST);
  EXPECT_FALSE(b.session.has_value());
  EXPECT_EQ(m.mgr.state(), HandoffState::nothing);
  EXPECT_EQ(m.mgr.stage_a_result(), nullptr) << "nothing handed over: Stage A's fds went";
}

}  // namespace
}  // namespace luo
