// Which handoff document a text is (luo/impl/mapping_format.hpp), told from its entries.
#include "luo/impl/mapping_format.hpp"

#include <gtest/gtest.h>

#include <string>

namespace luo::handoff {
namespace {

using Basis = StageDetection::Basis;

TEST(MappingFormat, StageAEntriesCarryFdAndStageBEntriesATokenOrABareSession) {
  const auto a = detect_stage(
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","fd":23},)"
      R"({"type":"luo_session","name":"v","fd":24,"sessionName":"s"}]}}})");
  EXPECT_EQ(a.stage, Stage::a);
  EXPECT_EQ(a.basis, Basis::stage_a_entries);
  EXPECT_EQ(a.stage_a_entries, 2u);

  // Format B: the unit maps straight to its entry array.
  const auto b = detect_stage(R"({"a.service":[{"type":"fd","name":"x","token":1},)"
                              R"({"type":"luo_session","name":"v","sessionName":"s"}]})");
  EXPECT_EQ(b.stage, Stage::b);
  EXPECT_EQ(b.basis, Basis::stage_b_entries);
  EXPECT_EQ(b.stage_b_entries, 2u);
}

TEST(MappingFormat, MixedEntriesGoToTheMajorityAndATieOrNothingToStageB) {
  const std::string two_a_one_b =
      R"({"units":{"a.service":{"fdstore":[{"fd":3},{"fd":4},{"token":1}]}}})";
  EXPECT_EQ(detect_stage(two_a_one_b).stage, Stage::a);
  EXPECT_EQ(detect_stage(two_a_one_b).basis, Basis::mixed);
  const auto tie = detect_stage(R"({"units":{"a.service":{"fdstore":[{"fd":3},{"token":1}]}}})");
  EXPECT_EQ(tie.stage, Stage::b);
  EXPECT_EQ(tie.basis, Basis::mixed);
  const auto none = detect_stage(R"({"version":1,"state":{"KExecCount":1}})");
  EXPECT_EQ(none.stage, Stage::b);
  EXPECT_EQ(none.basis, Basis::no_entries);
}

TEST(MappingFormat, MalformedOrTooDeepTextIsCountedAsFarAsItParses) {
  const auto cut = detect_stage(R"({"units":{"a.service":{"fdstore":[{"fd":3},{"fd")");
  EXPECT_EQ(cut.stage_a_entries, 1u);
  EXPECT_EQ(cut.stage, Stage::a);
  const std::string deep = std::string(kMaxJsonDepth + 10, '[') + R"({"fd":1})";
  EXPECT_EQ(detect_stage(deep).basis, Basis::no_entries);
}

TEST(MappingFormat, FormatNamesAreTheSpecsLetters) {
  EXPECT_EQ(format_name(Format::b_legacy), "B");
  EXPECT_EQ(format_name(Format::c_v1), "C");
}

}  // namespace
}  // namespace luo::handoff
