// luo/impl/sys_result.hpp: the outcome of one syscall at the kernel boundary: a value, or the
// raw errno the kernel returned. Raw on purpose: the kernel may return an errno that
// luo::Errno does not list, and the caller must see the real number.
#pragma once

#include <cerrno>
#include <optional>
#include <utility>

#include "luo/model/errno.hpp"

namespace luo {

template <class T>
class [[nodiscard]] SysResult {
 public:
  SysResult(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  static SysResult failure(int err) { return SysResult(FailureTag{}, err); }

  bool ok() const { return err_ == 0; }
  int raw_errno() const { return err_; }
  std::optional<Errno> error() const { return errno_from_int(err_); }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& value() const& { return *value_; }

 private:
  struct FailureTag {};
  SysResult(FailureTag, int err) : err_(err) {}
  std::optional<T> value_;
  int err_ = 0;
};

struct Unit {};
using SysStatus = SysResult<Unit>;
inline SysStatus sys_ok() {
  return Unit{};
}

// errno after a failed call, for SysResult::failure(). SysResult reads 0 as success, so a
// failing call that left errno at 0 (none should, but nothing promises it) still fails, as EIO.
inline int last_errno() {
  return errno != 0 ? errno : EIO;
}

}  // namespace luo
