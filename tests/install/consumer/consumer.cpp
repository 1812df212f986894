// An embedder's C++ program against an installed luo-lifecycle: preserve a memfd, kexec the
// simulator, retrieve it, and hand an fd store through Stage A/B and restore (which also needs
// the nlohmann_json dependency the package finds). Prints "consumer (C++): ok".
#include <cstdio>
#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/live_update.hpp"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer (C++): %s\n", what.c_str());
  return 1;
}

}  // namespace

int main() {
  luo::SimulatedKernel kernel;
  luo::IoctlPort port(kernel);
  luo::LiveUpdate lu(port, luo::KernelProfile::v7_2);
  {
    auto dev = lu.open_device();
    if (!dev)
      return fail(dev.error().message());
    auto vm = dev.value().create_session("vm0");
    auto mem = luo::memfd::create("guest");
    if (!vm || !mem.ok() || !luo::memfd::write_at(mem.value().get(), 0, "guest memory").ok())
      return fail("set-up");
    if (auto r = vm.value().preserve(mem.value().get(), 1); !r)
      return fail(r.error().message());
    luo::FdStoreRegistry owners;
    auto& db = owners.load("db.service", {.max = 4, .preserve = luo::PreserveMode::yes});
    auto state = luo::memfd::create("state");
    if (!state.ok() || !luo::memfd::write_at(state.value().get(), 0, "db state").ok() ||
        !db.add(std::move(state).value(), "state").ok())
      return fail("fd store");
    auto staged = luo::stage_a(owners, nullptr, port, 0);
    auto preserved = luo::stage_b(dev.value(), staged);
    if (preserved.state != luo::HandoffState::preserved)
      return fail("stage B: " + preserved.failure);
    if (auto r = lu.kexec(); !r)
      return fail(r.error().message());
  }
  auto dev = lu.open_device();
  if (!dev)
    return fail(dev.error().message());
  auto in = dev.value().retrieve_session("vm0");
  if (!in)
    return fail(in.error().message());
  auto memory = in.value().retrieve(1);
  if (!memory || luo::memfd::read_all(memory.value().get()).value() != "guest memory")
    return fail("guest memory did not come back");
  if (auto r = in.value().finish(); !r)
    return fail(r.error().message());

  luo::FdStoreRegistry owners;
  auto& db = owners.load("db.service", {.max = 4, .preserve = luo::PreserveMode::yes});
  luo::RegistryTarget target(owners);
  luo::HeldFds held;
  const auto restored = luo::restore(dev.value(), target, held);
  if (restored.error != 0 || db.size() != 1 ||
      luo::memfd::read_all(db.entries()[0].fd.get()).value() != "db state")
    return fail("restore: " + restored.failure);
  std::puts("consumer (C++): ok");
  return 0;
}
