#include "luo/impl/quoted_key.hpp"

namespace luo {

std::string quoted_key(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte > 0x7E) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace luo
