#include "luo/adapters/notify_upstream.hpp"

#include <charconv>
#include <cstdlib>
#include <limits>
#include <utility>

namespace luo::notify {

SysStatus NotifyUpstream::store(std::span<const int> fds, std::string_view name, Poll poll) {
  return store_fds(to_, fds, name, poll);
}

SysStatus NotifyUpstream::remove(std::string_view name) {
  return remove_fds(to_, name);
}

unsigned parse_fdstore_value(std::optional<std::string_view> value) {
  if (!value || value->empty())
    return 0;
  unsigned v = 0;
  const auto [p, ec] = std::from_chars(value->data(), value->data() + value->size(), v);
  if (ec != std::errc() || p != value->data() + value->size())
    return 0;
  return v;
}

Upstream upstream_from_environment() {
  Upstream out;
  auto addr = from_environment();
  if (!addr.ok() || !addr.value())
    return out;
  const char* fdstore = std::getenv("FDSTORE");
  out.config.has_upstream = true;
  out.config.fdstore_max =
      parse_fdstore_value(fdstore ? std::optional<std::string_view>(fdstore) : std::nullopt);
  out.sink.emplace(std::move(*addr.value()));
  return out;
}

PayloadMessage payload_message(Received&& message) {
  PayloadMessage m;
  m.sender = message.pid;
  m.tags = std::move(message.tags);
  m.fds = std::move(message.fds);
  return m;
}

}  // namespace luo::notify
