// The op table: every operation's fields and its handler, side by side (luo/scenario/scenario.hpp).
// A handler runs one operation on the Machine; what it cannot run for want of a handle is a
// ScenarioError, what the runtime refuses is the StepResult's errno.
#include <fcntl.h>

#include <cerrno>
#include <cstdint>

#include "luo/adapters/memfd.hpp"
#include "luo/model/errno.hpp"
#include "luo/scenario/text.hpp"
#include "machine.hpp"

namespace luo::scenario {
namespace {

// `auto& var` = the handle `expr` found, or return its ScenarioError.
#define LUO_FIND(var, expr)                                 \
  auto var##_found = (expr);                                \
  if (auto* err = std::get_if<ScenarioError>(&var##_found)) \
    return *err;                                            \
  auto& var = *std::get<0>(var##_found);

StepResult check_contents(int fd, const std::string& expected) {
  auto contents = memfd::read_all(fd);
  if (!contents.ok())
    return fail_errno(contents.raw_errno(), "cannot read the contents");
  if (contents.value() != expected)
    return mismatch("contents differ: " + quote_bytes(contents.value()) + ", expected " +
                    quote_bytes(expected));
  return {};
}

// ---- the kernel: device, sessions, memfds, kexec, faults

Outcome open_device(Machine& m, const Json& op, const std::string&) {
  auto r = m.lu.open_device();
  if (!r)
    return fail(r.error());
  m.devices.insert_or_assign(op.value("device", std::string("dev")), std::move(r).value());
  return StepResult{};
}

Outcome close_device(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(dev, m.device(op, path));
  dev.close();
  return StepResult{};
}

// A session the device opens by name (`open` creates or retrieves it), kept under "as" (its
// name by default).
Outcome open_session(Machine& m, const Json& op, const std::string& path, const auto& open) {
  LUO_FIND(dev, m.device(op, path));
  const std::string name = op["session"].get<std::string>();
  auto r = open(dev, name);
  if (!r)
    return fail(r.error());
  m.sessions.insert_or_assign(op.value("as", name), Session(std::move(r).value()));
  return StepResult{};
}

Outcome create_session(Machine& m, const Json& op, const std::string& path) {
  return open_session(
      m, op, path, [](Device& dev, const std::string& name) { return dev.create_session(name); });
}

Outcome retrieve_session(Machine& m, const Json& op, const std::string& path) {
  return open_session(
      m, op, path, [](Device& dev, const std::string& name) { return dev.retrieve_session(name); });
}

Outcome preserve(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(s, m.session_of_kind<OutgoingSession>(op, path, "an outgoing"));
  LUO_FIND(fd, m.memfd(op, path));
  if (auto r = s.preserve(fd.get(), op["token"].get<std::uint64_t>()); !r)
    return fail(r.error());
  return StepResult{};
}

Outcome retrieve_fd(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(s, m.session_of_kind<IncomingSession>(op, path, "an incoming"));
  auto r = s.retrieve(op["token"].get<std::uint64_t>());
  if (!r)
    return fail(r.error());
  StepResult out;
  if (op.contains("data"))
    out = check_contents(r.value().get(), op["data"].get<std::string>());
  if (op.contains("as"))
    m.memfds.insert_or_assign(op["as"].get<std::string>(), std::move(r).value());
  return out;
}

Outcome finish(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(s, m.session_of_kind<IncomingSession>(op, path, "an incoming"));
  if (auto r = s.finish(); !r)
    return fail(r.error());
  return StepResult{};
}

Outcome get_name(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(s, m.session(op, path));
  auto r = std::visit([](auto& x) { return x.get_name(); }, s);
  if (!r)
    return fail(r.error());
  StepResult out;
  out.notes.push_back("name: " + quote_bytes(r.value()));
  if (op.contains("name") && r.value() != op["name"].get<std::string>())
    return mismatch("name is " + quote_bytes(r.value()) + ", expected " + dump(op["name"]));
  return out;
}

Outcome close_session(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(s, m.session(op, path));
  std::visit([](auto& x) { x.close(); }, s);
  return StepResult{};
}

Outcome memfd_create(Machine& m, const Json& op, const std::string&) {
  auto fd = memfd::create(op["memfd"].get<std::string>());
  if (!fd.ok())
    return fail_errno(fd.raw_errno(), "memfd_create failed");
  if (op.contains("data")) {
    if (auto w = memfd::write_at(fd.value().get(), 0, op["data"].get<std::string>()); !w.ok())
      return fail_errno(w.raw_errno(), "write failed");
  }
  m.memfds.insert_or_assign(op["memfd"].get<std::string>(), std::move(fd).value());
  return StepResult{};
}

Outcome memfd_write(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(fd, m.memfd(op, path));
  auto w = memfd::write_at(fd.get(), op.value("offset", std::uint64_t{0}),
                           op["data"].get<std::string>());
  if (!w.ok())
    return fail_errno(w.raw_errno(), "write failed");
  return StepResult{};
}

Outcome memfd_check(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(fd, m.memfd(op, path));
  return check_contents(fd.get(), op["data"].get<std::string>());
}

Outcome memfd_close(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(fd, m.memfd(op, path));
  (void)fd;
  m.memfds.erase(op["memfd"].get<std::string>());
  return StepResult{};
}

Outcome kexec(Machine& m, const Json&, const std::string&) {
  // A boot whose manager began no handoff kexecs without one (a scenario of kernel calls
  // only): the next boot gets a new manager. Once Stage A ran, the manager's own kexec()
  // checks the pipeline and carries the manager into the next boot.
  if (m.manager.state() == HandoffState::running) {
    if (auto r = m.lu.kexec(); !r)
      return fail(r.error());
    m.manager = m.new_manager();
  } else if (auto r = m.manager.kexec(); !r) {
    return fail(r.error());
  }
  m.boot_ended();
  StepResult out;
  out.notes.push_back("boot " + std::to_string(m.lu.boot()) +
                      ": memfds, fd stores and handoff state of the old boot are gone; its "
                      "device and session handles are stale");
  return out;
}

Outcome inject(Machine& m, const Json& op, const std::string&) {
  const auto fault = *sim_fault_from_name(op["fault"].get<std::string>());
  const auto err =
      op.contains("errno") ? *errno_from_name(op["errno"].get<std::string>()) : Errno::eio;
  m.kernel.inject(fault, errno_value(err), op.value("skip", 0u));
  return StepResult{};
}

// ---- the manager: fd stores and the handoff

Outcome store_load(Machine& m, const Json& op, const std::string&) {
  const std::string owner = op["owner"].get<std::string>();
  const auto mode = op.contains("preserve")
                        ? *parse_preserve_mode(op["preserve"].get<std::string>())
                        : kDefaultPreserveMode;
  auto loaded = m.manager.load_owner(owner, {op["max"].get<unsigned>(), mode});
  if (!loaded)
    return fail(loaded.error());
  StepResult out;
  out.entries = std::move(loaded).value();
  return out;
}

// The owner stores a duplicate of `fd`, as a service passes its own fd over sd_notify.
StepResult store_fd(Machine& m, const Json& op, int fd) {
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!dup)
    return fail_errno(errno, "cannot duplicate the fd");
  auto r =
      m.manager.store(op["owner"].get<std::string>(), std::move(dup), op["name"].get<std::string>(),
                      op.value("poll", true) ? Poll::on : Poll::off);
  if (!r)
    return fail(r.error());
  StepResult out;
  if (r.value() == AddOutcome::duplicate)
    out.notes.push_back("already in the store (same open file description): not added again");
  return out;
}

Outcome store_add(Machine& m, const Json& op, const std::string& path) {
  if (op.contains("memfd")) {
    LUO_FIND(fd, m.memfd(op, path));
    return store_fd(m, op, fd.get());
  }
  LUO_FIND(s, m.session(op, path));
  return store_fd(m, op, std::visit([](const auto& x) { return x.fd(); }, s));
}

Outcome store_remove(Machine& m, const Json& op, const std::string&) {
  auto removed = m.manager.remove(op["owner"].get<std::string>(), op["name"].get<std::string>());
  if (!removed)
    return fail(removed.error());
  StepResult out;
  out.notes.push_back("removed " + std::to_string(removed.value()) + " entries");
  return out;
}

Outcome store_check(Machine& m, const Json& op, const std::string&) {
  const std::string owner = op["owner"].get<std::string>();
  const FdStore* store = m.manager.owners().find(owner);
  if (store == nullptr)
    return mismatch("owner \"" + owner + "\" is not loaded");
  const std::string entry = op["name"].get<std::string>();
  std::vector<const FdStoreEntry*> named;
  for (const auto& e : store->entries()) {
    if (e.name == entry)
      named.push_back(&e);
  }
  if (op.contains("count") ? named.size() != op["count"].get<std::size_t>() : named.empty()) {
    return mismatch(std::to_string(named.size()) + " entries named \"" + entry + "\" in " + owner +
                    "'s store");
  }
  if (op.contains("data") && !named.empty())
    return check_contents(named.front()->fd.get(), op["data"].get<std::string>());
  return StepResult{};
}

Outcome stage_a(Machine& m, const Json& op, const std::string&) {
  if (op.contains("kexecs_count")) {
    if (auto adopted = m.manager.adopt_kexec_count(op["kexecs_count"].get<std::uint32_t>());
        !adopted)
      return fail(adopted.error());
  }
  // What Stage A did not list is closed with the stores (systemd-luo.md §3.3).
  auto staged = m.manager.stage_a();
  if (!staged)
    return fail(staged.error());
  StepResult out;
  out.entries = staged.value()->report;
  out.document = Json::parse(handoff::to_json(staged.value()->document));
  out.notes.push_back("handoff state: " + std::string(state_name(staged.value()->state)));
  return out;
}

Outcome stage_b(Machine& m, const Json& op, const std::string& path) {
  // A scenario that names no Stage A is malformed; the manager would refuse it too.
  if (m.manager.stage_a_result() == nullptr)
    return ScenarioError{path, "stage_b needs an earlier stage_a in this boot"};
  LUO_FIND(dev, m.device(op, path));
  auto preserved = m.manager.stage_b(dev);
  if (!preserved)
    return fail(preserved.error());
  const StageBResult& b = *preserved.value();
  StepResult out;
  if (b.error != 0)
    out = fail_errno(b.error, b.failure);
  out.entries = b.report;
  if (b.state == HandoffState::preserved)
    out.document = Json::parse(handoff::to_json(b.mapping));
  out.notes.push_back("handoff state: " + std::string(state_name(b.state)));
  return out;
}

Outcome restore(Machine& m, const Json& op, const std::string& path) {
  LUO_FIND(dev, m.device(op, path));
  auto restored = m.manager.restore(dev);
  if (!restored)
    return fail(restored.error());
  const RestoreResult& r = *restored.value();
  StepResult out;
  if (r.error != 0)
    out = fail_errno(r.error, r.failure);
  out.entries = r.report;
  out.notes.push_back("handoff state: " + std::string(state_name(r.state)));
  if (r.kexecs_count != 0)
    out.notes.push_back("kexecsCount: " + std::to_string(r.kexecs_count));
  return out;
}

#undef LUO_FIND

// "deserialize, preserve_handler, ... or reserve_session_fd": every fault the simulator has.
std::string_view fault_names() {
  static const std::string names = [] {
    std::string out;
    for (std::uint8_t i = 0; !sim_fault_name(static_cast<SimFault>(i)).empty(); ++i) {
      const auto next = sim_fault_name(static_cast<SimFault>(i + 1));
      out += (i == 0 ? "" : next.empty() ? " or " : ", ");
      out += sim_fault_name(static_cast<SimFault>(i));
    }
    return out;
  }();
  return names;
}

constexpr FieldSpec kDevice{"device", FieldType::string, false, "device handle (default \"dev\")"};
constexpr FieldSpec kSessionHandle{"session", FieldType::string, true, "session handle"};
constexpr FieldSpec kMemfdHandle{"memfd", FieldType::string, true, "memfd handle"};

const std::vector<OpSpec>& table() {
  static const std::vector<OpSpec> specs = {
      {"open_device", {kDevice}, "open /dev/liveupdate", open_device},
      {"close_device", {kDevice}, "close the device (sessions stay)", close_device},
      {"create_session",
       {{"session", FieldType::string, true, "session name"},
        {"as", FieldType::string, false, "handle (default: the name)"},
        kDevice},
       "CREATE_SESSION: an outgoing session",
       create_session},
      {"retrieve_session",
       {{"session", FieldType::string, true, "session name"},
        {"as", FieldType::string, false, "handle (default: the name)"},
        kDevice},
       "RETRIEVE_SESSION: an incoming session",
       retrieve_session},
      {"preserve",
       {kSessionHandle, kMemfdHandle, {"token", FieldType::u64, true, "token"}},
       "PRESERVE_FD of a memfd into an outgoing session",
       preserve},
      {"retrieve_fd",
       {kSessionHandle,
        {"token", FieldType::u64, true, "token"},
        {"as", FieldType::string, false, "memfd handle for the retrieved fd"},
        {"data", FieldType::string, false, "expected contents (else: mismatch)"}},
       "RETRIEVE_FD from an incoming session",
       retrieve_fd},
      {"finish", {kSessionHandle}, "FINISH an incoming session", finish},
      {"get_name",
       {kSessionHandle, {"name", FieldType::string, false, "expected name (else: mismatch)"}},
       "GET_NAME (7.2+)",
       get_name},
      {"close_session", {kSessionHandle}, "close a session's fd", close_session},
      {"memfd_create",
       {kMemfdHandle, {"data", FieldType::string, false, "initial contents"}},
       "a new memfd",
       memfd_create},
      {"memfd_write",
       {kMemfdHandle,
        {"data", FieldType::string, true, "bytes to write"},
        {"offset", FieldType::u64, false, "offset (default 0)"}},
       "pwrite into a memfd",
       memfd_write},
      {"memfd_check",
       {kMemfdHandle, {"data", FieldType::string, true, "expected contents"}},
       "compare a memfd's contents (else: mismatch)",
       memfd_check},
      {"memfd_close", {kMemfdHandle}, "close a memfd handle", memfd_close},
      {"kexec", {}, "reboot(KEXEC) into the next simulated boot", kexec},
      {"inject",
       {{"fault", FieldType::fault, true, fault_names()},
        {"errno", FieldType::errno_name, false, "the errno (default EIO)"},
        {"skip", FieldType::u32, false, "runs of that step to let pass first (default 0)"}},
       "make a kernel step fail once (SimulatedKernel::inject)",
       inject},
      {"store_load",
       {{"owner", FieldType::string, true, "owner id, e.g. \"vmm.service\""},
        {"max", FieldType::u32, true, "FileDescriptorStoreMax="},
        {"preserve", FieldType::preserve_mode, false,
         "FileDescriptorStorePreserve=: no, yes, restart (default), on-success"}},
       "load an fd-store owner; entries held for it are offered to it",
       store_load},
      {"store_add",
       {{"owner", FieldType::string, true, "owner id"},
        {"name", FieldType::string, true, "FDNAME="},
        {"memfd", FieldType::string, false, "memfd handle to store (a duplicate)"},
        {"session", FieldType::string, false, "session handle to store (a duplicate)"},
        {"poll", FieldType::boolean, false, "FDPOLL= (default true)"}},
       "FDSTORE=1: the owner hands one fd to its store",
       store_add},
      {"store_remove",
       {{"owner", FieldType::string, true, "owner id"},
        {"name", FieldType::string, true, "FDNAME="}},
       "FDSTOREREMOVE=1",
       store_remove},
      {"store_check",
       {{"owner", FieldType::string, true, "owner id"},
        {"name", FieldType::string, true, "entry name"},
        {"count", FieldType::u32, false, "expected number of entries of that name"},
        {"data", FieldType::string, false, "expected contents of the newest one"}},
       "compare an owner's store (else: mismatch)",
       store_check},
      {"stage_a",
       {{"kexecs_count", FieldType::u32, false,
         "the counter to write (default: the one the boot restored, 0 after a cold boot)"}},
       "list every preserved store for the shutdown side; the stores are then freed",
       stage_a},
      {"stage_b",
       {kDevice},
       "create \"systemd\", preserve the staged fds and the mapping",
       stage_b},
      {"restore", {kDevice}, "retrieve \"systemd\", dispatch every entry to its owner", restore},
  };
  return specs;
}

constexpr std::string_view kCommonFields[] = {"op", "expect", "comment"};

}  // namespace

std::span<const OpSpec> ops() {
  return table();
}

const OpSpec* find_op(std::string_view name) {
  for (const OpSpec& s : table()) {
    if (s.name == name)
      return &s;
  }
  return nullptr;
}

std::span<const std::string_view> common_fields() {
  return kCommonFields;
}

}  // namespace luo::scenario
