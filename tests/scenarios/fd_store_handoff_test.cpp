// The fd-store handoff end to end over SimulatedKernel with a simulated kexec (spec
// systemd-luo.md §3, TEST-91 scenarios of §4.3/§4.4 without nested managers): stores filled,
// Stage A, Stage B, kexec, restore, and the stores and contents compared afterwards.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

using luo::testing::contents;
using luo::testing::entry_named;
using luo::testing::memfd_with;

constexpr FdStoreConfig kKept{.max = 20, .preserve = PreserveMode::yes};

// One machine: the simulated kernel, the manager's runtime, and what must stay open across the
// reboot (Stage A's duplicates and the "systemd" session).
class Machine {
 public:
  explicit Machine(KernelProfile profile = kDefaultProfile)
      : kernel_(profile), port_(kernel_), lu_(std::make_unique<LiveUpdate>(port_, profile)) {}

  SimulatedKernel& kernel() { return kernel_; }
  IoctlPort& port() { return port_; }
  LiveUpdate& runtime() { return *lu_; }

  // A service that creates its own session, preserves a memfd at `token` and hands the session
  // fd to its store (test-luo store's "<prefix>-direct").
  void own_session(FdStore& store, const std::string& session_name, Token token,
                   std::string_view data) {
    auto dev = lu_->open_device();
    ASSERT_TRUE(dev.ok()) << dev.error().message();
    auto s = dev.value().create_session(session_name);
    ASSERT_TRUE(s.ok()) << s.error().message();
    auto m = memfd_with(data);
    ASSERT_TRUE(s.value().preserve(m.get(), token).ok());
    ASSERT_TRUE(
        store.add(UniqueFd(::fcntl(s.value().fd(), F_DUPFD_CLOEXEC, 3)), session_name).ok());
  }

  // Manager shutdown for kexec: Stage A, the stores freed (what the manager does not list is
  // closed before the shutdown side runs), Stage B, reboot(KEXEC).
  void kexec(FdStoreRegistry& owners, std::uint32_t kexecs = 0, HeldFds* held = nullptr,
             StageAOptions options = {}) {
    options.kexec_count = kexecs;
    staged_ = stage_a(owners, held, port_, options);
    owners = FdStoreRegistry();
    if (held)
      *held = HeldFds();
    auto dev = lu_->open_device();
    ASSERT_TRUE(dev.ok()) << dev.error().message();
    stage_b_ = stage_b(dev.value(), staged_);
    dev.value().close();
    last_stage_a = {staged_.profile, staged_.document, {}, staged_.report, staged_.state};
    ASSERT_TRUE(kernel_.kexec().ok());
    // The old boot's processes are gone: so are the fds they held.
    stage_b_ = StageBResult();
    staged_ = StageAResult();
    lu_ = std::make_unique<LiveUpdate>(port_, kernel_.profile());
  }

  RestoreResult restore(FdStoreRegistry& owners, HeldFds& held) {
    auto dev = lu_->open_device();
    EXPECT_TRUE(dev.ok());
    RegistryTarget target(owners);
    return luo::restore(dev.value(), target, held);
  }

  const StageAResult& staged() const { return staged_; }
  const StageBResult& stage_b_result() const { return stage_b_; }
  // For assertions about Stage B before the kexec discards it.
  StageBResult last_stage_b;
  // The last Stage A's document and report, without its fds (they died with the old boot).
  StageAResult last_stage_a;

 private:
  SimulatedKernel kernel_;
  IoctlPort port_;
  std::unique_ptr<LiveUpdate> lu_;
  StageAResult staged_;
  StageBResult stage_b_;
};

TEST(FdStoreHandoff, MainServiceWithTwoMemfdsAndItsOwnSession) {
  Machine m;
  FdStoreRegistry owners;
  auto& svc = owners.load("TEST-91-LIVEUPDATE.service", kKept);
  ASSERT_TRUE(svc.add(memfd_with("liveupdate-test-data-1"), "testfd1").ok());
  ASSERT_TRUE(svc.add(memfd_with("liveupdate-test-data-2"), "testfd2").ok());
  m.own_session(svc, "luosession-direct", 42, "luo-session-memfd-test-data");
  m.kexec(owners);

  FdStoreRegistry next;
  auto& restored = next.load("TEST-91-LIVEUPDATE.service", kKept);
  HeldFds held;
  const auto r = m.restore(next, held);
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(r.kexecs_count, 1u);
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
  EXPECT_EQ(held.size(), 0u);
}

// systemd's §5.6 gap, reported instead of silent: a restored third-party session is incoming,
// which the kernel never hands over; a service that keeps it in its store across the next kexec
// loses it either way, but here Stage A says so, and nothing else is affected.
TEST(FdStoreHandoff, ARetrievedSessionKeptAcrossTheNextKexecIsDroppedAtStageAWithItsReason) {
  Machine m;
  FdStoreRegistry owners;
  auto& svc = owners.load("vmm.service", kKept);
  ASSERT_TRUE(svc.add(memfd_with("state"), "state").ok());
  m.own_session(svc, "vmm-vm0", 1, "guest memory");
  m.kexec(owners);

  FdStoreRegistry next;
  next.load("vmm.service", kKept);
  HeldFds held;
  ASSERT_EQ(m.restore(next, held).state, HandoffState::finished);
  ASSERT_EQ(next.find("vmm.service")->size(), 2u);
  m.kexec(next, 1);

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

  FdStoreRegistry third;
  auto& vmm = third.load("vmm.service", kKept);
  HeldFds held3;
  const auto r = m.restore(third, held3);
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  ASSERT_EQ(vmm.size(), 1u);
  EXPECT_EQ(contents(vmm.entries()[0].fd.get()), "state");
}

TEST(FdStoreHandoff, OnlyYesAndOnSuccessStoresAreHandedOver) {
  Machine m;
  FdStoreRegistry owners;
  for (PreserveMode mode : kAllPreserveModes) {
    auto& s = owners.load(std::string(preserve_mode_name(mode)) + ".service",
                          {.max = 2, .preserve = mode});
    ASSERT_TRUE(s.add(memfd_with(std::string(preserve_mode_name(mode))), "x").ok());
  }
  m.kexec(owners);
  FdStoreRegistry next;
  for (PreserveMode mode : kAllPreserveModes) {
    next.load(std::string(preserve_mode_name(mode)) + ".service", {.max = 2, .preserve = mode});
  }
  HeldFds held;
  const RestoreResult restored = m.restore(next, held);
  EXPECT_EQ(restored.state, HandoffState::finished) << restored.failure;
  EXPECT_EQ(next.find("yes.service")->size(), 1u);
  EXPECT_EQ(next.find("on-success.service")->size(), 1u);
  EXPECT_EQ(next.find("restart.service")->size(), 0u);
  EXPECT_EQ(next.find("no.service")->size(), 0u);
}

TEST(FdStoreHandoff, LateOwnersAreHeldThenAttachedOrDroppedWithAReason) {
  Machine m;
  FdStoreRegistry owners;
  for (auto id : {"late.service", "late-noreload.service", "late-zerofds.service"}) {
    auto& s = owners.load(id, kKept);
    ASSERT_TRUE(s.add(memfd_with(std::string(id) + "-1"), "testfd1").ok());
    ASSERT_TRUE(s.add(memfd_with(std::string(id) + "-2"), "testfd2").ok());
  }
  m.kexec(owners);

  FdStoreRegistry next;  // none of the late units exists yet in the new boot
  HeldFds held;
  const auto r = m.restore(next, held);
  EXPECT_EQ(r.state, HandoffState::finished);
  EXPECT_EQ(held.size(), 6u);
  for (const auto& report : r.report)
    EXPECT_EQ(report.state, FdEntryState::held) << report.name;

  // The manager loads the units (daemon-reload, or lazily) and reports each one.
  RegistryTarget target(next);
  next.load("late.service", kKept);
  auto attached = held.owner_loaded("late.service", target);
  ASSERT_EQ(attached.size(), 2u);
  for (const auto& report : attached)
    EXPECT_EQ(report.state, FdEntryState::stored);
  EXPECT_EQ(contents(entry_named(*next.find("late.service"), "testfd1")->fd.get()),
            "late.service-1");

  next.load("late-zerofds.service", {.max = 0, .preserve = PreserveMode::yes});
  auto dropped = held.owner_loaded("late-zerofds.service", target);
  ASSERT_EQ(dropped.size(), 2u);
  for (const auto& report : dropped) {
    EXPECT_EQ(report.state, FdEntryState::dropped);
    EXPECT_NE(report.reason.find("FileDescriptorStoreMax=0"), std::string::npos) << report.reason;
  }
  // Still unknown: stays held, nothing lost; retried after the manager's deserialization.
  EXPECT_EQ(held.retry_all(target).size(), 2u);
  EXPECT_EQ(held.size(), 2u);
  next.load("late-noreload.service", kKept);
  held.retry_all(target);
  EXPECT_EQ(held.size(), 0u);
  EXPECT_EQ(next.find("late-noreload.service")->size(), 2u);
}

TEST(FdStoreHandoff, HeldEntriesGoThroughTheNextKexecToo) {
  Machine m;
  FdStoreRegistry owners;
  ASSERT_TRUE(owners.load("late.service", kKept).add(memfd_with("twice"), "fd").ok());
  m.kexec(owners);
  FdStoreRegistry next;
  HeldFds held;
  const auto first = m.restore(next, held);
  ASSERT_EQ(held.size(), 1u);
  m.kexec(next, first.kexecs_count, &held);
  FdStoreRegistry third;
  auto& late = third.load("late.service", kKept);
  HeldFds held3;
  const auto second = m.restore(third, held3);
  EXPECT_EQ(second.kexecs_count, 2u);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(contents(late.entries()[0].fd.get()), "twice");
}

TEST(FdStoreHandoff, ASessionNamedSystemdIsRefusedAndNothingElseIsLost) {
  Machine m;
  FdStoreRegistry owners;
  auto& hijack = owners.load("hijack.service", kKept);
  m.own_session(hijack, "systemd", 99, "luo-hijack-memfd-test-data");
  auto& good = owners.load("good.service", kKept);
  ASSERT_TRUE(good.add(memfd_with("kept"), "fd").ok());
  m.kexec(owners);

  FdStoreRegistry next;
  next.load("hijack.service", kKept);
  next.load("good.service", kKept);
  HeldFds held;
  const auto r = m.restore(next, held);
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(next.find("hijack.service")->size(), 0u);
  ASSERT_EQ(next.find("good.service")->size(), 1u);
  EXPECT_EQ(contents(next.find("good.service")->entries()[0].fd.get()), "kept");
}

TEST(FdStoreHandoff, StageAReportsTheHijackWithItsReason) {
  Machine m;
  FdStoreRegistry owners;
  m.own_session(owners.load("hijack.service", kKept), "systemd", 99, "x");
  const auto staged = stage_a(owners, nullptr, m.port(), 0);
  ASSERT_EQ(staged.report.size(), 1u);
  EXPECT_EQ(staged.report[0].state, FdEntryState::dropped);
  EXPECT_NE(staged.report[0].reason.find("namespace"), std::string::npos);
  EXPECT_EQ(staged.state, HandoffState::serialized) << "262 hands over even with nothing";
  const StageAOptions v261{.profile = SystemdProfile::v261};
  EXPECT_EQ(stage_a(owners, nullptr, m.port(), v261).state, HandoffState::nothing)
      << "nothing else qualified";
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
  std::uint32_t count = 0;
  FdStoreRegistry owners;
  ASSERT_TRUE(owners.load("a.service", kKept).add(memfd_with("x"), "fd").ok());
  for (int i = 1; i <= 3; ++i) {
    m.kexec(owners, count);
    FdStoreRegistry next;
    next.load("a.service", kKept);
    HeldFds held;
    count = m.restore(next, held).kexecs_count;
    EXPECT_EQ(count, static_cast<std::uint32_t>(i));
    owners = std::move(next);
  }
}

// systemd's §5.16, reproduced for the v261 profile: the counter travels only inside the
// mapping, so a kexec with nothing to hand over leaves the next boot without one.
TEST(FdStoreHandoff, TheKexecCounterStartsOverAfterAKexecWithNothingToHandOverInV261) {
  Machine m;
  const StageAOptions v261{.profile = SystemdProfile::v261};
  FdStoreRegistry owners;
  ASSERT_TRUE(owners.load("a.service", kKept).add(memfd_with("x"), "fd").ok());
  m.kexec(owners, 0, nullptr, v261);
  FdStoreRegistry next;
  next.load("a.service", kKept);
  HeldFds held;
  const auto first = m.restore(next, held);
  ASSERT_EQ(first.kexecs_count, 1u);
  next.find("a.service")->release_all();
  m.kexec(next, first.kexecs_count, nullptr, v261);
  EXPECT_EQ(m.last_stage_a.state, HandoffState::nothing);
  FdStoreRegistry third;
  HeldFds held3;
  const auto second = m.restore(third, held3);
  EXPECT_EQ(second.state, HandoffState::nothing);
  EXPECT_EQ(second.kexecs_count, 0u);
}

// 262 (§9.3): every kexec hands over, so the counter and the shutdown timestamps survive a
// kexec that carries no fd; the mapping is then {"version":1,"state":{...}} alone at token 0.
TEST(FdStoreHandoff, V262HandsOverTheCounterAndTimestampsEvenWithNothingStored) {
  Machine m;
  FdStoreRegistry owners;
  const handoff::DualTimestamp start{1000, 10}, finish{2000, 20};
  m.kexec(owners, 6, nullptr, {.shutdown_start = start, .shutdown_finish = finish});
  EXPECT_EQ(m.last_stage_a.state, HandoffState::serialized);
  FdStoreRegistry next;
  HeldFds held;
  const auto r = m.restore(next, held);
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(r.kexecs_count, 7u);
  EXPECT_EQ(r.previous_shutdown.start, start);
  EXPECT_EQ(r.previous_shutdown.finish, finish);
  ASSERT_TRUE(r.previous_shutdown.late_start && r.previous_shutdown.late_finish);
  EXPECT_LE(r.previous_shutdown.late_start->monotonic, r.previous_shutdown.late_finish->monotonic);
  EXPECT_GT(r.previous_shutdown.late_finish->realtime, 0u);
  EXPECT_TRUE(r.report.empty());
}

TEST(FdStoreHandoff, TheEmptyV262MappingIsTheStateAlone) {
  Machine m;
  FdStoreRegistry owners;
  const auto staged = stage_a(owners, nullptr, m.port(), {.kexec_count = 2});
  EXPECT_EQ(handoff::to_json(staged.document), R"({"version":1,"state":{"KExecCount":2}})");
  auto dev = m.runtime().open_device();
  ASSERT_TRUE(dev.ok());
  auto b = stage_b(dev.value(), staged, {.late_start = handoff::DualTimestamp{5, 6}});
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
  Machine m;
  FdStoreRegistry owners;
  ASSERT_TRUE(owners.load("a.service", kKept).add(memfd_with("x"), "fd").ok());
  m.kexec(owners, 4, nullptr, {.profile = SystemdProfile::v261});
  EXPECT_NE(m.last_stage_a.document.header.state->dump().find("kexecsCount"), std::string::npos);
  FdStoreRegistry next;
  next.load("a.service", kKept);
  HeldFds held;
  const auto first = m.restore(next, held);
  EXPECT_EQ(first.kexecs_count, 5u);
  EXPECT_EQ(first.previous_shutdown, handoff::ShutdownTimestamps{});
  m.kexec(next, first.kexecs_count, nullptr, {.profile = SystemdProfile::v262});
  FdStoreRegistry third;
  third.load("a.service", kKept);
  HeldFds held3;
  const auto second = m.restore(third, held3);
  EXPECT_EQ(second.kexecs_count, 6u);
  EXPECT_EQ(third.find("a.service")->size(), 1u);
}

TEST(FdStoreHandoff, NonMemfdEntriesAreLostAloneAndTokensStayDense) {
  Machine m;
  FdStoreRegistry owners;
  auto& s = owners.load("mixed.service", kKept);
  ASSERT_TRUE(s.add(memfd_with("one"), "one").ok());
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd write_end(pipe_fds[1]);
  ASSERT_TRUE(s.add(UniqueFd(pipe_fds[0]), "pipe").ok());
  ASSERT_TRUE(s.add(memfd_with("three"), "three").ok());

  const auto staged = stage_a(owners, nullptr, m.port(), 0);
  owners = FdStoreRegistry();
  auto dev = m.runtime().open_device();
  ASSERT_TRUE(dev.ok());
  auto b = stage_b(dev.value(), staged);
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

TEST(FdStoreHandoff, TheMappingIsNeverTheFileLostToTheLegacyFileLimit) {
  Machine m(KernelProfile::v7_0);
  FdStoreRegistry owners;
  auto& s = owners.load("many.service", {.max = 200, .preserve = PreserveMode::yes});
  for (int i = 0; i < 130; ++i) {
    ASSERT_TRUE(s.add(memfd_with("file-" + std::to_string(i)), "f" + std::to_string(i)).ok());
  }
  m.kexec(owners);
  FdStoreRegistry next;
  auto& restored = next.load("many.service", {.max = 200, .preserve = PreserveMode::yes});
  HeldFds held;
  const auto r = m.restore(next, held);
  // systemd would preserve the mapping last and lose all 130 (§5.4); the mapping took token 0
  // first, so 127 entries fit and only the 3 past the 128-file limit are lost.
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(restored.size(), 127u);
}

TEST(FdStoreHandoff, ColdBootHasNothingToRestore) {
  Machine m;
  FdStoreRegistry next;
  HeldFds held;
  const auto r = m.restore(next, held);
  EXPECT_EQ(r.state, HandoffState::nothing);
  EXPECT_NE(r.failure.find("ENOENT"), std::string::npos) << r.failure;
  EXPECT_EQ(r.error, ENOENT);
}

TEST(FdStoreHandoff, NothingQualifyingMeansNoSystemdSessionInV261) {
  Machine m;
  FdStoreRegistry owners;
  ASSERT_TRUE(owners.load("r.service", {.max = 1, .preserve = PreserveMode::restart})
                  .add(memfd_with("x"), "fd")
                  .ok());
  m.kexec(owners, 0, nullptr, {.profile = SystemdProfile::v261});
  FdStoreRegistry next;
  HeldFds held;
  EXPECT_EQ(m.restore(next, held).state, HandoffState::nothing);
}

TEST(FdStoreHandoff, NothingQualifyingStillHandsOverTheMappingInV262) {
  Machine m;
  FdStoreRegistry owners;
  ASSERT_TRUE(owners.load("r.service", {.max = 1, .preserve = PreserveMode::restart})
                  .add(memfd_with("x"), "fd")
                  .ok());
  m.kexec(owners, 1);
  FdStoreRegistry next;
  next.load("r.service", {.max = 1, .preserve = PreserveMode::restart});
  HeldFds held;
  const auto r = m.restore(next, held);
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_EQ(r.kexecs_count, 2u);
  EXPECT_EQ(next.find("r.service")->size(), 0u) << "a restart store is not carried";
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
  ASSERT_TRUE(m.kernel().kexec().ok());
}

TEST(FdStoreHandoff, LegacyFormatBIsRead) {
  Machine m;
  plant_mapping(m, R"({"old.service":[{"type":"fd","name":"state","token":1}]})",
                {{1, "from v261-rc1"}});
  FdStoreRegistry next;
  auto& old = next.load("old.service", kKept);
  HeldFds held;
  LiveUpdate lu(m.port());
  auto dev = lu.open_device();
  RegistryTarget target(next);
  const auto r = restore(dev.value(), target, held);
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(contents(old.entries()[0].fd.get()), "from v261-rc1");
}

TEST(FdStoreHandoff, AnUnknownVersionIsRefusedClearlyAndTheSessionStillFinished) {
  Machine m;
  plant_mapping(
      m, R"({"version":2,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":1}]}}})",
      {{1, "unreadable future"}});
  FdStoreRegistry next;
  next.load("a.service", kKept);
  HeldFds held;
  LiveUpdate lu(m.port());
  auto dev = lu.open_device();
  RegistryTarget target(next);
  const auto r = restore(dev.value(), target, held);
  EXPECT_EQ(r.state, HandoffState::finished);
  EXPECT_NE(r.failure.find("version"), std::string::npos) << r.failure;
  EXPECT_EQ(r.error, EINVAL) << "the entry machine's mapping_unusable errno";
  EXPECT_EQ(next.find("a.service")->size(), 0u);
  // FINISH and close ran: the session is gone.
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
  FdStoreRegistry next;
  auto& a = next.load("a.service", kKept);
  HeldFds held;
  LiveUpdate lu(m.port());
  auto dev = lu.open_device();
  RegistryTarget target(next);
  const auto r = restore(dev.value(), target, held);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(contents(a.entries()[0].fd.get()), "good data");
  int lost = 0;
  for (const auto& report : r.report) {
    if (report.state == FdEntryState::lost) {
      ++lost;
      EXPECT_FALSE(report.reason.empty());
    }
  }
  EXPECT_EQ(lost, 4) << "token 0, missing token, unknown type, invalid unit name";
}

TEST(FdStoreHandoff, AnOutgoingSystemdSessionAlreadyHeldMakesStageBFailCleanly) {
  Machine m;
  FdStoreRegistry owners;
  ASSERT_TRUE(owners.load("a.service", kKept).add(memfd_with("x"), "fd").ok());
  const auto staged = stage_a(owners, nullptr, m.port(), 0);
  auto dev = m.runtime().open_device();
  ASSERT_TRUE(dev.ok());
  auto squatter = dev.value().create_session("systemd");
  ASSERT_TRUE(squatter.ok());
  auto b = stage_b(dev.value(), staged);
  EXPECT_EQ(b.state, HandoffState::nothing);
  EXPECT_NE(b.failure.find("EEXIST"), std::string::npos) << b.failure;
  EXPECT_EQ(b.error, EEXIST);
  EXPECT_FALSE(b.session.has_value());
}

}  // namespace
}  // namespace luo
