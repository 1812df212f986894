#include "luo/impl/unit_name.hpp"

#include <algorithm>

namespace luo::handoff {

namespace {

// VALID_CHARS of unit-name.c: digits, ASCII letters and ":-_.\". Locale-independent on
// purpose: systemd's DIGITS/LETTERS are literal ASCII strings, not isalnum().
bool is_unit_name_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ':' ||
         c == '-' || c == '_' || c == '.' || c == '\\';
}

}  // namespace

std::optional<UnitNameForm> unit_name_form(std::string_view name) {
  if (name.empty() || name.size() > kUnitNameMaxLength)
    return std::nullopt;
  // strrchr(n, '.'): the suffix starts after the last dot, which may not be the first byte.
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0)
    return std::nullopt;
  const std::string_view type = name.substr(dot + 1);
  if (std::find(kUnitTypes.begin(), kUnitTypes.end(), type) == kUnitTypes.end())
    return std::nullopt;
  // The prefix (and instance) may hold '@' anywhere; only the first one splits the name.
  // A NUL byte, which C strings cannot carry, fails the character check like any other byte.
  std::size_t at = std::string_view::npos;
  for (std::size_t i = 0; i < dot; ++i) {
    const char c = name[i];
    if (c == '@') {
      if (at == std::string_view::npos)
        at = i;
      continue;
    }
    if (!is_unit_name_char(c))
      return std::nullopt;
  }
  if (at == std::string_view::npos)
    return UnitNameForm::plain;
  if (at == 0)
    return std::nullopt;
  return at + 1 == dot ? UnitNameForm::template_name : UnitNameForm::instance;
}

std::string_view unit_type(std::string_view name) {
  if (!unit_name_is_valid(name))
    return {};
  return name.substr(name.rfind('.') + 1);
}

}  // namespace luo::handoff
