// ---------------------------------------------------------------------------------------------
// The parallel search (jobs > 1), one breadth-first level at a time. A level is expanded in
// slices; each slice in two phases: (1) the workers take runs of the level's states, compute
// their successors, encode them and sort them into one bucket per group of shards; (2) each
// worker takes whole groups and offers their shards every bucketed successor, so no shard is
// written by two threads. At the level's end the fresh states are numbered in key order, and the
// properties the level broke get the counterexample the sequential search would have found first:
// the smallest key among a transition's (parent, successor) and a new state's first discoverer.
#include "checker_search.hpp"

namespace luo::proofs::search {

template <class Store>
void Search<Store>::expand_run(Worker& wk, std::uint32_t first, std::uint32_t end,
                               std::uint32_t level_begin,
                               std::vector<std::uint32_t>& step_count) const {
  const auto words = static_cast<std::size_t>(codec_.words());
  for (std::uint32_t i = first; i < end; ++i) {
    world_.successors(decode(i), wk.steps);
    step_count[i - level_begin] = static_cast<std::uint32_t>(wk.steps.size());
    for (std::size_t k = 0; k < wk.steps.size(); ++k) {
      const auto& step = wk.steps[k];
      const std::uint64_t key = key_of(i, k);
      if (Violations tv = step.violations & ~found_; tv != 0) {
        for (const auto& p : kProperties) {
          auto& f = wk.step_found[static_cast<std::size_t>(p.id)];
          if ((tv & bit(p.id)) != 0 && key < f.key)
            f = StepFound{key, step.action, step.next};
        }
      }
      // Encoded straight into the bucket's next item: the shard is known only from the hash,
      // so the item is staged in a spare slot at the end of the previous bucket's storage.
      Bucket& stage = wk.stage;
      stage.resize(words + 3);
      encode(step.next, stage.data());
      const std::uint64_t h = store_.hash(stage.data());
      Bucket& b = wk.buckets[group_of(h)];
      const std::size_t at = b.size();
      b.resize(at + words + 3);
      std::copy(stage.data(), stage.data() + words, &b[at]);
      b[at + words] = h;
      b[at + words + 1] = key;
      b[at + words + 2] = pack(step.action);
    }
  }
}

template <class Store>
void Search<Store>::absorb_group(std::size_t g) {
  const auto words = static_cast<std::size_t>(codec_.words());
  const std::size_t item = item_words();
  for (auto& wk : workers_) {
    Bucket& b = wk.buckets[g];
    const std::size_t n = b.size() / item;
    for (std::size_t c = 0; c < n; ++c) {
      if (c + 8 < n)
        store_.prefetch(b[(c + 8) * item + words]);
      const std::uint64_t* x = &b[c * item];
      store_.offer(ShardedStore::shard_of(x[words]), x, x[words], x[words + 1],
                   static_cast<std::uint32_t>(x[words + 2]));
    }
    b.clear();
  }
}

template <class Store>
std::size_t Search<Store>::workers_bytes() const {
  std::size_t b = 0;
  for (const auto& wk : workers_)
    b += wk.bytes();
  return b;
}

template <class Store>
void Search<Store>::explore_levels(Clock::time_point start) {
  workers_.resize(jobs_);
  std::vector<ShardedStore::Fresh> fresh, sorted;
  std::vector<std::uint32_t> step_count, bucket_end;
  const auto scratch = [&] {
    return workers_bytes() + (fresh.capacity() + sorted.capacity()) * sizeof(fresh[0]) +
           (step_count.capacity() + bucket_end.capacity()) * 4;
  };

  {
    std::array<std::uint64_t, kMaxWords> w{};
    encode(world_.initial(), w.data());
    const std::uint64_t h = store_.hash(w.data());
    store_.offer(ShardedStore::shard_of(h), w.data(), h, 0, 0);
    store_.collect_fresh(fresh);
    store_.extend(1);
    store_.number(0, fresh[0], kNone);
    store_.close_level();
    check_state(0, decode(0));
    if (opt_.symmetry)
      result_.represented += orbit_size(world_, decode(0));
  }

  std::uint32_t level_begin = 0;
  std::uint32_t level_end = 1;
  std::size_t slice_growth = 0;  // the most memory one slice has added so far
  std::size_t slice_fresh = 0;   // the most fresh states one slice has found so far
  auto last_report = Clock::now();
  for (int level = 0;; ++level) {
    result_.depth = level;
    result_.complete_depth = level;
    const std::uint32_t count = level_end - level_begin;
    step_count.assign(count, 0);
    for (auto& wk : workers_) {
      wk.step_found.fill(StepFound{});
      wk.state_found.fill(kNone);
    }

    bool out_of_memory = false;
    for (std::uint32_t first = level_begin; first < level_end;) {
      const std::uint32_t end = std::min(level_end, first + std::min(kSliceStates, count));
      const std::size_t before = store_.memory() + scratch();
      if (opt_.max_memory != 0 &&
          before + slice_growth +
                  store_.table_growth(2 * slice_fresh / ShardedStore::kShards + 64) >
              opt_.max_memory) {
        out_of_memory = true;
        break;
      }
      const std::size_t fresh_before = store_.fresh_count();
      const unsigned workers = end - first < kAloneBelow ? 1 : jobs_;
      const std::size_t runs = (end - first + kRunStates - 1) / kRunStates;
      parallel_for(workers, runs, [&](std::size_t r, unsigned wid) {
        const auto a = static_cast<std::uint32_t>(first + r * kRunStates);
        expand_run(workers_[wid], a, std::min(end, a + kRunStates), level_begin, step_count);
      });
      parallel_for(workers, kGroups, [&](std::size_t g, unsigned) { absorb_group(g); });
      const std::size_t after = store_.memory() + scratch();
      slice_growth = std::max(slice_growth, after > before ? after - before : 0);
      slice_fresh = std::max(slice_fresh, store_.fresh_count() - fresh_before);
      first = end;
      if (opt_.progress &&
          Clock::now() - last_report > std::chrono::duration<double>(opt_.progress_seconds)) {
        last_report = Clock::now();
        report_progress(start, first, store_.size() + store_.fresh_count(), after);
      }
    }

    // The level's fresh states in the sequential search's order: by parent (a counting sort,
    // parents are this level's states), then by successor number.
    fresh.clear();
    if (!out_of_memory) {
      const std::size_t n = store_.fresh_count();
      if (opt_.max_memory != 0 && store_.memory() + scratch() + growth_bytes(fresh, n) +
                                          growth_bytes(sorted, n) + store_.numbering_growth(n) >
                                      opt_.max_memory)
        out_of_memory = true;
    }
    if (out_of_memory) {
      // The level is dropped whole: every state up to this depth was stored and checked, and
      // every step out of the states before it.
      stop(Stop::max_memory);
      break;
    }
    store_.collect_fresh(fresh);
    bucket_end.assign(std::size_t{count} + 1, 0);
    for (const auto& f : fresh)
      ++bucket_end[(f.key >> 32) - level_begin + 1];
    for (std::uint32_t p = 0; p < count; ++p)
      bucket_end[p + 1] += bucket_end[p];
    sorted.resize(fresh.size());
    for (const auto& f : fresh)
      sorted[bucket_end[(f.key >> 32) - level_begin]++] = f;
    for (std::uint32_t p = 0, from = 0; p < count; ++p) {
      std::sort(sorted.begin() + from, sorted.begin() + bucket_end[p],
                [](const auto& x, const auto& y) { return x.key < y.key; });
      from = bucket_end[p];
    }

    // --max-states: the sequential search stops after the first state whose successors bring
    // the store to the limit; it keeps that state's successors and no later one's.
    std::uint32_t last = level_end - 1;
    bool cut = false;
    const std::size_t base = store_.size();
    if (opt_.max_states != 0) {
      const std::uint64_t need = opt_.max_states > base ? opt_.max_states - base : 0;
      if (need == 0) {
        last = level_begin;
        cut = true;
      } else if (need <= sorted.size()) {
        last = static_cast<std::uint32_t>(sorted[need - 1].key >> 32);
        cut = true;
      }
      if (cut) {
        const auto keep = std::partition_point(
            sorted.begin(), sorted.end(), [&](const auto& f) { return (f.key >> 32) <= last; });
        sorted.erase(keep, sorted.end());
      }
    }
    for (std::uint32_t i = level_begin; i <= last; ++i) {
      result_.generated += step_count[i - level_begin];
      result_.transitions += step_count[i - level_begin];
    }

    store_.extend(sorted.size());
    const std::size_t number_runs = (sorted.size() + kNumberRun - 1) / kNumberRun;
    parallel_for(sorted.size() < kAloneBelow ? 1 : jobs_, number_runs,
                 [&](std::size_t r, unsigned) {
                   const std::size_t e = std::min(sorted.size(), (r + 1) * kNumberRun);
                   for (std::size_t i = r * kNumberRun; i < e; ++i) {
                     store_.number(static_cast<std::uint32_t>(base + i), sorted[i],
                                   static_cast<std::uint32_t>(sorted[i].key >> 32));
                   }
                 });
    store_.close_level();

    // The new states' own properties, and their orbits.
    const auto added = static_cast<std::uint32_t>(sorted.size());
    const std::size_t runs = (std::size_t{added} + kRunStates - 1) / kRunStates;
    parallel_for(added < kAloneBelow ? 1 : jobs_, runs, [&](std::size_t r, unsigned wid) {
      Worker& wk = workers_[wid];
      const auto a = static_cast<std::uint32_t>(base + r * kRunStates);
      const auto e =
          static_cast<std::uint32_t>(std::min<std::size_t>(base + added, a + kRunStates));
      for (std::uint32_t g = a; g < e; ++g) {
        const State s = decode(g);
        if (Violations v = state_violations(world_, s) & ~found_; v != 0) {
          for (const auto& p : kProperties) {
            auto& f = wk.state_found[static_cast<std::size_t>(p.id)];
            if ((v & bit(p.id)) != 0 && g < f)
              f = g;
          }
        }
        if (opt_.symmetry)
          wk.represented += orbit_size(world_, s);
      }
    });

    // The first violation of each property in the sequential order: a step's transition
    // property (key | 0) comes before the state it reaches (key | 1).
    for (const auto& p : kProperties) {
      const auto id = static_cast<std::size_t>(p.id);
      if ((found_ & bit(p.id)) != 0)
        continue;
      const StepFound* step = nullptr;
      std::uint32_t state = kNone;
      for (const auto& wk : workers_) {
        if (wk.step_found[id].key != kNoKey && (wk.step_found[id].key >> 32) <= last &&
            (step == nullptr || wk.step_found[id].key < step->key))
          step = &wk.step_found[id];
        state = std::min(state, wk.state_found[id]);
      }
      const std::uint64_t state_key = state == kNone ? kNoKey : sorted[state - base].key | 1;
      if (step == nullptr && state == kNone)
        continue;
      found_ |= bit(p.id);
      if (step != nullptr && step->key < state_key) {
        Trace t = path_to(static_cast<std::uint32_t>(step->key >> 32));
        t.actions.push_back(step->action);
        t.states.push_back(step->next);
        violated(p.id, std::move(t));
      } else {
        violated(p.id, path_to(state));
      }
    }

    if (cut) {
      stop(Stop::max_states);
      break;
    }
    if (added == 0)
      break;
    level_begin = level_end;
    level_end = static_cast<std::uint32_t>(store_.size());
  }
  for (const auto& wk : workers_)
    result_.represented += wk.represented;
  result_.distinct = store_.size();
  if (!opt_.symmetry)
    result_.represented = result_.distinct;
  parallel_memory_ = scratch();
  workers_.clear();
}

template void Search<ShardedStore>::explore_levels(Clock::time_point start);

}  // namespace luo::proofs::search
