// A hostile service against the manager's fd store (issue 16): everything a process allowed to
// send to $NOTIFY_SOCKET can throw at it, over a real AF_UNIX socket, and what the stores then do
// through Stage A, Stage B, the kexec and the restore over SimulatedKernel.
//
// The manager here is the smallest honest one: a notify Receiver, NotifyAccess= as a pid -> unit
// table, interpret_fd_store(), and the handoff as one HandoffManager over its own SimulatedKernel
// (store() for FDSTORE=1, remove() for FDSTOREREMOVE=1, then stage_a(), stage_b(), kexec() and
// the next boot's restore()), every refusal logged. Each case checks a typed refusal or a logged
// skip, that the victim service's entries are untouched, and counts /proc/self/fd before the case
// and after it (printed as "[hostile] <case>: fds before N after M", the numbers
// docs/reliability.md quotes).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fd_leak_listener.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/sd_notify.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "memfd_fixtures.hpp"
#include "raw_notify.hpp"

namespace luo::hostile_test {

using luo::testing::contents;
using luo::testing::count_open_fds;
using luo::testing::entry_named;
using luo::testing::memfd_with;
using luo::testing::raw_send;

constexpr FdStoreConfig kSmallStore{.max = 4, .preserve = PreserveMode::yes};
constexpr FdStoreConfig kVictimStore{.max = 8, .preserve = PreserveMode::yes};
constexpr char kHostile[] = "hostile.service";
constexpr char kVictim[] = "victim.service";

notify::Address unique_address(std::string_view tag) {
  static int n = 0;
  return notify::Address::parse("@luo-hostile-" + std::to_string(::getpid()) + "-" +
                                std::string(tag) + "-" + std::to_string(++n))
      .value();
}

// Counts fds around one case and prints the numbers; fails the case on a difference.
class FdAudit {
 public:
  explicit FdAudit(std::string name) : name_(std::move(name)), before_(count_open_fds()) {}
  ~FdAudit() {
    const int after = count_open_fds();
    std::printf("[hostile] %s: fds before %d after %d\n", name_.c_str(), before_, after);
    EXPECT_EQ(after, before_) << name_ << " leaked fds";
  }
  FdAudit(const FdAudit&) = delete;
  FdAudit& operator=(const FdAudit&) = delete;

 private:
  std::string name_;
  int before_;
};

// The manager: its notify socket, and its handoff (the fd stores among it) over its own machine.
class NotifyManager {
 public:
  explicit NotifyManager(notify::ReceiverOptions options = {})
      : rx_(std::move(notify::Receiver::bind(unique_address("mgr"), options).value())) {
    EXPECT_TRUE(handoff_.load_owner(kVictim, kVictimStore).ok());
  }

  const notify::Address& address() const { return rx_.address(); }
  notify::Receiver& receiver() { return rx_; }
  SimulatedKernel& kernel() { return kernel_; }
  LiveUpdate& runtime() { return lu_; }
  HandoffManager& handoff() { return handoff_; }
  // Only while the stores are open (before Stage A, or loaded again after the restore).
  const FdStore& store(std::string_view unit) const { return *handoff_.owners().find(unit); }
  // FDSTORE=1 from the unit itself, as PID 1 takes it.
  Result<AddOutcome> add(std::string_view unit, UniqueFd fd, std::string_view name) {
    return handoff_.store(unit, std::move(fd), name);
  }
  const std::vector<std::string>& log() const { return log_; }
  bool logged(std::string_view needle) const {
    for (const auto& l : log_)
      if (l.find(needle) != std::string::npos)
        return true;
    return false;
  }

  // NotifyAccess=: messages from `pid` are `unit`'s.
  void admit(pid_t pid, std::string unit, FdStoreConfig config) {
    EXPECT_TRUE(handoff_.load_owner(unit, config).ok());
    units_[pid] = std::move(unit);
  }

  // Handles every queued datagram, as PID 1's notify handler would.
  void pump() {
    for (;;) {
      auto d = rx_.receive();
      if (!d.ok()) {
        EXPECT_EQ(d.raw_errno(), EAGAIN);
        return;
      }
      switch (d.value().kind()) {
        case notify::DeliveryKind::ignored:
          log_.emplace_back(notify::ignore_reason_message(d.value().ignored().reason));
          continue;
        case notify::DeliveryKind::barrier:
          log_.emplace_back("barrier");
          continue;
        case notify::DeliveryKind::message:
          break;
      }
      notify::Received& m = d.value().message();
      const auto unit = units_.find(m.pid);
      if (unit == units_.end()) {
        log_.push_back("no unit for pid " + std::to_string(m.pid) + ", ignoring");
        continue;  // its fds close with the message
      }
      auto req = notify::interpret_fd_store(std::move(m));
      for (auto w : req.warnings)
        log_.emplace_back(notify::fd_store_warning_message(w));
      switch (req.kind) {
        case notify::FdStoreRequest::Kind::store:
          for (auto& fd : req.fds) {
            auto r = handoff_.store(unit->second, std::move(fd), req.name, req.poll);
            if (!r)
              log_.push_back(unit->second + ": " + r.error().message());
          }
          break;
        case notify::FdStoreRequest::Kind::remove:
          if (auto r = handoff_.remove(unit->second, req.name); !r)
            log_.push_back(unit->second + ": " + r.error().message());
          break;
        case notify::FdStoreRequest::Kind::none:
          break;
      }
    }
  }

 private:
  notify::Receiver rx_;
  SimulatedKernel kernel_;
  IoctlPort port_{kernel_};
  LiveUpdate lu_{port_};
  HandoffManager handoff_{lu_, port_};
  std::map<pid_t, std::string> units_;
  std::vector<std::string> log_;
};

// The victim's entries as (name, inode): what "untouched" compares.
std::vector<std::pair<std::string, ino_t>> fingerprint(const FdStore& store) {
  std::vector<std::pair<std::string, ino_t>> out;
  for (const auto& e : store.entries()) {
    struct stat st {};
    EXPECT_EQ(::fstat(e.fd.get(), &st), 0);
    out.emplace_back(e.name, st.st_ino);
  }
  return out;
}

// The scene of every attack: this process admitted as the hostile unit with `hostile_store`,
// next to a victim unit that already holds two entries. Returns the victim's fingerprint before
// the attack.
std::vector<std::pair<std::string, ino_t>> admit_hostile_next_to_victim(
    NotifyManager& mgr, FdStoreConfig hostile_store = kSmallStore) {
  mgr.admit(::getpid(), kHostile, hostile_store);
  EXPECT_TRUE(mgr.add(kVictim, memfd_with("victim-1"), "state").ok());
  EXPECT_TRUE(mgr.add(kVictim, memfd_with("victim-2"), "conn").ok());
  return fingerprint(mgr.store(kVictim));
}

bool hung_up(int read_end) {
  pollfd p{read_end, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0;
}

struct Pipe {
  UniqueFd read, write;
};
Pipe make_pipe() {
  int p[2];
  EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
  return {UniqueFd(p[0]), UniqueFd(p[1])};
}

TEST(HostileService, FdstoreFloodBeyondTheStoreMaxIsRefusedPerFdWithExfull) {
  FdAudit audit("FDSTORE=1 flood, 40 fds into FileDescriptorStoreMax=4");
  NotifyManager mgr;
  const auto victim_before = admit_hostile_next_to_victim(mgr);
  for (int i = 0; i < 20; ++i) {
    UniqueFd a = memfd_with("x"), b = memfd_with("y");
    const int fds[] = {a.get(), b.get()};
    ASSERT_TRUE(notify::store_fds(mgr.address(), fds, "flood").ok());
    if (i % 5 == 4)
      mgr.pump();  // the receive queue is bounded: drain as PID 1's event loop would
  }
  mgr.pump();
  EXPECT_EQ(mgr.store(kHostile).size(), 4u);
  EXPECT_TRUE(mgr.logged("EXFULL")) << (mgr.log().empty() ? "" : mgr.log().back());
  EXPECT_EQ(fingerprint(mgr.store(kVictim)), victim_before);
}

TEST(HostileService, MoreFdsThanTheControlBufferHoldsIsIgnoredWithAllClosed) {
  FdAudit audit("MSG_CTRUNC, 40 pipe ends to a receiver with room for 4");
  NotifyManager mgr({.max_fds = 4, .fds = notify::FdPolicy::accept});
  mgr.admit(::getpid(), kHostile, kSmallStore);
  std::vector<Pipe> pipes(40);
  std::vector<int> ends;
  for (auto& p : pipes) {
    p = make_pipe();
    ends.push_back(p.write.get());
  }
  ASSERT_TRUE(notify::store_fds(mgr.address(), ends, "many").ok());
  for (auto& p : pipes)
    p.write.reset();
  mgr.pump();
  EXPECT_TRUE(mgr.logged("truncated control data"));
  EXPECT_EQ(mgr.store(kHostile).size(), 0u);
  for (auto& p : pipes)
    EXPECT_TRUE(hung_up(p.read.get())) << "an fd of a truncated message stayed open";
}

TEST(HostileService, NamesAtAndPastEveryLimit) {
  FdAudit audit("FDNAME at 255, 256, with ':' and control bytes; payload at 4096 and 4097");
  NotifyManager mgr;
  const auto victim_before =
      admit_hostile_next_to_victim(mgr, {.max = 16, .preserve = PreserveMode::yes});
  const std::string at_limit(kFdNameMax, 'n');
  const auto send_named = [&](std::string_view name) {
    UniqueFd m = memfd_with("n");
    notify::Message msg;
    msg.fdstore().fdname(name).fd(m.get());
    return notify::send(mgr.address(), msg);
  };
  ASSERT_TRUE(send_named(at_limit).ok());
  ASSERT_TRUE(send_named(at_limit + "n").ok());
  ASSERT_TRUE(send_named("a:b").ok());
  ASSERT_TRUE(send_named("tab\there").ok());
  ASSERT_TRUE(send_named("").ok());
  // The victim's names: a store under its name lands in the hostile's own store only.
  ASSERT_TRUE(send_named("state").ok());
  // A remove with an invalid name is ignored, not widened to "every fd".
  notify::Message bad_remove;
  bad_remove.fdstore_remove().fdname(at_limit + "n");
  ASSERT_TRUE(notify::send(mgr.address(), bad_remove).ok());
  // A payload of exactly NOTIFY_BUFFER_MAX is read; one byte more is dropped whole.
  const std::string head = "FDSTORE=1\nFDNAME=big\nX=";
  for (std::size_t total : {kNotifyBufferMax, kNotifyBufferMax + 1}) {
    UniqueFd m = memfd_with("b");
    const std::string payload = head + std::string(total - head.size(), 'p');
    raw_send(mgr.address(), payload, {m.get()});
  }
  mgr.pump();
  const FdStore& h = mgr.store(kHostile);
  EXPECT_NE(entry_named(h, at_limit), nullptr);
  EXPECT_EQ(entry_named(h, at_limit + "n"), nullptr);
  EXPECT_NE(entry_named(h, "state"), nullptr);
  EXPECT_NE(entry_named(h, "big"), nullptr);
  // 256 bytes, ':' and a tab are each stored as "stored" with a warning (systemd's rule); the
  // empty name is valid (systemd allows it as a special case).
  std::size_t stored = 0;
  for (const auto& e : h.entries())
    stored += e.name == kDefaultFdName;
  EXPECT_EQ(stored, 3u);
  EXPECT_NE(entry_named(h, ""), nullptr);
  EXPECT_TRUE(mgr.logged("Passed FDNAME= name is invalid"));
  EXPECT_TRUE(mgr.logged("FDSTOREREMOVE=1 requested, but no valid file descriptor name"));
  EXPECT_TRUE(mgr.logged("truncated payload"));
  EXPECT_EQ(h.size(), 7u);
  EXPECT_EQ(fingerprint(mgr.store(kVictim)), victim_before);
}

TEST(HostileService, ForgedOrMissingCredentialsStoreNothing) {
  FdAudit audit("forged pid (a pid no unit has) and missing SCM_CREDENTIALS");
  NotifyManager mgr;
  const auto victim_before = admit_hostile_next_to_victim(mgr);
  // A child that exits at once: its pid is mapped to no unit (and may be gone).
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0)
    ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  Pipe p = make_pipe();
  notify::Message forged;
  forged.fdstore().fdname("forged").fd(p.write.get()).as_pid(child);
  // Unprivileged, send() falls back to our own pid; privileged, the kernel refuses a pid that
  // does not exist or lets the forged one through. Either way no unit but ours can be named.
  const auto sent = notify::send(mgr.address(), forged);
  p.write.reset();
  mgr.pump();
  if (sent.ok() && !mgr.logged("no unit for pid")) {
    EXPECT_NE(entry_named(mgr.store(kHostile), "forged"), nullptr);  // fell back to our pid
  }
  EXPECT_EQ(fingerprint(mgr.store(kVictim)), victim_before);

  // Without SO_PASSCRED the kernel attaches no credentials: the datagram is dropped.
  const int off = 0;
  ASSERT_EQ(::setsockopt(mgr.receiver().fd(), SOL_SOCKET, SO_PASSCRED, &off, sizeof off), 0);
  Pipe q = make_pipe();
  const int fds[] = {q.write.get()};
  ASSERT_TRUE(notify::store_fds(mgr.address(), fds, "nocreds").ok());
  q.write.reset();
  mgr.pump();
  EXPECT_TRUE(mgr.logged("lacking valid credential"));
  EXPECT_EQ(entry_named(mgr.store(kHostile), "nocreds"), nullptr);
  EXPECT_TRUE(hung_up(q.read.get()));
  EXPECT_EQ(fingerprint(mgr.store(kVictim)), victim_before);
}

TEST(HostileService, InterleavedRemovesAndBarriersApplyInOrder) {
  FdAudit audit("FDSTORE/FDSTOREREMOVE/BARRIER interleaved");
  NotifyManager mgr;
  const auto victim_before = admit_hostile_next_to_victim(mgr);
  const auto store = [&](std::string_view name, std::string_view data) {
    UniqueFd m = memfd_with(data);
    const int fds[] = {m.get()};
    ASSERT_TRUE(notify::store_fds(mgr.address(), fds, name).ok());
  };
  const auto remove = [&](std::string_view name) {
    ASSERT_TRUE(notify::remove_fds(mgr.address(), name).ok());
  };
  // A barrier as the client sends it, without blocking on the reply (we are the manager too).
  std::vector<Pipe> barriers;
  const auto barrier = [&] {
    barriers.push_back(make_pipe());
    notify::Message b;
    b.barrier().fd(barriers.back().write.get());
    ASSERT_TRUE(notify::send(mgr.address(), b).ok());
    barriers.back().write.reset();
  };
  store("a", "a1");
  store("b", "b1");
  barrier();
  remove("a");
  remove("state");  // the victim's name: only the hostile's own store is searched
  barrier();
  store("a", "a2");
  remove("b");
  barrier();
  // A barrier carrying two fds and extra tags: swallowed with a warning, fds closed.
  Pipe extra1 = make_pipe(), extra2 = make_pipe();
  notify::Message bad;
  bad.barrier().tag("FDSTORE", "1").fd(extra1.write.get()).fd(extra2.write.get());
  ASSERT_TRUE(notify::send(mgr.address(), bad).ok());
  extra1.write.reset();
  extra2.write.reset();
  mgr.pump();
  const FdStore& h = mgr.store(kHostile);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(contents(h.entries().front().fd.get()), "a2");
  for (const auto& b : barriers)
    EXPECT_TRUE(hung_up(b.read.get()));
  EXPECT_TRUE(hung_up(extra1.read.get()));
  EXPECT_TRUE(hung_up(extra2.read.get()));
  EXPECT_EQ(fingerprint(mgr.store(kVictim)), victim_before);
}

// ---------------------------------------------------------------------------------------------
// Every kind of fd, through the kexec handoff.

const EntryReport* report_for(const std::vector<EntryReport>& r, std::string_view owner,
                              std::string_view name) {
  for (const auto& e : r)
    if (e.owner == owner && e.name == name)
      return &e;
  return nullptr;
}

// Sends `fd` from the hostile service under `name` and returns whether the store took it.
void hostile_store(NotifyManager& mgr, int fd, std::string_view name) {
  const int fds[] = {fd};
  ASSERT_TRUE(notify::store_fds(mgr.address(), fds, name).ok()) << name;
  mgr.pump();
}

TEST(HostileService, EveryKindOfFdIsStoredAndEitherHandedOverOrReportedLost) {
  FdAudit audit("every kind of fd through Stage A, Stage B, kexec and restore");
  {
    NotifyManager mgr;
    admit_hostile_next_to_victim(mgr, {.max = 32, .preserve = PreserveMode::yes});

    // Another service's LUO session, and a memfd already preserved in it.
    auto dev = mgr.runtime().open_device();
    ASSERT_TRUE(dev.ok());
    auto created = dev.value().create_session("other-vm");
    ASSERT_TRUE(created.ok());
    std::optional<OutgoingSession> other(std::move(created).value());
    UniqueFd preserved_elsewhere = memfd_with("elsewhere");
    ASSERT_TRUE(other->preserve(preserved_elsewhere.get(), 7).ok());
    // Keep "other-vm" alive through the victim's store, as its owner would.
    ASSERT_TRUE(
        mgr.add(kVictim, UniqueFd(::fcntl(other->fd(), F_DUPFD_CLOEXEC, 3)), "other-vm").ok());
    dev.value().close();

    UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Pipe pipe = make_pipe();
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
    UniqueFd opath(::open("/", O_PATH | O_CLOEXEC));
    UniqueFd dir(::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    UniqueFd sparse = memfd_with("sparse");
    ASSERT_EQ(::ftruncate(sparse.get(), off_t{1} << 40), 0);  // 1 TiB, one page used
    hostile_store(mgr, sock.get(), "socket");
    hostile_store(mgr, pipe.read.get(), "pipe");
    if (pidfd)
      hostile_store(mgr, pidfd.get(), "pidfd");
    hostile_store(mgr, opath.get(), "opath");
    hostile_store(mgr, dir.get(), "directory");
    hostile_store(mgr, other->fd(), "stolen-session");
    hostile_store(mgr, preserved_elsewhere.get(), "preserved-elsewhere");
    hostile_store(mgr, sparse.get(), "sparse");
    hostile_store(mgr, memfd_with("fine").get(), "fine");
    other.reset();
    sparse.reset();
    preserved_elsewhere.reset();
    const std::size_t stored = mgr.store(kHostile).size();
    EXPECT_EQ(stored, pidfd ? 9u : 8u) << (mgr.log().empty() ? "" : mgr.log().back());

    // Stage A: each entry staged, or dropped with a reason; the stolen session is recognised.
    // The stores close with it; Stage A's fds carry on in the manager.
    auto staged = mgr.handoff().stage_a();
    ASSERT_TRUE(staged.ok()) << staged.error().message();
    const auto* stolen = report_for(staged.value()->report, kHostile, "stolen-session");
    ASSERT_NE(stolen, nullptr);
    for (const auto& r : staged.value()->report)
      EXPECT_TRUE(r.state == FdEntryState::staged || !r.reason.empty()) << r.owner << " " << r.name;

    auto preserved = mgr.handoff().stage_b();
    ASSERT_TRUE(preserved.ok()) << preserved.error().message();
    const StageBResult& b = *preserved.value();
    ASSERT_EQ(b.state, HandoffState::preserved) << b.failure;
    // Every non-memfd is refused by the kernel with a per-entry reason; the memfd already
    // preserved in "other-vm" too (7.0+: one outgoing session per file).
    for (const char* name : {"socket", "pipe", "opath", "directory", "preserved-elsewhere"}) {
      const auto* r = report_for(b.report, kHostile, name);
      ASSERT_NE(r, nullptr) << name;
      EXPECT_EQ(r->state, FdEntryState::lost) << name;
      EXPECT_FALSE(r->reason.empty()) << name;
    }
    EXPECT_EQ(report_for(b.report, kHostile, "fine")->state, FdEntryState::preserved);
    EXPECT_EQ(report_for(b.report, kVictim, "state")->state, FdEntryState::preserved);
    // A 1 TiB sparse memfd is preserved and, as on the real kernels, costs only its data: the
    // kexec goes through for everyone (docs/reliability.md F2, kernel-decisions.md entry 20).
    EXPECT_EQ(report_for(b.report, kHostile, "sparse")->state, FdEntryState::preserved);
    const auto k = mgr.handoff().kexec();
    EXPECT_TRUE(k.ok()) << k.error().message();
  }
}

using Units = std::initializer_list<std::pair<const char*, FdStoreConfig>>;

// The next boot of `mgr`: `before` load, the restore dispatches into their stores, then `after`
// load (their entries held until then). Returns the restore's result.
const RestoreResult* next_boot(NotifyManager& mgr, Units before, Units after) {
  for (const auto& [unit, config] : before)
    EXPECT_TRUE(mgr.handoff().load_owner(unit, config).ok()) << unit;
  auto restored = mgr.handoff().restore();
  EXPECT_TRUE(restored.ok()) << restored.error().message();
  for (const auto& [unit, config] : after)
    EXPECT_TRUE(mgr.handoff().load_owner(unit, config).ok()) << unit;
  return restored.ok() ? restored.value() : nullptr;
}

TEST(HostileService, ASessionNamedSystemdInAStoreIsDroppedAndTheHandoffStillWorks) {
  FdAudit audit("a service-created LUO session named \"systemd\" in its fd store");
  {
    NotifyManager mgr;
    admit_hostile_next_to_victim(mgr);
    {
      auto dev = mgr.runtime().open_device();
      ASSERT_TRUE(dev.ok());
      auto squat = dev.value().create_session(handoff::kSessionName);
      ASSERT_TRUE(squat.ok());
      dev.value().close();
      hostile_store(mgr, squat.value().fd(), "squat");
    }
    ASSERT_EQ(mgr.store(kHostile).size(), 1u);
    // The squatter's session goes with the store, which closes with Stage A.
    auto staged = mgr.handoff().stage_a();
    ASSERT_TRUE(staged.ok()) << staged.error().message();
    const auto* squat = report_for(staged.value()->report, kHostile, "squat");
    ASSERT_NE(squat, nullptr);
    EXPECT_EQ(squat->state, FdEntryState::dropped);
    EXPECT_FALSE(squat->reason.empty());

    auto b = mgr.handoff().stage_b();
    ASSERT_TRUE(b.ok()) << b.error().message();
    ASSERT_EQ(b.value()->state, HandoffState::preserved) << b.value()->failure;
    ASSERT_TRUE(mgr.handoff().kexec().ok());

    const RestoreResult* r = next_boot(mgr, {}, {{kVictim, kVictimStore}});
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->state, HandoffState::finished) << r->failure;
    const FdStore& victim = mgr.store(kVictim);
    ASSERT_EQ(victim.size(), 2u);
    EXPECT_EQ(contents(entry_named(victim, "state")->fd.get()), "victim-1");
  }
}

// Finding F1 (docs/reliability.md): a service that stores a /dev/liveupdate fd in its fd store
// used to keep the device open through Stage A's duplicate, so the shutdown side's own open got
// EBUSY and every service's entries were lost. Stage A now asks the port whether each fd is the
// device (KernelPort::is_device) and drops it with the entry table's reason (Guard::luo_device);
// the device is free once the store closes, and everything else goes through the kexec.
TEST(HostileService, TheDeviceFdInAStoreIsDroppedAtStageAAndEveryOtherEntrySurvivesTheKexec) {
  FdAudit audit("/dev/liveupdate itself (the simulator's device fd) in a fd store");
  {
    NotifyManager mgr;
    admit_hostile_next_to_victim(mgr);
    {
      auto dev = mgr.kernel().open_device();
      ASSERT_TRUE(dev.ok());
      hostile_store(mgr, dev.value().get(), "device");
    }
    hostile_store(mgr, memfd_with("hostile-data").get(), "fine");
    ASSERT_EQ(mgr.store(kHostile).size(), 2u);
    // The store's copy holds the device: nobody else can open it now.
    {
      auto busy = mgr.runtime().open_device();
      ASSERT_FALSE(busy.ok());
      EXPECT_EQ(busy.error().raw_errno(), EBUSY);
    }

    // The stores close with Stage A: so does the store's device fd.
    auto staged = mgr.handoff().stage_a();
    ASSERT_TRUE(staged.ok()) << staged.error().message();
    const auto& report = staged.value()->report;
    const auto* device = report_for(report, kHostile, "device");
    ASSERT_NE(device, nullptr);
    EXPECT_EQ(device->state, FdEntryState::dropped);
    EXPECT_EQ(device->reason, guard_description(Guard::luo_device));
    for (const auto& [owner, name] :
         {std::pair{kHostile, "fine"}, {kVictim, "state"}, {kVictim, "conn"}}) {
      const auto* r = report_for(report, owner, name);
      ASSERT_NE(r, nullptr) << owner << " " << name;
      EXPECT_EQ(r->state, FdEntryState::staged) << owner << " " << name;
    }
    EXPECT_EQ(staged.value()->fds.size(), 3u) << "the device is not among Stage A's fds";

    auto b = mgr.handoff().stage_b();
    ASSERT_TRUE(b.ok()) << b.error().message();
    ASSERT_EQ(b.value()->state, HandoffState::preserved) << b.value()->failure;
    for (const auto& r : b.value()->report)
      EXPECT_EQ(r.state, FdEntryState::preserved) << r.owner << " " << r.name << ": " << r.reason;
    ASSERT_TRUE(mgr.handoff().kexec().ok());

    const RestoreResult* r = next_boot(mgr, {{kVictim, kVictimStore}}, {{kHostile, kSmallStore}});
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->state, HandoffState::finished) << r->failure;
    const FdStore& victim = mgr.store(kVictim);
    ASSERT_EQ(victim.size(), 2u);
    EXPECT_EQ(contents(entry_named(victim, "state")->fd.get()), "victim-1");
    EXPECT_EQ(contents(entry_named(victim, "conn")->fd.get()), "victim-2");
    const FdStore& hostile = mgr.store(kHostile);
    ASSERT_EQ(hostile.size(), 1u);
    EXPECT_EQ(contents(entry_named(hostile, "fine")->fd.get()), "hostile-data");
  }
}

}  // namespace luo::hostile_test
