// luo/scenario/text.hpp: user-supplied bytes in a message, printed whatever they are. A scenario
// names handles, sessions and contents with arbitrary JSON strings, and the CLI prints what it
// read (a path, a document) the same way, so both use these two.
//
//   quote_bytes("a\"b\n\xff");   // "\"a\\\"b\\n\\xff\""
//   dump(json_value);           // nlohmann's dump(), U+FFFD for bytes that are not UTF-8
#pragma once

#include <string>
#include <string_view>

namespace luo::scenario {

// `bytes` in double quotes for a message: JSON's escapes for '"', '\\' and control bytes, valid
// UTF-8 as it is, any other byte as \xNN. Never throws.
std::string quote_bytes(std::string_view bytes);

// j.dump(indent) with strings that are not UTF-8 printed with U+FFFD instead of throwing.
template <class Json>
std::string dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace luo::scenario
