// luo/impl/unique_fd.hpp: the one owner type for every file descriptor in the library.
//
// Move-only; closes on destruction. Every fd the library creates is O_CLOEXEC and lands in a
// UniqueFd at once, so no path (error or success) can leak it.
//
//   luo::UniqueFd fd(::memfd_create("x", MFD_CLOEXEC));
//   if (!fd) return luo::Errno(errno);
//   int raw = fd.get();          // borrow
//   int owned = fd.release();    // hand over ownership
#pragma once

#include <unistd.h>

#include <utility>

namespace luo {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other)
      reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    // close() errors are not actionable here: on Linux the fd is gone either way.
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace luo
