// luo-lifecycle: the command-line entrance to the library. Each subcommand lives in
// cli/<name>_command.cpp and is listed in LUO_CLI_COMMANDS (cli/command.hpp); `luo-lifecycle
// --help` lists them and `luo-lifecycle <command> --help` describes one.
#include <unistd.h>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "command.hpp"

int main(int argc, char** argv) {
  // run_main() catches what a command throws; this catches what is left (building the
  // arguments, writing the output), so no input ends in std::terminate's SIGABRT.
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    luo::cli::Io io{std::cin, std::cout, std::cerr, STDIN_FILENO};
    const int status = luo::cli::run_main(args, io);
    std::cout.flush();
    return status;
  } catch (const std::exception& e) {
    std::cerr << "luo-lifecycle: internal error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "luo-lifecycle: internal error: unknown exception\n";
  }
  return luo::cli::kExitFailure;
}
