// HandoffManager: the pipeline of kexec_handoff.hpp as one object checked against
// kHandoffMachine (lifecycle in luo/impl/handoff_manager.hpp). The phases themselves are the
// free functions; this file decides whether a call may run, keeps what the phases produce, and
// reports every pipeline transition.
#include "luo/impl/handoff_manager.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "luo/impl/syscalls.hpp"

// Deliberate bugs for the mutation report, compiled only into the test-only library copy
// luo_impl_mutants (tests/mutants/); the shipped library has no mutation point.
#ifdef LUO_TEST_MUTANTS
#include "luo/test/mutants.hpp"
#endif

namespace luo {
namespace {

// The object every record and error names: the one handoff of a manager.
constexpr std::string_view kObject = "fd-store handoff";
// A new pipeline is reported like LiveUpdate reports a new session: "create", from nowhere,
// taken (not a refusal).
constexpr std::string_view kCreateEvent = "create";

nlohmann::json timestamp_json(const std::optional<handoff::DualTimestamp>& t) {
  if (!t)
    return nullptr;
  return {{"realtime", t->realtime}, {"monotonic", t->monotonic}};
}

std::optional<handoff::DualTimestamp> timestamp_from(const nlohmann::json& j) {
  if (!j.is_object())
    return std::nullopt;
  return handoff::DualTimestamp{j.at("realtime").get<std::uint64_t>(),
                                j.at("monotonic").get<std::uint64_t>()};
}

// The serialized fd `number` out of `fds`, or an invalid UniqueFd when nobody passed it. The
// exec cleared FD_CLOEXEC to carry it; the store's fds (and so Stage A's, which takes them) are
// close-on-exec again, so no child the manager starts inherits a service's fd.
UniqueFd take_fd(std::vector<UniqueFd>& fds, int number) {
  auto it =
      std::find_if(fds.begin(), fds.end(), [&](const UniqueFd& f) { return f.get() == number; });
  if (it == fds.end())
    return UniqueFd();
  UniqueFd out = std::move(*it);
  fds.erase(it);
  (void)::fcntl(out.get(), F_SETFD, FD_CLOEXEC);
  return out;
}

}  // namespace

HandoffManager::HandoffManager(LiveUpdate& lu, KernelPort& port, HandoffManagerOptions options)
    : lu_(&lu), port_(&port), options_(options), boot_(lu.boot()) {}
HandoffManager::HandoffManager(HandoffManager&&) noexcept = default;
HandoffManager& HandoffManager::operator=(HandoffManager&&) noexcept = default;
HandoffManager::~HandoffManager() = default;

// ---------------------------------------------------------------------------------------------
// Checks and reports

void HandoffManager::report(Operation op, std::string_view event, HandoffState from,
                            HandoffState to, int result, bool issued) const {
  if (options_.observer == nullptr)
    return;
  options_.observer->on_transition(
      TransitionRecord{boot_, kHandoffMachine.name, std::string(kObject), op, event,
                       state_name(from), state_name(to), result, issued, std::nullopt});
}

Error HandoffManager::refuse(Operation op, std::string_view event, std::string detail) const {
  report(op, event, state_, state_, EINVAL, false);
  return Error(op, ErrorOrigin::refused, EINVAL, std::string(kObject),
               std::string(state_name(state_)), std::move(detail));
}

// The same rule LiveUpdate applies to kernel calls: refused when a candidate row is undefined
// (the model never saw this order) or none can succeed. A terminal state has no rows at all.
std::optional<Error> HandoffManager::check(Operation op, HandoffEvent event) const {
  const std::string_view name = event_name(event);
#ifdef LUO_TEST_MUTANTS
  // The mutant lets Stage B run in `running`, before Stage A listed anything.
  if (LUO_MUTANT(stage_b_before_stage_a) && event == HandoffEvent::stage_b &&
      state_ == HandoffState::running) {
    return std::nullopt;
  }
#endif
  if (kHandoffMachine.is_terminal(state_)) {
    return refuse(op, name,
                  "the handoff ended in " + std::string(state_name(state_)) +
                      ": no step of the model follows it");
  }
  const auto d = decide(kHandoffMachine, state_, event, kDefaultProfile, Facts::all_unknown());
  bool can_succeed = false;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto kind = d.candidate(i).outcome.kind;
    if (kind == OutcomeKind::undefined || kind == OutcomeKind::blocks) {
      return refuse(
          op, name,
          "not a step of the handoff in this state (" + std::string(d.candidate(i).spec) + ")");
    }
    can_succeed = can_succeed || kind == OutcomeKind::success;
  }
  if (!can_succeed)
    return refuse(op, name, "no row of the model lets this step succeed here");
  return std::nullopt;
}

std::optional<Error> HandoffManager::check_stores_open(Operation op, std::string_view event) const {
  if (state_ == HandoffState::running)
    return std::nullopt;
  // Between two entries of a stepped restore the manager goes on with its main loop (units
  // load, daemon-reload); from inside a dispatch the store is in the middle of being filled.
  if (state_ == HandoffState::restoring && cursor_ != nullptr && !in_dispatch_)
    return std::nullopt;
  // After Stage A the entries are staged, preserved or gone: the entry machine has no store
  // operation for them (kOtherPhase).
  return refuse(op, event, "the fd stores are open only while the handoff is running");
}

void HandoffManager::take(Operation op, HandoffEvent event, HandoffState to, int result) {
  const HandoffState from = state_;
  state_ = to;
  report(op, event_name(event), from, to, result, true);
}

void HandoffManager::begin_pipeline(Operation op) {
  state_ = kHandoffMachine.initial;
  boot_ = lu_->boot();
  if (options_.observer != nullptr) {
    options_.observer->on_transition(TransitionRecord{boot_, kHandoffMachine.name,
                                                      std::string(kObject), op, kCreateEvent, "",
                                                      state_name(state_), 0, true, std::nullopt});
  }
}

// ---------------------------------------------------------------------------------------------
// The sd_notify side

namespace {
Error no_owner(std::string_view owner, HandoffState state) {
  return Error(Operation::store_fd, ErrorOrigin::refused, ENOENT,
               "owner '" + std::string(owner) + "'", std::string(state_name(state)),
               "no owner of that id is loaded");
}
}  // namespace

Result<std::vector<EntryReport>> HandoffManager::load_owner(std::string_view id,
                                                            FdStoreConfig config) {
  if (auto e = check_stores_open(Operation::store_fd, event_name(FdEntryEvent::owner_loaded)))
    return *e;
  auto loaded = owners_.try_load(id, config);
  if (!loaded)
    return loaded.error();
  RegistryTarget target(owners_);
  return held_.owner_loaded(id, target);
}

Status HandoffManager::unload_owner(std::string_view id) {
  if (auto e = check_stores_open(Operation::store_fd, event_name(FdEntryEvent::release)))
    return *e;
  if (owners_.find(id) == nullptr)
    return no_owner(id, state_);
  owners_.unload(id);
  return Done{};
}

Result<std::vector<EntryReport>> HandoffManager::daemon_reload() {
  if (auto e = check_stores_open(Operation::store_fd, event_name(FdEntryEvent::reload)))
    return *e;
  RegistryTarget target(owners_);
  return held_.retry_all(target);
}

Result<AddOutcome> HandoffManager::store(std::string_view owner, UniqueFd fd, std::string_view name,
                                         Poll poll) {
  if (auto e = check_stores_open(Operation::store_fd, kCreateEvent))
    return *e;  // `fd` closes here, as systemd closes a refused FDSTORE=1 fd
  FdStore* s = owners_.find(owner);
  if (s == nullptr)
    return no_owner(owner, state_);
  return s->add(std::move(fd), name, poll);
}

Result<std::size_t> HandoffManager::remove(std::string_view owner, std::string_view name) {
  if (auto e = check_stores_open(Operation::store_fd, event_name(FdEntryEvent::remove)))
    return *e;
  FdStore* s = owners_.find(owner);
  if (s == nullptr)
    return no_owner(owner, state_);
  return s->remove(name);
}

Result<bool> HandoffManager::hang_up(std::string_view owner, int fd) {
  if (auto e = check_stores_open(Operation::store_fd, event_name(FdEntryEvent::remove)))
    return *e;
  FdStore* s = owners_.find(owner);
  if (s == nullptr)
    return no_owner(owner, state_);
  return s->hang_up(fd);
}

Result<bool> HandoffManager::owner_stopped(std::string_view owner, ReleaseTrigger trigger,
                                           bool failed) {
  if (auto e = check_stores_open(Operation::store_fd, event_name(FdEntryEvent::release)))
    return *e;
  FdStore* s = owners_.find(owner);
  if (s == nullptr)
    return no_owner(owner, state_);
  return s->owner_stopped(trigger, failed);
}

Result<std::vector<UniqueFd>> HandoffManager::hand_back(std::string_view owner) const {
  if (auto e = check_stores_open(Operation::store_fd, "hand_back"))
    return *e;
  const FdStore* s = owners_.find(owner);
  if (s == nullptr)
    return no_owner(owner, state_);
  return s->hand_back();
}

// ---------------------------------------------------------------------------------------------
// The pipeline

Status HandoffManager::adopt_kexec_count(std::uint32_t count) {
  if (auto e = check_stores_open(Operation::stage_a, "adopt_kexec_count"))
    return *e;
  kexec_count_ = count;
  return Done{};
}

void HandoffManager::begin_shutdown(handoff::DualTimestamp when) {
  shutdown_start_ = when;
}

Result<const StageAResult*> HandoffManager::stage_a(
    std::optional<handoff::DualTimestamp> finished) {
  if (auto e = check(Operation::stage_a, HandoffEvent::stage_a))
    return *e;
  StageAOptions opt;
  opt.profile = options_.profile;
  opt.kexec_count = kexec_count_;
  opt.shutdown_start = shutdown_start_;
  // A manager that tracks its shutdown (begin_shutdown()) gets both timestamps; one that does
  // not gets a document without them, the same on every run.
  opt.shutdown_finish = finished          ? finished
                        : shutdown_start_ ? std::optional(dual_timestamp_now())
                                          : std::nullopt;
  // The stores close with the manager's main loop, so Stage A takes the fds it lists instead of
  // duplicating them, and what it did not list is released (restart/no owners, refused sessions).
  staged_ = luo::stage_a_taking_fds(owners_, &held_, *port_, opt);
  owners_ = FdStoreRegistry();
  held_ = HeldFds();
  take(Operation::stage_a, HandoffEvent::stage_a, staged_->state, 0);
  return &*staged_;
}

Result<UniqueFd> HandoffManager::stage_a_memfd() const {
  if (state_ != HandoffState::serialized || !staged_) {
    return Error(Operation::stage_a, ErrorOrigin::refused, EINVAL, std::string(kObject),
                 std::string(state_name(state_)), "only a serialized Stage A goes to a helper");
  }
  return write_stage_a_memfd(*staged_);
}

Status HandoffManager::keep_across_exec(int memfd) const {
  if (state_ != HandoffState::serialized || !staged_) {
    return Error(Operation::stage_a, ErrorOrigin::refused, EINVAL, std::string(kObject),
                 std::string(state_name(state_)), "only a serialized Stage A goes to a helper");
  }
  return luo::keep_across_exec(*staged_, memfd);
}

std::vector<int> HandoffManager::fds_to_keep() const {
  std::vector<int> fds;
  if (inherited_memfd_)
    fds.push_back(inherited_memfd_.get());
  if (staged_) {
    for (const UniqueFd& fd : staged_->fds)
      fds.push_back(fd.get());
  }
  if (preserved_ && preserved_->session)
    fds.push_back(preserved_->session->fd());
  return fds;
}

Result<const StageBResult*> HandoffManager::stage_b(Device& device, StageBOptions options) {
  if (auto e = check(Operation::stage_b, HandoffEvent::stage_b))
    return *e;
  if (!options.late_start)
    options.late_start = late_start_;
  // Without a Stage A (only a mutant gets here) there is nothing to fill: an empty document.
  const StageAResult none;
  preserved_ = luo::stage_b(device, staged_ ? *staged_ : none, options);
  take(Operation::stage_b, HandoffEvent::stage_b, preserved_->state, preserved_->error);
  if (preserved_->state == HandoffState::nothing) {
    // Nothing is handed over, so nothing names the third-party sessions Stage A kept open: the
    // shutdown side lets them go now, as the proof's world does, instead of at the kexec.
    staged_.reset();
  }
  return &*preserved_;
}

Result<const StageBResult*> HandoffManager::stage_b(StageBOptions options) {
  if (auto e = check(Operation::stage_b, HandoffEvent::stage_b))
    return *e;
  auto device = lu_->open_device();
  if (!device) {
    // The device's own failures are the pipeline's guards: no LUO, or someone holds it.
    const int err = device.error().raw_errno();
    Facts f;
    f.set(err == ENOENT  ? Guard::luo_unavailable
          : err == EBUSY ? Guard::held_elsewhere
                         : Guard::preserve_fails,
          true);
    StageBResult out;
    out.state = select(kHandoffMachine, state_, HandoffEvent::stage_b, kDefaultProfile, f).to;
    out.failure = device.error().message();
    out.error = err;
    preserved_ = std::move(out);
    take(Operation::stage_b, HandoffEvent::stage_b, preserved_->state, err);
    staged_.reset();  // as above: nothing is handed over
    return &*preserved_;
  }
  auto r = stage_b(device.value(), std::move(options));
  device.value().close();  // the session outlives the device (§1.2)
  return r;
}

Status HandoffManager::kexec() {
  // A pipeline that ended in `nothing` hands nothing over, but the boot still ends by kexec.
  const bool boundary_only = state_ == HandoffState::nothing;
  if (!boundary_only) {
    if (auto e = check(Operation::kexec, HandoffEvent::kexec))
      return *e;
  }
  const Status r = lu_->kexec();
  if (!r) {
    if (boundary_only) {
      report(Operation::kexec, event_name(HandoffEvent::reboot_fails), state_, state_,
             r.error().raw_errno(), true);
    } else {
      take(Operation::kexec, HandoffEvent::reboot_fails,
           select(kHandoffMachine, state_, HandoffEvent::reboot_fails, kDefaultProfile, Facts{}).to,
           r.error().raw_errno());
      // The fallback reboot drops every session: closing "systemd" now says so to the kernel.
      preserved_.reset();
      staged_.reset();
    }
    return r.error();
  }
  if (boundary_only) {
    report(Operation::kexec, event_name(HandoffEvent::kexec), state_, state_, 0, true);
  } else {
    take(Operation::kexec, HandoffEvent::kexec,
         select(kHandoffMachine, state_, HandoffEvent::kexec, kDefaultProfile, Facts{}).to, 0);
  }
  forget_boot();
  begin_pipeline(Operation::kexec);
  return Done{};
}

void HandoffManager::forget_boot() {
  // The next boot: every process of this one died, and with it every fd it held.
  cursor_.reset();
  restore_device_.reset();
  owners_ = FdStoreRegistry();
  held_ = HeldFds();
  staged_.reset();
  preserved_.reset();
  restored_.reset();
  inherited_memfd_.reset();
  shutdown_start_.reset();
  late_start_.reset();
  previous_shutdown_ = {};
  kexec_count_ = 0;
  restored_this_boot_ = false;
}

Result<const RestoreResult*> HandoffManager::restore(Device& device, RestoreTarget* target) {
  const std::string_view event = event_name(HandoffEvent::retrieve_session);
  if (restored_this_boot_ && state_ == HandoffState::running) {
    return refuse(Operation::restore, event,
                  "the restore of this boot already ran: it runs once, before Stage A");
  }
  if (auto e = check(Operation::restore, HandoffEvent::retrieve_session))
    return *e;
  RegistryTarget own(owners_);
  RestoreTarget& to = target != nullptr ? *target : own;
  // While entries are dispatched the pipeline is `restoring`: a target that calls back into
  // the manager (Stage A, another restore, a store operation) is refused by the table.
  state_ = HandoffState::restoring;
  in_dispatch_ = true;
  RestoreCursor cursor(device);
  while (!cursor.done()) {
    if (auto item = cursor.next())
      (void)cursor.dispatch(*item, to, held_);
  }
  in_dispatch_ = false;
  state_ = HandoffState::running;
  end_restore(cursor.finish());
  return &*restored_;
}

void HandoffManager::end_restore(RestoreResult result) {
  restored_ = std::move(result);
  if (restored_->state == HandoffState::nothing) {
    take(Operation::restore, HandoffEvent::retrieve_session, HandoffState::nothing,
         restored_->error);
  } else {
    take(Operation::restore, HandoffEvent::retrieve_session, HandoffState::restoring, 0);
    take(Operation::restore, HandoffEvent::finish, restored_->state, restored_->error);
  }
  kexec_count_ = restored_->kexecs_count;
  previous_shutdown_ = restored_->previous_shutdown;
  restored_this_boot_ = true;
  begin_pipeline(Operation::restore);
}

namespace {
// The restore's own device could not be opened: the pipeline's guard for that errno.
RestoreResult no_device(HandoffState from, const Error& error) {
  const int err = error.raw_errno();
  Facts f;
  f.set(err == ENOENT ? Guard::luo_unavailable : Guard::retrieve_fails, true);
  RestoreResult out;
  out.state = select(kHandoffMachine, from, HandoffEvent::retrieve_session, kDefaultProfile, f).to;
  out.failure = error.message();
  out.error = err;
  return out;
}
}  // namespace

std::optional<Device> HandoffManager::open_restore(Result<const RestoreResult*>* ended) {
  const std::string_view event = event_name(HandoffEvent::retrieve_session);
  if (restored_this_boot_ && state_ == HandoffState::running) {
    *ended = refuse(Operation::restore, event,
                    "the restore of this boot already ran: it runs once, before Stage A");
    return std::nullopt;
  }
  if (auto e = check(Operation::restore, HandoffEvent::retrieve_session)) {
    *ended = *e;
    return std::nullopt;
  }
  auto device = lu_->open_device();
  if (!device) {
    restored_ = no_device(state_, device.error());
    take(Operation::restore, HandoffEvent::retrieve_session, restored_->state, restored_->error);
    restored_this_boot_ = true;
    begin_pipeline(Operation::restore);
    *ended = &*restored_;
    return std::nullopt;
  }
  return std::move(device).value();
}

Result<const RestoreResult*> HandoffManager::restore(RestoreTarget* target) {
  Result<const RestoreResult*> ended = nullptr;
  auto device = open_restore(&ended);
  if (!device)
    return ended;
  auto r = restore(*device, target);
  device->close();
  return r;
}

Result<const RestoreResult*> HandoffManager::restore_begin() {
  Result<const RestoreResult*> ended = nullptr;
  auto device = open_restore(&ended);
  if (!device)
    return ended;
  restore_device_ = std::make_unique<Device>(std::move(*device));
  cursor_ = std::make_unique<RestoreCursor>(*restore_device_);
  if (cursor_->result().state == HandoffState::nothing) {
    RestoreResult r = cursor_->finish();
    cursor_.reset();
    restore_device_.reset();
    end_restore(std::move(r));
    return &*restored_;
  }
  take(Operation::restore, HandoffEvent::retrieve_session, HandoffState::restoring, 0);
  return &cursor_->result();
}

Result<std::optional<HandoffManager::RestoreStep>> HandoffManager::restore_next() {
  if (cursor_ == nullptr || in_dispatch_) {
    return refuse(Operation::restore, "restore_next",
                  "no stepped restore is in progress (restore_begin() starts one)");
  }
  if (cursor_->done())
    return std::optional<RestoreStep>();
  const std::size_t reported = cursor_->result().report.size();
  RestoreStep step;
  step.item = cursor_->next();
  if (!step.item && cursor_->result().report.size() > reported)
    step.lost = cursor_->result().report.back();
  return std::optional<RestoreStep>(std::move(step));
}

Result<EntryReport> HandoffManager::restore_dispatch(RestoredItem& item, RestoreTarget* target) {
  if (cursor_ == nullptr || in_dispatch_) {
    return refuse(Operation::restore, "restore_dispatch",
                  "no stepped restore is in progress (restore_begin() starts one)");
  }
  RegistryTarget own(owners_);
  in_dispatch_ = true;
  EntryReport r = cursor_->dispatch(item, target != nullptr ? *target : own, held_);
  in_dispatch_ = false;
  return r;
}

Result<const RestoreResult*> HandoffManager::restore_finish() {
  if (cursor_ == nullptr || in_dispatch_) {
    return refuse(Operation::restore, event_name(HandoffEvent::finish),
                  "no stepped restore is in progress (restore_begin() starts one)");
  }
  if (auto e = check(Operation::restore, HandoffEvent::finish))
    return *e;
  RestoreResult r = cursor_->finish();
  cursor_.reset();
  restore_device_->close();
  restore_device_.reset();
  // restore_begin() reported the retrieve already.
  restored_ = std::move(r);
  take(Operation::restore, HandoffEvent::finish, restored_->state, restored_->error);
  kexec_count_ = restored_->kexecs_count;
  previous_shutdown_ = restored_->previous_shutdown;
  restored_this_boot_ = true;
  begin_pipeline(Operation::restore);
  return &*restored_;
}

// ---------------------------------------------------------------------------------------------
// The environment

void HandoffManager::crash() {
  constexpr std::string_view kCrashEvent = "manager_crash";
  const HandoffState from = state_;
  // What the dead process held: its stores and held entries. The restarted one knows its owners.
  FdStoreRegistry restarted;
  for (const auto& [id, store] : owners_.owners())
    restarted.load(id, store.config());
  owners_ = std::move(restarted);
  held_ = HeldFds();
  // A helper's inherited memfd, in whatever state its pipeline ended.
  inherited_memfd_.reset();
  in_dispatch_ = false;
  switch (state_) {
    case HandoffState::serialized:
    case HandoffState::preserved:
      // Closing "systemd" makes the kernel drop it whole; the duplicates close with it.
      preserved_.reset();
      staged_.reset();
      state_ = HandoffState::nothing;
      report(Operation::close_session, kCrashEvent, from, state_, 0, true);
      return;
    case HandoffState::restoring:
      if (cursor_ != nullptr) {
        cursor_->abandon();
        RestoreResult r;
        r.state = HandoffState::nothing;
        r.failure = "the manager died during the restore";
        r.kexecs_count = kexec_count_;
        r.previous_shutdown = previous_shutdown_;
        cursor_.reset();
        restore_device_.reset();
        restored_ = std::move(r);
        restored_this_boot_ = true;
        report(Operation::close_session, kCrashEvent, from, HandoffState::nothing, 0, true);
        begin_pipeline(Operation::restore);
      }
      return;
    case HandoffState::running:
    case HandoffState::handed_over:
    case HandoffState::nothing:
    case HandoffState::lost:
    case HandoffState::finished:
      report(Operation::close_session, kCrashEvent, from, state_, 0, true);
      return;
  }
}

Status HandoffManager::fallback_reboot() {
  if (state_ != HandoffState::lost && state_ != HandoffState::nothing) {
    return refuse(Operation::kexec, "fallback_reboot",
                  "the fallback reboot follows a kexec that failed");
  }
  // Every process dies first: nothing of this boot is preserved any more when the machine goes.
  forget_boot();
  const Status r = lu_->kexec();
  if (!r)
    return r.error();
  begin_pipeline(Operation::kexec);
  return Done{};
}

// ---------------------------------------------------------------------------------------------
// The manager's own re-exec

Result<HandoffManager::Serialized> HandoffManager::serialize() const {
  if (auto e = check_stores_open(Operation::store_fd, event_name(FdEntryEvent::reload)))
    return *e;
  Serialized out;
  const auto keep = [&](int fd) -> Result<int> {
    UniqueFd dup(sys::dup_cloexec(fd, 3));
    if (!dup) {
      return Error(Operation::store_fd, ErrorOrigin::kernel, errno, std::string(kObject),
                   std::string(state_name(state_)), "cannot duplicate a stored fd");
    }
    const int number = dup.get();
    out.fds.push_back(std::move(dup));
    return number;
  };
  nlohmann::json doc;
  doc["profile"] = systemd_profile_name(options_.profile);
  doc["kexec_count"] = kexec_count_;
  doc["restored"] = restored_this_boot_;
  doc["shutdown_start"] = timestamp_json(shutdown_start_);
  nlohmann::json previous = nlohmann::json::object();
  for (auto t : handoff::kAllShutdownTimestamps)
    previous[std::string(handoff::shutdown_timestamp_key(t))] =
        timestamp_json(previous_shutdown_[t]);
  doc["previous_shutdown"] = std::move(previous);
  nlohmann::json owners = nlohmann::json::array();
  for (const auto& [id, store] : owners_.owners()) {
    nlohmann::json entries = nlohmann::json::array();
    // Oldest first: adding prepends, so the reader rebuilds the same order.
    for (auto it = store.entries().rbegin(); it != store.entries().rend(); ++it) {
      auto fd = keep(it->fd.get());
      if (!fd)
        return fd.error();
      entries.push_back({{"fd", fd.value()},
                         {"name", it->name},
                         {"poll", it->poll == Poll::on},
                         {"index", it->index},
                         {"retrieved_session", it->retrieved_session}});
    }
    owners.push_back({{"id", id},
                      {"max", store.config().max},
                      {"preserve", preserve_mode_name(store.config().preserve)},
                      {"entries", std::move(entries)}});
  }
  doc["owners"] = std::move(owners);
  nlohmann::json held = nlohmann::json::array();
  for (const auto& [owner, items] : held_.entries()) {
    for (const auto& h : items) {
      auto fd = keep(h.item.fd.get());
      if (!fd)
        return fd.error();
      held.push_back({{"fd", fd.value()},
                      {"owner", owner},
                      {"name", h.item.name},
                      {"type", handoff::entry_type_name(h.item.type)},
                      {"session_name", h.item.session_name},
                      {"cgroup", h.cgroup}});
    }
  }
  doc["held"] = std::move(held);
  out.text = doc.dump();
  return out;
}

Result<HandoffManager> HandoffManager::deserialize(LiveUpdate& lu, KernelPort& port,
                                                   std::string_view text,
                                                   std::vector<UniqueFd>& fds,
                                                   HandoffManagerOptions options) {
  const auto unusable = [](std::string why) {
    return Error(Operation::store_fd, ErrorOrigin::refused, EINVAL, std::string(kObject),
                 std::string(state_name(kHandoffMachine.initial)),
                 "the serialization is unusable: " + why);
  };
  const auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object())
    return unusable("not a JSON object");
  try {
    if (auto p = parse_systemd_profile(doc.at("profile").get<std::string>()))
      options.profile = *p;
    else
      return unusable("unknown profile");
    HandoffManager m(lu, port, options);
    m.kexec_count_ = doc.at("kexec_count").get<std::uint32_t>();
    m.restored_this_boot_ = doc.at("restored").get<bool>();
    m.shutdown_start_ = timestamp_from(doc.at("shutdown_start"));
    for (auto t : handoff::kAllShutdownTimestamps) {
      m.previous_shutdown_[t] = timestamp_from(
          doc.at("previous_shutdown").at(std::string(handoff::shutdown_timestamp_key(t))));
    }
    for (const auto& o : doc.at("owners")) {
      const auto mode = parse_preserve_mode(o.at("preserve").get<std::string>());
      if (!mode)
        return unusable("unknown preserve mode");
      auto loaded = m.owners_.try_load(o.at("id").get<std::string>(),
                                       {.max = o.at("max").get<unsigned>(), .preserve = *mode});
      if (!loaded)
        return loaded.error();
      for (const auto& e : o.at("entries")) {
        UniqueFd fd = take_fd(fds, e.at("fd").get<int>());
        if (!fd)
          return unusable("an entry's fd was not passed");
        auto added = loaded.value()->add(std::move(fd), e.at("name").get<std::string>(),
                                         e.at("poll").get<bool>() ? Poll::on : Poll::off,
                                         e.at("index").get<std::uint64_t>(),
                                         e.at("retrieved_session").get<bool>());
        if (!added)
          return added.error();
      }
    }
    for (const auto& h : doc.at("held")) {
      UniqueFd fd = take_fd(fds, h.at("fd").get<int>());
      if (!fd)
        return unusable("a held entry's fd was not passed");
      const std::string type = h.at("type").get<std::string>();
      RestoredItem item{h.at("owner").get<std::string>(), h.at("name").get<std::string>(),
                        type == handoff::entry_type_name(handoff::EntryType::luo_session)
                            ? handoff::EntryType::luo_session
                            : handoff::EntryType::fd,
                        std::move(fd), h.at("session_name").get<std::string>()};
      m.held_.hold(std::move(item), h.at("cgroup").get<std::string>());
    }
    // The retry after the manager's own deserialization: owners loaded meanwhile take theirs.
    RegistryTarget target(m.owners_);
    (void)m.held_.retry_all(target);
    return m;
  } catch (const nlohmann::json::exception& e) {
    return unusable(e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// The exec'd shutdown helper

Result<std::optional<HandoffManager>> HandoffManager::inherit(LiveUpdate& lu, KernelPort& port,
                                                              const char* serialize_fd_value,
                                                              HandoffManagerOptions options) {
  auto inherited = inherit_stage_a(serialize_fd_value, port, options.profile);
  if (!inherited)
    return inherited.error();
  if (!inherited.value())
    return std::optional<HandoffManager>();
  InheritedStageA& in = *inherited.value();
  HandoffManager m(lu, port, options);
  m.late_start_ = in.started;
  m.inherited_memfd_ = std::move(in.memfd);
  m.kexec_count_ = in.staged.document.header.kexec_count().value_or(0);
  const HandoffState to = in.staged.state;
  m.staged_ = std::move(in.staged);
  // Stage A ran in the manager that exec'd this helper; the pipeline continues from it.
  m.take(Operation::stage_a, HandoffEvent::stage_a, to, 0);
  return std::optional<HandoffManager>(std::move(m));
}

}  // namespace luo
