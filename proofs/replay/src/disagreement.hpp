// disagreement.hpp: the two ways a replay ends early, each built in one place.
#pragma once

#include <string>
#include <vector>

#include "luo/proofs/replay.hpp"

namespace luo::proofs::replay_detail {

// The implementation and the model part at `step` (1-based; 0: the initial state), seen after
// `action`; `model` and `implementation` describe both sides there.
void report_disagreement(ReplayResult& r, int step, std::string action,
                         std::vector<std::string> differences, std::string model,
                         std::string implementation);

// The trace cannot be replayed from `step` on, for `why`.
void report_not_replayable(ReplayResult& r, int step, std::string action, std::string why);

}  // namespace luo::proofs::replay_detail
