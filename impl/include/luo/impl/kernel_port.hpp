// luo/impl/kernel_port.hpp: what impl/ needs from a kernel, one typed call per LUO operation.
//
// impl/ owns this interface and adapters/ implements it (IoctlPort marshals each call into the
// uapi structs over a raw IoctlBackend: the real /dev/liveupdate or SimulatedKernel). Keeping
// the port typed lets impl/ stay free of struct layouts, and keeps the dependency direction
// model <- impl <- adapters.
#pragma once

#include <cstdint>

#include "luo/impl/sys_result.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/session_name.hpp"

namespace luo {

// A port answers the call it is given and must not call back into the LiveUpdate objects that
// made it: such an object is between its check and its transition, and its session remembers
// the decision in flight (DecisionMemo), which a nested call would replace.
class KernelPort {
 public:
  virtual ~KernelPort() = default;

  virtual SysResult<UniqueFd> open_device() = 0;
  virtual SysResult<UniqueFd> create_session(int device_fd, const SessionNameField& name) = 0;
  virtual SysResult<UniqueFd> retrieve_session(int device_fd, const SessionNameField& name) = 0;
  virtual SysStatus preserve_fd(int session_fd, int fd, std::uint64_t token) = 0;
  virtual SysResult<UniqueFd> retrieve_fd(int session_fd, std::uint64_t token) = 0;
  virtual SysStatus finish_session(int session_fd, std::uint32_t reserved) = 0;
  virtual SysResult<SessionNameField> get_session_name(int session_fd) = 0;
  // Whether `fd` is this kernel's LUO device (/dev/liveupdate) rather than a session or a file.
  // Stage A asks it of every stored fd: a staged copy of the device would keep it open, so
  // Stage B's own open would fail with EBUSY and every entry would be lost (docs/reliability.md
  // F1). Pure virtual so that no port, test doubles included, can answer by omission. Any
  // failure to tell (a closed fd, no device node) is "no": the kernel then decides as before.
  virtual bool is_device(int fd) = 0;
  // reboot(LINUX_REBOOT_CMD_KEXEC). On a real kernel success never returns; a simulator
  // returns success after "booting" the next kernel.
  virtual SysStatus kexec() = 0;
};

}  // namespace luo
