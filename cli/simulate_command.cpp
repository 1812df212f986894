// luo-lifecycle simulate: runs a scenario (a JSON list of operations) through impl/ over the
// kernel simulator and prints the transition trace. The format is in docs/scenarios.md and in
// `luo-lifecycle simulate --help`; examples are in examples/scenarios/.
//
// A scenario is validated whole before anything runs (every operation's name, fields and types),
// so a typo is a usage error naming operations[i].field, not a half-run scenario. Handles (a
// device, a session, a memfd) are names the scenario gives; an operation naming a handle no
// earlier operation created is a scenario error too, reported when that operation is reached.
#include <fcntl.h>

#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "input.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/live_update.hpp"
#include "trace.hpp"

namespace luo::cli {
namespace {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// The format: every operation and its fields.

enum class FieldType { string, u64, u32, boolean, errno_name, fault, preserve_mode };

struct FieldSpec {
  std::string_view name;
  FieldType type;
  bool required;
  std::string_view help;
};

struct OpSpec {
  std::string_view name;
  std::vector<FieldSpec> fields;
  std::string_view help;
};

constexpr FieldSpec kDevice{"device", FieldType::string, false, "device handle (default \"dev\")"};
constexpr FieldSpec kSessionHandle{"session", FieldType::string, true, "session handle"};
constexpr FieldSpec kMemfdHandle{"memfd", FieldType::string, true, "memfd handle"};

const std::vector<OpSpec>& op_specs() {
  static const std::vector<OpSpec> specs = {
      {"open_device", {kDevice}, "open /dev/liveupdate"},
      {"close_device", {kDevice}, "close the device (sessions stay)"},
      {"create_session",
       {{"session", FieldType::string, true, "session name"},
        {"as", FieldType::string, false, "handle (default: the name)"},
        kDevice},
       "CREATE_SESSION: an outgoing session"},
      {"retrieve_session",
       {{"session", FieldType::string, true, "session name"},
        {"as", FieldType::string, false, "handle (default: the name)"},
        kDevice},
       "RETRIEVE_SESSION: an incoming session"},
      {"preserve",
       {kSessionHandle, kMemfdHandle, {"token", FieldType::u64, true, "token"}},
       "PRESERVE_FD of a memfd into an outgoing session"},
      {"retrieve_fd",
       {kSessionHandle,
        {"token", FieldType::u64, true, "token"},
        {"as", FieldType::string, false, "memfd handle for the retrieved fd"},
        {"data", FieldType::string, false, "expected contents (else: mismatch)"}},
       "RETRIEVE_FD from an incoming session"},
      {"finish", {kSessionHandle}, "FINISH an incoming session"},
      {"get_name",
       {kSessionHandle, {"name", FieldType::string, false, "expected name (else: mismatch)"}},
       "GET_NAME (7.2+)"},
      {"close_session", {kSessionHandle}, "close a session's fd"},
      {"memfd_create",
       {kMemfdHandle, {"data", FieldType::string, false, "initial contents"}},
       "a new memfd"},
      {"memfd_write",
       {kMemfdHandle,
        {"data", FieldType::string, true, "bytes to write"},
        {"offset", FieldType::u64, false, "offset (default 0)"}},
       "pwrite into a memfd"},
      {"memfd_check",
       {kMemfdHandle, {"data", FieldType::string, true, "expected contents"}},
       "compare a memfd's contents (else: mismatch)"},
      {"memfd_close", {kMemfdHandle}, "close a memfd handle"},
      {"kexec", {}, "reboot(KEXEC) into the next simulated boot"},
      {"inject",
       {{"fault", FieldType::fault, true,
         "deserialize, preserve_handler, preserve_copy_back, freeze, retrieve_handler or "
         "can_finish"},
        {"errno", FieldType::errno_name, false, "the errno (default EIO)"},
        {"skip", FieldType::u32, false, "runs of that step to let pass first (default 0)"}},
       "make a kernel step fail once (SimulatedKernel::inject)"},
      {"store_load",
       {{"owner", FieldType::string, true, "owner id, e.g. \"vmm.service\""},
        {"max", FieldType::u32, true, "FileDescriptorStoreMax="},
        {"preserve", FieldType::preserve_mode, false,
         "FileDescriptorStorePreserve=: no, yes, restart (default), on-success"}},
       "load an fd-store owner; entries held for it are offered to it"},
      {"store_add",
       {{"owner", FieldType::string, true, "owner id"},
        {"name", FieldType::string, true, "FDNAME="},
        {"memfd", FieldType::string, false, "memfd handle to store (a duplicate)"},
        {"session", FieldType::string, false, "session handle to store (a duplicate)"},
        {"poll", FieldType::boolean, false, "FDPOLL= (default true)"}},
       "FDSTORE=1: the owner hands one fd to its store"},
      {"store_remove",
       {{"owner", FieldType::string, true, "owner id"},
        {"name", FieldType::string, true, "FDNAME="}},
       "FDSTOREREMOVE=1"},
      {"store_check",
       {{"owner", FieldType::string, true, "owner id"},
        {"name", FieldType::string, true, "entry name"},
        {"count", FieldType::u32, false, "expected number of entries of that name"},
        {"data", FieldType::string, false, "expected contents of the newest one"}},
       "compare an owner's store (else: mismatch)"},
      {"stage_a",
       {{"kexecs_count", FieldType::u32, false,
         "the counter to write (default: the one the boot restored, 0 after a cold boot)"}},
       "list every preserved store for the shutdown side; the stores are then freed"},
      {"stage_b", {kDevice}, "create \"systemd\", preserve the staged fds and the mapping"},
      {"restore", {kDevice}, "retrieve \"systemd\", dispatch every entry to its owner"},
  };
  return specs;
}

const OpSpec* find_op(std::string_view name) {
  for (const OpSpec& s : op_specs()) {
    if (s.name == name)
      return &s;
  }
  return nullptr;
}

constexpr std::string_view kCommonFields[] = {"op", "expect", "comment"};

std::optional<SimFault> parse_fault(std::string_view s) {
  if (s == "deserialize")
    return SimFault::deserialize;
  if (s == "preserve_handler")
    return SimFault::preserve_handler;
  if (s == "preserve_copy_back")
    return SimFault::preserve_copy_back;
  if (s == "freeze")
    return SimFault::freeze;
  if (s == "retrieve_handler")
    return SimFault::retrieve_handler;
  if (s == "can_finish")
    return SimFault::can_finish;
  return std::nullopt;
}

// Results an `expect` may name besides errno names.
bool known_result(std::string_view s) {
  return s == "ok" || s == "any" || s == "mismatch" ||
         (s != "OK" && errno_from_name(s).has_value());
}

struct ScenarioError {
  std::string path;
  std::string message;
};

struct Scenario {
  KernelProfile profile = kDefaultProfile;
  bool luo_enabled = true;
  std::vector<Json> operations;
};

std::string type_name(FieldType t) {
  switch (t) {
    case FieldType::string:
      return "a string";
    case FieldType::u64:
      return "an unsigned integer";
    case FieldType::u32:
      return "an unsigned 32-bit integer";
    case FieldType::boolean:
      return "true or false";
    case FieldType::errno_name:
      return "an errno name such as \"EIO\"";
    case FieldType::fault:
      return "a fault name";
    case FieldType::preserve_mode:
      return "a preserve mode (no, yes, restart, on-success)";
  }
  return "?";
}

bool has_type(const Json& v, FieldType t) {
  switch (t) {
    case FieldType::string:
      return v.is_string();
    case FieldType::u64:
      return v.is_number_unsigned();
    case FieldType::u32:
      return v.is_number_unsigned() &&
             v.get<std::uint64_t>() <= std::numeric_limits<std::uint32_t>::max();
    case FieldType::boolean:
      return v.is_boolean();
    case FieldType::errno_name:
      return v.is_string() && v.get<std::string>() != "OK" &&
             errno_from_name(v.get<std::string>()).has_value();
    case FieldType::fault:
      return v.is_string() && parse_fault(v.get<std::string>()).has_value();
    case FieldType::preserve_mode:
      return v.is_string() && parse_preserve_mode(v.get<std::string>()).has_value();
  }
  return false;
}

// A value for an error message: scalars as JSON, containers by kind only (a deeply nested one
// would cost a deep recursion to print, and says nothing more).
std::string shown(const Json& v) {
  if (v.is_object())
    return "an object";
  if (v.is_array())
    return "an array";
  std::string text = dump(v);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

std::optional<ScenarioError> validate_op(const Json& op, const std::string& path) {
  if (!op.is_object())
    return ScenarioError{path, "an operation is a JSON object with an \"op\" field"};
  if (!op.contains("op") || !op["op"].is_string())
    return ScenarioError{path + ".op", "missing or not a string"};
  const std::string name = op["op"].get<std::string>();
  const OpSpec* spec = find_op(name);
  if (spec == nullptr)
    return ScenarioError{path + ".op", "unknown operation \"" + name + "\""};
  for (const auto& [key, value] : op.items()) {
    bool common = false;
    for (auto c : kCommonFields)
      common = common || c == key;
    if (common)
      continue;
    const FieldSpec* field = nullptr;
    for (const FieldSpec& f : spec->fields) {
      if (f.name == key)
        field = &f;
    }
    if (field == nullptr)
      return ScenarioError{path + "." + key, "unknown field for \"" + name + "\""};
    if (!has_type(value, field->type))
      return ScenarioError{path + "." + key,
                           "expected " + type_name(field->type) + ", got " + shown(value)};
  }
  for (const FieldSpec& f : spec->fields) {
    if (f.required && !op.contains(f.name))
      return ScenarioError{path + "." + std::string(f.name),
                           "missing (" + std::string(f.help) + ")"};
  }
  if (op.contains("expect") &&
      (!op["expect"].is_string() || !known_result(op["expect"].get<std::string>()))) {
    return ScenarioError{
        path + ".expect",
        "expected \"ok\", \"any\", \"mismatch\" or an errno name, got " + shown(op["expect"])};
  }
  if (op.contains("comment") && !op["comment"].is_string())
    return ScenarioError{path + ".comment", "expected a string"};
  if (name == "store_add" && op.contains("memfd") == op.contains("session"))
    return ScenarioError{path, "store_add takes exactly one of \"memfd\" and \"session\""};
  return std::nullopt;
}

std::variant<Scenario, ScenarioError> parse_scenario(const std::string& text) {
  auto parsed = parse_json<Json>(text);
  if (auto* err = std::get_if<JsonError>(&parsed))
    return ScenarioError{err->path, err->message};
  const Json& doc = std::get<Json>(parsed);
  Scenario s;
  const Json* ops = &doc;
  if (doc.is_object()) {
    for (const auto& [key, value] : doc.items()) {
      if (key == "profile") {
        auto p = value.is_string() ? parse_profile(value.get<std::string>()) : std::nullopt;
        if (!p)
          return ScenarioError{"profile",
                               "expected \"6.19\", \"7.0\", \"7.1\", \"7.2\" or \"7.3\""};
        s.profile = *p;
      } else if (key == "luo") {
        if (!value.is_boolean())
          return ScenarioError{"luo", "expected true or false"};
        s.luo_enabled = value.get<bool>();
      } else if (key != "description" && key != "operations") {
        return ScenarioError{key, "unknown field (profile, luo, description, operations)"};
      }
    }
    if (!doc.contains("operations"))
      return ScenarioError{"operations", "missing"};
    ops = &doc["operations"];
  }
  if (!ops->is_array())
    return ScenarioError{doc.is_object() ? "operations" : "",
                         "expected a JSON array of operations"};
  for (std::size_t i = 0; i < ops->size(); ++i) {
    const std::string path = "operations[" + std::to_string(i) + "]";
    if (auto err = validate_op((*ops)[i], path))
      return *err;
    s.operations.push_back((*ops)[i]);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Running

// What one operation did.
struct StepResult {
  int error = 0;
  bool mismatch = false;
  std::string message;
  std::vector<std::string> notes;
  std::vector<EntryReport> entries;
  std::optional<Json> document;

  std::string result() const { return mismatch ? "mismatch" : result_name(error); }
};

StepResult fail(const Error& e) {
  return {e.raw_errno(), false, e.message(), {}, {}, {}};
}
StepResult fail_errno(int error, std::string message) {
  return {error, false, std::move(message), {}, {}, {}};
}
StepResult mismatch(std::string message) {
  return {0, true, std::move(message), {}, {}, {}};
}

using Session = std::variant<OutgoingSession, IncomingSession>;

class Simulation {
 public:
  Simulation(const Scenario& s, std::function<void(const TransitionRecord&)> on_record)
      : kernel_(s.profile, SimulatedKernelOptions{s.luo_enabled}),
        port_(kernel_),
        observer_(std::move(on_record)),
        lu_(port_, s.profile, &observer_),
        manager_(new_manager()) {}

  std::uint64_t boot() const { return lu_.boot(); }

  // The step's result, or a scenario error (a handle that does not exist, or of the wrong kind).
  std::variant<StepResult, ScenarioError> run(const Json& op, const std::string& path);

 private:
  template <class T>
  using Found = std::variant<T*, ScenarioError>;

  Found<Device> device(const Json& op, const std::string& path) {
    const std::string handle = op.value("device", std::string("dev"));
    auto it = devices_.find(handle);
    if (it == devices_.end())
      return ScenarioError{path + ".device",
                           "no device handle \"" + handle + "\": open_device has not opened one"};
    return &it->second;
  }
  Found<Session> session(const Json& op, const std::string& path) {
    const std::string handle = op["session"].get<std::string>();
    auto it = sessions_.find(handle);
    if (it == sessions_.end())
      return ScenarioError{path + ".session", "no session handle \"" + handle +
                                                  "\": no earlier create_session or "
                                                  "retrieve_session made one"};
    return &it->second;
  }
  template <class Kind>
  Found<Kind> session_of_kind(const Json& op, const std::string& path, const char* needed) {
    auto s = session(op, path);
    if (auto* err = std::get_if<ScenarioError>(&s))
      return *err;
    if (auto* k = std::get_if<Kind>(std::get<Session*>(s)))
      return k;
    return ScenarioError{path + ".session", "\"" + op["session"].get<std::string>() + "\" is not " +
                                                needed + " session"};
  }
  Found<UniqueFd> memfd(const Json& op, const std::string& path, const char* field = "memfd") {
    const std::string handle = op[field].get<std::string>();
    auto it = memfds_.find(handle);
    if (it == memfds_.end())
      return ScenarioError{
          path + "." + field,
          "no memfd handle \"" + handle + "\": no earlier memfd_create or retrieve_fd made one"};
    return &it->second;
  }

  static int session_fd(const Session& s) {
    return std::visit([](const auto& x) { return x.fd(); }, s);
  }

  // The manager of a boot: the handoff as one object, reporting to the same observer.
  HandoffManager new_manager() { return HandoffManager(lu_, port_, {.observer = &observer_}); }
  StepResult store_add(const Json& op, int fd);
  StepResult check_contents(int fd, const std::string& expected);
  void boot_ended();

  SimulatedKernel kernel_;
  IoctlPort port_;
  CallbackObserver observer_;
  LiveUpdate lu_;
  std::map<std::string, Device> devices_;
  std::map<std::string, Session> sessions_;
  std::map<std::string, UniqueFd> memfds_;
  HandoffManager manager_;
};

StepResult Simulation::check_contents(int fd, const std::string& expected) {
  auto contents = memfd::read_all(fd);
  if (!contents.ok())
    return fail_errno(contents.raw_errno(), "cannot read the contents");
  if (contents.value() != expected)
    return mismatch("contents differ: " + quote_bytes(contents.value()) + ", expected " +
                    quote_bytes(expected));
  return {};
}

StepResult Simulation::store_add(const Json& op, int fd) {
  const std::string owner = op["owner"].get<std::string>();
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!dup)
    return fail_errno(errno, "cannot duplicate the fd");
  auto r =
      manager_.store(owner, std::move(dup), op["name"].get<std::string>(), op.value("poll", true));
  if (!r)
    return fail(r.error());
  StepResult out;
  if (r.value() == AddOutcome::duplicate)
    out.notes.push_back("already in the store (same open file description): not added again");
  return out;
}

// The old boot's processes are gone: their memfds with them (the manager's stores and handoff
// state went with its kexec()). Device and session handles stay, stale: every call on them is
// refused with EBADF.
void Simulation::boot_ended() {
  memfds_.clear();
}

std::variant<StepResult, ScenarioError> Simulation::run(const Json& op, const std::string& path) {
  const std::string name = op["op"].get<std::string>();
#define LUO_FIND(var, expr)                                 \
  auto var##_found = (expr);                                \
  if (auto* err = std::get_if<ScenarioError>(&var##_found)) \
    return *err;                                            \
  auto& var = *std::get<0>(var##_found);

  if (name == "open_device") {
    auto r = lu_.open_device();
    if (!r)
      return fail(r.error());
    const std::string handle = op.value("device", std::string("dev"));
    devices_.insert_or_assign(handle, std::move(r).value());
    return StepResult{};
  }
  if (name == "close_device") {
    LUO_FIND(dev, device(op, path));
    dev.close();
    return StepResult{};
  }
  if (name == "create_session" || name == "retrieve_session") {
    LUO_FIND(dev, device(op, path));
    const std::string session_name = op["session"].get<std::string>();
    const std::string handle = op.value("as", session_name);
    if (name == "create_session") {
      auto r = dev.create_session(session_name);
      if (!r)
        return fail(r.error());
      sessions_.insert_or_assign(handle, Session(std::move(r).value()));
    } else {
      auto r = dev.retrieve_session(session_name);
      if (!r)
        return fail(r.error());
      sessions_.insert_or_assign(handle, Session(std::move(r).value()));
    }
    return StepResult{};
  }
  if (name == "preserve") {
    LUO_FIND(s, session_of_kind<OutgoingSession>(op, path, "an outgoing"));
    LUO_FIND(fd, memfd(op, path));
    if (auto r = s.preserve(fd.get(), op["token"].get<std::uint64_t>()); !r)
      return fail(r.error());
    return StepResult{};
  }
  if (name == "retrieve_fd") {
    LUO_FIND(s, session_of_kind<IncomingSession>(op, path, "an incoming"));
    auto r = s.retrieve(op["token"].get<std::uint64_t>());
    if (!r)
      return fail(r.error());
    StepResult out;
    if (op.contains("data"))
      out = check_contents(r.value().get(), op["data"].get<std::string>());
    if (op.contains("as"))
      memfds_.insert_or_assign(op["as"].get<std::string>(), std::move(r).value());
    return out;
  }
  if (name == "finish") {
    LUO_FIND(s, session_of_kind<IncomingSession>(op, path, "an incoming"));
    if (auto r = s.finish(); !r)
      return fail(r.error());
    return StepResult{};
  }
  if (name == "get_name") {
    LUO_FIND(s, session(op, path));
    auto r = std::visit([](auto& x) { return x.get_name(); }, s);
    if (!r)
      return fail(r.error());
    StepResult out;
    out.notes.push_back("name: " + quote_bytes(r.value()));
    if (op.contains("name") && r.value() != op["name"].get<std::string>())
      return mismatch("name is " + quote_bytes(r.value()) + ", expected " + dump(op["name"]));
    return out;
  }
  if (name == "close_session") {
    LUO_FIND(s, session(op, path));
    std::visit([](auto& x) { x.close(); }, s);
    return StepResult{};
  }
  if (name == "memfd_create") {
    auto fd = memfd::create(op["memfd"].get<std::string>());
    if (!fd.ok())
      return fail_errno(fd.raw_errno(), "memfd_create failed");
    if (op.contains("data")) {
      if (auto w = memfd::write_at(fd.value().get(), 0, op["data"].get<std::string>()); !w.ok())
        return fail_errno(w.raw_errno(), "write failed");
    }
    memfds_.insert_or_assign(op["memfd"].get<std::string>(), std::move(fd).value());
    return StepResult{};
  }
  if (name == "memfd_write") {
    LUO_FIND(fd, memfd(op, path));
    auto w = memfd::write_at(fd.get(), op.value("offset", std::uint64_t{0}),
                             op["data"].get<std::string>());
    if (!w.ok())
      return fail_errno(w.raw_errno(), "write failed");
    return StepResult{};
  }
  if (name == "memfd_check") {
    LUO_FIND(fd, memfd(op, path));
    return check_contents(fd.get(), op["data"].get<std::string>());
  }
  if (name == "memfd_close") {
    LUO_FIND(fd, memfd(op, path));
    (void)fd;
    memfds_.erase(op["memfd"].get<std::string>());
    return StepResult{};
  }
  if (name == "kexec") {
    // A boot whose manager began no handoff kexecs without one (a scenario of kernel calls
    // only): the next boot gets a new manager. Once Stage A ran, the manager's own kexec()
    // checks the pipeline and carries the manager into the next boot.
    if (manager_.state() == HandoffState::running) {
      if (auto r = lu_.kexec(); !r)
        return fail(r.error());
      manager_ = new_manager();
    } else if (auto r = manager_.kexec(); !r) {
      return fail(r.error());
    }
    boot_ended();
    StepResult out;
    out.notes.push_back("boot " + std::to_string(lu_.boot()) +
                        ": memfds, fd stores and handoff state of the old boot are gone; its "
                        "device and session handles are stale");
    return out;
  }
  if (name == "inject") {
    const auto fault = *parse_fault(op["fault"].get<std::string>());
    const auto err =
        op.contains("errno") ? *errno_from_name(op["errno"].get<std::string>()) : Errno::eio;
    kernel_.inject(fault, errno_value(err), op.value("skip", 0u));
    return StepResult{};
  }
  if (name == "store_load") {
    const std::string owner = op["owner"].get<std::string>();
    const auto mode = op.contains("preserve")
                          ? *parse_preserve_mode(op["preserve"].get<std::string>())
                          : kDefaultPreserveMode;
    auto loaded = manager_.load_owner(owner, {op["max"].get<unsigned>(), mode});
    if (!loaded)
      return fail(loaded.error());
    StepResult out;
    out.entries = std::move(loaded).value();
    return out;
  }
  if (name == "store_add") {
    if (op.contains("memfd")) {
      LUO_FIND(fd, memfd(op, path));
      return store_add(op, fd.get());
    }
    LUO_FIND(s, session(op, path));
    return store_add(op, session_fd(s));
  }
  if (name == "store_remove") {
    auto removed = manager_.remove(op["owner"].get<std::string>(), op["name"].get<std::string>());
    if (!removed)
      return fail(removed.error());
    StepResult out;
    out.notes.push_back("removed " + std::to_string(removed.value()) + " entries");
    return out;
  }
  if (name == "store_check") {
    const std::string owner = op["owner"].get<std::string>();
    const FdStore* store = manager_.owners().find(owner);
    if (store == nullptr)
      return mismatch("owner \"" + owner + "\" is not loaded");
    const std::string entry = op["name"].get<std::string>();
    std::vector<const FdStoreEntry*> named;
    for (const auto& e : store->entries()) {
      if (e.name == entry)
        named.push_back(&e);
    }
    if (op.contains("count") ? named.size() != op["count"].get<std::size_t>() : named.empty()) {
      return mismatch(std::to_string(named.size()) + " entries named \"" + entry + "\" in " +
                      owner + "'s store");
    }
    if (op.contains("data") && !named.empty())
      return check_contents(named.front()->fd.get(), op["data"].get<std::string>());
    return StepResult{};
  }
  if (name == "stage_a") {
    if (op.contains("kexecs_count")) {
      if (auto adopted = manager_.adopt_kexec_count(op["kexecs_count"].get<std::uint32_t>());
          !adopted)
        return fail(adopted.error());
    }
    // What Stage A did not list is closed with the stores (systemd-luo.md §3.3).
    auto staged = manager_.stage_a();
    if (!staged)
      return fail(staged.error());
    StepResult out;
    out.entries = staged.value()->report;
    out.document = Json::parse(handoff::to_json(staged.value()->document));
    out.notes.push_back("handoff state: " + std::string(state_name(staged.value()->state)));
    return out;
  }
  if (name == "stage_b") {
    // A scenario that names no Stage A is malformed; the manager would refuse it too.
    if (manager_.stage_a_result() == nullptr)
      return ScenarioError{path, "stage_b needs an earlier stage_a in this boot"};
    LUO_FIND(dev, device(op, path));
    auto preserved = manager_.stage_b(dev);
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
  if (name == "restore") {
    LUO_FIND(dev, device(op, path));
    auto restored = manager_.restore(dev);
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
  return ScenarioError{path + ".op", "not implemented"};
}

// A short form of the operation's fields for the trace: token=1 session="vm0".
std::string op_summary(const Json& op) {
  std::string out = op["op"].get<std::string>();
  for (const auto& [key, value] : op.items()) {
    if (key == "op" || key == "expect" || key == "comment")
      continue;
    std::string v = dump(value);
    if (v.size() > 40)
      v = v.substr(0, 37) + "...";
    out += " " + key + "=" + v;
  }
  return out;
}

Json entry_json(const EntryReport& e) {
  Json j;
  j["owner"] = e.owner;
  j["name"] = e.name;
  j["state"] = state_name(e.state);
  if (!e.reason.empty())
    j["reason"] = e.reason;
  return j;
}

int run(const Args& args, Io& io) {
  const Command& self = simulate_command();
  if (args.positional.size() != 1)
    return usage_error(self, io, "expects exactly one scenario file (or - for standard input)");
  const auto text = read_input(self, args.positional[0], io);
  if (!text)
    return kExitUsage;
  auto parsed = parse_scenario(*text);
  if (auto* err = std::get_if<ScenarioError>(&parsed)) {
    return usage_error(self, io,
                       "invalid scenario " + args.positional[0] +
                           (err->path.empty() ? "" : " at " + err->path) + ": " + err->message);
  }
  Scenario& scenario = std::get<Scenario>(parsed);
  if (args.value("--profile")) {
    const auto p = profile_option(self, args, io);
    if (!p)
      return kExitUsage;
    scenario.profile = *p;
  }
  const bool json = args.flag("--json");

  std::vector<TransitionRecord> records;
  Simulation sim(scenario, [&](const TransitionRecord& r) { records.push_back(r); });
  Json out;
  out["scenario"] = args.positional[0];
  out["profile"] = profile_name(scenario.profile);
  out["operations"] = Json::array();
  if (!json) {
    io.out << "luo-lifecycle simulate: " << args.positional[0] << ", kernel profile "
           << profile_name(scenario.profile) << ", simulated kernel"
           << (scenario.luo_enabled ? "" : " without LUO") << "\n";
  }
  std::optional<std::size_t> failed_at;
  for (std::size_t i = 0; i < scenario.operations.size(); ++i) {
    const Json& op = scenario.operations[i];
    const std::string path = "operations[" + std::to_string(i) + "]";
    records.clear();
    const std::uint64_t boot = sim.boot();
    auto ran = sim.run(op, path);
    if (auto* err = std::get_if<ScenarioError>(&ran)) {
      io.out.flush();
      return usage_error(
          self, io,
          "invalid scenario " + args.positional[0] + " at " + err->path + ": " + err->message);
    }
    const StepResult& r = std::get<StepResult>(ran);
    const std::string expected = op.value("expect", std::string("ok"));
    const bool as_expected = expected == "any" || expected == r.result();
    if (json) {
      Json step;
      step["index"] = i;
      step["op"] = op["op"];
      step["boot"] = boot;
      step["result"] = r.result();
      step["expected"] = expected;
      step["as_expected"] = as_expected;
      if (!r.message.empty())
        step["message"] = r.message;
      step["trace"] = Json::array();
      for (const auto& rec : records)
        step["trace"].push_back(trace_json(rec));
      if (!r.entries.empty()) {
        step["entries"] = Json::array();
        for (const auto& e : r.entries)
          step["entries"].push_back(entry_json(e));
      }
      if (r.document)
        step["document"] = *r.document;
      if (!r.notes.empty())
        step["notes"] = r.notes;
      out["operations"].push_back(std::move(step));
    } else {
      io.out << "\n#" << i << " " << op_summary(op) << ": " << r.result();
      if (expected != "ok")
        io.out << " (expected " << expected << ")";
      io.out << "\n";
      if (op.contains("comment"))
        io.out << "   # " << op["comment"].get<std::string>() << "\n";
      for (const auto& rec : records)
        io.out << "   " << trace_line(rec) << "\n";
      for (const auto& e : r.entries) {
        io.out << "   entry " << e.owner << (e.owner.empty() ? "" : "/") << e.name << ": "
               << state_name(e.state) << (e.reason.empty() ? "" : " (" + e.reason + ")") << "\n";
      }
      if (r.document)
        io.out << "   document: " << dump(*r.document) << "\n";
      for (const auto& note : r.notes)
        io.out << "   " << note << "\n";
      if (!r.message.empty())
        io.out << "   " << r.message << "\n";
    }
    if (!as_expected) {
      failed_at = i;
      break;
    }
  }
  if (json) {
    out["verdict"] = failed_at ? "fail" : "pass";
    out["failed_at"] = failed_at ? Json(*failed_at) : Json(nullptr);
    io.out << dump(out, 2) << "\n";
  } else if (failed_at) {
    const Json& op = scenario.operations[*failed_at];
    io.out << "\nsimulate: FAIL at operations[" << *failed_at << "] ("
           << op["op"].get<std::string>() << "): expected " << op.value("expect", std::string("ok"))
           << "\n";
  } else {
    io.out << "\nsimulate: PASS: " << scenario.operations.size()
           << (scenario.operations.size() == 1 ? " operation" : " operations")
           << ", every result as expected\n";
  }
  return failed_at ? kExitFailure : kExitOk;
}

std::string describe_format() {
  std::string out =
      "Runs a scenario through the runtime (impl/) over the kernel simulator and prints every\n"
      "transition taken or refused, per operation. A scenario is a JSON object\n"
      "  {\"profile\": \"7.2\", \"luo\": true, \"description\": \"...\", \"operations\": [...]}\n"
      "(profile, luo and description are optional; luo false boots without liveupdate=on), or\n"
      "just the operations array. An operation is {\"op\": NAME, fields...}; every operation\n"
      "also takes \"expect\" (the result it must have: \"ok\" by default, an errno name such as\n"
      "\"EEXIST\", \"mismatch\" for a failed check, or \"any\") and \"comment\". Handles are "
      "names\n"
      "the scenario gives to a device, a session or a memfd. After a kexec the old boot's\n"
      "memfds, fd stores and handoff state are gone; its device and session handles stay,\n"
      "stale (EBADF).\n\noperations:\n";
  for (const OpSpec& s : op_specs()) {
    out += "  " + std::string(s.name);
    for (const FieldSpec& f : s.fields)
      out += f.required ? " " + std::string(f.name) : " [" + std::string(f.name) + "]";
    out += "\n      " + std::string(s.help) + "\n";
  }
  out +=
      "\nThe run stops at the first result that is not the expected one. Exit status: 0 when\n"
      "every operation had its expected result, 1 when one did not, 2 for an invalid scenario\n"
      "(named by operations[i].field) or a usage error. Format details: docs/scenarios.md;\n"
      "examples: examples/scenarios/.\n";
  return out;
}

}  // namespace

const Command& simulate_command() {
  static const Command command{
      "simulate",
      "<scenario.json|-> [--profile P] [--json]",
      "run a scenario of operations, kexecs and faults over the simulator, traced",
      describe_format(),
      {{"--profile", "P", "kernel ABI profile, overriding the scenario's"},
       {"--json", "", "print {operations: [{result, expected, trace[], entries[]}], verdict}"}},
      run};
  return command;
}

}  // namespace luo::cli
