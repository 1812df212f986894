// cli_inputs.cpp: the documents the luo-lifecycle tool reads from a file, run in-process exactly
// as `luo-lifecycle <command> -` with the input on standard input: byte 0 picks the command
// (simulate: a scenario; inspect: a Stage A/B mapping; replay: a trace or `check --json`
// output) and whether --json is given; the rest is the document.
// Properties: the command returns one of the documented exit codes (0-2, and replay's own 3,
// "not replayable") and never throws, crashes
// or leaks an fd (a scenario runs against the kernel simulator, so it opens and closes many).
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  static const char* const kCommands[] = {"simulate", "inspect", "replay"};
  luo::fuzz::FdLeakGuard leaks;
  std::vector<std::string> argv = {kCommands[data[0] % 3], "-"};
  if (data[0] & 0x80)
    argv.emplace_back("--json");
  std::istringstream in(std::string(luo::fuzz::as_text(data + 1, size - 1)));
  std::ostringstream out, err;
  luo::cli::Io io{in, out, err};
  const int status = luo::cli::run_main(argv, io);
  luo::fuzz::check(status == luo::cli::kExitOk || status == luo::cli::kExitFailure ||
                       status == luo::cli::kExitUsage || (data[0] % 3 == 2 && status == 3),
                   "an undocumented exit status", std::to_string(status));
  return 0;
}
