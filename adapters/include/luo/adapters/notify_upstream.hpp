// luo/adapters/notify_upstream.hpp: luo::UpstreamSink over the real sd_notify protocol, for an
// inner manager (user manager) or a relay (nspawn) talking to its enveloping manager (spec
// systemd-luo.md §2.1, §2.2, §2.5).
//
// The pure logic lives in luo/impl/nested_manager.hpp (which entries go up, the remove-then-store
// pairs, the "systemd-fdstore-mapping" memfd and its JSON); this is only the transport: each
// UpstreamSink call is one datagram to $NOTIFY_SOCKET, and what the process was started with
// ($NOTIFY_SOCKET, $FDSTORE) is read here, never in impl/.
//
//   auto up = luo::notify::upstream_from_environment();        // NOTIFY_SOCKET + FDSTORE
//   luo::FdStoreRegistry owners;
//   luo::UpstreamMirror mirror(owners, up.sink ? &*up.sink : nullptr, up.config);
//
//   // nspawn: relay what the payload's PID 1 sends on nspawn's own notify socket
//   luo::PayloadRelay relay(payload_pid, up.config);
//   auto d = payload_socket.receive();
//   if (d.ok() && d.value().kind() == luo::notify::DeliveryKind::message)
//     relay.forward(luo::notify::payload_message(std::move(d.value().message())), *up.sink);
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "luo/adapters/sd_notify.hpp"
#include "luo/impl/nested_manager.hpp"

namespace luo::notify {

// One FDSTORE=1 / FDSTOREREMOVE=1 datagram per call, to `to`.
class NotifyUpstream final : public UpstreamSink {
 public:
  explicit NotifyUpstream(Address to) : to_(std::move(to)) {}
  const Address& address() const { return to_; }

  // FDSTORE=1, FDNAME=name, FDPOLL=0 for Poll::off, every fd in the one message. EINVAL for an
  // invalid name or no fds (store_fds()), E2BIG above SCM_MAX_FD.
  SysStatus store(std::span<const int> fds, std::string_view name, Poll poll) override;
  SysStatus remove(std::string_view name) override;

 private:
  Address to_;
};

// $FDSTORE parsed as systemd does for the §2.1 test: a decimal unsigned number; anything else
// (unset, empty, garbage, overflow) counts as 0.
unsigned parse_fdstore_value(std::optional<std::string_view> value);

struct Upstream {
  UpstreamConfig config;
  std::optional<NotifyUpstream> sink;  // set iff $NOTIFY_SOCKET is a usable address
};

// $NOTIFY_SOCKET and $FDSTORE of this process. An unusable NOTIFY_SOCKET (vsock, malformed)
// counts as "no upstream": mirroring is an optimisation the manager can run without.
Upstream upstream_from_environment();

// A received datagram in the relay's terms (tags and fds moved, sender pid kept).
PayloadMessage payload_message(Received&& message);

}  // namespace luo::notify
