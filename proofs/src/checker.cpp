#include "luo/proofs/checker.hpp"

#include <algorithm>
#include <bitset>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>

#include "luo/proofs/encoding.hpp"

namespace luo::proofs {

std::string_view status_name(Status s) {
  switch (s) {
    case Status::holds:
      return "holds";
    case Status::violated:
      return "VIOLATED";
    case Status::not_checked:
      return "not checked";
  }
  return "?";
}

bool CheckResult::all_hold() const {
  return std::none_of(verdicts.begin(), verdicts.end(),
                      [](const Verdict& v) { return v.status == Status::violated; });
}

const Verdict& CheckResult::verdict(PropertyId id) const {
  return verdicts[static_cast<std::size_t>(id)];
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

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

// The visited set: every state's words in insertion (= breadth-first) order, which is also the
// queue, with its parent and the action that reached it; an open-addressing index over them.
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

  // Grows the index ahead of `n` inserts, so hashes taken now stay valid for them.
  void reserve_for(std::size_t n) {
    while ((size() + n) * 2 > table_.size())
      grow();
  }
  std::uint64_t hash(const std::uint64_t* w) const {
    std::uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < words_; ++i)
      h = mix(h ^ w[i]) + 0x9E3779B97F4A7C15ULL;
    return h;
  }
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
      if ((e & kTagMask) == tag && equal(at(static_cast<std::uint32_t>(e) - 1), w))
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
      if ((e & kTagMask) == tag && equal(at(static_cast<std::uint32_t>(e) - 1), w))
        return static_cast<std::uint32_t>(e) - 1;
      slot = (slot + 1) & (table_.size() - 1);
    }
  }

 private:
  static constexpr std::uint64_t kTagMask = 0xFFFFFFFF00000000ULL;

  bool equal(const std::uint64_t* a, const std::uint64_t* b) const {
    for (int i = 0; i < words_; ++i) {
      if (a[i] != b[i])
        return false;
    }
    return true;
  }
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

class Search {
 public:
  Search(const CheckOptions& opt)
      : opt_(opt), world_(opt.bounds), codec_(opt.bounds), store_(codec_.words()) {}

  CheckResult run() {
    const auto start = Clock::now();
    result_.bounds = opt_.bounds;
    result_.symmetry = opt_.symmetry;
    result_.state_bits = codec_.bits();
    for (const auto& p : kProperties)
      result_.verdicts.push_back(Verdict{p.id, Status::holds, std::nullopt, ""});

    explore(start);
    result_.explore_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (opt_.liveness && !opt_.symmetry && result_.complete &&
        wanted(PropertyId::eventually_delivered))
      liveness();
    finalize();
    result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result_.memory_bytes = store_.memory() + liveness_memory_;
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
    if (v.status == Status::violated)
      return;
    v.status = Status::violated;
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
        result_.complete = false;
        break;
      }
      if (opt_.progress && (i & 0xFFF) == 0 &&
          Clock::now() - last_report > std::chrono::duration<double>(opt_.progress_seconds)) {
        last_report = Clock::now();
        const double secs = std::chrono::duration<double>(last_report - start).count();
        opt_.progress(
            "explored " + std::to_string(i) + " of " + std::to_string(store_.size()) +
            " distinct states, depth " + std::to_string(result_.depth) + ", " +
            std::to_string(static_cast<long long>(static_cast<double>(store_.size()) / secs)) +
            " states/s, " + std::to_string(store_.memory() >> 20) + " MiB");
      }
    }
    result_.distinct = store_.size();
    if (!opt_.symmetry)
      result_.represented = result_.distinct;
  }

  // ---------------------------------------------------------------------------------------------
  // Liveness under weak fairness, one entry at a time: a strongly connected set of states where
  // the entry stays pending, whose every always-enabled fair action is also taken inside it, is
  // a fair run that never delivers; so is a pending state with no successor at all.

  using ClassSet = std::bitset<kActionKinds * 16>;

  struct Edges {
    std::vector<std::uint32_t> to;
    std::vector<std::uint16_t> fair_class;  // 0xFFFF: not a fair action
  };

  void successors_of(const State& s, Edges& out) const {
    out.to.clear();
    out.fair_class.clear();
    std::vector<World::Step> steps;
    world_.successors(s, steps);
    std::array<std::uint64_t, kMaxWords> w{};
    for (const auto& step : steps) {
      encode(step.next, w.data());
      out.to.push_back(store_.find(w.data()));
      out.fair_class.push_back(World::is_fair(step.action.kind)
                                   ? static_cast<std::uint16_t>(world_.fairness_class(step.action))
                                   : std::uint16_t{0xFFFF});
    }
  }

  void liveness() {
    const auto n = static_cast<std::uint32_t>(store_.size());
    // Successor lists once, in compressed rows: every entry's pass reads them.
    std::vector<std::uint64_t> row(n + 1, 0);
    std::vector<std::uint32_t> col;
    std::vector<std::uint16_t> cls;
    col.reserve(result_.transitions);
    cls.reserve(result_.transitions);
    const int entries = world_.fd_count() + opt_.bounds.sessions;
    static_assert(kMaxFds + kMaxSessions <= 16, "one bit per entry in `owed`");
    std::vector<std::uint16_t> owed(n, 0);  // bit k: entry k is pending in this state
    Edges e;
    for (std::uint32_t i = 0; i < n; ++i) {
      const State s = decode(i);
      for (int k = 0; k < entries; ++k) {
        if (pending(world_, s, k))
          owed[i] = static_cast<std::uint16_t>(owed[i] | (1u << k));
      }
      successors_of(s, e);
      col.insert(col.end(), e.to.begin(), e.to.end());
      cls.insert(cls.end(), e.fair_class.begin(), e.fair_class.end());
      row[i + 1] = col.size();
    }
    liveness_memory_ = row.capacity() * 8 + col.capacity() * 4 + cls.capacity() * 2 + n * 2;

    std::vector<char> in(n);
    std::vector<std::uint32_t> index(n), low(n);
    std::vector<char> on_stack(n);
    std::vector<std::uint32_t> stack, comp;
    struct Frame {
      std::uint32_t v;
      std::uint64_t next;
    };
    std::vector<Frame> call;
    liveness_memory_ += n * (1 + 4 + 4 + 1);

    for (int k = 0; k < entries; ++k) {
      for (std::uint32_t i = 0; i < n; ++i)
        in[i] = (owed[i] >> k) & 1u;
      std::fill(index.begin(), index.end(), kNone);
      std::fill(on_stack.begin(), on_stack.end(), 0);
      std::uint32_t counter = 0;
      for (std::uint32_t root = 0; root < n; ++root) {
        if (!in[root] || index[root] != kNone)
          continue;
        if (row[root] == row[root + 1]) {
          // A pending state where nothing can happen any more.
          violated(PropertyId::eventually_delivered, path_to(root),
                   "entry " + entry_label(k) + " is still pending when the run stops");
          return;
        }
        call.push_back({root, row[root]});
        index[root] = low[root] = counter++;
        stack.push_back(root);
        on_stack[root] = 1;
        while (!call.empty()) {
          Frame& f = call.back();
          if (f.next < row[f.v + 1]) {
            const std::uint32_t w = col[f.next++];
            if (!in[w])
              continue;
            if (index[w] == kNone) {
              index[w] = low[w] = counter++;
              stack.push_back(w);
              on_stack[w] = 1;
              call.push_back({w, row[w]});
            } else if (on_stack[w]) {
              low[f.v] = std::min(low[f.v], index[w]);
            }
            continue;
          }
          const std::uint32_t v = f.v;
          call.pop_back();
          if (!call.empty())
            low[call.back().v] = std::min(low[call.back().v], low[v]);
          if (low[v] != index[v])
            continue;
          comp.clear();
          std::uint32_t x;
          do {
            x = stack.back();
            stack.pop_back();
            on_stack[x] = 0;
            comp.push_back(x);
          } while (x != v);
          if (fair_cycle(comp, in, row, col, cls)) {
            violated(PropertyId::eventually_delivered, lasso(comp, row, col),
                     "entry " + entry_label(k) + " stays pending forever on a fair cycle through " +
                         std::to_string(comp.size()) + " states");
            return;
          }
        }
      }
    }
  }

  std::string entry_label(int k) const {
    if (k < world_.fd_count())
      return "fd " + std::to_string(world_.owner_of_fd(k)) + "." +
             std::to_string(k % opt_.bounds.fds);
    return "session " + std::to_string(k - world_.fd_count());
  }

  bool fair_cycle(const std::vector<std::uint32_t>& comp, const std::vector<char>& in,
                  const std::vector<std::uint64_t>& row, const std::vector<std::uint32_t>& col,
                  const std::vector<std::uint16_t>& cls) const {
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
      for (std::uint64_t e = row[v]; e < row[v + 1]; ++e) {
        if (cls[e] != 0xFFFF)
          enabled.set(cls[e]);
        if (inside(col[e])) {
          internal_edge = true;
          if (cls[e] != 0xFFFF)
            taken.set(cls[e]);
        }
      }
      always &= enabled;
    }
    return internal_edge && (always & ~taken).none();
  }

  // A path to the component, then a cycle inside it back to where the path entered.
  Trace lasso(const std::vector<std::uint32_t>& comp, const std::vector<std::uint64_t>& row,
              const std::vector<std::uint32_t>& col) const {
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
        if (!std::binary_search(sorted.begin(), sorted.end(), w))
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

  void finalize() {
    const Bounds& b = opt_.bounds;
    for (auto& v : result_.verdicts) {
      if (!wanted(v.id)) {
        v.status = Status::not_checked;
        v.counterexample.reset();
        v.note = "not selected (--property)";
      } else if (v.id == PropertyId::eventually_delivered && v.status != Status::violated) {
        if (opt_.symmetry) {
          v.status = Status::not_checked;
          v.note = "liveness is checked only without symmetry reduction";
        } else if (!opt_.liveness) {
          v.status = Status::not_checked;
          v.note = "liveness check disabled";
        } else if (!result_.complete) {
          v.status = Status::not_checked;
          v.note = "the state limit stopped the search";
        }
      } else if (v.status == Status::holds && !result_.complete) {
        v.note = "no violation among the states explored (search incomplete)";
      }
    }
    auto& nc = result_.not_covered;
    nc.push_back("only the bounds above: " + b.describe());
    nc.push_back(
        "weak fairness is assumed for the manager's and the kernel's actions (load owner, "
        "daemon-reload, restore, dispatch, FINISH, Stage B, kexec, service start); services and "
        "faults are not assumed to act");
    if (opt_.symmetry)
      nc.push_back(
          "symmetry reduction over interchangeable fds and owners: safety verdicts are exact "
          "for the quotient; liveness is not checked under it");
    if (!result_.complete)
      nc.push_back("the search stopped at " + std::to_string(result_.distinct) +
                   " states (--max-states): verdicts cover only those");
    nc.push_back(
        "abstractions: no fd names or datagrams, a service's own fd copies are not tracked, "
        "Stage B is one step, every crash is followed by a restart (docs/properties.md)");
  }

  const CheckOptions& opt_;
  World world_;
  Codec codec_;
  StateStore store_;
  CheckResult result_;
  Violations found_ = 0;
  std::size_t liveness_memory_ = 0;
};

}  // namespace

CheckResult check(const CheckOptions& options) {
  Search search(options);
  return search.run();
}

}  // namespace luo::proofs
