// The C API (luo/luo.h) over impl/ and adapters/. Every entry point runs its body through
// guarded(), which turns any C++ exception into an errno and a message, so none crosses the C
// boundary. Handles hold a shared_ptr to their runtime's state, so they can be freed in any
// order: the backend, the port and the LiveUpdate live as long as the last handle.
#include "luo/luo.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/linux_kernel.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/live_update.hpp"
#include "luo/model/limits.hpp"

static_assert(LUO_NAME_BUFFER_SIZE == luo::kSessionNameFieldSize,
              "LUO_NAME_BUFFER_SIZE is the kernel's name field (model/limits.hpp)");

namespace {

struct RuntimeState {
  std::unique_ptr<luo::IoctlBackend> backend;
  luo::SimulatedKernel* simulator = nullptr;  // backend, when it is the simulator
  std::unique_ptr<luo::IoctlPort> port;
  std::unique_ptr<luo::LiveUpdate> lu;
  std::string last_error;
  std::uint64_t errors = 0;  // counts set_error() calls, so guarded() sees whether one was made
};

using State = std::shared_ptr<RuntimeState>;

}  // namespace

// Members are declared runtime first, so the runtime outlives the object it is destroyed after.
struct luo_runtime {
  State rt;
};
struct luo_device {
  State rt;
  luo::Device dev;
};
struct luo_outgoing {
  State rt;
  luo::OutgoingSession s;
};
struct luo_incoming {
  State rt;
  luo::IncomingSession s;
};
struct luo_registry {
  State rt;
  luo::FdStoreRegistry owners;
};
struct luo_held {
  State rt;
  luo::HeldFds held;
};
struct luo_report {
  std::vector<luo::EntryReport> entries;
};
struct luo_manager {
  State rt;
  luo::HandoffManager m;
  std::string mapping_json;
};
struct luo_stage_a_result {
  State rt;
  luo::StageAResult result;
  std::string json;
  luo_report report;
};
struct luo_stage_b_result {
  State rt;
  luo::StageBResult result;
  std::string json;
  luo_report report;
};

namespace {

int set_error(RuntimeState* rt, int error, std::string message) {
  if (rt != nullptr) {
    rt->last_error = std::move(message);
    ++rt->errors;
  }
  return error;
}

int set_error(RuntimeState* rt, const luo::Error& e) {
  return set_error(rt, e.raw_errno(), e.message());
}

// Runs body(function), where `function` is the C entry point's name: inside the lambda
// __func__ would be "operator()". Any exception becomes ENOMEM or EIO with its message. Every
// failure leaves a message that starts with the C function's name: the runtime's own (an
// Error's message) is prefixed with it, and a bare errno gets its name.
template <class F>
int guarded(RuntimeState* rt, const char* function, F&& body) noexcept {
  const std::string prefix = std::string(function) + ": ";
  try {
    const std::uint64_t before = rt != nullptr ? rt->errors : 0;
    const int error = body(function);
    if (error != 0 && rt != nullptr) {
      if (rt->errors == before) {
        const auto name = luo::errno_from_int(error);
        set_error(rt, error,
                  prefix + (name ? std::string(luo::errno_name(*name)) : std::to_string(error)));
      } else if (!rt->last_error.starts_with(prefix)) {
        rt->last_error.insert(0, prefix);
      }
    }
    return error;
  } catch (const std::bad_alloc&) {
    return set_error(rt, ENOMEM, prefix + "out of memory");
  } catch (const std::exception& e) {
    return set_error(rt, EIO, prefix + e.what());
  } catch (...) {
    return set_error(rt, EIO, prefix + "unknown exception");
  }
}

int invalid(RuntimeState* rt, const char* function, const char* what) {
  return set_error(rt, EINVAL, std::string(function) + ": " + what);
}

// The prologue of every entry point on a handle: a NULL handle is EINVAL with no message (there
// is no runtime to keep one in); otherwise body(state, function) runs through guarded().
template <class Handle, class F>
int on(Handle* h, const char* function, F&& body) noexcept {
  if (h == nullptr)
    return EINVAL;
  RuntimeState* s = h->rt.get();
  return guarded(s, function, [&](const char* fn) { return body(s, fn); });
}

// 0, or the errno of a failed Status or Result with its message kept.
template <class R>
int status_of(RuntimeState* s, const R& r) {
  return r ? 0 : set_error(s, r.error());
}

// An optional output: written only when the caller passed somewhere to write it. Entry points
// clear theirs first, so a caller reads no stale value after any failure.
template <class T, class V>
void put(T* out, V&& value) {
  if (out != nullptr)
    *out = std::forward<V>(value);
}

// A new handle of type H sharing `rt`, owning r's value, in *out; or r's error.
template <class H, class R>
int give(RuntimeState* s, const State& rt, R&& r, H** out) {
  if (!r)
    return set_error(s, r.error());
  *out = new H{rt, std::move(r).value()};
  return 0;
}

// luo_*_close(): the close runs through guarded(), so a failure is only recorded, and the handle
// is freed either way.
template <class Handle, class Close>
void close_handle(Handle* h, const char* function, Close close) noexcept {
  if (h == nullptr)
    return;
  (void)guarded(h->rt.get(), function, [&](const char* /*fn*/) {
    close(*h);
    return 0;
  });
  delete h;
}

int copy_name(RuntimeState* rt, const char* function, const std::string& name, char* buf,
              std::size_t size) {
  if (name.size() + 1 > size) {
    return set_error(
        rt, ERANGE,
        std::string(function) + ": the name needs " + std::to_string(name.size() + 1) + " bytes");
  }
  std::memcpy(buf, name.c_str(), name.size() + 1);
  return 0;
}

const char* c_str(std::string_view literal) {
  // Every state and profile name is a string literal, so its view is NUL-terminated.
  return literal.data();
}

// Enum arguments are read as the ints a C caller passed: *_MIN_ENUM and *_MAX_ENUM make every
// int a value of the enum type, and the switches below are over int, so any value is defined.
template <class E>
int raw(E value) {
  return static_cast<int>(value);
}

std::optional<luo::PreserveMode> preserve_mode(luo_preserve_mode m) {
  switch (raw(m)) {
    case LUO_PRESERVE_NO:
      return luo::PreserveMode::no;
    case LUO_PRESERVE_YES:
      return luo::PreserveMode::yes;
    case LUO_PRESERVE_RESTART:
      return luo::PreserveMode::restart;
    case LUO_PRESERVE_ON_SUCCESS:
      return luo::PreserveMode::on_success;
    default:
      return std::nullopt;
  }
}

std::optional<luo::SimFault> sim_fault(luo_fault f) {
  switch (raw(f)) {
    case LUO_FAULT_DESERIALIZE:
      return luo::SimFault::deserialize;
    case LUO_FAULT_PRESERVE_HANDLER:
      return luo::SimFault::preserve_handler;
    case LUO_FAULT_PRESERVE_COPY_BACK:
      return luo::SimFault::preserve_copy_back;
    case LUO_FAULT_FREEZE:
      return luo::SimFault::freeze;
    case LUO_FAULT_RETRIEVE_HANDLER:
      return luo::SimFault::retrieve_handler;
    case LUO_FAULT_CAN_FINISH:
      return luo::SimFault::can_finish;
    default:
      return std::nullopt;
  }
}

std::optional<luo::handoff::EntryType> entry_type(luo_entry_type t) {
  switch (raw(t)) {
    case LUO_ENTRY_FD:
      return luo::handoff::EntryType::fd;
    case LUO_ENTRY_SESSION:
      return luo::handoff::EntryType::luo_session;
    default:
      return std::nullopt;
  }
}

// Offers restored items to a C dispatch function. The C side only borrows the fd, so the
// library closes its copy unless the entry is held for an unknown owner.
class CTarget final : public luo::RestoreTarget {
 public:
  CTarget(luo_dispatch_fn fn, void* user) : fn_(fn), user_(user) {}

  luo::DispatchResult dispatch(luo::RestoredItem& item) override {
    const luo_restored_item c{
        item.owner.c_str(), item.name.c_str(),
        item.type == luo::handoff::EntryType::fd ? LUO_ENTRY_FD : LUO_ENTRY_SESSION, item.fd.get(),
        item.session_name.c_str()};
    int error = 0;
    const luo_disposition d = fn_(user_, &c, &error);
    switch (raw(d)) {
      case LUO_DISPATCH_ATTACHED:
        item.fd.reset();
        return {luo::Disposition::attached, 0, "", ""};
      case LUO_DISPATCH_DUPLICATE:
        item.fd.reset();
        return {luo::Disposition::duplicate, 0, "", ""};
      case LUO_DISPATCH_UNKNOWN_OWNER:
        return {luo::Disposition::unknown_owner, 0, "owner not loaded", ""};
      case LUO_DISPATCH_REFUSED:
        break;
      default:
        // Not a disposition: the callback's answer means nothing, so the entry is kept (held,
        // like an unknown owner's) rather than destroyed on a misreading.
        return {luo::Disposition::unknown_owner, 0,
                "the dispatch function returned " + std::to_string(raw(d)) +
                    ", which is no luo_disposition: held",
                ""};
    }
    item.fd.reset();
    const int e = error != 0 ? error : EINVAL;
    return {luo::Disposition::refused, e,
            "refused by the owner: " +
                std::string(luo::errno_name(luo::errno_from_int(e).value_or(luo::Errno::einval))),
            ""};
  }

 private:
  luo_dispatch_fn fn_;
  void* user_;
};

// A report of `entries` in *report, where the caller asked for one.
void give_report(luo_report** report, std::vector<luo::EntryReport> entries) {
  if (report != nullptr)
    *report = new luo_report{std::move(entries)};
}

// The owner's store in `owners`, or nullptr and the errno set with a message: a NULL owner or
// one the registry would never load is EINVAL with the reason (rather than "not loaded"), an
// owner not loaded ENOENT. The registry's and the manager's handles share it.
template <class Registry>
auto owner_store(RuntimeState* s, Registry& owners, const char* owner, const char* function)
    -> std::pair<decltype(owners.find(owner)), int> {
  if (owner == nullptr)
    return {nullptr, invalid(s, function, "owner is NULL")};
  if (auto valid = luo::FdStoreRegistry::check_owner(owner); !valid)
    return {nullptr, set_error(s, valid.error().raw_errno(),
                               std::string(function) + ": " + valid.error().message())};
  auto* store = owners.find(owner);
  if (store == nullptr)
    return {nullptr,
            set_error(s, ENOENT, std::string(function) + ": owner '" + owner + "' is not loaded")};
  return {store, 0};
}

const luo::FdStoreRegistry& owners_of(const luo_registry* reg) {
  return reg->owners;
}
const luo::FdStoreRegistry& owners_of(const luo_manager* m) {
  return m->m.owners();
}

// A store keeps its own duplicate: the caller's fd is only borrowed. Invalid on failure, with
// the errno set and named.
luo::UniqueFd borrow_fd(RuntimeState* s, const char* function, int fd, int& error) {
  luo::UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!dup)
    error = set_error(s, errno,
                      std::string(function) + ": cannot duplicate fd " + std::to_string(fd) + ": " +
                          std::strerror(errno));
  return dup;
}

luo::Poll c_poll(int poll) {
  return poll != 0 ? luo::Poll::on : luo::Poll::off;
}

// luo_registry_add and luo_manager_store once the fd is stored or refused.
int added(RuntimeState* s, const luo::Result<luo::AddOutcome>& r, int* duplicate) {
  if (!r)
    return set_error(s, r.error());
  put(duplicate, r.value() == luo::AddOutcome::duplicate ? 1 : 0);
  return 0;
}

// luo_registry_count and luo_manager_count.
template <class Handle>
int store_count(const Handle* h, const char* owner, size_t* count, const char* function) {
  put(count, 0);
  return on(h, function, [&](RuntimeState* s, const char* fn) {
    if (count == nullptr)
      return invalid(s, fn, "count is NULL");
    auto [store, error] = owner_store(s, owners_of(h), owner, fn);
    if (store == nullptr)
      return error;
    *count = store->size();
    return 0;
  });
}

// luo_registry_entry and luo_manager_entry.
template <class Handle>
int store_entry(const Handle* h, const char* owner, size_t index, const char** name, int* fd,
                const char* function) {
  put(name, nullptr);
  put(fd, -1);
  return on(h, function, [&](RuntimeState* s, const char* fn) {
    auto [store, error] = owner_store(s, owners_of(h), owner, fn);
    if (store == nullptr)
      return error;
    if (index >= store->size())
      return set_error(s, ERANGE,
                       std::string(fn) + ": index " + std::to_string(index) + " of " +
                           std::to_string(store->size()) + " entries");
    const auto& e = store->entries()[index];
    put(name, e.name.c_str());
    put(fd, e.fd.get());
    return 0;
  });
}

// luo_outgoing_get_name and luo_incoming_get_name.
template <class Session>
int session_name(Session* session, char* buf, size_t size, const char* function) {
  if (buf != nullptr && size > 0)
    buf[0] = '\0';
  return on(session, function, [&](RuntimeState* s, const char* fn) {
    if (buf == nullptr)
      return invalid(s, fn, "buf is NULL");
    auto r = session->s.get_name();
    if (!r)
      return set_error(s, r.error());
    return copy_name(s, fn, r.value(), buf, size);
  });
}

int held_retry(luo_held* held, const char* owner, luo_dispatch_fn dispatch, void* user,
               luo_report** report, const char* function) {
  put(report, nullptr);
  return on(held, function, [&](RuntimeState* s, const char* fn) {
    if (dispatch == nullptr)
      return invalid(s, fn, "dispatch is NULL");
    CTarget target(dispatch, user);
    auto entries =
        owner == nullptr ? held->held.retry_all(target) : held->held.owner_loaded(owner, target);
    give_report(report, std::move(entries));
    return 0;
  });
}

}  // namespace

extern "C" {

const char* luo_version(void) {
  return LUO_VERSION;
}

// ---------------------------------------------------------------------------------------------
// Runtime

int luo_runtime_new(luo_backend backend, const char* profile, luo_runtime** out) {
  put(out, nullptr);
  return guarded(nullptr, __func__, [&](const char* /*fn*/) {
    if (out == nullptr)
      return EINVAL;
    const auto p =
        profile == nullptr ? std::optional(luo::kDefaultProfile) : luo::parse_profile(profile);
    if (!p)
      return EINVAL;
    auto state = std::make_shared<RuntimeState>();
    // An if chain, not a switch: a C caller can pass any int here.
    if (backend == LUO_BACKEND_KERNEL) {
      state->backend = std::make_unique<luo::LinuxKernel>();
    } else if (backend == LUO_BACKEND_SIMULATOR || backend == LUO_BACKEND_SIMULATOR_NO_LUO) {
      auto sim = std::make_unique<luo::SimulatedKernel>(
          *p, luo::SimulatedKernelOptions{backend == LUO_BACKEND_SIMULATOR});
      state->simulator = sim.get();
      state->backend = std::move(sim);
    } else {
      return EINVAL;
    }
    state->port = std::make_unique<luo::IoctlPort>(*state->backend);
    state->lu = std::make_unique<luo::LiveUpdate>(*state->port, *p);
    *out = new luo_runtime{std::move(state)};
    return 0;
  });
}

void luo_runtime_free(luo_runtime* rt) {
  delete rt;
}

const char* luo_last_error(const luo_runtime* rt) {
  return rt == nullptr ? "" : rt->rt->last_error.c_str();
}

const char* luo_runtime_profile(const luo_runtime* rt) {
  return rt == nullptr ? "" : c_str(luo::profile_name(rt->rt->lu->profile()));
}

uint64_t luo_runtime_boot(const luo_runtime* rt) {
  return rt == nullptr ? 0 : rt->rt->lu->boot();
}

int luo_runtime_kexec(luo_runtime* rt) {
  return on(rt, __func__,
            [&](RuntimeState* s, const char* /*fn*/) { return status_of(s, s->lu->kexec()); });
}

int luo_simulator_inject(luo_runtime* rt, luo_fault fault, int error, unsigned skip) {
  return on(rt, __func__, [&](RuntimeState* s, const char* fn) {
    if (s->simulator == nullptr)
      return set_error(s, EOPNOTSUPP, "luo_simulator_inject: the runtime is not a simulator");
    const auto f = sim_fault(fault);
    if (!f || error <= 0)
      return invalid(s, fn, "unknown fault or non-positive errno");
    s->simulator->inject(*f, error, skip);
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Device and sessions

int luo_device_open(luo_runtime* rt, luo_device** out) {
  put(out, nullptr);
  return on(rt, __func__, [&](RuntimeState* s, const char* fn) {
    if (out == nullptr)
      return invalid(s, fn, "out is NULL");
    return give(s, rt->rt, s->lu->open_device(), out);
  });
}

void luo_device_close(luo_device* dev) {
  close_handle(dev, __func__, [](luo_device& d) { d.dev.close(); });
}

int luo_device_fd(const luo_device* dev) {
  return dev == nullptr ? -1 : dev->dev.fd();
}

int luo_session_create(luo_device* dev, const char* name, luo_outgoing** out) {
  put(out, nullptr);
  return on(dev, __func__, [&](RuntimeState* s, const char* fn) {
    if (name == nullptr || out == nullptr)
      return invalid(s, fn, "name or out is NULL");
    return give(s, dev->rt, dev->dev.create_session(name), out);
  });
}

int luo_outgoing_preserve(luo_outgoing* session, int fd, uint64_t token) {
  return on(session, __func__, [&](RuntimeState* s, const char* /*fn*/) {
    return status_of(s, session->s.preserve(fd, token));
  });
}

int luo_outgoing_get_name(luo_outgoing* session, char* buf, size_t size) {
  return session_name(session, buf, size, __func__);
}

const char* luo_outgoing_state(const luo_outgoing* session) {
  return session == nullptr ? "" : c_str(luo::state_name(session->s.state()));
}

size_t luo_outgoing_tokens(const luo_outgoing* session, uint64_t* tokens, size_t capacity) {
  if (session == nullptr)
    return 0;
  const auto all = session->s.tokens();
  for (std::size_t i = 0; tokens != nullptr && i < all.size() && i < capacity; ++i)
    tokens[i] = all[i];
  return all.size();
}

int luo_outgoing_fd(const luo_outgoing* session) {
  return session == nullptr ? -1 : session->s.fd();
}

void luo_outgoing_close(luo_outgoing* session) {
  close_handle(session, __func__, [](luo_outgoing& o) { o.s.close(); });
}

int luo_session_retrieve(luo_device* dev, const char* name, luo_incoming** out) {
  put(out, nullptr);
  return on(dev, __func__, [&](RuntimeState* s, const char* fn) {
    if (name == nullptr || out == nullptr)
      return invalid(s, fn, "name or out is NULL");
    return give(s, dev->rt, dev->dev.retrieve_session(name), out);
  });
}

int luo_incoming_retrieve_fd(luo_incoming* session, uint64_t token, int* fd) {
  put(fd, -1);
  return on(session, __func__, [&](RuntimeState* s, const char* fn) {
    if (fd == nullptr)
      return invalid(s, fn, "fd is NULL");
    auto r = session->s.retrieve(token);
    if (!r)
      return set_error(s, r.error());
    *fd = r.value().release();
    return 0;
  });
}

int luo_incoming_finish(luo_incoming* session) {
  return on(session, __func__,
            [&](RuntimeState* s, const char* /*fn*/) { return status_of(s, session->s.finish()); });
}

int luo_incoming_get_name(luo_incoming* session, char* buf, size_t size) {
  return session_name(session, buf, size, __func__);
}

const char* luo_incoming_state(const luo_incoming* session) {
  return session == nullptr ? "" : c_str(luo::state_name(session->s.state()));
}

const char* luo_incoming_file_state(const luo_incoming* session, uint64_t token) {
  if (session == nullptr)
    return "";
  if (!session->s.knows_file(token)) {
    set_error(session->rt.get(), ENOENT,
              std::string(__func__) + ": ENOENT: no RETRIEVE_FD has reached a file with token " +
                  std::to_string(token) + ", so nothing says it exists");
    return "";
  }
  return c_str(luo::state_name(session->s.file_state(token)));
}

int luo_incoming_fd(const luo_incoming* session) {
  return session == nullptr ? -1 : session->s.fd();
}

int luo_incoming_release_fd(luo_incoming* session, int* fd) {
  put(fd, -1);
  return on(session, __func__, [&](RuntimeState* s, const char* fn) {
    if (fd == nullptr)
      return invalid(s, fn, "fd is NULL");
    luo::UniqueFd released = session->s.release_fd();
    if (!released)
      return set_error(s, EBADF, "luo_incoming_release_fd: the session holds no fd");
    *fd = released.release();
    return 0;
  });
}

void luo_incoming_close(luo_incoming* session) {
  close_handle(session, __func__, [](luo_incoming& i) { i.s.close(); });
}

// ---------------------------------------------------------------------------------------------
// fd stores

int luo_registry_new(luo_runtime* rt, luo_registry** out) {
  put(out, nullptr);
  if (out == nullptr)
    return EINVAL;
  return on(rt, __func__, [&](RuntimeState* /*s*/, const char* /*fn*/) {
    *out = new luo_registry{rt->rt, {}};
    return 0;
  });
}

void luo_registry_free(luo_registry* reg) {
  delete reg;
}

int luo_registry_load(luo_registry* reg, const char* owner, unsigned max, luo_preserve_mode mode) {
  return on(reg, __func__, [&](RuntimeState* s, const char* fn) {
    const auto m = preserve_mode(mode);
    if (owner == nullptr || !m)
      return invalid(s, fn, "owner is NULL or the preserve mode is unknown");
    return status_of(s, reg->owners.try_load(owner, {max, *m}));
  });
}

int luo_registry_unload(luo_registry* reg, const char* owner) {
  return on(reg, __func__, [&](RuntimeState* s, const char* fn) {
    if (owner == nullptr)
      return invalid(s, fn, "owner is NULL");
    if (reg->owners.find(owner) == nullptr)
      return set_error(s, ENOENT, std::string("owner '") + owner + "' is not loaded");
    reg->owners.unload(owner);
    return 0;
  });
}

void luo_registry_clear(luo_registry* reg) {
  if (reg != nullptr)
    reg->owners = luo::FdStoreRegistry();
}

int luo_registry_add(luo_registry* reg, const char* owner, int fd, const char* name, int poll,
                     int* duplicate) {
  put(duplicate, 0);
  return on(reg, __func__, [&](RuntimeState* s, const char* fn) {
    if (name == nullptr)
      return invalid(s, fn, "name is NULL");
    auto [store, error] = owner_store(s, reg->owners, owner, fn);
    if (store == nullptr)
      return error;
    int dup_error = 0;
    luo::UniqueFd dup = borrow_fd(s, fn, fd, dup_error);
    if (!dup)
      return dup_error;
    return added(s, store->add(std::move(dup), name, c_poll(poll)), duplicate);
  });
}

int luo_registry_remove(luo_registry* reg, const char* owner, const char* name, size_t* removed) {
  put(removed, 0);
  return on(reg, __func__, [&](RuntimeState* s, const char* fn) {
    if (name == nullptr)
      return invalid(s, fn, "name is NULL");
    auto [store, error] = owner_store(s, reg->owners, owner, fn);
    if (store == nullptr)
      return error;
    put(removed, store->remove(name));
    return 0;
  });
}

int luo_registry_count(const luo_registry* reg, const char* owner, size_t* count) {
  return store_count(reg, owner, count, __func__);
}

int luo_registry_entry(const luo_registry* reg, const char* owner, size_t index, const char** name,
                       int* fd) {
  return store_entry(reg, owner, index, name, fd, __func__);
}

// ---------------------------------------------------------------------------------------------
// Reports

size_t luo_report_count(const luo_report* report) {
  return report == nullptr ? 0 : report->entries.size();
}

int luo_report_get(const luo_report* report, size_t index, luo_entry_report* out) {
  put(out, luo_entry_report{"", "", "", ""});
  if (report == nullptr || out == nullptr)
    return EINVAL;
  if (index >= report->entries.size())
    return ERANGE;
  const auto& e = report->entries[index];
  *out = {e.owner.c_str(), e.name.c_str(), c_str(luo::state_name(e.state)), e.reason.c_str()};
  return 0;
}

void luo_report_free(luo_report* report) {
  delete report;
}

// ---------------------------------------------------------------------------------------------
// Handoff

int luo_stage_a(luo_registry* owners, const luo_held* held, uint32_t kexecs_count,
                luo_stage_a_result** out) {
  put(out, nullptr);
  return on(owners, __func__, [&](RuntimeState* s, const char* fn) {
    if (out == nullptr)
      return invalid(s, fn, "out is NULL");
    auto a = std::make_unique<luo_stage_a_result>();
    a->rt = owners->rt;
    a->result = luo::stage_a(owners->owners, held == nullptr ? nullptr : &held->held, *s->port,
                             kexecs_count);
    a->json = luo::handoff::to_json(a->result.document);
    a->report.entries = a->result.report;
    *out = a.release();
    return 0;
  });
}

const char* luo_stage_a_json(const luo_stage_a_result* a) {
  return a == nullptr ? "" : a->json.c_str();
}

const char* luo_stage_a_state(const luo_stage_a_result* a) {
  return a == nullptr ? "" : c_str(luo::state_name(a->result.state));
}

const luo_report* luo_stage_a_report(const luo_stage_a_result* a) {
  return a == nullptr ? nullptr : &a->report;
}

void luo_stage_a_free(luo_stage_a_result* a) {
  delete a;
}

int luo_stage_b(luo_device* dev, const luo_stage_a_result* a, luo_stage_b_result** out) {
  put(out, nullptr);
  return on(dev, __func__, [&](RuntimeState* s, const char* fn) {
    if (a == nullptr || out == nullptr)
      return invalid(s, fn, "stage A result or out is NULL");
    auto b = std::make_unique<luo_stage_b_result>();
    b->rt = dev->rt;
    b->result = luo::stage_b(dev->dev, a->result);
    if (b->result.error != 0)
      return set_error(s, b->result.error, "stage B: " + b->result.failure);
    b->json = luo::handoff::to_json(b->result.mapping);
    b->report.entries = b->result.report;
    *out = b.release();
    return 0;
  });
}

const char* luo_stage_b_mapping_json(const luo_stage_b_result* b) {
  return b == nullptr ? "" : b->json.c_str();
}

const char* luo_stage_b_state(const luo_stage_b_result* b) {
  return b == nullptr ? "" : c_str(luo::state_name(b->result.state));
}

const luo_report* luo_stage_b_report(const luo_stage_b_result* b) {
  return b == nullptr ? nullptr : &b->report;
}

void luo_stage_b_free(luo_stage_b_result* b) {
  delete b;
}

luo_disposition luo_registry_dispatch(void* registry, const luo_restored_item* item, int* error) {
  auto* reg = static_cast<luo_registry*>(registry);
  int ignored = 0;
  int& err = error != nullptr ? *error : ignored;
  err = 0;
  if (reg == nullptr || item == nullptr) {
    err = EINVAL;
    return LUO_DISPATCH_REFUSED;
  }
  luo_disposition result = LUO_DISPATCH_REFUSED;
  err = guarded(reg->rt.get(), __func__, [&](const char* fn) {
    const auto type = entry_type(item->type);
    if (item->owner == nullptr || item->name == nullptr || !type)
      return invalid(reg->rt.get(), fn, "owner or name is NULL, or the entry type is unknown");
    luo::UniqueFd dup(::fcntl(item->fd, F_DUPFD_CLOEXEC, 3));
    if (!dup)
      return errno;
    luo::RestoredItem restored{item->owner, item->name, *type, std::move(dup),
                               item->session_name == nullptr ? "" : item->session_name};
    // Not retrieved_at_restore: the caller can hand any fd, so the store checks for duplicates.
    const luo::DispatchResult d = luo::RegistryTarget(reg->owners).dispatch(restored);
    switch (d.disposition) {
      case luo::Disposition::attached:
        result = LUO_DISPATCH_ATTACHED;
        return 0;
      case luo::Disposition::duplicate:
        result = LUO_DISPATCH_DUPLICATE;
        return 0;
      case luo::Disposition::unknown_owner:
        result = LUO_DISPATCH_UNKNOWN_OWNER;
        return 0;
      case luo::Disposition::refused:
        break;
    }
    return d.error != 0 ? d.error : EINVAL;
  });
  return err == 0 ? result : LUO_DISPATCH_REFUSED;
}

int luo_held_new(luo_runtime* rt, luo_held** out) {
  put(out, nullptr);
  if (out == nullptr)
    return EINVAL;
  return on(rt, __func__, [&](RuntimeState* /*s*/, const char* /*fn*/) {
    *out = new luo_held{rt->rt, {}};
    return 0;
  });
}

void luo_held_free(luo_held* held) {
  delete held;
}

size_t luo_held_count(const luo_held* held) {
  return held == nullptr ? 0 : held->held.size();
}

int luo_held_owner_loaded(luo_held* held, const char* owner, luo_dispatch_fn dispatch, void* user,
                          luo_report** report) {
  put(report, nullptr);
  if (owner == nullptr)
    return held == nullptr ? EINVAL : invalid(held->rt.get(), __func__, "owner is NULL");
  return held_retry(held, owner, dispatch, user, report, __func__);
}

int luo_held_retry_all(luo_held* held, luo_dispatch_fn dispatch, void* user, luo_report** report) {
  return held_retry(held, nullptr, dispatch, user, report, __func__);
}

int luo_restore(luo_device* dev, luo_dispatch_fn dispatch, void* user, luo_held* held,
                uint32_t* kexecs_count, luo_report** report) {
  put(kexecs_count, 0);
  put(report, nullptr);
  return on(dev, __func__, [&](RuntimeState* s, const char* fn) {
    if (dispatch == nullptr || held == nullptr)
      return invalid(s, fn, "dispatch or held is NULL");
    CTarget target(dispatch, user);
    luo::RestoreResult r = luo::restore(dev->dev, target, held->held);
    if (r.error != 0)
      return set_error(s, r.error, "restore: " + r.failure);
    put(kexecs_count, r.kexecs_count);
    give_report(report, std::move(r.report));
    return 0;
  });
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// The manager

namespace {

std::optional<luo::SystemdProfile> systemd_profile(luo_systemd_profile p) {
  switch (raw(p)) {
    case LUO_SYSTEMD_V261:
      return luo::SystemdProfile::v261;
    case LUO_SYSTEMD_V262:
      return luo::SystemdProfile::v262;
    default:
      return std::nullopt;
  }
}

const std::vector<luo::EntryReport>& entries_of(const std::vector<luo::EntryReport>& entries) {
  return entries;
}
const std::vector<luo::EntryReport>& entries_of(const luo::StageAResult* a) {
  return a->report;
}

// The manager's calls that answer with a report: its entries in *report (where asked for), or
// r's error.
template <class R>
int reported(RuntimeState* s, const R& r, luo_report** report) {
  if (!r)
    return set_error(s, r.error());
  give_report(report, entries_of(r.value()));
  return 0;
}

}  // namespace

extern "C" {

int luo_manager_new(luo_runtime* rt, luo_systemd_profile profile, luo_manager** out) {
  put(out, nullptr);
  if (out == nullptr)
    return EINVAL;
  return on(rt, __func__, [&](RuntimeState* s, const char* fn) {
    const auto p = systemd_profile(profile);
    if (!p)
      return invalid(s, fn, "the systemd profile is unknown");
    *out = new luo_manager{rt->rt, luo::HandoffManager(*s->lu, *s->port, {.profile = *p}), ""};
    return 0;
  });
}

void luo_manager_free(luo_manager* m) {
  delete m;
}

const char* luo_manager_state(const luo_manager* m) {
  return m == nullptr ? "" : c_str(luo::state_name(m->m.state()));
}

uint32_t luo_manager_kexec_count(const luo_manager* m) {
  return m == nullptr ? 0 : m->m.kexec_count();
}

size_t luo_manager_held_count(const luo_manager* m) {
  return m == nullptr ? 0 : m->m.held().size();
}

int luo_manager_load(luo_manager* m, const char* owner, unsigned max, luo_preserve_mode mode,
                     luo_report** report) {
  put(report, nullptr);
  return on(m, __func__, [&](RuntimeState* s, const char* fn) {
    const auto pm = preserve_mode(mode);
    if (owner == nullptr || !pm)
      return invalid(s, fn, "owner is NULL or the preserve mode is unknown");
    return reported(s, m->m.load_owner(owner, {max, *pm}), report);
  });
}

int luo_manager_unload(luo_manager* m, const char* owner) {
  return on(m, __func__, [&](RuntimeState* s, const char* fn) {
    if (owner == nullptr)
      return invalid(s, fn, "owner is NULL");
    return status_of(s, m->m.unload_owner(owner));
  });
}

int luo_manager_reload(luo_manager* m, luo_report** report) {
  put(report, nullptr);
  return on(m, __func__, [&](RuntimeState* s, const char* /*fn*/) {
    return reported(s, m->m.daemon_reload(), report);
  });
}

int luo_manager_store(luo_manager* m, const char* owner, int fd, const char* name, int poll,
                      int* duplicate) {
  put(duplicate, 0);
  return on(m, __func__, [&](RuntimeState* s, const char* fn) {
    if (name == nullptr || owner == nullptr)
      return invalid(s, fn, "owner or name is NULL");
    int dup_error = 0;
    luo::UniqueFd dup = borrow_fd(s, fn, fd, dup_error);
    if (!dup)
      return dup_error;
    return added(s, m->m.store(owner, std::move(dup), name, c_poll(poll)), duplicate);
  });
}

int luo_manager_remove(luo_manager* m, const char* owner, const char* name, size_t* removed) {
  put(removed, 0);
  return on(m, __func__, [&](RuntimeState* s, const char* fn) {
    if (name == nullptr || owner == nullptr)
      return invalid(s, fn, "owner or name is NULL");
    auto r = m->m.remove(owner, name);
    if (!r)
      return set_error(s, r.error());
    put(removed, r.value());
    return 0;
  });
}

int luo_manager_count(const luo_manager* m, const char* owner, size_t* count) {
  return store_count(m, owner, count, __func__);
}

int luo_manager_entry(const luo_manager* m, const char* owner, size_t index, const char** name,
                      int* fd) {
  return store_entry(m, owner, index, name, fd, __func__);
}

int luo_manager_stage_a(luo_manager* m, luo_report** report) {
  put(report, nullptr);
  return on(m, __func__, [&](RuntimeState* s, const char* /*fn*/) {
    return reported(s, m->m.stage_a(), report);
  });
}

int luo_manager_stage_b(luo_manager* m, luo_report** report) {
  put(report, nullptr);
  return on(m, __func__, [&](RuntimeState* s, const char* /*fn*/) {
    auto r = m->m.stage_b();
    if (!r)
      return set_error(s, r.error());
    const luo::StageBResult& b = *r.value();
    give_report(report, b.report);
    if (b.error != 0)
      return set_error(s, b.error, "stage B: " + b.failure);
    m->mapping_json = luo::handoff::to_json(b.mapping);
    return 0;
  });
}

const char* luo_manager_mapping_json(const luo_manager* m) {
  return m == nullptr ? "" : m->mapping_json.c_str();
}

int luo_manager_kexec(luo_manager* m) {
  return on(m, __func__, [&](RuntimeState* s, const char* /*fn*/) {
    if (auto r = m->m.kexec(); !r)
      return set_error(s, r.error());
    m->mapping_json.clear();
    return 0;
  });
}

int luo_manager_restore(luo_manager* m, luo_report** report) {
  put(report, nullptr);
  return on(m, __func__, [&](RuntimeState* s, const char* /*fn*/) {
    auto r = m->m.restore();
    if (!r)
      return set_error(s, r.error());
    const luo::RestoreResult& restored = *r.value();
    if (restored.error != 0)
      return set_error(s, restored.error, "restore: " + restored.failure);
    give_report(report, restored.report);
    return 0;
  });
}

}  // extern "C"
