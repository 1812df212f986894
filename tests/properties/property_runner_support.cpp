#include "property_runner.hpp"

#include <cstdlib>
#include <sstream>
#include <unordered_map>

namespace rc::detail {
// Defined in librapidcheck (ReproduceListener), not declared by its installed headers: the
// string RC_PARAMS="reproduce=..." takes. Declared here so a failure message can carry it.
std::string reproduceMapToString(const std::unordered_map<std::string, Reproduce>& map);
}  // namespace rc::detail

namespace luo::testing {
namespace {

class SilentListener final : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

}  // namespace

double property_scale() {
  const char* text = std::getenv("LUO_PROPERTY_SCALE");
  if (text == nullptr || *text == '\0')
    return 1.0;
  char* end = nullptr;
  const double scale = std::strtod(text, &end);
  return (end != nullptr && *end == '\0' && scale > 0) ? scale : 1.0;
}

int sequences_for(int base) {
  const double n = base * property_scale();
  return n < 1 ? 1 : static_cast<int>(n);
}

namespace detail {

PropertyRun run_property(const std::string& id, int sequences, const rc::detail::Property& p,
                         const RunOptions& options) {
  const Verbosity verbosity = options.verbosity;
  const auto& config = rc::detail::configuration();
  rc::detail::TestParams params = config.testParams;
  params.maxSuccess = sequences;
  params.disableShrinking = params.disableShrinking || verbosity == Verbosity::quiet;
  // RC_PARAMS wins over the project's defaults for the keys it sets.
  const char* env = std::getenv("RC_PARAMS");
  const std::string rc_params = env != nullptr ? env : "";
  if (options.seed && rc_params.find("seed") == std::string::npos)
    params.seed = *options.seed;
  if (options.max_size && rc_params.find("max_size") == std::string::npos)
    params.maxSize = *options.max_size;
  rc::detail::TestMetadata metadata{id, id};

  SilentListener silent;
  // The global listener prints progress when RC_PARAMS asks for it, and the replay line again
  // at exit; the quiet one prints nothing.
  const auto result = verbosity == Verbosity::quiet
                          ? rc::detail::checkProperty(p, metadata, params, silent)
                          : rc::detail::checkProperty(p, metadata, params);
  PropertyRun run;
  std::ostringstream message;
  rc::detail::printResultMessage(result, message);
  if (result.template is<rc::detail::SuccessResult>()) {
    run.passed = true;
    run.sequences = result.template get<rc::detail::SuccessResult>().numSuccess;
  } else if (result.template is<rc::detail::FailureResult>()) {
    const auto& failure = result.template get<rc::detail::FailureResult>();
    run.sequences = failure.numSuccess;
    message << "\n\nReplay this counterexample with:\n  RC_PARAMS=\"reproduce="
            << rc::detail::reproduceMapToString({{id, failure.reproduce}}) << "\"";
  }
  run.message = message.str();
  return run;
}

}  // namespace detail
}  // namespace luo::testing
