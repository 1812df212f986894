// The environment's rules about entries (luo/proofs/world_environment.hpp).
#include "luo/proofs/world_environment.hpp"

namespace luo::proofs::environment {

void service_crashed(Entry& e, Reason& why) {
  if (e == Entry::unborn || (e == Entry::abandoned && why == Reason::none)) {
    e = Entry::abandoned;
    why = Reason::owner_crashed;
  }
}

bool manager_crashed(Entry& e, Reason& why, HandoffState out) {
  if (!lost_with_manager(e, out))
    return false;
  e = Entry::lost;
  why = Reason::agent_crashed;
  return true;
}

bool lost_in_fallback_reboot(Entry e) {
  return e == Entry::preserved || e == Entry::staged;
}

bool fallback_reboot(Entry& e, Reason& why, KernelProfile profile) {
  if (!lost_in_fallback_reboot(e))
    return false;
  e = from_machine(
      select(kFdEntryMachine, to_machine(e), FdEntryEvent::reboot_fails, profile, Facts{}).to);
  why = Reason::reboot_failed;
  return true;
}

}  // namespace luo::proofs::environment
