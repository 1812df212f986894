// luo-lifecycle: the command-line entrance to the library. Each subcommand lives in
// cli/<name>_command.cpp and is listed in LUO_CLI_COMMANDS (cli/command.hpp); `luo-lifecycle
// --help` lists them and `luo-lifecycle <command> --help` describes one.
#include <iostream>
#include <string>
#include <vector>

#include "command.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  luo::cli::Io io{std::cin, std::cout, std::cerr};
  const int status = luo::cli::run_main(args, io);
  std::cout.flush();
  return status;
}
