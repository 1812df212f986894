// raw_notify.hpp: an sd_notify datagram exactly as given, for the tests that must hand a manager
// what luo::notify::send() refuses to send (a payload past NOTIFY_BUFFER_MAX, NUL bytes, a
// malformed tag).
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "luo/adapters/scm_rights.hpp"
#include "luo/adapters/sd_notify.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::testing {

// Without the library's checks and without explicit credentials (the kernel still adds them:
// the receiver has SO_PASSCRED).
inline void raw_send(const notify::Address& to, std::string_view bytes, std::vector<int> fds = {}) {
  sockaddr_un sa{};
  const socklen_t len = to.to_sockaddr(sa);
  const UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock);
  ASSERT_EQ(scm_send(sock.get(), bytes.data(), bytes.size(), fds, MSG_NOSIGNAL, &sa, len),
            static_cast<ssize_t>(bytes.size()))
      << std::strerror(errno);
}

}  // namespace luo::testing
