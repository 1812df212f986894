#include "luo/impl/luo_session_setting.hpp"

#include <fcntl.h>
#include <openssl/evp.h>

#include <array>
#include <cerrno>

#include "luo/impl/kexec_handoff.hpp"
#include "luo/model/fd_store_limits.hpp"

namespace luo {

bool luo_session_setting_valid(std::string_view name) {
  if (name.empty() || !fdname_is_valid(name))
    return false;
  // string_is_safe() as luo_session_name_is_valid() calls it: no space, quote, backslash or glob.
  return name.find_first_of(" \"'*?[\\") == std::string_view::npos;
}

std::string id128_digest_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len < 16) {
    return {};
  }
  // id128_make_v4_uuid(): version 4, variant 10.
  md[6] = static_cast<unsigned char>((md[6] & 0x0F) | 0x40);
  md[8] = static_cast<unsigned char>((md[8] & 0x3F) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < 16; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0x0F];
  }
  return out;
}

std::string luo_session_kernel_name(std::string_view unit, std::string_view name) {
  std::string key(unit);
  key += '/';
  key += name;
  std::string out(unit.substr(0, kLuoSessionUnitPrefix));
  out += '-';
  out += id128_digest_hex(key).substr(0, kLuoSessionDigestHex);
  return out;
}

Result<LuoSessionHandout> hand_out_luo_session(Device& device, KernelPort& port,
                                               std::string_view unit, std::string_view name,
                                               FdStore& store) {
  if (!luo_session_setting_valid(name)) {
    return Error(Operation::store_fd, ErrorOrigin::refused, EINVAL,
                 "LUOSession='" + std::string(name) + "' of " + std::string(unit), "",
                 "not a valid LUO session name (fdname_is_valid, no space, quote, backslash or "
                 "glob character)");
  }
  LuoSessionHandout out{luo_session_kernel_name(unit, name), std::nullopt};
  for (const auto& e : store.entries()) {
    if (e.name == name && luo_session_name(port, e.fd.get()))
      return out;
  }
  auto created = device.create_session(out.kernel_name);
  if (!created)
    return created.error();
  UniqueFd dup(::fcntl(created.value().fd(), F_DUPFD_CLOEXEC, 3));
  if (!dup) {
    return Error(Operation::store_fd, ErrorOrigin::kernel, errno,
                 "LUO session '" + out.kernel_name + "'", "", "cannot duplicate its fd");
  }
  auto added = store.add(std::move(dup), name, Poll::off, /*index=*/0);
  if (!added)
    return added.error();
  out.session.emplace(std::move(created).value());
  return out;
}

}  // namespace luo
