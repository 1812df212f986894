// luo-lifecycle demo: a full simulated preserve -> kexec -> retrieve cycle, every transition
// printed. It is the main job of scripts/main.sh.
#include <iostream>
#include <string>
#include <tuple>

#include "command.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/live_update.hpp"
#include "trace.hpp"

namespace luo::cli {
namespace {

int run(const Args& args, Io& io) {
  const Command& self = demo_command();
  if (!args.positional.empty())
    return usage_error(self, io, "unexpected argument '" + args.positional[0] + "'");
  const auto profile = profile_option(self, args, io);
  if (!profile)
    return kExitUsage;
  // Prints the failure and returns false, so each demo step reads as one line.
  const auto check = [&](const auto& r) {
    if (!r)
      io.err << "demo: " << r.error().message() << "\n";
    return r.ok();
  };

  SimulatedKernel kernel(*profile);
  IoctlPort port(kernel);
  CallbackObserver observer([&](const TransitionRecord& r) { io.out << trace_line(r) << "\n"; });
  LiveUpdate lu(port, *profile, &observer);
  io.out << "luo-lifecycle demo: kernel profile " << profile_name(*profile)
         << ", simulated kernel\n\n";

  const std::string guest_memory = "guest memory of vm0";
  const std::string vmm_state = "vmm device state";
  {
    auto dev = lu.open_device();
    if (!check(dev))
      return kExitFailure;
    auto vm = dev.value().create_session("vm0");
    auto state = dev.value().create_session("vmm-state");
    if (!check(vm) || !check(state))
      return kExitFailure;
    auto mem = memfd::create("guest");
    auto st = memfd::create("state");
    if (!mem.ok() || !st.ok() || !memfd::write_at(mem.value().get(), 0, guest_memory).ok() ||
        !memfd::write_at(st.value().get(), 0, vmm_state).ok()) {
      io.err << "demo: memfd set-up failed\n";
      return kExitFailure;
    }
    if (!check(vm.value().preserve(mem.value().get(), 0x1)) ||
        !check(state.value().preserve(st.value().get(), 0x999))) {
      return kExitFailure;
    }
    // The model refuses this before any syscall: the token is already in the session.
    (void)vm.value().preserve(mem.value().get(), 0x1);
    dev.value().close();
    io.out << "\n-- reboot(KEXEC): the sessions' fds are still open, so they are handed over\n";
    if (!check(lu.kexec()))
      return kExitFailure;
    // The objects of boot 0 go out of scope here; they are stale and close nothing.
  }
  io.out << "\n-- boot " << lu.boot() << "\n";
  auto dev = lu.open_device();
  if (!check(dev))
    return kExitFailure;
  bool all_back = true;
  for (auto [name, token, expected] :
       {std::tuple{"vm0", 0x1ull, guest_memory}, std::tuple{"vmm-state", 0x999ull, vmm_state}}) {
    auto in = dev.value().retrieve_session(name);
    if (!check(in))
      return kExitFailure;
    auto fd = in.value().retrieve(token);
    if (!check(fd))
      return kExitFailure;
    auto contents = memfd::read_all(fd.value().get());
    const bool same = contents.ok() && contents.value() == expected;
    io.out << format("   %s token %#llx: %s\n", name, static_cast<unsigned long long>(token),
                     same ? "contents intact" : "CONTENTS DIFFER");
    all_back = all_back && same;
    if (!check(in.value().finish()))
      return kExitFailure;
  }
  dev.value().close();
  io.out << "\ndemo: "
         << (all_back ? "PASS: every preserved byte came back" : "FAIL: preserved data was lost")
         << "\n";
  return all_back ? kExitOk : kExitFailure;
}

}  // namespace

const Command& demo_command() {
  static const Command command{
      "demo",
      "[--profile P]",
      "run a full simulated preserve -> kexec -> retrieve cycle, every transition printed",
      "Boots a simulated LUO kernel, preserves two memfds in two sessions, kexecs, retrieves\n"
      "and verifies them in the next boot, and finishes the sessions. Prints each transition\n"
      "(checked against the model) and exits 0 only if every step succeeded and every byte\n"
      "came back.\n",
      {kProfileOption},
      run};
  return command;
}

}  // namespace luo::cli
