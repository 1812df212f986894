// luo/impl/mapping_format.hpp: which of the handoff documents (handoff_mapping.hpp) a text is,
// told without reading it: Stage A entries carry `fd`, Stage B entries `token` (and a Stage B
// luo_session entry only `sessionName`). The readers themselves need the stage up front
// (parse_stage_a() or parse_stage_b()); this is what a tool that takes either, `luo-lifecycle
// inspect`, asks first.
//
//   const auto d = luo::handoff::detect_stage(text);
//   auto parsed = d.stage == luo::handoff::Stage::a ? ... parse_stage_a(text) ...;
//   // d.basis says why: both kinds of entry, or none, are a guess the caller may want to report.
//
// The pass keeps nothing but a stack of container kinds (an object directly inside an array is
// an entry), stops at handoff::kMaxJsonDepth like the readers, and never throws: malformed text
// is counted as far as it parses and left to the reader to refuse with its byte offset.
#pragma once

#include <cstddef>
#include <string_view>

#include "luo/impl/handoff_mapping.hpp"

namespace luo::handoff {

enum class Stage { a, b };

struct StageDetection {
  // Why `stage` was chosen.
  enum class Basis {
    stage_a_entries,  // every entry carries `fd`
    stage_b_entries,  // every entry carries `token` or a bare `sessionName`
    mixed,            // both kinds: the majority, Stage B on a tie
    no_entries,       // neither kind: Stage B, the document a restore reads
  };
  Stage stage = Stage::b;
  Basis basis = Basis::no_entries;
  std::size_t stage_a_entries = 0;
  std::size_t stage_b_entries = 0;
};

StageDetection detect_stage(std::string_view text);

// "B" (v261-rc1's bare unit map) or "C" (v261 and 262's {version, state, units}), the letters
// spec systemd-luo.md uses.
std::string_view format_name(Format format);

}  // namespace luo::handoff
