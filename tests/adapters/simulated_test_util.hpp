// simulated_test_util.hpp: byte-level helpers for the SimulatedKernel tests.
//
// Every helper builds the uapi struct by hand and goes through IoctlBackend::ioctl, so the
// tests exercise the same path as the kernel's selftests (and would run against LinuxKernel).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "luo/adapters/ioctl_backend.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/adapters/uapi.hpp"
#include "luo/model/profile.hpp"

namespace luo::simtest {

// 0 on success, else the errno: lets EXPECT_EQ(errno_of(...), EBUSY) read like the spec tables.
template <class T>
int errno_of(const SysResult<T>& r) {
  return r.ok() ? 0 : r.raw_errno();
}

template <class Arg>
Arg sized_arg() {
  Arg arg{};
  arg.size = sizeof arg;
  return arg;
}

inline void set_name(std::uint8_t (&field)[kSessionNameFieldSize], std::string_view name) {
  std::memset(field, 0, sizeof field);
  std::memcpy(field, name.data(), std::min(name.size(), sizeof field));
}

// The fd the ioctl wrote into the argument, read only after the call returned.
template <class Arg>
SysResult<UniqueFd> ioctl_fd(IoctlBackend& k, int fd, unsigned long cmd, Arg& arg) {
  const auto r = k.ioctl(fd, cmd, &arg);
  if (!r.ok())
    return SysResult<UniqueFd>::failure(r.raw_errno());
  return UniqueFd(arg.fd);
}

inline SysResult<UniqueFd> create_session(IoctlBackend& k, int dev, std::string_view name) {
  auto arg = sized_arg<uapi::CreateSessionArg>();
  set_name(arg.name, name);
  return ioctl_fd(k, dev, uapi::kCreateSession, arg);
}

inline SysResult<UniqueFd> retrieve_session(IoctlBackend& k, int dev, std::string_view name) {
  auto arg = sized_arg<uapi::RetrieveSessionArg>();
  set_name(arg.name, name);
  return ioctl_fd(k, dev, uapi::kRetrieveSession, arg);
}

inline int preserve_fd(IoctlBackend& k, int session, int fd, std::uint64_t token) {
  auto arg = sized_arg<uapi::PreserveFdArg>();
  arg.fd = fd;
  arg.token = token;
  return errno_of(k.ioctl(session, uapi::kPreserveFd, &arg));
}

inline SysResult<UniqueFd> retrieve_fd(IoctlBackend& k, int session, std::uint64_t token) {
  auto arg = sized_arg<uapi::RetrieveFdArg>();
  arg.token = token;
  return ioctl_fd(k, session, uapi::kRetrieveFd, arg);
}

inline int finish(IoctlBackend& k, int session, std::uint32_t reserved = 0) {
  auto arg = sized_arg<uapi::SessionFinishArg>();
  arg.reserved = reserved;
  return errno_of(k.ioctl(session, uapi::kSessionFinish, &arg));
}

inline SysResult<std::string> get_name(IoctlBackend& k, int session) {
  auto arg = sized_arg<uapi::SessionGetNameArg>();
  std::memset(arg.name, 0xAA, sizeof arg.name);  // the kernel must overwrite all of it
  auto r = k.ioctl(session, uapi::kSessionGetName, &arg);
  if (!r.ok())
    return SysResult<std::string>::failure(r.raw_errno());
  const auto* begin = reinterpret_cast<const char*>(arg.name);
  const void* nul = std::memchr(begin, 0, sizeof arg.name);
  if (nul == nullptr)
    return std::string("<unterminated>");
  return std::string(begin, static_cast<const char*>(nul));
}

// A memfd holding `data`, like the selftests' create_and_preserve_memfd() before PRESERVE_FD.
inline UniqueFd make_memfd(std::string_view data,
                           unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING) {
  UniqueFd fd(::memfd_create("simtest", flags));
  EXPECT_TRUE(fd) << std::strerror(errno);
  if (fd && !data.empty()) {
    EXPECT_EQ(::pwrite(fd.get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }
  return fd;
}

inline std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return out;
}

inline std::string profile_test_name(const ::testing::TestParamInfo<KernelProfile>& info) {
  std::string name = "v" + std::string(profile_name(info.param));
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// Raises the RLIMIT_NOFILE soft limit for one test and puts it back afterwards.
class FdLimit {
 public:
  FdLimit() { ::getrlimit(RLIMIT_NOFILE, &saved_); }
  ~FdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  FdLimit(const FdLimit&) = delete;
  FdLimit& operator=(const FdLimit&) = delete;

  // true if at least `wanted` fds are now allowed.
  bool raise_to(rlim_t wanted) {
    rlimit lim = saved_;
    if (lim.rlim_cur >= wanted)
      return true;
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
    return lim.rlim_cur >= wanted;
  }
  // No new fd can be created until restore().
  void exhaust() {
    const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ::close(lowest_free);
    rlimit lim = saved_;
    lim.rlim_cur = static_cast<rlim_t>(lowest_free);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  void restore() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

// Two adjacent pages: the first read-write, the second with `second_prot`. at_end<Arg>(n)
// places an object so that its first n bytes end exactly at the boundary, which puts anything
// beyond n in the second page.
class Pages {
 public:
  explicit Pages(int second_prot = PROT_NONE) {
    page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    base_ = static_cast<char*>(
        ::mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_NE(base_, MAP_FAILED);
    ::mprotect(base_ + page_, page_, second_prot);
  }
  ~Pages() { ::munmap(base_, 2 * page_); }
  Pages(const Pages&) = delete;
  Pages& operator=(const Pages&) = delete;

  char* first() { return base_; }
  char* second() { return base_ + page_; }
  void protect_first(int prot) { ::mprotect(base_, page_, prot); }
  // The address n bytes before the boundary.
  void* before_boundary(std::size_t n) { return base_ + page_ - n; }

 private:
  char* base_ = nullptr;
  std::size_t page_ = 0;
};

// A fixture per profile with its own simulated machine.
class SimulatedKernelTest : public ::testing::TestWithParam<KernelProfile> {
 protected:
  KernelProfile profile() const { return GetParam(); }
  bool has(Feature f) const { return profile_has(GetParam(), f); }

  UniqueFd open_device() {
    auto r = kernel.open_device();
    EXPECT_TRUE(r.ok()) << "open_device: " << std::strerror(r.raw_errno());
    return r.ok() ? std::move(r.value()) : UniqueFd();
  }
  UniqueFd create(int dev, std::string_view name) {
    auto r = create_session(kernel, dev, name);
    EXPECT_TRUE(r.ok()) << "create " << name << ": " << std::strerror(r.raw_errno());
    return r.ok() ? std::move(r.value()) : UniqueFd();
  }
  UniqueFd retrieve(int dev, std::string_view name) {
    auto r = retrieve_session(kernel, dev, name);
    EXPECT_TRUE(r.ok()) << "retrieve " << name << ": " << std::strerror(r.raw_errno());
    return r.ok() ? std::move(r.value()) : UniqueFd();
  }
  UniqueFd retrieve_file(int session, std::uint64_t token) {
    auto r = retrieve_fd(kernel, session, token);
    EXPECT_TRUE(r.ok()) << "retrieve_fd " << token << ": " << std::strerror(r.raw_errno());
    return r.ok() ? std::move(r.value()) : UniqueFd();
  }
  // The selftests' create_and_preserve_memfd(): the memfd is closed right after PRESERVE_FD.
  void preserve_data(int session, std::uint64_t token, std::string_view data) {
    UniqueFd fd = make_memfd(data);
    EXPECT_EQ(preserve_fd(kernel, session, fd.get(), token), 0) << "token " << token;
  }
  void expect_file(int session, std::uint64_t token, std::string_view data) {
    UniqueFd fd = retrieve_file(session, token);
    EXPECT_EQ(read_all(fd.get()), data) << "token " << token;
  }

  SimulatedKernel kernel{GetParam()};
};

}  // namespace luo::simtest
