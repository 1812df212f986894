// listen_fds.cpp: the LISTEN_PID / LISTEN_PIDFDID / LISTEN_FDS / LISTEN_FDNAMES reader on any
// values. The input is NUL-separated: own pid, LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES,
// LISTEN_PIDFDID, own pidfd id; the first byte's bits say which variables are set.
// Properties: an accepted set has exactly LISTEN_FDS entries numbered 3, 4, ... with valid names
// (or "unknown"), and the writer's variables for those names read back to the same list. No fd
// is touched.
#include <charconv>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "luo/adapters/listen_fds.hpp"

namespace {

std::string field(std::string_view& rest) {
  const auto nul = rest.find('\0');
  std::string f(rest.substr(0, nul));
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return f;
}

template <class T>
T number(const std::string& s, T fallback) {
  T v = fallback;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The fd limit the reader checks LISTEN_FDS against. The process's hard limit (20000 on the
// campaign machine) let most of the campaign's time go to sets of ~20000 names, built, written
// and read back per run; 1024, a usual soft limit, keeps both sides of the check (count 1021
// accepted, 1022 refused) a few bytes away and every accepted set cheap.
constexpr std::uint64_t kFdLimit = 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::uint8_t present = data[0];
  std::string_view rest = luo::fuzz::as_text(data + 1, size - 1);
  const pid_t own_pid = number<pid_t>(field(rest), 42);
  luo::listen::Environment env;
  const char* keys[] = {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PIDFDID"};
  for (unsigned i = 0; i < 4; ++i) {
    std::string v = field(rest);
    if (present & (1u << i))
      env[keys[i]] = std::move(v);
  }
  std::optional<std::uint64_t> own_id;
  if (present & 0x10)
    own_id = number<std::uint64_t>(field(rest), 0);

  // F5 (docs/reliability.md): the reader checks LISTEN_FDS against the fd limit before it
  // allocates anything, so no count is too large to hand it.
  auto r = luo::listen::parse_listen_fds(env, own_pid, own_id, kFdLimit);
  if (!r.ok()) {
    luo::fuzz::check(r.raw_errno() == luo::listen::listen_error_errno(r.error()),
                     "an error without its errno");
    return 0;
  }
  const auto& fds = r.value();
  std::vector<std::string> names;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    luo::fuzz::check(fds[i].fd == static_cast<int>(3 + i), "fds not numbered 3, 4, ...");
    names.push_back(fds[i].name);
  }
  luo::fuzz::check(!fds.empty(), "an accepted LISTEN_FDS without fds");
  luo::fuzz::check(std::to_string(fds.size()) == env["LISTEN_FDS"], "fd count differs");
  auto written = luo::listen::listen_environment(names, own_pid, own_id);
  if (!written.ok()) {
    // Only a name the writer refuses may stop it; the reader passes names through as written.
    luo::fuzz::check(written.error() == luo::listen::ListenError::invalid_name,
                     "the writer refuses an accepted set");
    return 0;
  }
  luo::listen::Environment env2;
  for (const std::string& kv : written.value()) {
    const auto eq = kv.find('=');
    env2[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto back = luo::listen::parse_listen_fds(env2, own_pid, own_id, kFdLimit);
  luo::fuzz::check(back.ok() && back.value() == fds, "the writer's variables read differently");
  return 0;
}
