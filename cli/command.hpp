// cli/command.hpp: what every luo-lifecycle subcommand is made of, and the list of them.
//
// A subcommand is a Command: its name, a one-line summary for `luo-lifecycle --help`, a
// description for its own `--help`, the options it takes (the parser and the help text are
// both generated from that list, so they cannot disagree) and a run function. Adding one:
//
//   // cli/check_command.cpp
//   namespace luo::cli {
//   namespace { int run(const Args& args, Io& io) { ...; return kExitOk; } }
//   const Command& check_command() {
//     static const Command command{"check", "<model>", "verify the model's properties",
//                                  "Long description...\n", {{"--json", "", "print JSON"}}, run};
//     return command;
//   }
//   }  // namespace luo::cli
//
// and one line `X(check)` in LUO_CLI_COMMANDS below. cli/CMakeLists.txt picks the file up.
//
// Exit codes are the same for every subcommand: 0 success, 1 a failure or a negative verdict
// (a mapping a restore would not take whole, a scenario step that did not go as expected),
// 2 a usage error (unknown option, missing argument, unreadable input file, invalid scenario).
// run_main() catches whatever a command lets escape (std::bad_alloc included) and exits 1 with
// "internal error", so no input ends the process with a signal. Input files go through
// cli/input.hpp (size cap, depth limit, duplicate keys).
// Commands write to Io, never to std::cout directly, so tests can run them in-process.
#pragma once

#include <iosfwd>
#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "luo/model/profile.hpp"
#include "luo/model/systemd_profile.hpp"

namespace luo::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Io {
  std::istream& in;  // read by an input argument of "-"
  std::ostream& out;
  std::ostream& err;
  // The fd behind `in` when it is the process's standard input: "-" then reads the fd, whose
  // read errors (a directory, EIO) iostreams would report as an end of file.
  int in_fd = -1;
};

struct Option {
  std::string_view name;        // "--profile"
  std::string_view value_name;  // "P"; empty for a flag
  std::string_view help;
};

// The parsed command line of one subcommand. Options may be given as "--name value" or
// "--name=value"; "--" ends the options; "-" is a positional argument (standard input).
class Args {
 public:
  std::vector<std::string> positional;

  bool flag(std::string_view name) const;
  // The last value given for the option, if any.
  std::optional<std::string> value(std::string_view name) const;
  void set(std::string name, std::string value);

 private:
  std::vector<std::pair<std::string, std::string>> options_;
};

struct Command {
  std::string_view name;
  std::string_view synopsis;  // after "luo-lifecycle <name> ", e.g. "<machine> [options]"
  std::string_view summary;   // one line for `luo-lifecycle --help`
  std::string description;    // may end with generated text, e.g. machine_list()
  std::vector<Option> options;
  int (*run)(const Args& args, Io& io);
};

// Every subcommand, in the order `luo-lifecycle --help` lists them; each X(name) declares
// `const Command& name_command()`, defined in cli/name_command.cpp.
#define LUO_CLI_COMMANDS(X) \
  X(demo)                   \
  X(table)                  \
  X(diagram)                \
  X(inspect)                \
  X(simulate)               \
  X(check)                  \
  X(replay)

#define LUO_CLI_DECLARE(name) const Command& name##_command();
LUO_CLI_COMMANDS(LUO_CLI_DECLARE)
#undef LUO_CLI_DECLARE

std::span<const Command* const> commands();
const Command* find_command(std::string_view name);

// `luo-lifecycle <argv...>` (argv without the program name): dispatch, --help, usage errors.
int run_main(std::span<const std::string> argv, Io& io);

// The full --help text of a command: synopsis, description, generated option list.
std::string help_text(const Command& command);

// Writes "luo-lifecycle <command>: <message>" and the synopsis to io.err; returns kExitUsage.
int usage_error(const Command& command, Io& io, std::string_view message);

// --profile (default: the library's default profile); nullopt after a usage error was written.
// kProfileOption is its line in the option list of every command that reads it this way.
inline constexpr Option kProfileOption{"--profile", "P",
                                       "kernel ABI profile: 6.19, 7.0, 7.1, 7.2 (default) or 7.3"};
std::optional<KernelProfile> profile_option(const Command& command, const Args& args, Io& io);
// --systemd v261|v262 (default v262): which systemd's writers to follow.
std::optional<SystemdProfile> systemd_option(const Command& command, const Args& args, Io& io);

// "machines: device outgoing-session ..." for help and error texts.
std::string machine_list();

}  // namespace luo::cli
