// luo/impl/error.hpp: luo::Error, the one error type of the runtime API, and Result<T>.
//
// An Error says which operation failed, on what object, in which lifecycle state, with which
// errno, and who decided: the model (refused before any syscall), the kernel (the syscall
// failed the way the model allows), or neither (the kernel did something the model forbids:
// a disagreement worth reporting upstream).
//
//   auto r = session.preserve(memfd.get(), 0x1234);
//   if (!r) std::cerr << r.error().message() << "\n";
//   // "PRESERVE_FD on outgoing session 'vm0' (preserving) refused before any syscall:
//   //  EEXIST: the token is already used in this session"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "luo/model/errno.hpp"

namespace luo {

enum class Operation : std::uint8_t {
  open_device,
  close_device,
  create_session,
  retrieve_session,
  preserve_fd,
  retrieve_fd,
  finish_session,
  get_session_name,
  close_session,
  kexec,
  store_fd,  // adding to or removing from an owner's fd store
  stage_a,   // listing the stores for the shutdown side
  stage_b,   // filling the "systemd" session
  restore,   // reading the "systemd" session in the next boot
};

constexpr std::string_view operation_name(Operation op) {
  switch (op) {
    case Operation::open_device:
      return "open /dev/liveupdate";
    case Operation::close_device:
      return "close /dev/liveupdate";
    case Operation::create_session:
      return "CREATE_SESSION";
    case Operation::retrieve_session:
      return "RETRIEVE_SESSION";
    case Operation::preserve_fd:
      return "PRESERVE_FD";
    case Operation::retrieve_fd:
      return "RETRIEVE_FD";
    case Operation::finish_session:
      return "FINISH";
    case Operation::get_session_name:
      return "GET_NAME";
    case Operation::close_session:
      return "close session";
    case Operation::kexec:
      return "reboot(KEXEC)";
    case Operation::store_fd:
      return "fd store";
    case Operation::stage_a:
      return "stage A";
    case Operation::stage_b:
      return "stage B";
    case Operation::restore:
      return "restore";
  }
  return "?";
}

enum class ErrorOrigin : std::uint8_t {
  refused,       // the model forbids the call in this state: no syscall was made
  kernel,        // the kernel failed the call, as the model allows
  disagreement,  // the kernel's result is not one the model allows here
  stale,         // the object belongs to a boot that ended with kexec
};

constexpr std::string_view origin_name(ErrorOrigin o) {
  switch (o) {
    case ErrorOrigin::refused:
      return "refused before any syscall";
    case ErrorOrigin::kernel:
      return "failed in the kernel";
    case ErrorOrigin::disagreement:
      return "kernel result disagrees with the model";
    case ErrorOrigin::stale:
      return "refused: object from a previous boot";
  }
  return "?";
}

class Error {
 public:
  Error(Operation op, ErrorOrigin origin, int raw_errno, std::string object, std::string state,
        std::string detail)
      : op_(op),
        origin_(origin),
        raw_errno_(raw_errno),
        object_(std::move(object)),
        state_(std::move(state)),
        detail_(std::move(detail)) {}

  Operation operation() const { return op_; }
  ErrorOrigin origin() const { return origin_; }
  int raw_errno() const { return raw_errno_; }
  // nullopt when the kernel returned an errno luo::Errno does not list.
  std::optional<Errno> error() const { return errno_from_int(raw_errno_); }
  const std::string& object() const { return object_; }
  const std::string& state() const { return state_; }
  const std::string& detail() const { return detail_; }
  std::string message() const;

 private:
  Operation op_;
  ErrorOrigin origin_;
  int raw_errno_;
  std::string object_;
  std::string state_;
  std::string detail_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& value() const& { return std::get<T>(v_); }
  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Done {};
using Status = Result<Done>;

}  // namespace luo
