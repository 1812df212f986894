// tapping_port.hpp: a KernelPort that keeps a duplicate of every fd the restore retrieves from
// the "systemd" session, by token, so a test can read the mapping the previous kernel's shutdown
// side wrote (token 0) and tie every token to its file; the library's restore result carries
// neither. Shared by Tier 1 (systemd_shutdown.cpp) and Tier 2 (systemd_pid1.cpp).
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <map>

#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/kernel_port.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::vm {

class TappingPort final : public KernelPort {
 public:
  explicit TappingPort(KernelPort& inner) : inner_(inner) {}
  SysResult<UniqueFd> open_device() override { return inner_.open_device(); }
  SysResult<UniqueFd> create_session(int d, const SessionNameField& n) override {
    return inner_.create_session(d, n);
  }
  SysResult<UniqueFd> retrieve_session(int d, const SessionNameField& n) override {
    auto r = inner_.retrieve_session(d, n);
    if (r.ok() && n.stored() == handoff::kSessionName)
      systemd_session_ = r.value().get();
    return r;
  }
  SysStatus preserve_fd(int s, int fd, std::uint64_t t) override {
    return inner_.preserve_fd(s, fd, t);
  }
  SysResult<UniqueFd> retrieve_fd(int s, std::uint64_t token) override {
    auto r = inner_.retrieve_fd(s, token);
    if (r.ok() && s == systemd_session_)
      by_token_[token] = UniqueFd(::fcntl(r.value().get(), F_DUPFD_CLOEXEC, 3));
    return r;
  }
  SysStatus finish_session(int s, std::uint32_t r) override { return inner_.finish_session(s, r); }
  SysResult<SessionNameField> get_session_name(int s) override {
    return inner_.get_session_name(s);
  }
  SysStatus kexec() override { return inner_.kexec(); }
  bool is_device(int fd) override { return inner_.is_device(fd); }

  const std::map<std::uint64_t, UniqueFd>& by_token() const { return by_token_; }

 private:
  KernelPort& inner_;
  int systemd_session_ = -1;
  std::map<std::uint64_t, UniqueFd> by_token_;
};

}  // namespace luo::vm
