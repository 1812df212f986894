// luo/proofs/world_environment.hpp: what the environment does to an entry's account (its state
// and reason) when a service crashes, when the manager crashes and when a failed kexec falls
// back to an ordinary reboot.
// Neither is a step of the manager: the world (world.cpp) applies these rules to its state, and
// the replay (proofs/replay) to its ledger of the implementation's entries, so one rule change is
// one edit here.
#pragma once

#include "luo/model/systemd_profile.hpp"
#include "luo/proofs/world.hpp"

namespace luo::proofs::environment {

// A service crashed and is restarted at once. Each fd of its owner that it had not stored yet
// (unborn), or that was abandoned earlier without a reason (its service stopped at Stage A), is
// abandoned for this crash.
void service_crashed(Entry& e, Reason& why);

// The manager crashed in shutdown state `out`: what it held then (manager_holds_in(), world.hpp)
// is lost with it. Running, that is its stores and its held list; after Stage A, the fds it
// staged; after Stage B, what it preserved into "systemd" (which closes with it). The
// restore's own entries are the world's (world_shutdown.cpp).
inline bool lost_with_manager(Entry e, HandoffState out) {
  return manager_holds_in(e) == out;
}
// The same for an entry's account: lost, the crash its reason. Returns whether it was held.
bool manager_crashed(Entry& e, Reason& why, HandoffState out);

// The kexec failed: reboot(KEXEC) returned and the fallback reboot keeps nothing (§3.2 phase 7).
// An entry on its way to the next boot (staged or preserved) is lost with it.
bool lost_in_fallback_reboot(Entry e);
// The same for an fd entry's account: its state moves along the entry machine (reboot_fails) and
// the reboot is its reason. Returns whether the entry was on its way.
bool fallback_reboot(Entry& e, Reason& why, KernelProfile profile);

}  // namespace luo::proofs::environment
