// luo/model/session_name.hpp: the 64-byte session name field and the kernel's rules for it.
//
// The name travels as a fixed 64-byte field (spec kernel-luo.md §1.4). 7.2+ rejects an empty
// name and a field without a NUL; 6.19-7.1 accept both and truncate an unterminated field to
// 63 bytes, comparing names over the truncated field (§2.2). Any byte except NUL is allowed.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include "luo/model/limits.hpp"
#include "luo/model/profile.hpp"

namespace luo {

struct SessionNameField {
  std::array<char, kSessionNameFieldSize> bytes{};

  // Copies up to 64 bytes; a 64-byte name leaves the field unterminated on purpose, which is
  // how callers (and tests) express the "no NUL" case.
  static SessionNameField from(std::string_view name) {
    SessionNameField f;
    std::memcpy(f.bytes.data(), name.data(), std::min(name.size(), f.bytes.size()));
    return f;
  }
  bool terminated() const { return std::memchr(bytes.data(), '\0', bytes.size()) != nullptr; }
  bool empty() const { return bytes[0] == '\0'; }
  // The name as the kernel stores it: up to the first NUL, at most 63 bytes.
  std::string stored() const {
    const char* end = static_cast<const char*>(std::memchr(bytes.data(), '\0', bytes.size()));
    std::size_t len = end ? static_cast<std::size_t>(end - bytes.data()) : kSessionNameMaxLength;
    return std::string(bytes.data(), std::min(len, kSessionNameMaxLength));
  }
  bool operator==(const SessionNameField&) const = default;
};

// Whether CREATE_SESSION accepts this field under the profile's name rules.
inline bool session_name_acceptable(KernelProfile p, const SessionNameField& f) {
  if (!profile_has(p, Feature::session_name_validation))
    return true;
  return f.terminated() && !f.empty();
}

}  // namespace luo
