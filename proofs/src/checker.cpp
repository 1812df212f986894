// The explicit-state search of checker.hpp: a breadth-first exploration into an exact visited
// set, the state and transition properties judged on the way, then the liveness pass over the
// stored graph. Two engines share everything but the exploration: the sequential one (one
// thread, one hash index) and the level-synchronous parallel one (a sharded index, each level's
// new states numbered afterwards in the sequential search's own order), so both store the same
// graph under the same numbers and report the same counterexamples.
#include "luo/proofs/checker.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bitset>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>

#include "luo/proofs/encoding.hpp"

namespace luo::proofs {

std::string_view status_name(PropertyStatus s) {
  switch (s) {
    case PropertyStatus::holds:
      return "holds";
    case PropertyStatus::violated:
      return "VIOLATED";
    case PropertyStatus::not_checked:
      return "not checked";
  }
  return "?";
}

std::string_view stop_name(Stop s) {
  switch (s) {
    case Stop::none:
      return "none";
    case Stop::max_states:
      return "max-states";
    case Stop::max_memory:
      return "max-memory";
  }
  return "?";
}

unsigned default_jobs() {
  return std::max(1u, std::thread::hardware_concurrency());
}

std::uint64_t default_memory_cap() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0)
    return std::uint64_t{4} << 30;  // unknown: a cap a small machine still survives
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) / 2;
}

bool CheckResult::all_hold() const {
  return std::none_of(verdicts.begin(), verdicts.end(),
                      [](const Verdict& v) { return v.status == PropertyStatus::violated; });
}

const Verdict& CheckResult::verdict(PropertyId id) const {
  return verdicts[static_cast<std::size_t>(id)];
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kNoKey = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kTagMask = 0xFFFFFFFF00000000ULL;

std::uint32_t pack(const Action& a) {
  return static_cast<std::uint32_t>(a.kind) | (std::uint32_t{a.a} << 8) |
         (std::uint32_t{a.b} << 16);
}
Action unpack(std::uint32_t p) {
  return Action{static_cast<ActionKind>(p & 0xFF), static_cast<std::uint8_t>((p >> 8) & 0xFF),
                static_cast<std::uint8_t>((p >> 16) & 0xFF)};
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::uint64_t hash_words(const std::uint64_t* w, int words) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < words; ++i)
    h = mix(h ^ w[i]) + 0x9E3779B97F4A7C15ULL;
  return h;
}

bool equal_words(const std::uint64_t* a, const std::uint64_t* b, int words) {
  for (int i = 0; i < words; ++i) {
    if (a[i] != b[i])
      return false;
  }
  return true;
}

// What a vector would newly allocate to hold `need` elements (libstdc++ at least doubles).
template <class T>
std::size_t growth_bytes(const std::vector<T>& v, std::size_t need) {
  return need > v.capacity() ? std::max(v.capacity() * 2, need) * sizeof(T) : 0;
}

// Runs fn(task, worker) for every task in [0, tasks) on up to `workers` threads, the caller
// being worker 0; tasks are handed out in increasing order from a shared counter. The first
// exception a worker throws stops the others and is rethrown here once all have stopped.
template <class F>
void parallel_for(unsigned workers, std::size_t tasks, F&& fn) {
  const auto n = static_cast<unsigned>(std::min<std::size_t>(workers, tasks));
  if (n <= 1) {
    for (std::size_t t = 0; t < tasks; ++t)
      fn(t, 0u);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_lock;
  const auto body = [&](unsigned worker) {
    try {
      for (;;) {
        const std::size_t t = next.fetch_add(1, std::memory_order_relaxed);
        if (t >= tasks || failed.load(std::memory_order_relaxed))
          break;
        fn(t, worker);
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_lock);
      if (!error)
        error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (unsigned w = 1; w < n; ++w) {
    try {
      threads.emplace_back(body, w);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones running share the tasks
    }
  }
  body(0);
  for (auto& t : threads)
    t.join();
  if (error)
    std::rethrow_exception(error);
}

// The sequential visited set: every state's words in insertion (= breadth-first) order, which is
// also the queue, with its parent and the action that reached it; an open-addressing index over
// them.
class StateStore {
 public:
  explicit StateStore(int words) : words_(words) { table_.assign(1u << 16, 0); }

  std::size_t size() const { return parent_.size(); }
  const std::uint64_t* at(std::uint32_t i) const { return &data_[std::size_t{i} * words_]; }
  std::uint32_t parent(std::uint32_t i) const { return parent_[i]; }
  Action action(std::uint32_t i) const { return unpack(action_[i]); }
  std::size_t memory() const {
    return data_.capacity() * 8 + parent_.capacity() * 4 + action_.capacity() * 4 +
           table_.capacity() * 8;
  }
  // memory() once `n` more states are inserted, counting the moment a growing array and its
  // replacement both exist (an upper bound: two arrays never grow at the same instant).
  std::size_t peak_after(std::size_t n) const {
    std::size_t table = table_.size();
    while ((size() + n) * 2 > table)
      table *= 2;
    return memory() + (table != table_.size() ? table * 8 : 0) +
           growth_bytes(data_, data_.size() + n * static_cast<std::size_t>(words_)) +
           growth_bytes(parent_, size() + n) + growth_bytes(action_, size() + n);
  }

  // Grows the index ahead of `n` inserts, so hashes taken now stay valid for them.
  void reserve_for(std::size_t n) {
    while ((size() + n) * 2 > table_.size())
      grow();
  }
  std::uint64_t hash(const std::uint64_t* w) const { return hash_words(w, words_); }
  // The index lives in main memory, far beyond the caches: a state's successors fetch their
  // slots together instead of one miss after another.
  void prefetch(std::uint64_t h) const { __builtin_prefetch(&table_[h & (table_.size() - 1)]); }

  // The index of `w` (whose hash is `h`), and whether it was new. Call reserve_for() first.
  std::pair<std::uint32_t, bool> insert(const std::uint64_t* w, std::uint64_t h,
                                        std::uint32_t parent, std::uint32_t action) {
    const std::uint64_t tag = h >> 32 << 32;
    std::size_t slot = h & (table_.size() - 1);
    for (;;) {
      const std::uint64_t e = table_[slot];
      if (e == 0)
        break;
      // A slot is the hash's upper half and index + 1: most mismatches never touch the state.
      if ((e & kTagMask) == tag && equal_words(at(static_cast<std::uint32_t>(e) - 1), w, words_))
        return {static_cast<std::uint32_t>(e) - 1, false};
      slot = (slot + 1) & (table_.size() - 1);
    }
    const auto index = static_cast<std::uint32_t>(size());
    table_[slot] = tag | (std::uint64_t{index} + 1);
    data_.insert(data_.end(), w, w + words_);
    parent_.push_back(parent);
    action_.push_back(action);
    return {index, true};
  }

  std::uint32_t find(const std::uint64_t* w) const {
    const std::uint64_t h = hash(w);
    const std::uint64_t tag = h >> 32 << 32;
    std::size_t slot = h & (table_.size() - 1);
    for (;;) {
      const std::uint64_t e = table_[slot];
      if (e == 0)
        return kNone;
      if ((e & kTagMask) == tag && equal_words(at(static_cast<std::uint32_t>(e) - 1), w, words_))
        return static_cast<std::uint32_t>(e) - 1;
      slot = (slot + 1) & (table_.size() - 1);
    }
  }

 private:
  void grow() {
    std::vector<std::uint64_t> bigger(table_.size() * 2, 0);
    for (std::uint32_t i = 0; i < size(); ++i) {
      const std::uint64_t h = hash(at(i));
      std::size_t slot = h & (bigger.size() - 1);
      while (bigger[slot] != 0)
        slot = (slot + 1) & (bigger.size() - 1);
      bigger[slot] = (h >> 32 << 32) | (std::uint64_t{i} + 1);
    }
    table_ = std::move(bigger);
  }

  int words_;
  std::vector<std::uint64_t> data_;
  std::vector<std::uint32_t> parent_;
  std::vector<std::uint32_t> action_;
  std::vector<std::uint64_t> table_;  // 0: empty
};

// The parallel visited set. The states themselves are stored as in StateStore: their words in
// global (breadth-first) order, which is the queue, with parents and actions. The index over
// them is split into 256 shards by the hash's top byte, so that during a level each shard is
// written by one thread only. A state first reached in the level being expanded is "fresh": it
// waits in its shard with the smallest key (parent index, successor number) that reached it,
// which is the one the sequential search would have inserted it from. At the level's end the
// fresh states are numbered in key order, i.e. with exactly the sequential search's numbers,
// parents and actions, and appended to the global arrays.
class ShardedStore {
 public:
  static constexpr int kShardBits = 8;
  static constexpr std::size_t kShards = std::size_t{1} << kShardBits;
  static constexpr int kFreshBits = 32 - kShardBits;
  static constexpr std::uint32_t kFreshMask = (std::uint32_t{1} << kFreshBits) - 1;
  // A slot's low half: global number + 1, or this bit with the shard's fresh index.
  static constexpr std::uint32_t kFreshBit = std::uint32_t{1} << 31;

  struct Fresh {
    std::uint64_t key;  // parent << 32 | successor << 1
    std::uint32_t ref;  // shard << kFreshBits | fresh index
    std::uint32_t action;
  };

  explicit ShardedStore(int words) : words_(words), shards_(kShards) {
    for (auto& s : shards_)
      s.table.assign(std::size_t{1} << 8, 0);
  }

  std::size_t size() const { return parent_.size(); }
  const std::uint64_t* at(std::uint32_t i) const { return &data_[std::size_t{i} * words_]; }
  std::uint32_t parent(std::uint32_t i) const { return parent_[i]; }
  Action action(std::uint32_t i) const { return unpack(action_[i]); }
  std::uint64_t hash(const std::uint64_t* w) const { return hash_words(w, words_); }
  static std::size_t shard_of(std::uint64_t h) {
    return static_cast<std::size_t>(h >> (64 - kShardBits));
  }
  void prefetch(std::uint64_t h) const {
    const Shard& s = shards_[shard_of(h)];
    __builtin_prefetch(&s.table[h & (s.table.size() - 1)]);
  }

  // Numbered states only.
  std::uint32_t find(const std::uint64_t* w) const {
    const std::uint64_t h = hash(w);
    const std::uint32_t v = lookup(shards_[shard_of(h)], w, h).first;
    return v == 0 || (v & kFreshBit) != 0 ? kNone : v - 1;
  }

  // Records that the successor `key` reaches `w` (hash `h`, shard `k`). Only one thread may
  // offer to a given shard at a time, and none may number states meanwhile.
  void offer(std::size_t k, const std::uint64_t* w, std::uint64_t h, std::uint64_t key,
             std::uint32_t action) {
    Shard& s = shards_[k];
    if ((s.entries + 1) * 2 > s.table.size())
      grow(s);
    const auto [v, slot] = lookup(s, w, h);
    if (v != 0) {
      if ((v & kFreshBit) != 0) {
        FreshSlot& f = s.fresh[v & ~kFreshBit];
        if (key < f.key) {
          f.key = key;
          f.action = action;
        }
      }
      return;
    }
    const auto index = static_cast<std::uint32_t>(s.fresh.size());
    if (index > kFreshMask)
      throw std::length_error("the checker's level is too wide (2^24 new states in a shard)");
    s.table[slot] = (h >> 32 << 32) | kFreshBit | index;
    s.fresh_words.insert(s.fresh_words.end(), w, w + words_);
    s.fresh.push_back(FreshSlot{key, action, slot});
    ++s.entries;
  }

  std::size_t fresh_count() const {
    std::size_t n = 0;
    for (const auto& s : shards_)
      n += s.fresh.size();
    return n;
  }
  void collect_fresh(std::vector<Fresh>& out) const {
    for (std::size_t k = 0; k < kShards; ++k) {
      const Shard& s = shards_[k];
      for (std::size_t i = 0; i < s.fresh.size(); ++i) {
        out.push_back(
            Fresh{s.fresh[i].key,
                  static_cast<std::uint32_t>(k << kFreshBits) | static_cast<std::uint32_t>(i),
                  s.fresh[i].action});
      }
    }
  }
  // Makes room for `n` numbered states; number(first + i) then fills entry i.
  void extend(std::size_t n) {
    const std::size_t want = size() + n;
    if (want > parent_.capacity()) {
      const std::size_t cap = std::max(parent_.capacity() * 2, want);
      data_.reserve(cap * static_cast<std::size_t>(words_));
      parent_.reserve(cap);
      action_.reserve(cap);
    }
    data_.resize(want * static_cast<std::size_t>(words_));
    parent_.resize(want);
    action_.resize(want);
  }
  // Gives a fresh state the number `g` (room made by extend()). Distinct states may be
  // numbered by different threads at once.
  void number(std::uint32_t g, const Fresh& f, std::uint32_t parent) {
    Shard& s = shards_[f.ref >> kFreshBits];
    const FreshSlot& slot = s.fresh[f.ref & kFreshMask];
    const std::uint64_t* w = &s.fresh_words[std::size_t{f.ref & kFreshMask} * words_];
    std::copy(w, w + words_, &data_[std::size_t{g} * words_]);
    parent_[g] = parent;
    action_[g] = f.action;
    s.table[slot.slot] = (s.table[slot.slot] & kTagMask) | (std::uint64_t{g} + 1);
  }
  // Bytes extend(n) would newly allocate.
  std::size_t numbering_growth(std::size_t n) const {
    const std::size_t want = size() + n;
    if (want <= parent_.capacity())
      return 0;
    const std::size_t cap = std::max(parent_.capacity() * 2, want);
    return cap * (static_cast<std::size_t>(words_) * 8 + 4 + 4);
  }
  // Ends a level: fresh states not numbered (cut by --max-states) stay in the index, unreachable
  // by find(); the search stops right after such a level.
  void close_level() {
    for (auto& s : shards_) {
      s.fresh.clear();
      s.fresh_words.clear();
    }
  }

  std::size_t memory() const {
    std::size_t m = data_.capacity() * 8 + parent_.capacity() * 4 + action_.capacity() * 4;
    for (const auto& s : shards_) {
      m += s.table.capacity() * 8 + s.fresh_words.capacity() * 8 +
           s.fresh.capacity() * sizeof(FreshSlot);
    }
    return m;
  }
  // The new tables of the shards that `per_shard` more states each would make grow.
  std::size_t table_growth(std::size_t per_shard) const {
    std::size_t m = 0;
    for (const auto& s : shards_) {
      if ((s.entries + per_shard) * 2 > s.table.size())
        m += s.table.size() * 2 * 8;
    }
    return m;
  }

 private:
  struct FreshSlot {
    std::uint64_t key;
    std::uint32_t action;
    std::uint32_t slot;  // where its table entry is (kept up to date when the table grows)
  };
  struct Shard {
    std::vector<std::uint64_t> table;  // hash's upper half | (global + 1 or kFreshBit | fresh)
    std::vector<std::uint64_t> fresh_words;
    std::vector<FreshSlot> fresh;
    std::size_t entries = 0;
  };

  const std::uint64_t* words_of(const Shard& s, std::uint32_t v) const {
    return (v & kFreshBit) != 0 ? &s.fresh_words[std::size_t{v & ~kFreshBit} * words_]
                                : &data_[std::size_t{v - 1} * words_];
  }
  // The slot's low half for `w` (0 if absent) and the slot it occupies or would occupy.
  std::pair<std::uint32_t, std::uint32_t> lookup(const Shard& s, const std::uint64_t* w,
                                                 std::uint64_t h) const {
    const std::uint64_t tag = h >> 32 << 32;
    const std::size_t mask = s.table.size() - 1;
    std::size_t slot = h & mask;
    for (;;) {
      const std::uint64_t e = s.table[slot];
      if (e == 0)
        return {0, static_cast<std::uint32_t>(slot)};
      const auto v = static_cast<std::uint32_t>(e);
      if ((e & kTagMask) == tag && equal_words(words_of(s, v), w, words_))
        return {v, static_cast<std::uint32_t>(slot)};
      slot = (slot + 1) & mask;
    }
  }
  void grow(Shard& s) {
    std::vector<std::uint64_t> bigger(s.table.size() * 2, 0);
    const std::size_t mask = bigger.size() - 1;
    for (const std::uint64_t e : s.table) {
      if (e == 0)
        continue;
      const auto v = static_cast<std::uint32_t>(e);
      std::size_t slot = hash_words(words_of(s, v), words_) & mask;
      while (bigger[slot] != 0)
        slot = (slot + 1) & mask;
      bigger[slot] = e;
      if ((v & kFreshBit) != 0)
        s.fresh[v & ~kFreshBit].slot = static_cast<std::uint32_t>(slot);
    }
    s.table = std::move(bigger);
  }

  int words_;
  std::vector<Shard> shards_;
  std::vector<std::uint64_t> data_;
  std::vector<std::uint32_t> parent_;
  std::vector<std::uint32_t> action_;
};

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
  void explore(Clock::time_point start) {
    std::array<std::uint64_t, kMaxWords> w{};
    const State init = world_.initial();
    encode(init, w.data());
    store_.reserve_for(1);
    store_.insert(w.data(), store_.hash(w.data()), kNone, 0);
    check_state(0, decode(0));
    if (opt_.symmetry)
      result_.represented += orbit_size(world_, decode(0));

    std::vector<World::Step> steps;
    std::vector<std::uint64_t> batch;
    std::vector<std::uint64_t> hashes;
    std::size_t level_end = 1;
    auto last_report = Clock::now();
    for (std::uint32_t i = 0; i < store_.size(); ++i) {
      if (i == level_end) {
        ++result_.depth;
        level_end = store_.size();
      }
      const State s = decode(i);
      world_.successors(s, steps);
      if (opt_.max_memory != 0 && store_.peak_after(steps.size()) > opt_.max_memory) {
        // Every state of this level and the one before was stored and checked.
        stop(Stop::max_memory);
        break;
      }
      result_.generated += steps.size();
      result_.transitions += steps.size();
      store_.reserve_for(steps.size());
      batch.resize(steps.size() * kMaxWords);
      hashes.resize(steps.size());
      for (std::size_t k = 0; k < steps.size(); ++k) {
        encode(steps[k].next, &batch[k * kMaxWords]);
        hashes[k] = store_.hash(&batch[k * kMaxWords]);
        store_.prefetch(hashes[k]);
      }
      for (std::size_t k = 0; k < steps.size(); ++k) {
        const auto& step = steps[k];
        if (Violations tv = step.violations & ~found_; tv != 0) {
          found_ |= tv;
          for (const auto& p : kProperties) {
            if ((tv & bit(p.id)) == 0)
              continue;
            Trace t = path_to(i);
            t.actions.push_back(step.action);
            t.states.push_back(step.next);
            violated(p.id, std::move(t));
          }
        }
        auto [index, added] = store_.insert(&batch[k * kMaxWords], hashes[k], i, pack(step.action));
        if (added) {
          check_state(index, step.next);
          if (opt_.symmetry)
            result_.represented += orbit_size(world_, codec_.decode(&batch[k * kMaxWords]));
        }
      }
      if (opt_.max_states != 0 && store_.size() >= opt_.max_states) {
        stop(Stop::max_states);
        break;
      }
      if (opt_.progress && (i & 0xFFF) == 0 &&
          Clock::now() - last_report > std::chrono::duration<double>(opt_.progress_seconds)) {
        last_report = Clock::now();
        report_progress(start, i, store_.size(), store_.memory());
      }
    }
    result_.complete_depth = result_.depth;
    result_.distinct = store_.size();
    if (!opt_.symmetry)
      result_.represented = result_.distinct;
  }

  // ---------------------------------------------------------------------------------------------
  // The parallel search (jobs > 1), one breadth-first level at a time. A level is expanded in
  // slices; each slice in two phases: (1) the workers take runs of the level's states, compute
  // their successors, encode them and sort them into one bucket per group of shards; (2) each
  // worker takes whole groups and offers their shards every bucketed successor, so no shard is
  // written by two threads. At the level's end the fresh states are numbered in key order, and the
  // properties the level broke get the counterexample the sequential search would have found first:
  // the smallest key among a transition's (parent, successor) and a new state's first discoverer.

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

  void absorb_group(std::size_t g) {
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

  std::size_t workers_bytes() const {
    std::size_t b = 0;
    for (const auto& wk : workers_)
      b += wk.bytes();
    return b;
  }

  void explore_levels(Clock::time_point start) {
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

  // ---------------------------------------------------------------------------------------------
  // Liveness under weak fairness, one entry at a time: a strongly connected set of states where
  // the entry stays pending, whose every always-enabled fair action is also taken inside it, is
  // a fair run that never delivers; so is a pending state with no successor at all. The graph is
  // built once (in parallel runs of states) and the entries are searched in parallel; the first
  // entry (in entry order) with a violation is reported, as the sequential pass would.

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

  void liveness() {
    const auto n = static_cast<std::uint32_t>(store_.size());
    const int entries = world_.fd_count() + opt_.bounds.sessions;
    static_assert(kMaxFds + kMaxSessions <= 16, "one bit per entry in `owed`");
    const unsigned searchers =
        static_cast<unsigned>(std::min<std::size_t>(jobs_, static_cast<std::size_t>(entries)));
    const std::size_t need = (std::size_t{n} + 1) * 8 + result_.transitions * (4 + 2) +
                             std::size_t{n} * 2 +
                             searchers * std::size_t{n} * kScratchBytesPerState;
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
      const std::size_t runs =
          std::min<std::size_t>(jobs_, (n - first + kGraphRun - 1) / kGraphRun);
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
  Finding search_entry(int k, const Graph& g, Scratch& sc) const {
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

  std::string entry_label(int k) const {
    if (k < world_.fd_count())
      return "fd " + std::to_string(world_.owner_of_fd(k)) + "." +
             std::to_string(k % opt_.bounds.fds);
    return "session " + std::to_string(k - world_.fd_count());
  }

  bool fair_cycle(const std::vector<std::uint32_t>& comp, const std::vector<char>& in,
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
  Trace lasso(const std::vector<std::uint32_t>& comp, const Graph& g) const {
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

  static std::string mib(std::uint64_t bytes) {
    return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
  }

  void finalize() {
    const Bounds& b = opt_.bounds;
    // The liveness pass alone may have been left out, after a search that covered everything.
    const bool searched_all = result_.complete || liveness_skipped_need_ != 0;
    result_.fixpoint = b.any_kexecs && searched_all;
    for (auto& v : result_.verdicts) {
      if (!wanted(v.id)) {
        v.status = PropertyStatus::not_checked;
        v.counterexample.reset();
        v.note = "not selected (--property)";
      } else if (v.id == PropertyId::eventually_delivered && v.status != PropertyStatus::violated) {
        if (opt_.symmetry) {
          v.status = PropertyStatus::not_checked;
          v.note = "liveness is checked only without symmetry reduction";
        } else if (!opt_.liveness) {
          v.status = PropertyStatus::not_checked;
          v.note = "liveness check disabled";
        } else if (liveness_skipped_need_ != 0) {
          v.status = PropertyStatus::not_checked;
          v.note = "the memory cap leaves no room for the liveness pass (it needs " +
                   mib(liveness_skipped_need_) + " more)";
        } else if (result_.stopped_by == Stop::max_states) {
          v.status = PropertyStatus::not_checked;
          v.note = "the state limit stopped the search";
        } else if (result_.stopped_by == Stop::max_memory) {
          v.status = PropertyStatus::not_checked;
          v.note = "the memory cap stopped the search";
        } else if (b.any_kexecs) {
          v.note = "for every fair run that kexecs finitely often";
        }
      } else if (v.status == PropertyStatus::holds && !searched_all) {
        v.note = "no violation among the states explored (search incomplete)";
      }
    }
    auto& nc = result_.not_covered;
    if (!b.any_kexecs)
      nc.push_back("only the bounds above: " + b.describe());
    else if (result_.fixpoint)
      nc.push_back(
          "for any number of kexecs (the search reached its fixpoint: every reachable state of "
          "the abstraction was stored), with at most " +
          std::to_string(b.faults) +
          " faults in each boot; only the other bounds above: " + b.describe());
    else
      nc.push_back(
          "NOT for any number of kexecs: the search stopped before its fixpoint, so the "
          "verdicts cover only the runs described below, not every number of kexecs; bounds: " +
          b.describe());
    if (b.any_kexecs)
      nc.push_back(
          "--any-kexecs abstracts what grows with kexecs: the boot is cold or later, faults are a "
          "budget per boot, the kexec counter is kept exactly up to " +
          std::to_string(world_.counter_cap() - 1) + " and as \"" +
          std::to_string(world_.counter_cap()) +
          " or more\" beyond, with whether it equals the mapping's; "
          "eventually_delivered covers the runs that kexec finitely often (an entry held for an "
          "owner that every boot shuts down before loading is carried forever) "
          "(docs/properties.md, \"Beyond the bounds\")");
    nc.push_back(
        "weak fairness is assumed for the manager's and the kernel's actions (load owner, "
        "daemon-reload, restore, dispatch, FINISH, Stage B, kexec, service start); services and "
        "faults are not assumed to act");
    if (opt_.symmetry)
      nc.push_back(
          "symmetry reduction over interchangeable fds and owners: safety verdicts are exact "
          "for the quotient; liveness is not checked under it");
    const std::string covered = "every state within " + std::to_string(result_.complete_depth) +
                                " steps of the initial state was checked, none beyond " +
                                std::to_string(result_.complete_depth + 1) +
                                " steps: verdicts cover only the states stored";
    if (result_.stopped_by == Stop::max_states)
      nc.push_back("the search stopped at " + std::to_string(result_.distinct) +
                   " states (--max-states): " + covered);
    else if (liveness_skipped_need_ != 0)
      nc.push_back("the memory cap (--max-memory " + mib(opt_.max_memory) +
                   ") left no room for the liveness pass: every state was checked for safety");
    else if (result_.stopped_by == Stop::max_memory)
      nc.push_back("the memory cap (--max-memory " + mib(opt_.max_memory) +
                   ") stopped the search at " + std::to_string(result_.distinct) +
                   " states: " + covered);
    nc.push_back(
        "abstractions: no fd names or datagrams, a service's own fd copies are not tracked, "
        "Stage B is one step, every crash is followed by a restart (docs/properties.md)");
  }

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

}  // namespace

CheckResult check(const CheckOptions& options) {
  const unsigned jobs = options.jobs == 0 ? default_jobs() : options.jobs;
  if (jobs == 1)
    return Search<StateStore>(options, 1).run();
  return Search<ShardedStore>(options, jobs).run();
}

}  // namespace luo::proofs
