// shutdown_helper: the exec'd side of tests/impl/shutdown_exec_test.cpp, standing in for
// systemd-shutdown. It takes Stage A over from $SYSTEMD_LUO_SERIALIZE_FD as an embedder's helper
// does (HandoffManager::inherit()), prints what it got, then plays the rest of the journey with
// the same object on its own simulated kernel (Stage B, kexec, the next boot's restore) and prints
// what each owner's store holds afterwards. One line per fact, so the test can compare:
//   kept <n>                      fds it must keep open (HandoffManager::fds_to_keep())
//   staged <owner> <name> <data>  an inherited entry and its contents
//   lost <owner> <name>: <why>    an inherited entry it cannot use
//   restored <owner> <name> <data>
//   error <message>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"

namespace {

std::string contents(int fd) {
  auto r = luo::memfd::read_all(fd);
  return r.ok() ? r.value() : "<unreadable>";
}

}  // namespace

int main() {
  // The helper's kernel, known before it inherits anything: Stage A's device check asks it.
  luo::SimulatedKernel kernel;
  luo::IoctlPort port(kernel);
  luo::LiveUpdate lu(port);
  auto inherited =
      luo::HandoffManager::inherit(lu, port, std::getenv(luo::handoff::kSerializeFdEnv));
  if (!inherited) {
    std::printf("error %s\n", inherited.error().message().c_str());
    return 0;
  }
  if (!inherited.value()) {
    std::printf("nothing\n");
    return 0;
  }
  luo::HandoffManager& mgr = *inherited.value();
  const luo::StageAResult& in = *mgr.stage_a_result();
  std::printf("kept %zu\n", mgr.fds_to_keep().size());
  for (const auto& r : in.report) {
    if (r.state == luo::FdEntryState::lost)
      std::printf("lost %s %s: %s\n", r.owner.c_str(), r.name.c_str(), r.reason.c_str());
  }
  std::vector<std::string> units;
  for (const auto& unit : in.document.units) {
    units.push_back(unit.unit);
    for (const auto& e : unit.fdstore)
      std::printf("staged %s %s %s\n", unit.unit.c_str(), e.name.c_str(), contents(e.fd).c_str());
  }

  auto b = mgr.stage_b();
  if (!b || b.value()->state != luo::HandoffState::preserved) {
    std::printf("error stage B: %s\n",
                b ? b.value()->failure.c_str() : b.error().message().c_str());
    return 1;
  }
  if (auto k = mgr.kexec(); !k) {
    std::printf("error kexec: %s\n", k.error().message().c_str());
    return 1;
  }
  // The next boot's manager is the same object: its units load, then the restore.
  for (const auto& unit : units) {
    if (auto loaded = mgr.load_owner(unit, {.max = 16, .preserve = luo::PreserveMode::yes});
        !loaded) {
      std::printf("error load %s: %s\n", unit.c_str(), loaded.error().message().c_str());
      return 1;
    }
  }
  auto restored = mgr.restore();
  if (!restored || restored.value()->state != luo::HandoffState::finished) {
    std::printf("error restore: %s\n",
                restored ? restored.value()->failure.c_str() : restored.error().message().c_str());
    return 1;
  }
  for (const auto& [owner, store] : mgr.owners().owners()) {
    for (const auto& e : store.entries())
      std::printf("restored %s %s %s\n", owner.c_str(), e.name.c_str(),
                  contents(e.fd.get()).c_str());
  }
  return 0;
}
