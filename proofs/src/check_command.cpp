#include "luo/proofs/check_command.hpp"

#include <charconv>
#include <iostream>
#include <string>

#include "luo/proofs/checker.hpp"

namespace luo::proofs {
namespace {

constexpr std::string_view kUsage =
    "usage: luo-lifecycle check [--owners N] [--fds M] [--sessions S] [--kexecs K] [--faults F]\n"
    "                           [--no-crashes] [--no-errnos] [--no-hijack] [--no-late-owners]\n"
    "                           [--file-limit L] [--profile P] [--symmetry] [--no-liveness]\n"
    "                           [--property NAME] [--mutant NAME] [--max-states N] [--json]\n"
    "                           [--quiet]\n"
    "       luo-lifecycle check --list-properties [--markdown]\n"
    "\n"
    "Explores every reachable state of the fd-store handoff (kernel, manager, services, kexec,\n"
    "crashes and injected errnos) within the bounds and checks every named property; prints the\n"
    "verdicts, what was not covered and a shortest counterexample for each violation.\n"
    "\n"
    "  --owners N        owners (services with fd stores), 1-4            (default 2)\n"
    "  --fds M           memfds each owner may store, 0-3                 (default 2)\n"
    "  --sessions S      third-party (VMM) sessions, 0-4; session j belongs to owner j%N\n"
    "                                                                     (default 1)\n"
    "  --kexecs K        kexec cycles, 0-3                                (default 2)\n"
    "  --faults F        injected errnos and crashes in all, 0-3          (default 1)\n"
    "  --no-crashes      no service or manager crashes\n"
    "  --no-errnos       no injected errnos\n"
    "  --no-hijack       no service pushes a session named \"systemd\"\n"
    "  --no-late-owners  every owner is loaded at once in every boot\n"
    "  --file-limit L    per-session file limit (a legacy profile's 128, scaled down)\n"
    "  --profile P       kernel profile 6.19, 7.0, 7.1, 7.2, 7.3         (default 7.2)\n"
    "  --symmetry        symmetry reduction over interchangeable fds and owners (safety only)\n"
    "  --no-liveness     skip the liveness pass\n"
    "  --property NAME   check only this property (see --list-properties)\n"
    "  --mutant NAME     check a deliberately broken manager instead: one of\n"
    "                    finish_before_dispatch restore_lifo no_namespace_guard mapping_last\n"
    "                    token_reuse never_retry_held wrong_owner forget_held_at_stage_a\n"
    "                    close_sessions_early\n"
    "  --max-states N    stop after N distinct states (the run is then incomplete)\n"
    "  --json            the result (and counterexamples) as JSON on stdout\n"
    "  --quiet           no progress lines on stderr\n"
    "\n"
    "Exit status: 0 all checked properties hold, 1 a violation, 2 usage error, 3 incomplete.\n";

std::optional<int> number(std::string_view s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::string markdown_properties() {
  std::string out = "| property | kind | statement | why | spec |\n|---|---|---|---|---|\n";
  for (const auto& p : kProperties) {
    const char* kind = p.kind == PropertyKind::state        ? "state"
                       : p.kind == PropertyKind::transition ? "transition"
                                                            : "liveness";
    out += "| `" + std::string(p.name) + "` | " + kind + " | " + std::string(p.statement) + " | " +
           std::string(p.rationale) + " | " + std::string(p.spec) + " |\n";
  }
  return out;
}

}  // namespace

int run_check_command(std::span<const std::string_view> args, std::ostream& out,
                      std::ostream& err) {
  CheckOptions opt;
  bool json = false;
  bool quiet = false;
  bool list = false;
  bool markdown = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    const auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= args.size())
        return std::nullopt;
      return args[++i];
    };
    const auto int_option = [&](int& field) {
      auto v = value();
      auto n = v ? number(*v) : std::nullopt;
      if (!n) {
        err << "check: " << a << " needs a number\n" << kUsage;
        return false;
      }
      field = *n;
      return true;
    };
    if (a == "--help" || a == "-h") {
      out << kUsage;
      return 0;
    } else if (a == "--owners") {
      if (!int_option(opt.bounds.owners))
        return 2;
    } else if (a == "--fds") {
      if (!int_option(opt.bounds.fds))
        return 2;
    } else if (a == "--sessions") {
      if (!int_option(opt.bounds.sessions))
        return 2;
    } else if (a == "--kexecs") {
      if (!int_option(opt.bounds.kexecs))
        return 2;
    } else if (a == "--faults") {
      if (!int_option(opt.bounds.faults))
        return 2;
    } else if (a == "--file-limit") {
      if (!int_option(opt.bounds.file_limit))
        return 2;
    } else if (a == "--max-states") {
      int n = 0;
      if (!int_option(n))
        return 2;
      opt.max_states = static_cast<std::uint64_t>(n);
    } else if (a == "--no-crashes") {
      opt.bounds.crashes = false;
    } else if (a == "--no-errnos") {
      opt.bounds.errnos = false;
    } else if (a == "--no-hijack") {
      opt.bounds.hijack = false;
    } else if (a == "--no-late-owners") {
      opt.bounds.late_owners = false;
    } else if (a == "--symmetry") {
      opt.symmetry = true;
    } else if (a == "--no-liveness") {
      opt.liveness = false;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--list-properties") {
      list = true;
    } else if (a == "--markdown") {
      markdown = true;
    } else if (a == "--profile") {
      auto v = value();
      auto p = v ? parse_profile(*v) : std::nullopt;
      if (!p) {
        err << "check: unknown profile '" << (v ? *v : "") << "'\n" << kUsage;
        return 2;
      }
      opt.bounds.profile = *p;
    } else if (a == "--property") {
      auto v = value();
      auto p = v ? parse_property(*v) : std::nullopt;
      if (!p) {
        err << "check: unknown property '" << (v ? *v : "") << "'; known:";
        for (const auto& prop : kProperties)
          err << " " << prop.name;
        err << "\n";
        return 2;
      }
      opt.only = *p;
    } else if (a == "--mutant") {
      auto v = value();
      auto m = v ? parse_mutant(*v) : std::nullopt;
      if (!m) {
        err << "check: unknown mutant '" << (v ? *v : "") << "'\n" << kUsage;
        return 2;
      }
      opt.bounds.mutant = *m;
    } else {
      err << "check: unknown option '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (list) {
    if (markdown) {
      out << markdown_properties();
    } else {
      for (const auto& p : kProperties)
        out << p.name << "\n    " << p.statement << "\n";
    }
    return 0;
  }
  if (auto why = opt.bounds.validate(); !why.empty()) {
    err << "check: " << why << "\n";
    return 2;
  }
  if (!quiet)
    opt.progress = [&err](const std::string& line) { err << "check: " << line << std::endl; };
  const World world(opt.bounds);
  const CheckResult r = check(opt);
  out << (json ? to_json(world, r) + "\n" : to_text(world, r));
  if (!r.all_hold())
    return 1;
  return r.complete ? 0 : 3;
}

}  // namespace luo::proofs
