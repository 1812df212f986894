// luo-lifecycle diagram: one machine drawn from its transition table (model/diagram.hpp), as
// Mermaid, Graphviz DOT, or SVG rendered by Graphviz's `dot`.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "command.hpp"
#include "luo/impl/fd_io.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/all_machines.hpp"
#include "luo/model/diagram.hpp"

namespace luo::cli {
namespace {

// Renders DOT through `dot -Tsvg`: the DOT goes through a temporary file so that the SVG can be
// read back through a pipe into `out`. Fails when Graphviz is not installed.
bool render_svg(const std::string& dot, std::ostream& out, std::ostream& err) {
  char path[] = "/tmp/luo-lifecycle-XXXXXX.dot";
  UniqueFd file(::mkostemps(path, 4, O_CLOEXEC));
  if (!file) {
    err << "luo-lifecycle diagram: cannot create a temporary file\n";
    return false;
  }
  struct Unlink {
    const char* p;
    ~Unlink() { ::unlink(p); }
  } unlink_on_exit{path};
  if (!fd_io::write_all_at(file.get(), dot, 0, ::pwrite).ok()) {
    err << "luo-lifecycle diagram: cannot write " << path << "\n";
    return false;
  }
  const std::string command = std::string("dot -Tsvg ") + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "re");
  if (pipe == nullptr) {
    err << "luo-lifecycle diagram: cannot run Graphviz's dot\n";
    return false;
  }
  std::string svg;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    svg.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0) {
    err << "luo-lifecycle diagram: dot failed (is graphviz installed?): " << svg << "\n";
    return false;
  }
  out << svg;
  return true;
}

int run(const Args& args, Io& io) {
  const Command& self = diagram_command();
  const auto profile = profile_option(self, args, io);
  if (!profile)
    return kExitUsage;
  if (args.positional.size() != 1)
    return usage_error(self, io, "expects exactly one machine; " + machine_list());
  const std::string format = args.value("--format").value_or("mermaid");
  if (format != "mermaid" && format != "dot" && format != "svg")
    return usage_error(self, io, "unknown format '" + format + "' (mermaid, dot or svg)");
  const DiagramOptions options{*profile, !args.flag("--no-refusals"), args.flag("--all")};
  std::ostringstream text;
  bool rendered = true;
  if (!visit_machine(args.positional[0], [&](const auto& m) {
        if (format == "mermaid")
          text << to_mermaid(m, options);
        else if (format == "dot")
          text << to_dot(m, options);
        else
          rendered = render_svg(to_dot(m, options), text, io.err);
      })) {
    return usage_error(self, io, "unknown machine '" + args.positional[0] + "'; " + machine_list());
  }
  if (!rendered)
    return kExitFailure;
  if (const auto output = args.value("--output")) {
    std::ofstream file(*output, std::ios::binary | std::ios::trunc);
    if (!(file << text.str()) || !file.flush()) {
      io.err << "luo-lifecycle diagram: cannot write '" << *output << "'\n";
      return kExitFailure;
    }
    return kExitOk;
  }
  io.out << text.str();
  return kExitOk;
}

}  // namespace

const Command& diagram_command() {
  static const Command command{
      "diagram",
      "<machine> [--format mermaid|dot|svg] [--profile P] [--no-refusals] [--all] [--output FILE]",
      "draw one lifecycle machine as Mermaid, Graphviz DOT or SVG",
      "Draws the machine from its transition table: one edge per (state, event, next state),\n"
      "labelled with the event and every outcome of those rows with its guard, e.g.\n"
      "'PRESERVE_FD: [token_in_use] EEXIST'. Refusals (failing calls that leave the state\n"
      "unchanged) are drawn as self-loops carrying their errno. svg needs Graphviz's `dot`.\n\n" +
          machine_list() + "\n",
      {{"--format", "F", "mermaid (stateDiagram-v2, default), dot, or svg"},
       kProfileOption,
       {"--no-refusals", "", "hide failing calls that leave the state unchanged"},
       {"--all", "", "also draw rows whose outcome is 'undefined'"},
       {"--output", "FILE", "write to FILE instead of standard output"}},
      run};
  return command;
}

}  // namespace luo::cli
