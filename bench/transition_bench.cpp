// Cost of a model-checked transition against a hand-written switch doing the same bookkeeping
// (goal: at most 1.2x), on the hottest path: PRESERVE_FD into a preserving session, which walks
// every guard before the success row. Results are printed, never asserted.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "luo/model/limits.hpp"
#include "luo/model/outgoing_session_machine.hpp"

namespace {

using luo::Errno;
using luo::OutgoingSessionState;

// The bookkeeping both variants do: a session's state and its tokens.
struct Session {
  OutgoingSessionState state = OutgoingSessionState::preserving;
  std::array<std::uint64_t, 8> tokens{1, 2, 3, 4, 5, 6, 7, 0};
  std::size_t count = 7;
  bool has(std::uint64_t t) const {
    return std::find(tokens.begin(), tokens.begin() + count, t) != tokens.begin() + count;
  }
};

// Not inlined, either of them, so that bench/callgrind_transition.sh can count each one's
// instructions per call; the call itself is outside both counts.
[[gnu::noinline]] int checked_preserve(Session& s, std::uint64_t token,
                                       luo::KernelProfile profile) {
  luo::Facts facts;
  facts.set(luo::Guard::token_in_use, s.has(token))
      .set(luo::Guard::file_limit_reached, s.count >= luo::kLegacyMaxFilesPerSession);
  const auto& row = luo::select(luo::kOutgoingSessionMachine, s.state,
                                luo::OutgoingSessionEvent::preserve_fd, profile, facts);
  s.state = row.to;
  return luo::errno_value(row.outcome.error);
}

[[gnu::noinline]] int switch_preserve(Session& s, std::uint64_t token, luo::KernelProfile profile) {
  switch (s.state) {
    case OutgoingSessionState::created:
    case OutgoingSessionState::preserving:
      if (s.has(token))
        return EEXIST;
      if (luo::profile_has(profile, luo::Feature::legacy_limits) &&
          s.count >= luo::kLegacyMaxFilesPerSession) {
        return ENOSPC;
      }
      s.state = OutgoingSessionState::preserving;
      return 0;
    case OutgoingSessionState::frozen:
    case OutgoingSessionState::handed_over:
    case OutgoingSessionState::closed:
      return EINVAL;
  }
  return EINVAL;
}

void BM_CheckedTransition(benchmark::State& state) {
  Session s;
  std::uint64_t token = 100;
  for (auto _ : state) {
    benchmark::DoNotOptimize(checked_preserve(s, token++ & 0xF, luo::KernelProfile::v7_2));
  }
}
BENCHMARK(BM_CheckedTransition);

void BM_BareSwitch(benchmark::State& state) {
  Session s;
  std::uint64_t token = 100;
  for (auto _ : state) {
    benchmark::DoNotOptimize(switch_preserve(s, token++ & 0xF, luo::KernelProfile::v7_2));
  }
}
BENCHMARK(BM_BareSwitch);

}  // namespace
