// restore_plan.hpp: a trace's restore segment as the implementation will meet it, decided before
// anything runs (replay.hpp, RESTORE). Pure: the world and the order of the implementation's
// mapping in, a plan out; no impl, no kernel (tests/proofs/restore_plan_test.cpp).
//
// The implementation's restore takes the mapping's entries in one fixed order. The world takes
// them in the trace's order, with owner loads, reloads and crashes between. The plan pairs each
// dispatch of the trace with the implementation's entry it took, and reorders the segment into
// the implementation's order, except that each owner keeps the world's own order (fds by token,
// then sessions by index); other steps stay before the first dispatch that followed them. The
// world judges the reordering: every step must be enabled and the segment must end in the
// trace's state, else the trace cannot be replayed there.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "luo/proofs/checker.hpp"
#include "luo/proofs/world.hpp"

namespace luo::proofs::replay_detail {

// One entry of the implementation's mapping, in the implementation's order.
struct PlanItem {
  int owner = 0;
  int world = 0;  // the world's entry: fd index, or fd_count() + session index
  bool session = false;
  int label = 0;      // the implementation's fd label, or the session index
  int position = -1;  // the trace index of the dispatch that takes it; -1: none does
};

struct RestorePlan {
  int begin = 0;           // the trace index of restore_begin
  int end = 0;             // the trace index of the segment's last step
  bool restoring = false;  // the model's restore_begin retrieved "systemd"
  bool terminal = false;   // the segment ends in finish or agent_crash (else the trace ends)
  bool crash = false;      // ... in agent_crash
  std::vector<PlanItem> items;
  // The trace indices in the order replayed: seq[0] is restore_begin, the terminal step last.
  std::vector<int> seq;
  // The world's states along seq: states[q] is the state before seq[q].
  std::vector<State> states;
  std::vector<int> rpos;       // per item: its dispatch's place in seq; -1: none
  std::vector<bool> deferred;  // per item: the implementation reaches it before the world can
  // A manager crash inside the segment: how many of the implementation's entries it retrieves
  // before the crash (the crash comes before the next retrieve, or before FINISH).
  std::size_t crash_after = 0;
  std::string note;  // how the segment was reordered; empty when it was not
};

struct PlanRefusal {
  std::string why;  // not replayable at the segment's restore_begin
};

// `items`: the implementation's mapping, in its order, with position -1. `r`: the index of the
// trace's restore_begin; the trace carries every state.
std::variant<RestorePlan, PlanRefusal> plan_restore(const World& w, const Trace& t, int r,
                                                    std::vector<PlanItem> items);

// The world's entry a dispatch took between two states (fd index, fd_count() + session), or -1.
int taken_by(const World& w, const State& pre, const State& post);
// An item's place in the world's own order among its owner's entries: fds by mapping order
// (token), then sessions by index.
int world_rank(const std::vector<PlanItem>& items, std::size_t m, int fds);
// The item a trace index dispatches, or -1.
int item_at(const std::vector<PlanItem>& items, int position);

}  // namespace luo::proofs::replay_detail
