// property_runner.hpp: runs one rapidcheck property for one kernel profile with the project's
// sequence budget, and reports a failure with the RC_PARAMS string that replays it.
//
// The budget: every property names a base number of command sequences per profile; the
// environment variable LUO_PROPERTY_SCALE (a decimal, default 1) multiplies it. The asan test
// preset lowers it, the soak preset raises it to 100. RC_PARAMS keeps working as rapidcheck
// documents it (seed, max_size, noshrink, reproduce): with `reproduce=...` only the property whose
// id is in the string runs, and it replays the shrunk counterexample.
//
//   TEST_P(Properties, Holds) {
//     const PropertyRun run = run_property(id, sequences_for(200), [&] { ... rc::state::check ...
//     }); EXPECT_TRUE(run.passed) << run.message;     // the message ends with
//     RC_PARAMS="reproduce=..."
//   }
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <optional>
#include <string>

namespace luo::testing {

// LUO_PROPERTY_SCALE, or 1 when unset or unreadable.
double property_scale();
// base * property_scale(), at least 1.
int sequences_for(int base);

struct PropertyRun {
  bool passed = false;
  int sequences = 0;    // sequences that passed (all of them on success)
  std::string message;  // rapidcheck's report; on failure it ends with the replay line
};

enum class Verbosity : bool { quiet, report };

struct RunOptions {
  Verbosity verbosity = Verbosity::report;
  // rapidcheck's max_size, i.e. the longest command sequence, unless RC_PARAMS sets max_size.
  std::optional<int> max_size;
  // Replaces rapidcheck's seed unless RC_PARAMS sets one (the mutation report is deterministic).
  std::optional<std::uint64_t> seed;
};

namespace detail {
PropertyRun run_property(const std::string& id, int sequences, const rc::detail::Property& p,
                         const RunOptions& options);
}

// `id` names the property in RC_PARAMS's reproduce map: "<Property>/<profile>". Quiet runs
// print nothing and skip shrinking (the mutation report only needs to know that it failed).
template <class Testable>
PropertyRun run_property(const std::string& id, int sequences, Testable&& testable,
                         const RunOptions& options = {}) {
  return detail::run_property(id, sequences,
                              rc::detail::toProperty(std::forward<Testable>(testable)), options);
}

}  // namespace luo::testing
