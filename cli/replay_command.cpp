// luo-lifecycle replay: a trace of the bounded world run through impl/ over the simulator
// (proofs/replay/include/luo/proofs/replay.hpp).
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "command.hpp"
#include "input.hpp"
#include "luo/proofs/replay.hpp"

namespace luo::cli {
namespace {

// Exit status beyond the common three: a trace the implementation cannot run.
constexpr int kExitNotReplayable = 3;

int run(const Args& args, Io& io) {
  const Command& self = replay_command();
  if (args.positional.size() != 1) {
    return usage_error(self, io,
                       args.positional.empty()
                           ? "missing <result.json|trace.json|->"
                           : "unexpected argument '" + args.positional[1] + "'");
  }
  const std::string& path = args.positional[0];
  const auto text = read_input(self, path, io);
  if (!text)
    return kExitUsage;
  auto doc = parse_json<nlohmann::json>(*text);
  if (const auto* err = std::get_if<JsonError>(&doc)) {
    io.err << "luo-lifecycle replay: " << path << ": "
           << (err->path.empty() ? "" : err->path + ": ") << err->message << "\n";
    return kExitUsage;
  }
  auto parsed = proofs::parse_trace_document(std::get<nlohmann::json>(doc));
  if (const auto* err = std::get_if<std::string>(&parsed)) {
    io.err << "luo-lifecycle replay: " << path << ": " << *err << "\n";
    return kExitUsage;
  }
  auto& file = std::get<proofs::TraceFile>(parsed);
  if (auto name = args.value("--property")) {
    if (!proofs::parse_property(*name))
      return usage_error(self, io, "unknown property '" + *name + "'");
    std::erase_if(file.traces, [&](const proofs::NamedTrace& t) { return t.property != *name; });
    if (file.traces.empty()) {
      io.err << "luo-lifecycle replay: " << path << ": no counterexample for property '" << *name
             << "'\n";
      return kExitUsage;
    }
  }

  const bool json = args.flag("--json");
  nlohmann::ordered_json out;
  out["bounds"] = file.bounds.describe();
  out["replays"] = nlohmann::ordered_json::array();
  if (!json)
    io.out << "luo-lifecycle replay: " << file.bounds.describe() << "\n";
  if (file.traces.empty() && !json)
    io.out << "nothing to replay: no counterexample in " << path << "\n";
  bool disagrees = false;
  bool unreplayable = false;
  for (const auto& t : file.traces) {
    const auto r = proofs::replay(file.bounds, t.trace);
    disagrees = disagrees || r.verdict == proofs::ReplayVerdict::disagrees;
    unreplayable = unreplayable || r.verdict == proofs::ReplayVerdict::not_replayable;
    const std::string what = t.property.empty() ? "trace" : "counterexample for " + t.property;
    if (json) {
      out["replays"].push_back({{"property", t.property},
                                {"result", nlohmann::ordered_json::parse(proofs::to_json(r))}});
    } else {
      io.out << "\n" << what << " (" << t.trace.actions.size() << " steps): " << to_text(r);
    }
  }
  if (json)
    io.out << dump(out, 2) << "\n";
  if (disagrees)
    return kExitFailure;
  return unreplayable ? kExitNotReplayable : kExitOk;
}

}  // namespace

const Command& replay_command() {
  static const Command command{
      "replay",
      "<result.json|trace.json|-> [options]",
      "run a trace of the bounded world through impl/ over the simulator, against the model",
      "Replays traces of the fd-store handoff world (the counterexamples `luo-lifecycle check\n"
      "--json` prints, or a bare trace {\"bounds\": {...}, \"steps\": [{\"action\": {\"kind\",\n"
      "\"a\", \"b\"}}, ...]}) through the implementation: the manager's fd stores, Stage A,\n"
      "Stage B and restore of impl/, over IoctlPort and the kernel simulator, with the trace's\n"
      "injected errnos and crashes. After each step the implementation's state (stores, held\n"
      "entries, pipeline states, the kernel's sessions, files and tokens, the reasons of ended\n"
      "entries) is compared with the model's, and the first step where they differ is shown\n"
      "with both sides. A restore runs as one restore() call, in mapping order; steps the\n"
      "implementation cannot express are reported as not replayable, with why.\n"
      "\n"
      "Exit status: 0 the implementation agrees with the model at every step of every trace,\n"
      "1 it disagrees somewhere, 2 usage error or bad input (the message names the field),\n"
      "3 no disagreement, but a trace is not replayable.\n",
      {{"--property", "NAME", "replay only the counterexample of this property"},
       {"--json", "", "the results as JSON"}},
      run};
  return command;
}

}  // namespace luo::cli
