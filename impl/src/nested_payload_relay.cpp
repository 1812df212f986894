// nspawn's side of nested fd stores (spec systemd-luo.md §2.5; nested_manager.hpp): it keeps no
// store of its own and only relays its payload's FDSTORE=1 / FDSTOREREMOVE=1 upward, each name
// prefixed "payload-", and passes fds downward without names (§5 gap 10).
#include <algorithm>

#include "luo/impl/nested_manager.hpp"
#include "luo/model/fd_store_limits.hpp"

namespace luo {

std::string_view relay_warning_message(RelayWarning w) {
  switch (w) {
    case RelayWarning::not_payload_pid1:
      return "Received notify message from process that is not the payload's PID 1. Ignoring.";
    case RelayWarning::remove_without_valid_name:
      return "FDSTOREREMOVE=1 requested by the payload without a valid FDNAME=, not forwarding.";
    case RelayWarning::invalid_name_stored:
      return "Payload passed an invalid FDNAME=, forwarding as 'payload-stored'.";
    case RelayWarning::name_too_long_stored:
      return "Payload FDNAME= too long once prefixed with 'payload-', forwarding as "
             "'payload-stored'.";
    case RelayWarning::name_too_long_not_removed:
      return "Payload FDNAME= too long once prefixed with 'payload-', not forwarding "
             "FDSTOREREMOVE=1.";
    case RelayWarning::no_fds:
      return "FDSTORE=1 from the payload without fds, ignoring.";
    case RelayWarning::not_forwarding:
      return "No upstream fd store to forward the payload's request to, ignoring.";
  }
  return "?";
}

RelayAction PayloadRelay::translate(PayloadMessage message) const {
  RelayAction a;
  if (message.sender != payload_pid_) {
    a.warnings.push_back(RelayWarning::not_payload_pid1);
    return a;  // the message's fds close with it
  }
  auto has = [&](std::string_view k, std::string_view v) {
    return std::any_of(message.tags.begin(), message.tags.end(),
                       [&](const auto& t) { return t.first == k && t.second == v; });
  };
  std::optional<std::string> fdname;
  for (const auto& [k, v] : message.tags) {
    if (k == "FDNAME") {
      fdname = v;
      break;
    }
  }
  const bool remove = has("FDSTOREREMOVE", "1");
  const bool store = has("FDSTORE", "1");
  if (!remove && !store)
    return a;  // READY=1 and the like: nothing for the fd store
  if (!forwarding()) {
    a.warnings.push_back(RelayWarning::not_forwarding);
    return a;
  }
  const std::string prefix(kPayloadPrefix);
  if (remove) {
    if (!fdname || !fdname_is_valid(*fdname)) {
      a.warnings.push_back(RelayWarning::remove_without_valid_name);
      return a;
    }
    if (prefix.size() + fdname->size() > kFdNameMax) {
      a.warnings.push_back(RelayWarning::name_too_long_not_removed);
      return a;
    }
    a.kind = RelayAction::Kind::remove;
    a.name = prefix + *fdname;
    return a;
  }
  if (message.fds.empty()) {
    a.warnings.push_back(RelayWarning::no_fds);
    return a;
  }
  a.name = prefix + std::string(kDefaultFdName);
  if (fdname) {
    if (!fdname_is_valid(*fdname))
      a.warnings.push_back(RelayWarning::invalid_name_stored);
    else if (prefix.size() + fdname->size() > kFdNameMax)
      a.warnings.push_back(RelayWarning::name_too_long_stored);
    else
      a.name = prefix + *fdname;
  }
  a.kind = RelayAction::Kind::store;
  a.poll = has("FDPOLL", "0") ? Poll::off : Poll::on;
  a.fds = std::move(message.fds);
  return a;
}

std::pair<RelayAction, SysStatus> PayloadRelay::forward(PayloadMessage message,
                                                        UpstreamSink& sink) const {
  RelayAction a = translate(std::move(message));
  switch (a.kind) {
    case RelayAction::Kind::store: {
      std::vector<int> raw;
      raw.reserve(a.fds.size());
      for (const auto& f : a.fds)
        raw.push_back(f.get());
      auto s = sink.store(raw, a.name, a.poll);
      return {std::move(a), s};
    }
    case RelayAction::Kind::remove: {
      auto s = sink.remove(a.name);
      return {std::move(a), s};
    }
    case RelayAction::Kind::ignore:
      break;
  }
  return {std::move(a), sys_ok()};
}

std::vector<std::string> PayloadRelay::payload_environment(std::size_t n_fds) {
  if (n_fds == 0)
    return {};
  return {"LISTEN_FDS=" + std::to_string(n_fds), "LISTEN_PID=1"};
}

}  // namespace luo
