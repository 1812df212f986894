// luo/model/machine.hpp: a lifecycle as data: a table of rows (state, event, guard, profiles)
// -> (next state, outcome), and the one function that reads it.
//
// Rows for the same (state, event) are ordered like the kernel's own checks: the first row
// whose guard holds wins. Every (state, event, profile) cell must end in an `always` row, which
// `Machine::is_complete()` checks at compile time, so a forgotten cell is a build error.
//
//   auto d = decide(kOutgoingSessionMachine, OutgoingSessionState::created,
//                   OutgoingSessionEvent::preserve_fd, KernelProfile::v7_2, facts);
//   if (d.determined() && !d.first().outcome.ok()) { /* refuse without a syscall */ }
//   auto row = d.resolve(observed_errno);   // after the syscall: which row the kernel took
//
// A caller that asks one question many times in a row (a session's PRESERVE_FD, once a fd)
// keeps a DecisionMemo, which answers it again without walking the cell.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string_view>

#include "luo/model/guard.hpp"
#include "luo/model/outcome.hpp"
#include "luo/model/profile.hpp"

namespace luo {

namespace detail {
[[noreturn]] inline void check_failed(const char* what) noexcept {
  std::fprintf(stderr, "luo: table engine check failed: %s\n", what);
  std::abort();
}
}  // namespace detail

// An invariant of the table engine that the compile-time checks cannot cover for every call
// (a caller asking a terminal state, a cell with more candidates than a Decision holds). A
// broken one aborts with the message rather than answer from the wrong row; in a constant
// expression it is a compile error.
constexpr void check(bool ok, const char* what) {
  if (!ok) [[unlikely]]
    detail::check_failed(what);
}

template <class State, class Event>
struct Row {
  State from;
  Event event;
  Guard guard;
  ProfileSet profiles;
  State to;
  Outcome outcome;
  // Where the spec states this behaviour, e.g. "§3.1.5".
  std::string_view spec;
};

// The rows of one (profile, state, event) cell: where they sit in the machine's `order`, the
// first `always` row, and the guards that can pre-empt it. Built at compile time by
// build_index(), so a decision touches only its own cell.
struct Cell {
  static constexpr std::uint16_t kNoRow = 0xFFFF;
  std::uint16_t first = 0;
  std::uint16_t count = 0;
  std::uint16_t always = kNoRow;  // index into rows
  // Facts::bit() of every guard before `always`; Facts::kAlwaysBit alone for a cell without
  // rows, whose `always` is kNoRow.
  std::uint64_t guard_mask = 0;
};

inline constexpr std::size_t kProfileCount = std::size(kAllProfiles);

// The most rows one decision can collect (Decision's fixed capacity): a cell's rows up to and
// including its `always` row. Machine::fits_decision() checks every cell at compile time.
inline constexpr std::size_t kMaxDecisionCandidates = 16;

template <std::size_t NCells, std::size_t NOrder>
struct RowIndex {
  std::array<Cell, NCells> cells{};
  std::array<std::uint16_t, NOrder> order{};
  // Facts::bit() of each `order` entry's guard, so that select()'s search for the holding row
  // reads one word per row instead of the row.
  std::array<std::uint64_t, NOrder> order_bits{};
};

template <class State, class Event, std::size_t NS, std::size_t NE, std::size_t NR>
constexpr RowIndex<kProfileCount * NS * NE, kProfileCount * NR> build_index(
    const std::array<Row<State, Event>, NR>& rows) {
  RowIndex<kProfileCount * NS * NE, kProfileCount * NR> idx;
  std::size_t next = 0;
  for (std::size_t p = 0; p < kProfileCount; ++p) {
    for (std::size_t s = 0; s < NS; ++s) {
      for (std::size_t e = 0; e < NE; ++e) {
        Cell& c = idx.cells[(p * NS + s) * NE + e];
        c.first = static_cast<std::uint16_t>(next);
        for (std::size_t r = 0; r < NR; ++r) {
          const auto& row = rows[r];
          if (static_cast<std::size_t>(row.from) != s || static_cast<std::size_t>(row.event) != e ||
              !row.profiles.contains(kAllProfiles[p])) {
            continue;
          }
          idx.order_bits[next] = Facts::bit(row.guard);
          idx.order[next++] = static_cast<std::uint16_t>(r);
          ++c.count;
          if (c.always != Cell::kNoRow)
            continue;
          if (row.guard == Guard::always) {
            c.always = static_cast<std::uint16_t>(r);
          } else {
            c.guard_mask |= Facts::bit(row.guard);
          }
        }
        if (c.always == Cell::kNoRow)
          c.guard_mask = Facts::kAlwaysBit;
      }
    }
  }
  return idx;
}

template <class State, class Event>
struct Machine {
  using StateType = State;
  using EventType = Event;
  using RowType = Row<State, Event>;

  std::string_view name;
  State initial;
  std::span<const State> states;
  std::span<const Event> events;
  std::span<const RowType> rows;
  // States in which the object no longer exists; they need no outgoing rows.
  std::span<const State> terminals;
  // build_index() of `rows`.
  std::span<const Cell> cells;
  std::span<const std::uint16_t> order;
  std::span<const std::uint64_t> order_bits;

  constexpr const Cell& cell(KernelProfile p, State s, Event e) const {
    return cells[(static_cast<std::size_t>(p) * states.size() + static_cast<std::size_t>(s)) *
                     events.size() +
                 static_cast<std::size_t>(e)];
  }

  // The index addresses cells by enum value, so states and events must be 0..n-1 in order.
  constexpr bool enums_are_dense() const {
    for (std::size_t i = 0; i < states.size(); ++i) {
      if (static_cast<std::size_t>(states[i]) != i)
        return false;
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (static_cast<std::size_t>(events[i]) != i)
        return false;
    }
    return true;
  }

  constexpr bool is_terminal(State s) const {
    for (State t : terminals) {
      if (t == s)
        return true;
    }
    return false;
  }

  // Every non-terminal (state, event, profile) cell ends in an `always` row.
  constexpr bool is_complete() const {
    for (State s : states) {
      if (is_terminal(s))
        continue;
      for (Event e : events) {
        for (KernelProfile p : kAllProfiles) {
          bool covered = false;
          for (const RowType& r : rows) {
            if (r.from == s && r.event == e && r.profiles.contains(p) && r.guard == Guard::always) {
              covered = true;
            }
          }
          if (!covered)
            return false;
        }
      }
    }
    return true;
  }

  // Every row applies to some profile: a row with an empty profile set, such as one left
  // value-initialised by a too-large array, is dead data.
  constexpr bool rows_are_live() const {
    for (const RowType& r : rows) {
      if (r.profiles == ProfileSet())
        return false;
    }
    return true;
  }

  // No cell holds more candidates than a Decision can: decide() never has one to drop.
  constexpr bool fits_decision() const {
    for (const Cell& c : cells) {
      std::size_t n = 0;
      for (std::size_t i = c.first; i < c.first + c.count; ++i) {
        ++n;
        if (rows[order[i]].guard == Guard::always)
          break;
      }
      if (n > kMaxDecisionCandidates)
        return false;
    }
    return true;
  }

  // select()'s fast path answers from a cell only when no guard of its mask holds. Every Facts
  // holds Facts::kAlwaysBit, so it must be the whole mask of each cell without an `always` row
  // (a terminal state's, which select() must refuse) and in no other cell's mask; and each
  // order_bits entry is its row's guard bit, which select()'s search for a holding row reads.
  constexpr bool masks_keep_terminals_out() const {
    if (order_bits.size() != order.size())
      return false;
    for (const Cell& c : cells) {
      const bool has_always = c.always != Cell::kNoRow;
      if (has_always ? (c.guard_mask & Facts::kAlwaysBit) != 0
                     : c.guard_mask != Facts::kAlwaysBit) {
        return false;
      }
      for (std::size_t i = c.first; i < c.first + c.count; ++i) {
        if (order_bits[i] != Facts::bit(rows[order[i]].guard))
          return false;
      }
    }
    return true;
  }

  // No row leaves a terminal state.
  constexpr bool terminals_are_final() const {
    for (const RowType& r : rows) {
      if (is_terminal(r.from))
        return false;
    }
    return true;
  }
};

// The rows that may fire for one call, in kernel check order. `determined()` means the facts
// alone decide the row; otherwise the kernel's result picks among the candidates.
template <class State, class Event>
class Decision {
 public:
  using RowType = Row<State, Event>;
  static constexpr std::size_t kMaxCandidates = kMaxDecisionCandidates;

  constexpr void add(const RowType* row, Truth t) {
    check(count_ < kMaxCandidates, "a cell has more candidate rows than Decision::kMaxCandidates");
    rows_[count_++] = row;
    if (t == Truth::unknown)
      determined_ = false;
  }
  constexpr bool determined() const { return determined_ && count_ > 0; }
  constexpr std::size_t size() const { return count_; }
  constexpr const RowType& first() const {
    check(count_ > 0, "no row applies: a terminal state, or a cell without an `always` row");
    return *rows_[0];
  }
  constexpr const RowType& candidate(std::size_t i) const {
    check(i < count_, "Decision::candidate() past the last candidate");
    return *rows_[i];
  }

  // The candidate whose outcome equals what the kernel did (0 = success), preferring rows that
  // name that errno; nullptr when the kernel did something the model does not allow here.
  constexpr const RowType* resolve(int observed) const {
    // A row naming this exact errno beats a handler row that passes any errno through.
    for (std::size_t i = 0; i < count_; ++i) {
      const auto kind = rows_[i]->outcome.kind;
      if (kind != OutcomeKind::handler_error && rows_[i]->outcome.matches(observed)) {
        return rows_[i];
      }
    }
    for (std::size_t i = 0; i < count_; ++i) {
      if (rows_[i]->outcome.matches(observed))
        return rows_[i];
    }
    return nullptr;
  }

 private:
  std::array<const RowType*, kMaxCandidates> rows_{};
  std::size_t count_ = 0;
  bool determined_ = true;
};

template <class State, class Event>
constexpr Decision<State, Event> decide(const Machine<State, Event>& m, State state, Event event,
                                        KernelProfile profile, const Facts& facts) {
  Decision<State, Event> d;
  const Cell& c = m.cell(profile, state, event);
  for (std::size_t i = c.first; i < c.first + c.count; ++i) {
    const auto& row = m.rows[m.order[i]];
    const Truth t = facts.get(row.guard);
    if (t == Truth::no)
      continue;
    d.add(&row, t);
    if (t == Truth::yes)
      break;
  }
  return d;
}

// decide() and Decision::resolve() remembered for one call site of one object (one session's
// PRESERVE_FD, say). decide() is a pure function of the machine, state, event, profile and facts,
// and a handoff asks one site the same question tens of thousands of times in a row (a
// PRESERVE_FD or RETRIEVE_FD a fd, each in the same session state with the same facts): while
// the question is the last one, the answer is the last one, without the walk of the cell or the
// Decision to fill. `fresh` says the decision was made anew, so that a caller can keep what it
// derives from a decision beside it. The memo's decision is replaced by the next question, so a
// caller keeps the reference only for the one call it asked for.
template <class State, class Event>
class DecisionMemo {
 public:
  using DecisionType = Decision<State, Event>;
  using RowType = Row<State, Event>;
  struct Answer {
    const DecisionType& decision;
    bool fresh;
  };

  constexpr Answer decide(const Machine<State, Event>& m, State state, Event event,
                          KernelProfile profile, const Facts& facts) {
    if (machine_ == &m && state == state_ && event == event_ && profile == profile_ &&
        facts.yes_mask() == yes_ && facts.unknown_mask() == unknown_) {
      return {decision_, false};
    }
    decision_ = luo::decide(m, state, event, profile, facts);
    machine_ = &m;
    state_ = state;
    event_ = event;
    profile_ = profile;
    yes_ = facts.yes_mask();
    unknown_ = facts.unknown_mask();
    resolved_ = false;
    return {decision_, true};
  }

  // decision().resolve(observed) for the last decision; the kernel usually answers a site the
  // same way each time (0).
  constexpr const RowType* resolve(int observed) {
    if (!resolved_ || observed != observed_) {
      row_ = decision_.resolve(observed);
      observed_ = observed;
      resolved_ = true;
    }
    return row_;
  }

 private:
  const Machine<State, Event>* machine_ = nullptr;  // none yet: the first question is fresh
  State state_{};
  Event event_{};
  KernelProfile profile_{};
  std::uint64_t yes_ = 0;
  std::uint64_t unknown_ = 0;
  DecisionType decision_;
  bool resolved_ = false;
  int observed_ = 0;
  const RowType* row_ = nullptr;
};

namespace detail {
// select()'s answer when some fact is unknown: out of line, so that select() itself stays small
// enough to inline at every call site. Whole, it was not inlined once a translation unit had
// three callers (bench/transition_bench), and each transition paid a call and its Facts on the
// stack.
template <class State, class Event>
[[gnu::noinline]] constexpr const Row<State, Event>& select_by_decision(
    const Machine<State, Event>& m, State state, Event event, KernelProfile profile,
    const Facts& facts) {
  return decide(m, state, event, profile, facts).first();
}
}  // namespace detail

// The row the facts select, for callers that know every fact (the composite model, checker).
// When no guard of the cell holds, that is the cell's `always` row without any search; when
// one does, the first such row of the cell.
//
// A terminal state's cell has no rows; its guard mask is Facts::kAlwaysBit, which every Facts
// holds, so the fast path's test also keeps a terminal state out and the check below it, not on
// the common path, turns it away.
template <class State, class Event>
[[gnu::always_inline]] constexpr const Row<State, Event>& select(const Machine<State, Event>& m,
                                                                 State state, Event event,
                                                                 KernelProfile profile,
                                                                 const Facts& facts) {
  const Cell& c = m.cell(profile, state, event);
  if (facts.unknown_mask() == 0) {
    const std::uint64_t holding = facts.yes_mask() & c.guard_mask;
    if (holding == 0) [[likely]]
      return m.rows[c.always];
    check(c.always != Cell::kNoRow, "select() in a terminal state, which has no rows");
    // Every fact is known, so the answer is the first row of the cell whose guard holds: no
    // Decision to fill. One is found before `always`, where guard_mask comes from.
    for (std::size_t i = c.first;; ++i) {
      if ((holding & m.order_bits[i]) != 0)
        return m.rows[m.order[i]];
    }
  }
  check(c.always != Cell::kNoRow, "select() in a terminal state, which has no rows");
  return detail::select_by_decision(m, state, event, profile, facts);
}

}  // namespace luo
