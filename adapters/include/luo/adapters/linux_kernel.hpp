// luo/adapters/linux_kernel.hpp: the real /dev/liveupdate behind the IoctlBackend interface.
//
// LinuxKernel is the thinnest possible layer over three syscalls: open(2) of the device,
// ioctl(2) with the caller's argument bytes, and reboot(2) with LINUX_REBOOT_CMD_KEXEC. It adds
// no checks of its own, so every errno the running kernel produces reaches the caller unchanged;
// the command numbers and structs come from uapi.hpp, never from an installed kernel header.
//
// LUO is absent on most machines (it needs liveupdate=on and KHO at boot, spec §1.1), so
// "no device" is an ordinary outcome, not a crash: open_device() returns ENOENT and
// describe_open_error() turns that (and the other open errnos) into a sentence for the user.
//
//   luo::LinuxKernel kernel;
//   auto dev = kernel.open_device();
//   if (!dev.ok()) {
//     std::cerr << luo::LinuxKernel::describe_open_error(dev.raw_errno()) << '\n';
//     return 1;
//   }
//   luo::IoctlPort port(kernel);
//   auto session = port.create_session(dev.value().get(), luo::SessionNameField::from("db"));
#pragma once

#include <string>

#include "luo/adapters/ioctl_backend.hpp"

namespace luo {

class LinuxKernel final : public IoctlBackend {
 public:
  // open(kDevicePath, O_RDWR | O_CLOEXEC). ENOENT: LUO is not enabled on this kernel; EBUSY:
  // someone (this process included) already holds the device open.
  SysResult<UniqueFd> open_device() override;
  // The real ::ioctl; the errno of a failure is returned as is.
  SysResult<int> ioctl(int fd, unsigned long cmd, void* arg) override;
  // reboot(LINUX_REBOOT_CMD_KEXEC) as a raw syscall. Success does not return. It does not
  // sync(2) file systems or stop services first: like `kexec -e`, that is the caller's job.
  SysStatus kexec() override;
  // fstat(fd) against stat(kDevicePath): a character device with the same st_rdev. Comparing
  // the device number, not the path, also catches a copy of the node elsewhere or an fd
  // received over a socket.
  bool is_device(int fd) override;

  // Whether /dev/liveupdate exists as a character device. True does not promise that an open
  // succeeds (permissions, exclusivity, sticky EIO); false means open_device() gives ENOENT.
  static bool available();
  // A one-line, user-facing explanation of an open_device() errno.
  static std::string describe_open_error(int err);
};

}  // namespace luo
