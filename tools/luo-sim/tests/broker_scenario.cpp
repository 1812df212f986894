// broker_scenario: a luod-style broker and two clients, as plain processes with raw syscalls,
// for `luo-sim run --boots 2` (ctest luo_sim_broker_*).
//
// Boot 1: the broker opens /dev/liveupdate and keeps it (a client's own open is EBUSY), creates
// one session per client and passes it over a Unix socket (SCM_RIGHTS), dropping its own copy.
// Each client preserves a memfd with its name in it into the session it was given. Client "b"
// then exits: its session had no other holder, so it is gone. The broker loads an image and
// kexecs; every process of the boot dies.
// Boot 2: the broker retrieves "client-a" (present) and "client-b" (ENOENT), and hands client a
// its session back; the client retrieves its memfd, checks the data and finishes.
//
// Every check prints "broker: ... ok" or "broker: FAIL ..."; the last line of a good run is
// "broker: boot 2 PASS".
#include <fcntl.h>
#include <linux/reboot.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "luo/adapters/scm_rights.hpp"
#include "luo/adapters/uapi.hpp"
#include "named_arg.hpp"

namespace {

namespace uapi = luo::uapi;

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("broker[%d]: %s %s\n", static_cast<int>(::getpid()), ok ? "ok" : "FAIL",
              what.c_str());
  std::fflush(stdout);
  if (!ok)
    ++failures;
}

int send_fd(int sock, int fd, const std::string& text) {
  const std::span<const int> fds = fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>();
  return luo::scm_send(sock, text.data(), text.size(), fds, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

// Receives a message; its fd (or -1) in *fd.
std::string recv_fd(int sock, int* fd) {
  char buf[128] = {};
  const ssize_t n = luo::scm_receive(sock, buf, sizeof buf, fd);
  if (n <= 0)
    return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

int session_ioctl(int dev, unsigned long cmd, const char* name) {
  auto arg = named<uapi::CreateSessionArg>(name);
  return ::ioctl(dev, cmd, &arg) == 0 ? arg.fd : -errno;
}

// Boot 1, in the client: preserve a memfd holding `name` into the session it was sent.
int client_boot1(int sock, const std::string& name) {
  int session = -1;
  recv_fd(sock, &session);
  check(session >= 0, name + " got its session over SCM_RIGHTS");
  check(::open(uapi::kDevicePath, O_RDWR | O_CLOEXEC) < 0 && errno == EBUSY,
        name + ": the device is held by the broker (EBUSY)");
  char link[128] = {};
  const std::string proc = "/proc/self/fd/" + std::to_string(session);
  const ssize_t n = ::readlink(proc.c_str(), link, sizeof link - 1);
  check(n > 0 && std::string(link) == "anon_inode:[luo_session] client-" + name,
        name + ": link text '" + std::string(link) + "'");
  char byte = 0;
  check(::read(session, &byte, 1) < 0 && errno == EINVAL, name + ": read on a session is EINVAL");
  struct statfs sfs {};
  check(::fstatfs(session, &sfs) == 0 && sfs.f_type == 0x09041934, name + ": anon inode");
  const int memfd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  const std::string data = "data of " + name;
  check(::write(memfd, data.data(), data.size()) == static_cast<ssize_t>(data.size()),
        name + ": memfd written");
  uapi::PreserveFdArg arg{};
  arg.size = sizeof arg;
  arg.fd = memfd;
  arg.token = 1;
  check(::ioctl(session, uapi::kPreserveFd, &arg) == 0, name + ": PRESERVE_FD");
  ::close(memfd);
  send_fd(sock, -1, "preserved");
  int ignored = -1;
  recv_fd(sock, &ignored);  // until the broker says "exit" (or the kexec kills us)
  return failures == 0 ? 0 : 1;
}

// Boot 2, in the client: retrieve the memfd from the session handed back.
int client_boot2(int sock, const std::string& name) {
  int session = -1;
  recv_fd(sock, &session);
  check(session >= 0, name + " got its session back");
  uapi::RetrieveFdArg arg{};
  arg.size = sizeof arg;
  arg.token = 1;
  check(::ioctl(session, uapi::kRetrieveFd, &arg) == 0, name + ": RETRIEVE_FD");
  char buf[64] = {};
  const ssize_t n = ::pread(arg.fd, buf, sizeof buf - 1, 0);
  check(n > 0 && std::string(buf) == "data of " + name, name + ": data '" + std::string(buf) + "'");
  char link[64] = {};
  const std::string proc = "/proc/self/fd/" + std::to_string(arg.fd);
  check(::readlink(proc.c_str(), link, sizeof link - 1) > 0 && std::string(link) == "/ (deleted)",
        name + ": retrieved memfd's link '" + std::string(link) + "' (spec §8)");
  uapi::SessionFinishArg fin{};
  fin.size = sizeof fin;
  check(::ioctl(session, uapi::kSessionFinish, &fin) == 0, name + ": FINISH");
  send_fd(sock, -1, failures == 0 ? "ok" : "failed");
  return failures == 0 ? 0 : 1;
}

struct Client {
  pid_t pid = -1;
  int sock = -1;
};

Client spawn(int boot, const std::string& name) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sv[0]);
    std::exit(boot == 1 ? client_boot1(sv[1], name) : client_boot2(sv[1], name));
  }
  ::close(sv[1]);
  return Client{pid, sv[0]};
}

int boot1() {
  const int dev = ::open(uapi::kDevicePath, O_RDWR | O_CLOEXEC);
  check(dev >= 0, "broker opened the device");
  Client a = spawn(1, "a"), b = spawn(1, "b");
  for (Client* c : {&a, &b}) {
    const std::string name = c == &a ? "client-a" : "client-b";
    const int session = session_ioctl(dev, uapi::kCreateSession, name.c_str());
    check(session >= 0, "created " + name);
    send_fd(c->sock, session, "session");
    ::close(session);  // the client holds the only reference now
    int none = -1;
    check(recv_fd(c->sock, &none) == "preserved", name + " preserved its memfd");
  }
  // Client b goes away before the kexec: its session goes with it.
  send_fd(b.sock, -1, "exit");
  int status = 0;
  ::waitpid(b.pid, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client b exited cleanly");
  if (failures != 0)
    return 1;
  const std::string cmdline = "luo_stage=2";
  check(::syscall(SYS_kexec_file_load, -1, -1, cmdline.size() + 1, cmdline.c_str(), 0UL) == 0,
        "kexec_file_load");
  std::fflush(stdout);
  ::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, nullptr);
  check(false, std::string("reboot(KEXEC) returned: ") + std::strerror(errno));
  return 1;
}

int boot2() {
  const int dev = ::open(uapi::kDevicePath, O_RDWR | O_CLOEXEC);
  check(dev >= 0, "broker opened the device in boot 2");
  check(session_ioctl(dev, uapi::kRetrieveSession, "client-b") == -ENOENT,
        "client b's session did not survive its death");
  const int session = session_ioctl(dev, uapi::kRetrieveSession, "client-a");
  check(session >= 0, "client a's session came back");
  Client a = spawn(2, "a");
  send_fd(a.sock, session, "session");
  ::close(session);
  int none = -1;
  check(recv_fd(a.sock, &none) == "ok", "client a retrieved its memfd");
  int status = 0;
  ::waitpid(a.pid, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client a exited cleanly");
  if (failures == 0)
    std::printf("broker: boot 2 PASS\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main() {
  const char* boot = std::getenv("LUO_SIM_BOOT");
  if (boot == nullptr || std::getenv("LUO_SIM_SOCKET") == nullptr) {
    std::fprintf(stderr, "broker_scenario: run me under luo-sim run --boots 2\n");
    return 2;
  }
  return std::atoi(boot) == 1 ? boot1() : boot2();
}
