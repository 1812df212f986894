// luo_sim.cpp: the luo-sim machine: one SimulatedKernel served to the processes of each boot,
// boots started and ended the way a kexec ends them. See luo_sim.hpp for the lifecycle and
// protocol.hpp for the messages.
//
// The server is single-threaded: one request at a time, like a kernel under one big lock, which
// is all SimulatedKernel supports. It runs in the luo-sim process, the parent (child subreaper)
// of every process of the run, which is what lets it read and write their memory
// (process_vm_readv/writev) and take their fds (pidfd_getfd) under the usual ptrace rules.
#include "luo_sim.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

#include "luo/impl/fd_io.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/errno.hpp"
#include "protocol.hpp"

namespace luo::simtool {
namespace {

constexpr int kInternalError = 125;

struct StepName {
  SimFault step;
  std::string_view name;
};
constexpr StepName kSteps[] = {
    {SimFault::deserialize, "deserialize"},
    {SimFault::preserve_handler, "preserve_handler"},
    {SimFault::preserve_copy_back, "preserve_copy_back"},
    {SimFault::freeze, "freeze"},
    {SimFault::retrieve_handler, "retrieve_handler"},
    {SimFault::can_finish, "can_finish"},
    {SimFault::reserve_session_fd, "reserve_session_fd"},
};

// The errno a step gives when --fault names none: the kernel's own where it has one.
int default_error(SimFault step) {
  switch (step) {
    case SimFault::deserialize:
      return EIO;
    case SimFault::can_finish:
      return EBUSY;
    case SimFault::reserve_session_fd:
      return EMFILE;
    case SimFault::preserve_handler:
    case SimFault::preserve_copy_back:
    case SimFault::freeze:
    case SimFault::retrieve_handler:
      return ENOMEM;
  }
  return EIO;
}

std::string errno_text(int e) {
  if (auto known = errno_from_int(e))
    return std::string(errno_name(*known));
  return std::to_string(e);
}

// ---- processes ------------------------------------------------------------------------------

// Every descendant of this process, from /proc (daemons included: we are their subreaper).
std::set<pid_t> descendants() {
  std::map<pid_t, std::vector<pid_t>> children;
  if (DIR* proc = ::opendir("/proc")) {
    while (const dirent* e = ::readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0)
        continue;
      // A process may exit between readdir() and the read, which then fails with ESRCH: skip
      // it (an ifstream would throw from underflow(), which ended luo-sim once).
      const UniqueFd stat(
          ::open(("/proc/" + std::string(e->d_name) + "/stat").c_str(), O_RDONLY | O_CLOEXEC));
      if (!stat)
        continue;
      auto read = fd_io::read_stream(stat.get(), 4096);
      if (!read.ok())
        continue;
      const std::string& text = read.value();
      const auto close_paren = text.rfind(')');  // the command name may contain anything
      if (close_paren == std::string::npos)
        continue;
      std::istringstream rest(text.substr(close_paren + 1));
      std::string state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      children[ppid].push_back(pid);
    }
    ::closedir(proc);
  }
  std::set<pid_t> out;
  std::vector<pid_t> todo{::getpid()};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    for (pid_t c : children[p]) {
      if (out.insert(c).second)
        todo.push_back(c);
    }
  }
  return out;
}

// What a kexec does to userspace: every process of the boot is gone.
void kill_boot() {
  for (;;) {
    const auto alive = descendants();
    if (alive.empty())
      return;
    for (pid_t p : alive)
      ::kill(p, SIGKILL);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    ::usleep(1000);
  }
}

std::string preload_path(const RunOptions& options) {
  if (!options.preload.empty())
    return options.preload;
  if (const char* env = std::getenv("LUO_SIM_PRELOAD"))
    return env;
  char exe[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string dir = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string();
  dir = dir.substr(0, dir.rfind('/') + 1);
  return dir + "libluo-sim-preload.so";
}

// ---- the server -----------------------------------------------------------------------------

// The client process of one connection, as SimulatedKernel sees its caller.
class RemoteCaller final : public SimulatedCaller {
 public:
  RemoteCaller(pid_t pid, int pidfd, int slot) : pid_(pid), pidfd_(pidfd), slot_(slot) {}
  int pid() const override { return pid_; }
  SysResult<UniqueFd> get_fd(int user_fd) override {
    const long fd = ::syscall(SYS_pidfd_getfd, pidfd_, user_fd, 0);
    if (fd < 0)
      return SysResult<UniqueFd>::failure(errno);
    return UniqueFd(static_cast<int>(fd));
  }
  int fd_slot() const override { return slot_; }
  void install_fd(UniqueFd fd) override { installed_ = std::move(fd); }
  UniqueFd& installed() { return installed_; }

 private:
  pid_t pid_;
  int pidfd_;
  int slot_;
  UniqueFd installed_;
};

struct Connection {
  UniqueFd sock;
  pid_t pid = 0;
  uid_t uid = 0;
  UniqueFd pidfd;
};

enum class BootEnd : std::uint8_t { none, kexec, power_off };

class Machine {
 public:
  explicit Machine(const RunOptions& options) : options_(options), kernel_(options.profile) {}

  bool listen(std::string& why) {
    char dir_template[] = "/tmp/luo-sim-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      why = std::string("mkdtemp: ") + std::strerror(errno);
      return false;
    }
    dir_ = dir_template;
    path_ = dir_ + "/kernel.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (!listener_ ||
        ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.get(), 64) != 0) {
      why = "listen on " + path_ + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }

  ~Machine() {
    if (!path_.empty())
      ::unlink(path_.c_str());
    if (!dir_.empty())
      ::rmdir(dir_.c_str());
  }

  int run() {
    const std::string preload = preload_path(options_);
    if (::access(preload.c_str(), R_OK) != 0) {
      std::fprintf(stderr, "luo-sim: no preload library at %s\n", preload.c_str());
      return kInternalError;
    }
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    rlimit original{};
    ::getrlimit(RLIMIT_NOFILE, &original);
    // The simulator holds a reference per preserved file and two fds per session.
    rlimit raised = original;
    raised.rlim_cur = raised.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);

    int status = 0;
    for (int boot = 1; boot <= options_.boots; ++boot) {
      for (const FaultSpec& f : options_.faults) {
        if (f.boot == boot)
          kernel_.inject(f.step, f.error, f.skip);
      }
      image_loaded_ = false;
      const pid_t main = spawn(boot, preload, original);
      if (main < 0)
        return kInternalError;
      if (options_.verbose)
        std::fprintf(stderr, "luo-sim: boot %d (liveupdate number %llu)\n", boot,
                     static_cast<unsigned long long>(kernel_.boot_number()));
      const auto [end, main_status] = serve(main);
      if (status == 0 && main_status != 0)
        status = main_status;
      if (end == BootEnd::power_off)
        break;
      if (end == BootEnd::none && boot < options_.boots) {
        // PROGRAM exited with boots left: kexec as the VM's /init would.
        if (const auto r = kernel_.kexec(); !r.ok()) {
          std::fprintf(stderr, "luo-sim: the kexec after boot %d failed: %s\n", boot,
                       errno_text(r.raw_errno()).c_str());
          kill_boot();
          return status != 0 ? status : kInternalError;
        }
      }
      if (options_.verbose && boot < options_.boots)
        std::fprintf(stderr, "luo-sim: kexec after boot %d\n", boot);
      kill_boot();
      connections_.clear();
      kernel_.clear_faults();
    }
    if (options_.verbose)
      report_usage();
    return status;
  }

 private:
  // The server's own cost, to add to the client's when judging the per-ioctl budget.
  void report_usage() const {
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    const double cpu_us = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) * 1e6 +
                          static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec);
    std::fprintf(stderr,
                 "luo-sim: %llu requests, server CPU %.0f us (%.2f us per request), peak RSS "
                 "%ld KiB\n",
                 static_cast<unsigned long long>(requests_), cpu_us,
                 requests_ > 0 ? cpu_us / static_cast<double>(requests_) : 0.0, self.ru_maxrss);
  }

  pid_t spawn(int boot, const std::string& preload, const rlimit& limit) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("luo-sim: fork");
      return -1;
    }
    if (pid > 0)
      return pid;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    std::string preload_env = preload;
    if (const char* existing = std::getenv("LD_PRELOAD"); existing && *existing)
      preload_env += std::string(":") + existing;
    ::setenv("LD_PRELOAD", preload_env.c_str(), 1);
    // A sanitized PROGRAM would refuse to start with the shim loaded ahead of its ASan runtime.
    std::string asan = "verify_asan_link_order=0";
    if (const char* existing = std::getenv("ASAN_OPTIONS"); existing && *existing)
      asan = std::string(existing) + ":" + asan;
    ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
    ::setenv(kSocketEnv, path_.c_str(), 1);
    ::setenv(kBootEnv, std::to_string(boot).c_str(), 1);
    ::setenv(kServerPidEnv, std::to_string(::getppid()).c_str(), 1);
    ::setenv(kProfileEnv, std::string(profile_name(options_.profile)).c_str(), 1);
    if (!cmdline_.empty())
      ::setenv(kCmdlineEnv, cmdline_.c_str(), 1);
    std::vector<char*> argv;
    for (const std::string& a : options_.argv)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "luo-sim: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }

  // Serves requests until the boot ends: a kexec, a power-off, or PROGRAM's exit. PROGRAM's
  // exit is seen through a pidfd in the poll set, so a request costs no extra waitpid().
  std::pair<BootEnd, int> serve(pid_t main) {
    UniqueFd main_fd(static_cast<int>(::syscall(SYS_pidfd_open, main, 0)));
    for (;;) {
      std::vector<pollfd> fds;
      fds.push_back({listener_.get(), POLLIN, 0});
      fds.push_back({main_fd.get(), POLLIN, 0});
      for (const auto& [fd, c] : connections_)
        fds.push_back({fd, POLLIN, 0});
      const int n = ::poll(fds.data(), fds.size(), 1000);
      if (n > 0) {
        if ((fds[0].revents & POLLIN) != 0)
          accept_one();
        for (std::size_t i = 2; i < fds.size(); ++i) {
          if (fds[i].revents == 0)
            continue;
          const BootEnd end = handle(fds[i].fd);
          if (end != BootEnd::none)
            return {end, 0};
        }
      }
      if (n > 0 && fds[1].revents == 0)
        continue;
      // PROGRAM exited (or a quiet second passed): reap whoever is done, zombies of the
      // boot's other processes included.
      int wstatus = 0;
      for (pid_t done; (done = ::waitpid(-1, &wstatus, WNOHANG)) > 0;) {
        if (done != main)
          continue;
        const int st = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        // Requests already sent before PROGRAM exited still count.
        drain();
        return {BootEnd::none, st};
      }
    }
  }

  void drain() {
    for (bool any = true; any;) {
      any = false;
      std::vector<pollfd> fds;
      for (const auto& [fd, c] : connections_)
        fds.push_back({fd, POLLIN, 0});
      if (fds.empty() || ::poll(fds.data(), fds.size(), 0) <= 0)
        return;
      for (const pollfd& p : fds) {
        if ((p.revents & POLLIN) != 0 && connections_.count(p.fd) != 0) {
          handle(p.fd);
          any = true;
        }
      }
    }
  }

  void accept_one() {
    UniqueFd sock(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!sock)
      return;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
      return;
    Connection c;
    c.pid = cred.pid;
    c.uid = cred.uid;
    c.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, cred.pid, 0)));
    if (!c.pidfd)
      return;  // gone already
    c.sock = std::move(sock);
    const int key = c.sock.get();
    connections_.emplace(key, std::move(c));
  }

  BootEnd handle(int sock) {
    Connection& c = connections_.at(sock);
    Request req;
    int raw_fd = -1;
    if (recv_with_fd(sock, &req, sizeof req, &raw_fd) != 0) {
      connections_.erase(sock);
      return BootEnd::none;
    }
    UniqueFd fd(raw_fd);
    ++requests_;
    Reply reply;
    UniqueFd out;
    const auto fail = [&reply](int e) {
      reply.result = -1;
      reply.error = e;
    };
    const bool privileged = c.uid == 0 || options_.any_user;
    switch (req.op) {
      case Op::open_device:
        if (!privileged) {
          fail(EACCES);  // the node is 0600 root:root (spec §1.2)
        } else if (auto r = kernel_.open_device(); r.ok()) {
          out = std::move(r.value());
        } else {
          fail(r.raw_errno());
        }
        break;
      case Op::ioctl: {
        if (!fd) {
          fail(EBADF);
          break;
        }
        RemoteCaller caller(c.pid, c.pidfd.get(), req.slot);
        try {
          auto r = kernel_.ioctl_for(caller, fd.get(), static_cast<unsigned long>(req.cmd),
                                     reinterpret_cast<void*>(static_cast<std::uintptr_t>(req.arg)));
          if (r.ok())
            reply.result = r.value();
          else
            fail(r.raw_errno());
        } catch (const std::system_error& e) {
          // The caller died mid-call, or its memory is out of our reach (ptrace rules).
          std::fprintf(stderr, "luo-sim: ioctl of pid %d: %s\n", static_cast<int>(c.pid), e.what());
          fail(EFAULT);
        }
        out = std::move(caller.installed());
        break;
      }
      case Op::link_text:
        if (auto text = fd ? kernel_.link_text(fd.get()) : std::nullopt) {
          std::snprintf(reply.text, sizeof reply.text, "%s", text->c_str());
        } else {
          fail(ENOENT);
        }
        break;
      case Op::kexec_load:
        if (!privileged) {
          fail(EPERM);  // CAP_SYS_BOOT
        } else {
          image_loaded_ = true;
          req.text[sizeof req.text - 1] = 0;
          cmdline_ = req.text;
        }
        break;
      case Op::kexec:
        if (!privileged) {
          fail(EPERM);
        } else if (!image_loaded_) {
          fail(EINVAL);  // no image loaded (spec §5.2)
        } else if (auto r = kernel_.kexec(); !r.ok()) {
          fail(r.raw_errno());  // the freeze failed and was rolled back: reboot() returns
        } else {
          return BootEnd::kexec;
        }
        break;
      case Op::power_off:
        return BootEnd::power_off;
      case Op::frozen:
        reply.result = fd && kernel_.mapping_frozen(fd.get()) ? 1 : 0;
        break;
    }
    if (send_with_fd(sock, &reply, sizeof reply, out.get()) != 0)
      connections_.erase(sock);
    return BootEnd::none;
  }

  const RunOptions& options_;
  SimulatedKernel kernel_;
  std::string dir_, path_;
  UniqueFd listener_;
  std::map<int, Connection> connections_;
  bool image_loaded_ = false;
  std::string cmdline_;
  std::uint64_t requests_ = 0;
};

}  // namespace

std::string_view fault_step_name(SimFault step) {
  for (const StepName& s : kSteps) {
    if (s.step == step)
      return s.name;
  }
  return "?";
}

std::optional<FaultSpec> parse_fault(std::string_view text, std::string& why) {
  FaultSpec spec;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    spec.boot = std::atoi(std::string(text.substr(0, colon)).c_str());
    if (spec.boot < 1) {
      why = "the boot before ':' must be 1 or more";
      return std::nullopt;
    }
    text.remove_prefix(colon + 1);
  }
  if (const auto plus = text.find('+'); plus != std::string_view::npos) {
    spec.skip = static_cast<unsigned>(std::atoi(std::string(text.substr(plus + 1)).c_str()));
    text = text.substr(0, plus);
  }
  std::string_view err_name;
  if (const auto eq = text.find('='); eq != std::string_view::npos) {
    err_name = text.substr(eq + 1);
    text = text.substr(0, eq);
  }
  bool found = false;
  for (const StepName& s : kSteps) {
    if (s.name == text) {
      spec.step = s.step;
      found = true;
    }
  }
  if (!found) {
    why = "unknown step '" + std::string(text) +
          "' (deserialize, preserve_handler, preserve_copy_back, freeze, retrieve_handler, "
          "can_finish, reserve_session_fd)";
    return std::nullopt;
  }
  spec.error = default_error(spec.step);
  if (!err_name.empty()) {
    const auto e = errno_from_name(err_name);
    if (!e) {
      why = "unknown errno '" + std::string(err_name) + "'";
      return std::nullopt;
    }
    spec.error = errno_value(*e);
  }
  return spec;
}

int run(const RunOptions& options) {
  if (options.argv.empty() || options.boots < 1)
    return kInternalError;
  Machine machine(options);
  std::string why;
  if (!machine.listen(why)) {
    std::fprintf(stderr, "luo-sim: %s\n", why.c_str());
    return kInternalError;
  }
  return machine.run();
}

}  // namespace luo::simtool
