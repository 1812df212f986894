// LISTEN_FDS both ways: the parser against an injected environment (every rule of §1.6 and
// libsystemd's order of checks), the writer, the two together, pidfd ids, and
// take_listen_fds() for real in forked children that own fds 3 and 4.
#include "luo/adapters/listen_fds.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "luo/adapters/memfd.hpp"
#include "luo/model/fd_store_limits.hpp"

namespace luo::listen {
namespace {

constexpr pid_t kSelf = 4242;

Environment env_for(std::string fds, std::optional<std::string> names = std::nullopt,
                    std::string pid = std::to_string(kSelf)) {
  Environment env{{"LISTEN_PID", std::move(pid)}, {"LISTEN_FDS", std::move(fds)}};
  if (names)
    env.emplace("LISTEN_FDNAMES", *names);
  return env;
}

ListenError error_of(const Environment& env, std::optional<std::uint64_t> own_id = {}) {
  const auto r = parse_listen_fds(env, kSelf, own_id);
  EXPECT_FALSE(r.ok());
  return r.ok() ? ListenError::not_passed : r.error();
}

// ---------------------------------------------------------------------------------------------
// Parser

TEST(ListenFdsTest, ParsesCountAndNamesFromFd3) {
  const auto r = parse_listen_fds(env_for("3", "db-state:stored:connection"), kSelf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<PassedFd>{
                           {3, "db-state"}, {4, std::string(kDefaultFdName)}, {5, "connection"}}));
  EXPECT_EQ(r.value().front().fd, kListenFdsStart);
}

TEST(ListenFdsTest, AbsentNamesAreUnknown) {
  const auto r = parse_listen_fds(env_for("2"), kSelf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<PassedFd>{{3, std::string(kUnknownFdName)},
                                              {4, std::string(kUnknownFdName)}}));
}

TEST(ListenFdsTest, EmptyNameFieldsAreKept) {
  EXPECT_EQ(parse_listen_fds(env_for("3", "a::b"), kSelf).value(),
            (std::vector<PassedFd>{{3, "a"}, {4, ""}, {5, "b"}}));
  EXPECT_EQ(parse_listen_fds(env_for("1", ""), kSelf).value(), (std::vector<PassedFd>{{3, ""}}));
  EXPECT_EQ(parse_listen_fds(env_for("2", ":"), kSelf).value(),
            (std::vector<PassedFd>{{3, ""}, {4, ""}}));
  // Names are returned as written: no escape processing (see the header).
  EXPECT_EQ(parse_listen_fds(env_for("1", "a\\b"), kSelf).value(),
            (std::vector<PassedFd>{{3, "a\\b"}}));
}

TEST(ListenFdsTest, NameCountMismatchIsEinval) {
  for (const char* names : {"a", "a:b:c", "", "a:"}) {
    const auto r = parse_listen_fds(env_for(names == std::string("a:") ? "3" : "2", names), kSelf);
    ASSERT_FALSE(r.ok()) << names;
    EXPECT_EQ(r.error(), ListenError::names_mismatch) << names;
    EXPECT_EQ(r.raw_errno(), EINVAL);
  }
}

TEST(ListenFdsTest, NothingPassedOrNotForUsIsNotAnError) {
  EXPECT_EQ(error_of({}), ListenError::not_passed);
  EXPECT_EQ(error_of({{"LISTEN_FDS", "2"}}), ListenError::not_passed);
  EXPECT_EQ(error_of({{"LISTEN_PID", std::to_string(kSelf)}}), ListenError::not_passed);
  EXPECT_EQ(error_of(env_for("2", "a:b", "1")), ListenError::not_for_us);
  for (ListenError e : {ListenError::not_passed, ListenError::not_for_us}) {
    EXPECT_TRUE(means_nothing_passed(e));
    EXPECT_EQ(listen_error_errno(e), 0);
  }
  EXPECT_FALSE(means_nothing_passed(ListenError::invalid_count));
}

TEST(ListenFdsTest, GarbagePidIsEinval) {
  for (const char* pid : {"", "abc", "0", "-1", "+4242", " 4242", "4242 ", "04242", "0x1092",
                          "2147483648", "99999999999999999999999"}) {
    EXPECT_EQ(error_of(env_for("1", std::nullopt, pid)), ListenError::invalid_pid) << pid;
  }
}

TEST(ListenFdsTest, ZeroGarbageOrOverflowingCountIsEinval) {
  for (const char* fds :
       {"", "0", "-1", "+1", "1x", "01", "0x1", " 1", "2147483645", "99999999999999999999999"}) {
    const auto r = parse_listen_fds(env_for(fds), kSelf);
    ASSERT_FALSE(r.ok()) << fds;
    EXPECT_EQ(r.error(), ListenError::invalid_count) << fds;
    EXPECT_EQ(r.raw_errno(), EINVAL);
  }
  // INT_MAX - 3 is the largest count: accepted as a number, refused here only by the names.
  EXPECT_EQ(error_of(env_for(std::to_string(INT_MAX - kListenFdsStart), "a")),
            ListenError::names_mismatch);
}

TEST(ListenFdsTest, PidfdIdMustMatchWhenOursIsKnown) {
  Environment env = env_for("1", "a");
  env.emplace("LISTEN_PIDFDID", "777");
  EXPECT_TRUE(parse_listen_fds(env, kSelf, 777).ok());
  EXPECT_EQ(error_of(env, 778), ListenError::not_for_us);
  // Our own id unknown (no pidfs): only the syntax is checked.
  EXPECT_TRUE(parse_listen_fds(env, kSelf).ok());
  env["LISTEN_PIDFDID"] = "seven";
  EXPECT_EQ(error_of(env, 777), ListenError::invalid_pidfd_id);
  EXPECT_EQ(error_of(env), ListenError::invalid_pidfd_id);
  env["LISTEN_PIDFDID"] = "18446744073709551615";
  EXPECT_TRUE(parse_listen_fds(env, kSelf, UINT64_MAX).ok());
  env["LISTEN_PIDFDID"] = "18446744073709551616";
  EXPECT_EQ(error_of(env), ListenError::invalid_pidfd_id);
}

TEST(ListenFdsTest, ChecksRunInLibsystemdOrder) {
  // The pid is checked before the count, and "not for us" before anything malformed later.
  EXPECT_EQ(error_of(env_for("0", "a", "x")), ListenError::invalid_pid);
  EXPECT_EQ(error_of(env_for("0", "a", "1")), ListenError::not_for_us);
  Environment env = env_for("0", "a");
  env.emplace("LISTEN_PIDFDID", "x");
  EXPECT_EQ(error_of(env), ListenError::invalid_pidfd_id);
  EXPECT_EQ(error_of(env_for("0", "a:b")), ListenError::invalid_count);
}

// ---------------------------------------------------------------------------------------------
// Writer

TEST(ListenFdsTest, WriterBuildsSystemdsVariables) {
  const std::vector<std::string> names = {"a", "", "payload-x"};
  const auto r = listen_environment(names, 99);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<std::string>{"LISTEN_PID=99", "LISTEN_FDS=3",
                                                 "LISTEN_FDNAMES=a::payload-x"}));
  const auto with_id = listen_environment(names, 99, 123456789012ULL);
  ASSERT_TRUE(with_id.ok());
  EXPECT_EQ(with_id.value(),
            (std::vector<std::string>{"LISTEN_PID=99", "LISTEN_PIDFDID=123456789012",
                                      "LISTEN_FDS=3", "LISTEN_FDNAMES=a::payload-x"}));
  EXPECT_TRUE(listen_environment({}, 99).value().empty());
}

TEST(ListenFdsTest, WriterRefusesInvalidNames) {
  for (const std::string& bad : {std::string("a:b"), std::string(kFdNameMax + 1, 'n'),
                                 std::string("tab\t"), std::string("nl\n"), std::string("\x80")}) {
    const std::vector<std::string> names = {"ok", bad};
    const auto r = listen_environment(names, 99);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), ListenError::invalid_name);
    EXPECT_EQ(r.raw_errno(), EINVAL);
  }
}

TEST(ListenFdsTest, WriterOutputParsesBack) {
  const std::vector<std::string> names = {"", "stored", "x", "", std::string(kFdNameMax, 'z')};
  const auto strings = listen_environment(names, kSelf, 5);
  ASSERT_TRUE(strings.ok());
  Environment env;
  for (const std::string& s : strings.value()) {
    const std::size_t eq = s.find('=');
    env.emplace(s.substr(0, eq), s.substr(eq + 1));
  }
  const auto parsed = parse_listen_fds(env, kSelf, 5);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed.value().size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(parsed.value()[i].fd, kListenFdsStart + static_cast<int>(i));
    EXPECT_EQ(parsed.value()[i].name, names[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// pidfd ids

TEST(ListenFdsTest, OwnPidfdIdIsStableAndMatchesAPidfd) {
  const std::optional<std::uint64_t> id = own_pidfd_id();
  if (!id)
    GTEST_SKIP() << "pidfds are not on pidfs here (Linux < 6.9)";
  EXPECT_EQ(own_pidfd_id(), id);
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  ASSERT_TRUE(pidfd);
  EXPECT_EQ(pidfd_inode_id(pidfd.get()).value(), *id);
}

TEST(ListenFdsTest, PidfdIdOfAnotherFileIsRefused) {
  auto fd = memfd::create("not-a-pidfd");
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(pidfd_inode_id(fd.value().get()).raw_errno(), EOPNOTSUPP);
  EXPECT_EQ(pidfd_inode_id(-1).raw_errno(), EBADF);
}

// ---------------------------------------------------------------------------------------------
// take_listen_fds, in children (they own fds 3 and 4 and a throwaway environment)

int run_in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0)
    ::_exit(body());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

// Puts a non-close-on-exec memfd with these contents at fd number `at`.
bool place_memfd(int at, const std::string& contents) {
  auto fd = memfd::create("passed");
  if (!fd.ok() || !memfd::write_at(fd.value().get(), 0, contents).ok())
    return false;
  // Without FD_CLOEXEC, like an fd a manager passes across exec. The memfd may already have
  // the number (dup2() would then change nothing).
  if (fd.value().get() == at)
    return ::fcntl(fd.value().release(), F_SETFD, 0) == 0;
  return ::dup2(fd.value().get(), at) == at;
}

bool cloexec(int fd) {
  return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

TEST(ListenFdsTest, TakeMarksCloexecReturnsOwnedFdsAndUnsets) {
  const int code = run_in_child([] {
    if (!place_memfd(3, "first contents") || !place_memfd(4, "second contents"))
      return 10;
    if (cloexec(3) || cloexec(4))
      return 11;
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    ::setenv("LISTEN_FDNAMES", "first:second", 1);
    if (const auto id = own_pidfd_id())
      ::setenv("LISTEN_PIDFDID", std::to_string(*id).c_str(), 1);
    auto taken = take_listen_fds(UnsetEnvironment::yes);
    if (!taken.ok())
      return 20 + static_cast<int>(taken.error());
    auto& fds = taken.value();
    if (fds.size() != 2 || fds[0].fd.get() != 3 || fds[1].fd.get() != 4)
      return 30;
    if (fds[0].name != "first" || fds[1].name != "second")
      return 31;
    if (!cloexec(3) || !cloexec(4))
      return 32;
    if (memfd::read_all(3).value() != "first contents" ||
        memfd::read_all(4).value() != "second contents")
      return 33;
    for (const char* v : {"LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES"}) {
      if (std::getenv(v) != nullptr)
        return 34;
    }
    fds.clear();  // the UniqueFds close 3 and 4
    if (::fcntl(3, F_GETFD) != -1 || ::fcntl(4, F_GETFD) != -1)
      return 35;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(ListenFdsTest, TakeWithAForeignPidfdIdTakesNothing) {
  const int code = run_in_child([] {
    if (!own_pidfd_id())
      return 0;  // nothing to check without pidfs
    if (!place_memfd(3, "x"))
      return 10;
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "1", 1);
    ::setenv("LISTEN_PIDFDID", "1", 1);  // a pid-reusing predecessor's id
    auto taken = take_listen_fds(UnsetEnvironment::no);
    if (taken.ok() || taken.error() != ListenError::not_for_us)
      return 20;
    if (cloexec(3) || std::getenv("LISTEN_PIDFDID") == nullptr)
      return 21;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(ListenFdsTest, TakeOnAClosedFdIsFdUnusableAndTakesNothing) {
  const int code = run_in_child([] {
    if (!place_memfd(3, "x"))
      return 10;
    ::close(4);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    ::unsetenv("LISTEN_FDNAMES");
    ::unsetenv("LISTEN_PIDFDID");
    auto taken = take_listen_fds(UnsetEnvironment::no);
    if (taken.ok() || taken.error() != ListenError::fd_unusable || taken.raw_errno() != EBADF)
      return 20;
    // fd 3 was not ours to close; the variables stay.
    if (::fcntl(3, F_GETFD) < 0 || std::getenv("LISTEN_FDS") == nullptr)
      return 21;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(ListenFdsTest, TakeUnsetsTheVariablesEvenWhenNothingIsForUs) {
  const int code = run_in_child([] {
    ::setenv("LISTEN_PID", "1", 1);
    ::setenv("LISTEN_FDS", "1", 1);
    ::setenv("LISTEN_FDNAMES", "x", 1);
    const Environment before = current_environment();
    if (before.size() != 3 || before.at("LISTEN_FDNAMES") != "x")
      return 10;
    auto taken = take_listen_fds(UnsetEnvironment::yes);
    if (taken.ok() || taken.error() != ListenError::not_for_us)
      return 20;
    if (!current_environment().empty())
      return 21;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

// Issue 18 item 4: the count is checked against the fd limit before anything proportional to it
// is allocated, and no std::bad_alloc leaves the parser.
TEST(ListenFdsTest, ACountPastTheFdLimitIsRefusedBeforeAllocating) {
  // fds 3..9 lie below a limit of 10, fds 3..10 do not.
  const auto seven = parse_listen_fds(env_for("7"), kSelf, std::nullopt, 10);
  ASSERT_TRUE(seven.ok());
  EXPECT_EQ(seven.value().back().fd, 9);
  const auto eight = parse_listen_fds(env_for("8"), kSelf, std::nullopt, 10);
  ASSERT_FALSE(eight.ok());
  EXPECT_EQ(eight.error(), ListenError::count_over_limit);
  EXPECT_EQ(eight.raw_errno(), EBADF);
  // The counts of the issue, against this process's real limit.
  for (const char* fds : {"20000000", "2147483644"}) {
    const auto r = parse_listen_fds(env_for(fds), kSelf);
    ASSERT_FALSE(r.ok()) << fds;
    EXPECT_EQ(r.error(), ListenError::count_over_limit) << fds;
  }
  // A names list whose length disagrees is refused without splitting it.
  EXPECT_EQ(error_of(env_for("3", "a:b")), ListenError::names_mismatch);
}

TEST(ListenFdsTest, TakeWithAHugeCountFailsWithoutTouchingAnyFd) {
  const int code = run_in_child([] {
    if (!place_memfd(3, "x"))
      return 10;
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "2147483644", 1);
    ::unsetenv("LISTEN_FDNAMES");
    ::unsetenv("LISTEN_PIDFDID");
    auto taken = take_listen_fds(UnsetEnvironment::yes);
    if (taken.ok() || taken.error() != ListenError::count_over_limit || taken.raw_errno() != EBADF)
      return 20;
    // fd 3 was neither closed nor marked close-on-exec; the variables are gone.
    if (::fcntl(3, F_GETFD) != 0 || std::getenv("LISTEN_FDS") != nullptr)
      return 21;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace luo::listen
