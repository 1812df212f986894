// Compiled, not linked, by ctest scenario_op_row_needs_handler (tests/CMakeLists.txt): with
// LUO_WITH_HANDLER the row compiles, without it the same row must not, so an operation cannot be
// added to the op table without the handler that runs it.
#include "luo/scenario/scenario.hpp"

namespace luo::scenario {

Outcome no_op(Machine&, const Json&, const std::string&) {
  return StepResult{};
}

#ifdef LUO_WITH_HANDLER
const OpSpec row{"no_op", {}, "does nothing", no_op};
#else
const OpSpec row{"no_op", {}, "does nothing"};
#endif

}  // namespace luo::scenario
