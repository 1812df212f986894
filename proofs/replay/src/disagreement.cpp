// The replay's early ends (disagreement.hpp).
#include "disagreement.hpp"

namespace luo::proofs::replay_detail {

void report_disagreement(ReplayResult& r, int step, std::string action,
                         std::vector<std::string> differences, std::string model,
                         std::string implementation) {
  r.verdict = ReplayVerdict::disagrees;
  r.step = step;
  r.action = std::move(action);
  r.differences = std::move(differences);
  r.why = r.differences.empty() ? std::string() : r.differences.front();
  r.model = std::move(model);
  r.implementation = std::move(implementation);
}

void report_not_replayable(ReplayResult& r, int step, std::string action, std::string why) {
  r.verdict = ReplayVerdict::not_replayable;
  r.step = step;
  r.action = std::move(action);
  r.why = std::move(why);
}

}  // namespace luo::proofs::replay_detail
