#include "luo/adapters/ioctl_port.hpp"

#include <cstring>

#include "luo/adapters/uapi.hpp"

namespace luo {

namespace {

// Value-initialisation zeroes every byte the kernel will look at (all structs are padding-free,
// uapi.hpp asserts it), so reserved fields and unused name bytes are 0 as the ABI demands.
template <class Arg>
Arg make_arg() {
  Arg arg{};
  arg.size = static_cast<std::uint32_t>(sizeof(Arg));
  return arg;
}

template <class Arg>
void put_name(Arg& arg, const SessionNameField& name) {
  static_assert(sizeof(arg.name) == sizeof(name.bytes));
  std::memcpy(arg.name, name.bytes.data(), sizeof(arg.name));
}

// Calls the backend and, on success, takes ownership of the fd the kernel wrote into arg.fd.
// On failure arg.fd is not an fd the kernel handed out (it is still our zero), so it must not
// be wrapped or closed.
template <class Arg>
SysResult<UniqueFd> call_returning_fd(IoctlBackend& backend, int fd, unsigned long cmd, Arg& arg) {
  const SysResult<int> rc = backend.ioctl(fd, cmd, &arg);
  if (!rc.ok())
    return SysResult<UniqueFd>::failure(rc.raw_errno());
  return UniqueFd(arg.fd);
}

template <class Arg>
SysStatus call(IoctlBackend& backend, int fd, unsigned long cmd, Arg& arg) {
  const SysResult<int> rc = backend.ioctl(fd, cmd, &arg);
  if (!rc.ok())
    return SysStatus::failure(rc.raw_errno());
  return sys_ok();
}

}  // namespace

SysResult<UniqueFd> IoctlPort::open_device() {
  return backend_.open_device();
}

SysResult<UniqueFd> IoctlPort::create_session(int device_fd, const SessionNameField& name) {
  auto arg = make_arg<uapi::CreateSessionArg>();
  put_name(arg, name);
  return call_returning_fd(backend_, device_fd, uapi::kCreateSession, arg);
}

SysResult<UniqueFd> IoctlPort::retrieve_session(int device_fd, const SessionNameField& name) {
  auto arg = make_arg<uapi::RetrieveSessionArg>();
  put_name(arg, name);
  return call_returning_fd(backend_, device_fd, uapi::kRetrieveSession, arg);
}

SysStatus IoctlPort::preserve_fd(int session_fd, int fd, std::uint64_t token) {
  auto arg = make_arg<uapi::PreserveFdArg>();
  arg.fd = fd;
  arg.token = token;
  return call(backend_, session_fd, uapi::kPreserveFd, arg);
}

SysResult<UniqueFd> IoctlPort::retrieve_fd(int session_fd, std::uint64_t token) {
  auto arg = make_arg<uapi::RetrieveFdArg>();
  arg.token = token;
  return call_returning_fd(backend_, session_fd, uapi::kRetrieveFd, arg);
}

SysStatus IoctlPort::finish_session(int session_fd, std::uint32_t reserved) {
  auto arg = make_arg<uapi::SessionFinishArg>();
  arg.reserved = reserved;
  return call(backend_, session_fd, uapi::kSessionFinish, arg);
}

SysResult<SessionNameField> IoctlPort::get_session_name(int session_fd) {
  auto arg = make_arg<uapi::SessionGetNameArg>();
  const SysStatus status = call(backend_, session_fd, uapi::kSessionGetName, arg);
  if (!status.ok())
    return SysResult<SessionNameField>::failure(status.raw_errno());
  SessionNameField name;
  std::memcpy(name.bytes.data(), arg.name, sizeof(arg.name));
  return name;
}

SysStatus IoctlPort::kexec() {
  return backend_.kexec();
}

bool IoctlPort::is_device(int fd) {
  return backend_.is_device(fd);
}

}  // namespace luo
