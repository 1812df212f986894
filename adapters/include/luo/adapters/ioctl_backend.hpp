// luo/adapters/ioctl_backend.hpp: the syscall boundary, with raw argument bytes.
//
// Two implementations: LinuxKernel (the real /dev/liveupdate) and SimulatedKernel (a userspace
// kernel written from the spec). Tests at the byte level (wrong sizes, non-zero tails, unknown
// command numbers, NULL arguments) talk to this interface directly; everything else goes through
// IoctlPort, which implements impl/'s typed KernelPort on top of it.
//
// Fds handed out (device, sessions, retrieved files) are real, O_CLOEXEC fds that the caller
// owns and closes with close(); a backend must notice the last close the way the kernel's
// release() does.
#pragma once

#include "luo/impl/sys_result.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo {

class IoctlBackend {
 public:
  virtual ~IoctlBackend() = default;

  // open("/dev/liveupdate", O_RDWR | O_CLOEXEC). ENOENT means LUO is not available.
  virtual SysResult<UniqueFd> open_device() = 0;
  // ioctl(fd, cmd, arg): arg points at the caller's struct (or anything, NULL included); the
  // backend reads and writes it the way copy_from_user/copy_to_user would. Returns the ioctl's
  // non-negative result or the errno.
  virtual SysResult<int> ioctl(int fd, unsigned long cmd, void* arg) = 0;
  // reboot(LINUX_REBOOT_CMD_KEXEC); see KernelPort::kexec.
  virtual SysStatus kexec() = 0;
  // Whether `fd` refers to the device open_device() opens; see KernelPort::is_device.
  virtual bool is_device(int fd) = 0;
};

}  // namespace luo
