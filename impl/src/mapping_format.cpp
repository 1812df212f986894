#include "luo/impl/mapping_format.hpp"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace luo::handoff {
namespace {

using Json = nlohmann::ordered_json;

// Counts the entries of each kind in one SAX pass.
class StageVotes final : public nlohmann::json_sax<Json> {
 public:
  std::size_t a = 0, b = 0;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    const bool entry = !stack_.empty() && stack_.back().array;
    stack_.push_back({false, entry});
    return stack_.size() <= kMaxJsonDepth;
  }
  bool key(string_t& k) override {
    auto& top = stack_.back();
    if (top.entry) {
      top.fd |= k == "fd";
      top.token |= k == "token";
      top.session |= k == "sessionName";
    }
    return true;
  }
  bool end_object() override {
    const Level top = stack_.back();
    stack_.pop_back();
    if (top.entry) {
      if (top.fd)
        ++a;
      else if (top.token || top.session)
        ++b;
    }
    return true;
  }
  bool start_array(std::size_t) override {
    stack_.push_back({true, false});
    return stack_.size() <= kMaxJsonDepth;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Level {
    bool array = false, entry = false, fd = false, token = false, session = false;
  };
  std::vector<Level> stack_;
};

}  // namespace

StageDetection detect_stage(std::string_view text) {
  StageVotes votes;
  (void)Json::sax_parse(text.begin(), text.end(), &votes);
  StageDetection d;
  d.stage_a_entries = votes.a;
  d.stage_b_entries = votes.b;
  if (votes.a > 0 && votes.b == 0) {
    d.stage = Stage::a;
    d.basis = StageDetection::Basis::stage_a_entries;
  } else if (votes.b > 0 && votes.a == 0) {
    d.stage = Stage::b;
    d.basis = StageDetection::Basis::stage_b_entries;
  } else if (votes.a > 0) {
    d.stage = votes.a > votes.b ? Stage::a : Stage::b;
    d.basis = StageDetection::Basis::mixed;
  }
  return d;
}

std::string_view format_name(Format format) {
  switch (format) {
    case Format::b_legacy:
      return "B";
    case Format::c_v1:
      return "C";
  }
  return "?";
}

}  // namespace luo::handoff
