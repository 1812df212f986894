// handoff_row_walk.hpp: every row of kHandoffMachine played against a HandoffManager over the
// simulator, for the row test (tests/impl/handoff_manager_test.cpp) and for the mutation report
// (tests/mutants/), which must see this walk fail when the object is mutated.
//
// For each row the walk builds a fresh manager, brings it into the row's source state, makes the
// row's guard true where it has one (a disabled LUO, a held device, a taken name, an injected
// fault, an empty v261 Stage A), and calls the one public operation that the row's event belongs
// to: stage_a(), stage_b(), kexec() (kexec and reboot_fails), restore() (retrieve_session and
// finish). A row whose outcome is undefined, or whose event only follows a call the table refuses
// first, must be refused (an undefined later step of an allowed call, such as finish in
// `running`, must never be taken): typed error (origin refused, operation, state, EINVAL), nothing
// changed (state, results, the simulated kernel's snapshot) and one refusal record. Any other row
// must be taken: the observer shows (event, from, to) of that row. Rows from `restoring` are
// played by a restore target that calls back into the manager while entries are dispatched;
// rows from `handed_over` by checking that kexec() passes through it into the next boot.
//
//   auto failures = luo::testing::walk_handoff_rows();   // empty: object and table agree
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "memfd_fixtures.hpp"

namespace luo::testing {

class HandoffRecorder final : public Observer {
 public:
  void on_transition(const TransitionRecord& r) override {
    if (r.machine == kHandoffMachine.name)
      records.push_back(r);
  }
  std::vector<TransitionRecord> records;
};

// One manager over its own simulated kernel, with one kept fd in "keep.service".
struct HandoffRig {
  explicit HandoffRig(SystemdProfile profile = kDefaultSystemdProfile,
                      SimulatedKernel::Options options = {})
      : kernel(kDefaultProfile, options),
        mgr(lu, port, {.profile = profile, .observer = &recorder}) {}

  void add_kept_fd() {
    (void)mgr.load_owner("keep.service", {.max = 4, .preserve = PreserveMode::yes});
    (void)mgr.store("keep.service", memfd_with("kept"), "state");
  }

  SimulatedKernel kernel;
  IoctlPort port{kernel};
  LiveUpdate lu{port};
  HandoffRecorder recorder;
  HandoffManager mgr;
};

// The public call an event belongs to, made once.
enum class HandoffCall { stage_a, stage_b, kexec, restore };

inline HandoffCall call_of(HandoffEvent e) {
  switch (e) {
    case HandoffEvent::stage_a:
      return HandoffCall::stage_a;
    case HandoffEvent::stage_b:
      return HandoffCall::stage_b;
    case HandoffEvent::kexec:
    case HandoffEvent::reboot_fails:
      return HandoffCall::kexec;
    case HandoffEvent::retrieve_session:
    case HandoffEvent::finish:
      return HandoffCall::restore;
  }
  return HandoffCall::restore;
}

// The event the manager checks before it does anything for a call.
inline HandoffEvent checked_event(HandoffCall c) {
  switch (c) {
    case HandoffCall::stage_a:
      return HandoffEvent::stage_a;
    case HandoffCall::stage_b:
      return HandoffEvent::stage_b;
    case HandoffCall::kexec:
      return HandoffEvent::kexec;
    case HandoffCall::restore:
      return HandoffEvent::retrieve_session;
  }
  return HandoffEvent::retrieve_session;
}

inline std::optional<Error> make_call(HandoffManager& m, HandoffCall c) {
  switch (c) {
    case HandoffCall::stage_a: {
      auto r = m.stage_a();
      return r ? std::nullopt : std::optional<Error>(r.error());
    }
    case HandoffCall::stage_b: {
      auto r = m.stage_b();
      return r ? std::nullopt : std::optional<Error>(r.error());
    }
    case HandoffCall::kexec: {
      auto r = m.kexec();
      return r ? std::nullopt : std::optional<Error>(r.error());
    }
    case HandoffCall::restore: {
      auto r = m.restore();
      return r ? std::nullopt : std::optional<Error>(r.error());
    }
  }
  return std::nullopt;
}

inline Operation operation_of(HandoffCall c) {
  switch (c) {
    case HandoffCall::stage_a:
      return Operation::stage_a;
    case HandoffCall::stage_b:
      return Operation::stage_b;
    case HandoffCall::kexec:
      return Operation::kexec;
    case HandoffCall::restore:
      return Operation::restore;
  }
  return Operation::restore;
}

// Whether the table lets the call be made at all in `state` (LiveUpdate's refusal rule).
inline bool table_allows(HandoffState state, HandoffCall c) {
  if (kHandoffMachine.is_terminal(state))
    return false;
  const auto d =
      decide(kHandoffMachine, state, checked_event(c), kDefaultProfile, Facts::all_unknown());
  bool can_succeed = false;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto kind = d.candidate(i).outcome.kind;
    if (kind == OutcomeKind::undefined || kind == OutcomeKind::blocks)
      return false;
    can_succeed = can_succeed || kind == OutcomeKind::success;
  }
  return can_succeed;
}

inline std::string row_text(const Row<HandoffState, HandoffEvent>& r) {
  return "(" + std::string(state_name(r.from)) + ", " + std::string(event_name(r.event)) + ", " +
         std::string(guard_name(r.guard)) + ") -> " + std::string(state_name(r.to));
}

// A rig whose manager rests in `state`, with the row's guard made true. false when the walk
// cannot rest there (handed_over, restoring: played separately).
inline bool prepare(std::unique_ptr<HandoffRig>& rig, const Row<HandoffState, HandoffEvent>& row) {
  const Guard g = row.guard;
  SimulatedKernel::Options options;
  options.luo_enabled = g != Guard::luo_unavailable;
  const SystemdProfile profile =
      g == Guard::nothing_to_hand_over ? SystemdProfile::v261 : SystemdProfile::v262;
  rig = std::make_unique<HandoffRig>(profile, options);
  HandoffManager& m = rig->mgr;
  if (g != Guard::nothing_to_hand_over)
    rig->add_kept_fd();
  // The previous boot handed over, so retrieve_session finds "systemd".
  if (row.from == HandoffState::running && row.event == HandoffEvent::retrieve_session &&
      g == Guard::always) {
    (void)m.stage_a();
    (void)m.stage_b();
    (void)m.kexec();
  }
  switch (row.from) {
    case HandoffState::running:
      break;
    case HandoffState::serialized:
      (void)m.stage_a();
      break;
    case HandoffState::preserved:
      (void)m.stage_a();
      (void)m.stage_b();
      break;
    default:
      return false;
  }
  switch (g) {
    case Guard::retrieve_fails:
      rig->kernel.inject(SimFault::reserve_session_fd, EMFILE);
      break;
    case Guard::preserve_fails:
      rig->kernel.inject(SimFault::preserve_handler, ENOSPC);
      break;
    default:
      break;
  }
  if (row.event == HandoffEvent::reboot_fails)
    rig->kernel.inject(SimFault::freeze, EIO);
  return m.state() == row.from;
}

// The guards that need something held elsewhere while the call runs.
struct HeldElsewhere {
  std::optional<LiveUpdate> other;
  std::optional<Device> device;
  std::optional<OutgoingSession> session;
};

inline void hold_elsewhere(HandoffRig& rig, Guard g, HeldElsewhere& h) {
  if (g != Guard::held_elsewhere && g != Guard::name_in_use)
    return;
  h.other.emplace(rig.port);
  auto dev = h.other->open_device();
  if (!dev)
    return;
  h.device.emplace(std::move(dev).value());
  if (g == Guard::name_in_use) {
    auto s = h.device->create_session(handoff::kSessionName);
    if (s)
      h.session.emplace(std::move(s).value());
    h.device->close();  // the device is free again; the name is not
  }
}

inline void expect_refused(std::vector<std::string>& failures, const std::string& what,
                           HandoffRig& rig, HandoffCall call, HandoffState state) {
  const auto before = rig.kernel.snapshot();
  const auto* staged = rig.mgr.stage_a_result();
  const auto* preserved = rig.mgr.stage_b_result();
  const std::size_t records = rig.recorder.records.size();
  const auto err = make_call(rig.mgr, call);
  if (!err) {
    failures.push_back(what + ": accepted, the table refuses it");
    return;
  }
  if (err->origin() != ErrorOrigin::refused || err->raw_errno() != EINVAL ||
      err->operation() != operation_of(call) || err->state() != state_name(state)) {
    failures.push_back(what + ": wrong refusal: " + err->message());
  }
  if (rig.mgr.state() != state || rig.mgr.stage_a_result() != staged ||
      rig.mgr.stage_b_result() != preserved || !(rig.kernel.snapshot() == before)) {
    failures.push_back(what + ": refused, but something changed");
  }
  const auto& rec = rig.recorder.records;
  if (rec.size() != records + 1 || rec.back().syscall_issued || rec.back().from != rec.back().to ||
      rec.back().from != state_name(state) || rec.back().result != EINVAL) {
    failures.push_back(what + ": the refusal is not the one observer record it should be");
  }
}

inline bool trace_has(const HandoffRecorder& r, std::size_t from_index, std::string_view event,
                      HandoffState from, HandoffState to) {
  for (std::size_t i = from_index; i < r.records.size(); ++i) {
    const auto& t = r.records[i];
    if (t.syscall_issued && t.event == event && t.from == state_name(from) &&
        t.to == state_name(to)) {
      return true;
    }
  }
  return false;
}

// A restore target that calls back into the manager while the restore dispatches.
class CallbackTarget final : public RestoreTarget {
 public:
  CallbackTarget(RestoreTarget& inner, std::function<void()> during)
      : inner_(inner), during_(std::move(during)) {}
  DispatchResult dispatch(RestoredItem& item) override {
    if (during_) {
      during_();
      during_ = nullptr;
    }
    return inner_.dispatch(item);
  }

 private:
  RestoreTarget& inner_;
  std::function<void()> during_;
};

inline std::vector<std::string> walk_handoff_rows() {
  std::vector<std::string> failures;
  for (const auto& row : kHandoffMachine.rows) {
    const std::string what = row_text(row);
    const HandoffCall call = call_of(row.event);

    if (row.from == HandoffState::handed_over) {
      // The object never rests here: kexec() moves on into the next boot's `running`.
      auto rig = std::make_unique<HandoffRig>();
      rig->add_kept_fd();
      (void)rig->mgr.stage_a();
      (void)rig->mgr.stage_b();
      const std::size_t mark = rig->recorder.records.size();
      const auto boot = rig->lu.boot();
      const bool ok = rig->mgr.kexec().ok();
      if (!ok ||
          !trace_has(rig->recorder, mark, event_name(HandoffEvent::kexec), HandoffState::preserved,
                     HandoffState::handed_over) ||
          rig->mgr.state() != kHandoffMachine.initial || rig->lu.boot() != boot + 1 ||
          rig->recorder.records.back().event != "create") {
        failures.push_back(what + ": kexec() does not pass through handed_over into a new boot");
      }
      continue;
    }

    if (row.from == HandoffState::restoring) {
      auto rig = std::make_unique<HandoffRig>();
      rig->add_kept_fd();
      (void)rig->mgr.stage_a();
      (void)rig->mgr.stage_b();
      (void)rig->mgr.kexec();
      std::optional<Error> during;
      HandoffState seen = HandoffState::running;
      FdStoreRegistry scratch;
      RegistryTarget inner(scratch);
      CallbackTarget target(inner, [&] {
        seen = rig->mgr.state();
        during = make_call(rig->mgr, call);
      });
      const std::size_t mark = rig->recorder.records.size();
      auto r = rig->mgr.restore(&target);
      if (!r) {
        failures.push_back(what + ": the restore itself was refused: " + r.error().message());
        continue;
      }
      if (row.event == HandoffEvent::finish) {
        if (!trace_has(rig->recorder, mark, event_name(HandoffEvent::finish),
                       HandoffState::restoring, row.to)) {
          failures.push_back(what + ": the restore did not finish through this row");
        }
        continue;
      }
      if (seen != HandoffState::restoring)
        failures.push_back(what + ": the manager is not restoring while it dispatches");
      if (!during || during->origin() != ErrorOrigin::refused ||
          during->state() != state_name(HandoffState::restoring)) {
        failures.push_back(what + ": a call during the restore was not refused");
      }
      continue;
    }

    std::unique_ptr<HandoffRig> rig;
    if (!prepare(rig, row)) {
      failures.push_back(what + ": cannot bring the manager into " +
                         std::string(state_name(row.from)));
      continue;
    }
    HeldElsewhere held;
    hold_elsewhere(*rig, row.guard, held);
    if (!table_allows(row.from, call)) {
      expect_refused(failures, what, *rig, call, row.from);
      continue;
    }
    const std::size_t mark = rig->recorder.records.size();
    (void)make_call(rig->mgr, call);
    if (row.outcome.kind == OutcomeKind::undefined) {
      // The event is a later step of an allowed call (finish after retrieve_session): the call
      // runs, but must never take this row.
      for (std::size_t i = mark; i < rig->recorder.records.size(); ++i) {
        const auto& t = rig->recorder.records[i];
        if (t.event == event_name(row.event) && t.from == state_name(row.from))
          failures.push_back(what + ": taken, the model leaves it undefined");
      }
      continue;
    }
    if (!trace_has(rig->recorder, mark, event_name(row.event), row.from, row.to))
      failures.push_back(what + ": not taken");
  }
  return failures;
}

}  // namespace luo::testing
