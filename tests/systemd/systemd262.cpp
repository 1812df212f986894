// systemd262.cpp: loading the pinned systemd libraries and calling their LUO code (see the header).
#include "systemd262.hpp"

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "interpose.h"
#include "luo/adapters/memfd.hpp"

namespace luo::sdtest {
namespace {

// Debian's pinned build; tests/systemd/fetch-systemd.sh pins the same.
constexpr char kMajor[] = "262";

// Offsets into systemd 262.1-1's struct Manager, read from manager_luo_restore_fd_stores'
// machine code: `cmpl $0x1,0x1a8(%rdi)` (runtime_scope == RUNTIME_SCOPE_USER returns early),
// the four state timestamps stored from 0x3f0 on, the counter stored to 0x868.
constexpr std::size_t kManagerRuntimeScope = 0x1a8;
constexpr std::size_t kManagerTimestamps = 0x3f0;
constexpr std::size_t kManagerKExecCount = 0x868;
constexpr std::size_t kManagerBytes = 64 * 1024;  // well past the last field it touches
constexpr std::uint32_t kCounterUntouched = 0x5EB71A1D;

struct Id128 {
  std::uint64_t qwords[2];
};
static_assert(sizeof(Id128) == 16);

// The C layout of sd_json_dispatch_field in 262 (spec systemd-luo.md §9.7: 40 bytes, `type` and
// `flags` 64-bit enums).
struct RawDispatchField {
  const char* name;
  std::int64_t type;
  void* callback;
  std::size_t offset;
  std::uint64_t flags;
};
static_assert(sizeof(RawDispatchField) == 40);

using ParseSerializationFn = int (*)(void** ret, int** ret_fds, std::size_t* ret_n_fds);
using AddTimestampsFn = int (*)(void** serialization, const DualTimestamp* start,
                                const DualTimestamp* finish);
using PreserveFn = int (*)(void* serialization, int* ret_session_fd);
using UnrefFn = void* (*)(void*);
using RestoreFn = int (*)(void* manager);
using DigestFn = Id128 (*)(const void* data, std::size_t size);
using ToStringFn = char* (*)(Id128 id, char* s);
using PredicateFn = bool (*)(const char*);
using LogLevelFn = int (*)(int);
using SessionNameFn = int (*)(int fd, char** ret);

ParseSerializationFn parse_serialization;
AddTimestampsFn add_timestamps;
PreserveFn preserve_fd_stores;
UnrefFn variant_unref;
RestoreFn restore_fd_stores;
DigestFn id128_digest;
ToStringFn id128_to_string;
PredicateFn fdname_valid;
PredicateFn session_name_valid;
bool (*string_safe)(const char*, int);
SessionNameFn get_session_name;

// The backend every diverted open/ioctl goes to while a call into systemd runs.
IoctlBackend* g_backend = nullptr;
std::vector<Systemd262::Dispatched>* g_dispatched = nullptr;

int open_hook() {
  auto r = g_backend->open_device();
  return r.ok() ? std::move(r).value().release() : -r.raw_errno();
}
int ioctl_hook(int fd, unsigned long request, void* arg) {
  auto r = g_backend->ioctl(fd, request, arg);
  return r.ok() ? r.value() : -r.raw_errno();
}

// Routes /dev/liveupdate into `backend` for one call into systemd.
class Route {
 public:
  explicit Route(IoctlBackend& backend) {
    g_backend = &backend;
    luo_sd_open_hook = open_hook;
    luo_sd_ioctl_hook = ioctl_hook;
  }
  ~Route() {
    luo_sd_open_hook = nullptr;
    luo_sd_ioctl_hook = nullptr;
    g_backend = nullptr;
  }
  Route(const Route&) = delete;
  Route& operator=(const Route&) = delete;
};

// Runs the fetch helper; its stdout is the library directory, exit 77 means "skip".
std::string fetch_libdir(std::string* why_not) {
  const std::string cmd = std::string("'") + LUO_FETCH_SYSTEMD + "' libdir";
  FILE* p = ::popen(cmd.c_str(), "re");
  if (p == nullptr) {
    *why_not = "cannot run " + cmd;
    return {};
  }
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    out += buf;
  const int status = ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *why_not = "fetch-systemd.sh libdir exited " +
               std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
               " (77: archive unreachable or the pinned version is gone)";
    return {};
  }
  return out;
}

template <class Fn>
bool resolve(void* lib, const char* name, Fn& fn, std::string* why_not) {
  fn = reinterpret_cast<Fn>(::dlsym(lib, name));
  if (fn == nullptr)
    *why_not = std::string("symbol missing from the pinned systemd: ") + name;
  return fn != nullptr;
}

struct Segment {
  std::uintptr_t begin, end;
  bool writable;
};

int collect_segments(dl_phdr_info* info, std::size_t, void* data) {
  auto* ctx = static_cast<std::pair<std::string, std::vector<Segment>>*>(data);
  if (info->dlpi_name == nullptr || ctx->first != info->dlpi_name)
    return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD)
      continue;
    const std::uintptr_t b = info->dlpi_addr + ph.p_vaddr;
    ctx->second.push_back({b, b + ph.p_memsz, (ph.p_flags & PF_W) != 0});
  }
  return 1;
}

// Finds the tables whose first field is named `first` in the writable (relocated, then RELRO)
// segments of libsystemd-core: every 8-aligned spot is tried as a RawDispatchField whose name
// points into the library and equals `first`; the table runs to its all-zero terminator.
std::vector<std::vector<DispatchField>> find_tables(const std::vector<Segment>& segs,
                                                    std::string_view first) {
  const auto inside = [&](const void* p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    for (const auto& s : segs)
      if (a >= s.begin && a < s.end)
        return true;
    return false;
  };
  std::vector<std::vector<DispatchField>> found;
  for (const auto& s : segs) {
    if (!s.writable)
      continue;
    for (std::uintptr_t a = (s.begin + 7) & ~std::uintptr_t{7};
         a + sizeof(RawDispatchField) <= s.end; a += 8) {
      const auto* f = reinterpret_cast<const RawDispatchField*>(a);
      if (!inside(f->name) || std::string_view(f->name) != first)
        continue;
      std::vector<DispatchField> table;
      for (; reinterpret_cast<std::uintptr_t>(f + 1) <= s.end; ++f) {
        if (f->name == nullptr)
          break;
        if (!inside(f->name))
          goto next;
        Dl_info info{};
        std::string cb = "?";
        if (f->callback != nullptr && ::dladdr(f->callback, &info) != 0 && info.dli_sname)
          cb = info.dli_sname;
        table.push_back({f->name, f->type, cb, f->offset, f->flags});
      }
      found.push_back(std::move(table));
    next:;
    }
  }
  return found;
}

}  // namespace

Systemd262* Systemd262::get(std::string* why_not) {
  static std::string failure;
  static Systemd262* instance = [] {
    auto* s = new Systemd262;
    if (!s->load(&failure)) {
      delete s;
      return static_cast<Systemd262*>(nullptr);
    }
    return s;
  }();
  if (instance == nullptr && why_not != nullptr)
    *why_not = failure;
  return instance;
}

bool Systemd262::load(std::string* why_not) {
  const std::string dir = fetch_libdir(why_not);
  if (dir.empty())
    return false;
  const std::string shared = dir + "/libsystemd-shared-" + kMajor + ".so";
  const std::string core = dir + "/libsystemd-core-" + kMajor + ".so";
  shared_ = ::dlopen(shared.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (shared_ == nullptr) {
    *why_not = std::string("dlopen: ") + ::dlerror();
    return false;
  }
  // libsystemd-core's DT_NEEDED on libsystemd-shared-262.so is satisfied by the object already
  // loaded under that soname.
  core_ = ::dlopen(core.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (core_ == nullptr) {
    *why_not = std::string("dlopen: ") + ::dlerror();
    return false;
  }
  LogLevelFn set_level = nullptr;
  if (!resolve(shared_, "luo_parse_serialization", parse_serialization, why_not) ||
      !resolve(shared_, "luo_serialization_add_shutdown_timestamps", add_timestamps, why_not) ||
      !resolve(shared_, "luo_preserve_fd_stores", preserve_fd_stores, why_not) ||
      !resolve(shared_, "sd_json_variant_unref", variant_unref, why_not) ||
      !resolve(shared_, "id128_digest", id128_digest, why_not) ||
      !resolve(shared_, "sd_id128_to_string", id128_to_string, why_not) ||
      !resolve(shared_, "fdname_is_valid", fdname_valid, why_not) ||
      !resolve(shared_, "string_is_safe", string_safe, why_not) ||
      !resolve(shared_, "luo_session_name_is_valid", session_name_valid, why_not) ||
      !resolve(shared_, "fd_get_luo_session_name", get_session_name, why_not) ||
      !resolve(shared_, "log_set_max_level", set_level, why_not) ||
      !resolve(core_, "manager_luo_restore_fd_stores", restore_fd_stores, why_not)) {
    return false;
  }
  // systemd's warnings explain every skipped entry; LUO_SYSTEMD_LOG=7 shows them (LOG_DEBUG).
  const char* level = ::getenv("LUO_SYSTEMD_LOG");
  set_level(level != nullptr ? std::atoi(level) : 2 /* LOG_CRIT: quiet */);

  std::pair<std::string, std::vector<Segment>> ctx{core, {}};
  ::dl_iterate_phdr(collect_segments, &ctx);
  const auto one = [&](std::string_view first, std::string_view second,
                       std::vector<DispatchField>& out) {
    std::vector<std::vector<DispatchField>> hits;
    for (auto& t : find_tables(ctx.second, first))
      if (t.size() > 1 && t[1].name == second)
        hits.push_back(std::move(t));
    if (hits.size() != 1) {
      *why_not = "expected one restore dispatch table starting with '" + std::string(first) +
                 "', '" + std::string(second) + "' in " + core + ", found " +
                 std::to_string(hits.size());
      return false;
    }
    out = std::move(hits[0]);
    return true;
  };
  if (!one("version", "state", mapping_table_) ||
      !one("KExecCount", "ShutdownStartTimestamp", state_table_) ||
      !one("type", "name", entry_table_)) {
    return false;
  }
  version_ = std::string(kMajor) + " (" + dir + ")";
  return true;
}

Systemd262::StageB Systemd262::stage_b(IoctlBackend& kernel, std::string_view stage_a,
                                       const std::optional<std::array<DualTimestamp, 2>>& late) {
  StageB out;
  auto memfd = memfd::create("luo-fd-store");
  if (!memfd.ok() || !memfd::write_at(memfd.value().get(), 0, stage_a).ok())
    throw std::runtime_error("cannot write the Stage A memfd");
  ::setenv("SYSTEMD_LUO_SERIALIZE_FD", std::to_string(memfd.value().get()).c_str(), 1);
  Route route(kernel);
  void* serialization = nullptr;
  int* fds = nullptr;
  std::size_t n = 0;
  out.parse_result = parse_serialization(&serialization, &fds, &n);
  ::unsetenv("SYSTEMD_LUO_SERIALIZE_FD");
  if (fds != nullptr)
    out.keep_fds.assign(fds, fds + n);
  ::free(fds);
  if (late && serialization != nullptr)
    out.merge_result = add_timestamps(&serialization, &(*late)[0], &(*late)[1]);
  int session = -1;
  const auto start = std::chrono::steady_clock::now();
  out.result = preserve_fd_stores(serialization, &session);
  out.builder_time = std::chrono::steady_clock::now() - start;
  if (session >= 0)
    out.session.reset(session);
  variant_unref(serialization);
  return out;
}

Systemd262::Restore Systemd262::restore(IoctlBackend& kernel) {
  Restore out;
  auto manager = std::make_unique<std::byte[]>(kManagerBytes);  // zeroed: a system manager
  static_assert(kManagerRuntimeScope + 4 <= kManagerBytes);
  std::memcpy(&manager[kManagerKExecCount], &kCounterUntouched, sizeof kCounterUntouched);
  {
    Route route(kernel);
    g_dispatched = &out.dispatched;
    const auto start = std::chrono::steady_clock::now();
    out.result = restore_fd_stores(manager.get());
    out.restore_time = std::chrono::steady_clock::now() - start;
    g_dispatched = nullptr;
  }
  std::uint32_t counter = 0;
  std::memcpy(&counter, &manager[kManagerKExecCount], sizeof counter);
  if (counter == kCounterUntouched + 1) {
    // The state-dispatch failure path: the manager's own counter plus one. A fresh boot's
    // manager starts at 0.
    out.state_ignored = true;
    out.counter = 1;
  } else if (counter != kCounterUntouched) {
    out.counter = counter;
  }
  std::memcpy(out.timestamps.data(), &manager[kManagerTimestamps], sizeof out.timestamps);
  return out;
}

std::string Systemd262::id128_digest_hex(std::string_view data) const {
  const std::string s(data);
  char hex[33] = {};
  id128_to_string(id128_digest(s.c_str(), static_cast<std::size_t>(-1)), hex);
  return hex;
}

bool Systemd262::fdname_is_valid(const std::string& name) const {
  return fdname_valid(name.c_str());
}
bool Systemd262::string_is_safe(const std::string& s) const {
  return string_safe(s.c_str(), 0);
}
bool Systemd262::luo_session_name_is_valid(const std::string& s) const {
  return session_name_valid(s.c_str());
}
int Systemd262::fd_get_luo_session_name(int fd, std::string* name) const {
  // Not diverted: the hooks are only set while a Stage B or restore call runs, so GET_NAME,
  // fstatfs and readlink reach this machine's kernel, as in PID 1.
  char* found = nullptr;
  const int r = get_session_name(fd, &found);
  if (found != nullptr) {
    if (name != nullptr)
      *name = found;
    ::free(found);
  }
  return r;
}

}  // namespace luo::sdtest

// PID 1's hand-off of one restored fd to its unit (libsystemd-core calls it through its PLT):
// recorded for the test instead. Owns `fd`, as the real one does on every path.
extern "C" __attribute__((visibility("default"))) int manager_dispatch_external_fd_to_unit(
    void* /*manager*/, const char* unit_id, const char* name, std::uint64_t index, int fd,
    const char* context) {
  luo::UniqueFd owned(fd);
  if (luo::sdtest::g_dispatched == nullptr)
    return -EINVAL;
  luo::sdtest::g_dispatched->push_back(
      {unit_id ? unit_id : "", name ? name : "", index, context ? context : "", std::move(owned)});
  return 1;
}
