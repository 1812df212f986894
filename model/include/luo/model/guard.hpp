// luo/model/guard.hpp: the conditions that choose between rows of a transition table.
//
// One enum serves every machine so a condition has one name in tables, diagrams, the checker
// and the docs. A caller evaluates each guard into a Truth: the composite KernelModel knows
// every fact; impl/ knows only what it can see without a syscall and says `unknown` for the
// rest (the kernel's answer then picks the row, see machine.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace luo {

enum class Guard : std::uint8_t {
  always,
  no_free_fd,              // the fd table is full: EMFILE before any other check (§1.3)
  luo_unavailable,         // booted without liveupdate=on or KHO: no device node (§1.1)
  deserialization_fails,   // incoming data cannot be deserialized at first open (§1.2)
  name_invalid,            // empty or unterminated name under 7.2 rules (§2.2)
  name_in_use,             // a live outgoing session has this name (§2.1)
  name_unknown,            // no incoming session has this exact name (§1.4)
  held_elsewhere,          // another open file description holds the device (§1.2)
  session_limit_reached,   // 819 outgoing sessions under the legacy limits (§2.6)
  out_of_memory,           // allocation failure inside the kernel
  copy_back_fault,         // the result cannot be copied back to userspace (§1.3 step 9)
  token_in_use,            // the token is already used in this session (§3.1.1)
  file_limit_reached,      // 128 files under the legacy limits (§3.1.2)
  fd_invalid,              // not an open fd, or an O_PATH fd (§3.1.3)
  fd_unsupported,          // no handler accepts the file: only memfds are supported (§3.1.4)
  file_already_preserved,  // the inode is in some outgoing session or unfinished retrieval (§3.1.5)
  handler_fails,           // the file handler's own callback fails (§3.1.7, §3.2)
  token_unknown,           // no file with this token in the session (§3.2)
  retrieve_failed_before,  // an earlier retrieve of this token failed: sticky (§3.2)
  reserved_nonzero,        // FINISH/GET_NAME reserved field is not 0 (§1.4)
  can_finish_vetoes,       // a handler's can_finish() returns false (§3.3)
  freeze_fails,            // a file's freeze() fails during reboot (§5.2)
  has_files,               // the outgoing session holds at least one file
  // The fd-store handoff (spec systemd-luo.md).
  store_full,               // the owner's store is at FileDescriptorStoreMax (EXFULL, §1.4)
  duplicate_fd,             // the same open file description is already in the store (§1.4)
  mode_not_preserved,       // the owner's preserve mode is not yes/on-success (§3.2)
  reserved_session_name,    // a LUO session named "systemd" pushed by a service (§3.5)
  preserve_fails,           // the kernel refused PRESERVE_FD for this entry (§3.4)
  retrieve_fails,           // the entry's RETRIEVE_FD/RETRIEVE_SESSION failed at restore (§3.6)
  owner_unknown,            // no loaded owner has this id yet: the entry is held (§3.6)
  nothing_to_hand_over,     // no entry qualifies and the systemd profile is v261 (§3.2, §9.3)
  mapping_unusable,         // no mapping, unreadable mapping or unsupported version (§3.6.2)
  incoming_session,         // a retrieved LUO session: the kernel hands over only outgoing (§5.6)
  session_detection_fails,  // whether the fd is a LUO session cannot be told (§9.6): skipped
  luo_device,               // the entry is /dev/liveupdate itself (docs/reliability.md F1)
};

inline constexpr std::size_t kGuardCount = static_cast<std::size_t>(Guard::luo_device) + 1;

constexpr std::string_view guard_name(Guard g) {
  switch (g) {
    case Guard::always:
      return "";
    case Guard::no_free_fd:
      return "no_free_fd";
    case Guard::luo_unavailable:
      return "luo_unavailable";
    case Guard::deserialization_fails:
      return "deserialization_fails";
    case Guard::name_invalid:
      return "name_invalid";
    case Guard::name_in_use:
      return "name_in_use";
    case Guard::name_unknown:
      return "name_unknown";
    case Guard::held_elsewhere:
      return "held_elsewhere";
    case Guard::session_limit_reached:
      return "session_limit_reached";
    case Guard::out_of_memory:
      return "out_of_memory";
    case Guard::copy_back_fault:
      return "copy_back_fault";
    case Guard::token_in_use:
      return "token_in_use";
    case Guard::file_limit_reached:
      return "file_limit_reached";
    case Guard::fd_invalid:
      return "fd_invalid";
    case Guard::fd_unsupported:
      return "fd_unsupported";
    case Guard::file_already_preserved:
      return "file_already_preserved";
    case Guard::handler_fails:
      return "handler_fails";
    case Guard::token_unknown:
      return "token_unknown";
    case Guard::retrieve_failed_before:
      return "retrieve_failed_before";
    case Guard::reserved_nonzero:
      return "reserved_nonzero";
    case Guard::can_finish_vetoes:
      return "can_finish_vetoes";
    case Guard::freeze_fails:
      return "freeze_fails";
    case Guard::has_files:
      return "has_files";
    case Guard::store_full:
      return "store_full";
    case Guard::duplicate_fd:
      return "duplicate_fd";
    case Guard::mode_not_preserved:
      return "mode_not_preserved";
    case Guard::reserved_session_name:
      return "reserved_session_name";
    case Guard::preserve_fails:
      return "preserve_fails";
    case Guard::retrieve_fails:
      return "retrieve_fails";
    case Guard::owner_unknown:
      return "owner_unknown";
    case Guard::nothing_to_hand_over:
      return "nothing_to_hand_over";
    case Guard::mapping_unusable:
      return "mapping_unusable";
    case Guard::incoming_session:
      return "incoming_session";
    case Guard::luo_device:
      return "luo_device";
    case Guard::session_detection_fails:
      return "session_detection_fails";
  }
  return "?";
}

// The condition in words, for error messages and docs.
constexpr std::string_view guard_description(Guard g) {
  switch (g) {
    case Guard::always:
      return "";
    case Guard::no_free_fd:
      return "no free fd in the caller's fd table";
    case Guard::luo_unavailable:
      return "LUO is not available: the kernel lacks CONFIG_LIVEUPDATE, liveupdate=on or KHO";
    case Guard::deserialization_fails:
      return "the incoming live-update data failed to deserialize";
    case Guard::name_invalid:
      return "the name is empty or not NUL-terminated within 64 bytes";
    case Guard::name_in_use:
      return "a live outgoing session already has this name";
    case Guard::name_unknown:
      return "no incoming session has this name";
    case Guard::held_elsewhere:
      return "another open of /dev/liveupdate holds it exclusively";
    case Guard::session_limit_reached:
      return "the 819-session limit of 6.19-7.1 is reached";
    case Guard::out_of_memory:
      return "the kernel is out of memory";
    case Guard::copy_back_fault:
      return "the result could not be copied back to userspace";
    case Guard::token_in_use:
      return "the token is already used in this session";
    case Guard::file_limit_reached:
      return "the 128-file limit of 6.19-7.1 is reached";
    case Guard::fd_invalid:
      return "the fd is not open or is an O_PATH fd";
    case Guard::fd_unsupported:
      return "no LUO handler supports this file (only memfds are)";
    case Guard::file_already_preserved:
      return "the file is already preserved in a live outgoing session or retrieved and not "
             "finished";
    case Guard::handler_fails:
      return "the file handler failed";
    case Guard::token_unknown:
      return "no file with this token in the session";
    case Guard::retrieve_failed_before:
      return "an earlier retrieve of this token failed";
    case Guard::reserved_nonzero:
      return "the reserved field is not 0";
    case Guard::can_finish_vetoes:
      return "a file handler's can_finish() vetoed";
    case Guard::freeze_fails:
      return "a file failed to freeze";
    case Guard::has_files:
      return "the session holds files";
    case Guard::store_full:
      return "the owner's fd store is full (FileDescriptorStoreMax)";
    case Guard::duplicate_fd:
      return "the same open file description is already stored";
    case Guard::mode_not_preserved:
      return "the owner's preserve mode is neither yes nor on-success";
    case Guard::reserved_session_name:
      return "a LUO session named \"systemd\" infringes the manager's namespace";
    case Guard::preserve_fails:
      return "the kernel refused to preserve this entry";
    case Guard::retrieve_fails:
      return "the entry could not be retrieved in the new kernel";
    case Guard::owner_unknown:
      return "no loaded owner has this id yet";
    case Guard::nothing_to_hand_over:
      return "no fd store entry qualifies, and the systemd profile (v261) hands over only then";
    case Guard::mapping_unusable:
      return "the handoff mapping is missing, unreadable or of an unsupported version";
    case Guard::incoming_session:
      return "a retrieved (incoming) LUO session cannot be handed over again: only outgoing "
             "sessions survive a kexec";
    case Guard::luo_device:
      return "the fd is /dev/liveupdate itself: a staged copy would hold the device open, so "
             "the shutdown side's own open would fail with EBUSY and every entry would be lost";
    case Guard::session_detection_fails:
      return "whether the fd is a LUO session cannot be told (e.g. an O_PATH fd on the "
             "anon-inode filesystem), so it is skipped as systemd 262.1 skips it";
  }
  return "?";
}

enum class Truth : std::uint8_t { no, yes, unknown };

// The truth of every guard for one decision, as two bitmasks so that "does any guard of this
// cell hold?" is one AND. Default: everything false, which is what a caller that knows the whole
// state (the composite model, the checker) starts from.
class Facts {
 public:
  // Bit 0 is `always`'s own, set in every Facts (it always holds) and in no cell's guard mask
  // except a cell without rows (a terminal state's): select()'s one AND then sends a terminal
  // state to its checked path at no cost to the others.
  static constexpr std::uint64_t kAlwaysBit = 1;

  constexpr Facts() = default;
  static constexpr Facts all_unknown() {
    Facts f;
    f.unknown_ = kAllGuardBits;
    return f;
  }
  constexpr Facts& set(Guard g, Truth t) {
    const std::uint64_t b = bit(g);
    yes_ = t == Truth::yes ? (yes_ | b) : (yes_ & ~b);
    unknown_ = t == Truth::unknown ? (unknown_ | b) : (unknown_ & ~b);
    return *this;
  }
  constexpr Facts& set(Guard g, bool b) {
    const std::uint64_t m = bit(g);
    yes_ = (yes_ & ~m) | (b ? m : std::uint64_t{0});
    unknown_ &= ~m;
    return *this;
  }
  constexpr Truth get(Guard g) const {
    if (g == Guard::always || (yes_ & bit(g)) != 0)
      return Truth::yes;
    return (unknown_ & bit(g)) != 0 ? Truth::unknown : Truth::no;
  }
  constexpr std::uint64_t yes_mask() const { return yes_; }
  constexpr std::uint64_t unknown_mask() const { return unknown_; }

  static constexpr std::uint64_t bit(Guard g) {
    return g == Guard::always ? 0 : std::uint64_t{1} << static_cast<unsigned>(g);
  }

 private:
  static constexpr std::uint64_t kAllGuardBits =
      ((std::uint64_t{1} << kGuardCount) - 1) & ~kAlwaysBit;
  std::uint64_t yes_ = kAlwaysBit;
  std::uint64_t unknown_ = 0;
};
static_assert(kGuardCount <= 64, "Facts keeps one bit per guard");

}  // namespace luo
