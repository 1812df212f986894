// examples/vmm_service.cpp: a VMM-like service that keeps its guest's memory across a kexec in
// its own LUO session, and keeps that session alive through its manager's fd store, over the
// kernel simulator. One process plays both sides, each with its own runtime over the one
// simulated kernel, talking the real sd_notify protocol over an abstract AF_UNIX socket.
//
//   boot 0  VMM      CREATE_SESSION "vmm-vm0", PRESERVE_FD(guest memory, token 1), then
//                    sd_notify FDSTORE=1 FDNAME=vm0-session with the session fd
//           manager  a luo::HandoffManager: receives it into vmm.service's fd store; at shutdown
//                    Stage A and Stage B carry the store ("vmm-vm0" is recorded by name), then
//                    reboot(KEXEC)
//   boot 1  manager  the same object, as the next boot's manager: restore: the session comes
//                    back into vmm.service's store, unfinished
//           VMM      gets its stored fds back (as LISTEN_FDS would hand them), RETRIEVE_FD(1)
//                    on the session, checks the guest memory and FINISHes the session
//
// Exits 0 and prints "vmm_service: PASS" when the guest memory came back byte for byte.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/sd_notify.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/live_update.hpp"

namespace {

constexpr char kGuestMemory[] = "guest memory of vm0: page tables, RAM, device state";
constexpr char kOwner[] = "vmm.service";
constexpr char kSessionName[] = "vmm-vm0";
constexpr luo::Token kGuestToken = 1;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "vmm_service: FAIL: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T take(luo::Result<T> r, const char* step) {
  if (!r)
    die(std::string(step) + ": " + r.error().message());
  return std::move(r).value();
}

// The manager's notify socket: receive one FDSTORE=1 message into the owner's store.
void manager_receive(luo::notify::Receiver& rx, luo::HandoffManager& manager) {
  auto ready = rx.wait(std::chrono::seconds(5));
  if (!ready.ok() || !ready.value())
    die("no notification arrived");
  auto delivery = rx.receive();
  if (!delivery.ok() || delivery.value().kind() != luo::notify::DeliveryKind::message)
    die("the notification was not a message");
  auto request = luo::notify::interpret_fd_store(std::move(delivery.value().message()));
  if (request.kind != luo::notify::FdStoreRequest::Kind::store)
    die("the notification was not FDSTORE=1");
  const std::size_t count = request.fds.size();
  for (auto& fd : request.fds)
    take(manager.store(kOwner, std::move(fd), request.name, request.poll), "fd store");
  std::printf("manager: stored %zu fd as '%s' for %s\n", count, request.name.c_str(), kOwner);
}

}  // namespace

int main() {
  luo::SimulatedKernel kernel;
  luo::IoctlPort port(kernel);
  const std::string socket_name = "@luo-example-vmm-" + std::to_string(::getpid());
  const auto address = luo::notify::Address::parse(socket_name);
  if (!address.ok())
    die("bad notify socket address");
  auto rx = luo::notify::Receiver::bind(address.value());
  if (!rx.ok())
    die("cannot bind the manager's notify socket");

  // The manager: one object for the whole handoff, across the kexec (it plays boot 1's
  // manager too). Its restore comes first: a cold boot, nothing to retrieve.
  const luo::FdStoreConfig config{.max = 8, .preserve = luo::PreserveMode::yes};
  luo::LiveUpdate manager_lu(port);
  luo::HandoffManager manager(manager_lu, port);
  take(manager.restore(), "manager: restore");
  take(manager.load_owner(kOwner, config), "manager: load vmm.service");

  // ---- boot 0: the VMM preserves its guest memory in its own session.
  luo::LiveUpdate vmm(port);
  auto vmm_device = take(vmm.open_device(), "VMM: open /dev/liveupdate");
  auto session = take(vmm_device.create_session(kSessionName), "VMM: CREATE_SESSION");
  auto guest = luo::memfd::create("guest-ram");
  if (!guest.ok() || !luo::memfd::write_at(guest.value().get(), 0, kGuestMemory).ok())
    die("VMM: guest memory");
  take(session.preserve(guest.value().get(), kGuestToken), "VMM: PRESERVE_FD");
  vmm_device.close();  // the manager needs the device for Stage B
  std::printf("vmm: preserved %zu bytes of guest memory in session '%s' at token %llu\n",
              sizeof kGuestMemory - 1, kSessionName, static_cast<unsigned long long>(kGuestToken));
  const int session_fd[] = {session.fd()};
  if (!luo::notify::store_fds(address.value(), session_fd, "vm0-session", luo::notify::Poll::off)
           .ok())
    die("VMM: sd_notify FDSTORE=1");
  std::printf("vmm: sent FDSTORE=1 FDNAME=vm0-session with the session fd\n");
  manager_receive(rx.value(), manager);

  // ---- boot 0: the manager shuts down for kexec. The VMM is still running until the reboot.
  // Stage A closes the stores: what it did not list goes with them.
  take(manager.stage_a(), "Stage A");
  const auto* preserved = take(manager.stage_b(), "Stage B");
  if (preserved->state != luo::HandoffState::preserved)
    die("Stage B: " + preserved->failure);
  std::printf("manager: Stage B mapping %s\n", luo::handoff::to_json(preserved->mapping).c_str());
  take(manager.kexec(), "reboot(KEXEC)");
  std::printf("-- kexec: boot %llu\n", static_cast<unsigned long long>(kernel.boot_number()));
  // Every process of boot 0 is gone, and the fds they held with them.
  guest.value().reset();

  // ---- boot 1: the manager restores the stores before it starts the services.
  take(manager.load_owner(kOwner, config), "manager: load vmm.service");
  const auto* r = take(manager.restore(), "manager: restore");
  if (r->error != 0)
    die("restore: " + r->failure);
  for (const auto& e : r->report) {
    std::printf("manager: restored %s/%s: %s\n", e.owner.c_str(), e.name.c_str(),
                std::string(luo::state_name(e.state)).c_str());
  }

  // The VMM starts with its stored fds, as LISTEN_FDS would pass them.
  auto fds = take(manager.hand_back(kOwner), "LISTEN_FDS");
  if (fds.size() != 1)
    die("the VMM's store did not come back with its session");
  const int vm_session = fds[0].get();
  auto name = port.get_session_name(vm_session);
  if (!name.ok() || name.value().stored() != kSessionName)
    die("the stored fd is not the session '" + std::string(kSessionName) + "'");
  auto memory = port.retrieve_fd(vm_session, kGuestToken);
  if (!memory.ok())
    die("VMM: RETRIEVE_FD failed with errno " + std::to_string(memory.raw_errno()));
  auto contents = luo::memfd::read_all(memory.value().get());
  const bool intact = contents.ok() && contents.value() == kGuestMemory;
  std::printf("vmm: RETRIEVE_FD token %llu from session '%s': %s\n",
              static_cast<unsigned long long>(kGuestToken), name.value().stored().c_str(),
              intact ? "guest memory intact" : "GUEST MEMORY DIFFERS");
  if (!port.finish_session(vm_session, 0).ok())
    die("VMM: FINISH");
  std::printf("vmm: FINISH: the session is done, the VM runs on\n");
  if (!intact)
    die("guest memory was lost");
  std::printf("vmm_service: PASS\n");
  return 0;
}
