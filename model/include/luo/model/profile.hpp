// luo/model/profile.hpp: kernel ABI profiles and the behaviour each one selects.
//
// The LUO uAPI kept its struct layouts since 6.19 but its behaviour changed (spec kernel-luo.md
// §0 timeline, §7). A profile names one such behaviour set; every profile-dependent row of a
// transition table and every profile check in the simulator asks one of the feature functions
// below, so a behaviour difference is written down exactly once.
//
//   auto p = luo::parse_profile("7.2");                 // KernelProfile::v7_2
//   luo::profile_has(p, luo::Feature::get_name);        // true
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace luo {

enum class KernelProfile : std::uint8_t {
  v6_19,  // as first merged (Dec 2025)
  v7_0,   // 7.0 and 7.1: double-preservation EBUSY, sticky retrieve failure, memfd seals
  v7_2,   // GET_NAME, name validation, session-type EINVAL, no limits, FINISH reserved checked
  v7_3,   // the released 7.3 ABI; identical to 7.2 as observed from userspace
};

inline constexpr KernelProfile kAllProfiles[] = {KernelProfile::v6_19, KernelProfile::v7_0,
                                                 KernelProfile::v7_2, KernelProfile::v7_3};
inline constexpr KernelProfile kDefaultProfile = KernelProfile::v7_2;

enum class Feature : std::uint8_t {
  // CREATE_SESSION rejects an empty or unterminated name with EINVAL (7.2, e947433c).
  session_name_validation,
  // 819 outgoing sessions (ENOMEM) and 128 files per session (ENOSPC) (6.19-7.1).
  legacy_limits,
  // PRESERVE_FD on incoming, RETRIEVE_FD/FINISH on outgoing give EINVAL (7.2, 507e3b47).
  session_type_check,
  // LIVEUPDATE_SESSION_GET_NAME exists (7.2, 4c08a9f3).
  get_name,
  // FINISH with reserved != 0 gives EINVAL. The text says 7.3 (05cf3d87); a real 7.2.13
  // kernel already does it (spec §8), and the real kernel wins.
  finish_reserved_checked,
  // A file can be in at most one outgoing session, identified by inode (7.0 xarray); retrieved
  // files stay in that table until FINISH.
  double_preservation_check,
  // A failed RETRIEVE_FD returns the same error forever (7.0).
  sticky_retrieve_failure,
  // memfd seals are snapshotted at PRESERVE_FD and re-applied on retrieve (7.0, UNVERIFIED
  // exact release; we choose 7.0 and test it).
  memfd_seals_preserved,
  // PRESERVE_FD of a memfd larger than UINT_MAX pages gives EFBIG (spec §3.8 "newer kernels":
  // the seal-preserving handler, 7.0 by decision 2; the 6.19 handler tries to pin the pages and
  // fails with ENOMEM, docs/kernel-decisions.md).
  memfd_size_limit,
  // Session ioctls block on the serialize lock once reboot serialization succeeded (7.2).
  serialize_lock,
};

constexpr bool profile_has(KernelProfile p, Feature f) {
  const auto at_least = [p](KernelProfile min) { return p >= min; };
  switch (f) {
    case Feature::session_name_validation:
      return at_least(KernelProfile::v7_2);
    case Feature::legacy_limits:
      return !at_least(KernelProfile::v7_2);
    case Feature::session_type_check:
      return at_least(KernelProfile::v7_2);
    case Feature::get_name:
      return at_least(KernelProfile::v7_2);
    case Feature::finish_reserved_checked:
      return at_least(KernelProfile::v7_2);
    case Feature::double_preservation_check:
      return at_least(KernelProfile::v7_0);
    case Feature::sticky_retrieve_failure:
      return at_least(KernelProfile::v7_0);
    case Feature::memfd_seals_preserved:
      return at_least(KernelProfile::v7_0);
    case Feature::memfd_size_limit:
      return at_least(KernelProfile::v7_0);
    case Feature::serialize_lock:
      return at_least(KernelProfile::v7_2);
  }
  return false;
}

constexpr std::string_view profile_name(KernelProfile p) {
  switch (p) {
    case KernelProfile::v6_19:
      return "6.19";
    case KernelProfile::v7_0:
      return "7.0";
    case KernelProfile::v7_2:
      return "7.2";
    case KernelProfile::v7_3:
      return "7.3";
  }
  return "?";
}

// Accepts "6.19", "7.0", "7.1" (same ABI as 7.0), "7.2", "7.3".
constexpr std::optional<KernelProfile> parse_profile(std::string_view text) {
  if (text == "7.1")
    return KernelProfile::v7_0;
  for (KernelProfile p : kAllProfiles) {
    if (profile_name(p) == text)
      return p;
  }
  return std::nullopt;
}

// A set of profiles, for table rows that apply to some kernels only.
class ProfileSet {
 public:
  constexpr ProfileSet() = default;
  static constexpr ProfileSet all() { return ProfileSet(0x0F); }
  static constexpr ProfileSet with(Feature f) {
    ProfileSet s;
    for (KernelProfile p : kAllProfiles) {
      if (profile_has(p, f))
        s.bits_ |= bit(p);
    }
    return s;
  }
  static constexpr ProfileSet without(Feature f) {
    return ProfileSet(all().bits_ & ~with(f).bits_);
  }
  constexpr bool contains(KernelProfile p) const { return (bits_ & bit(p)) != 0; }
  constexpr bool is_all() const { return bits_ == all().bits_; }
  constexpr bool operator==(const ProfileSet&) const = default;

 private:
  constexpr explicit ProfileSet(std::uint8_t bits) : bits_(bits) {}
  static constexpr std::uint8_t bit(KernelProfile p) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(p));
  }
  std::uint8_t bits_ = 0;
};

}  // namespace luo
