// luo/model/incoming_session_machine.hpp: a session handed over by the previous kernel (spec
// kernel-luo.md §2.4, §2.5, §2.7, §3.2, §3.3, §8).
//
// Lifecycle: the first open of /dev/liveupdate `deserialized` it (no fd yet).
// RETRIEVE_SESSION gives the one fd: `retrieved` (a second RETRIEVE_SESSION is EINVAL while
// the session exists). RETRIEVE_FD any number of times; FINISH (can_finish FIFO, then finish
// LIFO, unretrieved files discarded) makes it `finished`, idempotently. Closing the fd
// finishes implicitly and the session is `gone` (RETRIEVE_SESSION then gives ENOENT); if a
// handler vetoes that implicit finish the session is `leaked` until the next live update. Any
// incoming session still present at the next reboot is `dropped`: only outgoing sessions are
// serialized.
#pragma once

#include <array>
#include <string_view>

#include "luo/model/table_builder.hpp"

namespace luo {

enum class IncomingSessionState : std::uint8_t {
  deserialized,
  retrieved,
  finished,
  leaked,
  gone,
  dropped,
};
enum class IncomingSessionEvent : std::uint8_t {
  retrieve_session,
  preserve_fd,
  retrieve_fd,
  finish,
  get_name,
  release,
  reboot,
};

constexpr std::string_view state_name(IncomingSessionState s) {
  switch (s) {
    case IncomingSessionState::deserialized:
      return "deserialized";
    case IncomingSessionState::retrieved:
      return "retrieved";
    case IncomingSessionState::finished:
      return "finished";
    case IncomingSessionState::leaked:
      return "leaked";
    case IncomingSessionState::gone:
      return "gone";
    case IncomingSessionState::dropped:
      return "dropped";
  }
  return "?";
}
constexpr std::string_view event_name(IncomingSessionEvent e) {
  switch (e) {
    case IncomingSessionEvent::retrieve_session:
      return "RETRIEVE_SESSION";
    case IncomingSessionEvent::preserve_fd:
      return "PRESERVE_FD";
    case IncomingSessionEvent::retrieve_fd:
      return "RETRIEVE_FD";
    case IncomingSessionEvent::finish:
      return "FINISH";
    case IncomingSessionEvent::get_name:
      return "GET_NAME";
    case IncomingSessionEvent::release:
      return "release";
    case IncomingSessionEvent::reboot:
      return "reboot";
  }
  return "?";
}

namespace detail {
// clang-format off: one table row per line reads as the table it is.
using IS = IncomingSessionState;
using IE = IncomingSessionEvent;
using IRow = Row<IS, IE>;
using IT = table::RowTemplate<IS, IE>;
using table::kAll;
using table::with;
using table::without;

inline constexpr std::array<IS, 6> kIncomingStates = {IS::deserialized, IS::retrieved, IS::finished,
                                                      IS::leaked,       IS::gone,      IS::dropped};
inline constexpr std::array<IE, 7> kIncomingEvents = {
    IE::retrieve_session, IE::preserve_fd, IE::retrieve_fd, IE::finish,
    IE::get_name,         IE::release,     IE::reboot};
inline constexpr std::array<IS, 2> kIncomingTerminals = {IS::gone, IS::dropped};

// A session without an fd (never retrieved, or leaked) cannot be the target of a session ioctl
// or a close: the caller has no fd for it.
inline constexpr std::array<IT, 6> kNoFdRows = {{
    {IE::preserve_fd, Guard::always, kAll, {}, Outcome::fail(Errno::ebadf), "§2.4"},
    {IE::retrieve_fd, Guard::always, kAll, {}, Outcome::fail(Errno::ebadf), "§2.4"},
    {IE::finish, Guard::always, kAll, {}, Outcome::fail(Errno::ebadf), "§2.4"},
    {IE::get_name, Guard::always, kAll, {}, Outcome::fail(Errno::ebadf), "§2.4"},
    {IE::release, Guard::always, kAll, {}, Outcome::fail(Errno::ebadf), "§2.4"},
    {IE::reboot, Guard::always, kAll, IS::dropped, Outcome::success(), "§2.7"},
}};
// Once retrieved, RETRIEVE_SESSION is EINVAL until the session is gone; the fd is reserved
// before any check, so EMFILE wins (§8).
inline constexpr std::array<IT, 2> kAlreadyRetrievedRows = {{
    {IE::retrieve_session, Guard::no_free_fd, kAll, {}, Outcome::fail(Errno::emfile), "§8"},
    {IE::retrieve_session, Guard::always, kAll, {}, Outcome::fail(Errno::einval), "§2.4"},
}};
// Session ioctls that behave the same in `retrieved` and `finished`.
inline constexpr std::array<IT, 6> kHeldRows = {{
    {IE::preserve_fd,
     Guard::always,
     with(Feature::session_type_check),
     {},
     Outcome::fail(Errno::einval),
     "§2.5"},
    // Before 7.2 the file joined a session that is never serialized again: undefined.
    {IE::preserve_fd,
     Guard::always,
     without(Feature::session_type_check),
     {},
     Outcome::undefined(),
     "§2.5"},
    {IE::get_name,
     Guard::reserved_nonzero,
     with(Feature::get_name),
     {},
     Outcome::fail(Errno::einval),
     "§1.4"},
    {IE::get_name, Guard::always, with(Feature::get_name), {}, Outcome::success(), "§1.4"},
    {IE::get_name,
     Guard::always,
     without(Feature::get_name),
     {},
     Outcome::fail(Errno::einval),
     "§1.3"},
    {IE::reboot, Guard::always, kAll, IS::dropped, Outcome::success(), "§8"},
}};
inline constexpr std::array<IRow, 17> kIncomingOwnRows = {{
    {IS::deserialized, IE::retrieve_session, Guard::no_free_fd, kAll, IS::deserialized,
     Outcome::fail(Errno::emfile), "§1.4"},
    // Observed on 7.2.13/7.3.4: the session is retrieved, then the new fd is released, which
    // runs the implicit FINISH of `release` below (so a veto leaks it).
    {IS::deserialized, IE::retrieve_session, Guard::copy_back_fault, kAll, IS::retrieved,
     Outcome::fail(Errno::efault), "§8"},
    {IS::deserialized, IE::retrieve_session, Guard::always, kAll, IS::retrieved, Outcome::success(),
     "§2.4"},
    {IS::retrieved, IE::retrieve_fd, Guard::no_free_fd, kAll, IS::retrieved,
     Outcome::fail(Errno::emfile), "§3.2"},
    {IS::retrieved, IE::retrieve_fd, Guard::token_unknown, kAll, IS::retrieved,
     Outcome::fail(Errno::enoent), "§3.2"},
    // The file's own machine decides success, idempotence and sticky failure.
    {IS::retrieved, IE::retrieve_fd, Guard::always, kAll, IS::retrieved, Outcome::success(),
     "§3.2"},
    {IS::retrieved, IE::finish, Guard::reserved_nonzero, with(Feature::finish_reserved_checked),
     IS::retrieved, Outcome::fail(Errno::einval), "§8"},
    {IS::retrieved, IE::finish, Guard::can_finish_vetoes, kAll, IS::retrieved,
     Outcome::fail(Errno::ebusy), "§3.3"},
    // The session is finished before the result is copied back: EFAULT, yet finished.
    {IS::retrieved, IE::finish, Guard::copy_back_fault, kAll, IS::finished,
     Outcome::fail(Errno::efault), "§1.3"},
    {IS::retrieved, IE::finish, Guard::always, kAll, IS::finished, Outcome::success(), "§3.3"},
    {IS::retrieved, IE::release, Guard::can_finish_vetoes, kAll, IS::leaked, Outcome::success(),
     "§2.4"},
    {IS::retrieved, IE::release, Guard::always, kAll, IS::gone, Outcome::success(), "§2.4"},
    {IS::finished, IE::retrieve_fd, Guard::no_free_fd, kAll, IS::finished,
     Outcome::fail(Errno::emfile), "§3.2"},
    {IS::finished, IE::retrieve_fd, Guard::always, kAll, IS::finished, Outcome::fail(Errno::enoent),
     "§3.2"},
    {IS::finished, IE::finish, Guard::reserved_nonzero, with(Feature::finish_reserved_checked),
     IS::finished, Outcome::fail(Errno::einval), "§8"},
    {IS::finished, IE::finish, Guard::always, kAll, IS::finished, Outcome::success(), "§3.3"},
    {IS::finished, IE::release, Guard::always, kAll, IS::gone, Outcome::success(), "§2.4"},
}};

inline constexpr auto kIncomingRows =
    table::concat(table::for_each_state<IS, IE, 2, 6>({IS::deserialized, IS::leaked}, kNoFdRows),
                  table::for_each_state<IS, IE, 3, 2>({IS::retrieved, IS::finished, IS::leaked},
                                                      kAlreadyRetrievedRows),
                  table::for_each_state<IS, IE, 2, 6>({IS::retrieved, IS::finished}, kHeldRows),
                  kIncomingOwnRows);
inline constexpr auto kIncomingIndex =
    build_index<IS, IE, kIncomingStates.size(), kIncomingEvents.size()>(kIncomingRows);
// clang-format on
}  // namespace detail

inline constexpr Machine<IncomingSessionState, IncomingSessionEvent> kIncomingSessionMachine{
    "incoming-session",
    IncomingSessionState::deserialized,
    detail::kIncomingStates,
    detail::kIncomingEvents,
    detail::kIncomingRows,
    detail::kIncomingTerminals,
    detail::kIncomingIndex.cells,
    detail::kIncomingIndex.order,
    detail::kIncomingIndex.order_bits};
static_assert(kIncomingSessionMachine.enums_are_dense());
static_assert(kIncomingSessionMachine.is_complete());
static_assert(kIncomingSessionMachine.rows_are_live());
static_assert(kIncomingSessionMachine.terminals_are_final());

}  // namespace luo
