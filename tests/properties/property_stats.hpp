// property_stats.hpp: how often each command ran and with which result, for tuning the
// generators. Off unless LUO_PROPERTY_STATS=1; then printed to stderr when the process exits.
//
//   LUO_PROPERTY_STATS=1 build/default/tests/properties/luo_properties_tests
//   ...  kernel RetrieveFd       ok 1234   ENOENT 310   EBADF 57 ...
#pragma once

#include <string>
#include <string_view>
#include <typeinfo>

namespace luo::testing {

void count_outcome(std::string_view family, const std::type_info& command, int err);
void count_outcome(std::string_view family, const std::type_info& command, std::string_view label);

}  // namespace luo::testing
