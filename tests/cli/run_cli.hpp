// run_cli.hpp: runs `luo-lifecycle <argv...>` in-process for the tests of tests/cli, with its
// standard input given and its output and exit status captured.
//
//   auto r = luo::cli::testing::run({"check", "--owners", "1"});
//   EXPECT_EQ(r.status, 0);
//   EXPECT_TRUE(contains(r.out, "holds"));
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"

namespace luo::cli::testing {

struct Ran {
  int status = -1;
  std::string out, err;
};

inline Ran run(const std::vector<std::string>& argv, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  Io io{in, out, err};
  Ran r;
  r.status = run_main(argv, io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace luo::cli::testing
