#include "luo/model/kernel_model.hpp"

#include <algorithm>

namespace luo {
namespace {

// Moves `state` along the row the facts select and returns that row.
template <class State, class Event>
const Row<State, Event>& fire(const Machine<State, Event>& m, State& state, Event event,
                              KernelProfile profile, const Facts& facts) {
  const Row<State, Event>& row = select(m, state, event, profile, facts);
  state = row.to;
  return row;
}

Step step_of(const Outcome& o, Errno effective = Errno::ok) {
  Step s;
  s.outcome = o;
  switch (o.kind) {
    case OutcomeKind::failure:
      s.error = o.error;
      break;
    case OutcomeKind::handler_error:
      s.error = effective;
      break;
    case OutcomeKind::success:
    case OutcomeKind::blocks:
    case OutcomeKind::undefined:
      break;
  }
  return s;
}

bool is_live(OutgoingSessionState s) {
  return s == OutgoingSessionState::created || s == OutgoingSessionState::preserving ||
         s == OutgoingSessionState::frozen;
}

}  // namespace

ModelOutgoingSession* KernelModel::outgoing_by_id(SessionId s) {
  for (auto& o : outgoing_) {
    if (o.id == s)
      return &o;
  }
  return nullptr;
}
ModelIncomingSession* KernelModel::incoming_by_id(SessionId s) {
  if (s == kNoSession)
    return nullptr;
  for (auto& i : incoming_) {
    if (i.id == s)
      return &i;
  }
  return nullptr;
}
const ModelOutgoingSession* KernelModel::find_outgoing(SessionId s) const {
  return const_cast<KernelModel*>(this)->outgoing_by_id(s);
}
const ModelIncomingSession* KernelModel::find_incoming(SessionId s) const {
  return const_cast<KernelModel*>(this)->incoming_by_id(s);
}
std::string KernelModel::session_name(SessionId s) const {
  if (const auto* o = find_outgoing(s))
    return o->name;
  if (const auto* i = find_incoming(s))
    return i->name;
  return {};
}

bool KernelModel::is_registered(FileId f) const {
  for (const auto& o : outgoing_) {
    for (const auto& file : o.files) {
      if (file.file == f)
        return true;
    }
  }
  for (const auto& i : incoming_) {
    for (const auto& file : i.files) {
      if (file.retrieved == f && file.state == FileState::retrieved)
        return true;
    }
  }
  return false;
}

// A session fd that does not exist (closed, or from a previous boot) is a bad fd.
Step KernelModel::fail_no_session() const {
  return step_of(Outcome::fail(Errno::ebadf));
}

Step KernelModel::open_device(const Environment& env) {
  Facts f;
  f.set(Guard::no_free_fd, env.no_free_fd)
      .set(Guard::deserialization_fails, env.deserialization_fails);
  return step_of(fire(kDeviceMachine, device_, DeviceEvent::open, profile_, f).outcome);
}

Step KernelModel::release_device() {
  return step_of(fire(kDeviceMachine, device_, DeviceEvent::release, profile_, Facts{}).outcome);
}

Step KernelModel::create_session(const SessionNameField& name, const Environment& env) {
  const std::string stored = name.stored();
  const bool in_use = std::any_of(outgoing_.begin(), outgoing_.end(), [&](const auto& o) {
    return is_live(o.state) && o.name == stored;
  });
  Facts f;
  f.set(Guard::no_free_fd, env.no_free_fd)
      .set(Guard::name_invalid, !session_name_acceptable(profile_, name))
      .set(Guard::name_in_use, in_use)
      .set(Guard::session_limit_reached, outgoing_.size() >= kLegacyMaxOutgoingSessions)
      .set(Guard::out_of_memory, env.out_of_memory)
      .set(Guard::copy_back_fault, env.copy_back_fault);
  const auto& row = fire(kDeviceMachine, device_, DeviceEvent::create_session, profile_, f);
  Step step = step_of(row.outcome);
  if (row.outcome.ok()) {
    ModelOutgoingSession s;
    s.id = next_session_++;
    s.name = stored;
    s.state = kOutgoingSessionMachine.initial;
    outgoing_.push_back(std::move(s));
    step.session = outgoing_.back().id;
  }
  return step;
}

Step KernelModel::retrieve_session(const SessionNameField& name, const Environment& env) {
  // An unterminated field never equals a stored name: the kernel compares all 64 bytes.
  auto match = std::find_if(incoming_.begin(), incoming_.end(), [&](const auto& i) {
    return name.terminated() && i.name == name.stored();
  });
  Facts f;
  f.set(Guard::no_free_fd, env.no_free_fd).set(Guard::name_unknown, match == incoming_.end());
  const auto& device_row =
      fire(kDeviceMachine, device_, DeviceEvent::retrieve_session, profile_, f);
  if (!device_row.outcome.ok())
    return step_of(device_row.outcome);

  ModelIncomingSession& s = *match;
  const IncomingSessionState before = s.state;
  Facts sf;
  sf.set(Guard::copy_back_fault, env.copy_back_fault);
  const auto& row =
      fire(kIncomingSessionMachine, s.state, IncomingSessionEvent::retrieve_session, profile_, sf);
  Step step = step_of(row.outcome);
  if (before == IncomingSessionState::deserialized && s.state == IncomingSessionState::retrieved) {
    s.id = next_session_++;
    step.session = s.id;
    if (row.guard == Guard::copy_back_fault) {
      // The kernel releases the fd it could not report (§8): the implicit FINISH of close.
      release_session(s.id, env);
      step.session = kNoSession;
    }
  }
  return step;
}

Step KernelModel::preserve_fd(SessionId id, FileRef file, Token token, const Environment& env) {
  if (ModelIncomingSession* in = incoming_by_id(id)) {
    return step_of(
        fire(kIncomingSessionMachine, in->state, IncomingSessionEvent::preserve_fd, profile_, {})
            .outcome);
  }
  ModelOutgoingSession* s = outgoing_by_id(id);
  if (s == nullptr)
    return fail_no_session();
  const bool token_used = std::any_of(s->files.begin(), s->files.end(),
                                      [&](const ModelFile& m) { return m.token == token; });
  Facts f;
  f.set(Guard::token_in_use, token_used)
      .set(Guard::file_limit_reached, s->files.size() >= kLegacyMaxFilesPerSession)
      .set(Guard::out_of_memory, env.out_of_memory)
      .set(Guard::fd_invalid, file.kind == FileKind::invalid_fd)
      .set(Guard::fd_unsupported, file.kind == FileKind::unsupported)
      .set(Guard::file_already_preserved, is_registered(file.id))
      .set(Guard::handler_fails, env.handler_error.has_value())
      .set(Guard::copy_back_fault, env.copy_back_fault);
  const auto& row =
      fire(kOutgoingSessionMachine, s->state, OutgoingSessionEvent::preserve_fd, profile_, f);
  // The handler is called once every check before it passed, whether or not it fails.
  const bool handler_called =
      row.guard == Guard::handler_fails || row.guard == Guard::copy_back_fault || row.outcome.ok();
  if (handler_called)
    log_.push_back({HandlerOp::preserve, s->name, token});
  // A copy-back fault is reported to the caller, yet the file stays preserved (§3.1.8).
  if (row.outcome.ok() || row.guard == Guard::copy_back_fault) {
    s->files.push_back(ModelFile{token, file.id, kNoFile, kFileMachine.initial, Errno::ok});
  }
  return step_of(row.outcome, env.handler_error.value_or(Errno::ok));
}

Step KernelModel::retrieve_fd(SessionId id, Token token, const Environment& env) {
  if (ModelOutgoingSession* out = outgoing_by_id(id)) {
    const bool known = std::any_of(out->files.begin(), out->files.end(),
                                   [&](const ModelFile& m) { return m.token == token; });
    Facts f;
    f.set(Guard::no_free_fd, env.no_free_fd).set(Guard::token_unknown, !known);
    return step_of(
        fire(kOutgoingSessionMachine, out->state, OutgoingSessionEvent::retrieve_fd, profile_, f)
            .outcome);
  }
  ModelIncomingSession* s = incoming_by_id(id);
  if (s == nullptr)
    return fail_no_session();
  auto file = std::find_if(s->files.begin(), s->files.end(),
                           [&](const ModelFile& m) { return m.token == token; });
  Facts f;
  f.set(Guard::no_free_fd, env.no_free_fd).set(Guard::token_unknown, file == s->files.end());
  const auto& row =
      fire(kIncomingSessionMachine, s->state, IncomingSessionEvent::retrieve_fd, profile_, f);
  if (!row.outcome.ok())
    return step_of(row.outcome);

  const FileState before = file->state;
  Facts ff;
  ff.set(Guard::handler_fails, env.handler_error.has_value())
      .set(Guard::copy_back_fault, env.copy_back_fault);
  const auto& file_row = fire(kFileMachine, file->state, FileEvent::retrieve, profile_, ff);
  // Only a file not yet retrieved reaches the handler: success is cached, and so is a failure
  // where it is sticky.
  if (before == FileState::restorable)
    log_.push_back({HandlerOp::retrieve, s->name, token});
  if (before == FileState::restorable && file->state == FileState::retrieved) {
    file->retrieved = next_file_++;
  }
  if (before == FileState::restorable && file->state == FileState::retrieve_failed) {
    file->sticky_error = *env.handler_error;
  }
  const Errno effective = file->state == FileState::retrieve_failed
                              ? file->sticky_error
                              : env.handler_error.value_or(Errno::ok);
  Step step = step_of(file_row.outcome, effective);
  if (file_row.outcome.ok())
    step.file = file->retrieved;
  return step;
}

bool KernelModel::can_finish_all(ModelIncomingSession& s, const Environment& env) {
  for (const auto& file : s.files) {
    log_.push_back({HandlerOp::can_finish, s.name, file.token});
    if (env.can_finish_vetoes)
      return false;
  }
  return true;
}

void KernelModel::finish_files(ModelIncomingSession& s) {
  for (auto it = s.files.rbegin(); it != s.files.rend(); ++it) {
    const FileState before = it->state;
    fire(kFileMachine, it->state, FileEvent::finish, profile_, Facts{});
    if (before == FileState::finished || before == FileState::discarded)
      continue;
    log_.push_back({it->state == FileState::finished ? HandlerOp::finish : HandlerOp::discard,
                    s.name, it->token});
  }
}

Step KernelModel::finish_session(SessionId id, std::uint32_t reserved, const Environment& env) {
  if (ModelOutgoingSession* out = outgoing_by_id(id)) {
    return step_of(
        fire(kOutgoingSessionMachine, out->state, OutgoingSessionEvent::finish, profile_, {})
            .outcome);
  }
  ModelIncomingSession* s = incoming_by_id(id);
  if (s == nullptr)
    return fail_no_session();
  const bool retrieved = s->state == IncomingSessionState::retrieved;
  // can_finish runs only in a session that still has files, and only past the reserved check.
  bool vetoed = false;
  if (retrieved && !(reserved != 0 && profile_has(profile_, Feature::finish_reserved_checked))) {
    vetoed = !can_finish_all(*s, env);
  }
  Facts f;
  f.set(Guard::reserved_nonzero, reserved != 0)
      .set(Guard::can_finish_vetoes, vetoed)
      .set(Guard::copy_back_fault, env.copy_back_fault);
  const auto& row =
      fire(kIncomingSessionMachine, s->state, IncomingSessionEvent::finish, profile_, f);
  if (retrieved && s->state == IncomingSessionState::finished)
    finish_files(*s);
  return step_of(row.outcome);
}

Step KernelModel::get_session_name(SessionId id, std::uint32_t reserved) {
  Facts f;
  f.set(Guard::reserved_nonzero, reserved != 0);
  if (ModelOutgoingSession* out = outgoing_by_id(id)) {
    return step_of(
        fire(kOutgoingSessionMachine, out->state, OutgoingSessionEvent::get_name, profile_, f)
            .outcome);
  }
  if (ModelIncomingSession* in = incoming_by_id(id)) {
    return step_of(
        fire(kIncomingSessionMachine, in->state, IncomingSessionEvent::get_name, profile_, f)
            .outcome);
  }
  return fail_no_session();
}

void KernelModel::unpreserve_all(ModelOutgoingSession& s) {
  for (auto it = s.files.rbegin(); it != s.files.rend(); ++it) {
    fire(kFileMachine, it->state, FileEvent::unpreserve, profile_, Facts{});
    log_.push_back({HandlerOp::unpreserve, s.name, it->token});
  }
}

Step KernelModel::release_session(SessionId id, const Environment& env) {
  if (ModelOutgoingSession* out = outgoing_by_id(id)) {
    const auto& row =
        fire(kOutgoingSessionMachine, out->state, OutgoingSessionEvent::release, profile_, {});
    if (out->state == OutgoingSessionState::closed) {
      unpreserve_all(*out);
      outgoing_.erase(outgoing_.begin() + (out - outgoing_.data()));
    }
    return step_of(row.outcome);
  }
  ModelIncomingSession* s = incoming_by_id(id);
  if (s == nullptr)
    return fail_no_session();
  const bool retrieved = s->state == IncomingSessionState::retrieved;
  const bool vetoed = retrieved && !can_finish_all(*s, env);
  Facts f;
  f.set(Guard::can_finish_vetoes, vetoed);
  const auto& row =
      fire(kIncomingSessionMachine, s->state, IncomingSessionEvent::release, profile_, f);
  if (s->state == IncomingSessionState::leaked) {
    s->id = kNoSession;  // the fd is gone; the session lingers without one
  } else if (s->state == IncomingSessionState::gone) {
    if (retrieved)
      finish_files(*s);
    incoming_.erase(incoming_.begin() + (s - incoming_.data()));
  }
  return step_of(row.outcome);
}

Step KernelModel::kexec(const Environment& env) {
  // Freeze: sessions in creation order, files FIFO (§3.5).
  std::uint32_t nth = 0;
  for (std::size_t si = 0; si < outgoing_.size(); ++si) {
    ModelOutgoingSession& s = outgoing_[si];
    for (std::size_t fi = 0; fi < s.files.size(); ++fi) {
      const bool fails = env.freeze_failure && env.freeze_failure->nth_file == nth++;
      Facts f;
      f.set(Guard::freeze_fails, fails);
      fire(kFileMachine, s.files[fi].state, FileEvent::freeze, profile_, f);
      log_.push_back({HandlerOp::freeze, s.name, s.files[fi].token});
      if (!fails)
        continue;
      // Roll back: this session's frozen files FIFO, then earlier sessions newest first,
      // each FIFO (§2.3, §3.5). Every session is usable again and reboot() fails.
      const auto unfreeze = [&](ModelOutgoingSession& session, std::size_t count) {
        for (std::size_t k = 0; k < count; ++k) {
          fire(kFileMachine, session.files[k].state, FileEvent::unfreeze, profile_, Facts{});
          log_.push_back({HandlerOp::unfreeze, session.name, session.files[k].token});
        }
      };
      unfreeze(s, fi);
      Facts failed;
      failed.set(Guard::freeze_fails, true);
      const auto& row =
          fire(kOutgoingSessionMachine, s.state, OutgoingSessionEvent::freeze, profile_, failed);
      for (std::size_t back = si; back-- > 0;) {
        ModelOutgoingSession& earlier = outgoing_[back];
        unfreeze(earlier, earlier.files.size());
        Facts has;
        has.set(Guard::has_files, !earlier.files.empty());
        fire(kOutgoingSessionMachine, earlier.state, OutgoingSessionEvent::rollback, profile_, has);
      }
      return step_of(row.outcome, env.freeze_failure->error);
    }
    fire(kOutgoingSessionMachine, s.state, OutgoingSessionEvent::freeze, profile_, Facts{});
  }

  // The jump. Incoming sessions of this boot are not carried over (§2.7).
  for (auto& in : incoming_) {
    fire(kIncomingSessionMachine, in.state, IncomingSessionEvent::reboot, profile_, Facts{});
    for (auto& file : in.files) {
      if (!kFileMachine.is_terminal(file.state)) {
        fire(kFileMachine, file.state, FileEvent::reboot, profile_, Facts{});
      }
    }
  }
  std::vector<ModelIncomingSession> next;
  next.reserve(outgoing_.size());
  for (auto& out : outgoing_) {
    fire(kOutgoingSessionMachine, out.state, OutgoingSessionEvent::reboot, profile_, Facts{});
    ModelIncomingSession in;
    in.name = out.name;
    in.state = kIncomingSessionMachine.initial;
    for (auto& file : out.files) {
      fire(kFileMachine, file.state, FileEvent::reboot, profile_, Facts{});
      in.files.push_back(ModelFile{file.token, file.file, kNoFile, file.state, Errno::ok});
    }
    next.push_back(std::move(in));
  }
  incoming_ = std::move(next);
  outgoing_.clear();
  device_ = kDeviceMachine.initial;
  ++boot_number_;
  return step_of(Outcome::success());
}

}  // namespace luo
