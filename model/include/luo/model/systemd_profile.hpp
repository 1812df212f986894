// luo/model/systemd_profile.hpp: which systemd release the fd-store handoff speaks to, and the
// behaviour each one selects (spec systemd-luo.md §3 for v261, §9 for 262.1, which wins).
//
// The kernel profiles (profile.hpp) name what the kernel does; these name what the two systemd
// programs on either side of a kexec do with the mapping. Every writer follows one profile; the
// reader takes what either writes. A difference between releases is written down once, here.
//
//   auto p = luo::parse_systemd_profile("v261");              // SystemdProfile::v261
//   luo::kexec_counter_key(p);                                 // "kexecsCount"
//   luo::systemd_profile_has(p, luo::SystemdFeature::handover_every_kexec);   // false
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace luo {

enum class SystemdProfile : std::uint8_t {
  v261,  // format C as merged for v261 (§3.3, §3.4): kexecsCount, a handover only with entries
  v262,  // 262.1 as Debian ships it (§9): KExecCount, a handover on every kexec, timestamps
};

inline constexpr SystemdProfile kAllSystemdProfiles[] = {SystemdProfile::v261,
                                                         SystemdProfile::v262};
// What a current systemd on the other side of the kexec writes and expects.
inline constexpr SystemdProfile kDefaultSystemdProfile = SystemdProfile::v262;

enum class SystemdFeature : std::uint8_t {
  // PID 1 writes Stage A on every KEXEC and systemd-shutdown always creates "systemd", even
  // with no entry: the counter and the timestamps survive a kexec that carries no fd (§9.3).
  // Without it, a kexec with nothing to hand over creates no session (§3.2 phase 2).
  handover_every_kexec,
  // state carries ShutdownStart/Finish (PID 1) and ShutdownLateStart/Finish (systemd-shutdown)
  // as {"realtime","monotonic"} objects (§9.4).
  shutdown_timestamps,
};

constexpr bool systemd_profile_has(SystemdProfile p, SystemdFeature f) {
  switch (f) {
    case SystemdFeature::handover_every_kexec:
    case SystemdFeature::shutdown_timestamps:
      return p >= SystemdProfile::v262;
  }
  return false;
}

constexpr std::string_view systemd_profile_name(SystemdProfile p) {
  switch (p) {
    case SystemdProfile::v261:
      return "v261";
    case SystemdProfile::v262:
      return "v262";
  }
  return "?";
}

// state's kexec counter: renamed in 262 with no fallback in systemd itself (§9.2).
inline constexpr std::string_view kKexecCountKeyV261 = "kexecsCount";
inline constexpr std::string_view kKexecCountKeyV262 = "KExecCount";

// The key this profile's writers put the counter under.
constexpr std::string_view kexec_counter_key(SystemdProfile p) {
  switch (p) {
    case SystemdProfile::v261:
      return kKexecCountKeyV261;
    case SystemdProfile::v262:
      return kKexecCountKeyV262;
  }
  return kKexecCountKeyV262;
}

// Accepts "v261" and "v262", and the bare release numbers "261" and "262".
constexpr std::optional<SystemdProfile> parse_systemd_profile(std::string_view text) {
  for (SystemdProfile p : kAllSystemdProfiles) {
    const std::string_view name = systemd_profile_name(p);
    if (text == name || text == name.substr(1))
      return p;
  }
  return std::nullopt;
}

}  // namespace luo
