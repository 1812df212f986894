// recorder.hpp: what a VM scenario observed, as JSON lines, plus its verdict.
//
// The same scenario runs against the real kernel (in qemu) and against SimulatedKernel (on the
// host); each step is written as one line `LUO-OBS {"s":scenario,"i":step,"op":...,"r":...}`
// with everything the caller could see (result errno, contents, size, position, seals, names),
// never fd numbers. `luo-vm compare` then matches the two runs step by step. Expectations of
// the spec (per profile) are checked as well and end in one line per scenario:
// `LUO-RESULT <scenario> PASS` or `LUO-RESULT <scenario> FAIL <what>`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <string_view>

#include "luo/model/profile.hpp"

namespace luo::vm {

class Recorder {
 public:
  Recorder(std::FILE* out, KernelProfile profile) : out_(out), profile_(profile) {}

  KernelProfile profile() const { return profile_; }
  bool has(Feature f) const { return profile_has(profile_, f); }

  void begin(std::string scenario);
  // One observed step: `result` is 0 or the errno; `extra` adds observed values.
  int step(std::string_view op, int result, nlohmann::json extra = nlohmann::json::object());
  // A spec expectation; a false one fails the scenario with `what`.
  bool expect(bool ok, std::string_view what);
  bool expect_result(int result, int expected, std::string_view what);
  void end();

  int failures() const { return failures_; }
  int scenarios() const { return scenarios_; }

 private:
  std::FILE* out_;
  KernelProfile profile_;
  std::string scenario_;
  int index_ = 0;
  std::string first_failure_;
  int failures_ = 0;
  int scenarios_ = 0;
};

std::string errno_label(int e);

}  // namespace luo::vm
