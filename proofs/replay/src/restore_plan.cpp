// The restore segment's plan (restore_plan.hpp).
#include "restore_plan.hpp"

#include <algorithm>

namespace luo::proofs::replay_detail {

int taken_by(const World& w, const State& pre, const State& post) {
  for (int d = 0; d < w.fd_count(); ++d) {
    if (pre.fd[d].e == Entry::handed_over && post.fd[d].e != Entry::handed_over)
      return d;
  }
  for (int j = 0; j < w.bounds().sessions; ++j) {
    if (pre.session[j].e == Entry::handed_over && post.session[j].e != Entry::handed_over)
      return w.fd_count() + j;
  }
  return -1;
}

int world_rank(const std::vector<PlanItem>& items, std::size_t m, int fds) {
  const PlanItem& x = items[m];
  if (x.session)
    return fds + x.label;
  int rank = 0;
  for (std::size_t y = 0; y < m; ++y)
    rank += !items[y].session && items[y].owner == x.owner ? 1 : 0;
  return rank;
}

int item_at(const std::vector<PlanItem>& items, int position) {
  for (std::size_t m = 0; m < items.size(); ++m) {
    if (items[m].position == position)
      return static_cast<int>(m);
  }
  return -1;
}

std::variant<RestorePlan, PlanRefusal> plan_restore(const World& w, const Trace& t, int r,
                                                    std::vector<PlanItem> items) {
  const auto& acts = t.actions;
  const auto& states = t.states;
  const int n = static_cast<int>(acts.size());
  const auto act = [&](int p) -> const Action& { return acts[static_cast<std::size_t>(p)]; };
  const auto state = [&](int p) -> const State& { return states[static_cast<std::size_t>(p)]; };
  RestorePlan plan;
  plan.begin = r;
  plan.restoring = state(r + 1).rst == HandoffState::restoring;

  // The segment: restore_begin .. finish / agent_crash / the end of the trace.
  plan.end = r;
  if (plan.restoring) {
    for (plan.end = r + 1; plan.end < n; ++plan.end) {
      const ActionKind k = act(plan.end).kind;
      if (k == ActionKind::finish || k == ActionKind::agent_crash) {
        plan.terminal = true;
        plan.crash = k == ActionKind::agent_crash;
        break;
      }
      if (k != ActionKind::dispatch && k != ActionKind::load_owner && k != ActionKind::reload &&
          k != ActionKind::crash) {
        return PlanRefusal{"a '" + std::string(action_kind_name(k)) +
                           "' inside a restore: impl's restore() cannot be interrupted by it"};
      }
    }
    if (!plan.terminal)
      plan.end = n - 1;
  }

  // Each dispatch of the trace took one entry out of the mapping: pair it with the item.
  std::vector<int> others;
  for (int p = r + 1; p <= plan.end && plan.restoring; ++p) {
    const ActionKind k = act(p).kind;
    if (k == ActionKind::dispatch) {
      const int e = taken_by(w, state(p), state(p + 1));
      auto it = std::find_if(items.begin(), items.end(),
                             [&](const PlanItem& x) { return x.world == e && x.position < 0; });
      if (it == items.end()) {
        return PlanRefusal{"the trace's step " + std::to_string(p + 1) +
                           " restores an entry the implementation's mapping does not hold"};
      }
      it->position = p;
    } else if (k != ActionKind::finish && k != ActionKind::agent_crash) {
      others.push_back(p);
    }
  }

  // The implementation's order, except that an entry it reaches earlier waits for the entries of
  // its owner that the world restores before it.
  const int fds = w.bounds().fds;
  plan.seq.push_back(r);
  std::vector<bool> emitted(items.size(), false);
  std::size_t next_other = 0;
  const auto emit = [&](std::size_t m) {
    while (next_other < others.size() && others[next_other] < items[m].position)
      plan.seq.push_back(others[next_other++]);
    plan.seq.push_back(items[m].position);
    emitted[m] = true;
  };
  const auto ready = [&](std::size_t m) {
    for (std::size_t y = 0; y < items.size(); ++y) {
      if (y != m && !emitted[y] && items[y].position >= 0 && items[y].owner == items[m].owner &&
          world_rank(items, y, fds) < world_rank(items, m, fds))
        return false;
    }
    return true;
  };
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t m = 0; m < items.size(); ++m) {
      if (emitted[m] || items[m].position < 0 || !ready(m))
        continue;
      emit(m);
      progress = true;
      break;  // the implementation's order first: its earliest entry still waiting
    }
  }
  while (next_other < others.size())
    plan.seq.push_back(others[next_other++]);
  if (plan.terminal)
    plan.seq.push_back(plan.end);

  plan.rpos.assign(items.size(), -1);
  for (std::size_t q = 0; q < plan.seq.size(); ++q) {
    for (std::size_t m = 0; m < items.size(); ++m) {
      if (items[m].position == plan.seq[q])
        plan.rpos[m] = static_cast<int>(q);
    }
  }
  plan.deferred.assign(items.size(), false);
  for (std::size_t m = 0; m < items.size(); ++m) {
    for (std::size_t y = m + 1; y < items.size() && plan.rpos[m] >= 0; ++y)
      plan.deferred[m] = plan.deferred[m] || (plan.rpos[y] >= 0 && plan.rpos[y] < plan.rpos[m]);
  }

  // The world judges the reordering.
  plan.states.push_back(state(r));
  for (int p : plan.seq) {
    auto next = w.apply(plan.states.back(), act(p));
    if (!next) {
      return PlanRefusal{
          "the restore's steps in the implementation's order (mapping order) are not all "
          "enabled in the model"};
    }
    plan.states.push_back(*next);
  }
  if (plan.states.back() != state(plan.end + 1)) {
    return PlanRefusal{
        "the restore's steps in the implementation's order (mapping order) lead the model to "
        "another state than the trace's order"};
  }
  bool reordered = false;
  for (std::size_t q = 1; q < plan.seq.size(); ++q)
    reordered = reordered || plan.seq[q] < plan.seq[q - 1];
  if (reordered) {
    plan.note = "steps " + std::to_string(r + 1) + "-" + std::to_string(plan.end + 1) +
                " replayed in the implementation's restore order:";
    for (int p : plan.seq)
      plan.note += " " + std::to_string(p + 1);
    plan.note += "\n";
  }

  // A manager crash dies after the entries the world dispatched before it, which must be the
  // implementation's first ones.
  if (plan.crash) {
    const int crash_q = static_cast<int>(plan.seq.size()) - 1;
    std::size_t k = 0;
    while (k < items.size() && plan.rpos[k] >= 0 && plan.rpos[k] < crash_q)
      ++k;
    for (std::size_t x = k; x < items.size(); ++x) {
      if (plan.rpos[x] >= 0 && plan.rpos[x] < crash_q) {
        return PlanRefusal{
            "the manager dies after the model dispatched a later entry of impl's mapping but "
            "before an earlier one"};
      }
    }
    plan.crash_after = k;
  }
  plan.items = std::move(items);
  return plan;
}

}  // namespace luo::proofs::replay_detail
