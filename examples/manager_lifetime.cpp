// examples/manager_lifetime.cpp: a minimal service manager's lifetime across two kexecs, with
// the handoff as one object (luo::HandoffManager), over the kernel simulator.
//
// One service, db.service, keeps its write-ahead log in a memfd in its fd store
// (FileDescriptorStorePreserve=yes). Every boot the manager does the same four things, in the
// order the model's pipeline (kHandoffMachine) allows and the object enforces:
//
//   boot start   restore()                 "systemd" retrieved, entries back in their stores
//                load_owner()              the unit is loaded; entries held for it are given
//   running      store() / hand_back()     FDSTORE=1 and LISTEN_FDS; the service appends
//   shutdown     stage_a(), stage_b()      stores listed, then "systemd" created and filled
//                kexec()                   the next boot begins; the same object carries on
//
// The log gains one record per boot, and the kexec counter counts the kexecs. A call out of
// order (Stage B before Stage A) is refused before it touches anything.
//
// Exits 0 and prints "manager_lifetime: PASS" when boot 2 sees both records and KExecCount 2.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"

namespace {

constexpr char kUnit[] = "db.service";
constexpr char kLog[] = "wal";
constexpr luo::FdStoreConfig kConfig{.max = 4, .preserve = luo::PreserveMode::yes};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "manager_lifetime: FAIL: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T take(luo::Result<T> r, const char* step) {
  if (!r)
    die(std::string(step) + ": " + r.error().message());
  return std::move(r).value();
}

// The service's part: its log from the store (or a new one), one record more.
void run_service(luo::HandoffManager& mgr, std::uint64_t boot) {
  auto fds = take(mgr.hand_back(kUnit), "LISTEN_FDS");
  luo::UniqueFd log;
  if (fds.empty()) {
    auto created = luo::memfd::create(kLog);
    if (!created.ok())
      die("memfd_create");
    log = std::move(created).value();
  } else {
    log = std::move(fds[0]);  // the same open file description as the store's entry
  }
  auto old = luo::memfd::read_all(log.get());
  if (!old.ok())
    die("reading the log");
  std::string text = std::move(old).value();
  text += "record of boot " + std::to_string(boot) + "\n";
  if (!luo::memfd::write_at(log.get(), 0, text).ok())
    die("writing the log");
  if (fds.empty())
    take(mgr.store(kUnit, std::move(log), kLog), "FDSTORE=1");
  std::printf("boot %llu: db.service log:\n%s", static_cast<unsigned long long>(boot),
              text.c_str());
}

}  // namespace

int main() {
  luo::SimulatedKernel kernel;
  luo::IoctlPort port(kernel);
  luo::LiveUpdate lu(port);
  luo::HandoffManager mgr(lu, port);  // writes what systemd 262 writes

  for (std::uint64_t boot = 0; boot <= 2; ++boot) {
    const auto* restored = take(mgr.restore(), "restore");
    std::printf("boot %llu: restore %s, KExecCount %u%s%s\n", static_cast<unsigned long long>(boot),
                std::string(luo::state_name(restored->state)).c_str(), mgr.kexec_count(),
                restored->failure.empty() ? "" : ": ", restored->failure.c_str());
    for (const auto& e : restored->report) {
      std::printf("boot %llu: restored %s/%s: %s\n", static_cast<unsigned long long>(boot),
                  e.owner.c_str(), e.name.c_str(), std::string(luo::state_name(e.state)).c_str());
    }
    for (const auto& e : take(mgr.load_owner(kUnit, kConfig), "load db.service")) {
      std::printf("boot %llu: loaded %s/%s: %s\n", static_cast<unsigned long long>(boot),
                  e.owner.c_str(), e.name.c_str(), std::string(luo::state_name(e.state)).c_str());
    }
    run_service(mgr, boot);
    if (boot == 2)
      break;

    if (boot == 1) {
      auto early = mgr.stage_b();
      std::printf("boot 1: Stage B before Stage A: %s\n",
                  early ? "ACCEPTED" : early.error().message().c_str());
      if (early)
        die("Stage B ran before Stage A");
    }
    mgr.begin_shutdown();
    const auto* a = take(mgr.stage_a(), "Stage A");
    const auto* b = take(mgr.stage_b(), "Stage B");
    if (b->state != luo::HandoffState::preserved)
      die("Stage B: " + b->failure);
    std::printf("boot %llu: Stage A listed %zu fd, Stage B: %s\n",
                static_cast<unsigned long long>(boot), a->fds.size(),
                std::string(luo::state_name(b->state)).c_str());
    take(mgr.kexec(), "reboot(KEXEC)");
    std::printf("-- kexec: boot %llu\n", static_cast<unsigned long long>(kernel.boot_number()));
  }

  const auto fds = take(mgr.hand_back(kUnit), "LISTEN_FDS");
  const auto log = fds.empty() ? std::string() : luo::memfd::read_all(fds[0].get()).value();
  if (mgr.kexec_count() != 2 || log != "record of boot 0\nrecord of boot 1\nrecord of boot 2\n")
    die("the log or the counter did not survive both kexecs");
  std::printf("manager_lifetime: PASS\n");
  return 0;
}
