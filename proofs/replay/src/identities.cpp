// The replay's names and contents (identities.hpp).
#include "identities.hpp"

#include "luo/model/device_machine.hpp"

namespace luo::proofs::replay_detail {

namespace {
constexpr std::string_view kContentPrefix = "luo-replay fd ";
}  // namespace

std::string owner_id(int o) {
  return "owner" + std::to_string(o) + ".service";
}
std::optional<int> owner_of_id(std::string_view id) {
  constexpr std::string_view prefix = "owner";
  constexpr std::string_view suffix = ".service";
  if (!id.starts_with(prefix) || !id.ends_with(suffix) ||
      id.size() != prefix.size() + 1 + suffix.size())
    return std::nullopt;
  const char c = id[prefix.size()];
  if (c < '0' || c >= '0' + kMaxOwners)
    return std::nullopt;
  return c - '0';
}
std::string fd_name(int k) {
  return "fd" + std::to_string(k);
}
std::string session_name(int j) {
  return "vmm" + std::to_string(j);
}

std::string fd_contents(int o, int k) {
  return std::string(kContentPrefix) + std::to_string(o) + "." + std::to_string(k);
}
std::optional<std::pair<int, int>> label_of_contents(std::string_view c) {
  if (!c.starts_with(kContentPrefix) || c.size() != kContentPrefix.size() + 3)
    return std::nullopt;
  const char o = c[kContentPrefix.size()];
  const char k = c[kContentPrefix.size() + 2];
  if (o < '0' || o >= '0' + kMaxOwners || k < '0' || k >= '0' + kMaxFdsPerOwner)
    return std::nullopt;
  return std::pair<int, int>{o - '0', k - '0'};
}
std::optional<int> label_of_name(std::string_view name) {
  if (name.size() != 3 || !name.starts_with("fd") || name[2] < '0' ||
      name[2] >= '0' + kMaxFdsPerOwner)
    return std::nullopt;
  return name[2] - '0';
}
std::optional<int> session_of_name(std::string_view name) {
  if (name.size() != 4 || !name.starts_with("vmm") || name[3] < '0' ||
      name[3] >= '0' + kMaxSessions)
    return std::nullopt;
  return name[3] - '0';
}

int reservation_errno(KernelProfile profile) {
  Facts f;
  f.set(Guard::no_free_fd, true);
  return errno_value(
      select(kDeviceMachine, DeviceState::open, DeviceEvent::create_session, profile, f)
          .outcome.error);
}

}  // namespace luo::proofs::replay_detail
