#include "luo/impl/handoff_mapping.hpp"

#include <algorithm>
#include <functional>
#include <utility>

#include "handoff_mapping_internal.hpp"
#include "luo/model/limits.hpp"

// Deliberate bugs for the mutation report, compiled only into the test-only library copy
// luo_impl_mutants (tests/mutants/); the shipped library has no mutation point.
#ifdef LUO_TEST_MUTANTS
#include "luo/test/mutants.hpp"
#endif

namespace luo::handoff {

using internal::Check;
using internal::check_field;
using internal::Json;
using internal::lenient_u32;
using internal::lenient_u64;
using internal::members;
using internal::Members;
using internal::strict_u32;

std::string_view entry_type_name(EntryType type) {
  switch (type) {
    case EntryType::fd:
      return "fd";
    case EntryType::luo_session:
      return "luo_session";
  }
  return "?";
}

std::string_view shutdown_timestamp_key(ShutdownTimestamp t) {
  switch (t) {
    case ShutdownTimestamp::start:
      return "ShutdownStartTimestamp";
    case ShutdownTimestamp::finish:
      return "ShutdownFinishTimestamp";
    case ShutdownTimestamp::late_start:
      return "ShutdownLateStartTimestamp";
    case ShutdownTimestamp::late_finish:
      return "ShutdownLateFinishTimestamp";
  }
  return "?";
}

std::optional<DualTimestamp>& ShutdownTimestamps::operator[](ShutdownTimestamp t) {
  switch (t) {
    case ShutdownTimestamp::start:
      return start;
    case ShutdownTimestamp::finish:
      return finish;
    case ShutdownTimestamp::late_start:
      return late_start;
    case ShutdownTimestamp::late_finish:
      return late_finish;
  }
  return late_finish;
}

const std::optional<DualTimestamp>& ShutdownTimestamps::operator[](ShutdownTimestamp t) const {
  return const_cast<ShutdownTimestamps&>(*this)[t];
}

namespace {

// The first value under `key` in `state`, and how many there are.
std::pair<const Json*, int> lookup(const std::optional<Json>& state, std::string_view key) {
  if (!state || !state->is_object())
    return {nullptr, 0};
  const Json* first = nullptr;
  int n = 0;
  for (const auto& member : members(*state)) {
    if (member.first == key) {
      first = first ? first : &member.second;
      ++n;
    }
  }
  return {first, n};
}

}  // namespace

std::optional<std::uint32_t> Header::kexec_count() const {
  if (state_ignored)
    return std::nullopt;
  if (auto [current, n] = lookup(state, kKexecCountKeyV262); current)
    return n == 1 ? strict_u32(*current) : std::nullopt;
  if (auto [legacy, n] = lookup(state, kKexecCountKeyV261); legacy)
    return n == 1 ? lenient_u32(*legacy) : std::nullopt;
  return std::nullopt;
}

void Header::set_kexec_count(std::uint32_t count, SystemdProfile profile) {
  const std::string key(kexec_counter_key(profile));
  const auto is_counter = [](const std::string& k) {
    return k == kKexecCountKeyV261 || k == kKexecCountKeyV262;
  };
  Json rebuilt = Json::object();
  auto& out = static_cast<Members&>(rebuilt.get_ref<Json::object_t&>());
  const bool had = state && state->is_object() &&
                   std::any_of(members(*state).begin(), members(*state).end(),
                               [&](const auto& m) { return is_counter(m.first); });
  // PID 1 builds `state` with the counter first; an existing counter keeps its place.
  if (!had)
    out.emplace_back(key, Json(count));
  bool placed = !had;
  if (state && state->is_object()) {
    for (const auto& member : members(*state)) {
      if (!is_counter(member.first)) {
        out.emplace_back(member.first, member.second);
      } else if (!placed) {
        out.emplace_back(key, Json(count));
        placed = true;
      }
    }
  }
  state = std::move(rebuilt);
}

std::optional<DualTimestamp> Header::timestamp(ShutdownTimestamp t) const {
  if (state_ignored)
    return std::nullopt;
  auto [value, n] = lookup(state, shutdown_timestamp_key(t));
  if (!value || n != 1 || check_field(Check::timestamp, shutdown_timestamp_key(t), *value))
    return std::nullopt;
  DualTimestamp out;
  if (auto it = value->find("realtime"); it != value->end())
    out.realtime = *lenient_u64(*it);
  if (auto it = value->find("monotonic"); it != value->end())
    out.monotonic = *lenient_u64(*it);
  return out;
}

ShutdownTimestamps Header::timestamps() const {
  ShutdownTimestamps out;
  for (ShutdownTimestamp t : kAllShutdownTimestamps)
    out[t] = timestamp(t);
  return out;
}

void Header::set_timestamp(ShutdownTimestamp t, DualTimestamp value) {
  if (!state || !state->is_object())
    state = Json::object();
  Json object = Json::object();
  object["realtime"] = value.realtime;
  object["monotonic"] = value.monotonic;
  (*state)[std::string(shutdown_timestamp_key(t))] = std::move(object);
}

std::uint32_t restored_kexec_count(const Header& header) {
  // 262.1 increments a u32 and keeps the wrapped sum: 4294967295 restores as 0.
  const std::uint32_t previous = header.kexec_count().value_or(0);
  return static_cast<std::uint32_t>(previous + 1u);
}

namespace {

// The token rule in one place, for stage_b_from_stage_a() and preserve_in_order(): every entry in
// unit and array order; an fd entry asks `preserve` with the next token and takes it only when
// preserved (tokens dense over the successes); a luo_session entry takes none. `on_entry(unit
// index, entry, token)` sees each entry that goes into the mapping. Returns the refused count.
template <class OnEntry>
std::size_t walk_tokens(const StageA& staged, const PreserveFn& preserve, OnEntry&& on_entry) {
  std::size_t refused = 0;
  std::uint64_t token = kMappingToken + 1;
  for (std::size_t u = 0; u < staged.units.size(); ++u) {
    for (const auto& e : staged.units[u].fdstore) {
      switch (e.type) {
        case EntryType::fd:
          // Dense over the fds that were preserved: a refused one takes no token.
          if (preserve && !preserve(e, token)) {
#ifdef LUO_TEST_MUTANTS
            if (LUO_MUTANT(stage_b_token_gaps))
              ++token;
#endif
            ++refused;
            continue;
          }
          on_entry(u, e, token++);
          break;
        case EntryType::luo_session:
          // Sessions cannot nest: recorded by name, their fd held open until the kexec.
          if (preserve)
            (void)preserve(e, 0);
          on_entry(u, e, std::uint64_t{0});
          break;
      }
    }
  }
  return refused;
}

}  // namespace

StageB stage_b_from_stage_a(const StageA& staged, SystemdProfile profile,
                            const ShutdownTimestamps& late, const PreserveFn& preserve) {
  StageB out;
  out.header = staged.header;
  if (systemd_profile_has(profile, SystemdFeature::shutdown_timestamps)) {
    for (ShutdownTimestamp t : {ShutdownTimestamp::late_start, ShutdownTimestamp::late_finish}) {
      if (late[t])
        out.header.set_timestamp(t, *late[t]);
    }
  }
  // A Stage A unit becomes a Stage B unit at its first entry in the mapping, so units left
  // without entries are omitted.
  std::size_t open_unit = staged.units.size();
  out.units.reserve(staged.units.size());
  walk_tokens(staged, preserve, [&](std::size_t u, const StageAEntry& e, std::uint64_t token) {
    if (u != open_unit) {
      out.units.push_back(UnitEntries<StageBEntry>{staged.units[u].unit, {}});
      out.units.back().fdstore.reserve(staged.units[u].fdstore.size());
      open_unit = u;
    }
    out.units.back().fdstore.push_back(
        StageBEntry{e.type, e.name, token, e.type == EntryType::luo_session ? e.session_name : ""});
  });
  return out;
}

std::size_t preserve_in_order(const StageA& staged, const PreserveFn& preserve) {
  return walk_tokens(staged, preserve, [](std::size_t, const StageAEntry&, std::uint64_t) {});
}

}  // namespace luo::handoff
