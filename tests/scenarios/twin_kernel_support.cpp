#include "twin_kernel.hpp"

#include <fcntl.h>

#include "kernel_text.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/model/invariants.hpp"

namespace luo::testing {

TwinKernel::TwinKernel(KernelProfile profile)
    : model_(profile), sim_(profile), port_(sim_), lu_(port_, profile) {}

Environment TwinKernel::environment(const Fault& f) const {
  Environment env;
  switch (f.kind) {
    case Fault::Kind::none:
      break;
    case Fault::Kind::handler:
      env.handler_error = errno_from_int(f.err);
      break;
    case Fault::Kind::copy_back:
      env.copy_back_fault = true;
      break;
    case Fault::Kind::freeze:
      env.freeze_failure = Environment::FreezeFailure{f.nth, *errno_from_int(f.err)};
      break;
    case Fault::Kind::can_finish:
      env.can_finish_vetoes = true;
      break;
    case Fault::Kind::deserialize:
      env.deserialization_fails = true;
      break;
  }
  return env;
}

void TwinKernel::agree(std::string_view what, int impl_result, const Step& step) {
  ASSERT_TRUE(step.outcome.kind == OutcomeKind::success ||
              step.outcome.kind == OutcomeKind::failure ||
              step.outcome.kind == OutcomeKind::handler_error)
      << what << ": the model says this call " << to_string(step.outcome)
      << "; a test must not issue it";
  const int expected = step.ok() ? 0 : errno_value(step.error);
  EXPECT_EQ(errno_text(impl_result), errno_text(expected))
      << what << ": impl over the simulator (left) and the model (right) disagree";
  if (++steps_since_full_check_ >= full_check_interval_ || what == "reboot(KEXEC)") {
    steps_since_full_check_ = 0;
    compare_state();
  }
}

TwinKernel::~TwinKernel() {
  compare_state();
}

void TwinKernel::compare_state() {
  EXPECT_EQ(render_simulator(sim_.snapshot()), render_model(model_))
      << "kernel state: simulator (left) vs model (right)";
  EXPECT_EQ(render_log(sim_.handler_log()), render_log(model_.handler_log()))
      << "file-handler call order: simulator (left) vs model (right)";
  const auto broken = violated_invariants(model_);
  EXPECT_TRUE(broken.empty()) << "invariant violated: " << (broken.empty() ? "" : broken[0]);
}

int TwinKernel::open_device(Fault fault) {
  if (fault.kind == Fault::Kind::deserialize)
    sim_.inject(SimFault::deserialize, EIO);
  auto r = lu_.open_device();
  const Step step = model_.open_device(environment(fault));
  const int e = result_errno(r);
  if (r.ok())
    device_.emplace(std::move(r).value());
  agree("open /dev/liveupdate", e, step);
  return e;
}

void TwinKernel::close_device() {
  device_.reset();
  const Step step = model_.release_device();
  agree("close /dev/liveupdate", 0, step);
}

int TwinKernel::create(const SessionNameField& name, SessionHandle* out) {
  EXPECT_TRUE(device_.has_value()) << "test bug: CREATE_SESSION without an open device";
  if (!device_)
    return EBADF;
  auto r = device_->create_session(name);
  const Step step = model_.create_session(name);
  const int e = result_errno(r);
  if (r.ok()) {
    sessions_.push_back(Session{std::move(r).value(), std::nullopt, step.session});
    if (out)
      *out = sessions_.size() - 1;
  }
  agree("CREATE_SESSION '" + name.stored() + "'", e, step);
  return e;
}

TwinKernel::SessionHandle TwinKernel::create(std::string_view name) {
  SessionHandle h = 0;
  EXPECT_EQ(create(SessionNameField::from(name), &h), 0) << "CREATE_SESSION " << name;
  return h;
}

int TwinKernel::retrieve_session(const SessionNameField& name, SessionHandle* out, Fault fault) {
  EXPECT_TRUE(device_.has_value()) << "test bug: RETRIEVE_SESSION without an open device";
  if (!device_)
    return EBADF;
  auto r = device_->retrieve_session(name);
  const Step step = model_.retrieve_session(name, environment(fault));
  const int e = result_errno(r);
  if (r.ok()) {
    sessions_.push_back(Session{std::nullopt, std::move(r).value(), step.session});
    if (out)
      *out = sessions_.size() - 1;
  }
  agree("RETRIEVE_SESSION '" + name.stored() + "'", e, step);
  return e;
}

TwinKernel::SessionHandle TwinKernel::retrieve_session(std::string_view name) {
  SessionHandle h = 0;
  EXPECT_EQ(retrieve_session(SessionNameField::from(name), &h), 0) << "RETRIEVE_SESSION " << name;
  return h;
}

int TwinKernel::preserve(SessionHandle s, FileHandle f, Token token, Fault fault) {
  Session& session = sessions_.at(s);
  EXPECT_TRUE(session.out.has_value()) << "test bug: PRESERVE_FD needs an outgoing session";
  if (fault.kind == Fault::Kind::handler)
    sim_.inject(SimFault::preserve_handler, fault.err);
  if (fault.kind == Fault::Kind::copy_back)
    sim_.inject(SimFault::preserve_copy_back, EFAULT);
  File& file = files_.at(f);
  auto r = session.out->preserve(file.fd.get(), token);
  const FileRef ref{file.id, file.fd ? FileKind::memfd : FileKind::invalid_fd};
  const Step step = model_.preserve_fd(session.id, ref, token, environment(fault));
  agree("PRESERVE_FD token " + std::to_string(token), result_errno(r), step);
  return result_errno(r);
}

int TwinKernel::preserve_unsupported(SessionHandle s, Token token) {
  Session& session = sessions_.at(s);
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  auto r = session.out->preserve(null.get(), token);
  const Step step = model_.preserve_fd(
      session.id, FileRef{model_.new_unsupported_file(), FileKind::unsupported}, token);
  agree("PRESERVE_FD /dev/null", result_errno(r), step);
  return result_errno(r);
}

int TwinKernel::retrieve_fd(SessionHandle s, Token token, FileHandle* out, Fault fault) {
  Session& session = sessions_.at(s);
  EXPECT_TRUE(session.in.has_value()) << "test bug: RETRIEVE_FD needs an incoming session";
  if (fault.kind == Fault::Kind::handler)
    sim_.inject(SimFault::retrieve_handler, fault.err);
  auto r = session.in->retrieve(token);
  const Step step = model_.retrieve_fd(session.id, token, environment(fault));
  const int e = result_errno(r);
  if (r.ok()) {
    files_.push_back(File{std::move(r).value(), step.file});
    if (out)
      *out = files_.size() - 1;
  }
  agree("RETRIEVE_FD token " + std::to_string(token), e, step);
  return e;
}

int TwinKernel::finish(SessionHandle s, std::uint32_t reserved, Fault fault) {
  Session& session = sessions_.at(s);
  EXPECT_TRUE(session.in.has_value()) << "test bug: FINISH needs an incoming session";
  if (fault.kind == Fault::Kind::can_finish)
    sim_.inject(SimFault::can_finish, EBUSY);
  auto r = session.in->finish(reserved);
  const Step step = model_.finish_session(session.id, reserved, environment(fault));
  agree("FINISH", result_errno(r), step);
  return result_errno(r);
}

int TwinKernel::get_name(SessionHandle s, std::string* name, std::uint32_t reserved) {
  Session& session = sessions_.at(s);
  auto r = session.out ? session.out->get_name(reserved) : session.in->get_name(reserved);
  const Step step = model_.get_session_name(session.id, reserved);
  if (r.ok() && name)
    *name = r.value();
  agree("GET_NAME", result_errno(r), step);
  return result_errno(r);
}

void TwinKernel::close(SessionHandle s) {
  Session& session = sessions_.at(s);
  const bool current = model_.find_outgoing(session.id) || model_.find_incoming(session.id);
  session.out.reset();
  session.in.reset();
  if (!current)
    return;  // a session of an earlier boot: nothing left in the kernel
  const Step step = model_.release_session(session.id);
  agree("close session", 0, step);
}

int TwinKernel::kexec(Fault fault) {
  if (fault.kind == Fault::Kind::freeze)
    sim_.inject(SimFault::freeze, fault.err, fault.nth);
  auto r = lu_.kexec();
  const Step step = model_.kexec(environment(fault));
  if (r.ok())
    device_.reset();  // the device of the old boot is gone with it
  agree("reboot(KEXEC)", result_errno(r), step);
  return result_errno(r);
}

TwinKernel::FileHandle TwinKernel::memfd(std::string_view data) {
  auto fd = memfd::create("twin");
  EXPECT_TRUE(fd.ok());
  EXPECT_TRUE(memfd::write_at(fd.value().get(), 0, data).ok());
  files_.push_back(File{std::move(fd).value(), model_.new_memfd()});
  return files_.size() - 1;
}

void TwinKernel::close_file(FileHandle f) {
  files_.at(f).fd.reset();
}
int TwinKernel::fd_of(FileHandle f) const {
  return files_.at(f).fd.get();
}

std::string TwinKernel::contents(FileHandle f) const {
  auto r = memfd::read_all(files_.at(f).fd.get());
  return r.ok() ? r.value() : "<read failed: " + errno_text(r.raw_errno()) + ">";
}

}  // namespace luo::testing
