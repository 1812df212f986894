// luo-lifecycle check: the bounded proof of the fd-store handoff (proofs/checker.hpp).
#include <charconv>
#include <iostream>
#include <limits>
#include <string>

#include "command.hpp"
#include "luo/proofs/checker.hpp"
#include "luo/proofs/cutoff.hpp"
#include "luo/proofs/promela.hpp"
#include "luo/proofs/spin_crosscheck.hpp"

namespace luo::cli {
namespace {

// Exit status beyond the common three: --max-states or --max-memory stopped the search (or left
// the liveness pass out) without a violation.
constexpr int kExitIncomplete = 3;

// A byte count: digits with an optional K, M, G or T (powers of 1024); nullopt if malformed.
std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data())
    return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  int shift = 0;
  if (unit == "K" || unit == "k")
    shift = 10;
  else if (unit == "M")
    shift = 20;
  else if (unit == "G")
    shift = 30;
  else if (unit == "T")
    shift = 40;
  else if (!unit.empty())
    return std::nullopt;
  if (shift != 0 && n > (std::numeric_limits<std::uint64_t>::max() >> shift))
    return std::nullopt;
  return n << shift;
}

std::string mutant_list() {
  std::string s;
  for (proofs::Mutant m : proofs::kAllMutants)
    s += " " + std::string(proofs::mutant_name(m));
  return s;
}

// Listed on a line of their own: scripts that take the "mutants:" line (bench/spin_approximate.sh)
// expect every mutant there to show within the bounds.
std::string beyond_bounds_mutant_list() {
  std::string s;
  for (proofs::Mutant m : proofs::kBeyondBoundsMutants)
    s += " " + std::string(proofs::mutant_name(m));
  return s;
}

std::string property_list() {
  std::string s;
  for (const auto& p : proofs::kProperties)
    s += " " + std::string(p.name);
  return s;
}

// A bound given as a number; nullopt after a usage error was written.
std::optional<int> bound(const Command& self, const Args& args, Io& io, std::string_view name,
                         int fallback) {
  const auto v = args.value(name);
  if (!v)
    return fallback;
  int n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || n < 0) {
    usage_error(self, io, std::string(name) + " needs a non-negative number, not '" + *v + "'");
    return std::nullopt;
  }
  return n;
}

// --any-owners: the cutoff's sizes and the locality check instead of one bounded run.
int run_any_owners(const Command& self, const Args& args, Io& io, const proofs::CheckOptions& opt) {
  for (const char* other : {"--owners", "--fds", "--symmetry", "--property", "--any-kexecs"}) {
    if (args.flag(other) || args.value(other))
      return usage_error(
          self, io,
          std::string(other) + " does not apply to --any-owners (it runs the cutoff's own sizes)");
  }
  if (auto why = proofs::any_owners_refusal(opt.bounds); !why.empty())
    return usage_error(self, io, why);
  proofs::AnyOwnersOptions aopt;
  aopt.bounds = opt.bounds;
  aopt.max_states = opt.max_states;
  aopt.max_memory = opt.max_memory;
  aopt.jobs = opt.jobs;
  aopt.progress = opt.progress;
  const proofs::AnyOwnersResult r = proofs::check_any_owners(aopt);
  io.out << (args.flag("--json") ? proofs::to_json(r) + "\n" : proofs::to_text(r));
  if (!r.all_hold())
    return kExitFailure;
  return r.complete() ? kExitOk : kExitIncomplete;
}

int run(const Args& args, Io& io) {
  const Command& self = check_command();
  if (!args.positional.empty())
    return usage_error(self, io, "unexpected argument '" + args.positional[0] + "'");
  if (args.flag("--list-properties")) {
    if (args.flag("--markdown")) {
      io.out << proofs::properties_markdown();
    } else {
      for (const auto& p : proofs::kProperties)
        io.out << p.name << "\n    " << p.statement << "\n";
    }
    return kExitOk;
  }
  proofs::CheckOptions opt;
  proofs::Bounds& b = opt.bounds;
  const auto owners = bound(self, args, io, "--owners", b.owners);
  const auto fds = bound(self, args, io, "--fds", b.fds);
  const auto sessions = bound(self, args, io, "--sessions", b.sessions);
  const auto kexecs = bound(self, args, io, "--kexecs", b.kexecs);
  const auto faults = bound(self, args, io, "--faults", b.faults);
  const auto file_limit = bound(self, args, io, "--file-limit", b.file_limit);
  const auto max_states = bound(self, args, io, "--max-states", 0);
  const auto jobs = bound(self, args, io, "--jobs", 0);
  if (!owners || !fds || !sessions || !kexecs || !faults || !file_limit || !max_states || !jobs)
    return kExitUsage;
  opt.jobs = static_cast<unsigned>(*jobs);
  opt.max_memory = proofs::default_memory_cap();
  if (auto size = args.value("--max-memory")) {
    const auto cap = parse_size(*size);
    if (!cap)
      return usage_error(
          self, io,
          "--max-memory needs a size such as 4G, 512M or 0 (no cap), not '" + *size + "'");
    opt.max_memory = *cap;
  }
  b.owners = *owners;
  b.fds = *fds;
  b.sessions = *sessions;
  b.kexecs = *kexecs;
  b.any_kexecs = args.flag("--any-kexecs");
  if (b.any_kexecs && args.value("--kexecs"))
    return usage_error(self, io, "--kexecs and --any-kexecs exclude each other");
  b.faults = *faults;
  b.file_limit = *file_limit;
  opt.max_states = static_cast<std::uint64_t>(*max_states);
  b.crashes = !args.flag("--no-crashes");
  b.errnos = !args.flag("--no-errnos");
  b.hijack = !args.flag("--no-hijack");
  b.late_owners = !args.flag("--no-late-owners");
  opt.symmetry = args.flag("--symmetry");
  opt.liveness = !args.flag("--no-liveness");
  const auto profile = profile_option(self, args, io);
  if (!profile)
    return kExitUsage;
  b.profile = *profile;
  const auto systemd = systemd_option(self, args, io);
  if (!systemd)
    return kExitUsage;
  b.systemd = *systemd;
  if (auto name = args.value("--property")) {
    auto id = proofs::parse_property(*name);
    if (!id)
      return usage_error(self, io, "unknown property '" + *name + "'; known:" + property_list());
    opt.only = *id;
  }
  if (auto name = args.value("--mutant")) {
    auto m = proofs::parse_mutant(*name);
    if (!m)
      return usage_error(
          self, io,
          "unknown mutant '" + *name + "'; known:" + mutant_list() + beyond_bounds_mutant_list());
    b.mutant = *m;
  }
  if (auto why = b.validate(); !why.empty())
    return usage_error(self, io, why);
  const bool promela = args.flag("--promela");
  const bool spin = args.flag("--spin");
  if (promela || spin) {
    for (const char* other : {"--json", "--symmetry", "--max-states", "--max-memory", "--jobs",
                              "--any-kexecs", "--any-owners"}) {
      if (args.flag(other) || args.value(other))
        return usage_error(
            self, io,
            std::string(other) + " does not apply to " + (promela ? "--promela" : "--spin"));
    }
    if (promela && spin)
      return usage_error(self, io, "--promela and --spin exclude each other");
    if (spin && opt.only)
      return usage_error(self, io, "--spin compares every property; --property does not apply");
  }
  if (spin) {
    proofs::SpinOptions sopt;
    sopt.liveness = opt.liveness;
    if (auto missing = proofs::spin_missing(sopt); !missing.empty()) {
      io.err << "luo-lifecycle check: " << missing << "\n";
      return kExitFailure;
    }
    const proofs::CrossCheck x = proofs::spin_crosscheck(b, sopt);
    io.out << proofs::to_text(x);
    return x.agree() ? kExitOk : kExitFailure;
  }
  if (promela) {
    proofs::PromelaOptions popt;
    if (opt.only)
      popt.properties = proofs::bit(*opt.only);
    if (!opt.liveness)
      popt.properties &= ~proofs::bit(proofs::PropertyId::eventually_delivered);
    io.out << proofs::to_promela(b, popt);
    return kExitOk;
  }
  if (!args.flag("--quiet"))
    opt.progress = [&io](const std::string& line) { io.err << "check: " << line << std::endl; };
  if (args.flag("--any-owners"))
    return run_any_owners(self, args, io, opt);

  const proofs::World world(b);
  const proofs::CheckResult r = proofs::check(opt);
  io.out << (args.flag("--json") ? proofs::to_json(world, r) + "\n" : proofs::to_text(world, r));
  if (!r.all_hold())
    return kExitFailure;
  return r.complete ? kExitOk : kExitIncomplete;
}

}  // namespace

const Command& check_command() {
  static const Command command{
      "check",
      "[options]",
      "prove the fd-store handoff's properties over every reachable state within bounds",
      "Explores every reachable state of the fd-store handoff within the bounds: the kernel\n"
      "(device, sessions, files, kexec with freeze failure and rollback), a manager with fd\n"
      "stores for N owners, services that store memfds and own third-party sessions, Stage A,\n"
      "Stage B, boot restore, owners that appear late, daemon-reload, crashes of a service or\n"
      "the manager at any step and injected errnos at every kernel call. Prints the state counts,\n"
      "a verdict per named property (docs/properties.md), what the run did not cover, and a\n"
      "shortest counterexample for each violation (replayable with `luo-lifecycle replay`).\n"
      "\n"
      "The search runs on --jobs threads (default: every core); the states, verdicts and\n"
      "counterexamples are the same for any number. --max-memory caps the checker's own memory\n"
      "(default: half the physical memory): the search stops before it would need more.\n"
      "\n"
      "--any-kexecs drops the bound on kexecs: the boot number, the faults used and the kexec\n"
      "counter are abstracted (boot cold or later, --faults per boot, the counter exact below a\n"
      "cap with whether it equals the mapping's) so that the search can reach a fixpoint; the\n"
      "report says \"for any number of kexecs\" only when it did (docs/properties.md, \"Beyond\n"
      "the bounds\"). counter_stuck is a mutant only this mode can catch.\n"
      "\n"
      "--any-owners proves the safety properties for any number of owners and memfds per owner\n"
      "by a cutoff: it checks every size a violation can shrink to (1-2 owners x 0-2 fds, 3\n"
      "owners x 0-1 fds) at the other bounds given, and checks on larger worlds that dropping an\n"
      "owner or an fd maps every step to a step of the smaller world (the theorem's premise).\n"
      "Each property is reported \"holds for any number of owners and fds\" or \"NOT ...\" with\n"
      "the reason; liveness is never claimed (docs/properties.md, \"Any number of owners and\n"
      "fds\"). two_unit_slots is a mutant the default 2 owners cannot expose; this mode does.\n"
      "\n"
      "Exit status: 0 every checked property holds over the whole bounded space, 1 a property\n"
      "is violated, 2 usage error, 3 --max-states or --max-memory stopped the search without a\n"
      "violation (the report says how far it got).\n"
      "\n"
      "--promela prints the same bounded world as a Promela model for SPIN; --spin runs it\n"
      "through spin, a C compiler and pan (exact storage, no reduction) and prints SPIN's state\n"
      "count and verdicts next to this checker's unreduced ones: exit 0 when they agree, 1 when\n"
      "they do not or SPIN could not run (docs/properties.md, \"SPIN cross-check\").\n"
      "\n"
      "properties:" +
          property_list() + "\nmutants:" + mutant_list() +
          "\nmutants beyond the default bounds (--any-kexecs, --any-owners):" +
          beyond_bounds_mutant_list() + "\n",
      {{"--owners", "N", "owners (services with fd stores), 1-4 (default 2)"},
       {"--fds", "M", "memfds each owner may store, 0-3 (default 2)"},
       {"--sessions", "S", "third-party (VMM) sessions, 0-4; session j is owner j%N's (default 1)"},
       {"--kexecs", "K", "kexec cycles, 0-3 (default 2)"},
       {"--faults", "F", "injected errnos and crashes in all, 0-3 (default 1)"},
       {"--any-kexecs", "", "no bound on kexecs (then --faults is per boot); see above"},
       {"--any-owners", "",
        "for any number of owners and fds: the cutoff (at most 1 session); see above"},
       {"--no-crashes", "", "no service or manager crashes"},
       {"--no-errnos", "", "no injected errnos"},
       {"--no-hijack", "", "no service pushes a session named \"systemd\""},
       {"--no-late-owners", "", "every owner is loaded at once in every boot"},
       {"--file-limit", "L", "per-session file limit (a legacy profile's 128, scaled down)"},
       {"--profile", "P", "kernel profile 6.19, 7.0, 7.1, 7.2 or 7.3 (default 7.2)"},
       {"--systemd", "S",
        "systemd profile v261 or v262 (default v262): v262 hands over on every kexec"},
       {"--symmetry", "", "symmetry reduction over interchangeable fds and owners (safety only)"},
       {"--no-liveness", "", "skip the liveness pass"},
       {"--property", "NAME", "check only this property"},
       {"--mutant", "NAME", "check a deliberately broken manager instead"},
       {"--max-states", "N", "stop after N distinct states (the run is then incomplete)"},
       {"--max-memory", "SIZE",
        "stop before the checker needs more than SIZE bytes (K, M, G, T; 0: no cap; default: "
        "half the RAM)"},
       {"--jobs", "N", "threads for the search (default 0: every core; 1: sequential)"},
       {"--json", "", "the result, counterexamples included, as JSON"},
       {"--promela", "", "print the model as Promela for SPIN instead of checking it"},
       {"--spin", "", "check the model with SPIN too and compare states and verdicts"},
       {"--quiet", "", "no progress lines on stderr"},
       {"--list-properties", "", "list the properties and exit"},
       {"--markdown", "", "with --list-properties: the table of docs/properties.md"}},
      run};
  return command;
}

}  // namespace luo::cli
