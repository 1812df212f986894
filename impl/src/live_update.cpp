#include "luo/impl/live_update.hpp"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

// Deliberate bugs for the mutation report, compiled only into the test-only library copy
// luo_impl_mutants (tests/mutants/); the shipped library has no mutation point.
#ifdef LUO_TEST_MUTANTS
#include "luo/test/mutants.hpp"
#endif

namespace luo {
namespace detail {

// The object a call acts on, put into words only when an observer or an error needs them: most
// calls succeed, and a store set handed over through kexec makes tens of thousands of them.
struct ObjectName {
  std::string_view kind;
  std::string_view name;
  bool named = true;  // false for the device, which has no name of its own

  std::string text() const {
    return named ? std::string(kind) + " '" + std::string(name) + "'" : std::string(kind);
  }
};

struct Context {
  Context(KernelPort& p, KernelProfile prof, Observer* obs)
      : port(p), profile(prof), observer(obs) {}
  KernelPort& port;
  KernelProfile profile;
  Observer* observer;
  std::uint64_t boot = 0;
  DeviceState device = kDeviceMachine.initial;
  std::vector<std::weak_ptr<OutgoingCore>> outgoing;  // creation order
  std::vector<std::weak_ptr<IncomingCore>> incoming;
  std::vector<std::string> incoming_gone;  // names whose session this runtime closed this boot

  // Whether anyone is told of transitions: the names a report carries are looked up only then.
  bool observed() const { return observer != nullptr; }

  void report(std::string_view machine, const ObjectName& object, Operation op,
              std::string_view event, std::string_view from, std::string_view to, int result,
              bool issued, std::optional<Token> token = std::nullopt) const {
    if (!observed())
      return;
    observer->on_transition(
        TransitionRecord{boot, machine, object.text(), op, event, from, to, result, issued, token});
  }
};

// Values by token, for the tokens a session has reached. A session's tokens usually come in
// ascending order (Stage B preserves 1..N, a restore retrieves them so): those are appended to a
// sorted vector, with no node to allocate. A token below the last one appended (a caller's own
// order, or a hostile mapping listing its tokens backwards) goes to a map instead of being
// inserted into the vector, so no order of n tokens costs more than O(n log n).
template <class Value>
class TokenTable {
 public:
  const Value* find(Token token) const { return find_in(*this, token); }
  bool contains(Token token) const { return find(token) != nullptr; }
  std::size_t size() const { return ascending_.size() + out_of_order_.size(); }
  Value& operator[](Token token) {
    if (ascending_.empty() || ascending_.back().first < token)
      return ascending_.emplace_back(token, Value{}).second;
    if (Value* known = find_in(*this, token))
      return *known;
    return out_of_order_[token];
  }
  // Calls f(token, value) for every token, in token order.
  template <class F>
  void for_each(F&& f) {
    auto late = out_of_order_.begin();
    for (auto& [token, value] : ascending_) {
      for (; late != out_of_order_.end() && late->first < token; ++late)
        f(late->first, late->second);
      f(token, value);
    }
    for (; late != out_of_order_.end(); ++late)
      f(late->first, late->second);
  }

 private:
  using Item = std::pair<Token, Value>;
  // One lookup for the const and the mutable caller.
  template <class Self>
  static auto find_in(Self& self, Token token) -> decltype(&self.ascending_.front().second) {
    // Past the last appended token (the usual lookup) there is nothing to search.
    if (!self.ascending_.empty() && !(self.ascending_.back().first < token)) {
      const auto i = std::lower_bound(self.ascending_.begin(), self.ascending_.end(), token,
                                      [](const Item& item, Token t) { return item.first < t; });
      if (i->first == token)
        return &i->second;
    }
    const auto j = self.out_of_order_.find(token);
    return j == self.out_of_order_.end() ? nullptr : &j->second;
  }
  std::vector<Item> ascending_;
  std::map<Token, Value> out_of_order_;
};

// One call site's decisions remembered (DecisionMemo) with the refusal each implies: the checked
// PRESERVE_FD and RETRIEVE_FD of a handoff ask the same question once a fd.
template <class S, class E>
struct RememberedCheck {
  DecisionMemo<S, E> memo;
  std::optional<const Row<S, E>*> refused;
};

struct OutgoingCore {
  std::shared_ptr<Context> ctx;
  std::uint64_t boot = 0;
  UniqueFd fd;
  std::string name;
  OutgoingSessionState state = kOutgoingSessionMachine.initial;
  std::vector<Token> tokens;  // preservation order
  // The same tokens, so EEXIST is known before the call.
  struct Preserved {};
  TokenTable<Preserved> token_index;
  RememberedCheck<OutgoingSessionState, OutgoingSessionEvent> preserve_check;
};

struct IncomingCore {
  std::shared_ptr<Context> ctx;
  std::uint64_t boot = 0;
  UniqueFd fd;
  std::string name;
  IncomingSessionState state = kIncomingSessionMachine.initial;
  struct FileKnowledge {
    FileState state = FileState::restorable;
    int sticky_errno = 0;
  };
  // What the kernel said about each token reached (finish() reports the files in token order).
  using Files = TokenTable<FileKnowledge>;
  Files files;
  RememberedCheck<IncomingSessionState, IncomingSessionEvent> retrieve_check;
  RememberedCheck<FileState, FileEvent> file_retrieve_check;
};

}  // namespace detail

namespace {

using detail::Context;
using detail::ObjectName;

// The errno a refusal reports. Undefined and blocking calls are never issued; EINVAL says
// "not valid here" without pretending the kernel said so.
int refusal_errno(const Outcome& o, int sticky_errno) {
  switch (o.kind) {
    case OutcomeKind::failure:
      return errno_value(o.error);
    case OutcomeKind::handler_error:
      return sticky_errno;
    case OutcomeKind::blocks:
    case OutcomeKind::undefined:
    case OutcomeKind::success:
      return EINVAL;
  }
  return EINVAL;
}

std::string refusal_detail(const Outcome& o, Guard g) {
  switch (o.kind) {
    case OutcomeKind::blocks:
      return "the kernel would block forever here";
    case OutcomeKind::undefined:
      return "the kernel's behaviour is undefined here";
    case OutcomeKind::failure:
    case OutcomeKind::handler_error:
    case OutcomeKind::success:
      break;
  }
  return std::string(guard_description(g));
}

// Whether the model lets the call reach the kernel, and if not, why. A call is refused when it
// might block or do something undefined, or when no candidate row can succeed: the known
// failure that ends the decision is then the answer (an earlier unknown row, such as EMFILE,
// could only replace one failure by another).
template <class S, class E>
std::optional<const Row<S, E>*> refusal(const Decision<S, E>& d) {
  bool can_succeed = false;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto kind = d.candidate(i).outcome.kind;
    if (kind == OutcomeKind::undefined || kind == OutcomeKind::blocks)
      return &d.candidate(i);
    can_succeed = can_succeed || kind == OutcomeKind::success;
  }
  if (!can_succeed && d.size() > 0)
    return &d.candidate(d.size() - 1);
  return std::nullopt;
}

// Asks a call site's memo, and derives the refusal again only when the decision is new; the
// caller reads `check.refused` before the call and `check.memo.resolve()` after it.
template <class S, class E>
void decide_remembered(detail::RememberedCheck<S, E>& check, const Machine<S, E>& m, S state,
                       E event, KernelProfile profile, const Facts& facts) {
  const auto answer = check.memo.decide(m, state, event, profile, facts);
  if (answer.fresh)
    check.refused = refusal(answer.decision);
}

// Every method but fd()/close() on a moved-from object lands here instead of a null deref.
Error moved_from_error(Operation op) {
  return Error(op, ErrorOrigin::refused, EBADF, "", "moved-from", "the object was moved from");
}

Error stale_error(Operation op, std::string object) {
  return Error(op, ErrorOrigin::stale, EBADF, std::move(object), "", "kexec ended its boot");
}

// The three outcomes of a model-checked call, shared by every operation below.
struct Checked {
  Context& ctx;
  std::string_view machine;
  ObjectName object;
  Operation op;
  std::string_view event;
  std::optional<Token> token;

  template <class S, class E>
  Error refuse(const Row<S, E>& row, S state, int sticky_errno = 0) const {
    const int err = refusal_errno(row.outcome, sticky_errno);
    ctx.report(machine, object, op, event, state_name(state), state_name(state), err, false, token);
    return Error(op, ErrorOrigin::refused, err, object.text(), std::string(state_name(state)),
                 refusal_detail(row.outcome, row.guard));
  }

  // The object's own fd is closed (or it was moved from): there is nothing to call.
  Error refuse_closed(std::string_view state) const {
    ctx.report(machine, object, op, event, state, state, EBADF, false, token);
    return Error(op, ErrorOrigin::refused, EBADF, object.text(), std::string(state),
                 "this object's fd is closed");
  }

  template <class S>
  Error disagree(S state, int observed) const {
    ctx.report(machine, object, op, event, state_name(state), state_name(state), observed, true,
               token);
    return Error(op, ErrorOrigin::disagreement, observed, object.text(),
                 std::string(state_name(state)), "no transition of the model produces this result");
  }

  // Moves `state` along the row the kernel took and reports it.
  template <class S, class E>
  void take(const Row<S, E>& row, S& state, int observed) const {
    const S from = state;
    state = row.to;
    if (!ctx.observed())
      return;
    ctx.report(machine, object, op, event, state_name(from), state_name(state), observed, true,
               token);
  }

  template <class S>
  Error kernel_error(S state, int observed, const std::string& detail) const {
    return Error(op, ErrorOrigin::kernel, observed, object.text(), std::string(state_name(state)),
                 detail);
  }
};

template <class S, class E>
std::string detail_of(const Row<S, E>& row) {
  return std::string(guard_description(row.guard));
}

// GET_NAME is the same call on either kind of session; only the machine differs.
template <class Core, class S, class E>
Result<std::string> session_get_name(Core& s, const Machine<S, E>& m, E event,
                                     std::string_view kind, std::uint32_t reserved) {
  Context& ctx = *s.ctx;
  Checked c{ctx, m.name, ObjectName{kind, s.name}, Operation::get_session_name, event_name(event),
            {}};
  if (s.boot != ctx.boot)
    return stale_error(c.op, c.object.text());
  if (!s.fd)
    return c.refuse_closed(state_name(s.state));
  Facts facts;
  facts.set(Guard::reserved_nonzero, reserved != 0);
  const auto d = decide(m, s.state, event, ctx.profile, facts);
  if (auto why = refusal(d))
    return c.refuse(**why, s.state);
  auto r = ctx.port.get_session_name(s.fd.get());
  const auto* row = d.resolve(r.raw_errno());
  if (row == nullptr)
    return c.disagree(s.state, r.raw_errno());
  c.take(*row, s.state, r.raw_errno());
  if (!r.ok())
    return c.kernel_error(s.state, r.raw_errno(), detail_of(*row));
  return r.value().stored();
}

// Closes the session fd and takes the model's `release` transition; true if it was taken. An
// object of an earlier boot only closes its fd: its kernel session is long gone.
template <class Core, class S, class E>
bool session_release(Core& s, const Machine<S, E>& m, E event, std::string_view kind) {
  if (!s.fd)
    return false;
  s.fd.reset();
  if (s.boot != s.ctx->boot)
    return false;
  Checked c{*s.ctx, m.name, ObjectName{kind, s.name}, Operation::close_session, event_name(event),
            {}};
  c.take(select(m, s.state, event, s.ctx->profile, Facts{}), s.state, 0);
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LiveUpdate

LiveUpdate::LiveUpdate(KernelPort& port, KernelProfile profile, Observer* observer)
    : ctx_(std::make_shared<Context>(port, profile, observer)) {}

KernelProfile LiveUpdate::profile() const {
  return ctx_->profile;
}
std::uint64_t LiveUpdate::boot() const {
  return ctx_->boot;
}
DeviceState LiveUpdate::device_state() const {
  return ctx_->device;
}

Result<Device> LiveUpdate::open_device() {
  Context& ctx = *ctx_;
  Facts facts = Facts::all_unknown();
  Checked c{ctx,
            kDeviceMachine.name,
            ObjectName{"/dev/liveupdate", {}, false},
            Operation::open_device,
            "open",
            {}};
  const auto d = decide(kDeviceMachine, ctx.device, DeviceEvent::open, ctx.profile, facts);
  if (auto why = refusal(d))
    return c.refuse(**why, ctx.device);

  SysResult<UniqueFd> fd = ctx.port.open_device();
  const auto* row = d.resolve(fd.raw_errno());
  if (row == nullptr)
    return c.disagree(ctx.device, fd.raw_errno());
  c.take(*row, ctx.device, fd.raw_errno());
  if (!fd.ok())
    return c.kernel_error(ctx.device, fd.raw_errno(), detail_of(*row));
  return Device(ctx_, std::move(fd).value());
}

Status LiveUpdate::kexec() {
  Context& ctx = *ctx_;
  std::vector<std::shared_ptr<detail::OutgoingCore>> live;
  for (auto& weak : ctx.outgoing) {
    if (auto core = weak.lock(); core && core->boot == ctx.boot && core->fd) {
      live.push_back(std::move(core));
    }
  }
  const SysStatus r = ctx.port.kexec();
  if (!r.ok()) {
    // Every session rolled back to where it was (§2.3); nothing changed from our view.
    ctx.report("kexec", ObjectName{"reboot", {}, false}, Operation::kexec, "rollback", "", "",
               r.raw_errno(), true);
    return Error(Operation::kexec, ErrorOrigin::kernel, r.raw_errno(), "reboot", "",
                 "a file failed to freeze; every session rolled back and stays usable");
  }
  for (auto& core : live) {
    Checked c{ctx,
              kOutgoingSessionMachine.name,
              ObjectName{"outgoing session", core->name},
              Operation::kexec,
              "",
              {}};
    for (OutgoingSessionEvent e : {OutgoingSessionEvent::freeze, OutgoingSessionEvent::reboot}) {
      c.event = event_name(e);
      c.take(select(kOutgoingSessionMachine, core->state, e, ctx.profile, Facts{}), core->state, 0);
    }
  }
  for (auto& weak : ctx.incoming) {
    // A closed session is `gone` already: terminal, nothing left for the reboot to drop.
    if (auto core = weak.lock();
        core && core->boot == ctx.boot && !kIncomingSessionMachine.is_terminal(core->state)) {
      Checked c{ctx,
                kIncomingSessionMachine.name,
                ObjectName{"incoming session", core->name},
                Operation::kexec,
                event_name(IncomingSessionEvent::reboot),
                {}};
      c.take(select(kIncomingSessionMachine, core->state, IncomingSessionEvent::reboot, ctx.profile,
                    Facts{}),
             core->state, 0);
    }
  }
  ++ctx.boot;
  ctx.device = kDeviceMachine.initial;
  ctx.outgoing.clear();
  ctx.incoming.clear();
  ctx.incoming_gone.clear();
  return Done{};
}

// ---------------------------------------------------------------------------------------------
// Device

Device::Device(std::shared_ptr<Context> ctx, UniqueFd fd)
    : ctx_(std::move(ctx)), fd_(std::move(fd)), boot_(ctx_->boot) {}
Device::Device(Device&&) noexcept = default;
Device& Device::operator=(Device&& other) noexcept {
  if (this != &other) {
    close();
    ctx_ = std::move(other.ctx_);
    fd_ = std::move(other.fd_);
    boot_ = other.boot_;
  }
  return *this;
}
Device::~Device() {
  close();
}

void Device::close() {
  if (!fd_)
    return;
  fd_.reset();
  if (boot_ != ctx_->boot)
    return;  // the device of an earlier boot is long gone
  Checked c{*ctx_,
            kDeviceMachine.name,
            ObjectName{"/dev/liveupdate", {}, false},
            Operation::close_device,
            "release",
            {}};
  c.take(select(kDeviceMachine, ctx_->device, DeviceEvent::release, ctx_->profile, Facts{}),
         ctx_->device, 0);
}

Result<OutgoingSession> Device::create_session(std::string_view name) {
  return create_session(SessionNameField::from(name));
}

Result<OutgoingSession> Device::create_session(const SessionNameField& name) {
  Context& ctx = *ctx_;
  const std::string stored = name.stored();
  Checked c{ctx,
            kDeviceMachine.name,
            ObjectName{"session", stored},
            Operation::create_session,
            event_name(DeviceEvent::create_session),
            {}};
  if (boot_ != ctx.boot)
    return stale_error(c.op, c.object.text());
  if (!fd_)
    return c.refuse_closed("closed");
  std::size_t live = 0;
  bool taken = false;
  for (auto& weak : ctx.outgoing) {
    if (auto core = weak.lock(); core && core->fd && core->boot == ctx.boot) {
      ++live;
      taken = taken || core->name == stored;
    }
  }
  Facts facts = Facts::all_unknown();
  facts.set(Guard::name_invalid, !session_name_acceptable(ctx.profile, name))
      .set(Guard::name_in_use, taken ? Truth::yes : Truth::unknown)
      .set(Guard::session_limit_reached,
           live >= kLegacyMaxOutgoingSessions ? Truth::yes : Truth::unknown)
      .set(Guard::copy_back_fault, false);
  const auto d =
      decide(kDeviceMachine, ctx.device, DeviceEvent::create_session, ctx.profile, facts);
  if (auto why = refusal(d))
    return c.refuse(**why, ctx.device);

  SysResult<UniqueFd> fd = ctx.port.create_session(fd_.get(), name);
  const auto* row = d.resolve(fd.raw_errno());
  if (row == nullptr)
    return c.disagree(ctx.device, fd.raw_errno());
  c.take(*row, ctx.device, fd.raw_errno());
  if (!fd.ok())
    return c.kernel_error(ctx.device, fd.raw_errno(), detail_of(*row));

  auto core = std::make_shared<detail::OutgoingCore>();
  core->ctx = ctx_;
  core->boot = ctx.boot;
  core->fd = std::move(fd).value();
  core->name = stored;
  ctx.outgoing.push_back(core);
  ctx.report(kOutgoingSessionMachine.name, ObjectName{"outgoing session", stored},
             Operation::create_session, "create", "", state_name(core->state), 0, true);
  return OutgoingSession(std::move(core));
}

Result<IncomingSession> Device::retrieve_session(std::string_view name) {
  return retrieve_session(SessionNameField::from(name));
}

Result<IncomingSession> Device::retrieve_session(const SessionNameField& name) {
  Context& ctx = *ctx_;
  const std::string stored = name.stored();
  Checked c{ctx,
            kDeviceMachine.name,
            ObjectName{"incoming session", stored},
            Operation::retrieve_session,
            event_name(DeviceEvent::retrieve_session),
            {}};
  if (boot_ != ctx.boot)
    return stale_error(c.op, c.object.text());
  if (!fd_)
    return c.refuse_closed("closed");
  // What this runtime already did with that name decides some outcomes without the kernel. An
  // unterminated field names none of them: the kernel compares all 64 bytes, and a stored name
  // always ends within them, so only the kernel's ENOENT can answer it.
  IncomingSessionState known = IncomingSessionState::deserialized;
  bool known_gone =
      name.terminated() && std::find(ctx.incoming_gone.begin(), ctx.incoming_gone.end(), stored) !=
                               ctx.incoming_gone.end();
  for (auto& weak : ctx.incoming) {
    if (auto core = weak.lock();
        core && core->boot == ctx.boot && name.terminated() && core->name == stored) {
      known = core->state;
    }
  }
  Facts facts = Facts::all_unknown();
  facts.set(Guard::name_unknown, known_gone ? Truth::yes : Truth::unknown);
  const auto d =
      decide(kDeviceMachine, ctx.device, DeviceEvent::retrieve_session, ctx.profile, facts);
  if (auto why = refusal(d))
    return c.refuse(**why, ctx.device);

  Facts session_facts = Facts::all_unknown();
  session_facts.set(Guard::copy_back_fault, false).set(Guard::no_free_fd, false);
  const auto sd = decide(kIncomingSessionMachine, known, IncomingSessionEvent::retrieve_session,
                         ctx.profile, session_facts);
  Checked sc{ctx,
             kIncomingSessionMachine.name,
             c.object,
             c.op,
             event_name(IncomingSessionEvent::retrieve_session),
             {}};
  if (auto why = refusal(sd))
    return sc.refuse(**why, known);

  SysResult<UniqueFd> fd = ctx.port.retrieve_session(fd_.get(), name);
  const int observed = fd.raw_errno();
  if (const auto* row = d.resolve(observed); row != nullptr && row->guard != Guard::always) {
    c.take(*row, ctx.device, observed);
    return c.kernel_error(ctx.device, observed, detail_of(*row));
  }
  if (observed == 0)
    c.take(d.candidate(d.size() - 1), ctx.device, 0);  // reported like CREATE_SESSION's
  // Past the device's checks the session's own machine answers. A session another process
  // retrieved is in a state we did not see, so any non-gone state may explain an error.
  auto core = std::make_shared<detail::IncomingCore>();
  core->ctx = ctx_;
  core->boot = ctx.boot;
  core->name = stored;
  core->state = known;
  const auto* row = sd.resolve(observed);
  if (row == nullptr && observed != 0) {
    for (IncomingSessionState s : {IncomingSessionState::retrieved, IncomingSessionState::finished,
                                   IncomingSessionState::leaked}) {
      const auto alt = decide(kIncomingSessionMachine, s, IncomingSessionEvent::retrieve_session,
                              ctx.profile, session_facts);
      if ((row = alt.resolve(observed)) != nullptr) {
        core->state = s;
        break;
      }
    }
  }
  if (row == nullptr)
    return sc.disagree(core->state, observed);
  sc.take(*row, core->state, observed);
  if (!fd.ok())
    return sc.kernel_error(core->state, observed, detail_of(*row));
  core->fd = std::move(fd).value();
  ctx.incoming.push_back(core);
  return IncomingSession(std::move(core));
}

// ---------------------------------------------------------------------------------------------
// OutgoingSession

OutgoingSession::OutgoingSession(std::shared_ptr<detail::OutgoingCore> core)
    : core_(std::move(core)) {}
OutgoingSession::OutgoingSession(OutgoingSession&&) noexcept = default;
OutgoingSession& OutgoingSession::operator=(OutgoingSession&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
  }
  return *this;
}
OutgoingSession::~OutgoingSession() {
  close();
}

const std::string& OutgoingSession::name() const {
  return core_->name;
}
OutgoingSessionState OutgoingSession::state() const {
  return core_->state;
}
std::span<const Token> OutgoingSession::tokens() const {
  return core_->tokens;
}
int OutgoingSession::fd() const {
  return core_ ? core_->fd.get() : -1;
}

Status OutgoingSession::preserve(int fd, Token token) {
  if (!core_)
    return moved_from_error(Operation::preserve_fd);
  detail::OutgoingCore& s = *core_;
  Context& ctx = *s.ctx;
  Checked c{ctx,
            kOutgoingSessionMachine.name,
            ObjectName{"outgoing session", s.name},
            Operation::preserve_fd,
            event_name(OutgoingSessionEvent::preserve_fd),
            token};
  if (s.boot != ctx.boot)
    return stale_error(c.op, c.object.text());
  if (!s.fd)
    return c.refuse_closed(state_name(s.state));
  const bool token_used = s.token_index.contains(token);
  Facts facts = Facts::all_unknown();
  facts.set(Guard::token_in_use, token_used ? Truth::yes : Truth::unknown)
      .set(Guard::file_limit_reached,
           s.tokens.size() >= kLegacyMaxFilesPerSession ? Truth::yes : Truth::unknown);
  decide_remembered(s.preserve_check, kOutgoingSessionMachine, s.state,
                    OutgoingSessionEvent::preserve_fd, ctx.profile, facts);
  if (auto why = s.preserve_check.refused)
    return c.refuse(**why, s.state);

  const SysStatus r = ctx.port.preserve_fd(s.fd.get(), fd, token);
  const auto* row = s.preserve_check.memo.resolve(r.raw_errno());
  if (row == nullptr)
    return c.disagree(s.state, r.raw_errno());
  c.take(*row, s.state, r.raw_errno());
  // A copy-back fault still leaves the file preserved (§3.1.8).
  bool keeps_token = row->outcome.ok() || row->guard == Guard::copy_back_fault;
#ifdef LUO_TEST_MUTANTS
  keeps_token = keeps_token && !(LUO_MUTANT(copy_back_forgets_token) && !row->outcome.ok());
#endif
  if (keeps_token) {
    s.tokens.push_back(token);
    (void)s.token_index[token];  // known from now on: a second PRESERVE_FD of it is EEXIST
  }
  if (!r.ok())
    return c.kernel_error(s.state, r.raw_errno(), detail_of(*row));
  return Done{};
}

Result<std::string> OutgoingSession::get_name(std::uint32_t reserved) {
  if (!core_)
    return moved_from_error(Operation::get_session_name);
  return session_get_name(*core_, kOutgoingSessionMachine, OutgoingSessionEvent::get_name,
                          "outgoing session", reserved);
}

void OutgoingSession::close() {
  if (core_)
    session_release(*core_, kOutgoingSessionMachine, OutgoingSessionEvent::release,
                    "outgoing session");
}

// ---------------------------------------------------------------------------------------------
// IncomingSession

IncomingSession::IncomingSession(std::shared_ptr<detail::IncomingCore> core)
    : core_(std::move(core)) {}
IncomingSession::IncomingSession(IncomingSession&&) noexcept = default;
IncomingSession& IncomingSession::operator=(IncomingSession&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
  }
  return *this;
}
IncomingSession::~IncomingSession() {
  close();
}

const std::string& IncomingSession::name() const {
  return core_->name;
}
IncomingSessionState IncomingSession::state() const {
  return core_->state;
}
int IncomingSession::fd() const {
  return core_ ? core_->fd.get() : -1;
}
FileState IncomingSession::file_state(Token token) const {
  const auto* file = core_->files.find(token);
  return file == nullptr ? FileState::restorable : file->state;
}
bool IncomingSession::knows_file(Token token) const {
  return core_ && core_->files.find(token) != nullptr;
}

Result<UniqueFd> IncomingSession::retrieve(Token token) {
  if (!core_)
    return moved_from_error(Operation::retrieve_fd);
  detail::IncomingCore& s = *core_;
  Context& ctx = *s.ctx;
  Checked c{ctx,
            kIncomingSessionMachine.name,
            ObjectName{"incoming session", s.name},
            Operation::retrieve_fd,
            event_name(IncomingSessionEvent::retrieve_fd),
            token};
  if (s.boot != ctx.boot)
    return stale_error(c.op, c.object.text());
  if (!s.fd)
    return c.refuse_closed(state_name(s.state));
  // A token is only remembered once the kernel reached its file.
  const auto* known = s.files.find(token);
  detail::IncomingCore::FileKnowledge file =
      known == nullptr ? detail::IncomingCore::FileKnowledge{} : *known;
  Facts facts = Facts::all_unknown();
  facts.set(Guard::token_unknown, known != nullptr ? Truth::no : Truth::unknown);
  decide_remembered(s.retrieve_check, kIncomingSessionMachine, s.state,
                    IncomingSessionEvent::retrieve_fd, ctx.profile, facts);
  if (auto why = s.retrieve_check.refused)
    return c.refuse(**why, s.state);
  Checked fc{ctx, kFileMachine.name, c.object, c.op, event_name(FileEvent::retrieve), token};
  decide_remembered(s.file_retrieve_check, kFileMachine, file.state, FileEvent::retrieve,
                    ctx.profile, facts);
  if (auto why = s.file_retrieve_check.refused)
    return fc.refuse(**why, file.state, file.sticky_errno);

  SysResult<UniqueFd> r = ctx.port.retrieve_fd(s.fd.get(), token);
  const int observed = r.raw_errno();
  // A failing session row (EMFILE, ENOENT, or anything after FINISH) never reached the file.
  if (const auto* row = s.retrieve_check.memo.resolve(observed);
      row != nullptr && !row->outcome.ok()) {
    c.take(*row, s.state, observed);
    return c.kernel_error(s.state, observed, detail_of(*row));
  }
  const auto* file_row = s.file_retrieve_check.memo.resolve(observed);
  if (file_row == nullptr)
    return fc.disagree(file.state, observed);
  fc.take(*file_row, file.state, observed);
  if (file.state == FileState::retrieve_failed)
    file.sticky_errno = observed;
  s.files[token] = file;
  if (!r.ok())
    return fc.kernel_error(file.state, observed, detail_of(*file_row));
  return std::move(r).value();
}

Status IncomingSession::finish(std::uint32_t reserved) {
  if (!core_)
    return moved_from_error(Operation::finish_session);
  detail::IncomingCore& s = *core_;
  Context& ctx = *s.ctx;
  Checked c{ctx,
            kIncomingSessionMachine.name,
            ObjectName{"incoming session", s.name},
            Operation::finish_session,
            event_name(IncomingSessionEvent::finish),
            {}};
  if (s.boot != ctx.boot)
    return stale_error(c.op, c.object.text());
  if (!s.fd)
    return c.refuse_closed(state_name(s.state));
  Facts facts = Facts::all_unknown();
  facts.set(Guard::reserved_nonzero, reserved != 0);
  const auto d =
      decide(kIncomingSessionMachine, s.state, IncomingSessionEvent::finish, ctx.profile, facts);
  if (auto why = refusal(d))
    return c.refuse(**why, s.state);
  const SysStatus r = ctx.port.finish_session(s.fd.get(), reserved);
  const auto* row = d.resolve(r.raw_errno());
  if (row == nullptr)
    return c.disagree(s.state, r.raw_errno());
  const bool finishing = s.state == IncomingSessionState::retrieved;
  c.take(*row, s.state, r.raw_errno());
  // Also after a copy-back EFAULT: the kernel finished before it failed to answer.
  if (finishing && s.state == IncomingSessionState::finished) {
    s.files.for_each([&](Token token, detail::IncomingCore::FileKnowledge& file) {
      Checked fc{ctx, kFileMachine.name, c.object, c.op, event_name(FileEvent::finish), token};
      fc.take(select(kFileMachine, file.state, FileEvent::finish, ctx.profile, Facts{}), file.state,
              0);
    });
  }
  if (!r.ok())
    return c.kernel_error(s.state, r.raw_errno(), detail_of(*row));
  return Done{};
}

Result<std::string> IncomingSession::get_name(std::uint32_t reserved) {
  if (!core_)
    return moved_from_error(Operation::get_session_name);
  return session_get_name(*core_, kIncomingSessionMachine, IncomingSessionEvent::get_name,
                          "incoming session", reserved);
}

UniqueFd IncomingSession::release_fd() {
  if (!core_)
    return UniqueFd();
  return std::move(core_->fd);
}

void IncomingSession::close() {
  if (!core_ || !core_->fd)
    return;
  // memfd has no can_finish, so the implicit FINISH of close cannot be vetoed (§3.3).
  if (session_release(*core_, kIncomingSessionMachine, IncomingSessionEvent::release,
                      "incoming session")) {
    core_->ctx->incoming_gone.push_back(core_->name);
  }
}

}  // namespace luo
