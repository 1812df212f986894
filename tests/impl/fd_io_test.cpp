// luo/impl/fd_io.hpp: the one read/write loop module. Scripted syscalls show the loop's
// handling of EINTR, short transfers and errors; real memfds and pipes show the rest.
#include "luo/impl/fd_io.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <string>

#include "luo/impl/syscalls.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

using luo::testing::memfd_with;

// What each scripted call does, in order: a negative value fails with that errno, 0 is EOF (or
// "took nothing" for a write), a positive value transfers at most that many bytes.
struct Script {
  std::deque<int> steps;
  std::string file;     // what reads see
  std::string written;  // what writes left, at their offsets
  int calls = 0;
};
Script script;

// The next scripted step: a transfer of at most the returned count, or -1 with errno set.
ssize_t next_step(std::size_t len) {
  ++script.calls;
  const int step = script.steps.empty() ? 1 << 20 : script.steps.front();
  if (!script.steps.empty())
    script.steps.pop_front();
  if (step < 0) {
    errno = -step;
    return -1;
  }
  return static_cast<ssize_t>(std::min(len, static_cast<std::size_t>(step)));
}

ssize_t scripted_pread(int, void* buf, std::size_t len, off_t offset) {
  const auto at = std::min(static_cast<std::size_t>(offset), script.file.size());
  const ssize_t n = next_step(std::min(len, script.file.size() - at));
  if (n > 0)
    std::memcpy(buf, script.file.data() + at, static_cast<std::size_t>(n));
  return n;
}

ssize_t scripted_pwrite(int, const void* buf, std::size_t len, off_t offset) {
  const ssize_t n = next_step(len);
  if (n <= 0)
    return n;
  const auto at = static_cast<std::size_t>(offset);
  const auto count = static_cast<std::size_t>(n);
  if (script.written.size() < at + count)
    script.written.resize(at + count);
  script.written.replace(at, count, static_cast<const char*>(buf), count);
  return n;
}

void start(std::deque<int> steps, std::string file = "") {
  script = Script{std::move(steps), std::move(file), "", 0};
}

TEST(FdIo, ReadToEndRetriesEintrAndContinuesShortReads) {
  start({-EINTR, 3, -EINTR, 4, 100}, "0123456789");
  const auto text = fd_io::read_to_end(-1, scripted_pread);
  ASSERT_TRUE(text.ok()) << text.raw_errno();
  EXPECT_EQ(text.value(), "0123456789");
}

TEST(FdIo, AFailedReadIsAFailureWithItsErrnoNotAShortDocument) {
  start({4, -EIO}, "0123456789");
  const auto text = fd_io::read_to_end(-1, scripted_pread);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.raw_errno(), EIO);
}

TEST(FdIo, AFailureThatLeftErrnoAtZeroIsStillAFailure) {
  // errno 0 with -1: SysResult would read 0 as success, so it must come out as EIO.
  const auto zero_errno = [](int, void*, std::size_t, off_t) -> ssize_t {
    errno = 0;
    return -1;
  };
  const auto text = fd_io::read_to_end(-1, zero_errno);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.raw_errno(), EIO);
}

TEST(FdIo, ReadAtFillsTheBufferOrStopsAtEof) {
  start({2, -EINTR, 2, 2}, "abcdef");
  char buf[5] = {};
  const auto n = fd_io::read_at(-1, buf, sizeof buf, 1, scripted_pread);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, n.value()), "bcdef");
  start({}, "ab");
  const auto short_file = fd_io::read_at(-1, buf, sizeof buf, 0, scripted_pread);
  ASSERT_TRUE(short_file.ok());
  EXPECT_EQ(short_file.value(), 2u) << "EOF ends the read early";
  start({-EBADF});
  EXPECT_EQ(fd_io::read_at(-1, buf, sizeof buf, 0, scripted_pread).raw_errno(), EBADF);
}

TEST(FdIo, WriteAllAtRetriesEintrAndContinuesShortWrites) {
  start({-EINTR, 2, 1, -EINTR, 100});
  ASSERT_TRUE(fd_io::write_all_at(-1, "hello", 3, scripted_pwrite).ok());
  EXPECT_EQ(script.written, std::string(3, '\0') + "hello");
  EXPECT_EQ(script.calls, 5);
}

TEST(FdIo, WriteAllAtKeepsTheErrnoAndTreatsAStalledWriteAsNoSpace) {
  start({2, -ENOSPC});
  EXPECT_EQ(fd_io::write_all_at(-1, "hello", 0, scripted_pwrite).raw_errno(), ENOSPC);
  EXPECT_EQ(script.written, "he") << "what was written before the failure stays";
  start({-EIO});
  EXPECT_EQ(fd_io::write_all_at(-1, "hello", 0, scripted_pwrite).raw_errno(), EIO);
  // A write that takes nothing would otherwise be retried forever.
  start({0});
  EXPECT_EQ(fd_io::write_all_at(-1, "hello", 0, scripted_pwrite).raw_errno(), ENOSPC);
}

TEST(FdIo, RealMemfdRoundTripWithoutMovingThePosition) {
  UniqueFd fd = memfd_with(std::string(20000, 'x'));
  ASSERT_EQ(::lseek(fd.get(), 5, SEEK_SET), 5);
  ASSERT_TRUE(fd_io::write_all_at(fd.get(), "head", 0, ::pwrite).ok());
  const auto text = fd_io::read_to_end(fd.get(), ::pread);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text.value(), "head" + std::string(19996, 'x'));
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 5);
  // A wrong size hint changes nothing but the first buffer.
  const auto hinted = fd_io::read_to_end(fd.get(), ::pread, 3);
  ASSERT_TRUE(hinted.ok());
  EXPECT_EQ(hinted.value(), text.value());
}

// Through the library's seam: the n-th read fails and the errno comes back, not a prefix.
TEST(FdIo, TheSeamFailsTheNthRead) {
  UniqueFd fd = memfd_with(std::string(20000, 'y'));  // three reads of 8 KiB and one at EOF
  sys::FaultPlan::fail(sys::Call::read, 1, ENOMEM);
  const auto text = fd_io::read_to_end(fd.get(), sys::pread);
  EXPECT_TRUE(sys::FaultPlan::fired());
  sys::FaultPlan::reset();
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.raw_errno(), ENOMEM);
}

TEST(FdIo, ReadStreamReadsAPipeAndStopsPastTheLimit) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd rd(p[0]);
  {
    UniqueFd wr(p[1]);
    ASSERT_EQ(::write(wr.get(), "0123456789", 10), 10);
  }
  const auto all = fd_io::read_stream(rd.get(), 10);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value(), "0123456789");

  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd rd2(p[0]);
  {
    UniqueFd wr(p[1]);
    ASSERT_EQ(::write(wr.get(), "0123456789", 10), 10);
  }
  EXPECT_EQ(fd_io::read_stream(rd2.get(), 9).raw_errno(), EFBIG);
  EXPECT_EQ(fd_io::read_stream(-1, 9).raw_errno(), EBADF);
}

}  // namespace
}  // namespace luo
