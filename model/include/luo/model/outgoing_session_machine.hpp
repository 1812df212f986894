// luo/model/outgoing_session_machine.hpp: a session created in this kernel, to be handed to
// the next one (spec kernel-luo.md §2.3, §2.5, §3.1, §5.2).
//
// Lifecycle: CREATE_SESSION gives `created` (empty). The first successful PRESERVE_FD makes it
// `preserving`; files are appended FIFO. reboot(KEXEC) freezes every session whose fd is open
// (`frozen`); if any file fails to freeze, all sessions roll back to where they were and the
// reboot fails. After a successful freeze the machine jumps: `handed_over`, and the session
// reappears as an incoming session in the next kernel. Closing the last fd before reboot
// unpreserves every file LIFO and the session is `closed`: the only unpreserve there is.
#pragma once

#include <array>
#include <string_view>

#include "luo/model/table_builder.hpp"

namespace luo {

enum class OutgoingSessionState : std::uint8_t { created, preserving, frozen, handed_over, closed };
enum class OutgoingSessionEvent : std::uint8_t {
  preserve_fd,
  retrieve_fd,
  finish,
  get_name,
  freeze,    // reboot serializes this session; all its files froze (or one failed)
  rollback,  // another file failed to freeze: undo
  reboot,    // the jump into the next kernel
  release,   // last reference to the session fd dropped
};

constexpr std::string_view state_name(OutgoingSessionState s) {
  switch (s) {
    case OutgoingSessionState::created:
      return "created";
    case OutgoingSessionState::preserving:
      return "preserving";
    case OutgoingSessionState::frozen:
      return "frozen";
    case OutgoingSessionState::handed_over:
      return "handed_over";
    case OutgoingSessionState::closed:
      return "closed";
  }
  return "?";
}
constexpr std::string_view event_name(OutgoingSessionEvent e) {
  switch (e) {
    case OutgoingSessionEvent::preserve_fd:
      return "PRESERVE_FD";
    case OutgoingSessionEvent::retrieve_fd:
      return "RETRIEVE_FD";
    case OutgoingSessionEvent::finish:
      return "FINISH";
    case OutgoingSessionEvent::get_name:
      return "GET_NAME";
    case OutgoingSessionEvent::freeze:
      return "freeze";
    case OutgoingSessionEvent::rollback:
      return "rollback";
    case OutgoingSessionEvent::reboot:
      return "reboot";
    case OutgoingSessionEvent::release:
      return "release";
  }
  return "?";
}

namespace detail {
// clang-format off: one table row per line reads as the table it is.
using OS = OutgoingSessionState;
using OE = OutgoingSessionEvent;
using ORow = Row<OS, OE>;
using OT = table::RowTemplate<OS, OE>;
using table::kAll;
using table::with;
using table::without;

inline constexpr std::array<OS, 5> kOutgoingStates = {OS::created, OS::preserving, OS::frozen,
                                                      OS::handed_over, OS::closed};
inline constexpr std::array<OE, 8> kOutgoingEvents = {
    OE::preserve_fd, OE::retrieve_fd, OE::finish, OE::get_name,
    OE::freeze,      OE::rollback,    OE::reboot, OE::release};
inline constexpr std::array<OS, 2> kOutgoingTerminals = {OS::handed_over, OS::closed};

// Behaviour shared by `created` and `preserving`, in the kernel's check order.
inline constexpr std::array<OT, 21> kOpenSessionRows = {{
    {OE::preserve_fd, Guard::token_in_use, kAll, {}, Outcome::fail(Errno::eexist), "§3.1.1"},
    {OE::preserve_fd,
     Guard::file_limit_reached,
     with(Feature::legacy_limits),
     {},
     Outcome::fail(Errno::enospc),
     "§3.1.2"},
    // 7.2 reserves serialization space here; before 7.2 memory fails only later (FLB, handler).
    {OE::preserve_fd,
     Guard::out_of_memory,
     without(Feature::legacy_limits),
     {},
     Outcome::fail(Errno::enomem),
     "§3.1.2"},
    {OE::preserve_fd, Guard::fd_invalid, kAll, {}, Outcome::fail(Errno::ebadf), "§3.1.3"},
    {OE::preserve_fd, Guard::fd_unsupported, kAll, {}, Outcome::fail(Errno::enoent), "§3.1.4"},
    {OE::preserve_fd,
     Guard::file_already_preserved,
     with(Feature::double_preservation_check),
     {},
     Outcome::fail(Errno::ebusy),
     "§3.1.5"},
    {OE::preserve_fd,
     Guard::out_of_memory,
     with(Feature::legacy_limits),
     {},
     Outcome::fail(Errno::enomem),
     "§3.1.6"},
    {OE::preserve_fd, Guard::handler_fails, kAll, {}, Outcome::handler(), "§3.1.7"},
    // The file stays preserved although the caller sees EFAULT.
    {OE::preserve_fd, Guard::copy_back_fault, kAll, OS::preserving, Outcome::fail(Errno::efault),
     "§3.1.8"},
    {OE::preserve_fd, Guard::always, kAll, OS::preserving, Outcome::success(), "§3.1"},
    {OE::retrieve_fd,
     Guard::always,
     with(Feature::session_type_check),
     {},
     Outcome::fail(Errno::einval),
     "§2.5"},
    // Before 7.2 the handler's post-kexec retrieve ran on live data: undefined (§2.5).
    {OE::retrieve_fd,
     Guard::no_free_fd,
     without(Feature::session_type_check),
     {},
     Outcome::fail(Errno::emfile),
     "§3.2"},
    {OE::retrieve_fd,
     Guard::token_unknown,
     without(Feature::session_type_check),
     {},
     Outcome::fail(Errno::enoent),
     "§3.2"},
    {OE::retrieve_fd,
     Guard::always,
     without(Feature::session_type_check),
     {},
     Outcome::undefined(),
     "§2.5"},
    {OE::finish,
     Guard::always,
     with(Feature::session_type_check),
     {},
     Outcome::fail(Errno::einval),
     "§2.5"},
    {OE::finish,
     Guard::always,
     without(Feature::session_type_check),
     {},
     Outcome::undefined(),
     "§2.5"},
    {OE::get_name,
     Guard::reserved_nonzero,
     with(Feature::get_name),
     {},
     Outcome::fail(Errno::einval),
     "§1.4"},
    {OE::get_name, Guard::always, with(Feature::get_name), {}, Outcome::success(), "§1.4"},
    // No GET_NAME before 7.2: its nr is past the session op table, which is EINVAL (§1.3).
    {OE::get_name,
     Guard::always,
     without(Feature::get_name),
     {},
     Outcome::fail(Errno::einval),
     "§1.3"},
    {OE::freeze, Guard::freeze_fails, kAll, {}, Outcome::handler(), "§5.2"},
    {OE::freeze, Guard::always, kAll, OS::frozen, Outcome::success(), "§5.2"},
}};
inline constexpr std::array<OT, 3> kOpenSessionTailRows = {{
    // Nothing was frozen in this session, so there is nothing to undo.
    {OE::rollback, Guard::always, kAll, {}, Outcome::success(), "§2.3"},
    // Every session is frozen before the jump; an unfrozen one cannot be handed over.
    {OE::reboot, Guard::always, kAll, {}, Outcome::undefined(), "§5.2"},
    {OE::release, Guard::always, kAll, OS::closed, Outcome::success(), "§2.3"},
}};

// After a successful freeze, 7.2 holds the serialize lock for good: every session call that
// gets past the type check, and close, blocks. Before 7.2 nothing stopped a racing call: undefined.
inline constexpr std::array<OT, 12> kFrozenRows = {{
    {OE::preserve_fd, Guard::always, with(Feature::serialize_lock), {}, Outcome::blocks(), "§2.3"},
    {OE::preserve_fd,
     Guard::always,
     without(Feature::serialize_lock),
     {},
     Outcome::undefined(),
     "§2.3"},
    // The session-type check (dispatch step 4) runs before the lock is taken (step 7).
    {OE::retrieve_fd,
     Guard::always,
     with(Feature::session_type_check),
     {},
     Outcome::fail(Errno::einval),
     "§1.3"},
    {OE::retrieve_fd,
     Guard::always,
     without(Feature::session_type_check),
     {},
     Outcome::undefined(),
     "§2.3"},
    {OE::finish,
     Guard::always,
     with(Feature::session_type_check),
     {},
     Outcome::fail(Errno::einval),
     "§1.3"},
    {OE::finish,
     Guard::always,
     without(Feature::session_type_check),
     {},
     Outcome::undefined(),
     "§2.3"},
    {OE::get_name, Guard::always, with(Feature::serialize_lock), {}, Outcome::blocks(), "§2.3"},
    {OE::get_name,
     Guard::always,
     without(Feature::serialize_lock),
     {},
     Outcome::undefined(),
     "§2.3"},
    {OE::release, Guard::always, with(Feature::serialize_lock), {}, Outcome::blocks(), "§2.3"},
    {OE::release,
     Guard::always,
     without(Feature::serialize_lock),
     {},
     Outcome::undefined(),
     "§2.3"},
    {OE::freeze, Guard::always, kAll, {}, Outcome::undefined(), "§5.2"},
    {OE::reboot, Guard::always, kAll, OS::handed_over, Outcome::success(), "§5.2"},
}};
inline constexpr std::array<ORow, 2> kRollbackRows = {{
    {OS::frozen, OE::rollback, Guard::has_files, kAll, OS::preserving, Outcome::success(), "§2.3"},
    {OS::frozen, OE::rollback, Guard::always, kAll, OS::created, Outcome::success(), "§2.3"},
}};

inline constexpr auto kOutgoingRows = table::concat(
    table::for_each_state<OS, OE, 2, 21>({OS::created, OS::preserving}, kOpenSessionRows),
    table::for_each_state<OS, OE, 2, 3>({OS::created, OS::preserving}, kOpenSessionTailRows),
    table::for_each_state<OS, OE, 1, 12>({OS::frozen}, kFrozenRows), kRollbackRows);
inline constexpr auto kOutgoingIndex =
    build_index<OS, OE, kOutgoingStates.size(), kOutgoingEvents.size()>(kOutgoingRows);
// clang-format on
}  // namespace detail

inline constexpr Machine<OutgoingSessionState, OutgoingSessionEvent> kOutgoingSessionMachine{
    "outgoing-session",           OutgoingSessionState::created, detail::kOutgoingStates,
    detail::kOutgoingEvents,      detail::kOutgoingRows,         detail::kOutgoingTerminals,
    detail::kOutgoingIndex.cells, detail::kOutgoingIndex.order,  detail::kOutgoingIndex.order_bits};
static_assert(kOutgoingSessionMachine.enums_are_dense());
static_assert(kOutgoingSessionMachine.is_complete());
static_assert(kOutgoingSessionMachine.rows_are_live());
static_assert(kOutgoingSessionMachine.terminals_are_final());

}  // namespace luo
