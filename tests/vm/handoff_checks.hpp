// What Tier 1 and Tier 2 both check of a handover real systemd wrote and the library restored:
// the restore step (recorded with its per-entry report) finished with every entry stored and
// none held; and the four shutdown timestamps in the mapping's `state`, each a
// {realtime, monotonic} pair of unsigned numbers (real systemd 262.1 writes exactly those two
// keys, seen in both tiers), set, none earlier than the one before it, and each what the
// library's restore reports as the previous shutdown's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "luo/impl/kexec_handoff.hpp"
#include "recorder.hpp"

namespace luo::vm {

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
