// luo_session_setting_test.cpp: LUOSession= names and their validation against the real
// libsystemd-shared-262.so: the digest through its id128_digest() and sd_id128_to_string(), the
// name through the "%.13s-%.24s" layout libsystemd-core's service start uses (a static function,
// so its formatting is read from the machine code, not called), and the validity through
// luo_session_name_is_valid().
#include <rapidcheck/gtest.h>

#include "luo/impl/luo_session_setting.hpp"
#include "systemd_fixture.hpp"

namespace luo::sdtest {
namespace {

constexpr int kCases = 2000;

std::string arbitrary_text(const rc::Random& r, int size) {
  return rc::gen::container<std::string>(rc::gen::inRange<char>(1, 127))(r, size).value();
}

TEST_F(SystemdTier0, DigestMatchesId128Digest) {
  rc::Random r(12);
  for (int i = 0; i < kCases; ++i) {
    const std::string s = arbitrary_text(r.split(), i % 100);
    ASSERT_EQ(id128_digest_hex(s), sd().id128_digest_hex(s)) << "input '" << s << "'";
  }
}

TEST_F(SystemdTier0, KernelNameIsUnitPrefixDashDigest) {
  for (const auto& [unit, name] : std::initializer_list<std::pair<std::string, std::string>>{
           {"vmm@vm0.service", "guest"},
           {"a.service", "x"},
           {"very-long-unit-name@instance.service", "state-0"}}) {
    const std::string want =
        unit.substr(0, 13) + "-" + sd().id128_digest_hex(unit + "/" + name).substr(0, 24);
    EXPECT_EQ(luo_session_kernel_name(unit, name), want);
    EXPECT_LE(want.size(), 38u);
  }
}

TEST_F(SystemdTier0, SettingValidityMatchesLuoSessionNameIsValid) {
  for (int c = 1; c < 256; ++c) {
    const std::string s(1, static_cast<char>(c));
    EXPECT_EQ(luo_session_setting_valid(s), sd().luo_session_name_is_valid(s)) << "byte " << c;
  }
  for (const std::string& s : {std::string(), std::string(255, 'a'), std::string(256, 'a'),
                               std::string("a:b"), std::string("caf\xc3\xa9")})
    EXPECT_EQ(luo_session_setting_valid(s), sd().luo_session_name_is_valid(s)) << s;
  rc::Random r(7);
  for (int i = 0; i < kCases; ++i) {
    const std::string s = arbitrary_text(r.split(), i % 300);
    ASSERT_EQ(luo_session_setting_valid(s), sd().luo_session_name_is_valid(s)) << "'" << s << "'";
  }
}

}  // namespace
}  // namespace luo::sdtest
