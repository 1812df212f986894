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
  // checked_remembered()'s, as a LiveUpdate session keeps one for its PRESERVE_FD.
  luo::DecisionMemo<OutgoingSessionState, luo::OutgoingSessionEvent> memo;
  bool has(std::uint64_t t) const {
    return std::find(tokens.begin(), tokens.begin() + count, t) != tokens.begin() + count;
  }
};

// The two variants, written once; the benchmarked entry points below inline them.
[[gnu::always_inline]] inline int checked(Session& s, std::uint64_t token,
                                          luo::KernelProfile profile) {
  luo::Facts facts;
  facts.set(luo::Guard::token_in_use, s.has(token))
      .set(luo::Guard::file_limit_reached, s.count >= luo::kLegacyMaxFilesPerSession);
  const auto& row = luo::select(luo::kOutgoingSessionMachine, s.state,
                                luo::OutgoingSessionEvent::preserve_fd, profile, facts);
  s.state = row.to;
  return luo::errno_value(row.outcome.error);
}

[[gnu::always_inline]] inline int bare_switch(Session& s, std::uint64_t token,
                                              luo::KernelProfile profile) {
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

// Not inlined, any of them, so that bench/callgrind_transition.sh can count each one's
// instructions per call; the call itself is outside every count.
//
// The profile as a constant, as in the goal's comparison: the switch's compiler then drops the
// legacy-limit test, which 7.2 does not have.
[[gnu::noinline]] int checked_preserve(Session& s, std::uint64_t token) {
  return checked(s, token, luo::KernelProfile::v7_2);
}
[[gnu::noinline]] int switch_preserve(Session& s, std::uint64_t token) {
  return bare_switch(s, token, luo::KernelProfile::v7_2);
}

// Cost breakdown: the checked transition minus the one fact 7.2's cells never read
// (file_limit_reached), which is what the constant profile saves the switch. The rest of the gap
// is the table itself: the cell's address from (profile, state, event), its guard mask, and the
// row's next state and errno read from data.
[[gnu::noinline]] int checked_reachable_facts(Session& s, std::uint64_t token) {
  luo::Facts facts;
  facts.set(luo::Guard::token_in_use, s.has(token));
  const auto& row =
      luo::select(luo::kOutgoingSessionMachine, s.state, luo::OutgoingSessionEvent::preserve_fd,
                  luo::KernelProfile::v7_2, facts);
  s.state = row.to;
  return luo::errno_value(row.outcome.error);
}

// The profile known only at run time, as LiveUpdate has it (the kernel's, chosen when the device
// is opened): the switch must now test the legacy limits as the table does.
[[gnu::noinline]] int checked_preserve_runtime_profile(Session& s, std::uint64_t token,
                                                       luo::KernelProfile profile) {
  return checked(s, token, profile);
}
[[gnu::noinline]] int switch_preserve_runtime_profile(Session& s, std::uint64_t token,
                                                      luo::KernelProfile profile) {
  return bare_switch(s, token, profile);
}

// The table side of LiveUpdate's PRESERVE_FD check (impl/src/live_update.cpp), without its
// refusal scan and error paths: before the call it knows whether the token is in use and whether
// the legacy file limit is reached, but not whether the kernel will fail (the other guards are
// unknown), so it decides among the candidate rows, and after the call resolves the kernel's
// answer (0 here) to one of them. Once with decide() each call, once with a DecisionMemo, which
// answers again while the question repeats: the token's fact changes 2 times in 16 calls here,
// in a handoff's Stage B never.
[[gnu::always_inline]] inline luo::Facts unknown_facts(const Session& s, std::uint64_t token) {
  luo::Facts facts = luo::Facts::all_unknown();
  facts.set(luo::Guard::token_in_use, s.has(token) ? luo::Truth::yes : luo::Truth::unknown)
      .set(luo::Guard::file_limit_reached,
           s.count >= luo::kLegacyMaxFilesPerSession ? luo::Truth::yes : luo::Truth::unknown);
  return facts;
}
[[gnu::noinline]] int checked_unknown_facts(Session& s, std::uint64_t token,
                                            luo::KernelProfile profile) {
  const auto d =
      luo::decide(luo::kOutgoingSessionMachine, s.state, luo::OutgoingSessionEvent::preserve_fd,
                  profile, unknown_facts(s, token));
  const auto* row = d.determined() ? &d.first() : d.resolve(0);
  s.state = row->to;
  return luo::errno_value(row->outcome.error);
}
[[gnu::noinline]] int checked_remembered(Session& s, std::uint64_t token,
                                         luo::KernelProfile profile) {
  const auto answer =
      s.memo.decide(luo::kOutgoingSessionMachine, s.state, luo::OutgoingSessionEvent::preserve_fd,
                    profile, unknown_facts(s, token));
  const auto* row = answer.decision.determined() ? &answer.decision.first() : s.memo.resolve(0);
  s.state = row->to;
  return luo::errno_value(row->outcome.error);
}

template <int (*Preserve)(Session&, std::uint64_t)>
void run(benchmark::State& state) {
  Session s;
  std::uint64_t token = 100;
  for (auto _ : state)
    benchmark::DoNotOptimize(Preserve(s, token++ & 0xF));
}

template <int (*Preserve)(Session&, std::uint64_t, luo::KernelProfile)>
void run_runtime_profile(benchmark::State& state) {
  Session s;
  std::uint64_t token = 100;
  auto profile = luo::KernelProfile::v7_2;
  benchmark::DoNotOptimize(profile);  // the compiler may no longer assume which one it is
  for (auto _ : state)
    benchmark::DoNotOptimize(Preserve(s, token++ & 0xF, profile));
}

void BM_CheckedTransition(benchmark::State& state) {
  run<checked_preserve>(state);
}
BENCHMARK(BM_CheckedTransition);

void BM_BareSwitch(benchmark::State& state) {
  run<switch_preserve>(state);
}
BENCHMARK(BM_BareSwitch);

void BM_CheckedReachableFacts(benchmark::State& state) {
  run<checked_reachable_facts>(state);
}
BENCHMARK(BM_CheckedReachableFacts);

void BM_CheckedRuntimeProfile(benchmark::State& state) {
  run_runtime_profile<checked_preserve_runtime_profile>(state);
}
BENCHMARK(BM_CheckedRuntimeProfile);

void BM_BareSwitchRuntimeProfile(benchmark::State& state) {
  run_runtime_profile<switch_preserve_runtime_profile>(state);
}
BENCHMARK(BM_BareSwitchRuntimeProfile);

void BM_CheckedUnknownFacts(benchmark::State& state) {
  run_runtime_profile<checked_unknown_facts>(state);
}
BENCHMARK(BM_CheckedUnknownFacts);

void BM_CheckedRemembered(benchmark::State& state) {
  run_runtime_profile<checked_remembered>(state);
}
BENCHMARK(BM_CheckedRemembered);

}  // namespace
