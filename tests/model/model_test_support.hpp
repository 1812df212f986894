// model_test_support.hpp: helpers shared by the tests of luo::model.
//
// The expected values in these tests come from the spec (/work/shared/spec/kernel-luo.md), not
// from the model's tables, so that the tests check the tables independently. `CheckedModel`
// wraps a KernelModel and checks `violated_invariants()` after every operation, so every
// scenario written with it is also an invariant test.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "luo/model/invariants.hpp"
#include "luo/model/kernel_model.hpp"

namespace luo {

// gtest finds these through ADL, so failures print "EBUSY" rather than a byte dump.
inline void PrintTo(Errno e, std::ostream* os) {
  *os << errno_name(e);
}
inline void PrintTo(KernelProfile p, std::ostream* os) {
  *os << profile_name(p);
}
inline void PrintTo(const Outcome& o, std::ostream* os) {
  *os << to_string(o);
}
inline void PrintTo(const HandlerCall& c, std::ostream* os) {
  *os << handler_op_name(c.op) << "(" << c.session << ", 0x" << std::hex << c.token << std::dec
      << ")";
}
inline void PrintTo(const Step& s, std::ostream* os) {
  *os << to_string(s.outcome);
  if (s.outcome.kind == OutcomeKind::handler_error)
    *os << " " << errno_name(s.error);
}

namespace model_test {

inline SessionNameField name(std::string_view s) {
  return SessionNameField::from(s);
}

// Test names may not contain '.', so "6.19" becomes "v6_19".
inline std::string profile_param_name(const ::testing::TestParamInfo<KernelProfile>& info) {
  std::string out = "v";
  for (char c : profile_name(info.param))
    out += c == '.' ? '_' : c;
  return out;
}

inline std::string describe(const Step& s) {
  std::ostringstream os;
  PrintTo(s, &os);
  return os.str();
}

inline ::testing::AssertionResult Succeeds(const Step& s) {
  if (s.outcome.kind == OutcomeKind::success)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected success, got " << describe(s);
}

// A failure with this errno, whether the table fixes it or a handler supplied it.
inline ::testing::AssertionResult FailsWith(const Step& s, Errno e) {
  const bool failed =
      s.outcome.kind == OutcomeKind::failure || s.outcome.kind == OutcomeKind::handler_error;
  if (failed && s.error == e)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << errno_name(e) << ", got " << describe(s);
}

inline ::testing::AssertionResult IsUndefined(const Step& s) {
  if (s.outcome.kind == OutcomeKind::undefined)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected undefined, got " << describe(s);
}

// The fixture of a test that runs once on every kernel profile (instantiated with
// ::testing::ValuesIn(kAllProfiles) and profile_param_name).
class PerProfile : public ::testing::TestWithParam<KernelProfile> {
 protected:
  KernelProfile profile() const { return GetParam(); }
  bool has(Feature f) const { return profile_has(profile(), f); }
  bool legacy() const { return has(Feature::legacy_limits); }  // 6.19-7.1's fixed limits
};

// Environments for the faults the kernel cannot predict.
inline Environment no_free_fd() {
  Environment e;
  e.no_free_fd = true;
  return e;
}
inline Environment deserialization_fails() {
  Environment e;
  e.deserialization_fails = true;
  return e;
}
inline Environment copy_back_fault() {
  Environment e;
  e.copy_back_fault = true;
  return e;
}
inline Environment out_of_memory() {
  Environment e;
  e.out_of_memory = true;
  return e;
}
inline Environment can_finish_vetoes() {
  Environment e;
  e.can_finish_vetoes = true;
  return e;
}
inline Environment handler_fails(Errno error) {
  Environment e;
  e.handler_error = error;
  return e;
}
inline Environment freeze_fails(std::uint32_t nth_file, Errno error) {
  Environment e;
  e.freeze_failure = Environment::FreezeFailure{nth_file, error};
  return e;
}

inline HandlerCall call(HandlerOp op, std::string session, Token token) {
  return HandlerCall{op, std::move(session), token};
}

// The log entries of one kind of callback, in order.
inline std::vector<HandlerCall> only(const std::vector<HandlerCall>& log, HandlerOp op) {
  std::vector<HandlerCall> out;
  for (const auto& c : log) {
    if (c.op == op)
      out.push_back(c);
  }
  return out;
}

// A KernelModel whose every operation is followed by an invariant check. A violation is a test
// failure naming the step, so a scenario shows exactly where the state went wrong.
class CheckedModel {
 public:
  explicit CheckedModel(KernelProfile profile = kDefaultProfile) : k_(profile) {
    check("construction");
  }

  // Checking costs time linear in the model's size, so a scenario with thousands of sessions
  // checked after every step is quadratic. Such stress scenarios check every `n`th step (and
  // every kexec, and wherever they call check_now()); all other scenarios keep n = 1.
  void set_check_stride(std::size_t n) { stride_ = n == 0 ? 1 : n; }
  void check_now() { check("explicit check"); }

  const KernelModel& model() const { return k_; }
  const KernelModel* operator->() const { return &k_; }
  void clear_handler_log() { k_.clear_handler_log(); }
  std::size_t checks() const { return checks_; }

  FileId new_memfd() { return k_.new_memfd(); }
  FileId new_unsupported_file() { return k_.new_unsupported_file(); }

  Step open_device(const Environment& env = {}) {
    return checked("open_device", k_.open_device(env));
  }
  Step release_device() { return checked("release_device", k_.release_device()); }
  Step create_session(std::string_view n, const Environment& env = {}) {
    return create_session(name(n), env);
  }
  Step create_session(const SessionNameField& n, const Environment& env = {}) {
    return checked("create_session", k_.create_session(n, env));
  }
  Step retrieve_session(std::string_view n, const Environment& env = {}) {
    return retrieve_session(name(n), env);
  }
  Step retrieve_session(const SessionNameField& n, const Environment& env = {}) {
    return checked("retrieve_session", k_.retrieve_session(n, env));
  }
  Step preserve_fd(SessionId s, FileRef f, Token t, const Environment& env = {}) {
    return checked("preserve_fd", k_.preserve_fd(s, f, t, env));
  }
  Step preserve_memfd(SessionId s, FileId f, Token t, const Environment& env = {}) {
    return preserve_fd(s, FileRef{f, FileKind::memfd}, t, env);
  }
  Step retrieve_fd(SessionId s, Token t, const Environment& env = {}) {
    return checked("retrieve_fd", k_.retrieve_fd(s, t, env));
  }
  Step finish_session(SessionId s, std::uint32_t reserved = 0, const Environment& env = {}) {
    return checked("finish_session", k_.finish_session(s, reserved, env));
  }
  Step get_session_name(SessionId s, std::uint32_t reserved = 0) {
    return checked("get_session_name", k_.get_session_name(s, reserved));
  }
  Step release_session(SessionId s, const Environment& env = {}) {
    return checked("release_session", k_.release_session(s, env));
  }
  Step kexec(const Environment& env = {}) {
    const Step s = k_.kexec(env);
    check("kexec");
    return s;
  }

  // Creation plus the checks every test would otherwise repeat.
  SessionId must_create(std::string_view n) {
    const Step s = create_session(n);
    EXPECT_TRUE(Succeeds(s)) << "create " << n;
    EXPECT_NE(s.session, kNoSession);
    return s.session;
  }
  SessionId must_retrieve(std::string_view n) {
    const Step s = retrieve_session(n);
    EXPECT_TRUE(Succeeds(s)) << "retrieve " << n;
    EXPECT_NE(s.session, kNoSession);
    return s.session;
  }
  FileId must_preserve_new_memfd(SessionId s, Token t) {
    const FileId f = new_memfd();
    EXPECT_TRUE(Succeeds(preserve_memfd(s, f, t))) << "preserve token " << t;
    return f;
  }
  // Creates the sessions in order, each with one memfd per token, preserved in order.
  using SessionPlan = std::vector<std::pair<std::string, std::vector<Token>>>;
  std::vector<SessionId> must_create_all(const SessionPlan& sessions) {
    std::vector<SessionId> ids;
    for (const auto& [n, tokens] : sessions) {
      ids.push_back(must_create(n));
      for (Token t : tokens)
        must_preserve_new_memfd(ids.back(), t);
    }
    return ids;
  }

 private:
  Step checked(std::string_view what, Step s) {
    if (++since_check_ >= stride_)
      check(what);
    return s;
  }
  void check(std::string_view what) {
    ++checks_;
    since_check_ = 0;
    const auto violated = violated_invariants(k_);
    if (violated.empty())
      return;
    std::string names;
    for (auto v : violated)
      names += std::string(v) + " ";
    ADD_FAILURE() << "invariants violated at check " << checks_ << " (" << what << ", profile "
                  << profile_name(k_.profile()) << "): " << names;
  }

  KernelModel k_;
  std::size_t checks_ = 0;  // invariant checks made
  std::size_t stride_ = 1;
  std::size_t since_check_ = 0;
};

// The tokens of an incoming or outgoing session's files, in list order.
template <class Session>
std::vector<Token> tokens_of(const Session& s) {
  std::vector<Token> out;
  for (const auto& f : s.files)
    out.push_back(f.token);
  return out;
}

// The names of the incoming sessions, in list order.
inline std::vector<std::string> incoming_names(const KernelModel& k) {
  std::vector<std::string> out;
  for (const auto& s : k.incoming())
    out.push_back(s.name);
  return out;
}
inline std::vector<std::string> outgoing_names(const KernelModel& k) {
  std::vector<std::string> out;
  for (const auto& s : k.outgoing())
    out.push_back(s.name);
  return out;
}

inline const ModelIncomingSession* incoming_named(const KernelModel& k, std::string_view n) {
  for (const auto& s : k.incoming()) {
    if (s.name == n)
      return &s;
  }
  return nullptr;
}

}  // namespace model_test
}  // namespace luo
