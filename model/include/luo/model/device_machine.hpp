// luo/model/device_machine.hpp: /dev/liveupdate, once per boot (spec kernel-luo.md §1.2).
//
// Lifecycle: the device starts `never_opened` in every boot. The first successful open
// deserializes the incoming sessions; if that fails, every open of this boot returns EIO
// (`deserialization_failed` is sticky, recovery is another reboot). Open is exclusive: a second
// open while the first open file description lives gives EBUSY, even from the same process.
// Release (last reference dropped) makes it `closed`; closing the device does not touch
// sessions, whose lifetime follows their own fds.
#pragma once

#include <array>
#include <string_view>

#include "luo/model/table_builder.hpp"

namespace luo {

enum class DeviceState : std::uint8_t { never_opened, open, closed, deserialization_failed };
enum class DeviceEvent : std::uint8_t { open, create_session, retrieve_session, release };

constexpr std::string_view state_name(DeviceState s) {
  switch (s) {
    case DeviceState::never_opened:
      return "never_opened";
    case DeviceState::open:
      return "open";
    case DeviceState::closed:
      return "closed";
    case DeviceState::deserialization_failed:
      return "deserialization_failed";
  }
  return "?";
}
constexpr std::string_view event_name(DeviceEvent e) {
  switch (e) {
    case DeviceEvent::open:
      return "open";
    case DeviceEvent::create_session:
      return "CREATE_SESSION";
    case DeviceEvent::retrieve_session:
      return "RETRIEVE_SESSION";
    case DeviceEvent::release:
      return "release";
  }
  return "?";
}

namespace detail {
// clang-format off: one table row per line reads as the table it is.
using DS = DeviceState;
using DE = DeviceEvent;
using DRow = Row<DS, DE>;
using table::kAll;
using table::with;
inline constexpr std::array<DS, 4> kDeviceStates = {DS::never_opened, DS::open, DS::closed,
                                                    DS::deserialization_failed};
inline constexpr std::array<DE, 4> kDeviceEvents = {DE::open, DE::create_session,
                                                    DE::retrieve_session, DE::release};
inline constexpr std::array<DRow, 26> kDeviceRows = {{
    // open(2) allocates the fd before the driver's open runs.
    {DS::never_opened, DE::open, Guard::no_free_fd, kAll, DS::never_opened,
     Outcome::fail(Errno::emfile), "§1.3"},
    // Without LUO the node does not exist; open(2) reserves the fd before the path lookup.
    {DS::never_opened, DE::open, Guard::luo_unavailable, kAll, DS::never_opened,
     Outcome::fail(Errno::enoent), "§1.1"},
    // The machine is this opener's view: another opener's hold shows only as EBUSY.
    {DS::never_opened, DE::open, Guard::held_elsewhere, kAll, DS::never_opened,
     Outcome::fail(Errno::ebusy), "§1.2"},
    {DS::never_opened, DE::open, Guard::deserialization_fails, kAll, DS::deserialization_failed,
     Outcome::fail(Errno::eio), "§1.2"},
    {DS::never_opened, DE::open, Guard::always, kAll, DS::open, Outcome::success(), "§1.2"},
    {DS::closed, DE::open, Guard::no_free_fd, kAll, DS::closed, Outcome::fail(Errno::emfile),
     "§1.3"},
    {DS::closed, DE::open, Guard::held_elsewhere, kAll, DS::closed, Outcome::fail(Errno::ebusy),
     "§1.2"},
    {DS::closed, DE::open, Guard::always, kAll, DS::open, Outcome::success(), "§1.2"},
    {DS::open, DE::open, Guard::no_free_fd, kAll, DS::open, Outcome::fail(Errno::emfile), "§1.3"},
    {DS::open, DE::open, Guard::always, kAll, DS::open, Outcome::fail(Errno::ebusy), "§1.2"},
    {DS::deserialization_failed, DE::open, Guard::no_free_fd, kAll, DS::deserialization_failed,
     Outcome::fail(Errno::emfile), "§1.3"},
    {DS::deserialization_failed, DE::open, Guard::always, kAll, DS::deserialization_failed,
     Outcome::fail(Errno::eio), "§1.2"},
    {DS::open, DE::release, Guard::always, kAll, DS::closed, Outcome::success(), "§1.2"},
    // CREATE_SESSION: the birth of an outgoing session; on success it starts `created`.
    {DS::open, DE::create_session, Guard::no_free_fd, kAll, DS::open, Outcome::fail(Errno::emfile),
     "§8"},
    {DS::open, DE::create_session, Guard::name_invalid, with(Feature::session_name_validation),
     DS::open, Outcome::fail(Errno::einval), "§2.2"},
    // Before 7.2 the session-count check ran before the duplicate-name scan (luo_session_insert).
    {DS::open, DE::create_session, Guard::session_limit_reached, with(Feature::legacy_limits),
     DS::open, Outcome::fail(Errno::enomem), "§2.6"},
    {DS::open, DE::create_session, Guard::name_in_use, kAll, DS::open, Outcome::fail(Errno::eexist),
     "§2.1"},
    {DS::open, DE::create_session, Guard::out_of_memory, kAll, DS::open,
     Outcome::fail(Errno::enomem), "§1.4"},
    // The session is torn down again when the result cannot be copied back.
    {DS::open, DE::create_session, Guard::copy_back_fault, kAll, DS::open,
     Outcome::fail(Errno::efault), "§1.4"},
    {DS::open, DE::create_session, Guard::always, kAll, DS::open, Outcome::success(), "§2.3"},
    // RETRIEVE_SESSION: the incoming session's own machine decides what follows a match.
    {DS::open, DE::retrieve_session, Guard::no_free_fd, kAll, DS::open,
     Outcome::fail(Errno::emfile), "§8"},
    {DS::open, DE::retrieve_session, Guard::name_unknown, kAll, DS::open,
     Outcome::fail(Errno::enoent), "§1.4"},
    {DS::open, DE::retrieve_session, Guard::always, kAll, DS::open, Outcome::success(), "§2.4"},
    // Releasing a device nobody holds: there is no fd to close.
    {DS::never_opened, DE::release, Guard::always, kAll, DS::never_opened,
     Outcome::fail(Errno::ebadf), "§1.2"},
    {DS::closed, DE::release, Guard::always, kAll, DS::closed, Outcome::fail(Errno::ebadf), "§1.2"},
    {DS::deserialization_failed, DE::release, Guard::always, kAll, DS::deserialization_failed,
     Outcome::fail(Errno::ebadf), "§1.2"},
}};
// Without an open device fd there is nothing to issue a device ioctl on.
inline constexpr auto kDeviceNoFdRows = table::for_each_state<DS, DE, 3, 2>(
    {DS::never_opened, DS::closed, DS::deserialization_failed},
    std::array<table::RowTemplate<DS, DE>, 2>{{
        {DE::create_session, Guard::always, kAll, {}, Outcome::fail(Errno::ebadf), "§1.4"},
        {DE::retrieve_session, Guard::always, kAll, {}, Outcome::fail(Errno::ebadf), "§1.4"},
    }});
inline constexpr auto kAllDeviceRows = table::concat(kDeviceRows, kDeviceNoFdRows);
inline constexpr auto kDeviceIndex =
    build_index<DS, DE, kDeviceStates.size(), kDeviceEvents.size()>(kAllDeviceRows);
// clang-format on
}  // namespace detail

inline constexpr Machine<DeviceState, DeviceEvent> kDeviceMachine{"device",
                                                                  DeviceState::never_opened,
                                                                  detail::kDeviceStates,
                                                                  detail::kDeviceEvents,
                                                                  detail::kAllDeviceRows,
                                                                  {},
                                                                  detail::kDeviceIndex.cells,
                                                                  detail::kDeviceIndex.order,
                                                                  detail::kDeviceIndex.order_bits};
static_assert(kDeviceMachine.enums_are_dense());
static_assert(kDeviceMachine.is_complete());
static_assert(kDeviceMachine.rows_are_live());

}  // namespace luo
