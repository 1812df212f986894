#include "luo/adapters/listen_fds.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <new>

namespace luo::listen {

namespace {

constexpr std::string_view kListenPid = "LISTEN_PID";
constexpr std::string_view kListenPidfdId = "LISTEN_PIDFDID";
constexpr std::string_view kListenFds = "LISTEN_FDS";
constexpr std::string_view kListenFdNames = "LISTEN_FDNAMES";
constexpr std::string_view kAllVariables[] = {kListenPid, kListenPidfdId, kListenFds,
                                              kListenFdNames};

// PID_FS_MAGIC (include/uapi/linux/magic.h, Linux 6.9+; newer than bookworm's headers).
constexpr long kPidFsMagic = 0x50494446;

// Decimal digits only, no leading zero (but "0" itself), within uint64: see the header for why
// this is stricter than libsystemd.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0'))
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10)
      return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::optional<std::string_view> lookup(const Environment& env, std::string_view key) {
  const auto it = env.find(key);
  if (it == env.end())
    return std::nullopt;
  return std::string_view(it->second);
}

std::vector<std::string> split_names(std::string_view s) {
  std::vector<std::string> out;
  for (;;) {
    const std::size_t colon = s.find(':');
    out.emplace_back(s.substr(0, colon));
    if (colon == std::string_view::npos)
      return out;
    s.remove_prefix(colon + 1);
  }
}

}  // namespace

std::uint64_t fd_number_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_max == RLIM_INFINITY ||
      limit.rlim_max > static_cast<rlim_t>(INT_MAX))
    return static_cast<std::uint64_t>(INT_MAX);
  return static_cast<std::uint64_t>(limit.rlim_max);
}

ListenResult<std::vector<PassedFd>> parse_listen_fds(const Environment& env, pid_t own_pid,
                                                     std::optional<std::uint64_t> own_pidfd_id,
                                                     std::uint64_t fd_limit) try {
  const std::optional<std::string_view> pid_text = lookup(env, kListenPid);
  if (!pid_text)
    return ListenError::not_passed;
  const std::optional<std::uint64_t> pid = parse_decimal(*pid_text);
  if (!pid || *pid == 0 || *pid > static_cast<std::uint64_t>(INT_MAX))
    return ListenError::invalid_pid;
  if (static_cast<pid_t>(*pid) != own_pid)
    return ListenError::not_for_us;

  if (const std::optional<std::string_view> id_text = lookup(env, kListenPidfdId)) {
    const std::optional<std::uint64_t> id = parse_decimal(*id_text);
    if (!id)
      return ListenError::invalid_pidfd_id;
    // Same pid, other pidfd id: a process that reused the pid.
    if (own_pidfd_id && *own_pidfd_id != *id)
      return ListenError::not_for_us;
  }

  const std::optional<std::string_view> count_text = lookup(env, kListenFds);
  if (!count_text)
    return ListenError::not_passed;
  const std::optional<std::uint64_t> count = parse_decimal(*count_text);
  if (!count || *count == 0 || *count > static_cast<std::uint64_t>(INT_MAX - kListenFdsStart))
    return ListenError::invalid_count;
  const auto n = static_cast<std::size_t>(*count);

  // Split only when the count could match: the names cost what the variable costs, bounded
  // by the environment, while the default names cost what the count says.
  const std::optional<std::string_view> names_text = lookup(env, kListenFdNames);
  if (names_text &&
      static_cast<std::size_t>(std::count(names_text->begin(), names_text->end(), ':')) != n - 1)
    return ListenError::names_mismatch;
  if (static_cast<std::uint64_t>(kListenFdsStart) + *count > fd_limit)
    return ListenError::count_over_limit;

  std::vector<std::string> names = names_text
                                       ? split_names(*names_text)
                                       : std::vector<std::string>(n, std::string(kUnknownFdName));
  std::vector<PassedFd> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(PassedFd{kListenFdsStart + static_cast<int>(i), std::move(names[i])});
  return out;
} catch (const std::bad_alloc&) {
  return ListenError::no_memory;
}

ListenResult<std::vector<std::string>> listen_environment(
    std::span<const std::string> names, pid_t child_pid,
    std::optional<std::uint64_t> child_pidfd_id) {
  std::vector<std::string> out;
  if (names.empty())
    return out;
  std::string joined;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!fdname_is_valid(names[i]))
      return ListenError::invalid_name;
    if (i > 0)
      joined.push_back(':');
    joined += names[i];
  }
  out.push_back(std::string(kListenPid) + "=" + std::to_string(child_pid));
  if (child_pidfd_id)
    out.push_back(std::string(kListenPidfdId) + "=" + std::to_string(*child_pidfd_id));
  out.push_back(std::string(kListenFds) + "=" + std::to_string(names.size()));
  out.push_back(std::string(kListenFdNames) + "=" + joined);
  return out;
}

Environment current_environment() {
  Environment env;
  for (std::string_view key : kAllVariables) {
    const std::string k(key);
    if (const char* v = std::getenv(k.c_str()))
      env.emplace(k, v);
  }
  return env;
}

SysResult<std::uint64_t> pidfd_inode_id(int pidfd) {
  struct statfs sfs {};
  if (::fstatfs(pidfd, &sfs) != 0)
    return SysResult<std::uint64_t>::failure(last_errno());
  // Before pidfs every pidfd shared one anon inode: its number identifies nothing.
  if (static_cast<long>(sfs.f_type) != kPidFsMagic)
    return SysResult<std::uint64_t>::failure(EOPNOTSUPP);
  struct stat st {};
  if (::fstat(pidfd, &st) != 0)
    return SysResult<std::uint64_t>::failure(last_errno());
  // 64-bit ino_t holds the full id; systemd needs file handles only on 32-bit ABIs.
  static_assert(sizeof(st.st_ino) == sizeof(std::uint64_t));
  return static_cast<std::uint64_t>(st.st_ino);
}

std::optional<std::uint64_t> own_pidfd_id() {
  // pidfd_open() has no glibc wrapper in bookworm; it always returns an O_CLOEXEC fd.
  const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
  if (fd < 0)
    return std::nullopt;
  const UniqueFd pidfd(static_cast<int>(fd));
  const SysResult<std::uint64_t> id = pidfd_inode_id(pidfd.get());
  if (!id.ok())
    return std::nullopt;
  return id.value();
}

ListenResult<std::vector<TakenFd>> take_listen_fds(UnsetEnvironment unset) {
  const auto finish = [unset](ListenResult<std::vector<TakenFd>> r) {
    switch (unset) {
      case UnsetEnvironment::no:
        break;
      case UnsetEnvironment::yes:
        for (std::string_view key : kAllVariables)
          ::unsetenv(std::string(key).c_str());
        break;
    }
    return r;
  };

  ListenResult<std::vector<PassedFd>> parsed =
      parse_listen_fds(current_environment(), ::getpid(), own_pidfd_id());
  if (!parsed.ok())
    return finish(ListenResult<std::vector<TakenFd>>(parsed.error(), parsed.raw_errno()));

  // All fcntl()s first, ownership after: a failure must not close fds we were never given.
  for (const PassedFd& p : parsed.value()) {
    const int flags = ::fcntl(p.fd, F_GETFD);
    if (flags < 0 || ::fcntl(p.fd, F_SETFD, flags | FD_CLOEXEC) != 0)
      return finish(ListenResult<std::vector<TakenFd>>(ListenError::fd_unusable, last_errno()));
  }
  std::vector<TakenFd> taken;
  try {
    taken.reserve(parsed.value().size());
  } catch (const std::bad_alloc&) {
    // Nothing is owned yet, so nothing is closed.
    return finish(ListenResult<std::vector<TakenFd>>(ListenError::no_memory));
  }
  for (PassedFd& p : parsed.value())
    taken.push_back(TakenFd{UniqueFd(p.fd), std::move(p.name)});
  return finish(std::move(taken));
}

}  // namespace luo::listen
