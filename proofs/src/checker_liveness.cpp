// Liveness under weak fairness, one entry at a time: a strongly connected set of states where
// the entry stays pending, whose every always-enabled fair action is also taken inside it, is
// a fair run that never delivers; so is a pending state with no successor at all. The graph is
// built once (in parallel runs of states) and the entries are searched in parallel; the first
// entry (in entry order) with a violation is reported, as the sequential pass would.
#include "checker_search.hpp"

namespace luo::proofs::search {

template <class Store>
void Search<Store>::liveness() {
  const auto n = static_cast<std::uint32_t>(store_.size());
  const int entries = world_.fd_count() + opt_.bounds.sessions;
  static_assert(kMaxFds + kMaxSessions <= 16, "one bit per entry in `owed`");
  const unsigned searchers =
      static_cast<unsigned>(std::min<std::size_t>(jobs_, static_cast<std::size_t>(entries)));
  const std::size_t need = (std::size_t{n} + 1) * 8 + result_.transitions * (4 + 2) +
                           std::size_t{n} * 2 + searchers * std::size_t{n} * kScratchBytesPerState;
  if (opt_.max_memory != 0 && store_.memory() + need > opt_.max_memory) {
    stop(Stop::max_memory);
    liveness_skipped_need_ = need;
    return;
  }

  Graph g;
  g.row.assign(std::size_t{n} + 1, 0);
  g.col.reserve(result_.transitions);
  g.cls.reserve(result_.transitions);
  g.owed.assign(n, 0);
  struct Part {
    std::vector<std::uint32_t> col;
    std::vector<std::uint16_t> cls;
    std::vector<World::Step> steps;
  };
  std::vector<Part> parts(jobs_);
  for (std::uint32_t first = 0; first < n;) {
    const std::size_t runs = std::min<std::size_t>(jobs_, (n - first + kGraphRun - 1) / kGraphRun);
    parallel_for(jobs_, runs, [&](std::size_t r, unsigned) {
      Part& part = parts[r];
      part.col.clear();
      part.cls.clear();
      std::array<std::uint64_t, kMaxWords> w{};
      const auto a = static_cast<std::uint32_t>(first + r * kGraphRun);
      const std::uint32_t e = std::min(n, a + kGraphRun);
      for (std::uint32_t i = a; i < e; ++i) {
        const State s = decode(i);
        for (int k = 0; k < entries; ++k) {
          if (pending(world_, s, k))
            g.owed[i] = static_cast<std::uint16_t>(g.owed[i] | (1u << k));
        }
        world_.successors(s, part.steps);
        for (const auto& step : part.steps) {
          encode(step.next, w.data());
          part.col.push_back(store_.find(w.data()));
          std::uint16_t cls = World::is_fair(step.action.kind)
                                  ? static_cast<std::uint16_t>(world_.fairness_class(step.action))
                                  : kUnfair;
          if (opt_.bounds.any_kexecs && step.action.kind == ActionKind::kexec)
            cls = static_cast<std::uint16_t>(cls | kNextBoot);
          part.cls.push_back(cls);
        }
        g.row[i + 1] = part.steps.size();
      }
    });
    for (std::size_t r = 0; r < runs; ++r) {
      g.col.insert(g.col.end(), parts[r].col.begin(), parts[r].col.end());
      g.cls.insert(g.cls.end(), parts[r].cls.begin(), parts[r].cls.end());
    }
    first = static_cast<std::uint32_t>(std::min<std::size_t>(n, first + runs * kGraphRun));
  }
  for (std::uint32_t i = 0; i < n; ++i)
    g.row[i + 1] += g.row[i];
  // The runs' buffers (a few runs' edges) are gone before the searchers' scratch arrives.
  parts.clear();
  liveness_memory_ =
      g.row.capacity() * 8 + g.col.capacity() * 4 + g.cls.capacity() * 2 + g.owed.capacity() * 2;

  std::vector<Finding> findings(static_cast<std::size_t>(entries));
  std::vector<Scratch> scratch(searchers);
  std::atomic<int> first_found{entries};
  parallel_for(searchers, static_cast<std::size_t>(entries), [&](std::size_t k, unsigned wid) {
    // An earlier entry already failed: this one would not be reported.
    if (static_cast<int>(k) > first_found.load())
      return;
    findings[k] = search_entry(static_cast<int>(k), g, scratch[wid]);
    if (findings[k].found) {
      int seen = first_found.load();
      while (static_cast<int>(k) < seen &&
             !first_found.compare_exchange_weak(seen, static_cast<int>(k))) {
      }
    }
  });
  liveness_memory_ += searchers * std::size_t{n} * kScratchBytesPerState;

  for (int k = 0; k < entries; ++k) {
    const Finding& f = findings[static_cast<std::size_t>(k)];
    if (!f.found)
      continue;
    if (f.dead_end) {
      violated(PropertyId::eventually_delivered, path_to(f.root),
               "entry " + entry_label(k) + " is still pending when the run stops");
    } else {
      violated(PropertyId::eventually_delivered, lasso(f.comp, g),
               "entry " + entry_label(k) + " stays pending forever on a fair cycle through " +
                   std::to_string(f.comp.size()) + " states");
    }
    return;
  }
}

// Tarjan's algorithm over the states where entry k is pending, stopping at the first dead end
// or fair component.
template <class Store>
typename Search<Store>::Finding Search<Store>::search_entry(int k, const Graph& g,
                                                            Scratch& sc) const {
  const auto n = static_cast<std::uint32_t>(g.owed.size());
  sc.in.resize(n);
  sc.index.assign(n, kNone);
  sc.low.resize(n);
  sc.on_stack.assign(n, 0);
  sc.stack.clear();
  sc.call.clear();
  for (std::uint32_t i = 0; i < n; ++i)
    sc.in[i] = static_cast<char>((g.owed[i] >> k) & 1u);
  const auto& row = g.row;
  const auto& col = g.col;
  Finding out;
  std::uint32_t counter = 0;
  for (std::uint32_t root = 0; root < n; ++root) {
    if (!sc.in[root] || sc.index[root] != kNone)
      continue;
    if (row[root] == row[root + 1]) {
      out.found = true;
      out.dead_end = true;
      out.root = root;
      return out;
    }
    sc.call.push_back({root, row[root]});
    sc.index[root] = sc.low[root] = counter++;
    sc.stack.push_back(root);
    sc.on_stack[root] = 1;
    while (!sc.call.empty()) {
      auto& f = sc.call.back();
      if (f.next < row[f.v + 1]) {
        const std::uint64_t e = f.next++;
        const std::uint32_t w = col[e];
        if (!sc.in[w] || crosses_boot(g.cls[e]))
          continue;
        if (sc.index[w] == kNone) {
          sc.index[w] = sc.low[w] = counter++;
          sc.stack.push_back(w);
          sc.on_stack[w] = 1;
          sc.call.push_back({w, row[w]});
        } else if (sc.on_stack[w]) {
          sc.low[f.v] = std::min(sc.low[f.v], sc.index[w]);
        }
        continue;
      }
      const std::uint32_t v = f.v;
      sc.call.pop_back();
      if (!sc.call.empty())
        sc.low[sc.call.back().v] = std::min(sc.low[sc.call.back().v], sc.low[v]);
      if (sc.low[v] != sc.index[v])
        continue;
      std::vector<std::uint32_t> comp;
      std::uint32_t x;
      do {
        x = sc.stack.back();
        sc.stack.pop_back();
        sc.on_stack[x] = 0;
        comp.push_back(x);
      } while (x != v);
      if (fair_cycle(comp, sc.in, g)) {
        out.found = true;
        out.comp = std::move(comp);
        return out;
      }
    }
  }
  return out;
}

template <class Store>
std::string Search<Store>::entry_label(int k) const {
  if (k < world_.fd_count())
    return "fd " + std::to_string(world_.owner_of_fd(k)) + "." +
           std::to_string(k % opt_.bounds.fds);
  return "session " + std::to_string(k - world_.fd_count());
}

template <class Store>
bool Search<Store>::fair_cycle(const std::vector<std::uint32_t>& comp, const std::vector<char>& in,
                               const Graph& g) const {
  // Membership by a sorted copy: components are small next to the graph.
  std::vector<std::uint32_t> sorted = comp;
  std::sort(sorted.begin(), sorted.end());
  const auto inside = [&](std::uint32_t w) {
    return in[w] && std::binary_search(sorted.begin(), sorted.end(), w);
  };
  bool internal_edge = false;
  ClassSet taken, always;
  always.set();
  for (std::uint32_t v : comp) {
    ClassSet enabled;
    for (std::uint64_t e = g.row[v]; e < g.row[v + 1]; ++e) {
      const std::uint16_t cls = g.cls[e];
      if (cls != kUnfair)
        enabled.set(cls & ~kNextBoot);
      if (inside(g.col[e]) && !crosses_boot(cls)) {
        internal_edge = true;
        if (cls != kUnfair)
          taken.set(cls);
      }
    }
    always &= enabled;
  }
  return internal_edge && (always & ~taken).none();
}

// A path to the component, then a cycle inside it back to where the path entered.
template <class Store>
Trace Search<Store>::lasso(const std::vector<std::uint32_t>& comp, const Graph& g) const {
  const auto& row = g.row;
  const auto& col = g.col;
  std::vector<std::uint32_t> sorted = comp;
  std::sort(sorted.begin(), sorted.end());
  const std::uint32_t entry = sorted.front();  // smallest index: reached first by the BFS
  Trace t = path_to(entry);
  // Breadth-first inside the component from `entry` back to it.
  std::vector<std::uint32_t> prev(sorted.size(), kNone);
  std::vector<std::uint64_t> via(sorted.size(), 0);
  const auto pos = [&](std::uint32_t v) {
    return static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), v) -
                                    sorted.begin());
  };
  std::deque<std::uint32_t> queue{entry};
  std::uint32_t closing = kNone;
  std::uint64_t closing_edge = 0;
  while (!queue.empty() && closing == kNone) {
    const std::uint32_t v = queue.front();
    queue.pop_front();
    for (std::uint64_t e = row[v]; e < row[v + 1]; ++e) {
      const std::uint32_t w = col[e];
      if (!std::binary_search(sorted.begin(), sorted.end(), w) || crosses_boot(g.cls[e]))
        continue;
      if (w == entry) {
        closing = v;
        closing_edge = e;
        break;
      }
      if (prev[pos(w)] == kNone) {
        prev[pos(w)] = v;
        via[pos(w)] = e;
        queue.push_back(w);
      }
    }
  }
  if (closing == kNone || opt_.symmetry)
    return t;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> edges{{closing, closing_edge}};
  for (std::uint32_t v = closing; v != entry; v = prev[pos(v)])
    edges.emplace_back(prev[pos(v)], via[pos(v)]);
  std::reverse(edges.begin(), edges.end());
  t.loop_start = static_cast<int>(t.states.size()) - 1;
  std::vector<World::Step> steps;
  for (const auto& [from, e] : edges) {
    world_.successors(decode(from), steps);
    const auto& step = steps[e - row[from]];
    t.actions.push_back(step.action);
    t.states.push_back(step.next);
  }
  return t;
}

template void Search<StateStore>::liveness();
template void Search<ShardedStore>::liveness();

}  // namespace luo::proofs::search
