// The exact reader of both documents: the text built into an ordered_json (DomBuilder), then
// systemd 262.1's rules applied to it one by one, every skipped piece reported by path. The
// fast paths (handoff_mapping_fast_reader.cpp) are tried first and hand this reader everything
// outside the shape systemd writes.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <span>
#include <unordered_map>
#include <utility>

#include "handoff_mapping_internal.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/quoted_key.hpp"
#include "luo/impl/unit_name.hpp"
#include "luo/model/limits.hpp"

namespace luo::handoff::internal {

namespace {

// What a value is, for messages: numbers are shown (they are short and usually the point),
// anything else by kind only, so a megabyte string never lands in a message.
std::string describe(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
      return std::to_string(j.get<std::int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(j.get<std::uint64_t>());
    case Json::value_t::number_float:
      return "a floating-point number";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::binary:
      return "binary data";
    case Json::value_t::discarded:
      return "nothing";
  }
  return "?";
}

}  // namespace

namespace {

// safe_atou64() of systemd's parse-util, which sd_json_dispatch_uint64() applies to a string:
// leading whitespace, Python-style 0b/0o prefixes, then strtoull() with base 0 (so 0x hex and
// C's 0 octal too), the whole rest consumed, a minus sign only before zero.
std::optional<std::uint64_t> parse_u64_text(const std::string& text) {
  const char* s = text.c_str();
  s += std::strspn(s, " \t\n\r");
  int base = 0;
  if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
    base = 2;
    s += 2;
  } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8;
    s += 2;
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, base);
  if (errno != 0 || end == nullptr || end == s || *end != '\0')
    return std::nullopt;
  if (v != 0 && s[0] == '-')
    return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

// How sd_json turns a JSON number into an unsigned integer: a non-negative integer, or a float
// with an integral value in range (1.0, 1e0 and -0.0 count; 1.5 and 2^64 do not).
std::optional<std::uint64_t> number_as_u64(const Json& v) {
  if (v.is_number_unsigned())
    return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    return i >= 0 ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(i)) : std::nullopt;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(d >= 0.0) || d >= 18446744073709551616.0 || std::trunc(d) != d)
      return std::nullopt;
    return static_cast<std::uint64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> lenient_u64(const Json& v) {
  if (v.is_null())
    return std::numeric_limits<std::uint64_t>::max();
  if (v.is_string())
    return parse_u64_text(v.get_ref<const std::string&>());
  return number_as_u64(v);
}

namespace {

struct Slot {
  std::string_view key;
  Check check;
  const Json* value = nullptr;
};

struct FieldError {
  std::string key;
  std::string message;
};

}  // namespace

std::optional<std::uint32_t> lenient_u32(const Json& v) {
  if (v.is_null())
    return std::nullopt;
  auto u = lenient_u64(v);
  if (!u || *u > UINT32_MAX)
    return std::nullopt;
  return static_cast<std::uint32_t>(*u);
}

std::optional<std::uint32_t> strict_u32(const Json& v) {
  auto u = number_as_u64(v);
  if (!u || *u > UINT32_MAX)
    return std::nullopt;
  return static_cast<std::uint32_t>(*u);
}

namespace {

std::optional<int> lenient_int32(const Json& v) {
  if (v.is_number_integer() || v.is_number_unsigned() || v.is_number_float()) {
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::trunc(d) != d || d < INT32_MIN || d > INT32_MAX)
        return std::nullopt;
      return static_cast<int>(d);
    }
    if (v.is_number_unsigned())
      return v.get<std::uint64_t>() <= INT32_MAX
                 ? std::optional<int>(static_cast<int>(v.get<std::uint64_t>()))
                 : std::nullopt;
    const auto i = v.get<std::int64_t>();
    return i >= INT32_MIN && i <= INT32_MAX ? std::optional<int>(static_cast<int>(i))
                                            : std::nullopt;
  }
  return std::nullopt;
}

std::optional<FieldError> dispatch(const Json& object, std::span<Slot> slots);

}  // namespace

std::optional<std::string> check_field(Check check, std::string_view key, const Json& v) {
  const std::string field = "'" + std::string(key) + "'";
  switch (check) {
    case Check::string:
      if (v.is_string())
        return std::nullopt;
      return field + " is not a string (got " + describe(v) + ")";
    case Check::u64:
      if (lenient_u64(v))
        return std::nullopt;
      return field + " is not an unsigned integer, nor one formatted as a string (got " +
             describe(v) + ")";
    case Check::u32_strict:
      if (strict_u32(v))
        return std::nullopt;
      return field + " is not an unsigned 32-bit JSON number (got " + describe(v) + ")";
    case Check::u32:
      if (lenient_u32(v))
        return std::nullopt;
      return field + " is not an unsigned 32-bit integer (got " + describe(v) + ")";
    case Check::int32:
      if (lenient_int32(v))
        return std::nullopt;
      return field + " is not an int (got " + describe(v) + ")";
    case Check::object:
      if (v.is_object())
        return std::nullopt;
      return field + " is not a JSON object (got " + describe(v) + ")";
    case Check::timestamp: {
      if (!v.is_object())
        return field + " is not a JSON object (got " + describe(v) + ")";
      std::array<Slot, 2> fields{{{"realtime", Check::u64}, {"monotonic", Check::u64}}};
      if (auto bad = dispatch(v, fields))
        return field + "." + bad->key + ": " + bad->message;
      return std::nullopt;
    }
  }
  return field + " has an unknown check";
}

namespace {

// Fills the slots from `object` in document order and stops at the first problem, like
// sd_json_dispatch() with SD_JSON_ALLOW_EXTENSIONS: unknown keys are skipped, a known key
// repeated is an error (-ENOTUNIQ), a known key of the wrong type is an error.
std::optional<FieldError> dispatch(const Json& object, std::span<Slot> slots) {
  for (const auto& member : members(object)) {
    // Not a structured binding: clang 14 cannot capture one in the lambda.
    const std::string& key = member.first;
    const Json& value = member.second;
    auto slot =
        std::find_if(slots.begin(), slots.end(), [&](const Slot& s) { return s.key == key; });
    if (slot == slots.end())
      continue;
    if (slot->value)
      return FieldError{key, "duplicate '" + key + "' field"};
    if (auto bad = check_field(slot->check, key, value))
      return FieldError{key, *bad};
    slot->value = &value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> session_name_problem(std::string_view s) {
  if (s.empty())
    return "empty 'sessionName'";
  if (s.find('\0') != std::string_view::npos)
    return "'sessionName' contains a NUL byte";
  if (s.size() > kSessionNameMaxLength)
    return "'sessionName' is longer than " + std::to_string(kSessionNameMaxLength) + " bytes";
  if (s == kSessionName)
    return "session name \"systemd\" is reserved for the mapping's own session";
  return std::nullopt;
}

namespace {

// One fdstore entry, or why it is skipped. Checks run in systemd's order: the dispatch (types,
// repeats, mandatory type/name), then the per-type rules; the fd-name rule sits in between.
template <class Entry>
std::variant<Entry, std::string> read_entry(const Json& j) {
  if (!j.is_object())
    return "entry is not a JSON object (got " + describe(j) + ")";
  // Stage A carries the fd number, Stage B the token; the other stage's key is an extension.
  std::array<Slot, 4> slots{{{"type", Check::string},
                             {"name", Check::string},
                             kStageA<Entry> ? Slot{"fd", Check::int32} : Slot{"token", Check::u64},
                             {"sessionName", Check::string}}};
  if (auto bad = dispatch(j, slots))
    return std::move(bad->message);
  // Named references, not a structured binding: clang 14 cannot capture bindings in lambdas.
  const Slot& type_slot = slots[0];
  const Slot& name_slot = slots[1];
  const Slot& number_slot = slots[2];
  const Slot& session_slot = slots[3];
  if (!type_slot.value)
    return std::string("missing 'type' field");
  if (!name_slot.value)
    return std::string("missing 'name' field");
  const auto& type = type_slot.value->get_ref<const std::string&>();
  Entry e;
  e.name = name_slot.value->get_ref<const std::string&>();
  if (!fdname_is_valid(e.name))
    return "invalid fd name (allowed: bytes 0x20-0x7E except ':', at most " +
           std::to_string(kFdNameMax) + ")";

  auto read_fd = [&]() -> std::optional<std::string> {
    if constexpr (kStageA<Entry>) {
      if (!number_slot.value)
        return std::string("missing 'fd' field");
      e.fd = *lenient_int32(*number_slot.value);
      if (e.fd < 0)
        return "negative fd " + std::to_string(e.fd);
    }
    return std::nullopt;
  };

  if (type == "fd") {
    e.type = EntryType::fd;
    if constexpr (kStageA<Entry>) {
      if (auto bad = read_fd())
        return std::move(*bad);
    } else {
      if (!number_slot.value)
        return std::string("missing 'token' field");
      e.token = *lenient_u64(*number_slot.value);
      if (e.token == kMissingTokenSentinel)
        return "token is UINT64_MAX (or null), which systemd's reader takes for a missing token";
      if (e.token == kMappingToken)
        return "token " + std::to_string(kMappingToken) + " is reserved for the mapping memfd";
    }
    return e;
  }
  if (type == "luo_session") {
    e.type = EntryType::luo_session;
    if (!session_slot.value)
      return std::string("missing 'sessionName' field");
    e.session_name = session_slot.value->get_ref<const std::string&>();
    if (auto bad = session_name_problem(e.session_name))
      return std::move(*bad);
    if constexpr (kStageA<Entry>) {
      // Without its fd nothing holds the session open across the exec, so it is gone.
      if (auto bad = read_fd())
        return std::move(*bad);
    }
    return e;
  }
  return "unknown type " + quoted_key(type);
}

// Where an accepted entry sits, turned into a path only when a later entry conflicts with it.
struct EntryPlace {
  const std::string* unit;
  std::size_t index;
};

std::string entry_path(bool legacy, const std::string& unit, std::size_t index) {
  return (legacy ? "[" : "units[") + quoted_key(unit) + (legacy ? "][" : "].fdstore[") +
         std::to_string(index) + "]";
}

// Tokens, fd numbers and session names already taken by accepted entries, with the place of the
// entry that took them.
struct Claims {
  bool legacy = false;
  std::unordered_map<std::uint64_t, EntryPlace> tokens;
  std::unordered_map<int, EntryPlace> fds;
  std::unordered_map<std::string, EntryPlace> sessions;

  std::string path(const EntryPlace& p) const { return entry_path(legacy, *p.unit, p.index); }
};

template <class Entry>
std::optional<std::string> conflict(const Claims& claims, const Entry& e) {
  auto taken = [](const auto& map, const auto& key) -> const EntryPlace* {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  };
  if constexpr (kStageA<Entry>) {
    if (auto* by = taken(claims.fds, e.fd))
      return "fd " + std::to_string(e.fd) + " already used by " + claims.path(*by);
  } else {
    if (e.type == EntryType::fd) {
      if (auto* by = taken(claims.tokens, e.token))
        return "token " + std::to_string(e.token) + " already used by " + claims.path(*by);
    }
  }
  if (e.type == EntryType::luo_session) {
    if (auto* by = taken(claims.sessions, e.session_name))
      return "sessionName " + quoted_key(e.session_name) + " already claimed by " +
             claims.path(*by);
  }
  return std::nullopt;
}

template <class Entry>
void claim(Claims& claims, const Entry& e, EntryPlace place) {
  if constexpr (kStageA<Entry>) {
    claims.fds.emplace(e.fd, place);
  } else {
    if (e.type == EntryType::fd)
      claims.tokens.emplace(e.token, place);
  }
  if (e.type == EntryType::luo_session)
    claims.sessions.emplace(e.session_name, place);
}

// The unit map: `units` of format C, the whole document in format B.
template <class Entry>
void read_units(const Json& map, Format format, std::vector<UnitEntries<Entry>>& units,
                std::vector<Skipped>& skipped) {
  const bool legacy = format == Format::b_legacy;
  Claims claims;
  claims.legacy = legacy;
  for (const auto& member : members(map)) {
    // Named references, not a structured binding: lambdas capture these (clang 14 cannot
    // capture a binding).
    const std::string& unit = member.first;
    const Json& value = member.second;
    const auto unit_path = [&] { return (legacy ? "[" : "units[") + quoted_key(unit) + "]"; };
    if (!unit_name_is_valid(unit)) {
      skipped.push_back({unit_path(), "invalid unit name"});
      continue;
    }
    const Json* fdstore = nullptr;
    if (legacy) {
      if (!value.is_array()) {
        skipped.push_back(
            {unit_path(), "unit value is not a JSON array (got " + describe(value) + ")"});
        continue;
      }
      fdstore = &value;
    } else {
      if (!value.is_object()) {
        skipped.push_back(
            {unit_path(), "unit value is not a JSON object (got " + describe(value) + ")"});
        continue;
      }
      // systemd looks the key up with sd_json_variant_by_key(), which finds the first one.
      for (const auto& [key, field] : members(value)) {
        if (key != "fdstore")
          continue;
        if (fdstore)
          skipped.push_back(
              {unit_path() + ".fdstore", "duplicate 'fdstore' field: the first one is used"});
        else
          fdstore = &field;
      }
      if (!fdstore) {
        skipped.push_back({unit_path(), "missing 'fdstore' field"});
        continue;
      }
      if (!fdstore->is_array()) {
        skipped.push_back(
            {unit_path(), "'fdstore' is not a JSON array (got " + describe(*fdstore) + ")"});
        continue;
      }
    }
    UnitEntries<Entry> out{unit, {}};
    const auto& array = fdstore->get_ref<const Json::array_t&>();
    out.fdstore.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
      auto entry = read_entry<Entry>(array[i]);
      if (auto* reason = std::get_if<std::string>(&entry)) {
        skipped.push_back({entry_path(legacy, unit, i), std::move(*reason)});
        continue;
      }
      auto& e = std::get<Entry>(entry);
      if (auto reason = conflict(claims, e)) {
        skipped.push_back({entry_path(legacy, unit, i), std::move(*reason)});
        continue;
      }
      claim(claims, e, EntryPlace{&unit, i});
      out.fdstore.push_back(std::move(e));
    }
    units.push_back(std::move(out));
  }
}

}  // namespace

bool read_state(const Json& state, std::vector<Skipped>& skipped) {
  std::array<Slot, 1 + std::size(kAllShutdownTimestamps)> slots{};
  slots[0] = {kKexecCountKeyV262, Check::u32_strict};
  for (std::size_t i = 0; i < std::size(kAllShutdownTimestamps); ++i)
    slots[i + 1] = {shutdown_timestamp_key(kAllShutdownTimestamps[i]), Check::timestamp};
  if (auto bad = dispatch(state, slots)) {
    skipped.push_back({"state", "state." + bad->key + ": " + bad->message +
                                    ": `state` ignored, as systemd 262.1 does (counter restarts "
                                    "at 1, no previous shutdown timestamps)"});
    return false;
  }
  if (slots[0].value)
    return true;
  // 262 ignores kexecsCount; reading it keeps a v261 document's counter. A bad one is ignored
  // (with a note) rather than fatal, so this reader refuses nothing 262 accepts.
  const Json* legacy = nullptr;
  for (const auto& [key, value] : members(state)) {
    if (key != kKexecCountKeyV261)
      continue;
    if (legacy) {
      skipped.push_back({"state." + key, "duplicate '" + key + "' field: the counter is ignored"});
      return true;
    }
    legacy = &value;
  }
  if (legacy) {
    if (auto bad = check_field(Check::u32, kKexecCountKeyV261, *legacy))
      skipped.push_back({"state." + std::string(kKexecCountKeyV261), *bad + ": ignored"});
  }
  return true;
}

namespace {

// Every rule, every message.
template <class Doc, class Entry>
std::variant<Parsed<Doc>, ParseError> parse_exact(std::string_view text, AcceptLegacy accept) {
  DomBuilder dom;
  if (!Json::sax_parse(text.begin(), text.end(), &dom))
    return dom.error().value_or(ParseError{"", "malformed JSON"});
  const Json& root = dom.root();
  if (!root.is_object())
    return ParseError{"", "top level is not a JSON object (got " + describe(root) + ")"};

  Parsed<Doc> out;
  const Json* units = nullptr;
  const auto& top = members(root);
  const bool has_version =
      std::any_of(top.begin(), top.end(), [](const auto& m) { return m.first == "version"; });
  const bool all_arrays =
      std::all_of(top.begin(), top.end(), [](const auto& m) { return m.second.is_array(); });
  if (!has_version && all_arrays) {
    if (accept == AcceptLegacy::no)
      return ParseError{"version",
                        "missing 'version' field: this is a format-B (v261-rc1) document, which "
                        "this reader does not accept"};
    out.value.header = Header{Format::b_legacy, 0, std::nullopt};
    units = &root;
  } else {
    std::array<Slot, 3> slots{
        {{"version", Check::u64}, {"state", Check::object}, {"units", Check::object}}};
    if (auto bad = dispatch(root, slots))
      return ParseError{std::move(bad->key), std::move(bad->message)};
    const auto& [version, state, unit_map] = slots;
    if (!version.value)
      return ParseError{"version", "missing 'version' field"};
    out.value.header.format = Format::c_v1;
    out.value.header.version = *lenient_u64(*version.value);
    if (out.value.header.version > kProtocolVersion)
      return ParseError{"version", "unsupported version " +
                                       std::to_string(out.value.header.version) +
                                       ": systemd restores nothing from it"};
    if (state.value) {
      out.value.header.state_ignored = !read_state(*state.value, out.skipped);
      out.value.header.state = *state.value;
    }
    units = unit_map.value;
  }
  if (units)
    read_units<Entry>(*units, out.value.header.format, out.value.units, out.skipped);
  return out;
}

template <class Doc, class Entry>
std::variant<Parsed<Doc>, ParseError> parse(std::optional<Parsed<Doc>> fast, std::string_view text,
                                            AcceptLegacy accept) {
  if (fast)
    return std::move(*fast);
  return parse_exact<Doc, Entry>(text, accept);
}

}  // namespace

}  // namespace luo::handoff::internal

namespace luo::handoff {

std::variant<Parsed<StageA>, ParseError> parse_stage_a(std::string_view json, AcceptLegacy accept) {
  return internal::parse<StageA, StageAEntry>(internal::parse_fast_stage_a(json), json, accept);
}

std::variant<Parsed<StageB>, ParseError> parse_stage_b(std::string_view json, AcceptLegacy accept) {
  return internal::parse<StageB, StageBEntry>(internal::parse_fast_stage_b(json), json, accept);
}

namespace detail {

std::variant<Parsed<StageA>, ParseError> parse_stage_a_exact(std::string_view json,
                                                             AcceptLegacy accept) {
  return internal::parse_exact<StageA, StageAEntry>(json, accept);
}

std::variant<Parsed<StageB>, ParseError> parse_stage_b_exact(std::string_view json,
                                                             AcceptLegacy accept) {
  return internal::parse_exact<StageB, StageBEntry>(json, accept);
}

}  // namespace detail

std::string parse_error_detail(std::string_view what) {
  if (what.starts_with("[json.exception.")) {
    if (auto end = what.find("] "); end != std::string_view::npos)
      what.remove_prefix(end + 2);
  }
  if (what.starts_with("parse error at line ")) {
    if (auto colon = what.find(": "); colon != std::string_view::npos)
      what.remove_prefix(colon + 2);
  }
  std::string kept(what);
  if (kept.starts_with("number overflow parsing '"))
    kept = "number overflow";
  constexpr std::string_view kLastRead = "; last read: '";
  if (auto start = kept.find(kLastRead); start != std::string::npos) {
    constexpr std::string_view kExpected = "'; expected ";
    auto expected = kept.rfind(kExpected);
    kept = kept.substr(0, start) +
           (expected != std::string::npos && expected >= start + kLastRead.size()
                ? "; expected " + kept.substr(expected + kExpected.size())
                : std::string());
  }
  constexpr std::size_t kMaxDetail = 160;
  std::string out;
  for (char c : kept) {
    if (out.size() == kMaxDetail) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += byte >= 0x20 && byte <= 0x7E ? c : '?';
  }
  return out;
}

}  // namespace luo::handoff
