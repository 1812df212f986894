// impl_test_support.hpp: a scripted KernelPort and a recording Observer for impl/'s unit tests.
//
// FakePort stands in for the kernel. It records every call impl/ makes, so a test can assert
// that a refusal made none, and answers from a per-operation script (success when nothing is
// scripted), so a test can put any errno, allowed or not, into any state. The fds it hands out
// are real eventfds: an fd impl/ forgets to close trips the binary's fd-leak check, and one it
// closes twice shows up with fcntl(F_GETFD) on a number the test re-occupied (occupy()).
//
//   Rig rig(KernelProfile::v7_2);
//   auto dev = must(rig.lu.open_device());
//   rig.port.script(PortOp::create_session, ENOMEM);
//   auto r = dev.create_session("vm0");          // origin kernel, ENOMEM
//   EXPECT_EQ(rig.port.count(PortOp::create_session), 1u);
#pragma once

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "per_profile.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "luo/impl/live_update.hpp"

namespace luo {

// GoogleTest prints enums as raw bytes; these make a failed EXPECT_EQ on a state readable.
inline void PrintTo(ErrorOrigin o, std::ostream* os) {
  *os << origin_name(o);
}
inline void PrintTo(DeviceState s, std::ostream* os) {
  *os << state_name(s);
}
inline void PrintTo(OutgoingSessionState s, std::ostream* os) {
  *os << state_name(s);
}
inline void PrintTo(IncomingSessionState s, std::ostream* os) {
  *os << state_name(s);
}
inline void PrintTo(FileState s, std::ostream* os) {
  *os << state_name(s);
}
inline void PrintTo(KernelProfile p, std::ostream* os) {
  *os << profile_name(p);
}

}  // namespace luo

namespace luo::impl_test {

// The fake port records calls by the runtime's own Operation names.
using PortOp = ::luo::Operation;

struct PortCall {
  PortOp op = PortOp::open_device;
  int target = -1;  // the device or session fd the call was made on
  int fd = -1;      // PRESERVE_FD's file
  std::optional<Token> token{};
  std::optional<std::uint32_t> reserved{};
  std::optional<SessionNameField> name{};
};

class FakePort final : public KernelPort {
 public:
  // The next `times` calls of `op` fail with `err`; 0 scripts a success. Scripts are per
  // operation and run out into success.
  void script(PortOp op, int err, unsigned times = 1) {
    for (unsigned i = 0; i < times; ++i)
      script_[op].push_back(err);
  }
  const std::vector<PortCall>& calls() const { return calls_; }
  std::size_t count(PortOp op) const {
    std::size_t n = 0;
    for (const PortCall& c : calls_)
      n += c.op == op ? 1 : 0;
    return n;
  }
  // Forgets the calls so far, so a test can count only those of the step under test.
  void forget_calls() { calls_.clear(); }
  // Every fd a successful call handed out, in order.
  const std::vector<int>& handed_out() const { return handed_out_; }
  // For failure messages: the calls as "op(target)" in order.
  std::string describe_calls() const {
    std::string s;
    for (const PortCall& c : calls_) {
      s += std::string(operation_name(c.op)) + "(" + std::to_string(c.target) + ") ";
    }
    return s.empty() ? "no calls" : s;
  }

  // The device is a memfd of its own, not an eventfd like the other fds handed out: eventfds
  // share one anon inode, and is_device() must tell this open file from every other by identity
  // (fd numbers are reused once closed).
  SysResult<UniqueFd> open_device() override {
    calls_.push_back({.op = PortOp::open_device});
    if (const int e = next(PortOp::open_device))
      return SysResult<UniqueFd>::failure(e);
    UniqueFd fd(::memfd_create("fake-luo-device", MFD_CLOEXEC));
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0)
      devices_.insert({st.st_dev, st.st_ino});
    handed_out_.push_back(fd.get());
    return fd;
  }
  bool is_device(int fd) override {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && devices_.count({st.st_dev, st.st_ino}) != 0;
  }
  SysResult<UniqueFd> create_session(int device_fd, const SessionNameField& name) override {
    auto r = fd_result({.op = PortOp::create_session, .target = device_fd, .name = name});
    if (r.ok())
      names_[r.value().get()] = name;
    return r;
  }
  SysResult<UniqueFd> retrieve_session(int device_fd, const SessionNameField& name) override {
    auto r = fd_result({.op = PortOp::retrieve_session, .target = device_fd, .name = name});
    if (r.ok())
      names_[r.value().get()] = name;
    return r;
  }
  SysStatus preserve_fd(int session_fd, int fd, std::uint64_t token) override {
    return status({.op = PortOp::preserve_fd, .target = session_fd, .fd = fd, .token = token});
  }
  SysResult<UniqueFd> retrieve_fd(int session_fd, std::uint64_t token) override {
    return fd_result({.op = PortOp::retrieve_fd, .target = session_fd, .token = token});
  }
  SysStatus finish_session(int session_fd, std::uint32_t reserved) override {
    return status({.op = PortOp::finish_session, .target = session_fd, .reserved = reserved});
  }
  SysResult<SessionNameField> get_session_name(int session_fd) override {
    calls_.push_back({.op = PortOp::get_session_name, .target = session_fd});
    if (const int e = next(PortOp::get_session_name)) {
      return SysResult<SessionNameField>::failure(e);
    }
    // The kernel answers with the name the session was created or retrieved with.
    auto it = names_.find(session_fd);
    return it == names_.end() ? SessionNameField{} : it->second;
  }
  SysStatus kexec() override { return status({.op = PortOp::kexec}); }

 private:
  int next(PortOp op) {
    auto& queue = script_[op];
    if (queue.empty())
      return 0;
    const int e = queue.front();
    queue.pop_front();
    return e;
  }
  SysResult<UniqueFd> fd_result(PortCall call) {
    calls_.push_back(call);
    if (const int e = next(call.op))
      return SysResult<UniqueFd>::failure(e);
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
    handed_out_.push_back(fd.get());
    return fd;
  }
  SysStatus status(PortCall call) {
    calls_.push_back(call);
    if (const int e = next(call.op))
      return SysStatus::failure(e);
    return sys_ok();
  }

  std::map<PortOp, std::deque<int>> script_;
  std::vector<PortCall> calls_;
  std::vector<int> handed_out_;
  std::map<int, SessionNameField> names_;      // session fd -> name, for GET_NAME
  std::set<std::pair<dev_t, ino_t>> devices_;  // every device open_device() handed out
};

class RecordingObserver final : public Observer {
 public:
  void on_transition(const TransitionRecord& record) override { records_.push_back(record); }
  const std::vector<TransitionRecord>& records() const { return records_; }
  void clear() { records_.clear(); }

 private:
  std::vector<TransitionRecord> records_;
};

// One record on one line, so a sequence compares (and fails) as a readable list.
inline std::string render(const TransitionRecord& r) {
  const auto or_dash = [](std::string_view s) {
    return s.empty() ? std::string("-") : std::string(s);
  };
  std::string s = "b" + std::to_string(r.boot) + " " + std::string(r.machine) + " [" + r.object +
                  "] " + std::string(operation_name(r.operation)) + " / " + or_dash(r.event) +
                  ": " + or_dash(r.from) + " -> " + or_dash(r.to) + " = " + errno_text(r.result) +
                  (r.syscall_issued ? " issued" : " refused");
  if (r.token)
    s += " token " + std::to_string(*r.token);
  return s;
}

inline std::vector<std::string> render(const std::vector<TransitionRecord>& records) {
  std::vector<std::string> lines;
  for (const auto& r : records)
    lines.push_back(render(r));
  return lines;
}

// A runtime over a fresh FakePort, observed. Members are declared in the order LiveUpdate needs
// them to outlive it.
struct Rig {
  explicit Rig(KernelProfile profile) : lu(port, profile, &observer) {}
  FakePort port;
  RecordingObserver observer;
  LiveUpdate lu;
};

// The value of a Result that must succeed; a failure throws, which GoogleTest reports as a
// failed test with impl's own message (and unwinds, so no fd leaks on the way out).
template <class T>
T must(Result<T> r, std::string_view what = "") {
  if (!r.ok())
    throw std::runtime_error(std::string(what) + ": " + r.error().message());
  return std::move(r).value();
}

// The same for a raw syscall result (the adapters' helpers).
template <class T>
T must(SysResult<T> r, std::string_view what = "") {
  if (!r.ok())
    throw std::runtime_error(std::string(what) + ": " + errno_text(r.raw_errno()));
  return std::move(r).value();
}

struct ExpectedError {
  ErrorOrigin origin;
  int err;
  Operation op;
  std::string object;
  std::string state;
};

// Every field of the Error, and a message() that names them all in words.
template <class T>
::testing::AssertionResult failed_with(const Result<T>& r, const ExpectedError& x) {
  if (r.ok())
    return ::testing::AssertionFailure() << "succeeded";
  const Error& e = r.error();
  auto fail = ::testing::AssertionFailure();
  bool ok = true;
  if (e.origin() != x.origin) {
    ok = false;
    fail << "origin '" << origin_name(e.origin()) << "', want '" << origin_name(x.origin) << "'; ";
  }
  if (e.raw_errno() != x.err) {
    ok = false;
    fail << "errno " << errno_text(e.raw_errno()) << ", want " << errno_text(x.err) << "; ";
  }
  if (e.operation() != x.op) {
    ok = false;
    fail << "operation " << operation_name(e.operation()) << ", want " << operation_name(x.op)
         << "; ";
  }
  if (e.object() != x.object) {
    ok = false;
    fail << "object \"" << e.object() << "\", want \"" << x.object << "\"; ";
  }
  if (e.state() != x.state) {
    ok = false;
    fail << "state \"" << e.state() << "\", want \"" << x.state << "\"; ";
  }
  const std::string m = e.message();
  for (const std::string& part :
       {std::string(operation_name(x.op)), x.object, std::string(origin_name(x.origin)),
        errno_text(x.err), x.state.empty() ? std::string() : "(" + x.state + ")"}) {
    if (m.find(part) == std::string::npos) {
      ok = false;
      fail << "message() lacks \"" << part << "\"; ";
    }
  }
  if (ok)
    return ::testing::AssertionSuccess();
  return fail << "message: " << m;
}

inline bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

// Puts a new fd at number `raw`, which must be free: if impl/ closed `raw` a second time, the
// test would see this fd vanish.
inline UniqueFd occupy(int raw) {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
  // A new fd takes the lowest free number, which is `raw` itself when nothing lower is free.
  if (fd.get() != raw)
    fd = UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, raw));
  EXPECT_EQ(fd.get(), raw) << "fd " << raw << " was not free";
  return fd;
}

inline UniqueFd some_file() {
  return UniqueFd(::eventfd(0, EFD_CLOEXEC));
}

using ::luo::testing::PerProfile;

}  // namespace luo::impl_test

#define LUO_IMPL_PER_PROFILE(suite) LUO_INSTANTIATE_PER_PROFILE(suite)
