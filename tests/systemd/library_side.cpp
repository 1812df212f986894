// library_side.cpp: the library's handoff code behind the two calls the comparisons use.
//
// Today the library has one systemd behaviour, v261's: `kexecsCount`, no handover without
// entries, no shutdown timestamps, v261's reader rules. Both profiles therefore map onto it; the
// v262 comparisons fail on exactly what the library does not do yet, and are meant to.
//
// Once the library has systemd profiles, three places change:
//   - library_stage_b(): pass `p` to the Stage A/B calls, and `late` as the ShutdownLate*
//     timestamps of its Stage B (or leave its clock: the harness compares those values by shape);
//     decide `staged.state` the way the profile's stage_a() does (v262: always serialized);
//   - library_restore(): read with `p`'s rules, and fill `counter` and `timestamps` from the
//     restore result's new fields;
//   - library_stage_a_fds(): only if the Stage A reader's entry rules change.
#include "library_side.hpp"

#include <variant>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/live_update.hpp"

namespace luo::sdtest {

const char* profile_name(SystemdProfile p) {
  return p == SystemdProfile::v261 ? "v261" : "v262";
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

LibraryStageB library_stage_b(IoctlBackend& kernel, std::string_view stage_a, SystemdProfile,
                              const std::array<DualTimestamp, 2>&) {
  LibraryStageB out;
  auto parsed = handoff::parse_stage_a(stage_a);
  if (auto* err = std::get_if<handoff::ParseError>(&parsed)) {
    out.failure = "Stage A refused at " + err->path + ": " + err->message;
    return out;
  }
  StageAResult staged;
  staged.document = std::move(std::get<handoff::Parsed<handoff::StageA>>(parsed).value);
  // What stage_a() decides for the same entries: a handover only when something was staged.
  bool any = false;
  for (const auto& u : staged.document.units)
    any = any || !u.fdstore.empty();
  staged.state = any ? HandoffState::serialized : HandoffState::nothing;

  auto rig = std::make_shared<StageBRig>(kernel);
  auto dev = rig->lu.open_device();
  if (!dev.ok()) {
    out.failure = dev.error().message();
    return out;
  }
  rig->device.emplace(std::move(dev).value());
  rig->result = stage_b(*rig->device, staged);
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

LibraryRestore library_restore(IoctlBackend& kernel, SystemdProfile) {
  LibraryRestore out;
  IoctlPort port(kernel);
  LiveUpdate lu(port);
  auto dev = lu.open_device();
  if (!dev.ok()) {
    out.failure = dev.error().message();
    return out;
  }
  Recorder target(out.dispatched);
  HeldFds held;
  const RestoreResult r = restore(dev.value(), target, held);
  out.accepted = r.failure.empty();
  out.counter = r.kexecs_count;
  out.failure = r.failure;
  return out;
}

}  // namespace luo::sdtest
