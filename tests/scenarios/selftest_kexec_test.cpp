// The kernel's kexec selftests (spec kernel-luo.md §6.2: luo_kexec_simple, luo_multi_session,
// luo_stress_files, luo_stress_sessions) with their names, tokens and data, as two stages around
// a simulated kexec, through impl/ over the simulator and checked against the model.
#include <string>

#include "per_profile.hpp"
#include "twin_kernel.hpp"

namespace luo::testing {
namespace {

class KexecSelftest : public PerProfile {};

// create_and_preserve_memfd: preserve, then close the caller's memfd: LUO holds its own ref.
void preserve_and_close(TwinKernel& t, TwinKernel::SessionHandle s, Token token,
                        const std::string& data) {
  auto f = t.memfd(data);
  ASSERT_EQ(t.preserve(s, f, token), 0) << "token " << token;
  t.close_file(f);
}

std::string retrieve_contents(TwinKernel& t, TwinKernel::SessionHandle s, Token token) {
  TwinKernel::FileHandle f = 0;
  EXPECT_EQ(t.retrieve_fd(s, token, &f), 0) << "token " << token;
  return t.contents(f);
}

TEST_P(KexecSelftest, KexecSimple) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto state = t.create("kexec_simple_state");
  preserve_and_close(t, state, 999, "2");
  auto test = t.create("test-session");
  preserve_and_close(t, test, 0x1A, "hello kexec world");
  t.close_device();  // only the session fds stay open across the reboot
  ASSERT_EQ(t.kexec(), 0);

  ASSERT_EQ(t.open_device(), 0);
  auto state2 = t.retrieve_session("kexec_simple_state");
  EXPECT_EQ(retrieve_contents(t, state2, 999), "2");
  auto test2 = t.retrieve_session("test-session");
  EXPECT_EQ(retrieve_contents(t, test2, 0x1A), "hello kexec world");
  EXPECT_EQ(t.finish(test2), 0);
  t.close(test2);
  EXPECT_EQ(t.finish(state2), 0);
  t.close(state2);
  EXPECT_EQ(t.model().boot_number(), 1u);
}

TEST_P(KexecSelftest, KexecMultiSession) {
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto state = t.create("kexec_multi_state");
  preserve_and_close(t, state, 998, "1");
  t.create("multi-test-empty-1");
  t.create("multi-test-empty-2");
  auto files1 = t.create("multi-test-files-1");
  preserve_and_close(t, files1, 0x1001, "session 1 file 1");
  auto files2 = t.create("multi-test-files-2");
  preserve_and_close(t, files2, 0x2002, "session 2 file 1");
  preserve_and_close(t, files2, 0x3003, "session 2 file 2");
  t.close_device();
  ASSERT_EQ(t.kexec(), 0);

  ASSERT_EQ(t.open_device(), 0);
  auto empty1 = t.retrieve_session("multi-test-empty-1");
  auto empty2 = t.retrieve_session("multi-test-empty-2");
  auto in1 = t.retrieve_session("multi-test-files-1");
  auto in2 = t.retrieve_session("multi-test-files-2");
  EXPECT_EQ(retrieve_contents(t, in1, 0x1001), "session 1 file 1");
  EXPECT_EQ(retrieve_contents(t, in2, 0x2002), "session 2 file 1");
  EXPECT_EQ(retrieve_contents(t, in2, 0x3003), "session 2 file 2");
  for (auto s : {empty1, empty2, in1, in2}) {
    EXPECT_EQ(t.finish(s), 0);  // empty sessions survive kexec and can be finished
    t.close(s);
  }
  auto state2 = t.retrieve_session("kexec_multi_state");
  EXPECT_EQ(retrieve_contents(t, state2, 998), "1");
  EXPECT_EQ(t.finish(state2), 0);
  t.close(state2);
}

TEST_P(KexecSelftest, StressFiles) {
  if (has(Feature::legacy_limits))
    GTEST_SKIP() << "500 files per session needs 7.2+ (§2.6)";
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto state = t.create("kexec_many_files_state");
  preserve_and_close(t, state, 9999, "1");
  auto many = t.create("many_files_session");
  t.set_full_check_interval(100);
  for (Token token = 0; token < 500; ++token) {
    preserve_and_close(t, many, token, "file-data-" + std::to_string(token));
  }
  t.close_device();
  ASSERT_EQ(t.kexec(), 0);

  ASSERT_EQ(t.open_device(), 0);
  auto in = t.retrieve_session("many_files_session");
  for (Token token = 0; token < 500; ++token) {
    TwinKernel::FileHandle f = 0;
    ASSERT_EQ(t.retrieve_fd(in, token, &f), 0);
    ASSERT_EQ(t.contents(f), "file-data-" + std::to_string(token));
    t.close_file(f);
  }
  EXPECT_EQ(t.finish(in), 0);
  t.close(in);
}

TEST_P(KexecSelftest, StressSessions) {
  if (has(Feature::legacy_limits))
    GTEST_SKIP() << "2000 sessions needs 7.2+ (§2.6)";
  TwinKernel t(profile());
  ASSERT_EQ(t.open_device(), 0);
  auto state = t.create("kexec_many_state");
  preserve_and_close(t, state, 999, "1");
  t.set_full_check_interval(250);
  for (int i = 0; i < 2000; ++i)
    t.create("many-test-" + std::to_string(i));
  t.close_device();
  ASSERT_EQ(t.kexec(), 0);

  ASSERT_EQ(t.open_device(), 0);
  for (int i = 0; i < 2000; ++i) {
    auto s = t.retrieve_session("many-test-" + std::to_string(i));
    ASSERT_EQ(t.finish(s), 0);
    t.close(s);
  }
}

LUO_INSTANTIATE_PER_PROFILE(KexecSelftest);

}  // namespace
}  // namespace luo::testing
