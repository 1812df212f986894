// luo/impl/unit_name.hpp: systemd's unit-name rules, for the unit ids that key the fd-store
// handoff mappings (spec systemd-luo.md §3.3, §3.6.2 step 7).
//
// The restoring PID 1 skips every unit id that fails `unit_name_is_valid(id, UNIT_NAME_ANY)`
// ("Invalid unit name '%s' in LUO mapping, skipping."), so a mapping reader must apply exactly
// the same rules: a stricter check loses fds systemd would restore, a looser one hands fds to a
// name systemd could never load. The rules followed are those of systemd's
// src/basic/unit-name.c (unit_name_is_valid, UNIT_NAME_MAX = 256 in unit-name.h) and the
// type table of src/basic/unit-def.c (unit_type_table), unchanged from v228 to the v261 code
// read for the spec:
//
//   - not empty, strlen < UNIT_NAME_MAX, i.e. at most 255 bytes;
//   - the text after the LAST '.' is one of the 11 unit types below, and that '.' is not the
//     first byte (".service" is invalid; ".foo.service" and "-.mount" are valid);
//   - every byte before that '.' is in [A-Za-z0-9:_.\-] or '@';
//   - the first '@', if any, is not the first byte. With UNIT_NAME_ANY, plain ("foo.service"),
//     instance ("foo@bar.service", further '@' allowed in the instance) and template
//     ("foo@.service") names are all valid.
//
//   luo::handoff::unit_name_is_valid("getty@tty1.service");   // true
//   luo::handoff::unit_type("getty@tty1.service");            // "service"
//   luo::handoff::unit_name_form("getty@.service");           // UnitNameForm::template_name
//   luo::handoff::unit_name_is_valid("foo.snapshot");         // false: type removed in v228
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace luo::handoff {

// UNIT_NAME_MAX counts the NUL: the longest valid unit name has 255 bytes.
inline constexpr std::size_t kUnitNameMax = 256;
inline constexpr std::size_t kUnitNameMaxLength = kUnitNameMax - 1;

// systemd's unit_type_table, in its order.
inline constexpr std::array<std::string_view, 11> kUnitTypes = {
    "service", "socket", "target", "device", "mount", "automount",
    "swap",    "timer",  "path",   "slice",  "scope",
};

enum class UnitNameForm {
  plain,          // foo.service
  instance,       // foo@bar.service
  template_name,  // foo@.service
};

// Which of the three forms `name` has, or nullopt when it is not a valid unit name.
std::optional<UnitNameForm> unit_name_form(std::string_view name);

// unit_name_is_valid(name, UNIT_NAME_ANY).
inline bool unit_name_is_valid(std::string_view name) {
  return unit_name_form(name).has_value();
}

// The type suffix of a valid unit name ("service" for "foo@bar.service"); empty when the name
// is not valid. The view points into `name`.
std::string_view unit_type(std::string_view name);

}  // namespace luo::handoff
