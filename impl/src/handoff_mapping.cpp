#include "luo/impl/handoff_mapping.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "luo/impl/quoted_key.hpp"
#include "luo/impl/unit_name.hpp"
#include "luo/model/limits.hpp"

// Deliberate bugs for the mutation report, compiled only into the test-only library copy
// luo_impl_mutants (tests/mutants/); the shipped library has no mutation point.
#ifdef LUO_TEST_MUTANTS
#include "luo/test/mutants.hpp"
#endif

namespace luo::handoff {

namespace {

using Json = nlohmann::ordered_json;
// ordered_map is a public std::vector of key/value pairs. Appending to that vector directly
// keeps a repeated key as a second member, where ordered_map::emplace would fold it into the
// first; the readers need to see repeats to apply sd_json's rules to them.
using Members = Json::object_t::Container;

const Members& members(const Json& object) {
  return static_cast<const Members&>(object.get_ref<const Json::object_t&>());
}

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

// nlohmann's what() is "[json.exception.parse_error.101] parse error at line 1, column 2:
// syntax error while parsing value - <lexer message>; last read: '<token>'; expected <what>", or
// "[json.exception.out_of_range.406] number overflow parsing '<token>'". The prefixes repeat
// the offset, and a token is raw input: a megabyte of an unterminated string or of digits, or
// bytes that are not text. Keep the rest, printable and short.
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

// Builds the document from nlohmann's SAX events: an ordered_json that keeps repeated keys, and
// a depth limit, so a hostile document can neither hide a repeat nor exhaust the stack of the
// recursive code that later copies or dumps `state`.
class DomBuilder {
 public:
  // `max_depth` counts the containers open at once; a subtree captured by the fast reader
  // (FastReader below) passes the depth still left at the subtree's root.
  explicit DomBuilder(std::size_t max_depth = kMaxJsonDepth) : max_depth_(max_depth) {}

  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  bool null() { return add(Json(nullptr)); }
  bool boolean(bool v) { return add(Json(v)); }
  bool number_integer(number_integer_t v) { return add(Json(v)); }
  bool number_unsigned(number_unsigned_t v) { return add(Json(v)); }
  bool number_float(number_float_t v, const string_t& /*text*/) { return add(Json(v)); }
  bool string(string_t& v) {
    if (!nul_free(v))
      return false;
    return add(Json(std::move(v)));
  }
  // Only binary formats (CBOR, MessagePack, ...) produce these; JSON text never does.
  bool binary(binary_t& /*v*/) { return false; }
  bool start_object(std::size_t /*elements*/) { return open(Json::object()); }
  bool key(string_t& k) {
    if (!nul_free(k))
      return false;
    key_ = std::move(k);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*elements*/) { return open(Json::array()); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    // `position` counts the bytes read including the one that failed (or the end of input),
    // so the failing byte's offset is one less.
    const std::size_t offset = position == 0 ? 0 : position - 1;
    error_ = ParseError{"", "malformed JSON at byte " + std::to_string(offset) + ": " +
                                parse_error_detail(ex.what())};
    return false;
  }

  const Json& root() const { return root_; }
  Json& root() { return root_; }
  const std::optional<ParseError>& error() const { return error_; }
  // How many containers are open: 0 once the root value is complete.
  std::size_t open_containers() const { return stack_.size(); }

 private:
  // sd_json refuses a string holding \u0000 while parsing, so systemd reads nothing of such a
  // document (measured: sd_json_parse() gives EINVAL).
  bool nul_free(const string_t& s) {
    if (s.find('\0') == string_t::npos)
      return true;
    error_ = ParseError{"", "a JSON string contains \\u0000, which sd_json refuses"};
    return false;
  }
  // Returns where the value landed, for open() to push.
  Json* place(Json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      auto& array = parent.get_ref<Json::array_t&>();
      array.push_back(std::move(v));
      return &array.back();
    }
    auto& object = static_cast<Members&>(parent.get_ref<Json::object_t&>());
    object.emplace_back(std::move(key_), std::move(v));
    return &object.back().second;
  }
  bool add(Json v) {
    place(std::move(v));
    return true;
  }
  bool open(Json container) {
    if (stack_.size() >= max_depth_) {
      error_ =
          ParseError{"", "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
      return false;
    }
    // Pointers into the parent stay valid: a container only grows while it is the innermost
    // open one, and then nothing below it on the stack points into it.
    stack_.push_back(place(std::move(container)));
    return true;
  }

  std::size_t max_depth_;
  Json root_;
  std::vector<Json*> stack_;
  std::string key_;
  std::optional<ParseError> error_;
};

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

// sd_json_dispatch_uint64() behind a field of type "any" (_SD_JSON_VARIANT_TYPE_INVALID): an
// unsigned number, or a string safe_atou64() accepts; null means "unset", UINT64_MAX.
std::optional<std::uint64_t> lenient_u64(const Json& v) {
  if (v.is_null())
    return std::numeric_limits<std::uint64_t>::max();
  if (v.is_string())
    return parse_u64_text(v.get_ref<const std::string&>());
  return number_as_u64(v);
}

// The field checks sd_json_dispatch() applies with the types and helpers systemd's tables name.
enum class Check {
  string,      // SD_JSON_VARIANT_STRING
  u64,         // any type, sd_json_dispatch_uint64: lenient_u64()
  u32_strict,  // SD_JSON_VARIANT_UNSIGNED, sd_json_dispatch_uint32: numbers only, <= 2^32-1
  u32,         // any type, sd_json_dispatch_uint32 (v261's kexecsCount)
  int32,       // any type, sd_json_dispatch_int (Stage A's fd)
  object,      // SD_JSON_VARIANT_OBJECT
  timestamp,   // SD_JSON_VARIANT_OBJECT, json_dispatch_dual_timestamp
};

struct Slot {
  std::string_view key;
  Check check;
  const Json* value = nullptr;
};

struct FieldError {
  std::string key;
  std::string message;
};

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

template <class Entry>
inline constexpr bool kStageA = std::is_same_v<Entry, StageAEntry>;

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

// The restoring PID 1's `state` table (262.1: KExecCount as UNSIGNED u32, the four timestamps
// as objects; extensions allowed), then the v261 counter as a fallback. A table 262.1's dispatch
// fails on is ignored as a whole, as 262.1 does (its restore jumps from the failed dispatch to the
// increment and restores the entries): reported, and false returned so the header reads no
// counter and no timestamp from it.
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

// The fast path of both readers: one pass of nlohmann's SAX events straight into the result, no
// tree of the units. It takes only the shape systemd writes (format C; `version` an unsigned
// number; `state` an object; `units` an object of {"fdstore":[...]} whose entries carry known
// keys with their canonical JSON types, each once) and entries every rule accepts, with no
// token, fd or sessionName claimed twice. On the first event outside that shape it gives up
// (`false` stops the parse), and parse() reads the document again with the DOM reader below,
// which alone applies every rule and writes every message: anything the fast path returns, the
// DOM reader would have returned too, so the two cannot disagree in what they accept or report.
// `state` is small and copied through verbatim, so it is built as a DOM by DomBuilder and read
// with the DOM reader's own read_state().
template <class Doc, class Entry>
class FastReader {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit FastReader(Parsed<Doc>& out) : out_(out) {}

  bool null() { return capturing() && capture_->null() && captured(); }
  bool boolean(bool v) { return capturing() && capture_->boolean(v) && captured(); }
  bool number_integer(number_integer_t v) {
    return capturing() && capture_->number_integer(v) && captured();
  }
  bool number_float(number_float_t v, const string_t& text) {
    return capturing() && capture_->number_float(v, text) && captured();
  }
  bool binary(binary_t& /*v*/) { return false; }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) {
    return false;
  }

  bool number_unsigned(number_unsigned_t v) {
    if (capturing())
      return capture_->number_unsigned(v) && captured();
    switch (at_) {
      case At::version:
        if (v > kProtocolVersion)
          return false;
        out_.value.header.version = v;
        at_ = At::top;
        return true;
      case At::entry_number:
        if constexpr (kStageA<Entry>) {
          if (v > static_cast<number_unsigned_t>(INT32_MAX))
            return false;
          entry_.fd = static_cast<int>(v);
        } else {
          entry_.token = v;
        }
        at_ = At::entry;
        return true;
      default:
        return false;
    }
  }

  bool string(string_t& v) {
    if (capturing())
      return capture_->string(v) && captured();
    if (at_ != At::entry_string || std::memchr(v.data(), '\0', v.size()) != nullptr)
      return false;
    switch (field_) {
      case Field::type:
        if (std::string_view(v) == "fd") {
          entry_.type = EntryType::fd;
        } else if (std::string_view(v) == "luo_session") {
          entry_.type = EntryType::luo_session;
        } else {
          return false;
        }
        break;
      case Field::name:
        entry_.name = v;
        break;
      case Field::session_name:
        entry_.session_name = v;
        break;
      case Field::number:
        return false;
    }
    at_ = At::entry;
    return true;
  }

  bool key(string_t& text) {
    if (capturing())
      return capture_->key(text);
    // A view compares the length first and needs no strlen() of the literal.
    const std::string_view k = text;
    switch (at_) {
      case At::top:
        if (k == "version")
          return take(Seen::version, At::version);
        if (k == "state")
          return take(Seen::state, At::state);
        if (k == "units")
          return take(Seen::units, At::units);
        return false;
      case At::units:
        // A unit the restore skips, and a NUL systemd's parser refuses, go to the DOM reader.
        if (std::memchr(k.data(), '\0', k.size()) != nullptr || !unit_name_is_valid(k))
          return false;
        out_.value.units.push_back(UnitEntries<Entry>{text, {}});
        at_ = At::unit_value;
        return true;
      case At::unit:
        if (k != "fdstore" || unit_has_fdstore_)
          return false;
        unit_has_fdstore_ = true;
        at_ = At::fdstore_value;
        return true;
      case At::entry:
        return entry_key(k);
      default:
        return false;
    }
  }

  bool start_object(std::size_t elements) {
    if (capturing())
      return capture_->start_object(elements);
    switch (at_) {
      case At::start:
        at_ = At::top;
        return true;
      case At::state:
        // The root is open at depth 1 already.
        capture_.emplace(kMaxJsonDepth - 1);
        return capture_->start_object(elements);
      case At::units:
        return false;
      case At::units_value:
        at_ = At::units;
        return true;
      case At::unit_value:
        unit_has_fdstore_ = false;
        at_ = At::unit;
        return true;
      case At::array:
        entry_ = Entry{};
        entry_seen_ = 0;
        at_ = At::entry;
        return true;
      default:
        return false;
    }
  }

  bool end_object() {
    if (capturing())
      return capture_->end_object() && captured();
    switch (at_) {
      case At::top:
        at_ = At::done;
        return (seen_ & bit(Seen::version)) != 0;
      case At::units:
        at_ = At::top;
        return true;
      case At::unit:
        // Without `fdstore` the DOM reader reports the unit skipped.
        if (!unit_has_fdstore_)
          return false;
        at_ = At::units;
        return true;
      case At::entry:
        if (!entry_acceptable())
          return false;
        out_.value.units.back().fdstore.push_back(std::move(entry_));
        at_ = At::array;
        return true;
      default:
        return false;
    }
  }

  bool start_array(std::size_t elements) {
    if (capturing())
      return capture_->start_array(elements);
    if (at_ != At::fdstore_value)
      return false;
    at_ = At::array;
    return true;
  }

  bool end_array() {
    if (capturing())
      return capture_->end_array() && captured();
    if (at_ != At::array)
      return false;
    at_ = At::unit;
    return true;
  }

  // After a successful parse: the document was complete and no two accepted entries claim the
  // same token, fd number or session, which the DOM reader would report.
  bool finish() {
    if (at_ != At::done || !unique(numbers_) || !unique(sessions_))
      return false;
    out_.value.header.format = Format::c_v1;
    if (state_) {
      out_.value.header.state_ignored = !read_state(*state_, out_.skipped);
      out_.value.header.state = std::move(*state_);
    }
    return true;
  }

 private:
  enum class At : std::uint8_t {
    start,
    top,
    version,
    state,
    units_value,
    units,
    unit_value,
    unit,
    fdstore_value,
    array,
    entry,
    entry_string,
    entry_number,
    done,
  };
  enum class Seen : std::uint8_t { version, state, units };
  enum class Field : std::uint8_t { type, name, number, session_name };
  static constexpr unsigned bit(Seen s) { return 1u << static_cast<unsigned>(s); }
  static constexpr unsigned bit(Field f) { return 1u << static_cast<unsigned>(f); }

  // A repeated top-level key is the DOM reader's error to report.
  bool take(Seen s, At next) {
    if ((seen_ & bit(s)) != 0)
      return false;
    seen_ |= bit(s);
    at_ = s == Seen::units ? At::units_value : next;
    return true;
  }

  bool entry_key(std::string_view k) {
    Field f;
    if (k == "type") {
      f = Field::type;
    } else if (k == "name") {
      f = Field::name;
    } else if (k == (kStageA<Entry> ? "fd" : "token")) {
      f = Field::number;
    } else if (k == "sessionName") {
      f = Field::session_name;
    } else {
      return false;
    }
    if ((entry_seen_ & bit(f)) != 0)
      return false;
    entry_seen_ |= bit(f);
    field_ = f;
    at_ = f == Field::number ? At::entry_number : At::entry_string;
    return true;
  }

  // read_entry()'s rules, as a yes/no: every entry they would skip goes to the DOM reader.
  bool entry_acceptable() {
    if ((entry_seen_ & bit(Field::type)) == 0 || (entry_seen_ & bit(Field::name)) == 0 ||
        !fdname_is_valid(entry_.name)) {
      return false;
    }
    const bool has_number = (entry_seen_ & bit(Field::number)) != 0;
    if (entry_.type == EntryType::fd) {
      // read_entry() leaves an fd entry's sessionName unread.
      entry_.session_name.clear();
      if (!has_number)
        return false;
      if constexpr (kStageA<Entry>) {
        numbers_.push_back(static_cast<std::uint64_t>(entry_.fd));
      } else {
        if (entry_.token == kMissingTokenSentinel || entry_.token == kMappingToken)
          return false;
        numbers_.push_back(entry_.token);
      }
      return true;
    }
    if ((entry_seen_ & bit(Field::session_name)) == 0 || session_name_problem(entry_.session_name))
      return false;
    if constexpr (kStageA<Entry>) {
      // Stage A's luo_session holds its session by fd: a claimed number, like an fd entry's.
      if (!has_number)
        return false;
      numbers_.push_back(static_cast<std::uint64_t>(entry_.fd));
    } else {
      // read_entry() does not read a luo_session entry's token.
      entry_.token = 0;
    }
    sessions_.push_back(entry_.session_name);
    return true;
  }

  // True when no value repeats. Tokens systemd-shutdown writes ascend, so the common case is one
  // scan; anything else is sorted.
  template <class T>
  static bool unique(std::vector<T>& values) {
    if (std::adjacent_find(values.begin(), values.end(), std::greater_equal<>()) == values.end())
      return true;
    std::sort(values.begin(), values.end());
    return std::adjacent_find(values.begin(), values.end()) == values.end();
  }

  bool capturing() const { return capture_.has_value(); }
  // Ends the capture once `state` is complete.
  bool captured() {
    if (capture_->open_containers() == 0) {
      state_ = std::move(capture_->root());
      capture_.reset();
      at_ = At::top;
    }
    return true;
  }

  Parsed<Doc>& out_;
  At at_ = At::start;
  unsigned seen_ = 0;
  bool unit_has_fdstore_ = false;
  Entry entry_;
  unsigned entry_seen_ = 0;
  Field field_ = Field::type;
  std::vector<std::uint64_t> numbers_;
  std::vector<std::string> sessions_;
  std::optional<DomBuilder> capture_;
  std::optional<Json> state_;
};

// nlohmann's lexer costs about 70 instructions a byte (it keeps every byte of the current token
// for its messages), most of the restore's time at 10,000 entries. The documents the writers
// produce use a small part of JSON: no whitespace but at the end (stage_b() pads the mapping
// with spaces), strings of printable ASCII without escapes, unsigned integers of at most 19
// digits. For such text this gives `handler` the very events nlohmann's sax_parse() would, in
// the same order, and returns what sax_parse() would return; at the first byte outside that part
// it returns nullopt, having possibly fed `handler` some events, and the caller reads the text
// again with nlohmann and a fresh handler. It never reports an error of its own: invalid JSON
// is outside the part too.
template <class Handler>
std::optional<bool> compact_sax_parse(std::string_view text, Handler& handler) {
  constexpr std::size_t kUnknownSize = static_cast<std::size_t>(-1);
  // Deeper than the readers allow: nlohmann reads it, and they refuse it.
  std::array<bool, kMaxJsonDepth + 1> in_object{};
  std::size_t depth = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  std::string token;
  // A string's contents after its opening quote, into `token`; false outside the subset.
  const auto read_string = [&]() {
    const char* const start = p;
    while (p != end) {
      const auto byte = static_cast<unsigned char>(*p);
      if (byte == '"') {
        token.assign(start, p);
        ++p;
        return true;
      }
      if (byte < 0x20 || byte > 0x7E || byte == '\\')
        return false;
      ++p;
    }
    return false;
  };
  enum class Next : std::uint8_t { value, key, after_value };
  Next next = Next::value;
  for (;;) {
    switch (next) {
      case Next::value: {
        if (p == end)
          return std::nullopt;
        const char c = *p++;
        if (c == '{' || c == '[') {
          if (depth == in_object.size())
            return std::nullopt;
          const bool object = c == '{';
          if (!(object ? handler.start_object(kUnknownSize) : handler.start_array(kUnknownSize)))
            return false;
          if (p != end && *p == (object ? '}' : ']')) {
            ++p;
            if (!(object ? handler.end_object() : handler.end_array()))
              return false;
            next = Next::after_value;
          } else {
            in_object[depth++] = object;
            next = object ? Next::key : Next::value;
          }
        } else if (c == '"') {
          if (!read_string())
            return std::nullopt;
          if (!handler.string(token))
            return false;
          next = Next::after_value;
        } else if (c >= '0' && c <= '9') {
          // nlohmann refuses a leading zero; 19 digits always fit in a u64, 20 may not.
          std::uint64_t value = static_cast<std::uint64_t>(c - '0');
          int digits = 1;
          while (p != end && *p >= '0' && *p <= '9') {
            if (c == '0' || ++digits > 19)
              return std::nullopt;
            value = value * 10 + static_cast<std::uint64_t>(*p++ - '0');
          }
          if (p != end && (*p == '.' || *p == 'e' || *p == 'E'))
            return std::nullopt;
          if (!handler.number_unsigned(value))
            return false;
          next = Next::after_value;
        } else {
          return std::nullopt;
        }
        break;
      }
      case Next::key:
        if (p == end || *p++ != '"' || !read_string() || p == end || *p++ != ':')
          return std::nullopt;
        if (!handler.key(token))
          return false;
        next = Next::value;
        break;
      case Next::after_value:
        if (depth == 0) {
          // sax_parse() takes trailing whitespace, and nothing else, after the root value.
          while (p != end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
            ++p;
          return p == end ? std::optional<bool>(true) : std::nullopt;
        }
        if (p == end)
          return std::nullopt;
        if (*p == ',') {
          ++p;
          next = in_object[depth - 1] ? Next::key : Next::value;
        } else if (*p == (in_object[depth - 1] ? '}' : ']')) {
          ++p;
          --depth;
          if (!(in_object[depth] ? handler.end_object() : handler.end_array()))
            return false;
        } else {
          return std::nullopt;
        }
        break;
    }
  }
}

// The fast paths of parse(): the compact reader above, then nlohmann's SAX, both feeding a
// FastReader. nullopt: the document needs the exact reader.
template <class Doc, class Entry>
std::optional<Parsed<Doc>> parse_fast(std::string_view text) {
  {
    Parsed<Doc> fast;
    FastReader<Doc, Entry> reader(fast);
    if (const auto compact = compact_sax_parse(text, reader)) {
      // nlohmann would give the same events, so its pass would end the same way.
      if (*compact && reader.finish())
        return fast;
      return std::nullopt;
    }
  }
  Parsed<Doc> fast;
  FastReader<Doc, Entry> reader(fast);
  if (Json::sax_parse(text.begin(), text.end(), &reader) && reader.finish())
    return fast;
  return std::nullopt;
}

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
std::variant<Parsed<Doc>, ParseError> parse(std::string_view text, AcceptLegacy accept) {
  if (auto fast = parse_fast<Doc, Entry>(text))
    return std::move(*fast);
  return parse_exact<Doc, Entry>(text, accept);
}

// Compact, as sd_json_variant_format(v, 0); `replace` because dump() would otherwise throw on a
// string that is not UTF-8.
void append_json(std::string& out, const Json& value) {
  out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A JSON string. Printable ASCII without '"' and '\\' (every unit id, fd name and session name
// systemd writes) needs no escaping and is copied; anything else goes through nlohmann, which
// escapes and replaces bytes that are not UTF-8.
void append_string(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7F && c != '"' && c != '\\';
  });
  if (!plain) {
    append_json(out, Json(s));
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

// A number as JSON writes it, without a temporary string.
template <class Int>
void append_number(std::string& out, Int value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

// The bytes of the compact dump of {type, name, fd, sessionName?}, without building it.
void append_entry(std::string& out, const StageAEntry& e) {
  out += "{\"type\":";
  append_string(out, entry_type_name(e.type));
  out += ",\"name\":";
  append_string(out, e.name);
  out += ",\"fd\":";
  append_number(out, e.fd);
  if (!e.session_name.empty()) {
    out += ",\"sessionName\":";
    append_string(out, e.session_name);
  }
  out += '}';
}

// {type, name, token} or {type, name, sessionName}.
void append_entry(std::string& out, const StageBEntry& e) {
  out += "{\"type\":";
  append_string(out, entry_type_name(e.type));
  out += ",\"name\":";
  append_string(out, e.name);
  switch (e.type) {
    case EntryType::fd:
      out += ",\"token\":";
      append_number(out, e.token);
      break;
    case EntryType::luo_session:
      out += ",\"sessionName\":";
      append_string(out, e.session_name);
      break;
  }
  out += '}';
}

// Streams the document instead of building it whole: the bytes are those of the compact dump of
// {version, state, units: {unit: {fdstore: [...]}}}, but a store set of 10,000 entries costs no
// tree of all of them and no linear key search per unit.
template <class Entry>
std::string write(const Header& header, const std::vector<UnitEntries<Entry>>& units) {
  const bool legacy = header.format == Format::b_legacy;
  // A unit given twice is written once, at its first position, with both lists. Only then are
  // the lists gathered; otherwise the units are written as they are.
  std::vector<const UnitEntries<Entry>*> order;
  std::unordered_map<std::string_view, std::size_t> position;
  std::size_t entries = 0;
  std::size_t bytes = 0;
  bool repeated = false;
  for (const auto& unit : units) {
    if (unit.fdstore.empty())
      continue;
    if (position.try_emplace(unit.unit, order.size()).second)
      order.push_back(&unit);
    else
      repeated = true;
    entries += unit.fdstore.size();
    bytes += unit.unit.size() + 16;
    for (const auto& e : unit.fdstore)
      bytes += e.name.size() + e.session_name.size();
  }
  std::vector<std::vector<const Entry*>> lists;
  if (repeated) {
    lists.resize(order.size());
    for (const auto& unit : units) {
      if (unit.fdstore.empty())
        continue;
      auto& list = lists[position.at(unit.unit)];
      for (const auto& e : unit.fdstore)
        list.push_back(&e);
    }
  }
  std::string out;
  // Beyond the names, an entry's keys, punctuation and number take under 64 bytes.
  out.reserve(bytes + 64 * entries + 256);
  if (!legacy) {
    out += "{\"version\":";
    append_number(out, header.version);
    if (header.state) {
      out += ",\"state\":";
      append_json(out, *header.state);
    }
    if (order.empty())
      return out + "}";
    out += ",\"units\":";
  }
  out += '{';
  for (std::size_t u = 0; u < order.size(); ++u) {
    if (u > 0)
      out += ',';
    append_string(out, order[u]->unit);
    out += legacy ? ":[" : ":{\"fdstore\":[";
    if (repeated) {
      for (std::size_t i = 0; i < lists[u].size(); ++i) {
        if (i > 0)
          out += ',';
        append_entry(out, *lists[u][i]);
      }
    } else {
      bool first = true;
      for (const auto& e : order[u]->fdstore) {
        if (!first)
          out += ',';
        first = false;
        append_entry(out, e);
      }
    }
    out += legacy ? "]" : "]}";
  }
  out += '}';
  if (!legacy)
    out += '}';
  return out;
}

}  // namespace

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

std::string to_json(const StageA& doc) {
  return write(doc.header, doc.units);
}
std::string to_json(const StageB& doc) {
  return write(doc.header, doc.units);
}

std::variant<Parsed<StageA>, ParseError> parse_stage_a(std::string_view json, AcceptLegacy accept) {
  return parse<StageA, StageAEntry>(json, accept);
}

std::variant<Parsed<StageB>, ParseError> parse_stage_b(std::string_view json, AcceptLegacy accept) {
  return parse<StageB, StageBEntry>(json, accept);
}

namespace detail {

std::variant<Parsed<StageA>, ParseError> parse_stage_a_exact(std::string_view json,
                                                             AcceptLegacy accept) {
  return parse_exact<StageA, StageAEntry>(json, accept);
}

std::variant<Parsed<StageB>, ParseError> parse_stage_b_exact(std::string_view json,
                                                             AcceptLegacy accept) {
  return parse_exact<StageB, StageBEntry>(json, accept);
}

}  // namespace detail

}  // namespace luo::handoff
