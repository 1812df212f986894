// Device, OutgoingSession and IncomingSession own their fds: each is closed exactly once, by
// whoever owns it last (destructor, close(), or the move-assignment that overwrites it), and
// each close of the current boot is the model's `release` (spec kernel-luo.md §1.2, §2.3, §2.4).
//
// "Exactly once" is checked by re-occupying a closed fd number (occupy()) before the remaining
// moved-from objects die: a second close would take the test's fd away.
#include <optional>
#include <string>
#include <vector>

#include "impl_test_support.hpp"

namespace luo::impl_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// `a = std::move(a)` spelled so that no compiler flags it as an obvious self-move.
template <class T>
void self_move_assign(T& a, T& same) {
  a = std::move(same);
}

TEST(Raii, DeviceDestructorClosesItsFdAndReleases) {
  Rig rig(KernelProfile::v7_2);
  int raw = -1;
  {
    auto dev = must(rig.lu.open_device());
    raw = dev.fd();
    EXPECT_TRUE(dev.is_open());
    EXPECT_TRUE(fd_is_open(raw));
    rig.observer.clear();
  }
  EXPECT_FALSE(fd_is_open(raw));
  EXPECT_EQ(rig.lu.device_state(), DeviceState::closed);
  EXPECT_THAT(render(rig.observer.records()),
              ElementsAre("b0 device [/dev/liveupdate] close /dev/liveupdate / release: open -> "
                          "closed = OK issued"));
}

TEST(Raii, AMovedDeviceHasOneOwner) {
  Rig rig(KernelProfile::v7_2);
  std::optional<Device> a(must(rig.lu.open_device()));
  const int raw = a->fd();
  std::optional<Device> b(std::move(*a));
  EXPECT_FALSE(a->is_open());
  EXPECT_EQ(a->fd(), -1);
  EXPECT_EQ(b->fd(), raw);
  rig.observer.clear();

  b->close();
  EXPECT_FALSE(fd_is_open(raw));
  UniqueFd sentinel = occupy(raw);
  b.reset();
  a.reset();
  EXPECT_TRUE(fd_is_open(raw)) << "fd " << raw << " was closed twice";
  EXPECT_EQ(rig.observer.records().size(), 1u);
  EXPECT_EQ(rig.lu.device_state(), DeviceState::closed);
}

TEST(Raii, DeviceMoveAssignmentClosesTheOverwrittenDevice) {
  // Two runtimes, because one runtime holds at most one open device.
  Rig first(KernelProfile::v7_2);
  Rig second(KernelProfile::v7_2);
  std::optional<Device> a(must(first.lu.open_device()));
  std::optional<Device> b(must(second.lu.open_device()));
  const int raw_a = a->fd();
  const int raw_b = b->fd();
  first.observer.clear();
  second.observer.clear();

  *a = std::move(*b);
  EXPECT_FALSE(fd_is_open(raw_a));
  EXPECT_TRUE(fd_is_open(raw_b));
  EXPECT_EQ(a->fd(), raw_b);
  EXPECT_EQ(first.lu.device_state(), DeviceState::closed);
  EXPECT_EQ(second.lu.device_state(), DeviceState::open);
  EXPECT_EQ(first.observer.records().size(), 1u);
  EXPECT_THAT(second.observer.records(), IsEmpty());

  // `a` now acts for the second runtime.
  first.port.forget_calls();
  second.port.forget_calls();
  auto s = must(a->create_session("s"));
  EXPECT_EQ(second.port.count(PortOp::create_session), 1u);
  EXPECT_EQ(first.port.calls().size(), 0u);
  s.close();

  UniqueFd sentinel = occupy(raw_a);
  b.reset();
  EXPECT_TRUE(fd_is_open(raw_a));
  EXPECT_TRUE(fd_is_open(raw_b));
  a.reset();
  EXPECT_FALSE(fd_is_open(raw_b));
  EXPECT_TRUE(fd_is_open(raw_a));
  EXPECT_EQ(second.lu.device_state(), DeviceState::closed);
}

TEST(Raii, OutgoingSessionMoveAndMoveAssignment) {
  Rig rig(KernelProfile::v7_2);
  auto dev = must(rig.lu.open_device());
  std::optional<OutgoingSession> one(must(dev.create_session("one")));
  std::optional<OutgoingSession> two(must(dev.create_session("two")));
  const int raw_one = one->fd();
  const int raw_two = two->fd();
  rig.observer.clear();

  // Move construction transfers the fd without a transition.
  std::optional<OutgoingSession> moved(std::move(*two));
  EXPECT_EQ(two->fd(), -1);
  EXPECT_EQ(moved->fd(), raw_two);
  EXPECT_EQ(moved->name(), "two");
  EXPECT_THAT(rig.observer.records(), IsEmpty());

  // Move assignment releases the overwritten session.
  *one = std::move(*moved);
  EXPECT_FALSE(fd_is_open(raw_one));
  EXPECT_EQ(one->fd(), raw_two);
  EXPECT_EQ(one->name(), "two");
  EXPECT_THAT(render(rig.observer.records()),
              ElementsAre("b0 outgoing-session [outgoing session 'one'] close session / "
                          "release: created -> closed = OK issued"));

  UniqueFd sentinel = occupy(raw_one);
  two.reset();
  moved.reset();
  EXPECT_TRUE(fd_is_open(raw_one));
  EXPECT_TRUE(fd_is_open(raw_two));
  EXPECT_EQ(rig.observer.records().size(), 1u);

  // "one" is free again; "two" is still taken.
  rig.port.forget_calls();
  auto again = must(dev.create_session("one"));
  EXPECT_EQ(rig.port.count(PortOp::create_session), 1u);

  one.reset();
  EXPECT_FALSE(fd_is_open(raw_two));
  EXPECT_EQ(rig.observer.records().back().object, "outgoing session 'two'");
  EXPECT_EQ(rig.observer.records().back().event, "release");
}

TEST(Raii, IncomingSessionMoveAndMoveAssignment) {
  Rig rig(KernelProfile::v7_2);
  auto dev = must(rig.lu.open_device());
  std::optional<IncomingSession> one(must(dev.retrieve_session("one")));
  std::optional<IncomingSession> two(must(dev.retrieve_session("two")));
  const int raw_one = one->fd();
  const int raw_two = two->fd();
  auto mem = must(one->retrieve(1));
  rig.observer.clear();

  *one = std::move(*two);
  EXPECT_FALSE(fd_is_open(raw_one));
  EXPECT_TRUE(fd_is_open(mem.get())) << "a retrieved fd belongs to the caller, not the session";
  EXPECT_EQ(one->name(), "two");
  EXPECT_EQ(two->fd(), -1);
  EXPECT_THAT(render(rig.observer.records()),
              ElementsAre("b0 incoming-session [incoming session 'one'] close session / release: "
                          "retrieved -> gone = OK issued"));

  UniqueFd sentinel = occupy(raw_one);
  two.reset();
  EXPECT_TRUE(fd_is_open(raw_one));
  one.reset();
  EXPECT_FALSE(fd_is_open(raw_two));
  EXPECT_TRUE(fd_is_open(raw_one));
  EXPECT_EQ(rig.observer.records().size(), 2u);
}

TEST(Raii, CloseIsIdempotent) {
  Rig rig(KernelProfile::v7_2);
  std::optional<Device> dev(must(rig.lu.open_device()));
  std::optional<OutgoingSession> out(must(dev->create_session("out")));
  std::optional<IncomingSession> in(must(dev->retrieve_session("in")));
  const std::vector<int> raws = {dev->fd(), out->fd(), in->fd()};
  rig.observer.clear();

  out->close();
  in->close();
  dev->close();
  EXPECT_EQ(rig.observer.records().size(), 3u);
  std::vector<UniqueFd> sentinels;
  for (int raw : raws) {
    EXPECT_FALSE(fd_is_open(raw));
    sentinels.push_back(occupy(raw));
  }
  out->close();
  in->close();
  dev->close();
  out.reset();
  in.reset();
  dev.reset();
  for (int raw : raws)
    EXPECT_TRUE(fd_is_open(raw)) << "fd " << raw << " was closed twice";
  EXPECT_EQ(rig.observer.records().size(), 3u);
  EXPECT_EQ(rig.lu.device_state(), DeviceState::closed);
}

TEST(Raii, SelfMoveAssignmentKeepsEverything) {
  Rig rig(KernelProfile::v7_2);
  auto dev = must(rig.lu.open_device());
  auto out = must(dev.create_session("out"));
  auto in = must(dev.retrieve_session("in"));
  const std::vector<int> raws = {dev.fd(), out.fd(), in.fd()};
  rig.observer.clear();
  self_move_assign(dev, dev);
  self_move_assign(out, out);
  self_move_assign(in, in);
  EXPECT_EQ((std::vector<int>{dev.fd(), out.fd(), in.fd()}), raws);
  for (int raw : raws)
    EXPECT_TRUE(fd_is_open(raw));
  EXPECT_THAT(rig.observer.records(), IsEmpty());
}

// Results that are errors never keep the fd the kernel returned: a success the model cannot
// explain is closed again, not leaked.
TEST(Raii, AnFdFromADisagreeingSuccessIsClosed) {
  Rig rig(KernelProfile::v7_2);
  {
    auto dev = must(rig.lu.open_device());
    auto in = must(dev.retrieve_session("in"));
    ASSERT_TRUE(in.finish().ok());
    // After FINISH the session's list is empty: no RETRIEVE_FD can succeed (§3.3), yet this
    // kernel hands out an fd. Whatever impl makes of it, the fd must not outlive the result.
    { auto r = in.retrieve(1); }
    // A second open while the device is open cannot succeed either.
    { auto r = rig.lu.open_device(); }
  }
  for (int raw : rig.port.handed_out())
    EXPECT_FALSE(fd_is_open(raw)) << "fd " << raw;
}

}  // namespace
}  // namespace luo::impl_test
