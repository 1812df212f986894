// The sd_notify protocol over real sockets: address parsing, the client's limits, every ignore
// rule of the receiver (provoked with hand-made datagrams), the fd-store interpretation table,
// barrier semantics, and a two-process round trip. No test leaves an fd behind (the test main
// counts them); forked children only ever _exit().
#include "luo/adapters/sd_notify.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "luo/adapters/memfd.hpp"
#include "luo/model/fd_store_limits.hpp"
#include "raw_notify.hpp"

namespace luo::notify {
namespace {

using namespace std::chrono_literals;
using luo::testing::raw_send;

// ---------------------------------------------------------------------------------------------
// Helpers

Address abstract_address() {
  static int counter = 0;
  const std::string s =
      "@luo-sdn-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  return Address::parse(s).value();
}

// A private directory for path sockets, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/luo-sdn-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p != nullptr ? p : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

Receiver bind_or_die(const Address& addr, ReceiverOptions options = {}) {
  auto rx = Receiver::bind(addr, options);
  EXPECT_TRUE(rx.ok()) << std::strerror(rx.raw_errno());
  return std::move(rx).value();
}

UniqueFd memfd_with(const std::string& contents) {
  auto fd = memfd::create("luo-sdn");
  EXPECT_TRUE(fd.ok());
  EXPECT_TRUE(memfd::write_at(fd.value().get(), 0, contents).ok());
  return std::move(fd).value();
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe() {
  int ends[2] = {-1, -1};
  EXPECT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  return Pipe{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

// True when every write end of the pipe is gone: read() sees EOF at once.
bool all_writers_closed(int read_end) {
  const int flags = ::fcntl(read_end, F_GETFL);
  ::fcntl(read_end, F_SETFL, flags | O_NONBLOCK);
  char c = 0;
  return ::read(read_end, &c, 1) == 0;
}

Delivery receive_one(Receiver& rx) {
  EXPECT_TRUE(rx.wait(2s).value());
  auto d = rx.receive();
  EXPECT_TRUE(d.ok()) << std::strerror(d.raw_errno());
  return std::move(d).value();
}

using Tags = std::vector<std::pair<std::string, std::string>>;

// A forked child running body(); killed and reaped on destruction if the test did not wait.
class Child {
 public:
  explicit Child(const std::function<int()>& body) {
    pid_ = ::fork();
    if (pid_ == 0)
      ::_exit(body());
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)wait_exit();
    }
  }
  pid_t pid() const { return pid_; }
  // The exit status, or -1 if it did not exit normally.
  int wait_exit() {
    int status = 0;
    const pid_t p = pid_;
    pid_ = -1;
    if (::waitpid(p, &status, 0) != p || !WIFEXITED(status))
      return -1;
    return WEXITSTATUS(status);
  }

 private:
  pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------------------------
// fdname_is_valid (model/fd_store_limits.hpp)

TEST(NotifyFdNameTest, ValidityFollowsSystemd) {
  static_assert(fdname_is_valid(""));
  static_assert(fdname_is_valid("stored"));
  static_assert(fdname_is_valid("payload-test-fd-a"));
  static_assert(!fdname_is_valid("a:b"));
  EXPECT_TRUE(fdname_is_valid(std::string(kFdNameMax, 'x')));
  EXPECT_FALSE(fdname_is_valid(std::string(kFdNameMax + 1, 'x')));
  EXPECT_TRUE(fdname_is_valid(" ~"));
  EXPECT_FALSE(fdname_is_valid("tab\there"));
  EXPECT_FALSE(fdname_is_valid("del\x7f"));
  EXPECT_FALSE(fdname_is_valid("high\x80"));
  EXPECT_FALSE(fdname_is_valid(std::string("nul\0x", 5)));
  EXPECT_FALSE(fdname_is_valid("line\n"));
}

// ---------------------------------------------------------------------------------------------
// Addresses

TEST(NotifyAddressTest, ParsesPathAndAbstract) {
  const auto path = Address::parse("/run/systemd/notify");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path.value().kind(), Address::Kind::path);
  EXPECT_EQ(path.value().name(), "/run/systemd/notify");
  EXPECT_EQ(path.value().to_string(), "/run/systemd/notify");

  const auto abstract = Address::parse("@/org/freedesktop/systemd1/notify/42");
  ASSERT_TRUE(abstract.ok());
  EXPECT_EQ(abstract.value().kind(), Address::Kind::abstract);
  EXPECT_EQ(abstract.value().name(), "/org/freedesktop/systemd1/notify/42");
  EXPECT_EQ(abstract.value().to_string(), "@/org/freedesktop/systemd1/notify/42");
}

TEST(NotifyAddressTest, RefusesVsockFormsAsUnsupportedByThisLibrary) {
  for (const char* s : {"vsock:2:1234", "vsock-dgram:2:1234", "vsock-seqpacket:2:1234",
                        "vsock-stream:2:1234", "vsock:"}) {
    const auto r = Address::parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.error(), AddressError::vsock_unsupported) << s;
  }
  EXPECT_NE(address_error_message(AddressError::vsock_unsupported).find("not supported by this"),
            std::string_view::npos);
  EXPECT_EQ(address_error_errno(AddressError::vsock_unsupported), EAFNOSUPPORT);
}

TEST(NotifyAddressTest, RefusesOtherFormsAsUnsupported) {
  for (const char* s : {"", "relative/path", "notify", "tcp:1.2.3.4:5", "vsocket:1:2", " /x"}) {
    const auto r = Address::parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.error(), AddressError::unsupported_form) << s;
  }
  EXPECT_EQ(address_error_errno(AddressError::unsupported_form), EPROTO);
}

TEST(NotifyAddressTest, LengthAndNulLimits) {
  EXPECT_EQ(Address::parse("/").error(), AddressError::too_short);
  EXPECT_EQ(Address::parse("@").error(), AddressError::too_short);
  EXPECT_EQ(Address::parse(std::string_view("/a\0b", 4)).error(), AddressError::embedded_nul);
  EXPECT_EQ(Address::parse(std::string_view("@a\0b", 4)).error(), AddressError::embedded_nul);
  // sun_path is 108 bytes and systemd keeps room for a NUL: 107 characters at most.
  EXPECT_TRUE(Address::parse("/" + std::string(106, 'p')).ok());
  EXPECT_EQ(Address::parse("/" + std::string(107, 'p')).error(), AddressError::too_long);
  EXPECT_TRUE(Address::parse("@" + std::string(106, 'a')).ok());
  EXPECT_EQ(Address::parse("@" + std::string(107, 'a')).error(), AddressError::too_long);
}

// Restores NOTIFY_SOCKET after a test that changes it.
class NotifySocketEnv {
 public:
  NotifySocketEnv() {
    if (const char* v = std::getenv("NOTIFY_SOCKET"))
      saved_ = v;
  }
  ~NotifySocketEnv() {
    if (saved_)
      ::setenv("NOTIFY_SOCKET", saved_->c_str(), 1);
    else
      ::unsetenv("NOTIFY_SOCKET");
  }

 private:
  std::optional<std::string> saved_;
};

TEST(NotifyAddressTest, FromEnvironment) {
  const NotifySocketEnv restore;
  ::unsetenv("NOTIFY_SOCKET");
  auto unset = from_environment();
  ASSERT_TRUE(unset.ok());
  EXPECT_FALSE(unset.value().has_value());

  ::setenv("NOTIFY_SOCKET", "@mgr", 1);
  auto set = from_environment();
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(set.value().has_value());
  EXPECT_EQ(set.value()->to_string(), "@mgr");

  ::setenv("NOTIFY_SOCKET", "vsock:2:999", 1);
  auto vsock = from_environment();
  ASSERT_FALSE(vsock.ok());
  EXPECT_EQ(vsock.error(), AddressError::vsock_unsupported);

  // Set but empty is a malformed value, not "not configured".
  ::setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_EQ(from_environment().error(), AddressError::unsupported_form);
}

// ---------------------------------------------------------------------------------------------
// Message limits (all refused before any syscall: the address has no receiver, so a syscall
// would have failed with ECONNREFUSED instead)

TEST(NotifyMessageTest, PayloadJoinsTagsInOrderWithoutTrailingNewline) {
  Message m;
  m.fdstore().fdname("x").fdpoll_off().tag("STATUS", "a=b");
  EXPECT_EQ(m.payload(), "FDSTORE=1\nFDNAME=x\nFDPOLL=0\nSTATUS=a=b");
  EXPECT_EQ(Message().payload(), "");
  Message b;
  b.barrier();
  EXPECT_EQ(b.payload(), "BARRIER=1");
  Message r;
  r.fdstore_remove().fdname("y").ready();
  EXPECT_EQ(r.payload(), "FDSTOREREMOVE=1\nFDNAME=y\nREADY=1");
}

TEST(NotifyMessageTest, MoreThanScmMaxFdsIsE2bigBeforeSending) {
  const UniqueFd fd = memfd_with("x");
  const std::vector<int> at_limit(kScmMaxFd, fd.get());
  Message ok;
  ok.fds(at_limit);
  EXPECT_TRUE(ok.check().ok());
  Message over;
  over.fds(at_limit).fd(fd.get());
  EXPECT_EQ(over.check().raw_errno(), E2BIG);
  EXPECT_EQ(send(abstract_address(), over).raw_errno(), E2BIG);
}

TEST(NotifyMessageTest, PayloadAboveNotifyBufferMaxIsEmsgsizeBeforeSending) {
  // "K=" plus the value: exactly 4096 bytes is the largest the receiver takes.
  Message at_limit;
  at_limit.tag("K", std::string(kNotifyBufferMax - 2, 'v'));
  EXPECT_EQ(at_limit.payload().size(), kNotifyBufferMax);
  EXPECT_TRUE(at_limit.check().ok());
  Message over;
  over.tag("K", std::string(kNotifyBufferMax - 1, 'v'));
  EXPECT_EQ(over.check().raw_errno(), EMSGSIZE);
  EXPECT_EQ(send(abstract_address(), over).raw_errno(), EMSGSIZE);
  // The newline between tags counts.
  Message two;
  two.tag("A", std::string(2046, 'v')).tag("B", std::string(2046, 'v'));
  EXPECT_EQ(two.payload().size(), kNotifyBufferMax + 1);
  EXPECT_EQ(two.check().raw_errno(), EMSGSIZE);
}

TEST(NotifyMessageTest, TagsThatCannotArriveAsWrittenAreEinval) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "v"},   {"A=B", "v"},    {"A\nB", "v"}, {"A", "v\nFDSTORE=1"},
      {"A", "\r"}, {"A", "back\\"}, {"A\\", "v"},  {"A", std::string("n\0l", 3)},
  };
  for (const auto& [key, value] : bad) {
    Message m;
    m.tag(key, value);
    EXPECT_EQ(m.check().raw_errno(), EINVAL) << key << "=" << value;
  }
  Message fine;
  fine.tag("STATUS", "spaces, = and : are fine");
  EXPECT_TRUE(fine.check().ok());
}

TEST(NotifyMessageTest, NegativeFdIsEbadf) {
  Message m;
  m.fd(-1);
  EXPECT_EQ(m.check().raw_errno(), EBADF);
}

TEST(NotifyMessageTest, ConvenienceCallsRefuseWhatTheManagerWouldIgnore) {
  const UniqueFd fd = memfd_with("x");
  const int fds[] = {fd.get()};
  const Address nobody = abstract_address();
  EXPECT_EQ(store_fds(nobody, fds, "a:b").raw_errno(), EINVAL);
  EXPECT_EQ(store_fds(nobody, fds, std::string(256, 'n')).raw_errno(), EINVAL);
  EXPECT_EQ(store_fds(nobody, {}, "x").raw_errno(), EINVAL);
  EXPECT_EQ(remove_fds(nobody, "bad\tname").raw_errno(), EINVAL);
  // Valid requests reach the socket layer, which finds nobody.
  EXPECT_EQ(store_fds(nobody, fds, "x").raw_errno(), ECONNREFUSED);
  EXPECT_EQ(remove_fds(nobody, "x").raw_errno(), ECONNREFUSED);
}

TEST(NotifyMessageTest, SendingToNobodyFails) {
  const TempDir dir;
  Message m;
  m.ready();
  EXPECT_EQ(send(Address::parse(dir.file("none")).value(), m).raw_errno(), ENOENT);
  EXPECT_EQ(send(abstract_address(), m).raw_errno(), ECONNREFUSED);
}

// ---------------------------------------------------------------------------------------------
// Receiver

TEST(NotifyReceiverTest, ReceivesTagsFdsAndCredentials) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  const UniqueFd a = memfd_with("alpha");
  const int fds[] = {a.get()};
  ASSERT_TRUE(store_fds(addr, fds, "x", Poll::off).ok());

  Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::message);
  Received& m = d.message();
  EXPECT_EQ(m.pid, ::getpid());
  EXPECT_EQ(m.uid, ::getuid());
  EXPECT_EQ(m.gid, ::getgid());
  EXPECT_EQ(m.tags, (Tags{{"FDSTORE", "1"}, {"FDNAME", "x"}, {"FDPOLL", "0"}}));
  ASSERT_EQ(m.fds.size(), 1U);
  EXPECT_NE(m.fds[0].get(), a.get());
  EXPECT_NE(::fcntl(m.fds[0].get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(memfd::read_all(m.fds[0].get()).value(), "alpha");
  if (m.pidfd) {  // Linux 6.5+: SCM_PIDFD, also close-on-exec
    EXPECT_NE(::fcntl(m.pidfd.get(), F_GETFD) & FD_CLOEXEC, 0);
  }
  EXPECT_TRUE(m.has("FDPOLL", "0"));
  EXPECT_FALSE(m.has("FDPOLL", "1"));
  EXPECT_EQ(m.first("FDNAME"), "x");
  EXPECT_EQ(m.first("MISSING"), std::nullopt);
}

TEST(NotifyReceiverTest, ScmMaxFdsArriveWhole) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  const UniqueFd fd = memfd_with("many");
  Message m;
  m.fdstore().fds(std::vector<int>(kScmMaxFd, fd.get()));
  ASSERT_TRUE(send(addr, m).ok());
  Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::message);
  ASSERT_EQ(d.message().fds.size(), kScmMaxFd);
  EXPECT_EQ(memfd::read_all(d.message().fds.back().get()).value(), "many");
}

TEST(NotifyReceiverTest, EmptyQueueIsEagainAndWaitTimesOut) {
  Receiver rx = bind_or_die(abstract_address());
  EXPECT_EQ(rx.receive().raw_errno(), EAGAIN);
  const auto w = rx.wait(10ms);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w.value());
}

TEST(NotifyReceiverTest, ExactlyNotifyBufferMaxBytesIsAccepted) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  raw_send(addr, "K=" + std::string(kNotifyBufferMax - 2, 'v'));
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::message);
  EXPECT_EQ(d.message().tags.at(0).second.size(), kNotifyBufferMax - 2);
}

TEST(NotifyReceiverTest, TruncatedPayloadIsIgnoredAndItsFdsClosed) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  Pipe p = make_pipe();
  raw_send(addr, "FDSTORE=1\nK=" + std::string(kNotifyBufferMax, 'v'), {p.write.get()});
  p.write.reset();  // now the only write end is the one in flight
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::ignored);
  EXPECT_EQ(d.ignored().reason, IgnoreReason::truncated_payload);
  EXPECT_EQ(d.ignored().fds_closed, 1U);
  EXPECT_TRUE(all_writers_closed(p.read.get()));
}

TEST(NotifyReceiverTest, TruncatedControlDataIsIgnoredAndArrivedFdsClosed) {
  // A real sender cannot exceed NOTIFY_FD_MAX (the kernel caps a message at 253 fds), so the
  // receiver gets a smaller control buffer instead.
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr, ReceiverOptions{.max_fds = 2});
  Pipe p = make_pipe();
  raw_send(addr, "FDSTORE=1", std::vector<int>(12, p.write.get()));
  p.write.reset();
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::ignored);
  EXPECT_EQ(d.ignored().reason, IgnoreReason::truncated_control_data);
  // Those that fit arrived (at least max_fds, fewer than sent) and were closed; the kernel
  // dropped the rest.
  EXPECT_GE(d.ignored().fds_closed, 2U);
  EXPECT_LT(d.ignored().fds_closed, 12U);
  EXPECT_TRUE(all_writers_closed(p.read.get()));
}

TEST(NotifyReceiverTest, RefusingReceiverNeverKeepsFds) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr, ReceiverOptions{.fds = FdPolicy::refuse});
  Pipe p = make_pipe();
  Message m;
  m.fdstore().fd(p.write.get());
  const SysStatus sent = send(addr, m);
  p.write.reset();
  if (sent.ok()) {
    // Before Linux 6.16 (no SO_PASSRIGHTS): the fd arrives and is closed, the message stays.
    const Delivery d = receive_one(rx);
    ASSERT_EQ(d.kind(), DeliveryKind::message);
    EXPECT_TRUE(d.message().fds.empty());
    EXPECT_EQ(d.message().fds_closed, 1U);
  } else {
    EXPECT_EQ(sent.raw_errno(), EPERM);  // SO_PASSRIGHTS off: the kernel refuses the sender
  }
  EXPECT_TRUE(all_writers_closed(p.read.get()));
  // Messages without fds pass.
  Message ready;
  ready.ready();
  ASSERT_TRUE(send(addr, ready).ok());
  EXPECT_EQ(receive_one(rx).kind(), DeliveryKind::message);
}

TEST(NotifyReceiverTest, MissingCredentialsIsIgnored) {
  // The kernel puts SCM_CREDENTIALS into a datagram only for a receiver with SO_PASSCRED, so
  // turning it off after bind() is the way to get a datagram without them.
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  const int off = 0;
  ASSERT_EQ(::setsockopt(rx.fd(), SOL_SOCKET, SO_PASSCRED, &off, sizeof off), 0);
  Pipe p = make_pipe();
  Message m;
  m.fdstore().fd(p.write.get());
  ASSERT_TRUE(send(addr, m).ok());
  p.write.reset();
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::ignored);
  EXPECT_EQ(d.ignored().reason, IgnoreReason::missing_credentials);
  EXPECT_EQ(d.ignored().fds_closed, 1U);
  EXPECT_TRUE(all_writers_closed(p.read.get()));
}

TEST(NotifyReceiverTest, EmbeddedNulIsIgnoredButOneTrailingNulIsAccepted) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  raw_send(addr, std::string_view("A=1\0B=2", 7));
  const Delivery nul = receive_one(rx);
  ASSERT_EQ(nul.kind(), DeliveryKind::ignored);
  EXPECT_EQ(nul.ignored().reason, IgnoreReason::embedded_nul);

  raw_send(addr, std::string_view("A=1\nB=2\0", 8));
  const Delivery trailing = receive_one(rx);
  ASSERT_EQ(trailing.kind(), DeliveryKind::message);
  EXPECT_EQ(trailing.message().tags, (Tags{{"A", "1"}, {"B", "2"}}));

  raw_send(addr, std::string_view("\0", 1));
  const Delivery only_nul = receive_one(rx);
  ASSERT_EQ(only_nul.kind(), DeliveryKind::message);
  EXPECT_TRUE(only_nul.message().tags.empty());
}

TEST(NotifyReceiverTest, SplitsTagsLikeSystemd) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  // Empty lines vanish, '\r' separates too, a line without '=' is kept with an empty value,
  // only the first '=' splits, and a backslash makes the next byte literal.
  raw_send(addr, "\n\nA=1\r\nNOVALUE\n\nB=x=y\nC=back\\\\slash\nD=\\q\nE=a\\\nb\n");
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::message);
  EXPECT_EQ(d.message().tags, (Tags{{"A", "1"},
                                    {"NOVALUE", ""},
                                    {"B", "x=y"},
                                    {"C", "back\\slash"},
                                    {"D", "q"},
                                    {"E", "a\nb"}}));
  raw_send(addr, "");
  const Delivery empty = receive_one(rx);
  ASSERT_EQ(empty.kind(), DeliveryKind::message);
  EXPECT_TRUE(empty.message().tags.empty());
}

TEST(NotifyReceiverTest, TrailingBackslashIsIgnored) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  raw_send(addr, "FDSTORE=1\nFDNAME=x\\");
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::ignored);
  EXPECT_EQ(d.ignored().reason, IgnoreReason::unterminated_escape);
}

TEST(NotifyReceiverTest, BarrierIsConsumedAndItsFdClosed) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  Pipe p = make_pipe();
  raw_send(addr, "BARRIER=1", {p.write.get()});
  p.write.reset();
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::barrier);
  EXPECT_EQ(d.barrier().pid, ::getpid());
  EXPECT_EQ(d.barrier().warning, BarrierWarning::none);
  EXPECT_EQ(d.barrier().fds_closed, 1U);
  EXPECT_TRUE(all_writers_closed(p.read.get()));
}

TEST(NotifyReceiverTest, MalformedBarrierIsSwallowedWithAWarning) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  Pipe p = make_pipe();
  // Extra tags: the FDSTORE=1 is not acted on, the fd is closed.
  raw_send(addr, "FDSTORE=1\nBARRIER=1", {p.write.get()});
  raw_send(addr, "BARRIER=1");
  raw_send(addr, "BARRIER=1", {p.write.get(), p.write.get()});
  p.write.reset();

  const Delivery extra = receive_one(rx);
  ASSERT_EQ(extra.kind(), DeliveryKind::barrier);
  EXPECT_EQ(extra.barrier().warning, BarrierWarning::extra_tags);
  const Delivery none = receive_one(rx);
  ASSERT_EQ(none.kind(), DeliveryKind::barrier);
  EXPECT_EQ(none.barrier().warning, BarrierWarning::wrong_fd_count);
  EXPECT_EQ(none.barrier().fds_closed, 0U);
  const Delivery two = receive_one(rx);
  ASSERT_EQ(two.kind(), DeliveryKind::barrier);
  EXPECT_EQ(two.barrier().warning, BarrierWarning::wrong_fd_count);
  EXPECT_EQ(two.barrier().fds_closed, 2U);
  EXPECT_TRUE(all_writers_closed(p.read.get()));
  // Only the exact line counts: BARRIER=yes is an ordinary tag.
  raw_send(addr, "BARRIER=yes");
  EXPECT_EQ(receive_one(rx).kind(), DeliveryKind::message);
}

TEST(NotifyReceiverTest, AsPidClaimsAnotherPidOrFallsBackToOurs) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  Message m;
  m.ready().as_pid(::getppid());
  ASSERT_TRUE(send(addr, m).ok());
  const Delivery d = receive_one(rx);
  ASSERT_EQ(d.kind(), DeliveryKind::message);
  // With CAP_SYS_ADMIN the kernel accepts the claim; without, send() retried with our own.
  EXPECT_TRUE(d.message().pid == ::getppid() || d.message().pid == ::getpid());
}

TEST(NotifyReceiverTest, PathReceiverReplacesOnlyAStaleSocketAndUnlinksItsOwn) {
  const TempDir dir;
  const Address addr = Address::parse(dir.file("notify")).value();
  {
    Receiver live = bind_or_die(addr);
    // A live socket is not taken over.
    EXPECT_EQ(Receiver::bind(addr).raw_errno(), EADDRINUSE);
  }
  EXPECT_FALSE(std::filesystem::exists(addr.name()));  // unlinked on destruction

  // A stale socket file: bound, then its socket closed without unlinking.
  {
    const UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, addr.name().data(), addr.name().size());
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(addr.name()));
  {
    Receiver rx = bind_or_die(addr);
    Message m;
    m.ready();
    ASSERT_TRUE(send(addr, m).ok());
    EXPECT_EQ(receive_one(rx).kind(), DeliveryKind::message);
  }

  // A regular file is never removed.
  const std::string file = dir.file("regular");
  { const UniqueFd f(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)); }
  EXPECT_EQ(Receiver::bind(Address::parse(file).value()).raw_errno(), EADDRINUSE);
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST(NotifyReceiverTest, MovedReceiverKeepsTheSocketAndThePath) {
  const TempDir dir;
  const Address addr = Address::parse(dir.file("moved")).value();
  {
    Receiver a = bind_or_die(addr);
    Receiver b = std::move(a);
    Message m;
    m.ready();
    ASSERT_TRUE(send(addr, m).ok());
    EXPECT_EQ(receive_one(b).kind(), DeliveryKind::message);
    EXPECT_TRUE(std::filesystem::exists(addr.name()));
  }
  EXPECT_FALSE(std::filesystem::exists(addr.name()));
}

// ---------------------------------------------------------------------------------------------
// Barrier

TEST(NotifyBarrierTest, ReturnsOnlyAfterTheReceiverConsumedIt) {
  const Address addr = abstract_address();
  Receiver rx = bind_or_die(addr);
  std::atomic<bool> done{false};
  int result = -1;
  std::thread client([&] {
    result = barrier(addr, 5s).raw_errno();
    done = true;
  });
  ASSERT_TRUE(rx.wait(5s).value());
  // Queued but not read: the barrier must still be waiting.
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(done.load());
  auto d = rx.receive();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value().kind(), DeliveryKind::barrier);
  client.join();
  EXPECT_EQ(result, 0);
}

TEST(NotifyBarrierTest, TimesOutWhenNobodyReads) {
  const Address addr = abstract_address();
  const Receiver rx = bind_or_die(addr);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(barrier(addr, 100ms).raw_errno(), ETIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
}

TEST(NotifyBarrierTest, FailsWhenNobodyListens) {
  EXPECT_EQ(barrier(abstract_address(), 100ms).raw_errno(), ECONNREFUSED);
}

// ---------------------------------------------------------------------------------------------
// fd-store interpretation (§1.3 rules 6-7)

struct RequestCase {
  const char* what;
  Tags tags;
  std::size_t n_fds;
  FdStoreRequest::Kind kind;
  std::string name;
  bool name_was_invalid;
  bool poll;
  std::size_t fds_kept;
  std::size_t fds_closed;
  std::vector<FdStoreWarning> warnings;
};

TEST(NotifyFdStoreRequestTest, InterpretationTable) {
  using K = FdStoreRequest::Kind;
  using W = FdStoreWarning;
  const std::string long_ok(kFdNameMax, 'n');
  const std::string too_long(kFdNameMax + 1, 'n');
  const std::vector<RequestCase> cases = {
      {"store with name",
       {{"FDSTORE", "1"}, {"FDNAME", "x"}},
       2,
       K::store,
       "x",
       false,
       true,
       2,
       0,
       {}},
      {"store without name", {{"FDSTORE", "1"}}, 1, K::store, "stored", false, true, 1, 0, {}},
      {"store, invalid name",
       {{"FDSTORE", "1"}, {"FDNAME", "a:b"}},
       1,
       K::store,
       "stored",
       true,
       true,
       1,
       0,
       {W::invalid_name_ignored}},
      {"store, empty name is valid",
       {{"FDSTORE", "1"}, {"FDNAME", ""}},
       1,
       K::store,
       "",
       false,
       true,
       1,
       0,
       {}},
      {"store, 255-byte name",
       {{"FDSTORE", "1"}, {"FDNAME", long_ok}},
       1,
       K::store,
       long_ok,
       false,
       true,
       1,
       0,
       {}},
      {"store, 256-byte name",
       {{"FDSTORE", "1"}, {"FDNAME", too_long}},
       1,
       K::store,
       "stored",
       true,
       true,
       1,
       0,
       {W::invalid_name_ignored}},
      {"store, FDPOLL=0",
       {{"FDSTORE", "1"}, {"FDPOLL", "0"}},
       1,
       K::store,
       "stored",
       false,
       false,
       1,
       0,
       {}},
      {"store, FDPOLL=no is not FDPOLL=0",
       {{"FDSTORE", "1"}, {"FDPOLL", "no"}},
       1,
       K::store,
       "stored",
       false,
       true,
       1,
       0,
       {}},
      {"store, first FDNAME wins",
       {{"FDNAME", "a"}, {"FDSTORE", "1"}, {"FDNAME", "b"}},
       1,
       K::store,
       "a",
       false,
       true,
       1,
       0,
       {}},
      {"store without fds",
       {{"FDSTORE", "1"}, {"FDNAME", "x"}},
       0,
       K::store,
       "x",
       false,
       true,
       0,
       0,
       {}},
      {"remove",
       {{"FDSTOREREMOVE", "1"}, {"FDNAME", "x"}},
       0,
       K::remove,
       "x",
       false,
       true,
       0,
       0,
       {}},
      {"remove without name",
       {{"FDSTOREREMOVE", "1"}},
       0,
       K::none,
       "",
       false,
       true,
       0,
       0,
       {W::remove_without_valid_name}},
      {"remove, invalid name, with an fd",
       {{"FDSTOREREMOVE", "1"}, {"FDNAME", "a:b"}},
       1,
       K::none,
       "",
       true,
       true,
       0,
       1,
       {W::remove_without_valid_name, W::extra_fds_closed}},
      {"remove wins over store",
       {{"FDSTORE", "1"}, {"FDSTOREREMOVE", "1"}, {"FDNAME", "x"}},
       2,
       K::remove,
       "x",
       false,
       true,
       0,
       2,
       {W::extra_fds_closed}},
      {"no store tag", {{"READY", "1"}}, 1, K::none, "", false, true, 0, 1, {W::extra_fds_closed}},
      {"FDSTORE=yes is not FDSTORE=1",
       {{"FDSTORE", "yes"}},
       1,
       K::none,
       "",
       false,
       true,
       0,
       1,
       {W::extra_fds_closed}},
      {"nothing at all", {}, 0, K::none, "", false, true, 0, 0, {}},
  };
  for (const RequestCase& c : cases) {
    SCOPED_TRACE(c.what);
    Received m;
    m.pid = 1;
    m.tags = c.tags;
    for (std::size_t i = 0; i < c.n_fds; ++i)
      m.fds.push_back(memfd_with("fd" + std::to_string(i)));
    const FdStoreRequest r = interpret_fd_store(std::move(m));
    EXPECT_EQ(r.kind, c.kind);
    EXPECT_EQ(r.name, c.name);
    EXPECT_EQ(r.name_was_invalid, c.name_was_invalid);
    EXPECT_EQ(r.poll, c.poll ? Poll::on : Poll::off);
    EXPECT_EQ(r.fds.size(), c.fds_kept);
    EXPECT_EQ(r.fds_closed, c.fds_closed);
    EXPECT_EQ(r.warnings, c.warnings);
    for (std::size_t i = 0; i < r.fds.size(); ++i)
      EXPECT_EQ(memfd::read_all(r.fds[i].get()).value(), "fd" + std::to_string(i));
  }
  EXPECT_EQ(fd_store_warning_message(FdStoreWarning::remove_without_valid_name),
            "FDSTOREREMOVE=1 requested, but no valid file descriptor name passed, ignoring.");
}

// ---------------------------------------------------------------------------------------------
// Two processes

// The child stores two memfds with FDSTORE=1 FDNAME=x, then waits on a barrier so it does not
// exit before the parent has read the message (§1.3 rule 4).
int store_two_memfds_and_barrier(const Address& addr) {
  auto a = memfd::create("alpha");
  auto b = memfd::create("beta");
  if (!a.ok() || !b.ok())
    return 10;
  if (!memfd::write_at(a.value().get(), 0, "contents of alpha").ok() ||
      !memfd::write_at(b.value().get(), 0, "contents of beta").ok())
    return 11;
  const int fds[] = {a.value().get(), b.value().get()};
  if (!store_fds(addr, fds, "x").ok())
    return 12;
  if (!barrier(addr, 5s).ok())
    return 13;
  return 0;
}

void round_trip(const Address& addr) {
  Receiver rx = bind_or_die(addr);
  Child child([&] { return store_two_memfds_and_barrier(addr); });
  ASSERT_GT(child.pid(), 0);

  std::optional<Received> store;
  bool barrier_seen = false;
  while (!barrier_seen) {
    ASSERT_TRUE(rx.wait(5s).value()) << "child sent nothing";
    auto d = rx.receive();
    ASSERT_TRUE(d.ok());
    switch (d.value().kind()) {
      case DeliveryKind::message:
        store = std::move(d.value().message());
        break;
      case DeliveryKind::barrier:
        EXPECT_EQ(d.value().barrier().pid, child.pid());
        barrier_seen = true;
        break;
      case DeliveryKind::ignored:
        FAIL() << ignore_reason_message(d.value().ignored().reason);
    }
  }
  ASSERT_TRUE(store.has_value()) << "barrier arrived before the store message";
  EXPECT_EQ(store->pid, child.pid());
  EXPECT_EQ(store->uid, ::getuid());
  const FdStoreRequest req = interpret_fd_store(std::move(*store));
  EXPECT_EQ(req.kind, FdStoreRequest::Kind::store);
  EXPECT_EQ(req.name, "x");
  EXPECT_EQ(req.poll, Poll::on);
  ASSERT_EQ(req.fds.size(), 2U);
  std::vector<std::string> contents;
  for (const UniqueFd& fd : req.fds) {
    EXPECT_NE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
    contents.push_back(memfd::read_all(fd.get()).value());
  }
  std::sort(contents.begin(), contents.end());
  EXPECT_EQ(contents, (std::vector<std::string>{"contents of alpha", "contents of beta"}));
  EXPECT_EQ(child.wait_exit(), 0);
}

TEST(NotifyRoundTripTest, ChildStoresTwoMemfdsOverAbstractAddress) {
  round_trip(abstract_address());
}

TEST(NotifyRoundTripTest, ChildStoresTwoMemfdsOverPathAddress) {
  const TempDir dir;
  round_trip(Address::parse(dir.file("notify")).value());
}

}  // namespace
}  // namespace luo::notify
