// luo/adapters/listen_fds.hpp: the LISTEN_FDS handoff, both ends (spec systemd-luo.md §1.6).
//
// A manager starting a service passes its fds as 3, 4, ... (SD_LISTEN_FDS_START) and describes
// them in four environment variables: LISTEN_PID (who they are for), LISTEN_PIDFDID (the same,
// immune to pid reuse, when the kernel has pidfs), LISTEN_FDS (how many) and LISTEN_FDNAMES
// (their names, ':'-separated). The service checks that they are for it and takes the fds.
//
// Parsing works on an injected Environment so tests do not depend on the real one:
//
//   luo::listen::Environment env = {{"LISTEN_PID", "42"}, {"LISTEN_FDS", "2"},
//                                   {"LISTEN_FDNAMES", "db-state:stored"}};
//   auto fds = luo::listen::parse_listen_fds(env, 42);
//   // fds.value() == {{3, "db-state"}, {4, "stored"}}
//
// The service itself calls take_listen_fds(), which reads the real environment, marks the fds
// FD_CLOEXEC and hands them over as UniqueFds:
//
//   auto taken = luo::listen::take_listen_fds(luo::listen::UnsetEnvironment::yes);
//   if (!taken.ok() && !luo::listen::means_nothing_passed(taken.error())) fail(taken.raw_errno());
//
// and a manager builds the variables for a child with listen_environment().
//
// Numbers are parsed strictly: decimal digits only, no sign, whitespace or leading zero.
// libsystemd's parser (strtol base 0) also takes " 2", "+2", "0x2" and reads "010" as 8; no
// manager writes those, and refusing them means every accepted string reads the same in both.
// Names are split on ':' only. libsystemd additionally treats a backslash in LISTEN_FDNAMES as
// an escape (its splitter drops it and keeps the next byte), so a valid name containing '\'
// reaches a libsystemd client changed; this parser returns it as the manager wrote it.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "luo/adapters/reason_result.hpp"
#include "luo/impl/sys_result.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/fd_store_limits.hpp"

namespace luo::listen {

// Variable name -> value. Only the LISTEN_* entries matter.
using Environment = std::map<std::string, std::string, std::less<>>;

// Why no fds were taken, in the order sd_listen_fds_with_names() checks.
enum class ListenError : std::uint8_t {
  not_passed,        // LISTEN_PID or LISTEN_FDS unset: no fds for anyone (sd_listen_fds: 0)
  invalid_pid,       // LISTEN_PID is not a pid > 0
  not_for_us,        // LISTEN_PID, or LISTEN_PIDFDID when ours is known, names another process
  invalid_pidfd_id,  // LISTEN_PIDFDID is not an unsigned 64-bit number
  invalid_count,     // LISTEN_FDS is not a number in 1 .. INT_MAX - 3
  names_mismatch,    // LISTEN_FDNAMES has a different number of fields than LISTEN_FDS
  count_over_limit,  // LISTEN_FDS names fds past the fd limit: they cannot all be open
  no_memory,         // the list of fds could not be allocated
  invalid_name,      // (writer) a name fdname_is_valid() rejects, e.g. one with ':'
  fd_unusable,       // (take) fcntl() on a passed fd failed, typically EBADF: not open
};

constexpr std::string_view listen_error_message(ListenError e) {
  switch (e) {
    case ListenError::not_passed:
      return "no fds were passed (LISTEN_PID or LISTEN_FDS unset)";
    case ListenError::invalid_pid:
      return "LISTEN_PID is not a valid pid";
    case ListenError::not_for_us:
      return "the passed fds are for another process";
    case ListenError::invalid_pidfd_id:
      return "LISTEN_PIDFDID is not a valid pidfd id";
    case ListenError::invalid_count:
      return "LISTEN_FDS is not a valid fd count";
    case ListenError::names_mismatch:
      return "LISTEN_FDNAMES does not have one name per fd";
    case ListenError::count_over_limit:
      return "LISTEN_FDS counts fds past the hard RLIMIT_NOFILE, which cannot all be open";
    case ListenError::no_memory:
      return "out of memory for the list of passed fds";
    case ListenError::invalid_name:
      return "an fd name is invalid (bytes 0x20-0x7E, no ':', at most 255)";
    case ListenError::fd_unusable:
      return "a passed fd is not usable";
  }
  return "?";
}

// Both "nothing for us" outcomes: sd_listen_fds() returns 0 for them, not an error.
constexpr bool means_nothing_passed(ListenError e) {
  return e == ListenError::not_passed || e == ListenError::not_for_us;
}

// The errno a C caller would see: 0 for the "nothing for us" outcomes, EINVAL for malformed
// variables and names. fd_unusable carries fcntl()'s own errno instead (see ListenResult).
constexpr int listen_error_errno(ListenError e) {
  switch (e) {
    case ListenError::not_passed:
    case ListenError::not_for_us:
      return 0;
    case ListenError::invalid_pid:
    case ListenError::invalid_pidfd_id:
    case ListenError::invalid_count:
    case ListenError::names_mismatch:
    case ListenError::invalid_name:
      return EINVAL;
    case ListenError::fd_unusable:
    case ListenError::count_over_limit:  // what fcntl() on the first fd past the limit says
      return EBADF;
    case ListenError::no_memory:
      return ENOMEM;
  }
  return EINVAL;
}

// A value, or a ListenError with the errno that goes with it.
template <class T>
class [[nodiscard]] ListenResult : public ReasonResult<T, ListenError> {
 public:
  ListenResult(T value) : ReasonResult<T, ListenError>(std::move(value)) {}  // NOLINT: implicit
  ListenResult(ListenError e)                                                // NOLINT
      : ReasonResult<T, ListenError>(e), errno_(listen_error_errno(e)) {}
  ListenResult(ListenError e, int raw_errno) : ReasonResult<T, ListenError>(e), errno_(raw_errno) {}
  int raw_errno() const { return errno_; }

 private:
  int errno_ = 0;
};

// One passed fd: its number (3, 4, ...) and its name.
struct PassedFd {
  int fd = -1;
  std::string name;
  bool operator==(const PassedFd&) const = default;
};

// The first fd number no process can be passed: the hard RLIMIT_NOFILE (INT_MAX when unlimited
// or unreadable). A manager passes fds that are open in the child at exec, and the child cannot
// hold an fd at or past its hard limit unless it lowered the limit itself after the exec.
std::uint64_t fd_number_limit();

// sd_listen_fds_with_names() on env, for the process own_pid. own_pidfd_id: this process's pidfd
// inode id if known (own_pidfd_id() below); when nullopt a set LISTEN_PIDFDID is only checked for
// syntax, as libsystemd does when it cannot compute its own. LISTEN_FDNAMES: split on ':', empty
// fields kept ("a::b" is three names); absent, every name is "unknown". Touches no fd.
//
// The count is checked against fd_limit before anything proportional to it is allocated:
// count_over_limit when fds 3 .. 3+count-1 do not all lie below fd_limit. libsystemd has no such
// check and fails later, on the first fd that is not open (EBADF); here LISTEN_FDS=20000000
// costs nothing, where a list of 20 million names would cost over a gigabyte first. No
// exception escapes: an allocation failure is no_memory.
ListenResult<std::vector<PassedFd>> parse_listen_fds(const Environment& env, pid_t own_pid,
                                                     std::optional<std::uint64_t> own_pidfd_id = {},
                                                     std::uint64_t fd_limit = fd_number_limit());

// The writer side, for a manager about to exec child_pid with fds 3.. in this order: the
// strings "LISTEN_PID=..", "LISTEN_PIDFDID=.." (if given), "LISTEN_FDS=..", "LISTEN_FDNAMES=.."
// (systemd's order). No names: no variables (nothing is passed). invalid_name if any name fails
// fdname_is_valid().
ListenResult<std::vector<std::string>> listen_environment(
    std::span<const std::string> names, pid_t child_pid,
    std::optional<std::uint64_t> child_pidfd_id = {});

// The LISTEN_* variables of this process's real environment.
Environment current_environment();

// The pidfs inode id of a pidfd (what LISTEN_PIDFDID carries). EOPNOTSUPP when pidfds are not
// on pidfs (kernels before 6.9): their inode numbers are then not unique.
SysResult<std::uint64_t> pidfd_inode_id(int pidfd);
// This process's pidfd inode id, or nullopt if the kernel cannot tell.
std::optional<std::uint64_t> own_pidfd_id();

enum class UnsetEnvironment : std::uint8_t { no, yes };

struct TakenFd {
  UniqueFd fd;
  std::string name;
};

// sd_listen_fds_with_names() for real: parses the real environment for getpid() and
// own_pidfd_id(), marks every passed fd FD_CLOEXEC and returns them owned. If fcntl() fails on
// any of them, fd_unusable with its errno and no fd is taken (none is closed: we never owned
// them). With UnsetEnvironment::yes the four variables are removed whatever the outcome, as
// libsystemd does; like unsetenv() that is not thread-safe.
ListenResult<std::vector<TakenFd>> take_listen_fds(UnsetEnvironment unset);

}  // namespace luo::listen
