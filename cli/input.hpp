// cli/input.hpp: the one front door for what the CLI reads (issue 18). Every subcommand that
// takes a file (inspect, simulate, replay) reads it with read_input(), and the ones that take
// their own JSON (simulate, replay) parse it with parse_json(); inspect parses with the
// library's own mapping readers, whose acceptance rules are the point of the command.
//
// read_input() bounds what a hostile or careless path costs: at most kMaxInputBytes are read
// from anything (a regular file larger than that is refused before reading, /dev/zero or a pipe
// after the cap), a directory or a failed read is "cannot read" (exit 2), and a FIFO without a
// writer reads as end of file instead of blocking. parse_json() stops at the first malformed
// byte, at a number out of range (1e400), at a key repeated in one object (named by its path,
// where nlohmann's parse would let the last one win) and at nesting deeper than the mapping
// readers' own handoff::kMaxJsonDepth, so no recursive copy, dump or destruction of the
// document can run out of stack. Nothing here throws on any input; quote_bytes() and dump() print
// user-supplied bytes that are not UTF-8 without the type_error nlohmann's dump() would throw.
//
//   auto text = read_input(self, path, io);          // nullopt: the error was written
//   if (!text) return kExitUsage;
//   auto doc = parse_json<nlohmann::ordered_json>(*text);
//   if (auto* e = std::get_if<JsonError>(&doc)) ...   // e->path "operations[2]", e->message
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "luo/scenario/text.hpp"

namespace luo::cli {

// The largest input any subcommand reads: 16 MiB, thousands of times any real mapping, scenario
// or `check --json` result. docs/cli.md states it.
inline constexpr std::size_t kMaxInputBytes = std::size_t{16} << 20;

// The contents of `path`, or of standard input for "-" (io.in_fd when set, else io.in). nullopt
// after "cannot read '<path>': <why>" and the synopsis were written (the caller returns
// kExitUsage).
std::optional<std::string> read_input(const Command& command, const std::string& path, Io& io);

// Why a document was refused. `path` names where: "" for the document itself, else a path such
// as operations[2].op or bounds["odd key"].
struct JsonError {
  std::string path;
  std::string message;
};

// The document, or why not. Instantiated for nlohmann::json and nlohmann::ordered_json.
template <class Json>
std::variant<Json, JsonError> parse_json(std::string_view text);

// quote_bytes() and dump(): the scenario library's (luo/scenario/text.hpp), which the CLI's
// messages share.
using scenario::dump;
using scenario::quote_bytes;

}  // namespace luo::cli
