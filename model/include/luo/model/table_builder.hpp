// luo/model/table_builder.hpp: compile-time helpers to write transition tables compactly.
// Internal to model/: a table is still a flat constexpr array of rows when built.
#pragma once

#include <array>
#include <cstddef>
#include <optional>

#include "luo/model/machine.hpp"

namespace luo::table {

inline constexpr ProfileSet kAll = ProfileSet::all();
constexpr ProfileSet with(Feature f) {
  return ProfileSet::with(f);
}
constexpr ProfileSet without(Feature f) {
  return ProfileSet::without(f);
}

// The same rows for several source states whose behaviour is identical for an event, e.g. the
// PRESERVE_FD checks in `created` and `preserving`. `to == from` is spelt by passing nullopt.
template <class S, class E>
struct RowTemplate {
  E event;
  Guard guard;
  ProfileSet profiles;
  std::optional<S> to;  // nullopt: stay in the source state
  Outcome outcome;
  std::string_view spec;
};

template <class S, class E, std::size_t NFrom, std::size_t NRows>
constexpr std::array<Row<S, E>, NFrom * NRows> for_each_state(
    const std::array<S, NFrom>& from, const std::array<RowTemplate<S, E>, NRows>& rows) {
  std::array<Row<S, E>, NFrom * NRows> out{};
  std::size_t i = 0;
  for (S s : from) {
    for (const auto& t : rows) {
      out[i++] = Row<S, E>{s, t.event, t.guard, t.profiles, t.to ? *t.to : s, t.outcome, t.spec};
    }
  }
  return out;
}

template <class T, std::size_t A, std::size_t B>
constexpr std::array<T, A + B> concat(const std::array<T, A>& a, const std::array<T, B>& b) {
  std::array<T, A + B> out{};
  for (std::size_t i = 0; i < A; ++i)
    out[i] = a[i];
  for (std::size_t i = 0; i < B; ++i)
    out[A + i] = b[i];
  return out;
}

template <class T, std::size_t A, std::size_t... Rest>
constexpr auto concat(const std::array<T, A>& a, const std::array<T, Rest>&... rest) {
  if constexpr (sizeof...(Rest) == 0) {
    return a;
  } else {
    return concat(a, concat(rest...));
  }
}

}  // namespace luo::table
