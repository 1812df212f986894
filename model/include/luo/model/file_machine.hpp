// luo/model/file_machine.hpp: one preserved file, across both kernels (spec kernel-luo.md §3).
//
// Lifecycle: PRESERVE_FD makes it `preserved` in an outgoing session (LUO holds a reference;
// the caller may close its fd). Closing the session before reboot `unpreserved` it. At reboot
// it is `frozen` (its final position recorded), back to `preserved` if the reboot rolls back,
// and after the jump `restorable` in the next kernel's incoming session. RETRIEVE_FD makes it
// `retrieved` (again and again: the same open file description each time); a failed retrieve
// is `retrieve_failed` for good from 7.0. FINISH turns retrieved files into `finished` and
// every other one into `discarded` (its data is freed). If its session is still incoming at
// the next reboot the file is `dropped`.
#pragma once

#include <array>
#include <string_view>

#include "luo/model/table_builder.hpp"

namespace luo {

enum class FileState : std::uint8_t {
  preserved,
  frozen,
  unpreserved,
  restorable,
  retrieved,
  retrieve_failed,
  finished,
  discarded,
  dropped,
};
enum class FileEvent : std::uint8_t { freeze, unfreeze, unpreserve, reboot, retrieve, finish };

constexpr std::string_view state_name(FileState s) {
  switch (s) {
    case FileState::preserved:
      return "preserved";
    case FileState::frozen:
      return "frozen";
    case FileState::unpreserved:
      return "unpreserved";
    case FileState::restorable:
      return "restorable";
    case FileState::retrieved:
      return "retrieved";
    case FileState::retrieve_failed:
      return "retrieve_failed";
    case FileState::finished:
      return "finished";
    case FileState::discarded:
      return "discarded";
    case FileState::dropped:
      return "dropped";
  }
  return "?";
}
constexpr std::string_view event_name(FileEvent e) {
  switch (e) {
    case FileEvent::freeze:
      return "freeze";
    case FileEvent::unfreeze:
      return "unfreeze";
    case FileEvent::unpreserve:
      return "unpreserve";
    case FileEvent::reboot:
      return "reboot";
    case FileEvent::retrieve:
      return "retrieve";
    case FileEvent::finish:
      return "finish";
  }
  return "?";
}

namespace detail {
// clang-format off: one table row per line reads as the table it is.
using FS = FileState;
using FE = FileEvent;
using FRow = Row<FS, FE>;
using table::kAll;
using table::with;
using table::without;

inline constexpr std::array<FS, 9> kFileStates = {
    FS::preserved,       FS::frozen,   FS::unpreserved, FS::restorable, FS::retrieved,
    FS::retrieve_failed, FS::finished, FS::discarded,   FS::dropped};
inline constexpr std::array<FE, 6> kFileEvents = {FE::freeze, FE::unfreeze, FE::unpreserve,
                                                  FE::reboot, FE::retrieve, FE::finish};
inline constexpr std::array<FS, 4> kFileTerminals = {FS::unpreserved, FS::finished, FS::discarded,
                                                     FS::dropped};

// Events that belong to the other kernel's half of the lifecycle cannot reach a file in this
// state; the rows say so explicitly instead of leaving the cell empty.
inline constexpr Outcome kNotInThisKernel = Outcome::undefined();

inline constexpr std::array<FRow, 27> kFileRows = {{
    {FS::preserved, FE::freeze, Guard::freeze_fails, kAll, FS::preserved, Outcome::handler(),
     "§5.2"},
    {FS::preserved, FE::freeze, Guard::always, kAll, FS::frozen, Outcome::success(), "§3.6"},
    {FS::preserved, FE::unfreeze, Guard::always, kAll, FS::preserved, Outcome::success(), "§3.6"},
    {FS::preserved, FE::unpreserve, Guard::always, kAll, FS::unpreserved, Outcome::success(),
     "§3.4"},
    {FS::preserved, FE::reboot, Guard::always, kAll, FS::preserved, kNotInThisKernel, "§5.2"},
    {FS::preserved, FE::retrieve, Guard::always, kAll, FS::preserved, kNotInThisKernel, "§2.5"},
    {FS::preserved, FE::finish, Guard::always, kAll, FS::preserved, kNotInThisKernel, "§2.5"},

    {FS::frozen, FE::freeze, Guard::always, kAll, FS::frozen, Outcome::undefined(), "§5.2"},
    {FS::frozen, FE::unfreeze, Guard::always, kAll, FS::preserved, Outcome::success(), "§3.6"},
    {FS::frozen, FE::unpreserve, Guard::always, with(Feature::serialize_lock), FS::frozen,
     Outcome::blocks(), "§2.3"},
    {FS::frozen, FE::unpreserve, Guard::always, without(Feature::serialize_lock), FS::frozen,
     Outcome::undefined(), "§2.3"},
    {FS::frozen, FE::reboot, Guard::always, kAll, FS::restorable, Outcome::success(), "§5.3"},
    {FS::frozen, FE::retrieve, Guard::always, kAll, FS::frozen, kNotInThisKernel, "§2.5"},
    {FS::frozen, FE::finish, Guard::always, kAll, FS::frozen, kNotInThisKernel, "§2.5"},

    {FS::restorable, FE::retrieve, Guard::handler_fails, with(Feature::sticky_retrieve_failure),
     FS::retrieve_failed, Outcome::handler(), "§3.2"},
    {FS::restorable, FE::retrieve, Guard::handler_fails, without(Feature::sticky_retrieve_failure),
     FS::restorable, Outcome::handler(), "§3.2"},
    // The kernel retrieved the file before the copy-back failed; a retry returns it (§8).
    {FS::restorable, FE::retrieve, Guard::copy_back_fault, kAll, FS::retrieved,
     Outcome::fail(Errno::efault), "§8"},
    {FS::restorable, FE::retrieve, Guard::always, kAll, FS::retrieved, Outcome::success(), "§3.2"},
    {FS::restorable, FE::finish, Guard::always, kAll, FS::discarded, Outcome::success(), "§3.3"},
    {FS::restorable, FE::reboot, Guard::always, kAll, FS::dropped, Outcome::success(), "§2.7"},

    {FS::retrieved, FE::retrieve, Guard::copy_back_fault, kAll, FS::retrieved,
     Outcome::fail(Errno::efault), "§8"},
    {FS::retrieved, FE::retrieve, Guard::always, kAll, FS::retrieved, Outcome::success(), "§3.2"},
    {FS::retrieved, FE::finish, Guard::always, kAll, FS::finished, Outcome::success(), "§3.3"},
    {FS::retrieved, FE::reboot, Guard::always, kAll, FS::dropped, Outcome::success(), "§8"},

    {FS::retrieve_failed, FE::retrieve, Guard::always, kAll, FS::retrieve_failed,
     Outcome::handler(), "§3.2"},
    {FS::retrieve_failed, FE::finish, Guard::always, kAll, FS::discarded, Outcome::success(),
     "§3.3"},
    {FS::retrieve_failed, FE::reboot, Guard::always, kAll, FS::dropped, Outcome::success(), "§2.7"},
}};
// The outgoing-side events cannot reach a file in the incoming kernel.
inline constexpr auto kFileIncomingOutgoingEventRows = table::for_each_state<FS, FE, 3, 3>(
    {FS::restorable, FS::retrieved, FS::retrieve_failed},
    std::array<table::RowTemplate<FS, FE>, 3>{{
        {FE::freeze, Guard::always, kAll, {}, kNotInThisKernel, "§5.3"},
        {FE::unfreeze, Guard::always, kAll, {}, kNotInThisKernel, "§5.3"},
        {FE::unpreserve, Guard::always, kAll, {}, kNotInThisKernel, "§5.3"},
    }});
inline constexpr auto kAllFileRows = table::concat(kFileRows, kFileIncomingOutgoingEventRows);
inline constexpr auto kFileIndex =
    build_index<FS, FE, kFileStates.size(), kFileEvents.size()>(kAllFileRows);
// clang-format on
}  // namespace detail

inline constexpr Machine<FileState, FileEvent> kFileMachine{"file",
                                                            FileState::preserved,
                                                            detail::kFileStates,
                                                            detail::kFileEvents,
                                                            detail::kAllFileRows,
                                                            detail::kFileTerminals,
                                                            detail::kFileIndex.cells,
                                                            detail::kFileIndex.order,
                                                            detail::kFileIndex.order_bits};
static_assert(kFileMachine.enums_are_dense());
static_assert(kFileMachine.is_complete());
static_assert(kFileMachine.rows_are_live());
static_assert(kFileMachine.terminals_are_final());

}  // namespace luo
