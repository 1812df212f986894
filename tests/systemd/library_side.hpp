// library_side.hpp: the library's half of every Tier-0 comparison, in one place.
//
// The differential tests never call the library's handoff code directly: they go through these
// functions, so a change of the library's handoff API means rewiring only this file.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/adapters/ioctl_backend.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/systemd_profile.hpp"
#include "systemd262.hpp"

namespace luo::sdtest {

// The systemd version the library is asked to behave as: the library's own profile.
using luo::SystemdProfile;
const char* profile_name(SystemdProfile p);

// The library standing in for systemd-shutdown: Stage B from a Stage A document.
struct LibraryStageB {
  bool handed_over = false;  // the "systemd" session exists and must be held until kexec
  std::string failure;
  std::shared_ptr<void> keep_alive;  // the session, device and runtime; drop after kexec
};
// `late` are the ShutdownLateStart/Finish timestamps the shutdown side records just before
// Stage B (v262); a library without that feature ignores them.
LibraryStageB library_stage_b(IoctlBackend& kernel, std::string_view stage_a, SystemdProfile p,
                              const std::array<DualTimestamp, 2>& late);

// The library's Stage A reader: the fds it would keep open for Stage B, in document order;
// nullopt when it refuses the document.
std::optional<std::vector<int>> library_stage_a_fds(std::string_view stage_a);

struct RestoredEntry {
  std::string unit;
  std::string name;
  UniqueFd fd;
};
// The library as the next boot's manager, restoring from `kernel`.
struct LibraryRestore {
  bool accepted = false;  // the mapping was read (false: refused whole, or nothing there)
  std::uint32_t counter = 0;
  std::optional<std::array<DualTimestamp, 4>> timestamps;  // previous shutdown, when exposed
  std::vector<RestoredEntry> dispatched;
  std::string failure;
};
LibraryRestore library_restore(IoctlBackend& kernel, SystemdProfile p);

}  // namespace luo::sdtest
