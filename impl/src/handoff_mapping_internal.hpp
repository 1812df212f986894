// The pieces impl/src/handoff_mapping*.cpp share: the JSON type the readers build, the exact
// reader's value rules that the header accessors and the fast reader reuse, and the fast
// reader's entry points. Not installed; only those four files include it.
//
//   handoff_mapping.cpp              entry and key names, Header, the Stage A -> B builder
//   handoff_mapping_writer.cpp       to_json(): the compact bytes, streamed
//   handoff_mapping_reader.cpp       parse_stage_a/b(): the exact (DOM) reader, every rule
//   handoff_mapping_fast_reader.cpp  the fast paths parse_stage_a/b() try first
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "luo/impl/handoff_mapping.hpp"

namespace luo::handoff::internal {

using Json = nlohmann::ordered_json;
// ordered_map is a public std::vector of key/value pairs. Appending to that vector directly
// keeps a repeated key as a second member, where ordered_map::emplace would fold it into the
// first; the readers need to see repeats to apply sd_json's rules to them.
using Members = Json::object_t::Container;

inline const Members& members(const Json& object) {
  return static_cast<const Members&>(object.get_ref<const Json::object_t&>());
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

// sd_json_dispatch_uint64() behind a field of type "any" (_SD_JSON_VARIANT_TYPE_INVALID): an
// unsigned number, or a string safe_atou64() accepts; null means "unset", UINT64_MAX.
std::optional<std::uint64_t> lenient_u64(const Json& v);
// sd_json_dispatch_uint32() behind a field of type "any"; null is no value.
std::optional<std::uint32_t> lenient_u32(const Json& v);
// sd_json_dispatch_uint32() behind SD_JSON_VARIANT_UNSIGNED: numbers only.
std::optional<std::uint32_t> strict_u32(const Json& v);

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

// Why `v` fails `check` under `key`, or nullopt when it passes.
std::optional<std::string> check_field(Check check, std::string_view key, const Json& v);

// Why a luo_session entry's sessionName is not one RETRIEVE_SESSION could find, or nullopt.
std::optional<std::string> session_name_problem(std::string_view s);

// The restoring PID 1's `state` table (262.1: KExecCount as UNSIGNED u32, the four timestamps
// as objects; extensions allowed), then the v261 counter as a fallback. A table 262.1's dispatch
// fails on is ignored as a whole, as 262.1 does (its restore jumps from the failed dispatch to the
// increment and restores the entries): reported, and false returned so the header reads no
// counter and no timestamp from it.
bool read_state(const Json& state, std::vector<Skipped>& skipped);

template <class Entry>
inline constexpr bool kStageA = std::is_same_v<Entry, StageAEntry>;

// The fast paths (handoff_mapping_fast_reader.cpp): the document read in one pass when it has
// the shape systemd writes and every rule accepts every entry, else nullopt, and the exact reader
// must read it.
std::optional<Parsed<StageA>> parse_fast_stage_a(std::string_view text);
std::optional<Parsed<StageB>> parse_fast_stage_b(std::string_view text);

}  // namespace luo::handoff::internal
