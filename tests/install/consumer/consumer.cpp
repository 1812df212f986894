// An embedder's C++ program against an installed luo-lifecycle: preserve a memfd, kexec the
// simulator, retrieve it, and hand an fd store through Stage A/B and restore with the handoff
// manager, as an embedder does (which also needs the nlohmann_json dependency the package
// finds). Prints "consumer (C++): ok".
#include <cstdio>
#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
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
  luo::HandoffManager mgr(lu, port);
  const luo::FdStoreConfig config{.max = 4, .preserve = luo::PreserveMode::yes};
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
    if (auto r = mgr.load_owner("db.service", config); !r)
      return fail(r.error().message());
    auto state = luo::memfd::create("state");
    if (!state.ok() || !luo::memfd::write_at(state.value().get(), 0, "db state").ok())
      return fail("fd store");
    if (auto r = mgr.store("db.service", std::move(state).value(), "state"); !r)
      return fail(r.error().message());
    if (auto r = mgr.stage_a(); !r)
      return fail(r.error().message());
    auto preserved = mgr.stage_b(dev.value());
    if (!preserved)
      return fail(preserved.error().message());
    if (preserved.value()->state != luo::HandoffState::preserved)
      return fail("stage B: " + preserved.value()->failure);
    if (auto r = mgr.kexec(); !r)
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

  // The entry is held until its owner is loaded in this boot, then given to it.
  auto restored = mgr.restore(dev.value());
  if (!restored)
    return fail(restored.error().message());
  if (restored.value()->error != 0)
    return fail("restore: " + restored.value()->failure);
  if (auto r = mgr.load_owner("db.service", config); !r)
    return fail(r.error().message());
  auto fds = mgr.hand_back("db.service");
  if (!fds || fds.value().size() != 1 ||
      luo::memfd::read_all(fds.value()[0].get()).value() != "db state")
    return fail("the fd store did not come back");
  std::puts("consumer (C++): ok");
  return 0;
}
