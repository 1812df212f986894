// twin_kernel.hpp: runs every LUO operation twice, through impl/ over SimulatedKernel and
// through the model's KernelModel, and fails the test at the first step where they disagree.
//
// After each step it compares what the caller saw (0 or the errno), the kernel's state
// (sessions, tokens in order, per-file states, boot number), the file-handler call order, and
// checks every named invariant. The simulator never calls the model, so agreement here means two
// independent readings of the spec match. Tests still assert the spec's expected values
// themselves: agreement alone would not catch a mistake both readings share.
//
//   TwinKernel t(KernelProfile::v7_2);
//   t.open_device();
//   auto s = t.create("vm0");
//   auto f = t.memfd("data");
//   EXPECT_EQ(t.preserve(s, f, 0x1234), 0);
//   t.kexec();
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/live_update.hpp"
#include "luo/model/kernel_model.hpp"

namespace luo::testing {

// A fault injected into one operation, on both sides.
struct Fault {
  enum class Kind { none, handler, copy_back, freeze, can_finish, deserialize };
  Kind kind = Kind::none;
  int err = 0;
  unsigned nth = 0;  // for freeze: which file, counted in freeze order

  static Fault handler(int e) { return {Kind::handler, e, 0}; }
  static Fault copy_back() { return {Kind::copy_back, EFAULT, 0}; }
  static Fault freeze(unsigned nth_file, int e) { return {Kind::freeze, e, nth_file}; }
  static Fault can_finish() { return {Kind::can_finish, EBUSY, 0}; }
  static Fault deserialize() { return {Kind::deserialize, EIO, 0}; }
};

class TwinKernel {
 public:
  using SessionHandle = std::size_t;
  using FileHandle = std::size_t;

  explicit TwinKernel(KernelProfile profile);
  ~TwinKernel();

  // Results are compared at every step; the whole state, the handler log and the invariants
  // every `n` steps, at every kexec and at the end. Bulk loops raise it to stay linear.
  void set_full_check_interval(unsigned n) { full_check_interval_ = n == 0 ? 1 : n; }

  KernelProfile profile() const { return model_.profile(); }
  const KernelModel& model() const { return model_; }
  SimulatedKernel& simulator() { return sim_; }

  // Each returns 0 or the errno the caller saw, after checking both sides agree.
  int open_device(Fault fault = {});
  void close_device();
  int create(const SessionNameField& name, SessionHandle* out = nullptr);
  SessionHandle create(std::string_view name);  // must succeed
  int retrieve_session(const SessionNameField& name, SessionHandle* out = nullptr,
                       Fault fault = {});
  SessionHandle retrieve_session(std::string_view name);  // must succeed
  int preserve(SessionHandle s, FileHandle f, Token token, Fault fault = {});
  int preserve_unsupported(SessionHandle s, Token token);  // /dev/null
  int retrieve_fd(SessionHandle s, Token token, FileHandle* out = nullptr, Fault fault = {});
  int finish(SessionHandle s, std::uint32_t reserved = 0, Fault fault = {});
  int get_name(SessionHandle s, std::string* name = nullptr, std::uint32_t reserved = 0);
  void close(SessionHandle s);
  int kexec(Fault fault = {});

  // A memfd the test owns, with `data` written at offset 0.
  FileHandle memfd(std::string_view data);
  // The caller's fd for a memfd may be closed after PRESERVE_FD (LUO holds a reference).
  void close_file(FileHandle f);
  int fd_of(FileHandle f) const;
  std::string contents(FileHandle f) const;

 private:
  struct Session {
    std::optional<OutgoingSession> out;
    std::optional<IncomingSession> in;
    SessionId id = kNoSession;
  };
  struct File {
    UniqueFd fd;
    FileId id = kNoFile;
  };

  void inject(const Fault& f);
  Environment environment(const Fault& f) const;
  // Compares the caller-visible results of one step and then the whole state.
  void agree(std::string_view what, int impl_result, const Step& model_step);
  void compare_state();

  KernelModel model_;
  SimulatedKernel sim_;
  IoctlPort port_;
  LiveUpdate lu_;
  std::optional<Device> device_;
  std::vector<Session> sessions_;
  std::vector<File> files_;
  unsigned full_check_interval_ = 1;
  unsigned steps_since_full_check_ = 0;
};

// The errno an impl Result carries, 0 on success; fails the test on a model/kernel disagreement.
template <class T>
int result_errno(const Result<T>& r) {
  if (r.ok())
    return 0;
  EXPECT_NE(r.error().origin(), ErrorOrigin::disagreement) << r.error().message();
  return r.error().raw_errno();
}

}  // namespace luo::testing
