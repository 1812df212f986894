// The seam of luo/impl/syscalls.hpp: plain syscalls unless a test armed a FaultPlan.
#include "luo/impl/syscalls.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace luo::sys {

namespace {

struct Plan {
  std::array<std::size_t, kAllCalls.size()> calls{};
  bool failing = false;
  Call target = Call::memfd_create;
  std::size_t nth = 0;
  int err = 0;
  bool fired = false;
};

Plan& plan() {
  static Plan p;
  return p;
}

template <class F>
auto guarded(Call c, F&& call) -> decltype(call()) {
  if (detail::armed.load(std::memory_order_relaxed)) {
    if (const int err = detail::intercept(c); err != 0) {
      errno = err;
      return -1;
    }
  }
  return call();
}

}  // namespace

namespace detail {

std::atomic<bool> armed{false};

int intercept(Call c) {
  Plan& p = plan();
  const std::size_t n = p.calls[static_cast<std::size_t>(c)]++;
  if (p.failing && !p.fired && c == p.target && n == p.nth) {
    p.fired = true;
    return p.err;
  }
  return 0;
}

}  // namespace detail

void FaultPlan::count() {
  plan() = Plan{};
  detail::armed.store(true, std::memory_order_relaxed);
}

void FaultPlan::fail(Call c, std::size_t nth, int err) {
  plan() = Plan{{}, true, c, nth, err, false};
  detail::armed.store(true, std::memory_order_relaxed);
}

std::size_t FaultPlan::calls(Call c) {
  return plan().calls[static_cast<std::size_t>(c)];
}

bool FaultPlan::fired() {
  return plan().fired;
}

void FaultPlan::reset() {
  detail::armed.store(false, std::memory_order_relaxed);
  plan() = Plan{};
}

int memfd_create(const char* name, unsigned flags) {
  return guarded(Call::memfd_create, [&] { return ::memfd_create(name, flags); });
}

int dup_cloexec(int fd, int min_fd) {
  return guarded(Call::dup, [&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, min_fd); });
}

ssize_t pread(int fd, void* buf, std::size_t len, off_t off) {
  return guarded(Call::read, [&] { return ::pread(fd, buf, len, off); });
}

ssize_t pwrite(int fd, const void* buf, std::size_t len, off_t off) {
  return guarded(Call::write, [&] { return ::pwrite(fd, buf, len, off); });
}

int ftruncate(int fd, off_t len) {
  return guarded(Call::ftruncate, [&] { return ::ftruncate(fd, len); });
}

int fstat(int fd, struct stat* st) {
  return guarded(Call::fstat, [&] { return ::fstat(fd, st); });
}

}  // namespace luo::sys
