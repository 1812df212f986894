// luo/model/fd_store_machine.hpp: a service manager's fd stores and their handoff across kexec
// (spec systemd-luo.md §1.4-§1.7, §3), as data.
//
// Three pieces:
//   - PreserveMode and the release decision table of §1.7: when a stopped owner's store closes.
//   - The fd-store entry machine: an fd from FDSTORE=1 is `stored`; at shutdown it is `staged`
//     into the Stage A list, then `preserved` in the "systemd" LUO session by Stage B, and
//     `handed_over` by the kexec. In the next boot it is `restorable` once retrieved, and
//     `stored` again when its owner takes it, or `held` until an owner of that id is loaded.
//     Every way out (removed, released, dropped, lost) is a terminal state with a reason.
//   - The handoff pipeline machine: the manager's side of the same journey, from `running`
//     through Stage A and Stage B to the kexec, and from the next boot's retrieve of the
//     "systemd" session to its FINISH, which happens on every path.
#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "luo/model/boolean.hpp"
#include "luo/model/table_builder.hpp"

namespace luo {

// FileDescriptorStorePreserve= (§1.1).
enum class PreserveMode : std::uint8_t { no, yes, restart, on_success };

inline constexpr PreserveMode kAllPreserveModes[] = {
    PreserveMode::no, PreserveMode::yes, PreserveMode::restart, PreserveMode::on_success};
inline constexpr PreserveMode kDefaultPreserveMode = PreserveMode::restart;

constexpr std::string_view preserve_mode_name(PreserveMode m) {
  switch (m) {
    case PreserveMode::no:
      return "no";
    case PreserveMode::yes:
      return "yes";
    case PreserveMode::restart:
      return "restart";
    case PreserveMode::on_success:
      return "on-success";
  }
  return "?";
}

// Accepts systemd's spellings: a boolean first (as systemd's string-table-with-boolean lookup
// does, so "Y" and "off" work), then the words, which are case-sensitive there too.
constexpr std::optional<PreserveMode> parse_preserve_mode(std::string_view s) {
  if (const auto b = parse_boolean(s))
    return *b ? PreserveMode::yes : PreserveMode::no;
  if (s == "restart")
    return PreserveMode::restart;
  if (s == "on-success" || s == "on_success")
    return PreserveMode::on_success;
  return std::nullopt;
}

// Only these modes keep a store through shutdown, so only they are handed over (§3.2).
constexpr bool preserved_across_kexec(PreserveMode m) {
  return m == PreserveMode::yes || m == PreserveMode::on_success;
}

// When a store is closed as a whole (§1.7). `dead`: the owner just left its last active state;
// `release`: the manager releases resources of an inactive owner.
enum class ReleaseTrigger : std::uint8_t { dead, release };

struct ReleaseRule {
  PreserveMode mode;
  ReleaseTrigger trigger;
  bool only_if_failed;  // the rule applies only when the owner's end state is "failed"
  bool releases;
};

// The decision table of §1.7, one row per (mode, trigger).
inline constexpr std::array<ReleaseRule, 8> kReleaseRules = {{
    {PreserveMode::no, ReleaseTrigger::dead, false, true},
    {PreserveMode::no, ReleaseTrigger::release, false, true},
    // A restart job keeps the store; a separate stop then start loses it.
    {PreserveMode::restart, ReleaseTrigger::dead, false, false},
    {PreserveMode::restart, ReleaseTrigger::release, false, true},
    {PreserveMode::yes, ReleaseTrigger::dead, false, false},
    {PreserveMode::yes, ReleaseTrigger::release, false, false},
    // Kept through the transient failures of restarts; closed once the failure is permanent.
    {PreserveMode::on_success, ReleaseTrigger::dead, true, true},
    {PreserveMode::on_success, ReleaseTrigger::release, true, true},
}};

constexpr bool store_released(PreserveMode mode, ReleaseTrigger trigger, bool failed) {
  for (const ReleaseRule& r : kReleaseRules) {
    if (r.mode == mode && r.trigger == trigger)
      return r.releases && (!r.only_if_failed || failed);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The fd-store entry.

enum class FdEntryState : std::uint8_t {
  stored,
  staged,
  preserved,
  handed_over,
  restorable,
  held,
  removed,
  released,
  dropped,
  lost,
};
enum class FdEntryEvent : std::uint8_t {
  remove,        // FDSTOREREMOVE=1 with its name, or POLLHUP/POLLERR on a polled entry
  release,       // the whole store closes: §1.7 release, clean, limit truncation, owner freed
  reload,        // daemon-reload / re-exec: serialized and deserialized into the owner
  stage,         // Stage A: the manager lists the entry for the shutdown side
  preserve,      // Stage B: PRESERVE_FD into "systemd", or hold a third-party session open
  reboot_fails,  // reboot(KEXEC) returned: the fallback reboot loses everything
  kexec,         // the jump into the next kernel
  restore,       // next boot: the mapping names the entry and it is retrieved
  dispatch,      // handed to the owner named in the mapping
  owner_loaded,  // an owner with the held entry's id appeared
};

constexpr std::string_view state_name(FdEntryState s) {
  switch (s) {
    case FdEntryState::stored:
      return "stored";
    case FdEntryState::staged:
      return "staged";
    case FdEntryState::preserved:
      return "preserved";
    case FdEntryState::handed_over:
      return "handed_over";
    case FdEntryState::restorable:
      return "restorable";
    case FdEntryState::held:
      return "held";
    case FdEntryState::removed:
      return "removed";
    case FdEntryState::released:
      return "released";
    case FdEntryState::dropped:
      return "dropped";
    case FdEntryState::lost:
      return "lost";
  }
  return "?";
}
constexpr std::string_view event_name(FdEntryEvent e) {
  switch (e) {
    case FdEntryEvent::remove:
      return "remove";
    case FdEntryEvent::release:
      return "release";
    case FdEntryEvent::reload:
      return "reload";
    case FdEntryEvent::stage:
      return "stage";
    case FdEntryEvent::preserve:
      return "preserve";
    case FdEntryEvent::reboot_fails:
      return "reboot_fails";
    case FdEntryEvent::kexec:
      return "kexec";
    case FdEntryEvent::restore:
      return "restore";
    case FdEntryEvent::dispatch:
      return "dispatch";
    case FdEntryEvent::owner_loaded:
      return "owner_loaded";
  }
  return "?";
}

namespace detail {
// clang-format off: one table row per line reads as the table it is.
using ES = FdEntryState;
using EE = FdEntryEvent;
using ERow = Row<ES, EE>;
using ET = table::RowTemplate<ES, EE>;
using table::kAll;

inline constexpr std::array<ES, 10> kEntryStates = {
    ES::stored, ES::staged,  ES::preserved, ES::handed_over, ES::restorable,
    ES::held,   ES::removed, ES::released,  ES::dropped,     ES::lost};
inline constexpr std::array<EE, 10> kEntryEvents = {
    EE::remove,       EE::release, EE::reload,  EE::stage,    EE::preserve,
    EE::reboot_fails, EE::kexec,   EE::restore, EE::dispatch, EE::owner_loaded};
inline constexpr std::array<ES, 4> kEntryTerminals = {ES::removed, ES::released, ES::dropped,
                                                      ES::lost};

// Events that belong to another phase cannot reach an entry in this state; said explicitly.
inline constexpr Outcome kOtherPhase = Outcome::undefined();

inline constexpr std::array<ERow, 32> kEntryOwnRows = {{
    {ES::stored, EE::remove, Guard::always, kAll, ES::removed, Outcome::success(), "§1.5"},
    {ES::stored, EE::release, Guard::always, kAll, ES::released, Outcome::success(), "§1.5"},
    // A smaller limit after a reload drops the excess (EXFULL at deserialization, §2.4).
    {ES::stored, EE::reload, Guard::store_full, kAll, ES::dropped, Outcome::fail(Errno::exfull),
     "§2.4"},
    {ES::stored, EE::reload, Guard::always, kAll, ES::stored, Outcome::success(), "§1.8"},
    // Stores of restart/no owners are closed when the owner stops for the kexec.
    {ES::stored, EE::stage, Guard::mode_not_preserved, kAll, ES::released, Outcome::success(),
     "§3.2"},
    {ES::stored, EE::stage, Guard::reserved_session_name, kAll, ES::dropped,
     Outcome::fail(Errno::eperm), "§3.5"},
    // Improvement over systemd (§5.6): said at Stage A instead of failing in the next boot.
    {ES::stored, EE::stage, Guard::incoming_session, kAll, ES::dropped,
     Outcome::fail(Errno::einval), "§5.6"},
    // The device fd in a store (docs/reliability.md F1): its staged duplicate would keep the
    // device busy through Stage B's own open. Dropped here, the device is free again once the
    // store closes with the manager.
    {ES::stored, EE::stage, Guard::luo_device, kAll, ES::dropped, Outcome::fail(Errno::ebusy),
     "§5.14"},
    // As 262.1's PID 1 (§9.6): an fd that cannot be told a session or not is skipped.
    {ES::stored, EE::stage, Guard::session_detection_fails, kAll, ES::dropped, Outcome::handler(),
     "§9.6"},
    {ES::stored, EE::stage, Guard::always, kAll, ES::staged, Outcome::success(), "§3.3"},
    // The kernel refused it (not a memfd, EBUSY, ENOSPC): "will be lost across kexec".
    {ES::staged, EE::preserve, Guard::preserve_fails, kAll, ES::lost, Outcome::handler(), "§3.4"},
    {ES::staged, EE::preserve, Guard::always, kAll, ES::preserved, Outcome::success(), "§3.4"},
    {ES::staged, EE::reboot_fails, Guard::always, kAll, ES::lost, Outcome::success(), "§3.2"},
    {ES::preserved, EE::reboot_fails, Guard::always, kAll, ES::lost, Outcome::success(), "§3.2"},
    {ES::preserved, EE::kexec, Guard::always, kAll, ES::handed_over, Outcome::success(), "§3.4"},
    {ES::handed_over, EE::restore, Guard::mapping_unusable, kAll, ES::lost,
     Outcome::fail(Errno::einval), "§3.6.2"},
    {ES::handed_over, EE::restore, Guard::retrieve_fails, kAll, ES::lost, Outcome::handler(),
     "§3.6.2"},
    {ES::handed_over, EE::restore, Guard::always, kAll, ES::restorable, Outcome::success(),
     "§3.6.2"},
    {ES::restorable, EE::dispatch, Guard::owner_unknown, kAll, ES::held, Outcome::success(),
     "§3.6.3"},
    {ES::restorable, EE::dispatch, Guard::store_full, kAll, ES::dropped,
     Outcome::fail(Errno::exfull), "§3.9"},
    // The same open file description already stored: closed, yet counted as restored.
    {ES::restorable, EE::dispatch, Guard::duplicate_fd, kAll, ES::stored, Outcome::success(),
     "§2.4"},
    {ES::restorable, EE::dispatch, Guard::always, kAll, ES::stored, Outcome::success(), "§2.4"},
    {ES::held, EE::owner_loaded, Guard::owner_unknown, kAll, ES::held, Outcome::success(),
     "§3.6.3"},
    {ES::held, EE::owner_loaded, Guard::store_full, kAll, ES::dropped, Outcome::fail(Errno::exfull),
     "§3.9"},
    {ES::held, EE::owner_loaded, Guard::always, kAll, ES::stored, Outcome::success(), "§3.6.3"},
    // A held entry is pinned like a not-found unit's store: preserve forced to yes (§2.4).
    {ES::held, EE::stage, Guard::incoming_session, kAll, ES::dropped, Outcome::fail(Errno::einval),
     "§5.6"},
    {ES::held, EE::stage, Guard::luo_device, kAll, ES::dropped, Outcome::fail(Errno::ebusy),
     "§5.14"},
    {ES::held, EE::stage, Guard::session_detection_fails, kAll, ES::dropped, Outcome::handler(),
     "§9.6"},
    {ES::held, EE::stage, Guard::always, kAll, ES::staged, Outcome::success(), "§2.4"},
    {ES::held, EE::release, Guard::always, kAll, ES::released, Outcome::success(), "§3.9"},
    {ES::held, EE::reload, Guard::always, kAll, ES::held, Outcome::success(), "§3.9"},
    {ES::held, EE::remove, Guard::always, kAll, ES::removed, Outcome::success(), "§3.9"},
}};
// Every other (state, event) cell of a live state: not reachable in that phase.
inline constexpr auto kEntryOtherPhaseRows = table::concat(
    table::for_each_state<ES, EE, 1, 6>(
        {ES::stored},
        std::array<ET, 6>{{{EE::preserve, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::reboot_fails, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::kexec, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::restore, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::dispatch, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::owner_loaded, Guard::always, kAll, {}, kOtherPhase, "§3"}}}),
    table::for_each_state<ES, EE, 2, 7>(
        {ES::staged, ES::preserved},
        std::array<ET, 7>{{{EE::remove, Guard::always, kAll, {}, kOtherPhase, "§3.2"},
                           {EE::release, Guard::always, kAll, {}, kOtherPhase, "§3.2"},
                           {EE::reload, Guard::always, kAll, {}, kOtherPhase, "§3.2"},
                           {EE::stage, Guard::always, kAll, {}, kOtherPhase, "§3.2"},
                           {EE::restore, Guard::always, kAll, {}, kOtherPhase, "§3.2"},
                           {EE::dispatch, Guard::always, kAll, {}, kOtherPhase, "§3.2"},
                           {EE::owner_loaded, Guard::always, kAll, {}, kOtherPhase, "§3.2"}}}),
    table::for_each_state<ES, EE, 1, 1>(
        {ES::staged},
        std::array<ET, 1>{{{EE::kexec, Guard::always, kAll, {}, kOtherPhase, "§3.4"}}}),
    table::for_each_state<ES, EE, 1, 1>(
        {ES::preserved},
        std::array<ET, 1>{{{EE::preserve, Guard::always, kAll, {}, kOtherPhase, "§3.4"}}}),
    table::for_each_state<ES, EE, 2, 9>(
        {ES::handed_over, ES::restorable},
        std::array<ET, 9>{{{EE::remove, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::release, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::reload, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::stage, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::preserve, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::reboot_fails, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::kexec, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::owner_loaded, Guard::always, kAll, {}, kOtherPhase, "§3.6"},
                           {EE::dispatch, Guard::always, kAll, {}, kOtherPhase, "§3.6"}}}),
    table::for_each_state<ES, EE, 1, 1>(
        {ES::restorable},
        std::array<ET, 1>{{{EE::restore, Guard::always, kAll, {}, kOtherPhase, "§3.6"}}}),
    table::for_each_state<ES, EE, 1, 5>(
        {ES::held},
        std::array<ET, 5>{{{EE::preserve, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::reboot_fails, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::kexec, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::restore, Guard::always, kAll, {}, kOtherPhase, "§3"},
                           {EE::dispatch, Guard::always, kAll, {}, kOtherPhase, "§3"}}}));
inline constexpr auto kEntryRows = table::concat(kEntryOwnRows, kEntryOtherPhaseRows);
inline constexpr auto kEntryIndex =
    build_index<ES, EE, kEntryStates.size(), kEntryEvents.size()>(kEntryRows);
// clang-format on
}  // namespace detail

inline constexpr Machine<FdEntryState, FdEntryEvent> kFdEntryMachine{
    "fd-store-entry",          FdEntryState::stored,      detail::kEntryStates,
    detail::kEntryEvents,      detail::kEntryRows,        detail::kEntryTerminals,
    detail::kEntryIndex.cells, detail::kEntryIndex.order, detail::kEntryIndex.order_bits};
static_assert(kFdEntryMachine.is_complete());
static_assert(kFdEntryMachine.rows_are_live());
static_assert(kFdEntryMachine.terminals_are_final());
static_assert(kFdEntryMachine.enums_are_dense());

// ---------------------------------------------------------------------------------------------
// The handoff pipeline, one per manager and kexec.

enum class HandoffState : std::uint8_t {
  running,      // stores fill and drain as services run
  serialized,   // Stage A: qualifying entries listed with their fds for the shutdown side
  preserved,    // Stage B: the "systemd" session holds the fds and the token-0 mapping
  handed_over,  // the kexec happened
  nothing,      // no LUO this time: nothing to hand over, no device, or an abort
  lost,         // reboot(KEXEC) returned: the fallback reboot drops every session
  restoring,    // next boot: "systemd" retrieved, entries being dispatched
  finished,     // "systemd" finished and closed; every entry accounted for
};
enum class HandoffEvent : std::uint8_t {
  stage_a,           // the manager leaves its main loop for kexec
  stage_b,           // the shutdown side creates and fills "systemd", as late as possible
  kexec,             // reboot(KEXEC) succeeded
  reboot_fails,      // reboot(KEXEC) returned
  retrieve_session,  // the next boot's manager retrieves "systemd"
  finish,            // FINISH and close of "systemd": on every path after the retrieve
};

constexpr std::string_view state_name(HandoffState s) {
  switch (s) {
    case HandoffState::running:
      return "running";
    case HandoffState::serialized:
      return "serialized";
    case HandoffState::preserved:
      return "preserved";
    case HandoffState::handed_over:
      return "handed_over";
    case HandoffState::nothing:
      return "nothing";
    case HandoffState::lost:
      return "lost";
    case HandoffState::restoring:
      return "restoring";
    case HandoffState::finished:
      return "finished";
  }
  return "?";
}
constexpr std::string_view event_name(HandoffEvent e) {
  switch (e) {
    case HandoffEvent::stage_a:
      return "stage_a";
    case HandoffEvent::stage_b:
      return "stage_b";
    case HandoffEvent::kexec:
      return "kexec";
    case HandoffEvent::reboot_fails:
      return "reboot_fails";
    case HandoffEvent::retrieve_session:
      return "retrieve_session";
    case HandoffEvent::finish:
      return "finish";
  }
  return "?";
}

namespace detail {
// clang-format off: one table row per line reads as the table it is.
using HS = HandoffState;
using HE = HandoffEvent;
using HRow = Row<HS, HE>;
using HT = table::RowTemplate<HS, HE>;

inline constexpr std::array<HS, 8> kHandoffStates = {HS::running,     HS::serialized, HS::preserved,
                                                     HS::handed_over, HS::nothing,    HS::lost,
                                                     HS::restoring,   HS::finished};
inline constexpr std::array<HE, 6> kHandoffEvents = {
    HE::stage_a, HE::stage_b, HE::kexec, HE::reboot_fails, HE::retrieve_session, HE::finish};
inline constexpr std::array<HS, 3> kHandoffTerminals = {HS::nothing, HS::lost, HS::finished};

inline constexpr std::array<HRow, 15> kHandoffOwnRows = {{
    {HS::running, HE::stage_a, Guard::nothing_to_hand_over, kAll, HS::nothing, Outcome::success(),
     "§3.2"},
    {HS::running, HE::stage_a, Guard::always, kAll, HS::serialized, Outcome::success(), "§3.3"},
    // The next boot of a kernel that got nothing: no "systemd" session to retrieve.
    {HS::running, HE::retrieve_session, Guard::luo_unavailable, kAll, HS::nothing,
     Outcome::fail(Errno::enoent), "§3.6.2"},
    {HS::running, HE::retrieve_session, Guard::name_unknown, kAll, HS::nothing,
     Outcome::fail(Errno::enoent), "§3.6.2"},
    // Any other failure (EMFILE, ENOMEM): a warning, nothing restored, every entry lost with it.
    {HS::running, HE::retrieve_session, Guard::retrieve_fails, kAll, HS::nothing,
     Outcome::handler(), "§3.6.2"},
    {HS::running, HE::retrieve_session, Guard::always, kAll, HS::restoring, Outcome::success(),
     "§3.6.2"},
    {HS::serialized, HE::stage_b, Guard::luo_unavailable, kAll, HS::nothing,
     Outcome::fail(Errno::enoent), "§3.4"},
    {HS::serialized, HE::stage_b, Guard::held_elsewhere, kAll, HS::nothing,
     Outcome::fail(Errno::ebusy), "§5.14"},
    // Someone holds an outgoing "systemd" already: CREATE_SESSION gives EEXIST.
    {HS::serialized, HE::stage_b, Guard::name_in_use, kAll, HS::nothing,
     Outcome::fail(Errno::eexist), "§3.4"},
    // The mapping could not be preserved: the session is closed, so the kernel drops it whole.
    {HS::serialized, HE::stage_b, Guard::preserve_fails, kAll, HS::nothing, Outcome::handler(),
     "§3.4"},
    {HS::serialized, HE::stage_b, Guard::always, kAll, HS::preserved, Outcome::success(), "§3.4"},
    {HS::preserved, HE::kexec, Guard::always, kAll, HS::handed_over, Outcome::success(), "§3.2"},
    {HS::preserved, HE::reboot_fails, Guard::always, kAll, HS::lost, Outcome::success(), "§3.2"},
    // Whatever the mapping says, "systemd" is finished: unread entries are discarded (§5.3).
    {HS::restoring, HE::finish, Guard::always, kAll, HS::finished, Outcome::success(), "§3.6.2"},
    {HS::serialized, HE::reboot_fails, Guard::always, kAll, HS::lost, Outcome::success(), "§3.2"},
}};
inline constexpr auto kHandoffOtherRows = table::concat(
    table::for_each_state<HS, HE, 1, 3>(
        {HS::running},
        std::array<HT, 3>{{{HE::stage_b, Guard::always, kAll, {}, Outcome::undefined(), "§3.2"},
                           {HE::kexec, Guard::always, kAll, {}, Outcome::undefined(), "§3.2"},
                           {HE::finish, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"}}}),
    table::for_each_state<HS, HE, 1, 1>(
        {HS::running},
        std::array<HT, 1>{
            {{HE::reboot_fails, Guard::always, kAll, {}, Outcome::success(), "§3.2"}}}),
    table::for_each_state<HS, HE, 1, 4>(
        {HS::serialized},
        std::array<HT, 4>{
            {{HE::stage_a, Guard::always, kAll, {}, Outcome::undefined(), "§3.2"},
             {HE::kexec, Guard::always, kAll, {}, Outcome::undefined(), "§3.2"},
             {HE::retrieve_session, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::finish, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"}}}),
    table::for_each_state<HS, HE, 1, 4>(
        {HS::preserved},
        std::array<HT, 4>{
            {{HE::stage_a, Guard::always, kAll, {}, Outcome::undefined(), "§3.2"},
             {HE::stage_b, Guard::always, kAll, {}, Outcome::undefined(), "§3.2"},
             {HE::retrieve_session, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::finish, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"}}}),
    // After the jump the next boot starts over: its own pipeline begins `running`.
    table::for_each_state<HS, HE, 1, 6>(
        {HS::handed_over},
        std::array<HT, 6>{
            {{HE::stage_a, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::stage_b, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::kexec, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::reboot_fails, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::retrieve_session, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::finish, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"}}}),
    table::for_each_state<HS, HE, 1, 5>(
        {HS::restoring},
        std::array<HT, 5>{
            {{HE::stage_a, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::stage_b, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::kexec, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::reboot_fails, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"},
             {HE::retrieve_session, Guard::always, kAll, {}, Outcome::undefined(), "§3.6"}}}));
inline constexpr auto kHandoffRows = table::concat(kHandoffOwnRows, kHandoffOtherRows);
inline constexpr auto kHandoffIndex =
    build_index<HS, HE, kHandoffStates.size(), kHandoffEvents.size()>(kHandoffRows);
// clang-format on
}  // namespace detail

inline constexpr Machine<HandoffState, HandoffEvent> kHandoffMachine{
    "kexec-handoff",
    HandoffState::running,
    detail::kHandoffStates,
    detail::kHandoffEvents,
    detail::kHandoffRows,
    detail::kHandoffTerminals,
    detail::kHandoffIndex.cells,
    detail::kHandoffIndex.order,
    detail::kHandoffIndex.order_bits};
static_assert(kHandoffMachine.is_complete());
static_assert(kHandoffMachine.rows_are_live());
static_assert(kHandoffMachine.terminals_are_final());
static_assert(kHandoffMachine.enums_are_dense());

}  // namespace luo
