// replay_trace.cpp: the trace reader of proofs/replay (parse_trace_json: `check --json` output
// or a bare trace) on any bytes. Properties: it returns a TraceFile or an error message, never
// throws or crashes; an accepted trace has one state more than actions, and its loop start, if
// any, lies within it.
#include <string>
#include <variant>

#include "fuzz_support.hpp"
#include "luo/proofs/replay.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = luo::proofs::parse_trace_json(luo::fuzz::as_text(data, size));
  if (auto* error = std::get_if<std::string>(&r)) {
    luo::fuzz::check(!error->empty(), "a refusal without a message");
    return 0;
  }
  for (const auto& named : std::get<luo::proofs::TraceFile>(r).traces) {
    const auto& t = named.trace;
    luo::fuzz::check(t.states.size() == t.actions.size() + 1, "states and actions out of step");
    luo::fuzz::check(t.loop_start < static_cast<int>(t.states.size()), "loop start past the end");
  }
  return 0;
}
