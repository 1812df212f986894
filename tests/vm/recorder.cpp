#include "recorder.hpp"

#include "luo/model/errno.hpp"

namespace luo::vm {

std::string errno_label(int e) {
  if (e == 0)
    return "OK";
  if (auto known = errno_from_int(e))
    return std::string(errno_name(*known));
  return "errno " + std::to_string(e);
}

void Recorder::begin(std::string scenario) {
  scenario_ = std::move(scenario);
  index_ = 0;
  first_failure_.clear();
}

int Recorder::step(std::string_view op, int result, nlohmann::json extra) {
  nlohmann::json line = {{"s", scenario_}, {"i", index_++}, {"op", op}, {"r", errno_label(result)}};
  for (auto& [key, value] : extra.items())
    line[key] = value;
  std::fprintf(out_, "LUO-OBS %s\n", line.dump().c_str());
  std::fflush(out_);
  return result;
}

bool Recorder::expect(bool ok, std::string_view what) {
  if (!ok && first_failure_.empty())
    first_failure_ = std::string(what);
  return ok;
}

bool Recorder::expect_result(int result, int expected, std::string_view what) {
  return expect(result == expected, std::string(what) + ": got " + errno_label(result) +
                                        ", spec says " + errno_label(expected));
}

void Recorder::end() {
  ++scenarios_;
  if (first_failure_.empty()) {
    std::fprintf(out_, "LUO-RESULT %s PASS\n", scenario_.c_str());
  } else {
    ++failures_;
    std::fprintf(out_, "LUO-RESULT %s FAIL %s\n", scenario_.c_str(), first_failure_.c_str());
  }
  std::fflush(out_);
}

}  // namespace luo::vm
