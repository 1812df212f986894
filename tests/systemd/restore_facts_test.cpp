// restore_facts_test.cpp: facts about 262.1's restore, measured by running it (the counter, the
// shutdown timestamps and where they land in its Manager), which the differential tests and
// docs/systemd-interop.md rely on.
#include "differential.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "systemd_fixture.hpp"

namespace luo::sdtest {
namespace {

// Runs 262's restore over a handover whose mapping is `text` (one file at token 1).
Systemd262::Restore restore_of(Systemd262& sd, const std::string& text) {
  SimulatedKernel k;
  IoctlPort port(k);
  {
    auto dev = port.open_device();
    auto s = port.create_session(dev.value().get(), SessionNameField::from("systemd"));
    auto m = memfd::create("m");
    (void)memfd::write_at(m.value().get(), 0, text);
    (void)port.preserve_fd(s.value().get(), m.value().get(), 0);
    auto f = memfd::create("f");
    (void)memfd::write_at(f.value().get(), 0, "file-1");
    (void)port.preserve_fd(s.value().get(), f.value().get(), 1);
    dev.value().reset();
    (void)k.kexec();
  }
  return sd.restore(k);
}

std::string ts(std::uint64_t r, std::uint64_t m) {
  return R"({"realtime":)" + std::to_string(r) + R"(,"monotonic":)" + std::to_string(m) + "}";
}

// The Manager offsets systemd262.cpp uses: a known counter and four known timestamps land there.
TEST_F(SystemdTier0, ManagerLayout) {
  auto r = restore_of(
      sd(), R"({"version":1,"state":{"KExecCount":41,"ShutdownStartTimestamp":)" + ts(11, 12) +
                R"(,"ShutdownFinishTimestamp":)" + ts(21, 22) +
                R"(,"ShutdownLateStartTimestamp":)" + ts(31, 32) +
                R"(,"ShutdownLateFinishTimestamp":)" + ts(41, 42) +
                R"(},"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":1}]}}})");
  ASSERT_TRUE(r.counter.has_value());
  EXPECT_EQ(*r.counter, 42u);
  const std::array<DualTimestamp, 4> want = {DualTimestamp{11, 12}, DualTimestamp{21, 22},
                                             DualTimestamp{31, 32}, DualTimestamp{41, 42}};
  EXPECT_EQ(r.timestamps, want);
  ASSERT_EQ(r.dispatched.size(), 1u);
  EXPECT_EQ(r.dispatched[0].unit, "a.service");
  EXPECT_EQ(r.dispatched[0].context, "LUO");
}

// Spec §9.2 says "saturating"; 262.1's code is a plain 32-bit increment (INC_SAFE stores the
// wrapped sum even when it reports the overflow).
TEST_F(SystemdTier0, CounterWrapsAtU32Max) {
  auto r = restore_of(sd(), R"({"version":1,"state":{"KExecCount":4294967295}})");
  ASSERT_TRUE(r.counter.has_value());
  EXPECT_EQ(*r.counter, 0u);
}

// Spec §9.2 and §9.4 call a mistyped counter or timestamp fatal for the whole restore. In 262.1 a
// failed dispatch of `state` only drops `state`: the counter becomes the manager's own plus one
// (1 on a fresh boot), no timestamp is taken, and the entries are restored all the same
// (manager_luo_restore_fd_stores jumps from the failed sd_json_dispatch() to the increment).
TEST_F(SystemdTier0, AMistypedStateIsIgnoredNotFatal) {
  for (const std::string v :
       {R"("KExecCount":"5")", R"("KExecCount":4294967296)", R"("KExecCount":-1)",
        R"("KExecCount":7,"ShutdownLateStartTimestamp":5)",
        R"("KExecCount":7,"ShutdownStartTimestamp":[])",
        R"("KExecCount":7,"ShutdownLateStartTimestamp":{"realtime":1,"monotonic":-3})",
        R"("KExecCount":7,"KExecCount":7)",
        R"("KExecCount":7,"ShutdownStartTimestamp":{"realtime":1,"realtime":1})"}) {
    auto r = restore_of(
        sd(), R"({"version":1,"state":{)" + v +
                  R"(},"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":1}]}}})");
    EXPECT_TRUE(r.state_ignored) << v;
    EXPECT_EQ(r.counter, std::optional<std::uint32_t>(1)) << v;
    EXPECT_EQ(r.timestamps, (std::array<DualTimestamp, 4>{})) << v;
    EXPECT_EQ(r.dispatched.size(), 1u) << v;
  }
}

// Inside a timestamp object 262.1 is lenient: missing fields and numbers spelled as strings pass
// (json_dispatch_dual_timestamp); a negative value does not (the state is then ignored, above).
TEST_F(SystemdTier0, TimestampObjectsAreLenient) {
  struct Case {
    const char* value;
    DualTimestamp got;
  };
  for (const Case& c : std::initializer_list<Case>{{R"({"realtime":1,"monotonic":2})", {1, 2}},
                                                   {"{}", {0, 0}},
                                                   {R"({"realtime":"1"})", {1, 0}}}) {
    auto r = restore_of(
        sd(), std::string(R"({"version":1,"state":{"KExecCount":7,"ShutdownLateStartTimestamp":)") +
                  c.value + "}}");
    EXPECT_FALSE(r.state_ignored) << c.value;
    EXPECT_EQ(r.counter, std::optional<std::uint32_t>(8)) << c.value;
    EXPECT_EQ(r.timestamps[2], c.got) << c.value;
  }
  // An integral real is a number sd_json converts: 5.0 counts as 5.
  auto real = restore_of(sd(), R"({"version":1,"state":{"KExecCount":5.0}})");
  EXPECT_FALSE(real.state_ignored);
  EXPECT_EQ(real.counter, std::optional<std::uint32_t>(6));
}

}  // namespace
}  // namespace luo::sdtest
