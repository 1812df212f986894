// luo/adapters/reason_result.hpp: a value, or the enum that says why there is none. The
// adapters' parsers of what the environment hands a process (NOTIFY_SOCKET, LISTEN_FDS) fail
// with such a reason rather than with a luo::Error, which names an operation on a LUO object.
//
//   luo::notify::AddressResult<luo::notify::Address> a = luo::notify::Address::parse("@x");
//   if (!a.ok())
//     log(luo::notify::address_error_message(a.error()));
#pragma once

#include <utility>
#include <variant>

namespace luo {

template <class T, class Reason>
class [[nodiscard]] ReasonResult {
 public:
  ReasonResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  ReasonResult(Reason reason) : v_(reason) {}      // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& value() const& { return std::get<T>(v_); }
  Reason error() const { return std::get<Reason>(v_); }

 private:
  std::variant<T, Reason> v_;
};

}  // namespace luo
