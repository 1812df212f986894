// luo/model/limits.hpp: the numeric limits of the LUO ABI, defined once (spec kernel-luo.md
// §1.4, §2.2, §2.6). Profiles decide which of them apply; see profile.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace luo {

// Size of the name field in CREATE/RETRIEVE_SESSION and GET_NAME, including the NUL.
inline constexpr std::size_t kSessionNameFieldSize = 64;
inline constexpr std::size_t kSessionNameMaxLength = kSessionNameFieldSize - 1;

// 6.19-7.1 with 4 KiB pages: a 16-page session array of 80-byte records behind an 8-byte
// header gives (65536 - 8) / 80 = 819 sessions; a 2-page file array of 64-byte records gives
// 128 files. 7.2 removed both (linked-block serialization).
inline constexpr std::uint32_t kLegacyMaxOutgoingSessions = (16 * 4096 - 8) / 80;
inline constexpr std::uint32_t kLegacyMaxFilesPerSession = (2 * 4096) / 64;
static_assert(kLegacyMaxOutgoingSessions == 819);
static_assert(kLegacyMaxFilesPerSession == 128);

// The only file handler in mainline; its compatible string in the serialized records.
inline constexpr char kMemfdHandlerCompatible[] = "memfd-v1";

}  // namespace luo
