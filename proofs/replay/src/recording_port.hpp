// A KernelPort over IoctlPort that (1) arms SimulatedKernel::inject right before the n-th call of
// a kind, so a fault the world places on one particular kernel call fails exactly that call in
// the simulator, and (2) records which memfd went into which session under which token, the
// kernel's side of the projection (the simulator's snapshot has tokens, not contents).
#pragma once

#include <sys/stat.h>

#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"

namespace luo::proofs::replay_detail {

enum class Call : std::uint8_t { create_session, retrieve_session, preserve_fd, retrieve_fd };
inline constexpr int kCalls = 4;

struct Arm {
  Call call;
  int ordinal;  // 0: the next call of that kind after plan()
  SimFault fault;
  int err;
};

using Inode = std::pair<dev_t, ino_t>;
std::optional<Inode> inode_of(int fd);

class RecordingPort final : public KernelPort {
 public:
  explicit RecordingPort(SimulatedKernel& kernel) : kernel_(kernel), port_(kernel) {}

  void plan(std::vector<Arm> arms) {
    kernel_.clear_faults();  // an armed fault a call did not reach must not fire later
    arms_ = std::move(arms);
    counts_ = {};
  }
  // Calls made by a service (a VMM, the hijacker), not by the manager.
  bool service = false;

  // A successful PRESERVE_FD: the session's name, who created it, the file's contents.
  struct Preserve {
    std::string session;
    bool by_service = false;
    std::uint64_t token = 0;
    std::string contents;  // the first bytes: enough for the replay's labels
  };
  std::vector<Preserve> preserved;  // this boot's, cleared by the driver

  SysResult<UniqueFd> open_device() override { return port_.open_device(); }
  SysResult<UniqueFd> create_session(int device_fd, const SessionNameField& name) override;
  SysResult<UniqueFd> retrieve_session(int device_fd, const SessionNameField& name) override;
  SysStatus preserve_fd(int session_fd, int fd, std::uint64_t token) override;
  SysResult<UniqueFd> retrieve_fd(int session_fd, std::uint64_t token) override;
  SysStatus finish_session(int session_fd, std::uint32_t reserved) override {
    return port_.finish_session(session_fd, reserved);
  }
  SysResult<SessionNameField> get_session_name(int session_fd) override {
    return port_.get_session_name(session_fd);
  }
  SysStatus kexec() override { return port_.kexec(); }
  bool is_device(int fd) override { return port_.is_device(fd); }

 private:
  void arm(Call c);
  struct Session {
    std::string name;
    bool by_service = false;
  };
  void remember(const SysResult<UniqueFd>& r, const SessionNameField& name);

  SimulatedKernel& kernel_;
  IoctlPort port_;
  std::vector<Arm> arms_;
  std::array<int, kCalls> counts_{};
  std::map<Inode, Session> sessions_;
};

// The first bytes of a file, without moving its position ("" for what cannot be read).
std::string head_of(int fd);

}  // namespace luo::proofs::replay_detail
