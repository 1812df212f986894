// impl/src/nested_manager_internal.hpp: what the nested manager's source files share and no
// caller needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace luo::nested_internal {

// An unsigned decimal without sign or leading zero, as in "sub-fdstore-<N>" and in the
// serialization's counter, fd number and index.
std::optional<std::uint64_t> parse_u64(std::string_view s);

}  // namespace luo::nested_internal
