// luo/impl/luo_session_setting.hpp: systemd 262's LUOSession= for a manager built on this library
// (spec systemd-luo.md §9.6): at service start PID 1 creates one LUO session per configured name
// and puts its fd in the unit's fd store under that name, from where it travels across kexec as
// a luo_session entry like any session a service stored itself.
//
// The kernel name is 262's, byte for byte, so a unit's session keeps its name whichever of
// systemd and this library created it:
//
//   "%.13s-%.24s": the first 13 bytes of the unit id, '-', then the first 24 hex digits of
//   id128_digest("<unit id>/<name>"): SHA-256 of that string, its first 16 bytes made a v4
//   UUID (byte 6 = 0x4X, byte 8 = 10XXXXXX), written as 32 lowercase hex digits.
//
// e.g. luo_session_kernel_name("vmm@vm0.service", "guest") == "vmm@vm0.servi-<24 hex>", at most
// 38 bytes, within the kernel's 63. Checked against the real libsystemd-shared-262.so in
// tests/systemd/luo_session_setting_test.cpp (id128_digest, sd_id128_to_string, and
// luo_session_name_is_valid; the "%.*s-%.*s" formatting itself is a static part of
// libsystemd-core's service start, read from its machine code).
//
//   luo::FdStore& store = ...;                       // the unit's store
//   auto r = luo::hand_out_luo_session(device, port, "vmm@vm0.service", "guest", store);
//   if (!r) log(r.error().message());                // PID 1 logs and starts the unit anyway
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "luo/impl/error.hpp"
#include "luo/impl/fd_store.hpp"
#include "luo/impl/kernel_port.hpp"
#include "luo/impl/live_update.hpp"

namespace luo {

// Bytes of the unit id and of the digest's hex form that make up the kernel name.
inline constexpr std::size_t kLuoSessionUnitPrefix = 13;
inline constexpr std::size_t kLuoSessionDigestHex = 24;

// A LUOSession= name as 262 accepts it (luo_session_name_is_valid(): fdname_is_valid() and
// string_is_safe() with glob characters refused): 1 to 255 bytes in 0x21-0x7E, none of
// : " ' * ? [ \ .
bool luo_session_setting_valid(std::string_view name);

// id128_digest(data) as 32 lowercase hex digits.
std::string id128_digest_hex(std::string_view data);

// The kernel session name 262 gives `unit`'s LUOSession=`name`.
std::string luo_session_kernel_name(std::string_view unit, std::string_view name);

struct LuoSessionHandout {
  std::string kernel_name;
  // Empty when the store already held a LUO session under `name` (restored after a kexec, or
  // handed out by an earlier start): 262 then creates nothing.
  std::optional<OutgoingSession> session;
};

// Service start: creates the unit's session and stores a duplicate of its fd under `name`
// (not polled, no upstream index, as 262 does). `port` recognises sessions already in the store.
// Errors: EINVAL (store_fd, refused) for a name luo_session_setting_valid() refuses; otherwise
// CREATE_SESSION's (EEXIST when the name is taken) or the store's (EXFULL).
Result<LuoSessionHandout> hand_out_luo_session(Device& device, KernelPort& port,
                                               std::string_view unit, std::string_view name,
                                               FdStore& store);

}  // namespace luo
