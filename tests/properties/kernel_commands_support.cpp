#include "kernel_commands.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>
#include <typeinfo>

#include "fd_leak_listener.hpp"
#include "kernel_text.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/model/invariants.hpp"
#include "property_checks.hpp"
#include "property_stats.hpp"

namespace luo::testing {

bool KernelState::frozen(FileId f) const {
  for (const auto& o : k.outgoing()) {
    for (const auto& file : o.files) {
      if (file.file == f)
        return true;
    }
  }
  return false;
}

std::size_t KernelState::outgoing_files() const {
  std::size_t n = 0;
  for (const auto& o : k.outgoing())
    n += o.files.size();
  return n;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Vocabulary of the generators

// Names of CREATE_SESSION / RETRIEVE_SESSION: a few valid ones (so duplicates happen), the
// empty name and an unterminated 64-byte field (EINVAL from 7.2, accepted before), and one that
// is never created (ENOENT).
enum class Name : std::uint8_t { a, b, vm0, empty, unterminated, unknown };
const std::vector<Name> kCreateNames = {Name::a,   Name::a,     Name::b,           Name::b,
                                        Name::vm0, Name::empty, Name::unterminated};
const std::vector<Name> kValidNames = {Name::a, Name::b, Name::vm0};
const std::vector<Name> kRetrieveNames = {Name::a, Name::b, Name::vm0, Name::unterminated,
                                          Name::unknown};

SessionNameField field_of(Name n) {
  switch (n) {
    case Name::a:
      return SessionNameField::from("a");
    case Name::b:
      return SessionNameField::from("b");
    case Name::vm0:
      return SessionNameField::from("vm0");
    case Name::empty:
      return SessionNameField::from("");
    case Name::unterminated:
      return SessionNameField::from(std::string(kSessionNameFieldSize, 'n'));
    case Name::unknown:
      return SessionNameField::from("never-created");
  }
  return {};
}

std::string_view label_of(Name n) {
  switch (n) {
    case Name::a:
      return "'a'";
    case Name::b:
      return "'b'";
    case Name::vm0:
      return "'vm0'";
    case Name::empty:
      return "'' (empty)";
    case Name::unterminated:
      return "64 x 'n' (unterminated)";
    case Name::unknown:
      return "'never-created'";
  }
  return "?";
}

// Tokens are per session; 0 and UINT64_MAX are ordinary tokens to the kernel.
const std::vector<Token> kTokens = {0, 1, 2, 7, std::numeric_limits<Token>::max()};

// F_SEAL_SEAL: what memfd_create() without MFD_ALLOW_SEALING starts with.
constexpr std::uint32_t kNoSealing = F_SEAL_SEAL;

std::string letters(char first, std::size_t len) {
  return *rc::gen::container<std::string>(
      len, rc::gen::inRange<char>(first, static_cast<char>(first + 26)));
}

std::vector<std::size_t> session_slots(const KernelState& s, bool incoming) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < s.sessions.size(); ++i) {
    if (s.sessions[i].incoming == incoming)
      out.push_back(i);
  }
  return out;
}

std::vector<std::size_t> open_files(const KernelState& s) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < s.files.size(); ++i) {
    if (s.files[i].open)
      out.push_back(i);
  }
  return out;
}

// Prefers a slot in the current boot, but keeps stale and closed ones in play (EBADF paths).
std::size_t pick_slot(const KernelState& s, const std::vector<std::size_t>& slots) {
  std::vector<std::size_t> live;
  for (std::size_t i : slots) {
    if (s.sessions[i].open && s.sessions[i].boot == s.boot())
      live.push_back(i);
  }
  if (!live.empty() && *rc::gen::inRange(0, 8) != 0)
    return *rc::gen::elementOf(live);
  return *rc::gen::elementOf(slots);
}

// ---------------------------------------------------------------------------------------------
// Assertions

std::string errno_of(int e) {
  return errno_text(e);
}

// What the caller must see: 0 or an errno; `undefined`: the model says the kernel's behaviour
// is undefined (or blocks) here, so impl must refuse the call itself.
struct Expect {
  int err = 0;
  bool undefined = false;
  FileId file = kNoFile;  // RETRIEVE_FD: the model's identity of the retrieved file
  std::string name;       // GET_NAME
};

Expect expect_of(const Step& st) {
  Expect e;
  switch (st.outcome.kind) {
    case OutcomeKind::success:
      break;
    case OutcomeKind::failure:
    case OutcomeKind::handler_error:
      e.err = errno_value(st.error);
      break;
    case OutcomeKind::blocks:
    case OutcomeKind::undefined:
      e.err = EINVAL;  // impl's refusal of a call it must not issue
      e.undefined = true;
      break;
  }
  return e;
}

void check_errno(const std::string& what, int sut, const Expect& e) {
  if (sut != e.err) {
    fail(what + ": impl over the simulator gave " + errno_of(sut) + ", the model says " +
         errno_of(e.err));
  }
}

template <class T>
void check_result(const std::string& what, const Result<T>& r, const Expect& e) {
  if (!r.ok() && r.error().origin() == ErrorOrigin::disagreement)
    fail(what + ": impl saw a kernel result the model forbids: " + r.error().message());
  if (e.undefined && (r.ok() || r.error().origin() != ErrorOrigin::refused))
    fail(what + ": the model says this call is undefined; impl must refuse it before the kernel");
  check_errno(what, r.ok() ? 0 : r.error().raw_errno(), e);
}

template <class T>
void check_sys(const std::string& what, const SysResult<T>& r, const Expect& e) {
  check_errno(what, r.raw_errno(), e);
}

std::string tokens_text(const std::vector<Token>& tokens) {
  std::ostringstream os;
  for (Token t : tokens)
    os << " " << t;
  return os.str();
}

std::string snapshot_text(const memfd::MemfdSnapshot& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

// Everything that must agree after a step; `after` names the step for the message.
void verify(const KernelState& s, KernelSut& sut, const std::string& after) {
  const std::string sim = render_simulator(sut.sim.snapshot());
  const std::string model = render_model(s.k);
  if (sim != model)
    fail(after + ": kernel state differs.\nsimulator:\n" + sim + "model:\n" + model);
  const std::string sim_log = render_log(sut.sim.handler_log());
  const std::string model_log = render_log(s.k.handler_log());
  if (sim_log != model_log) {
    fail(after + ": file-handler calls differ.\nsimulator: " + sim_log +
         "\nmodel:     " + model_log);
  }
  if (const auto broken = violated_invariants(s.k); !broken.empty())
    fail(after + ": model invariant violated: " + std::string(broken.front()));

  if (sut.lu.device_state() != s.k.device()) {
    fail(after + ": impl thinks the device is " + std::string(state_name(sut.lu.device_state())) +
         ", the model says " + std::string(state_name(s.k.device())));
  }
  for (std::size_t i = 0; i < s.sessions.size(); ++i) {
    const auto& slot = s.sessions[i];
    if (!slot.open || slot.boot != s.boot())
      continue;
    const std::string which = after + ": session #" + std::to_string(i) + " '" + slot.name + "'";
    if (!slot.incoming) {
      const ModelOutgoingSession* o = s.k.find_outgoing(slot.id);
      if (o == nullptr)
        fail(which + ": an open outgoing session the model does not have");
      const OutgoingSession& obj = *sut.sessions.at(i).out;
      std::vector<Token> expected;
      for (const auto& f : o->files)
        expected.push_back(f.token);
      const std::vector<Token> actual(obj.tokens().begin(), obj.tokens().end());
      if (obj.state() != o->state || actual != expected) {
        fail(which + ": impl has " + std::string(state_name(obj.state())) + " with tokens" +
             tokens_text(actual) + ", the model " + std::string(state_name(o->state)) +
             " with tokens" + tokens_text(expected));
      }
    } else {
      const ModelIncomingSession* in = s.k.find_incoming(slot.id);
      if (in == nullptr)
        fail(which + ": an open incoming session the model does not have");
      const IncomingSession& obj = *sut.sessions.at(i).in;
      if (obj.state() != in->state) {
        fail(which + ": impl says " + std::string(state_name(obj.state())) + ", the model " +
             std::string(state_name(in->state)));
      }
      if (in->state == IncomingSessionState::retrieved) {
        for (const auto& f : in->files) {
          if (obj.file_state(f.token) != f.state) {
            fail(which + " token " + std::to_string(f.token) + ": impl says " +
                 std::string(state_name(obj.file_state(f.token))) + ", the model " +
                 std::string(state_name(f.state)));
          }
        }
      }
    }
  }
  for (std::size_t i = 0; i < s.files.size(); ++i) {
    if (!s.files[i].open)
      continue;
    const auto& image = s.images.at(s.files[i].id);
    const memfd::MemfdSnapshot expected{image.data.size(), image.position, image.seals, image.data};
    auto actual = memfd::snapshot(sut.files.at(i).get());
    if (!actual.ok())
      fail(after + ": memfd #" + std::to_string(i) +
           " unreadable: " + errno_of(actual.raw_errno()));
    if (!(actual.value() == expected)) {
      fail(after + ": memfd #" + std::to_string(i) + " is " + snapshot_text(actual.value()) +
           ", the model says " + snapshot_text(expected));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

// One step: step() is the model (also used by apply()), perform() the same call on the SUT.
class Cmd : public ModelCommand<KernelState, KernelSut, Expect> {
 public:
  void apply(KernelState& s) const final {
    s.k.clear_handler_log();
    (void)step(s);
  }
  void run(const KernelState& before, KernelSut& sut) const final {
    KernelState after = before;
    after.k.clear_handler_log();
    const Expect e = step(after);
    sut.sim.clear_handler_log();
    perform(before, after, e, sut);
    verify(after, sut, text());
    count_outcome("kernel", typeid(*this), e.err);
  }
};

class OpenDevice final : public Cmd {
 public:
  explicit OpenDevice(const KernelState& s)
      : process_(*rc::gen::inRange(0, kProcesses)),
        deserialize_fails_(s.faults && s.k.device() == DeviceState::never_opened &&
                           *rc::gen::inRange(0, 60) == 0) {}
  void checkPreconditions(const KernelState& s) const override {
    // The simulator deserializes (and fails) at the first open of a boot only.
    if (deserialize_fails_)
      require(s.k.device() == DeviceState::never_opened);
  }
  void show(std::ostream& os) const override {
    os << "process " << process_ << ": open /dev/liveupdate"
       << (deserialize_fails_ ? " [deserialization fails]" : "");
  }

 private:
  Expect step(KernelState& s) const override {
    Environment env;
    env.deserialization_fails = deserialize_fails_;
    const Step st = s.k.open_device(env);
    if (st.ok()) {
      s.device_object = true;
      s.device_process = process_;
    }
    return expect_of(st);
  }
  void perform(const KernelState&, const KernelState&, const Expect& e,
               KernelSut& sut) const override {
    if (deserialize_fails_)
      sut.sim.inject(SimFault::deserialize, EIO);
    auto r = sut.lu.open_device();
    check_result(text(), r, e);
    if (r.ok())
      sut.device = std::move(r).value();
  }
  Process process_;
  bool deserialize_fails_;
};

class CloseDevice final : public Cmd {
 public:
  explicit CloseDevice(const KernelState&) {}
  void checkPreconditions(const KernelState& s) const override {
    require(s.k.device() == DeviceState::open);
  }
  void show(std::ostream& os) const override { os << "close /dev/liveupdate"; }

 private:
  Expect step(KernelState& s) const override { return expect_of(s.k.release_device()); }
  void perform(const KernelState&, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    sut.device->close();
  }
};

class CreateSession final : public Cmd {
 public:
  explicit CreateSession(const KernelState& s)
      : process_(*rc::gen::inRange(0, kProcesses)),
        name_(*rc::gen::elementOf(s.faults ? kCreateNames : kValidNames)) {}
  void checkPreconditions(const KernelState& s) const override { require(s.device_object); }
  void show(std::ostream& os) const override {
    os << "process " << process_ << ": CREATE_SESSION " << label_of(name_);
  }

 private:
  Expect step(KernelState& s) const override {
    const SessionNameField field = field_of(name_);
    const Step st = s.k.create_session(field);
    if (st.ok())
      s.sessions.push_back({st.session, false, process_, true, s.boot(), field.stored()});
    return expect_of(st);
  }
  void perform(const KernelState&, const KernelState& after, const Expect& e,
               KernelSut& sut) const override {
    auto r = sut.device->create_session(field_of(name_));
    check_result(text(), r, e);
    if (r.ok())
      sut.sessions.push_back({std::move(r).value(), std::nullopt});
    ensure(sut.sessions.size() == after.sessions.size());
  }
  Process process_;
  Name name_;
};

class RetrieveSession final : public Cmd {
 public:
  // Mostly a name the kernel handed over (retrieved already or not), else one of the pool.
  explicit RetrieveSession(const KernelState& s) : process_(*rc::gen::inRange(0, kProcesses)) {
    std::vector<std::string> incoming;
    for (const auto& in : s.k.incoming())
      incoming.push_back(in.name);
    if (!incoming.empty() && *rc::gen::inRange(0, 4) != 0) {
      const std::string name = *rc::gen::elementOf(incoming);
      field_ = SessionNameField::from(name);
      label_ = "'" + name + "'";
    } else {
      const Name n = *rc::gen::elementOf(kRetrieveNames);
      field_ = field_of(n);
      label_ = std::string(label_of(n));
    }
  }
  void checkPreconditions(const KernelState& s) const override { require(s.device_object); }
  void show(std::ostream& os) const override {
    os << "process " << process_ << ": RETRIEVE_SESSION " << label_;
  }

 private:
  Expect step(KernelState& s) const override {
    const Step st = s.k.retrieve_session(field_);
    if (st.ok())
      s.sessions.push_back({st.session, true, process_, true, s.boot(), field_.stored()});
    return expect_of(st);
  }
  void perform(const KernelState&, const KernelState& after, const Expect& e,
               KernelSut& sut) const override {
    auto r = sut.device->retrieve_session(field_);
    check_result(text(), r, e);
    if (r.ok())
      sut.sessions.push_back({std::nullopt, std::move(r).value()});
    ensure(sut.sessions.size() == after.sessions.size());
  }
  Process process_;
  SessionNameField field_;
  std::string label_;
};

enum class InjectedFault : std::uint8_t { none, handler, copy_back };

class Preserve final : public Cmd {
 public:
  explicit Preserve(const KernelState& s) {
    const auto slots = session_slots(s, /*incoming=*/false);
    require(!slots.empty());
    slot_ = pick_slot(s, slots);
    const auto open = open_files(s);
    // Invalid sources (/dev/null, a closed fd) only where faults are wanted, and rarely.
    unsupported_ = s.faults && *rc::gen::inRange(0, 12) == 0;
    if (!unsupported_) {
      const bool closed = s.faults && *rc::gen::inRange(0, 12) == 0;
      require(!s.files.empty() && (closed || !open.empty()));
      // Mostly a memfd no session holds yet; the rest exercise double preservation.
      std::vector<std::size_t> fresh;
      for (std::size_t i : open) {
        if (!s.frozen(s.files[i].id))
          fresh.push_back(i);
      }
      file_ = closed ? *rc::gen::inRange<std::size_t>(0, s.files.size())
              : (!fresh.empty() && *rc::gen::inRange(0, 3) != 0) ? *rc::gen::elementOf(fresh)
                                                                 : *rc::gen::elementOf(open);
    }
    token_ = *rc::gen::elementOf(kTokens);
    if (s.faults) {
      fault_ = *rc::gen::weightedElement<InjectedFault>(
          {{14, InjectedFault::none}, {1, InjectedFault::handler}, {1, InjectedFault::copy_back}});
    }
    handler_errno_ = *rc::gen::elementOf(std::vector<int>{EIO, ENOMEM, EFBIG});
  }
  void checkPreconditions(const KernelState& s) const override {
    require(slot_ < s.sessions.size() && !s.sessions[slot_].incoming);
    require(unsupported_ || file_ < s.files.size());
    // An injected fault must be consumed by this very call, or it would hit a later one.
    if (fault_ != InjectedFault::none) {
      const Expect e = preview(s);
      const bool consumed = fault_ == InjectedFault::handler
                                ? e.err == handler_errno_ && reaches_handler(s)
                                : e.err == EFAULT;
      require(consumed);
    }
  }
  void show(std::ostream& os) const override {
    os << "PRESERVE_FD session #" << slot_ << " ";
    if (unsupported_)
      os << "/dev/null";
    else
      os << "memfd #" << file_;
    os << " token " << token_;
    if (fault_ == InjectedFault::handler)
      os << " [handler fails: " << errno_of(handler_errno_) << "]";
    if (fault_ == InjectedFault::copy_back)
      os << " [copy-back faults]";
  }

 private:
  Environment env() const {
    Environment env;
    if (fault_ == InjectedFault::handler)
      env.handler_error = errno_from_int(handler_errno_);
    env.copy_back_fault = fault_ == InjectedFault::copy_back;
    return env;
  }
  // The handler's errno could also be an earlier check's (ENOMEM); the log tells them apart.
  bool reaches_handler(const KernelState& s) const {
    KernelState copy = s;
    copy.k.clear_handler_log();
    (void)step(copy);
    return !copy.k.handler_log().empty();
  }
  Expect step(KernelState& s) const override {
    FileRef ref;
    if (unsupported_) {
      ref = FileRef{s.k.new_unsupported_file(), FileKind::unsupported};
    } else {
      const auto& f = s.files[file_];
      ref = FileRef{f.id, f.open ? FileKind::memfd : FileKind::invalid_fd};
    }
    return expect_of(s.k.preserve_fd(s.sessions[slot_].id, ref, token_, env()));
  }
  void perform(const KernelState&, const KernelState&, const Expect& e,
               KernelSut& sut) const override {
    if (fault_ == InjectedFault::handler)
      sut.sim.inject(SimFault::preserve_handler, handler_errno_);
    if (fault_ == InjectedFault::copy_back)
      sut.sim.inject(SimFault::preserve_copy_back, EFAULT);
    UniqueFd null;
    int fd = -1;
    if (unsupported_) {
      null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
      fd = null.get();
    } else {
      fd = sut.files.at(file_).get();
    }
    check_result(text(), sut.sessions.at(slot_).out->preserve(fd, token_), e);
  }
  std::size_t slot_ = 0;
  bool unsupported_ = false;
  std::size_t file_ = 0;
  Token token_ = 0;
  InjectedFault fault_ = InjectedFault::none;
  int handler_errno_ = EIO;
};

class RetrieveFd final : public Cmd {
 public:
  explicit RetrieveFd(const KernelState& s) {
    const auto slots = session_slots(s, /*incoming=*/true);
    require(!slots.empty());
    slot_ = pick_slot(s, slots);
    std::vector<Token> known;
    if (const auto* in = s.k.find_incoming(s.sessions[slot_].id)) {
      for (const auto& f : in->files)
        known.push_back(f.token);
    }
    token_ = (!known.empty() && *rc::gen::inRange(0, 5) != 0) ? *rc::gen::elementOf(known)
                                                              : *rc::gen::elementOf(kTokens);
    handler_fails_ = s.faults && *rc::gen::inRange(0, 10) == 0;
    handler_errno_ = *rc::gen::elementOf(std::vector<int>{EIO, ENOMEM});
  }
  void checkPreconditions(const KernelState& s) const override {
    require(slot_ < s.sessions.size() && s.sessions[slot_].incoming);
    if (handler_fails_) {
      // Only a file never retrieved reaches the handler; otherwise the fault would linger.
      const auto* in = s.k.find_incoming(s.sessions[slot_].id);
      require(in != nullptr && in->state == IncomingSessionState::retrieved);
      const auto f = std::find_if(in->files.begin(), in->files.end(),
                                  [&](const ModelFile& m) { return m.token == token_; });
      require(f != in->files.end() && f->state == FileState::restorable);
    }
  }
  void show(std::ostream& os) const override {
    os << "RETRIEVE_FD session #" << slot_ << " token " << token_;
    if (handler_fails_)
      os << " [handler fails: " << errno_of(handler_errno_) << "]";
  }

 private:
  Expect step(KernelState& s) const override {
    const auto& slot = s.sessions[slot_];
    Environment env;
    if (handler_fails_)
      env.handler_error = errno_from_int(handler_errno_);
    // The handed-over identity, read before the call (the model may change the entry).
    FileId old = kNoFile;
    if (const auto* in = s.k.find_incoming(slot.id)) {
      for (const auto& f : in->files) {
        if (f.token == token_)
          old = f.file;
      }
    }
    const Step st = s.k.retrieve_fd(slot.id, token_, env);
    Expect e = expect_of(st);
    if (!st.ok())
      return e;
    e.file = st.file;
    if (s.images.count(st.file) == 0) {
      // The first retrieve: the memfd as it was at the kexec, seals per profile (§3.8).
      const auto& was = s.images.at(old);
      s.images[st.file] = {
          was.data, was.position,
          profile_has(s.profile(), Feature::memfd_seals_preserved) ? was.seals : 0u};
    }
    const auto it = std::find_if(s.files.begin(), s.files.end(),
                                 [&](const KernelState::File& f) { return f.id == st.file; });
    if (it == s.files.end()) {
      s.files.push_back({st.file, slot.process, true});
    } else if (!it->open) {
      it->open = true;
      it->process = slot.process;
    }
    return e;
  }
  void perform(const KernelState& before, const KernelState& after, const Expect& e,
               KernelSut& sut) const override {
    if (handler_fails_)
      sut.sim.inject(SimFault::retrieve_handler, handler_errno_);
    auto r = sut.sessions.at(slot_).in->retrieve(token_);
    check_result(text(), r, e);
    if (!r.ok())
      return;
    UniqueFd fd = std::move(r).value();
    const auto was = std::find_if(before.files.begin(), before.files.end(),
                                  [&](const KernelState::File& f) { return f.id == e.file; });
    if (was != before.files.end() && was->open) {
      // Idempotent: the same open file description as the fd we already hold (§3.2).
      const int held = sut.files.at(static_cast<std::size_t>(was - before.files.begin())).get();
      if (!same_open_file_description(held, fd.get()))
        fail(text() + ": a repeated RETRIEVE_FD returned a different open file description");
      return;
    }
    if (was != before.files.end())
      sut.files.at(static_cast<std::size_t>(was - before.files.begin())) = std::move(fd);
    else
      sut.files.push_back(std::move(fd));
    ensure(sut.files.size() == after.files.size());
  }
  std::size_t slot_ = 0;
  Token token_ = 0;
  bool handler_fails_ = false;
  int handler_errno_ = EIO;
};

class Finish final : public Cmd {
 public:
  explicit Finish(const KernelState& s) {
    const auto slots = session_slots(s, /*incoming=*/true);
    require(!slots.empty());
    slot_ = pick_slot(s, slots);
    reserved_ = s.faults ? *rc::gen::weightedElement<std::uint32_t>({{8, 0}, {1, 1}}) : 0;
    veto_ = s.faults && *rc::gen::inRange(0, 10) == 0;
  }
  void checkPreconditions(const KernelState& s) const override {
    require(slot_ < s.sessions.size() && s.sessions[slot_].incoming);
    // The veto is consumed only when some file's can_finish runs.
    if (veto_)
      require(preview(s).err == EBUSY);
  }
  void show(std::ostream& os) const override {
    os << "FINISH session #" << slot_ << " reserved " << reserved_
       << (veto_ ? " [can_finish vetoes]" : "");
  }

 private:
  Expect step(KernelState& s) const override {
    Environment env;
    env.can_finish_vetoes = veto_;
    return expect_of(s.k.finish_session(s.sessions[slot_].id, reserved_, env));
  }
  void perform(const KernelState&, const KernelState&, const Expect& e,
               KernelSut& sut) const override {
    if (veto_)
      sut.sim.inject(SimFault::can_finish, EBUSY);
    check_result(text(), sut.sessions.at(slot_).in->finish(reserved_), e);
  }
  std::size_t slot_ = 0;
  std::uint32_t reserved_ = 0;
  bool veto_ = false;
};

class GetName final : public Cmd {
 public:
  explicit GetName(const KernelState& s) {
    require(!s.sessions.empty());
    std::vector<std::size_t> all(s.sessions.size());
    for (std::size_t i = 0; i < all.size(); ++i)
      all[i] = i;
    slot_ = pick_slot(s, all);
    reserved_ = *rc::gen::weightedElement<std::uint32_t>({{6, 0}, {1, 1}});
  }
  void checkPreconditions(const KernelState& s) const override {
    require(slot_ < s.sessions.size());
  }
  void show(std::ostream& os) const override {
    os << "GET_NAME session #" << slot_ << " reserved " << reserved_;
  }

 private:
  Expect step(KernelState& s) const override {
    Expect e = expect_of(s.k.get_session_name(s.sessions[slot_].id, reserved_));
    e.name = s.sessions[slot_].name;
    return e;
  }
  void perform(const KernelState&, const KernelState&, const Expect& e,
               KernelSut& sut) const override {
    auto& session = sut.sessions.at(slot_);
    auto r = session.out ? session.out->get_name(reserved_) : session.in->get_name(reserved_);
    check_result(text(), r, e);
    if (r.ok() && r.value() != e.name)
      fail(text() + ": got '" + r.value() + "', the session is '" + e.name + "'");
  }
  std::size_t slot_ = 0;
  std::uint32_t reserved_ = 0;
};

class CloseSession final : public Cmd {
 public:
  explicit CloseSession(const KernelState& s) {
    std::vector<std::size_t> open;
    for (std::size_t i = 0; i < s.sessions.size(); ++i) {
      if (s.sessions[i].open)
        open.push_back(i);
    }
    require(!open.empty());
    slot_ = *rc::gen::elementOf(open);
  }
  void checkPreconditions(const KernelState& s) const override {
    require(slot_ < s.sessions.size() && s.sessions[slot_].open);
  }
  void show(std::ostream& os) const override { os << "close session #" << slot_; }

 private:
  Expect step(KernelState& s) const override {
    auto& slot = s.sessions[slot_];
    slot.open = false;
    // A session of an earlier boot is long gone from the kernel; only its fd closes.
    if (s.k.find_outgoing(slot.id) || s.k.find_incoming(slot.id))
      return expect_of(s.k.release_session(slot.id));
    return {};
  }
  void perform(const KernelState&, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    auto& session = sut.sessions.at(slot_);
    if (session.out)
      session.out->close();
    if (session.in)
      session.in->close();
  }
  std::size_t slot_ = 0;
};

// PRESERVE_FD on an incoming session, RETRIEVE_FD or FINISH on an outgoing one. impl has no
// such calls, so they go through the raw port with the session object's fd; only where the
// model defines the kernel's answer (7.2's EINVAL, or the older kernels' token lookup).
class WrongSessionType final : public Cmd {
 public:
  enum class Op : std::uint8_t { preserve_on_incoming, retrieve_on_outgoing, finish_on_outgoing };

  explicit WrongSessionType(const KernelState& s) {
    require(!s.sessions.empty());
    slot_ = *rc::gen::inRange<std::size_t>(0, s.sessions.size());
    op_ = s.sessions[slot_].incoming ? Op::preserve_on_incoming
                                     : *rc::gen::elementOf(std::vector<Op>{Op::retrieve_on_outgoing,
                                                                           Op::finish_on_outgoing});
    token_ = *rc::gen::elementOf(kTokens);
    file_ = s.files.empty() ? kNone : *rc::gen::inRange<std::size_t>(0, s.files.size());
  }
  void checkPreconditions(const KernelState& s) const override {
    require(slot_ < s.sessions.size());
    require(s.sessions[slot_].incoming == (op_ == Op::preserve_on_incoming));
    require(file_ == kNone || file_ < s.files.size());
    require(!preview(s).undefined);
  }
  void show(std::ostream& os) const override {
    switch (op_) {
      case Op::preserve_on_incoming:
        os << "raw PRESERVE_FD on incoming session #" << slot_ << " token " << token_;
        break;
      case Op::retrieve_on_outgoing:
        os << "raw RETRIEVE_FD on outgoing session #" << slot_ << " token " << token_;
        break;
      case Op::finish_on_outgoing:
        os << "raw FINISH on outgoing session #" << slot_;
        break;
    }
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  Expect step(KernelState& s) const override {
    const SessionId id = s.sessions[slot_].id;
    switch (op_) {
      case Op::preserve_on_incoming: {
        FileRef ref{kNoFile, FileKind::invalid_fd};
        if (file_ != kNone)
          ref = FileRef{s.files[file_].id,
                        s.files[file_].open ? FileKind::memfd : FileKind::invalid_fd};
        return expect_of(s.k.preserve_fd(id, ref, token_));
      }
      case Op::retrieve_on_outgoing:
        return expect_of(s.k.retrieve_fd(id, token_));
      case Op::finish_on_outgoing:
        return expect_of(s.k.finish_session(id));
    }
    return {};
  }
  void perform(const KernelState&, const KernelState&, const Expect& e,
               KernelSut& sut) const override {
    auto& session = sut.sessions.at(slot_);
    const int fd = session.out ? session.out->fd() : session.in->fd();
    switch (op_) {
      case Op::preserve_on_incoming:
        check_sys(text(),
                  sut.port.preserve_fd(fd, file_ == kNone ? -1 : sut.files.at(file_).get(), token_),
                  e);
        break;
      case Op::retrieve_on_outgoing:
        check_sys(text(), sut.port.retrieve_fd(fd, token_), e);
        break;
      case Op::finish_on_outgoing:
        check_sys(text(), sut.port.finish_session(fd, 0), e);
        break;
    }
  }
  std::size_t slot_ = 0;
  Op op_ = Op::preserve_on_incoming;
  Token token_ = 0;
  std::size_t file_ = kNone;
};

class Kexec final : public Cmd {
 public:
  explicit Kexec(const KernelState& s) {
    const std::size_t files = s.outgoing_files();
    freeze_fails_ = s.faults && files > 0 && *rc::gen::inRange(0, 4) == 0;
    if (freeze_fails_) {
      nth_ = *rc::gen::inRange<std::size_t>(0, files);
      errno_ = *rc::gen::elementOf(std::vector<int>{EIO, ENOMEM});
    }
  }
  void checkPreconditions(const KernelState& s) const override {
    // A freeze failure must hit a file this reboot freezes.
    if (freeze_fails_)
      require(nth_ < s.outgoing_files());
  }
  void show(std::ostream& os) const override {
    os << "reboot(KEXEC)";
    if (freeze_fails_)
      os << " [freeze of file " << nth_ << " fails: " << errno_of(errno_) << "]";
  }

 private:
  Expect step(KernelState& s) const override {
    Environment env;
    if (freeze_fails_) {
      env.freeze_failure =
          Environment::FreezeFailure{static_cast<std::uint32_t>(nth_), *errno_from_int(errno_)};
    }
    const Step st = s.k.kexec(env);
    // The old boot's processes are gone with their memfds; session objects stay, stale.
    if (st.ok()) {
      for (auto& f : s.files)
        f.open = false;
    }
    return expect_of(st);
  }
  void perform(const KernelState&, const KernelState&, const Expect& e,
               KernelSut& sut) const override {
    if (freeze_fails_)
      sut.sim.inject(SimFault::freeze, errno_, static_cast<unsigned>(nth_));
    auto r = sut.lu.kexec();
    check_result(text(), r, e);
    if (r.ok()) {
      for (auto& fd : sut.files)
        fd.reset();
    }
  }
  bool freeze_fails_ = false;
  std::size_t nth_ = 0;
  int errno_ = EIO;
};

class NewMemfd final : public Cmd {
 public:
  explicit NewMemfd(const KernelState&)
      : process_(*rc::gen::inRange(0, kProcesses)),
        data_(letters('a', *rc::gen::inRange<std::size_t>(0, 17))) {}
  void show(std::ostream& os) const override {
    os << "process " << process_ << ": memfd #? = \"" << data_ << "\"";
  }

 private:
  Expect step(KernelState& s) const override {
    const FileId id = s.k.new_memfd();
    s.images[id] = {data_, 0, kNoSealing};
    s.files.push_back({id, process_, true});
    return {};
  }
  void perform(const KernelState&, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    auto fd = memfd::create("property");
    ensure(fd.ok());
    ensure(memfd::write_at(fd.value().get(), 0, data_).ok());
    sut.files.push_back(std::move(fd).value());
  }
  Process process_;
  std::string data_;
};

// A write through the caller's fd. While the memfd is preserved the kernel refuses any size
// change (EPERM, kernel-luo.md §3.8) and SimulatedKernel cannot (its documented unfaithful
// point), so the generator stays inside the size there: the property asserts what both agree
// on, that in-size writes reach the handed-over data (docs/property-tests.md).
class WriteMemfd final : public Cmd {
 public:
  explicit WriteMemfd(const KernelState& s) {
    const auto open = open_files(s);
    require(!open.empty());
    file_ = *rc::gen::elementOf(open);
    const KernelState::File& f = s.files[file_];
    const auto& image = s.images.at(f.id);
    const std::size_t size = image.data.size();
    at_position_ = *rc::gen::inRange(0, 3) == 0;
    std::size_t len = 0;
    if (s.frozen(f.id)) {
      const std::size_t start = at_position_
                                    ? static_cast<std::size_t>(image.position)
                                    : (size == 0 ? 0 : *rc::gen::inRange<std::size_t>(0, size));
      require(start < size);
      offset_ = start;
      len = *rc::gen::inRange<std::size_t>(1, std::min<std::size_t>(size - start, 8) + 1);
    } else {
      offset_ = at_position_ ? static_cast<std::size_t>(image.position)
                             : *rc::gen::inRange<std::size_t>(0, size + 5);
      len = *rc::gen::inRange<std::size_t>(1, 9);
    }
    data_ = letters('A', len);
  }
  void checkPreconditions(const KernelState& s) const override {
    require(file_ < s.files.size() && s.files[file_].open);
    const auto& image = s.images.at(s.files[file_].id);
    const std::size_t start = at_position_ ? image.position : offset_;
    if (s.frozen(s.files[file_].id))
      require(start + data_.size() <= image.data.size());
  }
  void show(std::ostream& os) const override {
    os << (at_position_ ? "write" : "pwrite") << " memfd #" << file_ << " \"" << data_ << "\"";
    if (!at_position_)
      os << " at " << offset_;
  }

 private:
  Expect step(KernelState& s) const override {
    auto& image = s.images.at(s.files[file_].id);
    const std::size_t start = at_position_ ? image.position : offset_;
    if (start + data_.size() > image.data.size())
      image.data.resize(start + data_.size(), '\0');
    image.data.replace(start, data_.size(), data_);
    if (at_position_)
      image.position = start + data_.size();
    return {};
  }
  void perform(const KernelState&, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    const int fd = sut.files.at(file_).get();
    const ssize_t n = at_position_
                          ? ::write(fd, data_.data(), data_.size())
                          : ::pwrite(fd, data_.data(), data_.size(), static_cast<off_t>(offset_));
    if (n != static_cast<ssize_t>(data_.size()))
      fail(text() + ": wrote " + std::to_string(n) + " bytes: " + errno_of(n < 0 ? errno : 0));
  }
  std::size_t file_ = 0;
  bool at_position_ = false;
  std::size_t offset_ = 0;
  std::string data_;
};

// Grow or shrink. Never while preserved (see WriteMemfd).
class ResizeMemfd final : public Cmd {
 public:
  explicit ResizeMemfd(const KernelState& s) {
    const auto open = open_files(s);
    require(!open.empty());
    file_ = *rc::gen::elementOf(open);
    size_ = *rc::gen::inRange<std::size_t>(0, 25);
  }
  void checkPreconditions(const KernelState& s) const override {
    require(file_ < s.files.size() && s.files[file_].open);
    require(!s.frozen(s.files[file_].id));
  }
  void show(std::ostream& os) const override {
    os << "ftruncate memfd #" << file_ << " to " << size_;
  }

 private:
  Expect step(KernelState& s) const override {
    s.images.at(s.files[file_].id).data.resize(size_, '\0');
    return {};
  }
  void perform(const KernelState&, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    if (::ftruncate(sut.files.at(file_).get(), static_cast<off_t>(size_)) != 0)
      fail(text() + ": " + errno_of(errno));
  }
  std::size_t file_ = 0;
  std::size_t size_ = 0;
};

class SeekMemfd final : public Cmd {
 public:
  explicit SeekMemfd(const KernelState& s) {
    const auto open = open_files(s);
    require(!open.empty());
    file_ = *rc::gen::elementOf(open);
    position_ = *rc::gen::inRange<std::size_t>(0, s.images.at(s.files[file_].id).data.size() + 4);
  }
  void checkPreconditions(const KernelState& s) const override {
    require(file_ < s.files.size() && s.files[file_].open);
  }
  void show(std::ostream& os) const override {
    os << "lseek memfd #" << file_ << " to " << position_;
  }

 private:
  Expect step(KernelState& s) const override {
    s.images.at(s.files[file_].id).position = position_;
    return {};
  }
  void perform(const KernelState&, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    const off_t at = ::lseek(sut.files.at(file_).get(), static_cast<off_t>(position_), SEEK_SET);
    if (at != static_cast<off_t>(position_))
      fail(text() + ": " + errno_of(errno));
  }
  std::size_t file_ = 0;
  std::size_t position_ = 0;
};

class CloseFile final : public Cmd {
 public:
  explicit CloseFile(const KernelState& s) {
    const auto open = open_files(s);
    require(!open.empty());
    file_ = *rc::gen::elementOf(open);
  }
  void checkPreconditions(const KernelState& s) const override {
    require(file_ < s.files.size() && s.files[file_].open);
  }
  void show(std::ostream& os) const override { os << "close memfd #" << file_; }

 private:
  Expect step(KernelState& s) const override {
    s.files[file_].open = false;
    return {};
  }
  void perform(const KernelState&, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    sut.files.at(file_).reset();
  }
  std::size_t file_ = 0;
};

bool holds_anything(const KernelState& s, Process p) {
  if (s.device_process == p && s.k.device() == DeviceState::open)
    return true;
  for (const auto& slot : s.sessions) {
    if (slot.process == p && slot.open)
      return true;
  }
  for (const auto& f : s.files) {
    if (f.process == p && f.open)
      return true;
  }
  return false;
}

// A process dies: every fd it holds closes at once (device, sessions, memfds), and the kernel
// releases what lost its last reference.
class Crash final : public Cmd {
 public:
  explicit Crash(const KernelState& s) : process_(*rc::gen::inRange(0, kProcesses)) {
    require(holds_anything(s, process_));
  }
  Crash(Process p, std::nullptr_t) : process_(p) {}
  void checkPreconditions(const KernelState& s) const override {
    require(holds_anything(s, process_));
  }
  void show(std::ostream& os) const override { os << "process " << process_ << " crashes"; }

 private:
  Expect step(KernelState& s) const override {
    if (s.device_process == process_ && s.k.device() == DeviceState::open)
      (void)s.k.release_device();
    std::set<SessionId> closing;
    for (auto& slot : s.sessions) {
      if (slot.process == process_ && slot.open) {
        slot.open = false;
        closing.insert(slot.id);
      }
    }
    // Closes noticed together are released device first, then outgoing sessions in creation
    // order, then incoming ones in list order: SimulatedKernel's documented order (a real
    // kernel follows the dying process's fd table; no order is promised).
    std::vector<SessionId> order;
    for (const auto& o : s.k.outgoing()) {
      if (closing.count(o.id) != 0)
        order.push_back(o.id);
    }
    for (const auto& i : s.k.incoming()) {
      if (closing.count(i.id) != 0)
        order.push_back(i.id);
    }
    for (SessionId id : order)
      (void)s.k.release_session(id);
    for (auto& f : s.files) {
      if (f.process == process_)
        f.open = false;
    }
    return {};
  }
  void perform(const KernelState& before, const KernelState&, const Expect&,
               KernelSut& sut) const override {
    if (before.device_process == process_ && before.k.device() == DeviceState::open)
      sut.device->close();
    for (std::size_t i = 0; i < before.sessions.size(); ++i) {
      if (before.sessions[i].process != process_ || !before.sessions[i].open)
        continue;
      if (sut.sessions.at(i).out)
        sut.sessions[i].out->close();
      if (sut.sessions.at(i).in)
        sut.sessions[i].in->close();
    }
    for (std::size_t i = 0; i < before.files.size(); ++i) {
      if (before.files[i].process == process_)
        sut.files.at(i).reset();
    }
  }
  Process process_;
};

// Runs one generated sequence, then lets every process crash (checked like any step), and
// fails if the process holds a different number of fds than before.
template <class GenerationFunc>
void run_sequence(KernelProfile profile, GenerationFunc&& generate, bool faults = true) {
  const int fds_before = count_open_fds();
  {
    KernelState initial(profile);
    initial.faults = faults;
    const auto commands = *rc::state::gen::commands(initial, generate);
    KernelSut sut(profile);
    rc::state::runAll(commands, initial, sut);
    KernelState last = initial;
    rc::state::applyAll(commands, last);
    for (Process p = 0; p < kProcesses; ++p) {
      if (!holds_anything(last, p))
        continue;
      const Crash teardown(p, nullptr);
      teardown.run(last, sut);
      teardown.apply(last);
    }
  }
  const int fds_after = count_open_fds();
  if (fds_after != fds_before) {
    fail("fd leak: " + std::to_string(fds_before) + " fds open before the sequence, " +
         std::to_string(fds_after) + " after");
  }
}

}  // namespace

namespace {

// Weighted by what the state makes interesting, so that long sequences keep reaching the deep
// states (retrieved files, several boots) instead of wandering among early errors.
struct Choice {
  int weight;
  std::shared_ptr<const KernelCommand> (*make)(const KernelState&);
};

template <class C>
std::shared_ptr<const KernelCommand> make(const KernelState& s) {
  return std::make_shared<const C>(s);
}

KernelCommandGen weighted(const KernelState& s, std::vector<Choice> choices) {
  return rc::gen::exec([s, choices = std::move(choices)]() {
    int total = 0;
    for (const auto& c : choices)
      total += c.weight;
    int pick = *rc::gen::inRange(0, total);
    for (const auto& c : choices) {
      if (pick < c.weight)
        return c.make(s);
      pick -= c.weight;
    }
    return choices.back().make(s);
  });
}

struct Counts {
  bool device_open = false;
  bool unretrieved_incoming = false;
  bool retrievable_files = false;  // in a retrieved session of an open slot, not finished
  std::size_t live_outgoing = 0;
  std::size_t live_incoming = 0;
  std::size_t open_sessions = 0;
  std::size_t open_files = 0;
};

Counts counts(const KernelState& s) {
  Counts c;
  c.device_open = s.k.device() == DeviceState::open;
  for (const auto& in : s.k.incoming())
    c.unretrieved_incoming =
        c.unretrieved_incoming || in.state == IncomingSessionState::deserialized;
  for (const auto& slot : s.sessions) {
    if (!slot.open)
      continue;
    ++c.open_sessions;
    if (const auto* in = s.k.find_incoming(slot.id);
        in != nullptr && in->state == IncomingSessionState::retrieved && !in->files.empty()) {
      c.retrievable_files = true;
    }
    if (slot.boot == s.boot())
      ++(slot.incoming ? c.live_incoming : c.live_outgoing);
  }
  c.open_files = open_files(s).size();
  return c;
}

int when(bool condition, int weight) {
  return condition ? weight : 0;
}

}  // namespace

KernelCommandGen kernel_lifecycle_commands(const KernelState& s) {
  const Counts c = counts(s);
  const bool any_out = !session_slots(s, false).empty();
  const bool any_in = !session_slots(s, true).empty();
  return weighted(
      s, {
             {c.device_open ? 1 : 6, make<OpenDevice>},
             {when(c.device_open, 1), make<CloseDevice>},
             {when(s.device_object, c.device_open ? 5 : 1), make<CreateSession>},
             {when(s.device_object, c.device_open && c.unretrieved_incoming ? 6 : 1),
              make<RetrieveSession>},
             {when(any_out && !s.files.empty(), c.live_outgoing > 0 ? 8 : 1), make<Preserve>},
             {when(any_in, c.retrievable_files ? 8 : 1), make<RetrieveFd>},
             {when(any_in, c.live_incoming > 0 ? 3 : 1), make<Finish>},
             {when(!s.sessions.empty(), 2), make<GetName>},
             {when(c.open_sessions > 0, 2), make<CloseSession>},
             {when(!s.sessions.empty(), 1), make<WrongSessionType>},
             {s.outgoing_files() > 0 ? 3 : 1, make<Kexec>},
             {c.open_files < 4 ? 4 : 1, make<NewMemfd>},
             {when(c.open_files > 0, 3), make<WriteMemfd>},
             {when(c.open_files > 0, 1), make<ResizeMemfd>},
             {when(c.open_files > 0, 1), make<SeekMemfd>},
             {when(c.open_files > 0, 1), make<CloseFile>},
             {1, make<Crash>},
         });
}

KernelCommandGen kexec_round_trip_commands(const KernelState& s) {
  const Counts c = counts(s);
  const bool any_out = !session_slots(s, false).empty();
  const bool any_in = !session_slots(s, true).empty();
  return weighted(
      s, {
             {c.device_open ? 0 : 8, make<OpenDevice>},
             {when(c.device_open, c.live_outgoing < 2 ? 4 : 1), make<CreateSession>},
             {when(c.device_open && c.unretrieved_incoming, 8), make<RetrieveSession>},
             {when(any_out && c.open_files > 0, c.live_outgoing > 0 ? 10 : 1), make<Preserve>},
             {when(any_in, c.retrievable_files ? 10 : 1), make<RetrieveFd>},
             {when(any_in, c.live_incoming > 0 ? 2 : 0), make<Finish>},
             {when(c.open_sessions > 0, 1), make<CloseSession>},
             {s.outgoing_files() > 0 ? 3 : 1, make<Kexec>},
             {c.open_files < 4 ? 5 : 1, make<NewMemfd>},
             {when(c.open_files > 0, 5), make<WriteMemfd>},
             {when(c.open_files > 0, 2), make<ResizeMemfd>},
             {when(c.open_files > 0, 2), make<SeekMemfd>},
             {when(c.open_files > 0, 1), make<CloseFile>},
         });
}

void kernel_lifecycle_sequence(KernelProfile profile) {
  run_sequence(profile, [](const KernelState& s) { return kernel_lifecycle_commands(s); });
}

void kexec_round_trip_sequence(KernelProfile profile) {
  run_sequence(
      profile, [](const KernelState& s) { return kexec_round_trip_commands(s); },
      /*faults=*/false);
}

}  // namespace luo::testing
