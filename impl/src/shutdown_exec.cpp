#include "luo/impl/shutdown_exec.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>

#include "luo/impl/fd_io.hpp"
#include "luo/impl/syscalls.hpp"

namespace luo {
namespace {

Error bad_input(std::string detail) {
  return Error(Operation::stage_a, ErrorOrigin::refused, EINVAL,
               std::string("$") + handoff::kSerializeFdEnv, "", std::move(detail));
}

Error system_error(int err, std::string detail) {
  return Error(Operation::stage_a, ErrorOrigin::kernel, err, handoff::kStageAMemfdName, "",
               std::move(detail));
}

bool set_cloexec(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0)
    return false;
  const int wanted = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  return wanted == flags || ::fcntl(fd, F_SETFD, wanted) == 0;
}

}  // namespace

Result<UniqueFd> write_stage_a_memfd(const StageAResult& staged) {
  UniqueFd fd(sys::memfd_create(handoff::kStageAMemfdName, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd)
    return system_error(errno, "memfd_create failed");
  const std::string json = handoff::to_json(staged.document);
  if (auto written = fd_io::write_all_at(fd.get(), json, 0, sys::pwrite); !written.ok())
    return system_error(written.raw_errno(), "cannot write the Stage A document");
  // Sealed like systemd's copy: the helper reads exactly what the manager wrote.
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return system_error(errno, "cannot seal the Stage A memfd");
  return fd;
}

std::string serialize_fd_assignment(int memfd) {
  return std::string(handoff::kSerializeFdEnv) + "=" + std::to_string(memfd);
}

Status keep_across_exec(const StageAResult& staged, int memfd) {
  if (!set_cloexec(memfd, false))
    return system_error(errno, "cannot clear FD_CLOEXEC on the Stage A memfd");
  for (const UniqueFd& fd : staged.fds) {
    if (!set_cloexec(fd.get(), false))
      return system_error(errno, "cannot clear FD_CLOEXEC on a staged fd");
  }
  return Done{};
}

std::vector<int> InheritedStageA::keep() const {
  std::vector<int> fds{memfd.get()};
  for (const UniqueFd& fd : staged.fds)
    fds.push_back(fd.get());
  return fds;
}

Result<std::optional<InheritedStageA>> inherit_stage_a(const char* serialize_fd_value,
                                                       KernelPort& port, SystemdProfile profile) {
  const handoff::DualTimestamp started = dual_timestamp_now();
  if (serialize_fd_value == nullptr || *serialize_fd_value == '\0')
    return std::optional<InheritedStageA>();
  const std::string_view text(serialize_fd_value);
  int number = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end != text.data() + text.size() || number < 0)
    return bad_input("'" + std::string(text) + "' is not a file descriptor number");
  if (number <= STDERR_FILENO)
    return bad_input("fd " + std::to_string(number) + " is a standard stream, not the memfd");
  struct stat st {};
  if (sys::fstat(number, &st) != 0)
    return bad_input("fd " + std::to_string(number) + " is not open");
  if (!S_ISREG(st.st_mode))
    return bad_input("fd " + std::to_string(number) + " is not a memfd");

  InheritedStageA out;
  out.started = started;
  out.staged.profile = profile;
  out.memfd = UniqueFd(number);
  if (!set_cloexec(number, true))
    return system_error(errno, "cannot set FD_CLOEXEC on the Stage A memfd");
  const auto document = fd_io::read_to_end(number, sys::pread);
  if (!document.ok())
    return system_error(document.raw_errno(), "cannot read the Stage A document");
  auto parsed = handoff::parse_stage_a(document.value(), handoff::AcceptLegacy::yes);
  if (const auto* err = std::get_if<handoff::ParseError>(&parsed)) {
    return bad_input("the Stage A document is unusable" +
                     (err->path.empty() ? std::string() : " at " + err->path) + ": " +
                     err->message);
  }
  auto& doc = std::get<handoff::Parsed<handoff::StageA>>(parsed);
  for (const auto& skipped : doc.skipped)
    out.staged.report.push_back(EntryReport{"", skipped.path, FdEntryState::lost, skipped.reason,
                                            EntryReason::entry_unusable});

  out.staged.document.header = doc.value.header;
  for (auto& unit : doc.value.units) {
    handoff::UnitEntries<handoff::StageAEntry> kept{unit.unit, {}};
    for (auto& entry : unit.fdstore) {
      std::string why;
      if (entry.fd <= STDERR_FILENO)
        why = "fd " + std::to_string(entry.fd) + " is a standard stream";
      else if (entry.fd == number)
        why = "fd " + std::to_string(entry.fd) + " is the Stage A memfd itself";
      else if (!set_cloexec(entry.fd, true))
        why = "fd " + std::to_string(entry.fd) + " is not open in the shutdown helper";
      if (!why.empty()) {
        out.staged.report.push_back(EntryReport{unit.unit, entry.name, FdEntryState::lost,
                                                why + "; will be lost",
                                                EntryReason::helper_fd_unusable});
        continue;
      }
      // The fd is ours now (FD_CLOEXEC set above): either kept, or closed right here.
      UniqueFd owned(entry.fd);
      // The manager's Stage A drops the device already; a manager that is not this library
      // may not, so the helper applies the same row of the entry table before it holds on.
      Facts device;
      device.set(Guard::luo_device, port.is_device(owned.get()));
      const auto& row = select(kFdEntryMachine, FdEntryState::stored, FdEntryEvent::stage,
                               kDefaultProfile, device);
      if (row.to != FdEntryState::staged) {
        out.staged.report.push_back(EntryReport{unit.unit, entry.name, row.to,
                                                std::string(guard_description(row.guard)),
                                                stage_reason(row.guard)});
        continue;  // `owned` closes it: the device is free for Stage B's open
      }
      out.staged.fds.push_back(std::move(owned));
      out.staged.report.push_back(EntryReport{unit.unit, entry.name, FdEntryState::staged, ""});
      kept.fdstore.push_back(std::move(entry));
    }
    if (!kept.fdstore.empty())
      out.staged.document.units.push_back(std::move(kept));
  }
  Facts facts;
  facts.set(Guard::nothing_to_hand_over,
            out.staged.fds.empty() &&
                !systemd_profile_has(profile, SystemdFeature::handover_every_kexec));
  out.staged.state =
      select(kHandoffMachine, HandoffState::running, HandoffEvent::stage_a, kDefaultProfile, facts)
          .to;
  return std::optional<InheritedStageA>(std::move(out));
}

}  // namespace luo
