// library_side.cpp: the library's handoff code behind the two calls the comparisons use.
//
// The restore is HandoffManager's, as an embedder runs it. Stage B starts from a Stage A text
// that real systemd wrote, which no manager of ours produced, so it is the stage_b() building
// block the manager calls, on that document.
//
// Stage B follows the profile it is given (v262: a handover even without entries, the late
// shutdown timestamps in `state`); the restore has one reader for both profiles (262.1's rules,
// with v261's `kexecsCount` as a fallback), so `p` does not change it.
#include "library_side.hpp"

#include <variant>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/live_update.hpp"

namespace luo::sdtest {

const char* profile_name(SystemdProfile p) {
  return systemd_profile_name(p).data();  // a string literal's view: NUL-terminated
}

namespace {

struct StageBRig {
  explicit StageBRig(IoctlBackend& kernel) : port(kernel), lu(port) {}
  IoctlPort port;
  LiveUpdate lu;
  std::optional<Device> device;
  StageBResult result;
};

}  // namespace

LibraryStageB library_stage_b(IoctlBackend& kernel, std::string_view stage_a, SystemdProfile p,
                              const std::array<DualTimestamp, 2>& late) {
  LibraryStageB out;
  auto parsed = handoff::parse_stage_a(stage_a);
  if (auto* err = std::get_if<handoff::ParseError>(&parsed)) {
    out.failure = "Stage A refused at " + err->path + ": " + err->message;
    return out;
  }
  StageAResult staged;
  staged.document = std::move(std::get<handoff::Parsed<handoff::StageA>>(parsed).value);
  staged.profile = p;
  // What stage_a() decides for the same entries: v262 hands over on every kexec, v261 only when
  // something was staged.
  bool any = false;
  for (const auto& u : staged.document.units)
    any = any || !u.fdstore.empty();
  const bool hand_over = any || systemd_profile_has(p, SystemdFeature::handover_every_kexec);
  staged.state = hand_over ? HandoffState::serialized : HandoffState::nothing;

  auto rig = std::make_shared<StageBRig>(kernel);
  auto dev = rig->lu.open_device();
  if (!dev.ok()) {
    out.failure = dev.error().message();
    return out;
  }
  rig->device.emplace(std::move(dev).value());
  // ShutdownLateFinishTimestamp is always stage_b()'s own clock; the harness compares the late
  // values by shape only.
  StageBOptions options;
  options.late_start = handoff::DualTimestamp{late[0].realtime, late[0].monotonic};
  rig->result = stage_b(*rig->device, staged, options);
  out.handed_over = rig->result.session.has_value();
  out.failure = rig->result.failure;
  out.keep_alive = rig;
  return out;
}

std::optional<std::vector<int>> library_stage_a_fds(std::string_view stage_a) {
  auto parsed = handoff::parse_stage_a(stage_a);
  if (std::holds_alternative<handoff::ParseError>(parsed))
    return std::nullopt;
  std::vector<int> fds;
  for (const auto& u : std::get<handoff::Parsed<handoff::StageA>>(parsed).value.units)
    for (const auto& e : u.fdstore)
      if (e.fd >= 0)
        fds.push_back(e.fd);
  return fds;
}

namespace {

class Recorder final : public RestoreTarget {
 public:
  explicit Recorder(std::vector<RestoredEntry>& out) : out_(out) {}
  DispatchResult dispatch(RestoredItem& item) override {
    out_.push_back({item.owner, item.name, std::move(item.fd)});
    return {Disposition::attached, 0, "", ""};
  }

 private:
  std::vector<RestoredEntry>& out_;
};

}  // namespace

LibraryRestore library_restore(IoctlBackend& kernel, SystemdProfile /*one reader for both*/) {
  LibraryRestore out;
  IoctlPort port(kernel);
  LiveUpdate lu(port);
  auto dev = lu.open_device();
  if (!dev.ok()) {
    out.failure = dev.error().message();
    return out;
  }
  // The restore an embedder runs: the manager's, into a target that records every entry.
  HandoffManager mgr(lu, port);
  Recorder target(out.dispatched);
  auto restored = mgr.restore(dev.value(), &target);
  if (!restored) {
    out.failure = restored.error().message();
    return out;
  }
  const RestoreResult& r = *restored.value();
  out.accepted = r.failure.empty();
  out.counter = r.kexecs_count;
  out.failure = r.failure;
  if (out.accepted) {
    // systemd keeps an unset timestamp as zeros.
    std::array<DualTimestamp, 4> ts{};
    for (std::size_t i = 0; i < ts.size(); ++i) {
      const auto t = r.previous_shutdown[handoff::kAllShutdownTimestamps[i]];
      if (t)
        ts[i] = {t->realtime, t->monotonic};
    }
    out.timestamps = ts;
  }
  return out;
}

}  // namespace luo::sdtest
