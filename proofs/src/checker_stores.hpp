// The checker's visited sets (checker.cpp): the sequential StateStore and the parallel search's
// ShardedStore, with the hashing, the action packing and the worker pool they share. Private to
// proofs/src.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "luo/proofs/encoding.hpp"
#include "luo/proofs/world.hpp"

namespace luo::proofs::search {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kNoKey = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kTagMask = 0xFFFFFFFF00000000ULL;

inline std::uint32_t pack(const Action& a) {
  return static_cast<std::uint32_t>(a.kind) | (std::uint32_t{a.a} << 8) |
         (std::uint32_t{a.b} << 16);
}
inline Action unpack(std::uint32_t p) {
  return Action{static_cast<ActionKind>(p & 0xFF), static_cast<std::uint8_t>((p >> 8) & 0xFF),
                static_cast<std::uint8_t>((p >> 16) & 0xFF)};
}

inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

inline std::uint64_t hash_words(const std::uint64_t* w, int words) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < words; ++i)
    h = mix(h ^ w[i]) + 0x9E3779B97F4A7C15ULL;
  return h;
}

inline bool equal_words(const std::uint64_t* a, const std::uint64_t* b, int words) {
  for (int i = 0; i < words; ++i) {
    if (a[i] != b[i])
      return false;
  }
  return true;
}

// What a vector would newly allocate to hold `need` elements (libstdc++ at least doubles).
template <class T>
inline std::size_t growth_bytes(const std::vector<T>& v, std::size_t need) {
  return need > v.capacity() ? std::max(v.capacity() * 2, need) * sizeof(T) : 0;
}

// Runs fn(task, worker) for every task in [0, tasks) on up to `workers` threads, the caller
// being worker 0; tasks are handed out in increasing order from a shared counter. The first
// exception a worker throws stops the others and is rethrown here once all have stopped.
template <class F>
inline void parallel_for(unsigned workers, std::size_t tasks, F&& fn) {
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

}  // namespace luo::proofs::search
