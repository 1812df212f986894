// simulated_kernel_ioctl.cpp: the raw ioctl interface of SimulatedKernel as a differential
// target. The input is a program: byte 0 picks the kernel profile, then each operation is an
// opcode and its operands (open/close the device, create a memfd, any of the six commands on
// any fd with any declared size, tail, reserved word, token or name, a raw command number, a
// NULL or faulting argument, close a session or a file, kexec).
//
// The oracle is the model (model/kernel_model.hpp), which the simulator never calls:
// - A well-formed call (a LUO command on a current device or session fd, a readable argument,
//   size >= the struct, any extra bytes zero) must give the errno the model's tables give for
//   that profile, and leave both kernels in the same state (rendered by tests/support/
//   kernel_text.hpp, with the file-handler call order and the model's invariants).
//   A call the model calls "blocks" or "undefined" for the profile is not issued.
// - Any other call (wrong size, non-zero tail, unknown command, wrong fd, bad pointer) must be
//   refused with a dispatch errno (EINVAL, E2BIG, EFAULT, ENOTTY, EBADF) and change nothing.
// - Afterwards every fd the run opened is closed again: the simulator leaks none.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "kernel_text.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/adapters/uapi.hpp"
#include "luo/model/invariants.hpp"
#include "luo/model/kernel_model.hpp"

namespace {

using luo::fuzz::Bytes;
using luo::fuzz::check;
using luo::fuzz::fail;
namespace uapi = luo::uapi;

constexpr std::size_t kMaxHandles = 12;
constexpr std::size_t kPage = 4096;

// Two pages, the second PROT_NONE: an argument placed to end at the boundary faults on any read
// past its end, so a declared size beyond the buffer gives a deterministic EFAULT.
struct GuardedBuffer {
  std::uint8_t* base = nullptr;
  GuardedBuffer() {
    void* p =
        ::mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap");
    base = static_cast<std::uint8_t*>(p);
    check(::mprotect(base + kPage, kPage, PROT_NONE) == 0, "mprotect");
  }
  // `len` bytes ending at the guard page.
  std::uint8_t* at_end(std::size_t len) { return base + kPage - len; }
};

GuardedBuffer& guarded() {
  static GuardedBuffer b;
  return b;
}

bool comparable(const luo::Step& s) {
  return s.outcome.kind == luo::OutcomeKind::success ||
         s.outcome.kind == luo::OutcomeKind::failure ||
         s.outcome.kind == luo::OutcomeKind::handler_error;
}

int expected_errno(const luo::Step& s) {
  return s.ok() ? 0 : luo::errno_value(s.error);
}

class Harness {
 public:
  explicit Harness(luo::KernelProfile p) : model_(p), sim_(p) {
    null_.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    null_id_ = model_.new_unsupported_file();
    last_sim_ = luo::testing::render_simulator(sim_.snapshot());
  }

  void run(Bytes& in) {
    while (!in.empty()) {
      const std::uint8_t op = in.u8();
      switch (op % 10) {
        case 0:
          open_device();
          break;
        case 1:
          close_device();
          break;
        case 2:
          new_memfd(in);
          break;
        case 3:
          close_file(in.u8());
          break;
        case 4:
          close_session(in.u8());
          break;
        case 5:
          kexec();
          break;
        default:
          ioctl(in, op);
          break;
      }
      compare("after opcode " + std::to_string(op));
    }
  }

 private:
  struct Session {
    luo::UniqueFd fd;
    luo::SessionId id = luo::kNoSession;
    std::uint64_t boot = 0;
  };
  struct File {
    luo::UniqueFd fd;
    luo::FileId id = luo::kNoFile;
  };

  // The simulator's state is rendered once per operation, not three times per refused ioctl:
  // the text compare() checks against the model is also the "before" of the next refused ioctl,
  // and a refused ioctl's "after" is what compare() then checks.
  void compare(const std::string& where) {
    std::string sim =
        fresh_sim_ ? std::move(last_sim_) : luo::testing::render_simulator(sim_.snapshot());
    fresh_sim_ = false;
    const std::string model = luo::testing::render_model(model_);
    if (sim != model)
      fail("simulator and model states differ " + where, "simulator:\n" + sim + "model:\n" + model);
    const std::string sim_log = luo::testing::render_log(sim_.handler_log());
    const std::string model_log = luo::testing::render_log(model_.handler_log());
    if (sim_log != model_log)
      fail("handler call order differs " + where,
           "simulator: " + sim_log + "\nmodel: " + model_log);
    const auto broken = luo::violated_invariants(model_);
    if (!broken.empty())
      fail("model invariant violated " + where, std::string(broken[0]));
    last_sim_ = std::move(sim);
  }

  void agree(const std::string& what, int got, const luo::Step& step) {
    const int want = expected_errno(step);
    if (got != want)
      fail(what + ": simulator and model disagree", "simulator " + luo::testing::errno_text(got) +
                                                        ", model " +
                                                        luo::testing::errno_text(want));
  }

  void open_device() {
    luo::KernelModel next = model_;
    const luo::Step step = next.open_device();
    if (!comparable(step))
      return;
    auto r = sim_.open_device();
    agree("open", r.ok() ? 0 : r.raw_errno(), step);
    model_ = std::move(next);
    if (r.ok()) {
      device_ = std::move(r).value();
      device_boot_ = sim_.boot_number();
    }
  }

  void close_device() {
    if (!device_)
      return;
    device_.reset();
    if (device_boot_ == sim_.boot_number()) {
      (void)model_.release_device();
      await_release();
    }
  }

  void new_memfd(Bytes& in) {
    if (files_.size() >= kMaxHandles)
      return;
    auto fd = luo::memfd::create("fuzz");
    check(fd.ok(), "memfd_create");
    check(luo::memfd::write_at(fd.value().get(), 0, in.take(in.u8() % 8)).ok(), "write");
    files_.push_back({std::move(fd).value(), model_.new_memfd()});
  }

  void close_file(std::uint8_t which) {
    if (!files_.empty())
      files_[which % files_.size()].fd.reset();
  }

  void close_session(std::uint8_t which) {
    if (sessions_.empty())
      return;
    Session& s = sessions_[which % sessions_.size()];
    if (!s.fd)
      return;
    s.fd.reset();
    if (s.boot == sim_.boot_number() &&
        (model_.find_outgoing(s.id) || model_.find_incoming(s.id))) {
      (void)model_.release_session(s.id);
      await_release();
    }
  }

  // The model releases a device or session at the close; a kernel (and the simulator) when the
  // file's last reference goes, which is the close only while no other task holds one. Another
  // process reading /proc/<pid>/fd holds one for a moment, and the release then happens in that
  // process just after close() returned (F10, docs/reliability.md: a campaign beside a /proc
  // reader). So wait, bounded, for the simulator to see it; compare() then judges. A release
  // that never comes (an fd of ours still open) still fails there, after the 2 s.
  void await_release() {
    constexpr int kPolls = 2000;  // 1 ms apart
    const std::string model = luo::testing::render_model(model_);
    for (int i = 0; i < kPolls; ++i) {
      std::string sim = luo::testing::render_simulator(sim_.snapshot());
      const bool caught_up = sim == model;
      last_sim_ = std::move(sim);
      fresh_sim_ = true;
      if (caught_up)
        return;
      ::usleep(1000);
    }
  }

  void kexec() {
    luo::KernelModel next = model_;
    const luo::Step step = next.kexec();
    if (!comparable(step))
      return;
    auto r = sim_.kexec();
    agree("kexec", r.ok() ? 0 : r.raw_errno(), step);
    model_ = std::move(next);
  }

  // The fd an ioctl goes to, or the file PRESERVE_FD names.
  struct Target {
    int fd = -1;
    enum class Kind { device, session, memfd, other, closed } kind = Kind::closed;
    bool current = false;  // device/session of this boot
    std::size_t index = 0;
  };

  Target pick(std::uint8_t sel) {
    const std::size_t n = 4 + sessions_.size() + files_.size();
    std::size_t i = sel % n;
    if (i == 0)
      return {device_.get(), device_ ? Target::Kind::device : Target::Kind::closed,
              device_ && device_boot_ == sim_.boot_number(), 0};
    if (i == 1)
      return {null_.get(), Target::Kind::other, false, 0};
    if (i == 2)
      return {-1, Target::Kind::closed, false, 0};
    if (i == 3)
      return {1000, Target::Kind::closed, false, 0};  // never open in the fuzzer
    i -= 4;
    if (i < sessions_.size()) {
      const Session& s = sessions_[i];
      return {s.fd.get(), s.fd ? Target::Kind::session : Target::Kind::closed,
              s.boot == sim_.boot_number(), i};
    }
    i -= sessions_.size();
    const File& f = files_[i];
    return {f.fd.get(), f.fd ? Target::Kind::memfd : Target::Kind::closed, false, i};
  }

  // One ioctl. Opcode bits choose the command; the operands the fd, size, tail and fields.
  void ioctl(Bytes& in, std::uint8_t op) {
    static const unsigned long kCmds[] = {uapi::kCreateSession, uapi::kRetrieveSession,
                                          uapi::kPreserveFd,    uapi::kRetrieveFd,
                                          uapi::kSessionFinish, uapi::kSessionGetName};
    const std::uint8_t c = in.u8();
    unsigned long cmd = kCmds[c % 6];
    if (c >= 0xF0)
      cmd = in.u32();  // anything at all, the type and nr bytes included
    (void)op;
    const Target target = pick(in.u8());
    std::size_t struct_size = 0;
    switch (cmd) {
      case uapi::kCreateSession:
        struct_size = sizeof(uapi::CreateSessionArg);
        break;
      case uapi::kRetrieveSession:
        struct_size = sizeof(uapi::RetrieveSessionArg);
        break;
      case uapi::kPreserveFd:
        struct_size = sizeof(uapi::PreserveFdArg);
        break;
      case uapi::kRetrieveFd:
        struct_size = sizeof(uapi::RetrieveFdArg);
        break;
      case uapi::kSessionFinish:
        struct_size = sizeof(uapi::SessionFinishArg);
        break;
      case uapi::kSessionGetName:
        struct_size = sizeof(uapi::SessionGetNameArg);
        break;
      default:
        struct_size = 72;
        break;
    }
    // The declared size and the buffer: exact, short, longer with a zero or non-zero tail, or
    // longer than the buffer (the read runs into the guard page).
    const std::uint8_t size_mode = in.u8();
    std::size_t buffer_len = struct_size;
    std::uint32_t declared = static_cast<std::uint32_t>(struct_size);
    bool tail_nonzero = false;
    bool faulting = false;
    switch (size_mode % 8) {
      case 0:
      case 1:
      case 2:
        break;
      case 3:
        declared = static_cast<std::uint32_t>(in.u8() % struct_size);
        break;
      case 4:
        buffer_len = struct_size + 1 + in.u8() % 64;
        declared = static_cast<std::uint32_t>(buffer_len);
        break;
      case 5:
        buffer_len = struct_size + 1 + in.u8() % 64;
        declared = static_cast<std::uint32_t>(buffer_len);
        tail_nonzero = true;
        break;
      case 6:
        declared = static_cast<std::uint32_t>(struct_size + 1 + in.u16());
        faulting = true;
        break;
      case 7:
        declared = in.u32();
        faulting = declared > struct_size;
        break;
    }
    std::uint8_t* buf = guarded().at_end(buffer_len);
    std::memset(buf, 0, buffer_len);
    if (tail_nonzero)
      buf[struct_size + in.u8() % (buffer_len - struct_size)] =
          static_cast<std::uint8_t>(1 | in.u8());
    std::memcpy(buf, &declared, sizeof declared);

    // Fields at their offsets (every struct has its second word at 4, the rest at 8).
    luo::SessionNameField name{};
    std::uint64_t token = 0;
    std::uint32_t reserved = 0;
    Target file{};
    switch (cmd) {
      case uapi::kCreateSession:
      case uapi::kRetrieveSession: {
        const std::string n = in.take(in.u8() % 72);
        std::memcpy(name.bytes.data(), n.data(), std::min(n.size(), name.bytes.size()));
        std::memcpy(buf + 8, name.bytes.data(), name.bytes.size());
        const std::int32_t junk_fd = static_cast<std::int32_t>(in.u8());
        std::memcpy(buf + 4, &junk_fd, sizeof junk_fd);  // an out field: ignored on input
        break;
      }
      case uapi::kPreserveFd: {
        file = pick(in.u8());
        const std::int32_t fd = file.fd;
        std::memcpy(buf + 4, &fd, sizeof fd);
        token = in.u8() < 0xF0 ? in.u8() % 4 : in.u64();
        std::memcpy(buf + 8, &token, sizeof token);
        break;
      }
      case uapi::kRetrieveFd:
        token = in.u8() < 0xF0 ? in.u8() % 4 : in.u64();
        std::memcpy(buf + 8, &token, sizeof token);
        break;
      case uapi::kSessionFinish:
      case uapi::kSessionGetName:
        reserved = in.u8() < 0xF0 ? 0 : in.u32();
        std::memcpy(buf + 4, &reserved, sizeof reserved);
        break;
      default:
        for (std::size_t i = 4; i < struct_size; ++i)
          buf[i] = in.u8();
        break;
    }
    void* arg = buf;
    const std::uint8_t ptr_mode = in.u8();
    bool bad_pointer = false;
    if (ptr_mode == 0xFF) {
      arg = nullptr;
      bad_pointer = true;
    } else if (ptr_mode == 0xFE) {
      arg = guarded().base + kPage;  // the guard page itself
      bad_pointer = true;
    }

    const bool device_cmd = cmd == uapi::kCreateSession || cmd == uapi::kRetrieveSession;
    const bool session_cmd = cmd == uapi::kPreserveFd || cmd == uapi::kRetrieveFd ||
                             cmd == uapi::kSessionFinish || cmd == uapi::kSessionGetName;
    const bool well_formed = !bad_pointer && !faulting && !tail_nonzero &&
                             declared >= struct_size && target.current &&
                             ((device_cmd && target.kind == Target::Kind::device) ||
                              (session_cmd && target.kind == Target::Kind::session));

    if (!well_formed) {
      raw_refused(target.fd, cmd, arg);
      return;
    }
    luo::KernelModel next = model_;
    luo::Step step;
    const luo::SessionId sid =
        target.kind == Target::Kind::session ? sessions_[target.index].id : luo::kNoSession;
    switch (cmd) {
      case uapi::kCreateSession:
        step = next.create_session(name);
        break;
      case uapi::kRetrieveSession:
        step = next.retrieve_session(name);
        break;
      case uapi::kPreserveFd: {
        luo::FileRef ref{luo::kNoFile, luo::FileKind::invalid_fd};
        switch (file.kind) {
          case Target::Kind::memfd:
            ref = {files_[file.index].id, luo::FileKind::memfd};
            break;
          case Target::Kind::other:
            ref = {null_id_, luo::FileKind::unsupported};
            break;
          case Target::Kind::device:
          case Target::Kind::session:
            // A socket in the simulator, an anon inode in the kernel: not shmem either way.
            ref = {null_id_, luo::FileKind::unsupported};
            break;
          case Target::Kind::closed:
            break;
        }
        step = next.preserve_fd(sid, ref, token);
        break;
      }
      case uapi::kRetrieveFd:
        step = next.retrieve_fd(sid, token);
        break;
      case uapi::kSessionFinish:
        step = next.finish_session(sid, reserved);
        break;
      case uapi::kSessionGetName:
        step = next.get_session_name(sid, reserved);
        break;
      default:
        fail("unreachable command");
    }
    if (!comparable(step))
      return;
    auto r = sim_.ioctl(target.fd, cmd, arg);
    const int got = r.ok() ? 0 : r.raw_errno();
    agree("ioctl " + std::to_string(cmd), got, step);
    model_ = std::move(next);
    if (!r.ok())
      return;
    std::int32_t out_fd = -1;
    std::memcpy(&out_fd, buf + 4, sizeof out_fd);
    switch (cmd) {
      case uapi::kCreateSession:
      case uapi::kRetrieveSession:
        check(out_fd >= 0, "a session without an fd");
        if (sessions_.size() < kMaxHandles)
          sessions_.push_back({luo::UniqueFd(out_fd), step.session, sim_.boot_number()});
        else
          close_new_session(out_fd, step.session);
        break;
      case uapi::kRetrieveFd:
        check(out_fd >= 0, "a retrieved file without an fd");
        if (files_.size() < kMaxHandles)
          files_.push_back({luo::UniqueFd(out_fd), step.file});
        else
          ::close(out_fd);
        break;
      case uapi::kSessionGetName: {
        // The name comes back NUL-terminated: what the model stored.
        const std::string got_name(reinterpret_cast<const char*>(buf + 8),
                                   ::strnlen(reinterpret_cast<const char*>(buf + 8), 64));
        check(got_name == model_.session_name(sid), "GET_NAME returns another name",
              got_name + " vs " + model_.session_name(sid));
        break;
      }
      default:
        break;
    }
  }

  void close_new_session(int fd, luo::SessionId id) {
    ::close(fd);
    (void)model_.release_session(id);
    await_release();
  }

  void raw_refused(int fd, unsigned long cmd, void* arg) {
    const std::size_t log_before = sim_.handler_log().size();
    auto r = sim_.ioctl(fd, cmd, arg);
    if (r.ok())
      fail("a malformed ioctl succeeded", "cmd " + std::to_string(cmd));
    const int e = r.raw_errno();
    check(e == EINVAL || e == E2BIG || e == EFAULT || e == ENOTTY || e == EBADF,
          "a malformed ioctl failed with a non-dispatch errno", luo::testing::errno_text(e));
    std::string after = luo::testing::render_simulator(sim_.snapshot());
    check(after == last_sim_, "a refused ioctl changed the kernel");
    last_sim_ = std::move(after);
    fresh_sim_ = true;
    check(sim_.handler_log().size() == log_before, "a refused ioctl called a handler");
  }

  luo::KernelModel model_;
  luo::SimulatedKernel sim_;
  luo::UniqueFd device_;
  std::uint64_t device_boot_ = 0;
  luo::UniqueFd null_;
  luo::FileId null_id_ = luo::kNoFile;
  std::vector<Session> sessions_;
  std::vector<File> files_;
  std::string last_sim_;    // the simulator's state as compare() last saw it
  bool fresh_sim_ = false;  // last_sim_ is already the current state
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)guarded();
  luo::fuzz::FdLeakGuard leaks;
  Bytes in(data, size);
  const luo::KernelProfile profile = luo::kAllProfiles[in.u8() % std::size(luo::kAllProfiles)];
  Harness h(profile);
  h.run(in);
  return 0;
}
