// luo/impl/live_update.hpp: the runtime API: RAII objects for /dev/liveupdate, outgoing and
// incoming sessions, that only move along the model's transitions.
//
// Each call first asks the model's table (model/*_machine.hpp) what may happen in the object's
// current state, with the facts this process knows without a syscall. If the model forbids the
// call outright (wrong state, token already used, name taken by a session we hold, GET_NAME on
// a kernel without it, a call whose kernel behaviour is undefined) it is refused with a typed
// luo::Error and no syscall is made. Otherwise the kernel is called through a KernelPort and its
// answer picks the row; an answer no row allows is reported as ErrorOrigin::disagreement.
// Every transition, taken or refused, is reported to the optional Observer.
//
//   luo::SimulatedKernel kernel;                      // or luo::LinuxKernel
//   luo::IoctlPort port(kernel);
//   luo::LiveUpdate lu(port, luo::KernelProfile::v7_2);
//   auto dev = lu.open_device().value();
//   auto vm = dev.create_session("vm0").value();
//   vm.preserve(guest_memfd.get(), /*token=*/1).value();
//   lu.kexec();                                       // next boot: "vm0" is incoming
//   auto dev2 = lu.open_device().value();
//   auto in = dev2.retrieve_session("vm0").value();
//   luo::UniqueFd mem = in.retrieve(1).value();
//   in.finish().value();
//
// Ownership assumption: a session object owns the only reference to its session fd unless the
// caller duplicates fd(); the model's `release` is taken when the object closes it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "luo/impl/error.hpp"
#include "luo/impl/kernel_port.hpp"
#include "luo/impl/observer.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/kernel_model.hpp"

namespace luo {

namespace detail {
struct Context;
struct OutgoingCore;
struct IncomingCore;
}  // namespace detail

class Device;
class OutgoingSession;
class IncomingSession;

// One per process and kernel: the port, the ABI profile the calls are checked against, the
// observer, and the boot generation that makes objects of an earlier boot stale.
class LiveUpdate {
 public:
  explicit LiveUpdate(KernelPort& port, KernelProfile profile = kDefaultProfile,
                      Observer* observer = nullptr);

  KernelProfile profile() const;
  std::uint64_t boot() const;
  DeviceState device_state() const;

  Result<Device> open_device();
  // reboot(LINUX_REBOOT_CMD_KEXEC). Every live outgoing session this runtime created is frozen
  // and handed over; on a freeze failure they all roll back and the error is returned. After
  // success every object of this boot is stale.
  Status kexec();

 private:
  std::shared_ptr<detail::Context> ctx_;
};

class Device {
 public:
  Device(Device&&) noexcept;
  Device& operator=(Device&&) noexcept;
  ~Device();

  Result<OutgoingSession> create_session(std::string_view name);
  Result<OutgoingSession> create_session(const SessionNameField& name);
  Result<IncomingSession> retrieve_session(std::string_view name);
  Result<IncomingSession> retrieve_session(const SessionNameField& name);
  bool is_open() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }
  // Releases the exclusive hold; sessions are not affected (§1.2).
  void close();

 private:
  friend class LiveUpdate;
  Device(std::shared_ptr<detail::Context> ctx, UniqueFd fd);
  std::shared_ptr<detail::Context> ctx_;
  UniqueFd fd_;
  std::uint64_t boot_ = 0;
};

class OutgoingSession {
 public:
  OutgoingSession(OutgoingSession&&) noexcept;
  OutgoingSession& operator=(OutgoingSession&&) noexcept;
  ~OutgoingSession();

  const std::string& name() const;
  OutgoingSessionState state() const;
  // Tokens in preservation order: the order the next kernel deserializes them in.
  std::span<const Token> tokens() const;
  int fd() const;

  // PRESERVE_FD. `fd` is borrowed: LUO keeps its own reference and the caller may close it.
  Status preserve(int fd, Token token);
  // GET_NAME (7.2+): the kernel's full name, not /proc's possibly truncated one.
  Result<std::string> get_name(std::uint32_t reserved = 0);
  // Closing before kexec unpreserves every file, newest first (§2.3).
  void close();

 private:
  friend class Device;
  explicit OutgoingSession(std::shared_ptr<detail::OutgoingCore> core);
  std::shared_ptr<detail::OutgoingCore> core_;
};

class IncomingSession {
 public:
  IncomingSession(IncomingSession&&) noexcept;
  IncomingSession& operator=(IncomingSession&&) noexcept;
  ~IncomingSession();

  const std::string& name() const;
  IncomingSessionState state() const;
  // What this runtime knows of the file with `token`: restorable until retrieved.
  FileState file_state(Token token) const;
  // Whether a RETRIEVE_FD reached the kernel's file of `token`. Until then the runtime cannot
  // tell a file not retrieved yet from a token that does not exist (ENOENT).
  bool knows_file(Token token) const;
  int fd() const;

  // RETRIEVE_FD: idempotent; every fd refers to the same open file description.
  Result<UniqueFd> retrieve(Token token);
  // FINISH: files never retrieved are discarded; retrieved fds stay valid.
  Status finish(std::uint32_t reserved = 0);
  Result<std::string> get_name(std::uint32_t reserved = 0);
  // Closing finishes implicitly (§2.4).
  void close();
  // Hands the session fd to the caller (an fd store, another process): the session stays
  // retrieved in the kernel and this object can no longer act on it.
  [[nodiscard]] UniqueFd release_fd();

 private:
  friend class Device;
  explicit IncomingSession(std::shared_ptr<detail::IncomingCore> core);
  std::shared_ptr<detail::IncomingCore> core_;
};

}  // namespace luo
