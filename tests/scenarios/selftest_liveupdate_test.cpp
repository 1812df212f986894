// The kernel's tools/testing/selftests/liveupdate/liveupdate.c scenarios 1-15 (spec
// kernel-luo.md §6.1), with their names, tokens and data, through impl/ over the simulator and
// checked step by step against the model. Expected errnos are the spec's, per profile.
#include <string>

#include "per_profile.hpp"
#include "twin_kernel.hpp"

namespace luo::testing {
namespace {

class LiveupdateSelftest : public PerProfile {};

TEST_P(LiveupdateSelftest, S01BasicOpenClose) {
  TwinKernel t(profile());
  EXPECT_EQ(t.open_device(), 0);
  t.close_device();
}

TEST_P(LiveupdateSelftest, S02ExclusiveOpen) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  EXPECT_EQ(t.open_device(), EBUSY);
}

TEST_P(LiveupdateSelftest, S03CreateDuplicateSession) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("duplicate-session-test");
  EXPECT_EQ(t.create(SessionNameField::from("duplicate-session-test")), EEXIST);
  t.close(s);
}

TEST_P(LiveupdateSelftest, S04CreateDistinctSessions) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto a = t.create("distinct-session-1");
  auto b = t.create("distinct-session-2");
  t.close(a);
  t.close(b);
}

TEST_P(LiveupdateSelftest, S05PreserveMemfd) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("preserve-memfd-test");
  auto f = t.memfd("hello liveupdate");
  EXPECT_EQ(t.preserve(s, f, 0x1234), 0);
  t.close(s);  // unpreserves: the data must still be there
  EXPECT_EQ(t.contents(f), "hello liveupdate");
}

TEST_P(LiveupdateSelftest, S06PreserveMultipleMemfds) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("preserve-multi-memfd-test");
  auto a = t.memfd("data for memfd 1");
  auto b = t.memfd("data for memfd 2");
  EXPECT_EQ(t.preserve(s, a, 0xAAAA), 0);
  EXPECT_EQ(t.preserve(s, b, 0xBBBB), 0);
  EXPECT_EQ(t.contents(a), "data for memfd 1");
  EXPECT_EQ(t.contents(b), "data for memfd 2");
  t.close(s);
}

TEST_P(LiveupdateSelftest, S07PreserveComplexScenario) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s1 = t.create("complex-session-1");
  auto s2 = t.create("complex-session-2");
  auto d1 = t.memfd("data for session 1");
  auto e1 = t.memfd("");
  auto d2 = t.memfd("data for session 2");
  auto e2 = t.memfd("");
  EXPECT_EQ(t.preserve(s1, d1, 0x1111), 0);
  EXPECT_EQ(t.preserve(s1, e1, 0x2222), 0);
  EXPECT_EQ(t.preserve(s2, d2, 0x3333), 0);
  EXPECT_EQ(t.preserve(s2, e2, 0x4444), 0);
  EXPECT_EQ(t.contents(d1), "data for session 1");
  EXPECT_EQ(t.contents(e1), "");
  EXPECT_EQ(t.contents(d2), "data for session 2");
  EXPECT_EQ(t.contents(e2), "");
  t.close(s1);
  t.close(s2);
}

TEST_P(LiveupdateSelftest, S08PreserveUnsupportedFd) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("unsupported-fd-test");
  EXPECT_EQ(t.preserve_unsupported(s, 0xDEAD), ENOENT);
  t.close(s);
}

TEST_P(LiveupdateSelftest, S09PreventDoublePreservation) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s1 = t.create("double-preserve-session-1");
  auto s2 = t.create("double-preserve-session-2");
  auto f = t.memfd("x");
  const int expected = has(Feature::double_preservation_check) ? EBUSY : 0;
  EXPECT_EQ(t.preserve(s1, f, 0x1111), 0);
  EXPECT_EQ(t.preserve(s2, f, 0x2222), expected);
  EXPECT_EQ(t.preserve(s1, f, 0x3333), expected);
  t.close(s1);
  t.close(s2);
}

TEST_P(LiveupdateSelftest, S10CreateSessionNoNullTermination) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  TwinKernel::SessionHandle s = 0;
  const int expected = has(Feature::session_name_validation) ? EINVAL : 0;
  EXPECT_EQ(t.create(SessionNameField::from(std::string(64, 'X')), &s), expected);
  if (expected == 0)
    t.close(s);
}

TEST_P(LiveupdateSelftest, S11CreateSessionEmptyName) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  TwinKernel::SessionHandle s = 0;
  const int expected = has(Feature::session_name_validation) ? EINVAL : 0;
  EXPECT_EQ(t.create(SessionNameField::from(""), &s), expected);
  if (expected == 0)
    t.close(s);
}

TEST_P(LiveupdateSelftest, S12GetSessionName) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("get-name-test-session");
  std::string name;
  EXPECT_EQ(t.get_name(s, &name), has(Feature::get_name) ? 0 : EINVAL);
  if (has(Feature::get_name)) {
    EXPECT_EQ(name, "get-name-test-session");
  }
  t.close(s);
}

TEST_P(LiveupdateSelftest, S13GetSessionNameMaxLength) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  const std::string longest(63, 'A');
  auto s = t.create(longest);
  std::string name;
  EXPECT_EQ(t.get_name(s, &name), has(Feature::get_name) ? 0 : EINVAL);
  if (has(Feature::get_name)) {
    EXPECT_EQ(name, longest);
  }
  t.close(s);
}

TEST_P(LiveupdateSelftest, S14PreserveManySessions) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  t.set_full_check_interval(250);
  std::vector<TwinKernel::SessionHandle> sessions;
  for (int i = 0; i < 2000; ++i) {
    TwinKernel::SessionHandle s = 0;
    const int e = t.create(SessionNameField::from("many-session-" + std::to_string(i)), &s);
    // 6.19-7.1 hold 819 outgoing sessions; the 820th is ENOMEM (§2.6).
    const bool over_limit = has(Feature::legacy_limits) && i >= 819;
    ASSERT_EQ(e, over_limit ? ENOMEM : 0) << "session " << i;
    if (over_limit)
      break;
    sessions.push_back(s);
  }
  for (auto s : sessions)
    t.close(s);
}

TEST_P(LiveupdateSelftest, S15PreserveManyFiles) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto s = t.create("preserve-many-files");
  for (Token token = 0; token < 500; ++token) {
    auto f = t.memfd("");
    const int e = t.preserve(s, f, token);
    t.close_file(f);
    // 6.19-7.1 hold 128 files per session; the 129th is ENOSPC (§2.6).
    const bool over_limit = has(Feature::legacy_limits) && token >= 128;
    ASSERT_EQ(e, over_limit ? ENOSPC : 0) << "token " << token;
    if (over_limit)
      break;
  }
  t.close(s);
}

LUO_INSTANTIATE_PER_PROFILE(LiveupdateSelftest);

}  // namespace
}  // namespace luo::testing
