// One spelling of a document key in paths and messages (luo/impl/quoted_key.hpp), and the two
// readers whose Skipped paths use it: the fd store mapping of a nested manager and Stage B's
// legacy format, which still has its own copy of the escaping.
#include "luo/impl/quoted_key.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/nested_manager.hpp"

namespace luo {
namespace {

TEST(QuotedKey, PrintableKeysReadAsWritten) {
  EXPECT_EQ(quoted_key("foo.service"), R"("foo.service")");
  EXPECT_EQ(quoted_key(""), R"("")");
  EXPECT_EQ(quoted_key("a b~"), R"("a b~")");
}

TEST(QuotedKey, QuoteAndBackslashAreBackslashEscapedEverythingElseIsHex) {
  EXPECT_EQ(quoted_key("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(quoted_key(std::string("\x01\n\x7f\xff", 4)), R"("\x01\x0a\x7f\xff")");
  EXPECT_EQ(quoted_key(std::string("x\0y", 3)), R"("x\x00y")");
}

// A key with every kind of byte: the nested manager's mapping and Stage B (format B, the same
// unit -> array shape) name it identically.
TEST(QuotedKey, TheNestedMappingAndStageBSpellAPathAlike) {
  const std::string json_key = R"(bad\u0001\"\\key)";
  const std::string spelled = "[" + quoted_key("bad\x01\"\\key") + "]";

  const auto nested = parse_fdstore_mapping("{\"" + json_key + "\":[]}");
  ASSERT_EQ(nested.index(), 0u) << "parsed, not refused";
  const auto& skipped = std::get<0>(nested).skipped;
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].path, spelled);

  const auto b = handoff::parse_stage_b("{\"" + json_key + "\":[]}", handoff::AcceptLegacy::yes);
  ASSERT_EQ(b.index(), 0u) << "parsed, not refused";
  const auto& b_skipped = std::get<0>(b).skipped;
  ASSERT_EQ(b_skipped.size(), 1u);
  EXPECT_EQ(b_skipped[0].path, spelled);
}

}  // namespace
}  // namespace luo
