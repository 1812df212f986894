// handoff_roundtrip.hpp: the property both mapping targets check. Any input: the reader returns
// (never throws, never crashes). An accepted document: what the writer makes of it is read back
// whole (no error, and nothing skipped that the first reading did not skip), and writing that
// again gives the same bytes, so a PID 1 that re-serializes what it restored hands on exactly
// what it understood. The writer copies `state` verbatim, as systemd does, so a note the reader
// made about it (a bad v261 kexecsCount, a mistyped KExecCount) is made again, identically; an
// entry skip cannot recur, since the skipped entry is not written (finding F9).
#pragma once

#include <algorithm>
#include <string>
#include <variant>

#include "fuzz_support.hpp"
#include "luo/impl/handoff_mapping.hpp"

namespace luo::fuzz {

template <class Doc, class Parse>
void check_handoff_roundtrip(std::string_view text, Parse parse) {
  for (auto accept : {handoff::AcceptLegacy::no, handoff::AcceptLegacy::yes}) {
    auto r = parse(text, accept);
    auto* parsed = std::get_if<handoff::Parsed<Doc>>(&r);
    if (parsed == nullptr)
      continue;
    check(accept == handoff::AcceptLegacy::yes ||
              parsed->value.header.format == handoff::Format::c_v1,
          "a format-B document was accepted without AcceptLegacy::yes");
    const std::string written = handoff::to_json(parsed->value);
    auto again = parse(written, handoff::AcceptLegacy::yes);
    if (auto* err = std::get_if<handoff::ParseError>(&again))
      fail("the writer's output of an accepted document is refused",
           "input: " + std::string(text) + "\nwritten: " + written + "\nerror at '" + err->path +
               "': " + err->message);
    const auto& reparsed = std::get<handoff::Parsed<Doc>>(again);
    for (const auto& s : reparsed.skipped) {
      if (std::find(parsed->skipped.begin(), parsed->skipped.end(), s) == parsed->skipped.end())
        fail("the writer's output of an accepted document loses an entry",
             "written: " + written + "\nskipped " + s.path + ": " + s.reason);
    }
    const std::string rewritten = handoff::to_json(reparsed.value);
    check(rewritten == written, "writing a re-read document changes it",
          "first: " + written + "\nsecond: " + rewritten);
  }
}

}  // namespace luo::fuzz
