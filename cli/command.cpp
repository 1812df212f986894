// The subcommand registry, the argument parser and the helpers every subcommand shares.
#include "command.hpp"

#include <algorithm>
#include <exception>
#include <iostream>
#include <new>
#include <variant>

#include "luo/model/all_machines.hpp"

namespace luo::cli {

bool Args::flag(std::string_view name) const {
  return std::any_of(options_.begin(), options_.end(),
                     [&](const auto& o) { return o.first == name; });
}

std::optional<std::string> Args::value(std::string_view name) const {
  for (auto it = options_.rbegin(); it != options_.rend(); ++it) {
    if (it->first == name)
      return it->second;
  }
  return std::nullopt;
}

void Args::set(std::string name, std::string value) {
  options_.emplace_back(std::move(name), std::move(value));
}

std::span<const Command* const> commands() {
#define LUO_CLI_ENTRY(name) &name##_command(),
  static const Command* const list[] = {LUO_CLI_COMMANDS(LUO_CLI_ENTRY)};
#undef LUO_CLI_ENTRY
  return list;
}

const Command* find_command(std::string_view name) {
  for (const Command* c : commands()) {
    if (c->name == name)
      return c;
  }
  return nullptr;
}

namespace {

constexpr std::string_view kProgram = "luo-lifecycle";

std::string main_usage() {
  std::string out = "usage: luo-lifecycle <command> [options]\n\ncommands:\n";
  for (const Command* c : commands()) {
    std::string name(c->name);
    name.resize(std::max<std::size_t>(name.size(), 9), ' ');
    out += "  " + name + " " + std::string(c->summary) + "\n";
  }
  out +=
      "\nRun 'luo-lifecycle <command> --help' for a command's options.\n"
      "Exit codes: 0 success, 1 failure or negative verdict, 2 usage error.\n";
  return out;
}

const Option* find_option(const Command& command, std::string_view name) {
  for (const Option& o : command.options) {
    if (o.name == name)
      return &o;
  }
  return nullptr;
}

// The parsed arguments, or the usage error's message.
std::variant<Args, std::string> parse(const Command& command, std::span<const std::string> argv) {
  Args args;
  bool options_done = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (options_done || arg == "-" || !arg.starts_with("-")) {
      args.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const auto eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const Option* option = find_option(command, name);
    if (option == nullptr)
      return "unknown option '" + name + "'";
    if (option->value_name.empty()) {
      if (eq != std::string::npos)
        return "option '" + name + "' takes no value";
      args.set(name, "");
    } else if (eq != std::string::npos) {
      args.set(name, arg.substr(eq + 1));
    } else if (i + 1 < argv.size()) {
      args.set(name, argv[++i]);
    } else {
      return "option '" + name + "' needs a value (" + std::string(option->value_name) + ")";
    }
  }
  return args;
}

bool asks_for_help(std::span<const std::string> argv) {
  for (const std::string& arg : argv) {
    if (arg == "--")
      return false;
    if (arg == "--help" || arg == "-h")
      return true;
  }
  return false;
}

}  // namespace

std::string help_text(const Command& command) {
  std::string out = "usage: luo-lifecycle " + std::string(command.name) + " " +
                    std::string(command.synopsis) + "\n\n" + std::string(command.description);
  out += "\noptions:\n";
  std::vector<std::pair<std::string, std::string_view>> lines;
  std::size_t width = 0;
  for (const Option& o : command.options) {
    std::string left(o.name);
    if (!o.value_name.empty())
      left += " " + std::string(o.value_name);
    width = std::max(width, left.size());
    lines.emplace_back(std::move(left), o.help);
  }
  lines.emplace_back("-h, --help", "print this help and exit");
  width = std::max<std::size_t>(width, 10);
  for (auto& [left, help] : lines) {
    left.resize(width, ' ');
    out += "  " + left + "  " + std::string(help) + "\n";
  }
  return out;
}

int usage_error(const Command& command, Io& io, std::string_view message) {
  io.err << kProgram << " " << command.name << ": " << message << "\n"
         << "usage: luo-lifecycle " << command.name << " " << command.synopsis << "\n"
         << "Run 'luo-lifecycle " << command.name << " --help' for details.\n";
  return kExitUsage;
}

std::optional<KernelProfile> profile_option(const Command& command, const Args& args, Io& io) {
  const auto text = args.value("--profile");
  if (!text)
    return kDefaultProfile;
  if (auto p = parse_profile(*text))
    return p;
  usage_error(command, io, "unknown profile '" + *text + "' (known: 6.19, 7.0, 7.1, 7.2, 7.3)");
  return std::nullopt;
}

std::optional<SystemdProfile> systemd_option(const Command& command, const Args& args, Io& io) {
  const auto text = args.value("--systemd");
  if (!text)
    return kDefaultSystemdProfile;
  if (auto p = parse_systemd_profile(*text))
    return p;
  std::string known;
  for (SystemdProfile p : kAllSystemdProfiles)
    known += (known.empty() ? "" : ", ") + std::string(systemd_profile_name(p));
  usage_error(command, io, "unknown systemd profile '" + *text + "' (known: " + known + ")");
  return std::nullopt;
}

std::string machine_list() {
  std::string out = "machines:";
  for (auto name : kMachineNames)
    out += " " + std::string(name);
  return out;
}

int run_main(std::span<const std::string> argv, Io& io) {
  if (argv.empty()) {
    io.err << main_usage();
    return kExitUsage;
  }
  const std::string& name = argv[0];
  if (name == "--help" || name == "-h" || name == "help") {
    if (argv.size() > 1 && name == "help") {
      if (const Command* c = find_command(argv[1])) {
        io.out << help_text(*c);
        return kExitOk;
      }
    }
    io.out << main_usage();
    return kExitOk;
  }
  const Command* command = find_command(name);
  if (command == nullptr) {
    io.err << kProgram << ": unknown command '" << name << "'\n" << main_usage();
    return kExitUsage;
  }
  const auto rest = argv.subspan(1);
  if (asks_for_help(rest)) {
    io.out << help_text(*command);
    return kExitOk;
  }
  auto parsed = parse(*command, rest);
  if (auto* message = std::get_if<std::string>(&parsed))
    return usage_error(*command, io, *message);
  // The last line of defence: a command that lets an exception escape (a bug, or memory
  // running out) ends with a message and exit 1, never with std::terminate's SIGABRT.
  try {
    return command->run(std::get<Args>(parsed), io);
  } catch (const std::bad_alloc&) {
    io.err << kProgram << " " << command->name << ": out of memory\n";
  } catch (const std::exception& e) {
    io.err << kProgram << " " << command->name << ": internal error: " << e.what() << "\n";
  } catch (...) {
    io.err << kProgram << " " << command->name << ": internal error: unknown exception\n";
  }
  return kExitFailure;
}

}  // namespace luo::cli
