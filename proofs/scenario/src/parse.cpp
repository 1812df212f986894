// A scenario document checked whole against the op table before anything runs
// (luo/scenario/scenario.hpp).
#include <cstdint>
#include <limits>

#include "luo/adapters/simulated_kernel.hpp"
#include "luo/model/errno.hpp"
#include "luo/model/fd_store_machine.hpp"
#include "luo/scenario/scenario.hpp"
#include "luo/scenario/text.hpp"

namespace luo::scenario {
namespace {

// Results an `expect` may name besides errno names.
bool known_result(std::string_view s) {
  return s == "ok" || s == "any" || s == "mismatch" ||
         (s != "OK" && errno_from_name(s).has_value());
}

std::string type_name(FieldType t) {
  switch (t) {
    case FieldType::string:
      return "a string";
    case FieldType::u64:
      return "an unsigned integer";
    case FieldType::u32:
      return "an unsigned 32-bit integer";
    case FieldType::boolean:
      return "true or false";
    case FieldType::errno_name:
      return "an errno name such as \"EIO\"";
    case FieldType::fault:
      return "a fault name";
    case FieldType::preserve_mode:
      return "a preserve mode (no, yes, restart, on-success)";
  }
  return "?";
}

bool has_type(const Json& v, FieldType t) {
  switch (t) {
    case FieldType::string:
      return v.is_string();
    case FieldType::u64:
      return v.is_number_unsigned();
    case FieldType::u32:
      return v.is_number_unsigned() &&
             v.get<std::uint64_t>() <= std::numeric_limits<std::uint32_t>::max();
    case FieldType::boolean:
      return v.is_boolean();
    case FieldType::errno_name:
      return v.is_string() && v.get<std::string>() != "OK" &&
             errno_from_name(v.get<std::string>()).has_value();
    case FieldType::fault:
      return v.is_string() && sim_fault_from_name(v.get<std::string>()).has_value();
    case FieldType::preserve_mode:
      return v.is_string() && parse_preserve_mode(v.get<std::string>()).has_value();
  }
  return false;
}

// A value for an error message: scalars as JSON, containers by kind only (a deeply nested one
// would cost a deep recursion to print, and says nothing more).
std::string shown(const Json& v) {
  if (v.is_object())
    return "an object";
  if (v.is_array())
    return "an array";
  std::string text = dump(v);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

std::optional<ScenarioError> validate_op(const Json& op, const std::string& path) {
  if (!op.is_object())
    return ScenarioError{path, "an operation is a JSON object with an \"op\" field"};
  if (!op.contains("op") || !op["op"].is_string())
    return ScenarioError{path + ".op", "missing or not a string"};
  const std::string name = op["op"].get<std::string>();
  const OpSpec* spec = find_op(name);
  if (spec == nullptr)
    return ScenarioError{path + ".op", "unknown operation \"" + name + "\""};
  for (const auto& [key, value] : op.items()) {
    bool common = false;
    for (auto c : common_fields())
      common = common || c == key;
    if (common)
      continue;
    const FieldSpec* field = nullptr;
    for (const FieldSpec& f : spec->fields) {
      if (f.name == key)
        field = &f;
    }
    if (field == nullptr)
      return ScenarioError{path + "." + key, "unknown field for \"" + name + "\""};
    if (!has_type(value, field->type))
      return ScenarioError{path + "." + key,
                           "expected " + type_name(field->type) + ", got " + shown(value)};
  }
  for (const FieldSpec& f : spec->fields) {
    if (f.required && !op.contains(f.name))
      return ScenarioError{path + "." + std::string(f.name),
                           "missing (" + std::string(f.help) + ")"};
  }
  if (op.contains("expect") &&
      (!op["expect"].is_string() || !known_result(op["expect"].get<std::string>()))) {
    return ScenarioError{
        path + ".expect",
        "expected \"ok\", \"any\", \"mismatch\" or an errno name, got " + shown(op["expect"])};
  }
  if (op.contains("comment") && !op["comment"].is_string())
    return ScenarioError{path + ".comment", "expected a string"};
  if (name == "store_add" && op.contains("memfd") == op.contains("session"))
    return ScenarioError{path, "store_add takes exactly one of \"memfd\" and \"session\""};
  return std::nullopt;
}

}  // namespace

std::string op_path(std::size_t index) {
  return "operations[" + std::to_string(index) + "]";
}

std::variant<Scenario, ScenarioError> parse(const Json& doc) {
  Scenario s;
  const Json* ops = &doc;
  if (doc.is_object()) {
    for (const auto& [key, value] : doc.items()) {
      if (key == "profile") {
        auto p = value.is_string() ? parse_profile(value.get<std::string>()) : std::nullopt;
        if (!p)
          return ScenarioError{"profile",
                               "expected \"6.19\", \"7.0\", \"7.1\", \"7.2\" or \"7.3\""};
        s.profile = *p;
      } else if (key == "luo") {
        if (!value.is_boolean())
          return ScenarioError{"luo", "expected true or false"};
        s.luo_enabled = value.get<bool>();
      } else if (key != "description" && key != "operations") {
        return ScenarioError{key, "unknown field (profile, luo, description, operations)"};
      }
    }
    if (!doc.contains("operations"))
      return ScenarioError{"operations", "missing"};
    ops = &doc["operations"];
  }
  if (!ops->is_array())
    return ScenarioError{doc.is_object() ? "operations" : "",
                         "expected a JSON array of operations"};
  for (std::size_t i = 0; i < ops->size(); ++i) {
    if (auto err = validate_op((*ops)[i], op_path(i)))
      return *err;
    s.operations.push_back((*ops)[i]);
  }
  return s;
}

}  // namespace luo::scenario
