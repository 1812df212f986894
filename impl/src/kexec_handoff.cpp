#include "luo/impl/kexec_handoff.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <type_traits>

#include "luo/impl/fd_io.hpp"
#include "luo/impl/syscalls.hpp"

// Deliberate bugs for the mutation report, compiled only into the test-only library copy
// luo_impl_mutants (tests/mutants/); the shipped library has no mutation point.
#ifdef LUO_TEST_MUTANTS
#include "luo/test/mutants.hpp"
#endif

namespace luo {
namespace {

constexpr std::string_view kSessionLinkPrefix = "anon_inode:[luo_session] ";
// ANON_INODE_FS_MAGIC from <linux/magic.h>: every LUO session fd lives on it.
constexpr decltype(statfs::f_type) kAnonInodeFsMagic = 0x09041934;

// Moves an entry along the fd-store entry machine, so every report's state is the model's.
FdEntryState step(FdEntryState state, FdEntryEvent event, const Facts& facts = {}) {
  return select(kFdEntryMachine, state, event, kDefaultProfile, facts).to;
}

// Builds a report where it stays: an EntryReport is four strings, and moving a finished one in
// costs as much again. (Not emplace_back(args...): clang 14 has no parenthesised aggregate init.)
template <class Owner, class Name>
EntryReport& add_report(std::vector<EntryReport>& reports, Owner&& owner, Name&& name,
                        FdEntryState state, std::string reason = {},
                        EntryReason cause = EntryReason::none) {
  EntryReport& report = reports.emplace_back();
  report.owner = std::forward<Owner>(owner);
  report.name = std::forward<Name>(name);
  report.state = state;
  report.reason = std::move(reason);
  report.cause = cause;
  return report;
}

}  // namespace

std::string_view entry_reason_name(EntryReason r) {
  switch (r) {
    case EntryReason::none:
      return "none";
    case EntryReason::not_preserved:
      return "not_preserved";
    case EntryReason::reserved_name:
      return "reserved_name";
    case EntryReason::incoming_session:
      return "incoming_session";
    case EntryReason::luo_device:
      return "luo_device";
    case EntryReason::detection_failed:
      return "detection_failed";
    case EntryReason::dup_failed:
      return "dup_failed";
    case EntryReason::helper_fd_unusable:
      return "helper_fd_unusable";
    case EntryReason::preserve_refused:
      return "preserve_refused";
    case EntryReason::handoff_failed:
      return "handoff_failed";
    case EntryReason::retrieve_failed:
      return "retrieve_failed";
    case EntryReason::entry_unusable:
      return "entry_unusable";
    case EntryReason::refused_by_owner:
      return "refused_by_owner";
    case EntryReason::owner_not_loaded:
      return "owner_not_loaded";
  }
  return "?";
}

EntryReason stage_reason(Guard guard) {
  switch (guard) {
    case Guard::mode_not_preserved:
      return EntryReason::not_preserved;
    case Guard::reserved_session_name:
      return EntryReason::reserved_name;
    case Guard::incoming_session:
      return EntryReason::incoming_session;
    case Guard::luo_device:
      return EntryReason::luo_device;
    case Guard::session_detection_fails:
      return EntryReason::detection_failed;
    default:
      return EntryReason::none;
  }
}

namespace {

UniqueFd memfd_create_cloexec(const char* name) {
  return UniqueFd(sys::memfd_create(name, MFD_CLOEXEC));
}

}  // namespace

namespace {

// GET_NAME failures that mean "this file has no such ioctl", after which 262.1 reads the link
// text: ENOTTY and EINVAL were seen to (eventfd, timerfd, inotify; userfaultfd, epoll, and a
// session of a 6.19-7.1 kernel answer EINVAL), the rest is systemd's class of "ioctl not
// supported" errnos. Anything else (EBADF on an O_PATH fd) makes 262.1 skip the entry.
bool get_name_unsupported(int e) {
  switch (e) {
    case ENOTTY:
    case EINVAL:
    case EOPNOTSUPP:
    case ENOSYS:
    case EAFNOSUPPORT:
    case EPFNOSUPPORT:
    case EPROTONOSUPPORT:
    case ESOCKTNOSUPPORT:
    case ENOPROTOOPT:
      return true;
    default:
      return false;
  }
}

SessionDetection unknown_session(int error) {
  return {SessionDetection::Kind::unknown, "", error != 0 ? error : EIO};
}

}  // namespace

SessionDetection detect_luo_session(KernelPort& port, int fd) {
  // GET_NAME first, unlike 262.1 (fstatfs first): the simulators' sessions are not on the
  // anon-inode filesystem. The verdicts are 262.1's either way, since a real kernel answers
  // GET_NAME only on a session, which is always on that filesystem.
  const auto named = port.get_session_name(fd);
  if (named.ok())
    return {SessionDetection::Kind::session, named.value().stored(), 0};
  // ENOTTY: the file has no such ioctl, so it is no session on any kernel (one before 7.2 says
  // EINVAL on a session), the verdict 262.1 reaches through its link check too. A stored memfd
  // ends here, without a syscall more.
  if (named.raw_errno() == ENOTTY)
    return {};
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0)
    return unknown_session(errno);
  if (fs.f_type != kAnonInodeFsMagic)
    return {};
  if (!get_name_unsupported(named.raw_errno()))
    return unknown_session(named.raw_errno());
  // Kernels before 7.2 have no GET_NAME: the link text is what systemd reads then.
  char link[256] = {};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
  if (n < 0)
    return unknown_session(errno);
  const std::string_view text(link, static_cast<std::size_t>(n));
  if (!text.starts_with(kSessionLinkPrefix) || text.size() == kSessionLinkPrefix.size())
    return {};
  return {SessionDetection::Kind::session, std::string(text.substr(kSessionLinkPrefix.size())), 0};
}

std::optional<std::string> luo_session_name(KernelPort& port, int fd) {
  auto d = detect_luo_session(port, fd);
  if (d.kind != SessionDetection::Kind::session)
    return std::nullopt;
  return std::move(d.name);
}

// ---------------------------------------------------------------------------------------------
// Stage A

namespace {

// `owned`: the entry's own fd, to take instead of duplicating (stage_a_taking_fds()); null
// for stage_a(), which leaves the stores as they are.
void stage_entry(StageAResult& out, handoff::UnitEntries<handoff::StageAEntry>& unit,
                 KernelPort& port, PreserveMode mode, FdEntryState from, int fd, UniqueFd* owned,
                 const std::string& name, bool retrieved_session) {
  // The device is never a session; asked first, so a device fd costs no GET_NAME ioctl.
  const bool device = port.is_device(fd);
  const SessionDetection detected = device ? SessionDetection{} : detect_luo_session(port, fd);
  const std::optional<std::string> session = detected.kind == SessionDetection::Kind::session
                                                 ? std::optional(detected.name)
                                                 : std::nullopt;
  const bool reserved = session && *session == handoff::kSessionName;
  // A session this manager retrieved in this boot is incoming: the kernel would drop it at the
  // kexec, and the next boot would fail to retrieve it (§5.6). Said here, with the reason.
  const bool incoming = session && retrieved_session;
  Facts facts;
  facts.set(Guard::mode_not_preserved, !preserved_across_kexec(mode))
      .set(Guard::reserved_session_name, reserved)
      .set(Guard::incoming_session, incoming)
      .set(Guard::luo_device, device)
      .set(Guard::session_detection_fails, detected.kind == SessionDetection::Kind::unknown);
  const auto& row = select(kFdEntryMachine, from, FdEntryEvent::stage, kDefaultProfile, facts);
  const FdEntryState to = row.to;
  EntryReport& report = add_report(out.report, unit.unit, name, to);
  if (to != FdEntryState::staged) {
    report.cause = stage_reason(row.guard);
    report.reason = to == FdEntryState::dropped
                        ? std::string(guard_description(row.guard))
                        : "FileDescriptorStorePreserve=" + std::string(preserve_mode_name(mode));
    if (row.guard == Guard::session_detection_fails)
      report.reason += ": " + std::string(std::strerror(detected.error));
    return;
  }
  // The exec'd shutdown helper keeps 0-2 for its standard streams: a stored fd numbered there
  // (a manager that runs without them) is duplicated even when it could be taken.
  UniqueFd dup = owned != nullptr && fd > 2 ? std::move(*owned) : UniqueFd(sys::dup_cloexec(fd, 3));
  if (!dup) {
    report.state = FdEntryState::lost;
    report.reason = "cannot duplicate the fd";
    report.cause = EntryReason::dup_failed;
    return;
  }
  // Filled in place: a finished entry moved in cost two string moves more per fd.
  handoff::StageAEntry& entry = unit.fdstore.emplace_back();
  entry.type = session ? handoff::EntryType::luo_session : handoff::EntryType::fd;
  entry.name = name;
  entry.fd = dup.get();
  if (session)
    entry.session_name = *session;
  out.fds.push_back(std::move(dup));
}

}  // namespace

handoff::DualTimestamp dual_timestamp_now() {
  const auto usec = [](clockid_t clock) {
    struct timespec ts {};
    ::clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
  };
  return {usec(CLOCK_REALTIME), usec(CLOCK_MONOTONIC)};
}

StageAResult stage_a(const FdStoreRegistry& owners, const HeldFds* held, KernelPort& port,
                     std::uint32_t kexecs_count) {
  StageAOptions options;
  options.kexec_count = kexecs_count;
  return stage_a(owners, held, port, options);
}

namespace {

// stage_a() and stage_a_taking_fds(): Take moves each staged fd out of its store or held entry.
template <bool Take>
StageAResult stage_a_impl(std::conditional_t<Take, FdStoreRegistry&, const FdStoreRegistry&> owners,
                          std::conditional_t<Take, HeldFds*, const HeldFds*> held, KernelPort& port,
                          const StageAOptions& options) {
  StageAResult out;
  out.profile = options.profile;
  out.document.header.format = handoff::Format::c_v1;
  out.document.header.version = handoff::kProtocolVersion;
  out.document.header.set_kexec_count(options.kexec_count, options.profile);
  if (systemd_profile_has(options.profile, SystemdFeature::shutdown_timestamps)) {
    if (options.shutdown_start)
      out.document.header.set_timestamp(handoff::ShutdownTimestamp::start, *options.shutdown_start);
    if (options.shutdown_finish)
      out.document.header.set_timestamp(handoff::ShutdownTimestamp::finish,
                                        *options.shutdown_finish);
  }
  std::size_t stored = 0;
  for (const auto& [id, store] : owners.owners())
    stored += store.size();
  out.fds.reserve(stored);
  out.report.reserve(stored);
  for (const auto& [id, store] : owners.owners()) {
    handoff::UnitEntries<handoff::StageAEntry> unit{id, {}};
    unit.fdstore.reserve(store.size());
    const PreserveMode mode = store.config().preserve;
    if constexpr (Take) {
      // What is not staged closes with `taken`, as the store would have closed it.
      std::deque<FdStoreEntry> taken = owners.find(id)->take_entries();
      for (auto& e : taken) {
        stage_entry(out, unit, port, mode, FdEntryState::stored, e.fd.get(), &e.fd, e.name,
                    e.retrieved_session);
      }
    } else {
      for (const auto& e : store.entries()) {
        stage_entry(out, unit, port, mode, FdEntryState::stored, e.fd.get(), nullptr, e.name,
                    e.retrieved_session);
      }
    }
    if (!unit.fdstore.empty())
      out.document.units.push_back(std::move(unit));
  }
  if (held != nullptr) {
    auto stage_held = [&](const std::string& owner, auto& items) {
      handoff::UnitEntries<handoff::StageAEntry> unit{owner, {}};
      for (auto& h : items) {
        UniqueFd* owned = nullptr;
        if constexpr (Take)
          owned = &h.item.fd;
        stage_entry(out, unit, port, PreserveMode::yes, FdEntryState::held, h.item.fd.get(), owned,
                    h.item.name, h.item.type == handoff::EntryType::luo_session);
      }
      if (!unit.fdstore.empty())
        out.document.units.push_back(std::move(unit));
    };
    if constexpr (Take) {
      auto taken = held->take_entries();
      for (auto& [owner, items] : taken)
        stage_held(owner, items);
    } else {
      for (const auto& [owner, items] : held->entries())
        stage_held(owner, items);
    }
  }
  // v262 hands over on every kexec, so the counter and timestamps survive an empty one.
  Facts none;
  none.set(Guard::nothing_to_hand_over,
           out.fds.empty() &&
               !systemd_profile_has(options.profile, SystemdFeature::handover_every_kexec));
  out.state =
      select(kHandoffMachine, HandoffState::running, HandoffEvent::stage_a, kDefaultProfile, none)
          .to;
  return out;
}

}  // namespace

StageAResult stage_a(const FdStoreRegistry& owners, const HeldFds* held, KernelPort& port,
                     const StageAOptions& options) {
  return stage_a_impl<false>(owners, held, port, options);
}

StageAResult stage_a_taking_fds(FdStoreRegistry& owners, HeldFds* held, KernelPort& port,
                                const StageAOptions& options) {
  return stage_a_impl<true>(owners, held, port, options);
}

// ---------------------------------------------------------------------------------------------
// Stage B

StageBResult stage_b(Device& device, const StageAResult& staged, const StageBOptions& options) {
  StageBResult out;
  out.state = staged.state;
  out.mapping.header = staged.document.header;
  const auto fail = [&](Guard guard, int error, std::string why) {
    Facts f;
    f.set(guard, true);
    out.state = select(kHandoffMachine, out.state, HandoffEvent::stage_b, kDefaultProfile, f).to;
    out.failure = std::move(why);
    out.error = error != 0 ? error : EIO;
    out.session.reset();  // closing "systemd" makes the kernel drop it whole
    for (auto& r : out.report) {
      if (r.state == FdEntryState::preserved)
        r.state = FdEntryState::lost, r.reason = out.failure, r.cause = EntryReason::handoff_failed;
    }
    return std::move(out);
  };
  if (staged.state != HandoffState::serialized)
    return out;

  // As systemd-shutdown does, just before the session: when it began and now.
  handoff::ShutdownTimestamps late;
  late.late_finish = dual_timestamp_now();
  late.late_start = options.late_start.value_or(*late.late_finish);

  auto created = device.create_session(handoff::kSessionName);
  if (!created) {
    const int e = created.error().raw_errno();
    return fail(e == EEXIST  ? Guard::name_in_use
                : e == EBUSY ? Guard::held_elsewhere
                             : Guard::preserve_fails,
                e, created.error().message());
  }
  out.session.emplace(std::move(created).value());

  // The largest mapping this Stage A can produce, every fd preserved with tokens 1..N, is also
  // the usual one: written now, it is the mapping unless a PRESERVE_FD below is refused, and its
  // size is the memfd's, fixed before the memfd is preserved.
  handoff::StageB all_preserved =
      handoff::stage_b_from_stage_a(staged.document, staged.profile, late);
  std::string json = handoff::to_json(all_preserved);
  const std::size_t capacity = json.size() + 1;
  json.resize(capacity, ' ');

  // The mapping first, so no per-session limit can take its place (§5.4).
  auto mapping_fd = memfd_create_cloexec(handoff::kMappingMemfdName);
  if (!mapping_fd || sys::ftruncate(mapping_fd.get(), static_cast<off_t>(capacity)) != 0)
    return fail(Guard::preserve_fails, errno, "cannot create the mapping memfd");
  if (auto written = fd_io::write_all_at(mapping_fd.get(), json, 0, sys::pwrite); !written.ok())
    return fail(Guard::preserve_fails, written.raw_errno(), "cannot create the mapping memfd");
  if (auto r = out.session->preserve(mapping_fd.get(), handoff::kMappingToken); !r) {
    return fail(Guard::preserve_fails, r.error().raw_errno(),
                "the mapping could not be preserved: " + r.error().message());
  }

  // The entries are reported in the order Stage A lists them; the builder walks that order.
  std::size_t unit_index = 0;
  std::size_t entry_index = 0;
  const auto owner_of = [&](const handoff::StageAEntry& e) -> const std::string& {
    while (unit_index < staged.document.units.size()) {
      const auto& unit = staged.document.units[unit_index];
      if (entry_index < unit.fdstore.size() && &unit.fdstore[entry_index] == &e) {
        ++entry_index;
        return unit.unit;
      }
      ++unit_index;
      entry_index = 0;
    }
    return staged.document.units.back().unit;
  };
  std::vector<bool> preserved;  // each fd entry's answer, in order
  std::size_t entries = 0;
  for (const auto& unit : staged.document.units)
    entries += unit.fdstore.size();
  out.report.reserve(entries);
  preserved.reserve(entries);
  const auto preserve = [&](const handoff::StageAEntry& e, std::uint64_t token) {
    EntryReport& report = add_report(out.report, owner_of(e), e.name, FdEntryState::preserved);
    if (e.type == handoff::EntryType::luo_session) {
      // Sessions cannot nest; the caller's Stage A result keeps its fd open until kexec.
      return true;
    }
    auto r = out.session->preserve(e.fd, token);
    Facts f;
    f.set(Guard::preserve_fails, !r.ok());
    report.state = step(FdEntryState::staged, FdEntryEvent::preserve, f);
    if (!r) {
      report.reason = r.error().message() + "; will be lost across kexec";
      report.cause = EntryReason::preserve_refused;
    }
    preserved.push_back(r.ok());
    return r.ok();
  };
  // A refused fd took no token, so the later ones moved down: the mapping is built again with
  // the kernel's answers, and is shorter than the one written. Within the preserved size: the
  // kernel lets such writes reach the pinned pages.
  if (handoff::preserve_in_order(staged.document, preserve) != 0) {
    std::size_t next = 0;
    out.mapping = handoff::stage_b_from_stage_a(
        staged.document, staged.profile, late, [&](const handoff::StageAEntry& e, std::uint64_t) {
          return e.type != handoff::EntryType::fd || preserved[next++];
        });
    json = handoff::to_json(out.mapping);
    json.resize(capacity, ' ');
    if (auto written = fd_io::write_all_at(mapping_fd.get(), json, 0, sys::pwrite); !written.ok())
      return fail(Guard::preserve_fails, written.raw_errno(), "cannot write the mapping");
  } else {
    out.mapping = std::move(all_preserved);
  }
  out.state =
      select(kHandoffMachine, out.state, HandoffEvent::stage_b, kDefaultProfile, Facts{}).to;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Restore

DispatchResult RegistryTarget::dispatch(RestoredItem& item) {
  FdStore* store = owners_.find(item.owner);
  if (store == nullptr)
    return {Disposition::unknown_owner, 0, "owner not loaded", ""};
  const bool session = item.type == handoff::EntryType::luo_session;
  auto r = item.retrieved_at_restore
               ? store->adopt_retrieved(std::move(item.fd), item.name, session)
               : store->add(std::move(item.fd), item.name, Poll::on, /*index=*/0, session);
  if (!r)
    return {Disposition::refused, r.error().raw_errno(), r.error().message(), ""};
  return {r.value() == AddOutcome::duplicate ? Disposition::duplicate : Disposition::attached, 0,
          "", ""};
}

namespace {

// Appends the item's report to `reports`, built in place.
const EntryReport& apply_dispatch(RestoredItem& item, RestoreTarget& target, FdEntryState from,
                                  FdEntryEvent event, HeldFds& held,
                                  std::vector<EntryReport>& reports) {
  DispatchResult d = target.dispatch(item);
  Facts f;
  f.set(Guard::owner_unknown, d.disposition == Disposition::unknown_owner)
      .set(Guard::store_full, d.disposition == Disposition::refused)
      .set(Guard::duplicate_fd, d.disposition == Disposition::duplicate);
  const FdEntryState to = step(from, event, f);
  const EntryReason cause = d.disposition == Disposition::refused ? EntryReason::refused_by_owner
                            : d.disposition == Disposition::unknown_owner
                                ? EntryReason::owner_not_loaded
                                : EntryReason::none;
  if (to == FdEntryState::held) {
    const EntryReport& report =
        add_report(reports, item.owner, item.name, to, std::move(d.reason), cause);
    held.hold(std::move(item), std::move(d.cgroup));
    return report;
  }
  // Nothing keeps the item: its strings move into the report instead of two copies a fd.
  return add_report(reports, std::move(item.owner), std::move(item.name), to, std::move(d.reason),
                    cause);
}

}  // namespace

void HeldFds::hold(RestoredItem item, std::string cgroup) {
  std::string owner = item.owner;
  held_[owner].push_back(Held{std::move(item), std::move(cgroup)});
}

std::map<std::string, std::vector<HeldFds::Held>, std::less<>> HeldFds::take_entries() {
  auto taken = std::move(held_);
  held_.clear();  // a moved-from map is valid but unspecified
  return taken;
}

std::size_t HeldFds::size() const {
  std::size_t n = 0;
  for (const auto& [owner, items] : held_)
    n += items.size();
  return n;
}

std::vector<EntryReport> HeldFds::owner_loaded(std::string_view owner, RestoreTarget& target) {
  std::vector<EntryReport> out;
#ifdef LUO_TEST_MUTANTS
  if (LUO_MUTANT(never_retry_held))
    return out;
#endif
  auto it = held_.find(owner);
  if (it == held_.end())
    return out;
  std::vector<Held> items = std::move(it->second);
  held_.erase(it);
  out.reserve(items.size());
  for (auto& h : items)
    apply_dispatch(h.item, target, FdEntryState::held, FdEntryEvent::owner_loaded, *this, out);
  return out;
}

std::vector<EntryReport> HeldFds::retry_all(RestoreTarget& target) {
  std::vector<EntryReport> out;
  std::vector<std::string> owners;
  for (const auto& [owner, items] : held_)
    owners.push_back(owner);
  for (const auto& owner : owners) {
    auto r = owner_loaded(owner, target);
    out.insert(out.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  }
  return out;
}

// What the cursor keeps between its calls.
struct RestoreCursor::Parts {
  Device* device = nullptr;
  std::optional<IncomingSession> session;  // "systemd", until finished or abandoned
  handoff::StageB doc;
  std::size_t unit = 0;
  std::size_t entry = 0;
};

RestoreCursor::RestoreCursor(Device& device) : parts_(std::make_unique<Parts>()) {
  parts_->device = &device;
  auto retrieved = device.retrieve_session(handoff::kSessionName);
  if (!retrieved) {
    Facts f;
    f.set(retrieved.error().raw_errno() == ENOENT ? Guard::name_unknown : Guard::retrieve_fails,
          true);
    out_.state = select(kHandoffMachine, HandoffState::running, HandoffEvent::retrieve_session,
                        kDefaultProfile, f)
                     .to;
    out_.failure = retrieved.error().message();
    out_.error = retrieved.error().raw_errno();
    return;
  }
  out_.state = HandoffState::restoring;
  parts_->session.emplace(std::move(retrieved).value());
  // From here on "systemd" is finished and closed on every path (finish(), abandon() or the
  // destructor): the kernel discards what was not taken (§3.6.2 step 3).
  auto mapping_fd = parts_->session->retrieve(handoff::kMappingToken);
  if (!mapping_fd) {
    out_.failure = "the mapping (token 0) cannot be retrieved: " + mapping_fd.error().message();
    out_.error = mapping_fd.error().raw_errno();
    return;
  }
  const auto text = fd_io::read_to_end(mapping_fd.value().get(), sys::pread);
  if (!text.ok()) {
    out_.failure = "the mapping (token 0) cannot be read: " + errno_text(text.raw_errno());
    out_.error = text.raw_errno();
    return;
  }
  auto parsed = handoff::parse_stage_b(text.value(), handoff::AcceptLegacy::yes);
  if (const auto* err = std::get_if<handoff::ParseError>(&parsed)) {
    out_.failure = "the mapping is unusable at " + err->path + ": " + err->message;
    out_.error = errno_value(Errno::einval);  // the entry machine's mapping_unusable
    return;
  }
  auto& doc = std::get<handoff::Parsed<handoff::StageB>>(parsed);
  out_.kexecs_count = handoff::restored_kexec_count(doc.value.header);
  out_.previous_shutdown = doc.value.header.timestamps();
  std::size_t entries = doc.skipped.size();
  for (const auto& unit : doc.value.units)
    entries += unit.fdstore.size();
  out_.report.reserve(entries);
  for (const auto& skipped : doc.skipped) {
    add_report(out_.report, std::string(), skipped.path, FdEntryState::lost, skipped.reason,
               EntryReason::entry_unusable);
  }
  parts_->doc = std::move(doc.value);
}

RestoreCursor::RestoreCursor(RestoreCursor&&) noexcept = default;

RestoreCursor::~RestoreCursor() {
  if (parts_ && parts_->session)
    (void)finish();
}

bool RestoreCursor::done() const {
  if (!parts_->session || !out_.failure.empty())
    return true;
  auto& units = parts_->doc.units;
  while (parts_->unit < units.size() && parts_->entry >= units[parts_->unit].fdstore.size()) {
    ++parts_->unit;
    parts_->entry = 0;
  }
  return parts_->unit >= units.size();
}

std::optional<RestoredItem> RestoreCursor::next() {
  if (done())
    return std::nullopt;
  auto& unit = parts_->doc.units[parts_->unit];
  auto& e = unit.fdstore[parts_->entry++];
  // The document is ours: its names move into the item, the unit's with its last entry.
  RestoredItem item{parts_->entry == unit.fdstore.size() ? std::move(unit.unit) : unit.unit,
                    std::move(e.name), e.type, UniqueFd(), std::move(e.session_name)};
  std::string failure;
  if (e.type == handoff::EntryType::fd) {
    auto fd = parts_->session->retrieve(e.token);
    if (fd)
      item.fd = std::move(fd).value();
    else
      failure = fd.error().message();
  } else {
    // Handed over unfinished: finishing a third-party session is its owner's job.
    auto s = parts_->device->retrieve_session(item.session_name);
    if (s)
      item.fd = s.value().release_fd();
    else
      failure = s.error().message();
  }
  Facts f;
  f.set(Guard::retrieve_fails, !failure.empty());
  const FdEntryState state = step(FdEntryState::handed_over, FdEntryEvent::restore, f);
  if (state != FdEntryState::restorable) {
    add_report(out_.report, std::move(item.owner), std::move(item.name), state, std::move(failure),
               EntryReason::retrieve_failed);
    return std::nullopt;
  }
  // The token's (or session's) first retrieval at this boot: the mapping's tokens are unique,
  // and RETRIEVE_SESSION answers a session once.
  item.retrieved_at_restore = true;
  return item;
}

const EntryReport& RestoreCursor::dispatch(RestoredItem& item, RestoreTarget& target,
                                           HeldFds& held) {
  return apply_dispatch(item, target, FdEntryState::restorable, FdEntryEvent::dispatch, held,
                        out_.report);
}

RestoreResult RestoreCursor::finish() {
  if (parts_->session) {
    (void)parts_->session->finish();
    parts_->session->close();
    parts_->session.reset();
    out_.state =
        select(kHandoffMachine, out_.state, HandoffEvent::finish, kDefaultProfile, Facts{}).to;
  }
  return std::move(out_);
}

void RestoreCursor::abandon() {
  if (parts_->session) {
    parts_->session->close();
    parts_->session.reset();
  }
}

RestoreResult restore(Device& device, RestoreTarget& target, HeldFds& held) {
  RestoreCursor cursor(device);
  while (!cursor.done()) {
    if (auto item = cursor.next())
      (void)cursor.dispatch(*item, target, held);
  }
  return cursor.finish();
}

}  // namespace luo
