// The names of the world's enums (for reports, JSON, replay and Promela) and its bounds'
// validation and description. The enums themselves, and what each value means, are in world.hpp.
#include <array>
#include <cstddef>

#include "luo/proofs/world.hpp"

namespace luo::proofs {

std::string_view mutant_name(Mutant m) {
  switch (m) {
    case Mutant::none:
      return "none";
    case Mutant::finish_before_dispatch:
      return "finish_before_dispatch";
    case Mutant::restore_lifo:
      return "restore_lifo";
    case Mutant::no_namespace_guard:
      return "no_namespace_guard";
    case Mutant::mapping_last:
      return "mapping_last";
    case Mutant::token_reuse:
      return "token_reuse";
    case Mutant::never_retry_held:
      return "never_retry_held";
    case Mutant::wrong_owner:
      return "wrong_owner";
    case Mutant::forget_held_at_stage_a:
      return "forget_held_at_stage_a";
    case Mutant::close_sessions_early:
      return "close_sessions_early";
    case Mutant::counter_stuck:
      return "counter_stuck";
    case Mutant::two_unit_slots:
      return "two_unit_slots";
    case Mutant::mapping_off_by_one:
      return "mapping_off_by_one";
    case Mutant::mapping_skipped:
      return "mapping_skipped";
  }
  return "?";
}

std::optional<Mutant> parse_mutant(std::string_view name) {
  if (name == "none")
    return Mutant::none;
  for (Mutant m : kAllMutants) {
    if (mutant_name(m) == name)
      return m;
  }
  for (Mutant m : kBeyondBoundsMutants) {
    if (mutant_name(m) == name)
      return m;
  }
  return std::nullopt;
}

std::string Bounds::validate() const {
  if (owners < 1 || owners > kMaxOwners)
    return "owners must be 1.." + std::to_string(kMaxOwners);
  if (fds < 0 || fds > kMaxFdsPerOwner)
    return "fds must be 0.." + std::to_string(kMaxFdsPerOwner);
  if (sessions < 0 || sessions > kMaxSessions)
    return "sessions must be 0.." + std::to_string(kMaxSessions);
  if (kexecs < 0 || kexecs > kMaxKexecs)
    return "kexecs must be 0.." + std::to_string(kMaxKexecs);
  if (faults < 0 || faults > kMaxFaults)
    return "faults must be 0.." + std::to_string(kMaxFaults);
  if (file_limit < 0 || file_limit > kMaxFds + 1)
    return "file-limit must be 0.." + std::to_string(kMaxFds + 1);
  if (file_limit > 0 && !profile_has(profile, Feature::legacy_limits))
    return "file-limit needs a profile with per-session file limits (6.19, 7.0/7.1)";
  return "";
}

std::string Bounds::describe() const {
  std::string s =
      std::to_string(owners) + " owners x " + std::to_string(fds) + " fds, " +
      std::to_string(sessions) + " third-party sessions, " +
      (any_kexecs ? "any number of kexecs, " + std::to_string(faults) + " faults per boot ("
                  : std::to_string(kexecs) + " kexecs, " + std::to_string(faults) + " faults (") +
      (errnos && crashes ? "errnos and crashes"
       : errnos          ? "errnos only"
       : crashes         ? "crashes only"
                         : "none enabled") +
      "), hijack " + (hijack ? "on" : "off") + ", late owners " + (late_owners ? "on" : "off") +
      ", profile " + std::string(profile_name(profile)) + ", systemd " +
      std::string(systemd_profile_name(systemd));
  if (file_limit > 0)
    s += ", file limit " + std::to_string(file_limit);
  if (mutant != Mutant::none)
    s += ", MUTANT " + std::string(mutant_name(mutant));
  return s;
}

std::string_view entry_name(Entry e) {
  switch (e) {
    case Entry::unborn:
      return "unstored";
    case Entry::abandoned:
      return "abandoned";
    case Entry::stored:
    case Entry::staged:
    case Entry::preserved:
    case Entry::handed_over:
    case Entry::restorable:
    case Entry::held:
    case Entry::removed:
    case Entry::released:
    case Entry::dropped:
    case Entry::lost:
      return state_name(to_machine(e));
  }
  return "?";
}

FdEntryState to_machine(Entry e) {
  return static_cast<FdEntryState>(static_cast<int>(e) - static_cast<int>(Entry::stored));
}
Entry from_machine(FdEntryState s) {
  return static_cast<Entry>(static_cast<int>(s) + static_cast<int>(Entry::stored));
}
static_assert(static_cast<int>(Entry::lost) - static_cast<int>(Entry::stored) ==
              static_cast<int>(FdEntryState::lost));

namespace {

// What the world says of each Reason, one row per enumerator in the enum's order: the
// enumerator's name (JSON, Promela), its words for reports, and whether a correct manager may
// end an entry for it (losses_have_legitimate_reasons).
struct ReasonRow {
  Reason reason;
  std::string_view id;
  std::string_view words;
  bool legitimate;
};
constexpr std::array kReasons{
    ReasonRow{Reason::none, "none", "none", true},
    ReasonRow{Reason::removed, "removed", "removed by its owner", true},
    ReasonRow{Reason::store_full, "store_full", "store full (EXFULL)", true},
    ReasonRow{Reason::reserved_name, "reserved_name", "session name \"systemd\" is reserved", true},
    ReasonRow{Reason::preserve_refused, "preserve_refused", "PRESERVE_FD refused", true},
    ReasonRow{Reason::retrieve_failed, "retrieve_failed", "retrieve failed", true},
    ReasonRow{Reason::reboot_failed, "reboot_failed", "reboot(KEXEC) failed", true},
    ReasonRow{Reason::no_luo, "no_luo", "no \"systemd\" session", true},
    ReasonRow{Reason::mapping_unusable, "mapping_unusable", "mapping unusable", true},
    ReasonRow{Reason::agent_crashed, "agent_crashed", "manager crashed", true},
    ReasonRow{Reason::not_outgoing, "not_outgoing", "retrieved session cannot be handed over again",
              true},
    ReasonRow{Reason::owner_crashed, "owner_crashed", "its service died holding it alone", true},
    ReasonRow{Reason::token_conflict, "token_conflict", "token reused by the manager", false},
    ReasonRow{Reason::mapping_lost, "mapping_lost", "mapping lost to the file limit", false},
    ReasonRow{Reason::silent, "silent", "silent", false},
    ReasonRow{Reason::earlier_boot, "earlier_boot",
              "ended in an earlier boot, for a legitimate reason", true},
};
static_assert(kReasons.size() == static_cast<std::size_t>(Reason::earlier_boot) + 1,
              "one row per Reason (earlier_boot is the last enumerator)");
constexpr bool reasons_in_enum_order() {
  for (std::size_t i = 0; i < kReasons.size(); ++i) {
    if (static_cast<std::size_t>(kReasons[i].reason) != i)
      return false;
  }
  return true;
}
static_assert(reasons_in_enum_order(), "kReasons' rows are in Reason's order");

const ReasonRow& reason_row(Reason r) {
  return kReasons[static_cast<std::size_t>(r)];
}

}  // namespace

std::string_view reason_name(Reason r) {
  return reason_row(r).words;
}
std::string_view reason_id(Reason r) {
  return reason_row(r).id;
}
bool legitimate(Reason r) {
  return reason_row(r).legitimate;
}

std::string_view kfile_name(KFile k) {
  switch (k) {
    case KFile::none:
      return "none";
    case KFile::preserved:
      return "preserved";
    case KFile::restorable:
      return "restorable";
    case KFile::retrieved:
      return "retrieved";
    case KFile::retrieve_failed:
      return "retrieve_failed";
  }
  return "?";
}

std::string_view sess_name(Sess s) {
  switch (s) {
    case Sess::none:
      return "none";
    case Sess::outgoing:
      return "outgoing";
    case Sess::incoming:
      return "incoming";
    case Sess::retrieved:
      return "retrieved";
    case Sess::finished:
      return "finished";
  }
  return "?";
}

std::string_view hijack_name(Hijack h) {
  switch (h) {
    case Hijack::none:
      return "none";
    case Hijack::stored:
      return "stored";
    case Hijack::staged:
      return "staged";
    case Hijack::gone:
      return "gone";
    case Hijack::carried:
      return "carried";
  }
  return "?";
}

std::string_view action_kind_name(ActionKind k) {
  switch (k) {
    case ActionKind::store:
      return "store";
    case ActionKind::remove:
      return "remove";
    case ActionKind::open_session:
      return "open_session";
    case ActionKind::store_session:
      return "store_session";
    case ActionKind::resume_session:
      return "resume_session";
    case ActionKind::hijack:
      return "hijack";
    case ActionKind::crash:
      return "crash";
    case ActionKind::start:
      return "start";
    case ActionKind::load_owner:
      return "load_owner";
    case ActionKind::reload:
      return "reload";
    case ActionKind::restore_begin:
      return "restore_begin";
    case ActionKind::dispatch:
      return "dispatch";
    case ActionKind::finish:
      return "finish";
    case ActionKind::agent_crash:
      return "agent_crash";
    case ActionKind::stage_a:
      return "stage_a";
    case ActionKind::stage_b:
      return "stage_b";
    case ActionKind::kexec:
      return "kexec";
  }
  return "?";
}

}  // namespace luo::proofs
