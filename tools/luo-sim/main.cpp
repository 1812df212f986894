// luo-sim: run unmodified LUO programs against the simulated kernel (luo_sim.hpp).
//
//   luo-sim run [--profile 6.19|7.0|7.2|7.3] [--boots N] [--fault SPEC]... [--verbose]
//               [--any-user] -- PROGRAM ARGS
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "luo_sim.hpp"

namespace {

constexpr const char* kUsage =
    "usage: luo-sim run [--profile 6.19|7.0|7.2|7.3] [--boots N] [--fault SPEC]... [--verbose]\n"
    "                   [--any-user] -- PROGRAM [ARGS...]\n"
    "Runs PROGRAM once per boot (LUO_SIM_BOOT=1..N) against a simulated /dev/liveupdate.\n"
    "A boot ends with a kexec: reboot(LINUX_REBOOT_CMD_KEXEC) after kexec_file_load, or\n"
    "PROGRAM's exit while boots are left. Every process of the boot dies; preserved sessions\n"
    "are the next boot's incoming ones.\n"
    "  --fault [BOOT:]STEP[=ERRNO][+SKIP]   make a kernel step fail in boot BOOT (default 1);\n"
    "        STEP: deserialize, preserve_handler, preserve_copy_back, freeze,\n"
    "              retrieve_handler, can_finish, reserve_session_fd\n"
    "  --any-user   any uid may open the device and kexec (default: uid 0 only, as the\n"
    "               0600 root:root node and CAP_SYS_BOOT allow)\n"
    "Exit status: the first failing boot's, 125 if luo-sim itself failed.\n";

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] != "run") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.size() == 1 && (args[0] == "--help" || args[0] == "-h") ? 0 : 2;
  }
  luo::simtool::RunOptions options;
  std::size_t i = 1;
  for (; i < args.size() && args[i] != "--"; ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--profile" && has_value) {
      const auto p = luo::parse_profile(args[++i]);
      if (!p) {
        std::fprintf(stderr, "luo-sim: unknown profile '%s'\n", args[i].c_str());
        return 2;
      }
      options.profile = *p;
    } else if (a == "--boots" && has_value) {
      options.boots = std::atoi(args[++i].c_str());
    } else if (a == "--fault" && has_value) {
      std::string why;
      const auto f = luo::simtool::parse_fault(args[++i], why);
      if (!f) {
        std::fprintf(stderr, "luo-sim: --fault %s: %s\n", args[i].c_str(), why.c_str());
        return 2;
      }
      options.faults.push_back(*f);
    } else if (a == "--verbose") {
      options.verbose = true;
    } else if (a == "--any-user") {
      options.any_user = true;
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  options.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(std::min(i + 1, args.size())),
                      args.end());
  if (options.argv.empty() || options.boots < 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  return luo::simtool::run(options);
}
