#include "luo/adapters/linux_kernel.hpp"

#include <fcntl.h>
#include <linux/reboot.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "luo/model/errno.hpp"

#include "luo/adapters/uapi.hpp"

namespace luo {

SysResult<UniqueFd> LinuxKernel::open_device() {
  const int fd = ::open(uapi::kDevicePath, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return SysResult<UniqueFd>::failure(last_errno());
  return UniqueFd(fd);
}

SysResult<int> LinuxKernel::ioctl(int fd, unsigned long cmd, void* arg) {
  const int rc = ::ioctl(fd, cmd, arg);
  if (rc < 0)
    return SysResult<int>::failure(last_errno());
  return rc;
}

SysStatus LinuxKernel::kexec() {
  // Through syscall() rather than glibc's reboot() so the magic numbers are explicit and no
  // wrapper behaviour sits between us and the kernel's kernel_kexec() (spec §5.2).
  const long rc = ::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                            LINUX_REBOOT_CMD_KEXEC, nullptr);
  if (rc < 0)
    return SysStatus::failure(last_errno());
  return sys_ok();
}

bool LinuxKernel::is_device(int fd) {
  struct stat of_fd {};
  struct stat node {};
  // An O_PATH fd never ran the driver's open(), so it holds nothing.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_PATH) != 0)
    return false;
  if (::fstat(fd, &of_fd) != 0 || !S_ISCHR(of_fd.st_mode))
    return false;
  if (::stat(uapi::kDevicePath, &node) != 0 || !S_ISCHR(node.st_mode))
    return false;
  return of_fd.st_rdev == node.st_rdev;
}

bool LinuxKernel::available() {
  struct stat st {};
  if (::stat(uapi::kDevicePath, &st) != 0)
    return false;
  return S_ISCHR(st.st_mode);
}

std::string LinuxKernel::describe_open_error(int err) {
  const std::string path = uapi::kDevicePath;
  switch (err) {
    case 0:
      return path + " is available";
    case ENOENT:
      return "LUO is not available: " + path +
             " does not exist (the kernel needs CONFIG_LIVEUPDATE and must be booted with "
             "liveupdate=on and KHO enabled)";
    case EBUSY:
      return path +
             " is busy: it allows a single open, and another open file (maybe in this "
             "process) still holds it";
    case EACCES:
    case EPERM:
      return "permission denied opening " + path + " (the node is 0600 root:root by default)";
    case EIO:
      return path +
             " refuses to open: restoring the incoming sessions failed during this boot "
             "(sticky until the next reboot)";
    default:
      break;
  }
  // GNU strerror_r: thread-safe, and returns a pointer that may or may not be buf.
  char buf[128];
  std::string text = "cannot open " + path + ": " + ::strerror_r(err, buf, sizeof buf);
  if (const auto known = errno_from_int(err)) {
    text += " (";
    text += errno_name(*known);
    text += ")";
  }
  return text;
}

}  // namespace luo
