// luo/impl/quoted_key.hpp: a document key (a unit id, an fd name) as it appears in a path or a
// message: in double quotes, printable ASCII kept, '"' and '\' backslash-escaped, every other
// byte as \xNN. A hostile key thus cannot forge a path or put control bytes on a terminal, and
// an ordinary one reads as written.
//
//   luo::quoted_key("foo.service");   // "\"foo.service\""
//   luo::quoted_key("a\"b\n");        // "\"a\\\"b\\x0a\""
//
// The Stage A/B reader's Skipped paths and the nested manager's mapping paths both use it.
#pragma once

#include <string>
#include <string_view>

namespace luo {

std::string quoted_key(std::string_view key);

}  // namespace luo
