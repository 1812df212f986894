// The checker's search as a class template over its visited set (checker_stores.hpp): the
// sequential engine (Search<StateStore>) and the level-synchronous parallel one
// (Search<ShardedStore>) share everything declared here but the exploration. The members are
// written where their concept is: checker.cpp (the run, the sequential search, the verdicts'
// notes), checker_parallel.cpp (the parallel search) and checker_liveness.cpp (the liveness pass
// under weak fairness). Private to proofs/src.
#pragma once

#include <array>
#include <bitset>
#include <deque>
#include <string>
#include <type_traits>
#include <vector>

#include "checker_stores.hpp"
#include "luo/proofs/checker.hpp"

namespace luo::proofs::search {

template <class Store>
class Search {
 public:
  Search(const CheckOptions& opt, unsigned jobs)
      : opt_(opt), jobs_(jobs), world_(opt.bounds), codec_(opt.bounds), store_(codec_.words()) {}

  CheckResult run() {
    const auto start = Clock::now();
    result_.bounds = opt_.bounds;
    result_.symmetry = opt_.symmetry;
    result_.state_bits = codec_.bits();
    result_.jobs = jobs_;
    result_.max_memory = opt_.max_memory;
    for (const auto& p : kProperties)
      result_.verdicts.push_back(Verdict{p.id, PropertyStatus::holds, std::nullopt, ""});

    if constexpr (std::is_same_v<Store, StateStore>)
      explore(start);
    else
      explore_levels(start);
    result_.explore_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (opt_.liveness && !opt_.symmetry && result_.complete &&
        wanted(PropertyId::eventually_delivered))
      liveness();
    finalize();
    result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result_.memory_bytes = store_.memory() + liveness_memory_ + parallel_memory_;
    return result_;
  }

 private:
  bool wanted(PropertyId id) const { return !opt_.only || *opt_.only == id; }

  State decode(std::uint32_t i) const { return codec_.decode(store_.at(i)); }

  void encode(State s, std::uint64_t* w) const {
    if (opt_.symmetry)
      canonicalize(world_, s);
    codec_.encode(s, w);
  }

  void stop(Stop why) {
    result_.complete = false;
    result_.stopped_by = why;
  }

  // The path from the initial state to `i`, as stored (canonical states under symmetry).
  Trace path_to(std::uint32_t i) const {
    std::vector<std::uint32_t> chain;
    for (std::uint32_t k = i; k != kNone; k = store_.parent(k))
      chain.push_back(k);
    std::reverse(chain.begin(), chain.end());
    Trace t;
    for (std::size_t n = 0; n < chain.size(); ++n) {
      t.states.push_back(decode(chain[n]));
      if (n > 0)
        t.actions.push_back(store_.action(chain[n]));
    }
    return concrete(std::move(t));
  }

  // Under symmetry the stored states are representatives, so an action recorded against one may
  // name another fd or owner than in the concrete run. Replays the trace from the concrete
  // initial state, taking at each step the successor whose representative is the stored one.
  Trace concrete(Trace t) const {
    if (!opt_.symmetry)
      return t;
    Trace out;
    out.states.push_back(world_.initial());
    std::vector<World::Step> steps;
    std::array<std::uint64_t, kMaxWords> want{}, got{};
    for (std::size_t n = 0; n < t.actions.size(); ++n) {
      codec_.encode(t.states[n + 1], want.data());
      world_.successors(out.states.back(), steps);
      bool found = false;
      for (const auto& step : steps) {
        encode(step.next, got.data());
        if (std::memcmp(got.data(), want.data(), static_cast<std::size_t>(codec_.words()) * 8) ==
            0) {
          out.actions.push_back(step.action);
          out.states.push_back(step.next);
          found = true;
          break;
        }
      }
      if (!found)
        return t;  // cannot happen for a sound reduction; the stored trace is still readable
    }
    out.loop_start = t.loop_start;
    return out;
  }

  void violated(PropertyId id, Trace t, std::string note = "") {
    auto& v = result_.verdicts[static_cast<std::size_t>(id)];
    if (v.status == PropertyStatus::violated)
      return;
    v.status = PropertyStatus::violated;
    v.counterexample = std::move(t);
    v.note = std::move(note);
  }

  // `s` is the state stored at `i`, or (under symmetry) any member of its class: the properties
  // do not tell them apart.
  void check_state(std::uint32_t i, const State& s) {
    Violations v = state_violations(world_, s) & ~found_;
    if (v == 0)
      return;
    found_ |= v;
    for (const auto& p : kProperties) {
      if ((v & bit(p.id)) != 0)
        violated(p.id, path_to(i));
    }
  }

  void report_progress(Clock::time_point start, std::size_t explored, std::size_t stored,
                       std::size_t memory) {
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    opt_.progress("explored " + std::to_string(explored) + " of " + std::to_string(stored) +
                  " distinct states, depth " + std::to_string(result_.depth) + ", " +
                  std::to_string(static_cast<long long>(static_cast<double>(stored) / secs)) +
                  " states/s, " + std::to_string(memory >> 20) + " MiB");
  }

  // The sequential search (jobs == 1).
  void explore(Clock::time_point start);

  // --- the parallel search (jobs > 1), one breadth-first level at a time: checker_parallel.cpp ---

  // Successors waiting for their shard: each the state's words, its hash, its key and its
  // action, one stream (item_words() per successor).
  using Bucket = std::vector<std::uint64_t>;
  std::size_t item_words() const { return static_cast<std::size_t>(codec_.words()) + 3; }

  // The first step of the level (smallest key) that broke a transition property.
  struct StepFound {
    std::uint64_t key = kNoKey;
    Action action{};
    State next{};
  };
  struct Worker {
    std::vector<Bucket> buckets = std::vector<Bucket>(kGroups);
    Bucket stage;  // one successor's words before its shard is known
    std::vector<World::Step> steps;
    std::array<StepFound, kPropertyCount> step_found;
    std::array<std::uint32_t, kPropertyCount> state_found{};  // smallest new state breaking it
    std::uint64_t represented = 0;
    std::size_t bytes() const {
      std::size_t b = steps.capacity() * sizeof(World::Step);
      for (const auto& bucket : buckets)
        b += bucket.capacity() * 8;
      return b;
    }
  };

  // Phase 1 sorts successors into groups of shards, not single shards: a worker's few group
  // buckets stay in its cache, where 256 bucket tails would make every write a miss.
  static constexpr int kGroupBits = 5;
  static constexpr std::size_t kGroups = std::size_t{1} << kGroupBits;
  static std::size_t group_of(std::uint64_t h) {
    return ShardedStore::shard_of(h) >> (ShardedStore::kShardBits - kGroupBits);
  }
  static constexpr std::uint32_t kSliceStates = 1u << 15;  // per phase-1/phase-2 round
  static constexpr std::uint32_t kRunStates = 64;          // one phase-1 task
  static constexpr std::uint32_t kAloneBelow = 128;        // smaller slices: no threads
  static constexpr std::size_t kNumberRun = 1u << 12;      // states numbered per task

  static std::uint64_t key_of(std::uint32_t parent, std::size_t successor) {
    return (std::uint64_t{parent} << 32) | (std::uint64_t{successor} << 1);
  }

  void expand_run(Worker& wk, std::uint32_t first, std::uint32_t end, std::uint32_t level_begin,
                  std::vector<std::uint32_t>& step_count) const;
  void absorb_group(std::size_t g);
  std::size_t workers_bytes() const;
  void explore_levels(Clock::time_point start);

  // --- liveness under weak fairness, one entry at a time: checker_liveness.cpp ---

  using ClassSet = std::bitset<kActionKinds * 16>;

  struct Graph {
    std::vector<std::uint64_t> row;  // row[i]..row[i+1]: state i's successors in col/cls
    std::vector<std::uint32_t> col;
    std::vector<std::uint16_t> cls;   // fairness class; 0xFFFF: not a fair action; see kNextBoot
    std::vector<std::uint16_t> owed;  // bit k: entry k is pending in this state
  };

  struct Finding {
    bool found = false;
    bool dead_end = false;  // a pending state where nothing can happen any more
    std::uint32_t root = 0;
    std::vector<std::uint32_t> comp;  // else: the fair component
  };

  struct Scratch {
    std::vector<char> in, on_stack;
    std::vector<std::uint32_t> index, low, stack;
    struct Frame {
      std::uint32_t v;
      std::uint64_t next;
    };
    std::vector<Frame> call;
  };

  // With any_kexecs, a kexec's edge carries this bit next to its fairness class: the liveness pass
  // looks for cycles without such edges, i.e. runs that kexec finitely often (a bounded world
  // never kexecs forever either). The class still counts as enabled in the state the edge leaves,
  // so a run that stops at a kexec it could take is unfair, as before.
  static constexpr std::uint16_t kUnfair = 0xFFFF;
  static constexpr std::uint16_t kNextBoot = 0x8000;
  static_assert(kActionKinds * 16 < kNextBoot);
  static bool crosses_boot(std::uint16_t cls) { return cls != kUnfair && (cls & kNextBoot) != 0; }

  static constexpr std::uint32_t kGraphRun = 1u << 13;
  static constexpr std::size_t kScratchBytesPerState = 1 + 1 + 4 + 4;

  void liveness();
  Finding search_entry(int k, const Graph& g, Scratch& sc) const;
  std::string entry_label(int k) const;
  bool fair_cycle(const std::vector<std::uint32_t>& comp, const std::vector<char>& in,
                  const Graph& g) const;
  Trace lasso(const std::vector<std::uint32_t>& comp, const Graph& g) const;

  static std::string mib(std::uint64_t bytes);
  void finalize();

  const CheckOptions& opt_;
  unsigned jobs_;
  World world_;
  Codec codec_;
  Store store_;
  CheckResult result_;
  Violations found_ = 0;
  std::size_t liveness_memory_ = 0;
  std::size_t parallel_memory_ = 0;        // the parallel search's buckets and level buffers
  std::size_t liveness_skipped_need_ = 0;  // the liveness pass's bytes, when the cap refused them
  std::vector<Worker> workers_;
};

}  // namespace luo::proofs::search
