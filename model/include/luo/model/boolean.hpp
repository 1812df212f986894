// luo/model/boolean.hpp: systemd's spelling of a boolean setting, the one parser for it.
//
// systemd's parse_boolean() accepts 1/yes/y/true/t/on and 0/no/n/false/f/off, in any case; a
// unit setting that is "a boolean or a word" (FileDescriptorStorePreserve=, the fd store's
// serialized poll flag) tries the boolean first. Every parser of such a value here goes
// through this one, so they cannot disagree about "Y" or "off".
//
//   luo::parse_boolean("On");    // true
//   luo::parse_boolean("2");     // nullopt
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace luo {

namespace detail {
constexpr bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i]))
      return false;
  }
  return true;
}
}  // namespace detail

constexpr std::optional<bool> parse_boolean(std::string_view s) {
  for (std::string_view t : {"1", "yes", "y", "true", "t", "on"}) {
    if (detail::equal_ignoring_ascii_case(s, t))
      return true;
  }
  for (std::string_view f : {"0", "no", "n", "false", "f", "off"}) {
    if (detail::equal_ignoring_ascii_case(s, f))
      return false;
  }
  return std::nullopt;
}

}  // namespace luo
