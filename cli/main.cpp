// luo-lifecycle: the command-line entrance to the library.
//
//   luo-lifecycle demo [--profile 7.2]        simulated preserve -> kexec -> retrieve, traced
//   luo-lifecycle table <machine> [--profile P]  a machine's transition table, from model/
//   luo-lifecycle diagram <machine> [--format mermaid|dot|svg]  the same, drawn
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/live_update.hpp"
#include "luo/model/all_machines.hpp"
#include "luo/model/diagram.hpp"
#include "luo/proofs/check_command.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: luo-lifecycle <command> [options]\n"
    "\n"
    "commands:\n"
    "  demo    run a full simulated preserve -> kexec -> retrieve cycle and print every\n"
    "          transition the runtime takes, checked against the model\n"
    "  table   print one lifecycle machine's transition table (the model's data)\n"
    "  diagram draw one lifecycle machine as Mermaid, Graphviz DOT or SVG\n"
    "  check   prove the fd-store handoff's properties over every reachable state within\n"
    "          bounds (kernel, manager, services, kexec, crashes, injected errnos)\n"
    "\n"
    "Run 'luo-lifecycle <command> --help' for a command's options.\n";

constexpr std::string_view kDemoUsage =
    "usage: luo-lifecycle demo [--profile 6.19|7.0|7.1|7.2|7.3]\n"
    "\n"
    "Boots a simulated LUO kernel, preserves two memfds in two sessions, kexecs, retrieves\n"
    "and verifies them in the next boot, and finishes the sessions. Prints each transition\n"
    "and exits 0 only if every step succeeded and every byte came back.\n";

constexpr std::string_view kTableUsage =
    "usage: luo-lifecycle table <machine> [--profile P] [--all]\n"
    "\n"
    "Prints the rows that apply to the profile (default 7.2), in the kernel's check order.\n"
    "Rows whose outcome is 'undefined' are hidden unless --all is given.\n";

constexpr std::string_view kDiagramUsage =
    "usage: luo-lifecycle diagram <machine> [--format mermaid|dot|svg] [--profile P]\n"
    "                             [--no-refusals] [--all]\n"
    "\n"
    "Draws the machine from its transition table. Edges are labelled with the event, the guard\n"
    "and the result. --no-refusals hides failing calls that leave the state unchanged; --all\n"
    "also shows rows whose outcome is 'undefined'. svg needs Graphviz's `dot` on PATH.\n";

std::string machine_list() {
  std::string out = "machines:";
  for (auto name : luo::kMachineNames)
    out += " " + std::string(name);
  return out + "\n";
}

struct Args {
  std::vector<std::string_view> positional;
  std::optional<std::string_view> profile;
  bool help = false;
  bool all = false;
  bool no_refusals = false;
  std::string format = "mermaid";
  std::optional<std::string> error;
};

Args parse(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      a.help = true;
    } else if (arg == "--all") {
      a.all = true;
    } else if (arg == "--no-refusals") {
      a.no_refusals = true;
    } else if (arg == "--format") {
      if (i + 1 >= argc) {
        a.error = "--format needs a value";
        break;
      }
      a.format = argv[++i];
    } else if (arg == "--profile") {
      if (i + 1 >= argc) {
        a.error = "--profile needs a value";
        break;
      }
      a.profile = argv[++i];
    } else if (arg.starts_with("--")) {
      a.error = "unknown option " + std::string(arg);
      break;
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

std::optional<luo::KernelProfile> profile_of(const Args& a) {
  if (!a.profile)
    return luo::kDefaultProfile;
  return luo::parse_profile(*a.profile);
}

class PrintingObserver final : public luo::Observer {
 public:
  void on_transition(const luo::TransitionRecord& r) override {
    std::printf(
        "[boot %llu] %-16s %-30s %-13s -- %-16s --> %-12s %s%s",
        static_cast<unsigned long long>(r.boot), std::string(r.machine).c_str(), r.object.c_str(),
        std::string(r.from.empty() ? "(new)" : r.from).c_str(), std::string(r.event).c_str(),
        std::string(r.to).c_str(),
        r.result == 0
            ? "ok"
            : std::string(luo::errno_name(luo::errno_from_int(r.result).value_or(luo::Errno::ok)))
                  .c_str(),
        r.syscall_issued ? "" : " (refused before syscall)");
    if (r.token)
      std::printf(" token=%#llx", static_cast<unsigned long long>(*r.token));
    std::printf("\n");
  }
};

// Prints the failure and returns false, so each demo step reads as one line.
template <class T>
bool check(const luo::Result<T>& r) {
  if (!r)
    std::fprintf(stderr, "demo: %s\n", r.error().message().c_str());
  return r.ok();
}

int run_demo(const Args& a) {
  if (a.help) {
    std::cout << kDemoUsage;
    return 0;
  }
  const auto profile = profile_of(a);
  if (!profile) {
    std::cerr << "demo: unknown profile '" << *a.profile << "'\n" << kDemoUsage;
    return 2;
  }
  luo::SimulatedKernel kernel(*profile);
  luo::IoctlPort port(kernel);
  PrintingObserver observer;
  luo::LiveUpdate lu(port, *profile, &observer);
  std::printf("luo-lifecycle demo: kernel profile %s, simulated kernel\n\n",
              std::string(luo::profile_name(*profile)).c_str());

  const std::string guest_memory = "guest memory of vm0";
  const std::string vmm_state = "vmm device state";
  {
    auto dev = lu.open_device();
    if (!check(dev))
      return 1;
    auto vm = dev.value().create_session("vm0");
    auto state = dev.value().create_session("vmm-state");
    if (!check(vm) || !check(state))
      return 1;
    auto mem = luo::memfd::create("guest");
    auto st = luo::memfd::create("state");
    if (!mem.ok() || !st.ok() || !luo::memfd::write_at(mem.value().get(), 0, guest_memory).ok() ||
        !luo::memfd::write_at(st.value().get(), 0, vmm_state).ok()) {
      std::fprintf(stderr, "demo: memfd set-up failed\n");
      return 1;
    }
    if (!check(vm.value().preserve(mem.value().get(), 0x1)) ||
        !check(state.value().preserve(st.value().get(), 0x999))) {
      return 1;
    }
    // The model refuses this before any syscall: the token is already in the session.
    (void)vm.value().preserve(mem.value().get(), 0x1);
    dev.value().close();
    std::printf("\n-- reboot(KEXEC): the sessions' fds are still open, so they are handed over\n");
    if (!check(lu.kexec()))
      return 1;
    // The objects of boot 0 go out of scope here; they are stale and close nothing.
  }
  std::printf("\n-- boot %llu\n", static_cast<unsigned long long>(lu.boot()));
  auto dev = lu.open_device();
  if (!check(dev))
    return 1;
  bool all_back = true;
  for (auto [name, token, expected] :
       {std::tuple{"vm0", 0x1ull, guest_memory}, std::tuple{"vmm-state", 0x999ull, vmm_state}}) {
    auto in = dev.value().retrieve_session(name);
    if (!check(in))
      return 1;
    auto fd = in.value().retrieve(token);
    if (!check(fd))
      return 1;
    auto contents = luo::memfd::read_all(fd.value().get());
    const bool same = contents.ok() && contents.value() == expected;
    std::printf("   %s token %#llx: %s\n", name, static_cast<unsigned long long>(token),
                same ? "contents intact" : "CONTENTS DIFFER");
    all_back = all_back && same;
    if (!check(in.value().finish()))
      return 1;
  }
  dev.value().close();
  std::printf("\ndemo: %s\n",
              all_back ? "PASS: every preserved byte came back" : "FAIL: preserved data was lost");
  return all_back ? 0 : 1;
}

template <class M>
void print_table(const M& machine, luo::KernelProfile profile, bool all) {
  std::printf("%s (profile %s)\n", std::string(machine.name).c_str(),
              std::string(luo::profile_name(profile)).c_str());
  std::printf("%-24s %-18s %-24s %-24s %-14s %s\n", "state", "event", "guard", "next", "result",
              "spec");
  for (const auto& r : machine.rows) {
    if (!r.profiles.contains(profile))
      continue;
    if (!all && r.outcome.kind == luo::OutcomeKind::undefined)
      continue;
    std::printf("%-24s %-18s %-24s %-24s %-14s %s\n", std::string(state_name(r.from)).c_str(),
                std::string(event_name(r.event)).c_str(),
                std::string(luo::guard_name(r.guard)).c_str(),
                std::string(state_name(r.to)).c_str(), luo::to_string(r.outcome).c_str(),
                std::string(r.spec).c_str());
  }
}

int run_table(const Args& a) {
  if (a.help) {
    std::cout << kTableUsage << machine_list();
    return 0;
  }
  const auto profile = profile_of(a);
  if (!profile || a.positional.size() != 1) {
    std::cerr << kTableUsage << machine_list();
    return 2;
  }
  if (!luo::visit_machine(a.positional[0],
                          [&](const auto& m) { print_table(m, *profile, a.all); })) {
    std::cerr << "table: unknown machine '" << a.positional[0] << "'\n" << machine_list();
    return 2;
  }
  return 0;
}

// Renders DOT to SVG through Graphviz, which must be installed.
int render_svg(const std::string& dot) {
  std::FILE* pipe = ::popen("dot -Tsvg", "w");
  if (pipe == nullptr) {
    std::cerr << "diagram: cannot run Graphviz's dot\n";
    return 1;
  }
  std::fwrite(dot.data(), 1, dot.size(), pipe);
  const int status = ::pclose(pipe);
  if (status != 0) {
    std::cerr << "diagram: dot failed (is graphviz installed?)\n";
    return 1;
  }
  return 0;
}

int run_diagram(const Args& a) {
  if (a.help) {
    std::cout << kDiagramUsage << machine_list();
    return 0;
  }
  const auto profile = profile_of(a);
  if (!profile || a.positional.size() != 1 ||
      (a.format != "mermaid" && a.format != "dot" && a.format != "svg")) {
    std::cerr << kDiagramUsage << machine_list();
    return 2;
  }
  const luo::DiagramOptions options{*profile, !a.no_refusals, a.all};
  int status = 0;
  if (!luo::visit_machine(a.positional[0], [&](const auto& m) {
        if (a.format == "mermaid") {
          std::cout << luo::to_mermaid(m, options);
        } else if (a.format == "dot") {
          std::cout << luo::to_dot(m, options);
        } else {
          std::cout.flush();
          status = render_svg(luo::to_dot(m, options));
        }
      })) {
    std::cerr << "diagram: unknown machine '" << a.positional[0] << "'\n" << machine_list();
    return 2;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "check") {
    const std::vector<std::string_view> rest(argv + 2, argv + argc);
    return luo::proofs::run_check_command(rest, std::cout, std::cerr);
  }
  const Args args = parse(argc, argv, 2);
  if (args.error) {
    std::cerr << "luo-lifecycle: " << *args.error << "\n" << kUsage;
    return 2;
  }
  if (command == "demo")
    return run_demo(args);
  if (command == "table")
    return run_table(args);
  if (command == "diagram")
    return run_diagram(args);
  std::cerr << "luo-lifecycle: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
