// luo/model/fd_store_limits.hpp: the numbers and names of systemd's fd-store protocol, defined
// once (spec systemd-luo.md §1.3, §1.6, §1.9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace luo {

// FDNAME_MAX: the longest fd name (§1.3).
inline constexpr std::size_t kFdNameMax = 255;
// The name of an fd stored without a (valid) FDNAME= (§1.3, §1.6).
inline constexpr std::string_view kDefaultFdName = "stored";
// Names LISTEN_FDNAMES uses for fds of other origin (§1.6).
inline constexpr std::string_view kConnectionFdName = "connection";
inline constexpr std::string_view kUnknownFdName = "unknown";
// NOTIFY_BUFFER_MAX = PIPE_BUF: a larger datagram is ignored as truncated (§1.3).
inline constexpr std::size_t kNotifyBufferMax = 4096;
// NOTIFY_FD_MAX: the receiver's control buffer holds this many fds (§1.3).
inline constexpr std::size_t kNotifyFdMax = 768;
// SCM_MAX_FD: the most fds one sendmsg() can carry; the client refuses more with E2BIG (§1.9).
inline constexpr std::size_t kScmMaxFd = 253;
// SD_LISTEN_FDS_START: the first passed fd (§1.6).
inline constexpr int kListenFdsStart = 3;

// FDPOLL=: whether the manager watches a stored fd for POLLHUP/POLLERR and drops it then (§1.4).
// An enum rather than a bool so a call site says what it means.
enum class Poll : std::uint8_t { on, off };

// fdname_is_valid(): bytes 0x20-0x7E, no ':' (the LISTEN_FDNAMES separator), at most 255 bytes;
// the empty name is valid (§1.3).
constexpr bool fdname_is_valid(std::string_view name) {
  if (name.size() > kFdNameMax)
    return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7E || c == ':')
      return false;
  }
  return true;
}

}  // namespace luo
