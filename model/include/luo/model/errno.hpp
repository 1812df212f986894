// luo/model/errno.hpp: the errnos the LUO lifecycle can produce, defined once.
//
// Every layer (model tables, impl errors, the simulator, diagrams, docs) names an errno through
// this enum so that a typo cannot create a second spelling of the same fact. The numeric values
// are Linux's, so an adapter can hand them to and from the kernel unchanged.
//
//   luo::Errno e = luo::errno_from_int(EBUSY);   // Errno::ebusy
//   luo::errno_name(e);                          // "EBUSY"
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace luo {

enum class Errno : std::int16_t {
  ok = 0,
  eperm = EPERM,
  enoent = ENOENT,
  eio = EIO,
  e2big = E2BIG,
  ebadf = EBADF,
  eagain = EAGAIN,
  enomem = ENOMEM,
  efault = EFAULT,
  ebusy = EBUSY,
  eexist = EEXIST,
  einval = EINVAL,
  emfile = EMFILE,
  enotty = ENOTTY,
  efbig = EFBIG,
  enospc = ENOSPC,
  enodata = ENODATA,
  eoverflow = EOVERFLOW,
  eopnotsupp = EOPNOTSUPP,
  eaddrinuse = EADDRINUSE,
  exfull = EXFULL,
};

// Every enumerator once, for tables, diagrams and exhaustive tests.
inline constexpr Errno kAllErrnos[] = {
    Errno::ok,     Errno::eperm,   Errno::enoent,    Errno::eio,        Errno::e2big,
    Errno::ebadf,  Errno::eagain,  Errno::enomem,    Errno::efault,     Errno::ebusy,
    Errno::eexist, Errno::einval,  Errno::emfile,    Errno::enotty,     Errno::efbig,
    Errno::enospc, Errno::enodata, Errno::eoverflow, Errno::eopnotsupp, Errno::eaddrinuse,
    Errno::exfull,
};

constexpr std::string_view errno_name(Errno e) {
  switch (e) {
    case Errno::ok:
      return "OK";
    case Errno::eperm:
      return "EPERM";
    case Errno::enoent:
      return "ENOENT";
    case Errno::eio:
      return "EIO";
    case Errno::e2big:
      return "E2BIG";
    case Errno::ebadf:
      return "EBADF";
    case Errno::eagain:
      return "EAGAIN";
    case Errno::enomem:
      return "ENOMEM";
    case Errno::efault:
      return "EFAULT";
    case Errno::ebusy:
      return "EBUSY";
    case Errno::eexist:
      return "EEXIST";
    case Errno::einval:
      return "EINVAL";
    case Errno::emfile:
      return "EMFILE";
    case Errno::enotty:
      return "ENOTTY";
    case Errno::efbig:
      return "EFBIG";
    case Errno::enospc:
      return "ENOSPC";
    case Errno::enodata:
      return "ENODATA";
    case Errno::eoverflow:
      return "EOVERFLOW";
    case Errno::eopnotsupp:
      return "EOPNOTSUPP";
    case Errno::eaddrinuse:
      return "EADDRINUSE";
    case Errno::exfull:
      return "EXFULL";
  }
  return "E?";
}

constexpr int errno_value(Errno e) {
  return static_cast<int>(e);
}

// An errno the kernel returned that this enum does not list maps to nullopt: callers keep the
// raw number instead of pretending it is a known one.
constexpr std::optional<Errno> errno_from_int(int value) {
  for (Errno e : kAllErrnos) {
    if (errno_value(e) == value)
      return e;
  }
  return std::nullopt;
}

// A raw errno in a message: its name when this enum lists it ("EIO"), else "errno 1234", so an
// unlisted errno is shown as the number the kernel gave rather than as a wrong name.
inline std::string errno_text(int raw) {
  if (const auto known = errno_from_int(raw))
    return std::string(errno_name(*known));
  return "errno " + std::to_string(raw);
}

constexpr std::optional<Errno> errno_from_name(std::string_view name) {
  for (Errno e : kAllErrnos) {
    if (errno_name(e) == name)
      return e;
  }
  return std::nullopt;
}

}  // namespace luo
