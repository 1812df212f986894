// luo/adapters/uapi.hpp: the /dev/liveupdate ioctl ABI, bit for bit (spec kernel-luo.md §1.3,
// §1.4). Written from the spec, so no kernel header has to be installed; the static_asserts pin
// every size and offset the kernel's copy-in/copy-back relies on.
//
// Every command is _IO(0xBA, nr): no direction or size bits. Each argument struct starts with
// a u32 `size` that says how many bytes userspace passes; the kernel reads min(size, sizeof)
// and requires any extra bytes to be zero.
#pragma once

#include <cstddef>
#include <cstdint>

#include "luo/model/limits.hpp"

namespace luo::uapi {

inline constexpr unsigned kIoctlType = 0xBA;
inline constexpr unsigned kDeviceCmdBase = 0x00;
inline constexpr unsigned kSessionCmdBase = 0x40;

constexpr unsigned long io_cmd(unsigned nr) {
  return (kIoctlType << 8) | nr;
}

inline constexpr unsigned long kCreateSession = io_cmd(kDeviceCmdBase + 0);    // 0xBA00
inline constexpr unsigned long kRetrieveSession = io_cmd(kDeviceCmdBase + 1);  // 0xBA01
inline constexpr unsigned long kPreserveFd = io_cmd(kSessionCmdBase + 0);      // 0xBA40
inline constexpr unsigned long kRetrieveFd = io_cmd(kSessionCmdBase + 1);      // 0xBA41
inline constexpr unsigned long kSessionFinish = io_cmd(kSessionCmdBase + 2);   // 0xBA42
inline constexpr unsigned long kSessionGetName = io_cmd(kSessionCmdBase + 3);  // 0xBA43 (7.2)

// Number of ops the kernel's dispatch tables hold; an nr beyond them is EINVAL, not ENOTTY.
inline constexpr unsigned kDeviceOpCount = 2;
inline constexpr unsigned kSessionOpCountLegacy = 3;  // 6.19-7.1
inline constexpr unsigned kSessionOpCount = 4;        // 7.2+

inline constexpr char kDevicePath[] = "/dev/liveupdate";

struct CreateSessionArg {
  std::uint32_t size;
  std::int32_t fd;  // out
  std::uint8_t name[kSessionNameFieldSize];
};
struct RetrieveSessionArg {
  std::uint32_t size;
  std::int32_t fd;  // out
  std::uint8_t name[kSessionNameFieldSize];
};
struct PreserveFdArg {
  std::uint32_t size;
  std::int32_t fd;
  alignas(8) std::uint64_t token;
};
struct RetrieveFdArg {
  std::uint32_t size;
  std::int32_t fd;  // out
  alignas(8) std::uint64_t token;
};
struct SessionFinishArg {
  std::uint32_t size;
  std::uint32_t reserved;
};
struct SessionGetNameArg {
  std::uint32_t size;
  std::uint32_t reserved;                    // must be 0
  std::uint8_t name[kSessionNameFieldSize];  // out
};

static_assert(sizeof(CreateSessionArg) == 72 && offsetof(CreateSessionArg, fd) == 4 &&
              offsetof(CreateSessionArg, name) == 8);
static_assert(sizeof(RetrieveSessionArg) == 72 && offsetof(RetrieveSessionArg, fd) == 4 &&
              offsetof(RetrieveSessionArg, name) == 8);
static_assert(sizeof(PreserveFdArg) == 16 && offsetof(PreserveFdArg, fd) == 4 &&
              offsetof(PreserveFdArg, token) == 8);
static_assert(sizeof(RetrieveFdArg) == 16 && offsetof(RetrieveFdArg, fd) == 4 &&
              offsetof(RetrieveFdArg, token) == 8);
static_assert(sizeof(SessionFinishArg) == 8 && offsetof(SessionFinishArg, reserved) == 4);
static_assert(sizeof(SessionGetNameArg) == 72 && offsetof(SessionGetNameArg, reserved) == 4 &&
              offsetof(SessionGetNameArg, name) == 8);

// min_size: the end of the last mandatory field (spec §1.3 step 5). Every field is mandatory
// today, so min_size equals sizeof; GET_NAME's was 16 in 7.2-rc1..rc3, fixed to 72 (§1.4).
template <class Arg>
inline constexpr std::uint32_t kMinSize = sizeof(Arg);

}  // namespace luo::uapi
