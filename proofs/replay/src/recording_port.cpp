#include "recording_port.hpp"

#include <unistd.h>

#include "luo/impl/fd_io.hpp"

namespace luo::proofs::replay_detail {

std::optional<Inode> inode_of(int fd) {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0)
    return std::nullopt;
  return Inode{st.st_dev, st.st_ino};
}

std::string head_of(int fd) {
  char buf[64];
  const auto n = fd_io::read_at(fd, buf, sizeof buf, 0, ::pread);
  return n.ok() ? std::string(buf, n.value()) : std::string();
}

void RecordingPort::arm(Call c) {
  const int n = counts_[static_cast<int>(c)]++;
  for (const Arm& a : arms_) {
    if (a.call == c && a.ordinal == n)
      kernel_.inject(a.fault, a.err);
  }
}

void RecordingPort::remember(const SysResult<UniqueFd>& r, const SessionNameField& name) {
  if (!r.ok())
    return;
  if (auto id = inode_of(r.value().get()))
    sessions_[*id] = Session{name.stored(), service};
}

SysResult<UniqueFd> RecordingPort::create_session(int device_fd, const SessionNameField& name) {
  arm(Call::create_session);
  auto r = port_.create_session(device_fd, name);
  remember(r, name);
  return r;
}

SysResult<UniqueFd> RecordingPort::retrieve_session(int device_fd, const SessionNameField& name) {
  arm(Call::retrieve_session);
  auto r = port_.retrieve_session(device_fd, name);
  remember(r, name);
  return r;
}

SysStatus RecordingPort::preserve_fd(int session_fd, int fd, std::uint64_t token) {
  arm(Call::preserve_fd);
  auto r = port_.preserve_fd(session_fd, fd, token);
  if (r.ok()) {
    Preserve p;
    p.token = token;
    p.contents = head_of(fd);
    if (auto id = inode_of(session_fd); id && sessions_.count(*id) != 0) {
      p.session = sessions_[*id].name;
      p.by_service = sessions_[*id].by_service;
    }
    preserved.push_back(std::move(p));
  }
  return r;
}

SysResult<UniqueFd> RecordingPort::retrieve_fd(int session_fd, std::uint64_t token) {
  arm(Call::retrieve_fd);
  return port_.retrieve_fd(session_fd, token);
}

}  // namespace luo::proofs::replay_detail
