// The four shutdown timestamps a kexec's mapping carries in `state`, checked the same way by
// Tier 1 (the real systemd-shutdown wrote them) and Tier 2 (the real PID 1 and systemd-shutdown,
// or the library, wrote them): each a {realtime, monotonic} pair of unsigned numbers, set, none
// earlier than the one before it, and each what the library's restore reports as the previous
// shutdown's. Real systemd 262.1 writes exactly those two keys (seen in both tiers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "luo/impl/kexec_handoff.hpp"
#include "recorder.hpp"

namespace luo::vm {

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
