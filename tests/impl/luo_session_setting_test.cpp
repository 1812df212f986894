// LUOSession= (impl/luo_session_setting.hpp) over the simulated kernel: the session gets 262's
// name and lands in the unit's store; a second start reuses it; bad names and taken names are
// refused with the store untouched. tests/systemd checks the names against real systemd 262.1.
#include <gtest/gtest.h>

#include "impl_test_support.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/luo_session_setting.hpp"

namespace luo {
namespace {

using impl_test::must;

class LuoSessionSetting : public ::testing::Test {
 protected:
  LuoSessionSetting() : port_(kernel_), lu_(port_) {}
  SimulatedKernel kernel_;
  IoctlPort port_;
  LiveUpdate lu_;
  FdStore store_{{.max = 4, .preserve = PreserveMode::yes}};
};

// The value systemd 262.1's id128_digest() gives "vmm@vm0.service/guest" (SHA-256, v4 UUID).
TEST(LuoSessionName, KnownVector) {
  EXPECT_EQ(luo_session_kernel_name("vmm@vm0.service", "guest"),
            "vmm@vm0.servi-338e6e0c58834346b59c6eba");
  EXPECT_EQ(luo_session_kernel_name("a.service", "x").substr(0, 10), "a.service-");
}

TEST_F(LuoSessionSetting, CreatesTheSessionAndStoresItUnderTheName) {
  auto dev = must(lu_.open_device());
  auto r = must(hand_out_luo_session(dev, port_, "vmm@vm0.service", "guest", store_));
  EXPECT_EQ(r.kernel_name, "vmm@vm0.servi-338e6e0c58834346b59c6eba");
  ASSERT_TRUE(r.session.has_value());
  ASSERT_EQ(store_.size(), 1u);
  const auto& e = store_.entries().front();
  EXPECT_EQ(e.name, "guest");
  EXPECT_EQ(e.poll, Poll::off);
  EXPECT_EQ(luo_session_name(port_, e.fd.get()), r.kernel_name);
  ASSERT_EQ(kernel_.snapshot().outgoing.size(), 1u);
  EXPECT_EQ(kernel_.snapshot().outgoing[0].name, r.kernel_name);

  // The next start finds it in the store and creates nothing.
  auto again = must(hand_out_luo_session(dev, port_, "vmm@vm0.service", "guest", store_));
  EXPECT_FALSE(again.session.has_value());
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(kernel_.snapshot().outgoing.size(), 1u);
}

TEST_F(LuoSessionSetting, RefusesNamesSystemdRefuses) {
  auto dev = must(lu_.open_device());
  for (const char* bad : {"", "a b", "a:b", "glob*", "q\"", "back\\slash"}) {
    auto r = hand_out_luo_session(dev, port_, "a.service", bad, store_);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().raw_errno(), EINVAL);
    EXPECT_EQ(r.error().origin(), ErrorOrigin::refused);
  }
  EXPECT_TRUE(store_.empty());
  EXPECT_TRUE(kernel_.snapshot().outgoing.empty());
}

TEST_F(LuoSessionSetting, ATakenKernelNameIsTheKernelsEexist) {
  auto dev = must(lu_.open_device());
  auto squatter = must(dev.create_session(luo_session_kernel_name("a.service", "x")));
  auto r = hand_out_luo_session(dev, port_, "a.service", "x", store_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().raw_errno(), EEXIST) << r.error().message();
  EXPECT_TRUE(store_.empty());
}

}  // namespace
}  // namespace luo
