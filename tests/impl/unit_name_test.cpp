// systemd's unit_name_is_valid(name, UNIT_NAME_ANY) and unit type suffixes, as the LUO restore
// applies them to the keys of a mapping (spec systemd-luo.md §3.6.2 step 7).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "luo/impl/unit_name.hpp"

namespace luo::handoff {
namespace {

using namespace std::string_literals;

struct NameCase {
  std::string name;
  std::string_view why;
};

TEST(UnitName, ValidNames) {
  const NameCase valid[] = {
      {"foo.service", "plain"},
      {"getty@tty1.service", "instance"},
      {"getty@.service", "template"},
      {"user@1000.service", "numeric instance"},
      {"a@b@c.service", "further '@' belong to the instance"},
      {"foo@bar.baz.socket", "the instance may hold dots; the type follows the last one"},
      {"-.mount", "the root mount"},
      {"-.slice", "the root slice"},
      {"sys-devices-pci0000:00.device", "':' is allowed"},
      {"dev-disk-by\\x2dlabel-data.swap", "'\\' of unit-name escaping is allowed"},
      {".foo.service", "only a leading '.' that starts the suffix is refused"},
      {"foo..service", "empty components are not checked"},
      {"a_b-c.d.target", "'_', '-', '.'"},
      {"0.timer", "digits"},
      {"x.automount", "automount"},
      {"x.path", "path"},
      {"x.scope", "scope"},
      {std::string(255 - 8, 'a') + ".service", "255 bytes: UNIT_NAME_MAX - 1"},
  };
  for (const auto& c : valid) {
    SCOPED_TRACE(c.name + " (" + std::string(c.why) + ")");
    EXPECT_TRUE(unit_name_is_valid(c.name));
    EXPECT_FALSE(unit_type(c.name).empty());
  }
}

TEST(UnitName, InvalidNames) {
  const NameCase invalid[] = {
      {"", "empty"},
      {"foo", "no suffix"},
      {"foo.", "empty suffix"},
      {".service", "the suffix dot is the first byte"},
      {"foo.snapshot", "type removed in v228"},
      {"foo.busname", "type removed in v231"},
      {"foo.Service", "types are case-sensitive"},
      {"foo.service ", "trailing space makes the type unknown"},
      {"foo.service\n", "trailing newline"},
      {"foo.service.", "the last dot leaves an empty type"},
      {"@foo.service", "'@' first"},
      {"@.service", "'@' first, template shape"},
      {"foo bar.service", "space"},
      {"foo/bar.service", "'/'"},
      {"foo*.service", "glob characters are for patterns, not names"},
      {"foo[1].service", "'[' and ']'"},
      {"fo\0o.service"s, "NUL byte"},
      {"f\xc3\xb6o.service", "non-ASCII"},
      {std::string(256 - 8, 'a') + ".service", "256 bytes"},
  };
  for (const auto& c : invalid) {
    SCOPED_TRACE(::testing::PrintToString(c.name) + " (" + std::string(c.why) + ")");
    EXPECT_FALSE(unit_name_is_valid(c.name));
    EXPECT_EQ(unit_type(c.name), "");
    EXPECT_EQ(unit_name_form(c.name), std::nullopt);
  }
}

TEST(UnitName, EveryUnitTypeIsASuffix) {
  for (auto type : kUnitTypes) {
    const std::string name = "x." + std::string(type);
    SCOPED_TRACE(name);
    EXPECT_TRUE(unit_name_is_valid(name));
    EXPECT_EQ(unit_type(name), type);
  }
  EXPECT_EQ(kUnitTypes.size(), 11u);
}

TEST(UnitName, FormsFollowTheFirstAt) {
  EXPECT_EQ(unit_name_form("foo.service"), UnitNameForm::plain);
  EXPECT_EQ(unit_name_form("foo@bar.service"), UnitNameForm::instance);
  EXPECT_EQ(unit_name_form("foo@.service"), UnitNameForm::template_name);
  EXPECT_EQ(unit_name_form("foo@@.service"), UnitNameForm::instance);  // the instance is "@"
  EXPECT_EQ(unit_name_form("foo@bar@.service"), UnitNameForm::instance);
}

TEST(UnitName, TypeIsTheTextAfterTheLastDot) {
  EXPECT_EQ(unit_type("getty@tty1.service"), "service");
  EXPECT_EQ(unit_type("foo.service.socket"), "socket");
  EXPECT_EQ(unit_type("dev-sda1.device"), "device");
  const std::string name = "a.b.mount";
  EXPECT_EQ(unit_type(name).data(), name.data() + 4);  // a view into the argument
}

}  // namespace
}  // namespace luo::handoff
