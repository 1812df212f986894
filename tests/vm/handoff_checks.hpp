// What Tier 1 and Tier 2 both check of a handover real systemd wrote and the library restored:
// the restore step (recorded with its per-entry report) finished with every entry stored and
// none held; and the four shutdown timestamps in the mapping's `state`, each a
// {realtime, monotonic} pair of unsigned numbers (real systemd 262.1 writes exactly those two
// keys, seen in both tiers), set, none earlier than the one before it, and each what the
// library's restore reports as the previous shutdown's. Also the mapping file itself, sealed
// as systemd seals it, and the boot's end when the device cannot be opened.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/linux_kernel.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/live_update.hpp"
#include "recorder.hpp"
#include "tapping_port.hpp"
#include "vm_init.hpp"

namespace luo::vm {

[[noreturn]] inline void fail_boot(const std::string& why) {
  power_off(("LUO-VM-ERROR " + why).c_str());
}

inline Device open_device_or_fail(LiveUpdate& lu) {
  auto dev = lu.open_device();
  if (!dev)
    fail_boot("open /dev/liveupdate: " + dev.error().message());
  return std::move(dev).value();
}

// The next boot's side of both tiers: the real kernel, its ioctls seen through a TappingPort
// (which keeps every fd the restore retrieves, by token), and the device open.
struct TappedKernel {
  LinuxKernel kernel;
  IoctlPort ioctl_port{kernel};
  TappingPort port{ioctl_port};
  LiveUpdate lu{port};
  Device dev = open_device_or_fail(lu);
};

inline std::string contents_of(int fd) {
  auto r = memfd::read_all(fd);
  return r.ok() ? std::move(r).value() : "<unreadable: " + errno_label(r.raw_errno()) + ">";
}

// The mapping real systemd-shutdown wrote, as the restore retrieved it (token 0): printed on a
// "<tag> <json>" line, recorded as step "mapping", expected sealed (systemd seals its mapping,
// the library's own Stage B leaves it unsealed and padded, and PRESERVE_FD carries the seals:
// this is systemd-shutdown's file, not a stand-in's) and in format C. Null when it is missing or
// not JSON.
inline nlohmann::json expect_systemd_mapping(Recorder& rec, const TappingPort& port,
                                             const char* tag) {
  const auto& by_token = port.by_token();
  nlohmann::json mapping;
  if (const auto m = by_token.find(handoff::kMappingToken);
      rec.expect(m != by_token.end(), "token 0 was retrieved")) {
    const std::string text = contents_of(m->second.get());
    const auto seals = memfd::seals(m->second.get());
    std::printf("%s %s\n", tag, text.c_str());
    rec.step("mapping", 0, {{"bytes", text.size()}, {"seals", seals.ok() ? seals.value() : 0}});
    constexpr std::uint32_t kSystemdSeals =
        F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    rec.expect(seals.ok() && (seals.value() & kSystemdSeals) == kSystemdSeals,
               "the mapping carries systemd's seals (systemd-shutdown's file)");
    mapping = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  }
  rec.expect(mapping.is_object() && mapping.value("version", 0) == 1, "the mapping is format C");
  return mapping;
}

// Records the restore as step "restore" of the current check, then expects it finished with
// every entry stored and none held.
inline void expect_everything_restored(Recorder& rec, const RestoreResult& r, const HeldFds& held) {
  nlohmann::json report = nlohmann::json::array();
  for (const auto& e : r.report) {
    report.push_back({{"owner", e.owner},
                      {"name", e.name},
                      {"state", std::string(state_name(e.state))},
                      {"reason", e.reason}});
  }
  rec.step("restore", r.error, {{"state", std::string(state_name(r.state))}, {"report", report}});
  rec.expect(r.state == HandoffState::finished, "the restore finished: " + r.failure);
  rec.expect(held.size() == 0, "no entry is held");
  for (const auto& e : r.report) {
    rec.expect(e.state == FdEntryState::stored, e.owner + "/" + e.name + " stored, not " +
                                                    std::string(state_name(e.state)) + " " +
                                                    e.reason);
  }
}

inline bool is_dual_timestamp(const nlohmann::json& t) {
  return t.is_object() && t.size() == 2 && t.contains("realtime") && t.contains("monotonic") &&
         t["realtime"].is_number_unsigned() && t["monotonic"].is_number_unsigned();
}

inline void expect_shutdown_timestamps(Recorder& rec, const nlohmann::json& state,
                                       const RestoreResult& r) {
  std::optional<std::uint64_t> previous_mono, previous_real;
  for (const auto which : handoff::kAllShutdownTimestamps) {
    const std::string key(handoff::shutdown_timestamp_key(which));
    const auto t = state.find(key);
    if (!rec.expect(t != state.end() && is_dual_timestamp(*t),
                    key + " is present as {realtime, monotonic}"))
      continue;
    const auto mono = (*t)["monotonic"].get<std::uint64_t>();
    const auto real = (*t)["realtime"].get<std::uint64_t>();
    rec.expect(mono > 0 && real > 0, key + " is set");
    rec.expect(!previous_mono || (*previous_mono <= mono && *previous_real <= real),
               key + " is not earlier than the timestamp before it");
    const auto& read = r.previous_shutdown[which];
    rec.expect(read && read->realtime == real && read->monotonic == mono,
               key + " is what the library's restore reports as the previous shutdown's");
    previous_mono = mono;
    previous_real = real;
  }
}

}  // namespace luo::vm
