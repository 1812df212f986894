// many_files: 10,000 memfds preserved in one session across a luo-sim kexec
// (`luo-sim run --boots 2`, ctest luo_sim_many_files). Boot 1 preserves them, closing each memfd
// right after PRESERVE_FD as the kernel's stress selftest does, so the client never holds more
// than a few fds; boot 2 retrieves, checks and closes each one, then finishes. The simulator
// holds one reference per preserved file until the kexec, and only their data after it.
#include <fcntl.h>
#include <linux/reboot.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "luo/adapters/uapi.hpp"
#include "named_arg.hpp"

namespace {

namespace uapi = luo::uapi;
constexpr int kFiles = 10000;

int fail(const std::string& what) {
  std::printf("many_files: FAIL %s: %s\n", what.c_str(), std::strerror(errno));
  return 1;
}

int boot1(int dev) {
  auto create = named<uapi::CreateSessionArg>("many-files");
  if (::ioctl(dev, uapi::kCreateSession, &create) != 0)
    return fail("CREATE_SESSION");
  for (int i = 0; i < kFiles; ++i) {
    const int m = ::memfd_create("many", MFD_CLOEXEC);
    const std::string data = "file-" + std::to_string(i);
    if (m < 0 || ::write(m, data.data(), data.size()) != static_cast<ssize_t>(data.size()))
      return fail("memfd " + std::to_string(i));
    uapi::PreserveFdArg arg{};
    arg.size = sizeof arg;
    arg.fd = m;
    arg.token = static_cast<std::uint64_t>(i);
    if (::ioctl(create.fd, uapi::kPreserveFd, &arg) != 0)
      return fail("PRESERVE_FD " + std::to_string(i));
    ::close(m);
  }
  std::printf("many_files: %d memfds preserved\n", kFiles);
  std::fflush(stdout);
  ::syscall(SYS_kexec_file_load, -1, -1, 1UL, "", 0UL);
  ::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, nullptr);
  return fail("reboot(KEXEC) returned");
}

int boot2(int dev) {
  auto retrieve = named<uapi::RetrieveSessionArg>("many-files");
  if (::ioctl(dev, uapi::kRetrieveSession, &retrieve) != 0)
    return fail("RETRIEVE_SESSION");
  for (int i = 0; i < kFiles; ++i) {
    uapi::RetrieveFdArg arg{};
    arg.size = sizeof arg;
    arg.token = static_cast<std::uint64_t>(i);
    if (::ioctl(retrieve.fd, uapi::kRetrieveFd, &arg) != 0)
      return fail("RETRIEVE_FD " + std::to_string(i));
    char buf[32] = {};
    const std::string want = "file-" + std::to_string(i);
    if (::pread(arg.fd, buf, sizeof buf - 1, 0) != static_cast<ssize_t>(want.size()) || want != buf)
      return fail("data of " + std::to_string(i));
    ::close(arg.fd);
  }
  uapi::SessionFinishArg finish{};
  finish.size = sizeof finish;
  if (::ioctl(retrieve.fd, uapi::kSessionFinish, &finish) != 0)
    return fail("FINISH");
  std::printf("many_files: %d memfds retrieved and checked: PASS\n", kFiles);
  return 0;
}

}  // namespace

int main() {
  const char* boot = std::getenv("LUO_SIM_BOOT");
  if (boot == nullptr) {
    std::fprintf(stderr, "many_files: run me under luo-sim run --boots 2\n");
    return 2;
  }
  const int dev = ::open(uapi::kDevicePath, O_RDWR | O_CLOEXEC);
  if (dev < 0)
    return fail("open " + std::string(uapi::kDevicePath));
  return std::atoi(boot) == 1 ? boot1(dev) : boot2(dev);
}
