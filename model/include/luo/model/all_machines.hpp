// luo/model/all_machines.hpp: every lifecycle machine by name, for tools that work on any of
// them (the table and diagram commands, the generated docs).
//
//   luo::visit_machine("outgoing-session", [](const auto& m) { print(m); });
#pragma once

#include <array>
#include <string_view>

#include "luo/model/device_machine.hpp"
#include "luo/model/fd_store_machine.hpp"
#include "luo/model/file_machine.hpp"
#include "luo/model/incoming_session_machine.hpp"
#include "luo/model/outgoing_session_machine.hpp"

namespace luo {

inline constexpr std::array<std::string_view, 6> kMachineNames = {
    kDeviceMachine.name, kOutgoingSessionMachine.name, kIncomingSessionMachine.name,
    kFileMachine.name,   kFdEntryMachine.name,         kHandoffMachine.name};

// Every decision fits a Decision's fixed capacity (Decision::add() aborts otherwise).
static_assert(kDeviceMachine.fits_decision() && kOutgoingSessionMachine.fits_decision() &&
              kIncomingSessionMachine.fits_decision() && kFileMachine.fits_decision() &&
              kFdEntryMachine.fits_decision() && kHandoffMachine.fits_decision());

// select()'s one-AND fast path turns every terminal state away (machine.hpp).
static_assert(kDeviceMachine.masks_keep_terminals_out() &&
              kOutgoingSessionMachine.masks_keep_terminals_out() &&
              kIncomingSessionMachine.masks_keep_terminals_out() &&
              kFileMachine.masks_keep_terminals_out() &&
              kFdEntryMachine.masks_keep_terminals_out() &&
              kHandoffMachine.masks_keep_terminals_out());

// Calls f(machine) for the machine of that name; false if there is none.
template <class F>
bool visit_machine(std::string_view name, F&& f) {
  if (name == kDeviceMachine.name)
    return f(kDeviceMachine), true;
  if (name == kOutgoingSessionMachine.name)
    return f(kOutgoingSessionMachine), true;
  if (name == kIncomingSessionMachine.name)
    return f(kIncomingSessionMachine), true;
  if (name == kFileMachine.name)
    return f(kFileMachine), true;
  if (name == kFdEntryMachine.name)
    return f(kFdEntryMachine), true;
  if (name == kHandoffMachine.name)
    return f(kHandoffMachine), true;
  return false;
}

}  // namespace luo
