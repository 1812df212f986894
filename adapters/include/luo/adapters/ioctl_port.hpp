// luo/adapters/ioctl_port.hpp: impl/'s typed KernelPort, marshalled onto a raw IoctlBackend.
//
// Each call builds the uapi argument struct exactly as a careful C caller would: zeroed, `size`
// set to sizeof, the 64-byte name field copied byte for byte (terminated or not, bytes after
// the first NUL included), then hands it to backend.ioctl() and reads the outputs back. A new
// fd lands in a UniqueFd before anything else can happen to it. There is deliberately no other
// logic here: which errno a call produces is the backend's business (the kernel, or the
// simulator written from the spec), so the port cannot hide a difference between the two.
//
//   luo::LinuxKernel kernel;                 // or luo::SimulatedKernel
//   luo::IoctlPort port(kernel);
//   auto dev = port.open_device();
//   auto session = port.create_session(dev.value().get(), luo::SessionNameField::from("db"));
//   auto status = port.preserve_fd(session.value().get(), memfd.get(), /*token=*/1);
#pragma once

#include <cstdint>

#include "luo/adapters/ioctl_backend.hpp"
#include "luo/impl/kernel_port.hpp"

namespace luo {

class IoctlPort final : public KernelPort {
 public:
  // The backend must outlive the port.
  explicit IoctlPort(IoctlBackend& backend) : backend_(backend) {}

  SysResult<UniqueFd> open_device() override;
  SysResult<UniqueFd> create_session(int device_fd, const SessionNameField& name) override;
  SysResult<UniqueFd> retrieve_session(int device_fd, const SessionNameField& name) override;
  SysStatus preserve_fd(int session_fd, int fd, std::uint64_t token) override;
  SysResult<UniqueFd> retrieve_fd(int session_fd, std::uint64_t token) override;
  SysStatus finish_session(int session_fd, std::uint32_t reserved) override;
  SysResult<SessionNameField> get_session_name(int session_fd) override;
  SysStatus kexec() override;
  bool is_device(int fd) override;

 private:
  IoctlBackend& backend_;
};

}  // namespace luo
