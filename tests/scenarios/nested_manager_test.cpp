// Nested managers end to end (spec systemd-luo.md §2, TEST-91 §4.3 step 2 / §4.4 step 4, the
// nspawn chain of §2.6): real sd_notify datagrams between "PID 1", a "user manager", "nspawn" and
// its payload, all in this process, and PID 1's kexec handoff over SimulatedKernel.
//
// Message attribution is by cgroup in systemd; here each manager is told which unit a pump's
// messages belong to.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/listen_fds.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/notify_upstream.hpp"
#include "luo/adapters/sd_notify.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/nested_manager.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

using luo::testing::contents;
using luo::testing::entry_named;
using luo::testing::memfd_with;

constexpr FdStoreConfig kNestedStore{.max = 20, .preserve = PreserveMode::yes};
constexpr char kUserAt[] = "user@1000.service";
constexpr char kUserLate[] = "TEST-91-LIVEUPDATE-user-late.service";
constexpr char kNspawnUnit[] = "systemd-nspawn@fdstore.service";

std::set<std::string> names_of(const FdStore& store) {
  std::set<std::string> out;
  for (const auto& e : store.entries())
    out.insert(e.name);
  return out;
}

notify::Address fresh_address(std::string_view tag) {
  static int n = 0;
  return notify::Address::parse("@luo-nested-" + std::to_string(::getpid()) + "-" +
                                std::string(tag) + "-" + std::to_string(++n))
      .value();
}

class Manager;

// The adapter under test (NotifyUpstream, real datagrams), plus what a concurrently running
// enveloping manager would do: read them. Everything runs on one thread here, and an AF_UNIX
// datagram queue holds only net.unix.max_dgram_qlen (10) messages, so the upstream manager
// drains its socket after every send instead of the sender blocking on a full queue.
class LiveUpstream final : public UpstreamSink {
 public:
  LiveUpstream(Manager& upstream, std::string unit);
  SysStatus store(std::span<const int> fds, std::string_view name, Poll poll) override;
  SysStatus remove(std::string_view name) override;

 private:
  Manager& upstream_;
  std::string unit_;
  notify::NotifyUpstream wire_;
};

// A manager: a notify socket, fd stores, and (if it has an enveloping manager) an upstream
// mirror sending over real datagrams. `upstream_unit` is the unit the enveloping manager
// attributes this manager's messages to (user@1000.service). PID 1, which hands its stores over
// at kexec, keeps them in its HandoffManager instead (the second constructor).
class Manager {
 public:
  Manager(std::string_view tag, Manager* upstream = nullptr, std::string upstream_unit = {},
          unsigned fdstore = 20)
      : rx_(std::move(notify::Receiver::bind(fresh_address(tag)).value())),
        sink_(upstream ? std::make_unique<LiveUpstream>(*upstream, std::move(upstream_unit))
                       : nullptr),
        mirror_(owners_, sink_.get(),
                {.has_upstream = upstream != nullptr, .fdstore_max = fdstore}) {}
  Manager(std::string_view tag, HandoffManager& handoff) : Manager(tag) { handoff_ = &handoff; }

  const notify::Address& address() const { return rx_.address(); }
  UpstreamMirror& mirror() { return mirror_; }
  void load(std::string_view unit, FdStoreConfig config) {
    if (handoff_ != nullptr)
      EXPECT_TRUE(handoff_->load_owner(unit, config).ok()) << unit;
    else
      owners_.load(unit, config);
  }
  const FdStore& store(std::string_view unit) const {
    return handoff_ != nullptr ? *handoff_->owners().find(unit) : *owners_.find(unit);
  }

  // Processes every queued datagram as fd-store requests of `unit` (FDSTORE=1 through the
  // mirror, FDSTOREREMOVE=1 with upstream removal). Returns how many requests were handled.
  int pump(std::string_view unit) {
    int handled = 0;
    for (;;) {
      auto d = rx_.receive();
      if (!d.ok())
        return handled;  // EAGAIN: drained (sends are synchronous, all are queued)
      if (d.value().kind() != notify::DeliveryKind::message)
        continue;
      auto req = notify::interpret_fd_store(std::move(d.value().message()));
      switch (req.kind) {
        case notify::FdStoreRequest::Kind::store:
          for (auto& fd : req.fds) {
            if (handoff_ != nullptr)
              (void)handoff_->store(unit, std::move(fd), req.name, req.poll);
            else
              (void)mirror_.store(unit, std::move(fd), req.name, req.poll);
          }
          break;
        case notify::FdStoreRequest::Kind::remove:
          if (handoff_ != nullptr)
            (void)handoff_->remove(unit, req.name);
          else
            mirror_.remove(unit, req.name);
          break;
        case notify::FdStoreRequest::Kind::none:
          break;
      }
      ++handled;
    }
  }

  // Messages handled by pumps triggered from below (LiveUpstream).
  int relayed = 0;

 private:
  notify::Receiver rx_;
  FdStoreRegistry owners_;
  std::unique_ptr<LiveUpstream> sink_;
  UpstreamMirror mirror_;
  HandoffManager* handoff_ = nullptr;  // PID 1's stores and their handoff
};

LiveUpstream::LiveUpstream(Manager& upstream, std::string unit)
    : upstream_(upstream), unit_(std::move(unit)), wire_(upstream.address()) {}

SysStatus LiveUpstream::store(std::span<const int> fds, std::string_view name, Poll poll) {
  auto r = wire_.store(fds, name, poll);
  upstream_.relayed += upstream_.pump(unit_);
  return r;
}

SysStatus LiveUpstream::remove(std::string_view name) {
  auto r = wire_.remove(name);
  upstream_.relayed += upstream_.pump(unit_);
  return r;
}

// PID 1's machine: simulated kernel plus PID 1's handoff (HandoffManager), which outlives the
// kexec as the next boot's PID 1 does.
class Pid1Machine {
 public:
  IoctlPort& port() { return port_; }
  HandoffManager& handoff() { return handoff_; }

  // Stage A from PID 1's stores (they close with it), Stage B, reboot(KEXEC).
  void kexec() {
    auto staged = handoff_.stage_a();
    ASSERT_TRUE(staged.ok()) << staged.error().message();
    ASSERT_EQ(staged.value()->state, HandoffState::serialized);
    auto b = handoff_.stage_b();
    ASSERT_TRUE(b.ok()) << b.error().message();
    ASSERT_EQ(b.value()->state, HandoffState::preserved) << b.value()->failure;
    ASSERT_TRUE(handoff_.kexec().ok());
  }

  // The next boot's restore into PID 1's stores: every entry finds its loaded owner.
  RestoreResult restore() {
    auto r = handoff_.restore();
    EXPECT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(handoff_.held().size(), 0u);
    if (!r)
      return {};
    return {r.value()->state,  r.value()->kexecs_count, r.value()->previous_shutdown,
            r.value()->report, r.value()->failure,      r.value()->error};
  }

  // test-luo store <prefix>: a service's own session with a memfd at token 42; returns a dup of
  // the session fd (what the service pushes into its store).
  UniqueFd own_session(const std::string& name, std::string_view data) {
    auto dev = lu_.open_device();
    EXPECT_TRUE(dev.ok());
    auto s = dev.value().create_session(name);
    EXPECT_TRUE(s.ok());
    auto m = memfd_with(data);
    EXPECT_TRUE(s.value().preserve(m.get(), 42).ok());
    return UniqueFd(::fcntl(s.value().fd(), F_DUPFD_CLOEXEC, 3));
  }

 private:
  SimulatedKernel kernel_;
  IoctlPort port_{kernel_};
  LiveUpdate lu_{port_};
  HandoffManager handoff_{lu_, port_};
};

// What a manager starting `unit` passes it: the store's hand-back plus the names, through the
// LISTEN_* writer and parser (the fds themselves are the hand-back duplicates).
std::vector<ListenFd> start_unit(const FdStore& store) {
  std::vector<std::string> names;
  for (const auto& e : store.entries())
    names.push_back(e.name);
  auto fds = store.hand_back();
  EXPECT_TRUE(fds.ok());
  const pid_t child = ::getpid();
  auto env_lines = listen::listen_environment(names, child);
  EXPECT_TRUE(env_lines.ok());
  listen::Environment env;
  for (const auto& line : env_lines.value()) {
    const auto eq = line.find('=');
    env.emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  auto parsed = listen::parse_listen_fds(env, child);
  EXPECT_TRUE(parsed.ok());
  std::vector<ListenFd> out;
  for (std::size_t i = 0; i < parsed.value().size(); ++i)
    out.push_back({std::move(fds.value()[i]), parsed.value()[i].name});
  return out;
}

// The inner manager's startup (§2.3, §3.7): claim LISTEN_FDS, dispatch, push the mapping.
std::vector<RoutedReport> start_inner_manager(Manager& inner, std::vector<ListenFd> listen_fds,
                                              std::vector<ListenFd>* generic = nullptr,
                                              NamesPassed names = NamesPassed::yes) {
  DownwardRouter router;
  auto rest = router.claim(std::move(listen_fds), names);
  ManagerTarget target(inner.mirror());
  auto routed = router.dispatch(target);
  EXPECT_TRUE(inner.mirror().refresh().ok());
  if (generic)
    *generic = std::move(rest);
  return routed;
}

TEST(NestedScenario, UserManagerStoreSurvivesKexecAndIsRoutedBackByName) {
  Pid1Machine m;
  auto pid1 = std::make_unique<Manager>("pid1", m.handoff());
  pid1->load(kUserAt, kNestedStore);
  auto user = std::make_unique<Manager>("user", pid1.get(), kUserAt);
  user->load(kUserLate, kNestedStore);

  // Boot 1, step 2: test-luo store user-late, sent to the user manager for real.
  {
    auto a = memfd_with("liveupdate-test-data-1");
    auto b = memfd_with("liveupdate-test-data-2");
    auto session = m.own_session("user-late-direct", "luo-session-memfd-test-data");
    const int fa[] = {a.get()}, fb[] = {b.get()}, fs[] = {session.get()};
    ASSERT_TRUE(notify::store_fds(user->address(), fa, "testfd1").ok());
    ASSERT_TRUE(notify::store_fds(user->address(), fb, "testfd2").ok());
    ASSERT_TRUE(notify::store_fds(user->address(), fs, "user-late-direct").ok());
  }
  EXPECT_EQ(user->pump(kUserLate), 3);
  EXPECT_EQ(user->store(kUserLate).size(), 3u);
  pid1->pump(kUserAt);
  const auto& up = pid1->store(kUserAt);
  EXPECT_GE(up.size(), 3u);
  EXPECT_EQ(names_of(up), (std::set<std::string>{"sub-fdstore-1", "sub-fdstore-2", "sub-fdstore-3",
                                                 "systemd-fdstore-mapping"}));

  // kexec: every process of boot 1 ends, PID 1 hands its stores to the next kernel.
  user.reset();
  m.kexec();
  pid1.reset();

  // Boot 2: PID 1 restores user@1000.service's store.
  auto pid1b = std::make_unique<Manager>("pid1b", m.handoff());
  pid1b->load(kUserAt, kNestedStore);
  const auto r = m.restore();
  EXPECT_EQ(r.state, HandoffState::finished) << r.failure;
  EXPECT_GE(pid1b->store(kUserAt).size(), 3u);

  // Step 4: the user unit's file is written, user@1000.service (re)starts.
  auto user2 = std::make_unique<Manager>("user2", pid1b.get(), kUserAt);
  user2->load(kUserLate, kNestedStore);
  std::vector<ListenFd> generic;
  auto routed = start_inner_manager(*user2, start_unit(pid1b->store(kUserAt)), &generic);
  EXPECT_TRUE(generic.empty());
  ASSERT_EQ(routed.size(), 3u);
  for (const auto& rr : routed)
    EXPECT_EQ(rr.result.disposition, Disposition::attached) << rr.name << ": " << rr.result.reason;

  const auto& late = user2->store(kUserLate);
  ASSERT_EQ(late.size(), 3u);
  EXPECT_EQ(contents(entry_named(late, "testfd1")->fd.get()), "liveupdate-test-data-1");
  EXPECT_EQ(contents(entry_named(late, "testfd2")->fd.get()), "liveupdate-test-data-2");
  const auto* session = entry_named(late, "user-late-direct");
  ASSERT_NE(session, nullptr);
  auto data = m.port().retrieve_fd(session->fd.get(), 42);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(contents(data.value().get()), "luo-session-memfd-test-data");
  std::set<std::uint64_t> indexes;
  for (const auto& e : late.entries())
    indexes.insert(e.index);
  EXPECT_EQ(indexes, (std::set<std::uint64_t>{1, 2, 3})) << "indexes kept through the kexec";
  EXPECT_EQ(user2->mirror().counter(), 3u);

  // The mapping re-push at the end of startup replaced PID 1's copy, nothing accumulated.
  pid1b->pump(kUserAt);
  EXPECT_EQ(pid1b->store(kUserAt).size(), 4u);

  // test-luo check: FDSTOREREMOVE of each name, which goes all the way up.
  for (auto name : {"testfd1", "testfd2", "user-late-direct"})
    ASSERT_TRUE(notify::remove_fds(user2->address(), name).ok());
  user2->pump(kUserLate);
  EXPECT_EQ(user2->store(kUserLate).size(), 0u);
  pid1b->pump(kUserAt);
  EXPECT_EQ(pid1b->store(kUserAt).size(), 0u) << "sub-fdstore-* removed, mapping removed (C > 0)";
}

TEST(NestedScenario, NspawnPayloadChainUpAndBackDownUnnamed) {
  Pid1Machine m;
  auto pid1 = std::make_unique<Manager>("pid1", m.handoff());
  pid1->load(kUserAt, kNestedStore);
  auto user = std::make_unique<Manager>("user", pid1.get(), kUserAt);
  user->load(kNspawnUnit, {.max = 16, .preserve = PreserveMode::yes});
  // nspawn: its own notify socket for the payload, relaying to the user manager.
  notify::NotifyUpstream nspawn_up(user->address());
  const pid_t payload_pid = ::getpid();  // the payload is this process here
  PayloadRelay relay(payload_pid, {.has_upstream = true, .fdstore_max = 16});
  auto nspawn_rx = notify::Receiver::bind(fresh_address("nspawn"));
  ASSERT_TRUE(nspawn_rx.ok());

  // test-fdstore store.
  {
    auto a = memfd_with("fdstore-data-a");
    auto b = memfd_with("fdstore-data-b");
    const int fa[] = {a.get()}, fb[] = {b.get()};
    ASSERT_TRUE(notify::store_fds(nspawn_rx.value().address(), fa, "test-fd-a").ok());
    ASSERT_TRUE(notify::store_fds(nspawn_rx.value().address(), fb, "test-fd-b").ok());
  }
  for (;;) {
    auto d = nspawn_rx.value().receive();
    if (!d.ok())
      break;
    if (d.value().kind() != notify::DeliveryKind::message)
      continue;
    auto [action, sent] =
        relay.forward(notify::payload_message(std::move(d.value().message())), nspawn_up);
    EXPECT_TRUE(sent.ok());
    EXPECT_TRUE(action.warnings.empty());
  }
  EXPECT_EQ(user->pump(kNspawnUnit), 2);
  EXPECT_EQ(names_of(user->store(kNspawnUnit)),
            (std::set<std::string>{"payload-test-fd-a", "payload-test-fd-b"}));
  pid1->pump(kUserAt);
  EXPECT_EQ(pid1->store(kUserAt).size(), 3u) << "two sub-fdstore entries and the mapping";

  user.reset();
  m.kexec();
  pid1.reset();
  auto pid1b = std::make_unique<Manager>("pid1b", m.handoff());
  pid1b->load(kUserAt, kNestedStore);
  EXPECT_EQ(m.restore().state, HandoffState::finished);

  auto user2 = std::make_unique<Manager>("user2", pid1b.get(), kUserAt);
  user2->load(kNspawnUnit, {.max = 16, .preserve = PreserveMode::yes});
  start_inner_manager(*user2, start_unit(pid1b->store(kUserAt)));
  const auto& unit = user2->store(kNspawnUnit);
  ASSERT_EQ(unit.size(), 2u);
  for (const auto& e : unit.entries())
    EXPECT_GT(e.index, 0u) << e.name << ": index preserved";

  // nspawn starts: the payload gets LISTEN_FDS and LISTEN_PID=1 only (§2.5, §5.10).
  auto fds = unit.hand_back();
  ASSERT_TRUE(fds.ok());
  listen::Environment env;
  for (const auto& line : PayloadRelay::payload_environment(fds.value().size())) {
    const auto eq = line.find('=');
    env.emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  EXPECT_FALSE(env.contains("LISTEN_FDNAMES"));
  auto passed = listen::parse_listen_fds(env, /*own_pid=*/1);
  ASSERT_TRUE(passed.ok());
  ASSERT_EQ(passed.value().size(), 2u);
  for (const auto& p : passed.value())
    EXPECT_EQ(p.name, "unknown") << "no names inside the container";
  // test-fdstore check: by content.
  std::set<std::string> seen;
  for (const auto& fd : fds.value())
    seen.insert(contents(fd.get()));
  EXPECT_EQ(seen, (std::set<std::string>{"fdstore-data-a", "fdstore-data-b"}));
}

TEST(NestedScenario, ReexecKeepsIndexesAndTheCounterSoNoUpstreamNameCollides) {
  auto pid1 = std::make_unique<Manager>("pid1");
  pid1->load(kUserAt, kNestedStore);
  auto user = std::make_unique<Manager>("user", pid1.get(), kUserAt);
  user->load("a.service", kNestedStore);
  ASSERT_TRUE(user->mirror().store("a.service", memfd_with("one"), "one", Poll::on).ok());
  ASSERT_TRUE(user->mirror().store("a.service", memfd_with("two"), "two", Poll::on).ok());
  user->mirror().remove("a.service", "one");
  pid1->pump(kUserAt);

  // daemon-reexec of the user manager: serialize, new image, deserialize, refresh.
  auto ser = serialize(user->mirror());
  ASSERT_TRUE(ser.ok());
  auto user2 = std::make_unique<Manager>("user-reexec", pid1.get(), kUserAt);
  user.reset();
  user2->load("a.service", kNestedStore);
  auto rep = deserialize(ser.value().text, ser.value().fds, user2->mirror());
  EXPECT_EQ(rep.restored, 1u);
  EXPECT_TRUE(rep.skipped.empty());
  EXPECT_EQ(user2->mirror().counter(), 2u);
  ASSERT_TRUE(user2->mirror().refresh().ok());
  ASSERT_TRUE(user2->mirror().store("a.service", memfd_with("three"), "three", Poll::on).ok());
  pid1->pump(kUserAt);

  const auto& a = user2->store("a.service");
  EXPECT_EQ(entry_named(a, "two")->index, 2u);
  EXPECT_EQ(entry_named(a, "three")->index, 3u) << "not 1 (removed) nor 2 (in use)";
  std::multiset<std::string> upstream;
  for (const auto& e : pid1->store(kUserAt).entries())
    upstream.insert(e.name);
  EXPECT_EQ(upstream, (std::multiset<std::string>{"sub-fdstore-2", "sub-fdstore-3",
                                                  "systemd-fdstore-mapping"}));
  EXPECT_EQ(contents(entry_named(pid1->store(kUserAt), "sub-fdstore-3")->fd.get()), "three");
}

TEST(NestedScenario, HangUpRemovesUpstreamAndTheLastOneTakesTheMapping) {
  auto pid1 = std::make_unique<Manager>("pid1");
  pid1->load(kUserAt, kNestedStore);
  auto user = std::make_unique<Manager>("user", pid1.get(), kUserAt);
  user->load("p.service", kNestedStore);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd write_end(p[1]);
  ASSERT_TRUE(user->mirror().store("p.service", UniqueFd(p[0]), "pipe", Poll::on).ok());
  pid1->pump(kUserAt);
  EXPECT_EQ(pid1->store(kUserAt).size(), 2u);

  // The service's peer goes away: POLLHUP on the stored read end (the manager's epoll watch).
  write_end.reset();
  const int stored = user->store("p.service").entries()[0].fd.get();
  pollfd pfd{stored, 0, 0};
  ASSERT_EQ(::poll(&pfd, 1, 0), 1);
  ASSERT_TRUE(pfd.revents & POLLHUP);
  // PID 1's polled copy hangs up too; its own watch is not modelled here.
  EXPECT_TRUE(user->mirror().hang_up("p.service", stored));
  pid1->pump(kUserAt);
  EXPECT_EQ(pid1->store(kUserAt).size(), 0u);
}

TEST(NestedScenario, WholeStoreReleaseLeavesTheUpstreamCopyWhichComesBack) {
  // §5.9, reproduced on purpose (systemd keeps upstream copies across local releases so an
  // inner-manager restart cannot lose them); the price is that a permanently failed on-success
  // unit gets its fds back at the next inner-manager start.
  auto pid1 = std::make_unique<Manager>("pid1");
  pid1->load(kUserAt, kNestedStore);
  auto user = std::make_unique<Manager>("user", pid1.get(), kUserAt);
  user->load("f.service", {.max = 4, .preserve = PreserveMode::on_success});
  ASSERT_TRUE(user->mirror().store("f.service", memfd_with("mem"), "mem", Poll::on).ok());
  const int before = pid1->relayed;
  EXPECT_TRUE(user->mirror().owner_stopped("f.service", ReleaseTrigger::dead, /*failed=*/true));
  EXPECT_EQ(user->store("f.service").size(), 0u);
  EXPECT_EQ(pid1->relayed, before) << "no upstream message at all";
  EXPECT_EQ(pid1->pump(kUserAt), 0);
  EXPECT_EQ(pid1->store(kUserAt).size(), 2u);

  // The user manager restarts: the released fd is back.
  user.reset();
  auto user2 = std::make_unique<Manager>("user2", pid1.get(), kUserAt);
  user2->load("f.service", {.max = 4, .preserve = PreserveMode::on_success});
  start_inner_manager(*user2, start_unit(pid1->store(kUserAt)));
  ASSERT_EQ(user2->store("f.service").size(), 1u);
  EXPECT_EQ(contents(user2->store("f.service").entries()[0].fd.get()), "mem");
}

TEST(NestedScenario, AFreshManagerWithoutNamedRoutingKeepsTheHandedDownMapping) {
  auto pid1 = std::make_unique<Manager>("pid1");
  pid1->load(kUserAt, kNestedStore);
  {
    Manager user("user", pid1.get(), kUserAt);
    user.load("a.service", kNestedStore);
    ASSERT_TRUE(user.mirror().store("a.service", memfd_with("x"), "x", Poll::on).ok());
  }
  pid1->pump(kUserAt);
  ASSERT_EQ(pid1->store(kUserAt).size(), 2u);

  // Started without LISTEN_FDNAMES: nothing is routed, C stays 0, and the end-of-startup
  // refresh must not delete the mapping it was handed.
  const int before = pid1->relayed;
  Manager fresh("fresh", pid1.get(), kUserAt);
  std::vector<ListenFd> generic;
  auto routed =
      start_inner_manager(fresh, start_unit(pid1->store(kUserAt)), &generic, NamesPassed::no);
  EXPECT_TRUE(routed.empty());
  EXPECT_EQ(generic.size(), 2u);
  EXPECT_EQ(fresh.mirror().counter(), 0u);
  EXPECT_EQ(pid1->relayed, before) << "not even an FDSTOREREMOVE of the mapping";
  EXPECT_NE(entry_named(pid1->store(kUserAt), "systemd-fdstore-mapping"), nullptr);
}

}  // namespace
}  // namespace luo
