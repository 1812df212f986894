// identities.hpp: how a world's owner, fd and session are named on the implementation's side,
// and recognised again anywhere (replay.hpp, IDENTITIES). Pure: no impl, no kernel.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "luo/proofs/world.hpp"

namespace luo::proofs::replay_detail {

// Owner o is the unit "owner<o>.service".
std::string owner_id(int o);
std::optional<int> owner_of_id(std::string_view id);
// Owner o's fd labelled k is stored as "fd<k>" and contains "luo-replay fd <o>.<k>".
std::string fd_name(int k);
std::optional<int> label_of_name(std::string_view name);
std::string fd_contents(int o, int k);
// (owner, label) from a memfd's contents.
std::optional<std::pair<int, int>> label_of_contents(std::string_view c);
// VMM session j is the LUO session "vmm<j>", stored under that name.
std::string session_name(int j);
std::optional<int> session_of_name(std::string_view name);
// The hijacker's "systemd" holds one memfd at this token; its fd is stored under this name.
inline constexpr std::string_view kHijackName = "hijack";
inline constexpr std::uint64_t kHijackToken = 99;

// The errnos the replay injects (header: FAULTS): a handler's own failure, and the fd
// reservation's (a full fd table) under `profile`.
inline constexpr int kHandlerErrno = EIO;
int reservation_errno(KernelProfile profile);

}  // namespace luo::proofs::replay_detail
