// Message text for user-supplied bytes (luo/scenario/text.hpp).
#include "luo/scenario/text.hpp"

#include <array>
#include <cstdio>

namespace luo::scenario {

std::string quote_bytes(std::string_view bytes) {
  std::string out = "\"";
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const auto continuation = [&](std::size_t i) {
    return i < bytes.size() && (byte(i) & 0xC0) == 0x80;
  };
  for (std::size_t i = 0; i < bytes.size();) {
    const unsigned char c = byte(i);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    // The length of a valid UTF-8 sequence starting here (RFC 3629: no overlong forms, no
    // surrogates, nothing past U+10FFFF), or 0.
    std::size_t length = 0;
    if (c >= 0xC2 && c <= 0xDF && continuation(i + 1)) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF && continuation(i + 1) && continuation(i + 2)) {
      const unsigned char c1 = byte(i + 1);
      if (!(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0))
        length = 3;
    } else if (c >= 0xF0 && c <= 0xF4 && continuation(i + 1) && continuation(i + 2) &&
               continuation(i + 3)) {
      const unsigned char c1 = byte(i + 1);
      if (!(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90))
        length = 4;
    }
    if (length > 0) {
      out.append(bytes.substr(i, length));
      i += length;
      continue;
    }
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default: {
        std::array<char, 5> hex{};
        std::snprintf(hex.data(), hex.size(), "\\x%02x", c);
        out += hex.data();
      }
    }
    ++i;
  }
  out += '"';
  return out;
}

}  // namespace luo::scenario
