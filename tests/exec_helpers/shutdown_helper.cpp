// shutdown_helper: the exec'd side of tests/impl/shutdown_exec_test.cpp, standing in for
// systemd-shutdown. It inherits Stage A from $SYSTEMD_LUO_SERIALIZE_FD, prints what it got,
// then plays the rest of the journey on its own simulated kernel (Stage B, kexec, restore) and
// prints what each owner's store holds afterwards. One line per fact, so the test can compare:
//   kept <n>                      fds it must keep open
//   staged <owner> <name> <data>  an inherited entry and its contents
//   lost <owner> <name>: <why>    an inherited entry it cannot use
//   restored <owner> <name> <data>
//   error <message>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/shutdown_exec.hpp"

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
  auto inherited = luo::inherit_stage_a(std::getenv(luo::handoff::kSerializeFdEnv), port);
  if (!inherited) {
    std::printf("error %s\n", inherited.error().message().c_str());
    return 0;
  }
  if (!inherited.value()) {
    std::printf("nothing\n");
    return 0;
  }
  const luo::InheritedStageA& in = *inherited.value();
  std::printf("kept %zu\n", in.keep().size());
  for (const auto& r : in.staged.report) {
    if (r.state == luo::FdEntryState::lost)
      std::printf("lost %s %s: %s\n", r.owner.c_str(), r.name.c_str(), r.reason.c_str());
  }
  for (const auto& unit : in.staged.document.units) {
    for (const auto& e : unit.fdstore)
      std::printf("staged %s %s %s\n", unit.unit.c_str(), e.name.c_str(), contents(e.fd).c_str());
  }

  luo::LiveUpdate lu(port);
  {
    auto dev = lu.open_device();
    if (!dev) {
      std::printf("error %s\n", dev.error().message().c_str());
      return 1;
    }
    auto b = luo::stage_b(dev.value(), in.staged, {.late_start = in.started});
    dev.value().close();
    if (b.state != luo::HandoffState::preserved) {
      std::printf("error stage B: %s\n", b.failure.c_str());
      return 1;
    }
    if (!kernel.kexec().ok()) {
      std::printf("error kexec failed\n");
      return 1;
    }
  }
  luo::LiveUpdate next(port);
  auto dev = next.open_device();
  if (!dev) {
    std::printf("error %s\n", dev.error().message().c_str());
    return 1;
  }
  luo::FdStoreRegistry owners;
  for (const auto& unit : in.staged.document.units)
    owners.load(unit.unit, {.max = 16, .preserve = luo::PreserveMode::yes});
  luo::RegistryTarget target(owners);
  luo::HeldFds held;
  const auto restored = luo::restore(dev.value(), target, held);
  if (restored.state != luo::HandoffState::finished) {
    std::printf("error restore: %s\n", restored.failure.c_str());
    return 1;
  }
  for (const auto& [owner, store] : owners.owners()) {
    for (const auto& e : store.entries())
      std::printf("restored %s %s %s\n", owner.c_str(), e.name.c_str(),
                  contents(e.fd.get()).c_str());
  }
  return 0;
}
