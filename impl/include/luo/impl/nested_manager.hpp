// luo/impl/nested_manager.hpp: fd stores across nested managers (spec systemd-luo.md §2): a user
// manager or a container manager that itself runs as a unit with an fd store mirrors its own
// units' entries into that store, and gets them back, by name, when it starts again.
//
// Lifecycle of one inner manager (§2.7):
//   startup     DownwardRouter::claim() takes its LISTEN_FDS: the first "systemd-fdstore-mapping"
//               fd says which "sub-fdstore-<N>" fd belongs to which unit and name; after the
//               manager's deserialization and LUO restore, DownwardRouter::dispatch() hands each
//               claimed fd to its unit (index kept, counter raised), and UpstreamMirror::refresh()
//               re-pushes the mapping.
//   running     UpstreamMirror::store() is the FDSTORE=1 path: an eligible entry is pushed upward
//               as "sub-fdstore-<N>" (FDSTOREREMOVE then FDSTORE) with N = ++C, then the mapping.
//               UpstreamMirror::remove() / hang_up() (FDSTOREREMOVE=1, POLLHUP) remove the upstream
//               copy too; the whole-store paths (release, clean, truncation, unload) deliberately
//               do not (§1.5).
//   re-exec     serialize() writes C and every entry with its index; deserialize() re-adds them
//               without any upstream traffic; refresh() at the end of startup.
//
// The mapping, a sealed memfd named "systemd-fdstore-mapping", holds compact JSON keyed by unit
// id, entries newest first, only entries with index > 0 (§2.2):
//
//   {"foo.service":[{"name":"state","index":1},{"name":"conn","index":3}],
//    "bar.service":[{"name":"stored","index":2}]}
//
// Nothing here calls sd_notify: upstream messages go through an UpstreamSink (the adapter is
// luo::notify::NotifyUpstream in adapters/notify_upstream.hpp; tests use a recording fake).
//
//   luo::FdStoreRegistry owners;
//   luo::UpstreamMirror mirror(owners, &sink, {.has_upstream = true, .fdstore_max = 20});
//   owners.load("foo.service", {.max = 8, .preserve = luo::PreserveMode::yes});
//   (void)mirror.store("foo.service", std::move(memfd), "state", luo::Poll::on);
//   // upstream: FDSTOREREMOVE sub-fdstore-1, FDSTORE sub-fdstore-1, then the same for the mapping
//   mirror.remove("foo.service", "state");  // upstream: FDSTOREREMOVE sub-fdstore-1, mapping gone
//
//   // next start of the inner manager:
//   luo::DownwardRouter router;
//   auto generic = router.claim(std::move(listen_fds), luo::NamesPassed::yes);
//   luo::ManagerTarget target(mirror);
//   (void)luo::restore(device, target, held);   // LUO first (index 0, §3.7)
//   auto routed = router.dispatch(target);       // then LISTEN_FDS, index kept
//   mirror.refresh();
//
// nspawn (§2.5) keeps no store and only relays: PayloadRelay translates its payload's requests
// into upstream requests named "payload-<name>".
//
// §5 gaps: 8 (LUO-restored entries get index 0, so a system manager with an upstream does not
// mirror them) and 9 (whole-store releases do not propagate upward) are reproduced on purpose,
// for compatibility with systemd managers above and below this one; 10 (no names downward into
// an nspawn payload) is reproduced by PayloadRelay::payload_environment(); 11 (upstream limits
// are not negotiated: an index is recorded even when the upstream manager drops the fd, since
// nothing is ever reported back, §1.3 rule 8) is inherent to the protocol.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "luo/impl/fd_store.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/kexec_handoff.hpp"
#include "luo/impl/sys_result.hpp"
#include "luo/impl/unique_fd.hpp"
#include "luo/model/fd_store_limits.hpp"

namespace luo {

// Protocol names of §2.2 and §2.5, defined here once.
inline constexpr std::string_view kSubFdStorePrefix = "sub-fdstore-";
inline constexpr std::string_view kFdStoreMappingName = "systemd-fdstore-mapping";
inline constexpr std::string_view kPayloadPrefix = "payload-";
// Serialization keys of §1.8.
inline constexpr std::string_view kSerializeNextIndexKey = "fd-store-upstream-next-index";
inline constexpr std::string_view kSerializeFdKey = "fd-store-fd";

// "sub-fdstore-<idx>".
std::string sub_fdstore_name(std::uint64_t index);
// The index of a "sub-fdstore-<decimal>" name: decimal digits only, no sign, no leading zero,
// > 0, fits u64. nullopt for anything else (such an fd stays generic).
std::optional<std::uint64_t> parse_sub_fdstore_name(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Upward: the transport

// The enveloping manager's notify socket, one message per call. Nothing comes back from the
// other side (§1.3 rule 8): success means "sent", never "stored".
class UpstreamSink {
 public:
  virtual ~UpstreamSink() = default;
  // FDSTORE=1, FDNAME=name, FDPOLL=0 for Poll::off, with all fds in one message.
  virtual SysStatus store(std::span<const int> fds, std::string_view name, Poll poll) = 0;
  // FDSTOREREMOVE=1, FDNAME=name.
  virtual SysStatus remove(std::string_view name) = 0;
};

// How an entry reached the local store. Only a notify message is ever mirrored (§2.1): the
// other three bring fds that already have an upstream copy, or none wanted (loop prevention).
enum class AddOrigin : std::uint8_t { notify, deserialization, listen_fds, luo };

// What the process was given at start, injected (impl reads no environment): NOTIFY_SOCKET set,
// and $FDSTORE parsed. Mirroring is on when both hold and fdstore_max > 0 (§2.1).
struct UpstreamConfig {
  bool has_upstream = false;
  unsigned fdstore_max = 0;
};

// The §2.1 per-add test, minus "manager has an upstream".
constexpr bool mirror_eligible(AddOrigin origin, PreserveMode preserve) {
  bool from_notify = false;
  switch (origin) {
    case AddOrigin::notify:
      from_notify = true;
      break;
    case AddOrigin::deserialization:
    case AddOrigin::listen_fds:
    case AddOrigin::luo:
      from_notify = false;
      break;
  }
  return from_notify && (preserve == PreserveMode::yes || preserve == PreserveMode::on_success);
}

// Paths that empty a store without telling anyone upstream (§1.5, §5.9).
enum class LocalOnlyRemoval : std::uint8_t {
  release,   // the §1.7 decision table closed the store
  clean,     // systemctl clean --what=fdstore
  truncate,  // FileDescriptorStoreMax= lowered at load
  unload,    // unit freed / manager exit
};

// The inner manager's side of §2.2: counter C, the eligibility rule, remove-then-store pushes,
// the mapping. Holds references: `owners` and `sink` must outlive it.
class UpstreamMirror {
 public:
  // sink may be null when there is no upstream (then nothing is ever sent).
  UpstreamMirror(FdStoreRegistry& owners, UpstreamSink* sink, UpstreamConfig config);

  FdStoreRegistry& owners() { return owners_; }
  const FdStoreRegistry& owners() const { return owners_; }
  bool enabled() const {
    return sink_ != nullptr && config_.has_upstream && config_.fdstore_max > 0;
  }
  // C: the last index handed out; 0 = this manager never mirrored anything (nor was handed an
  // index). The next one is C + 1.
  std::uint64_t counter() const { return counter_; }
  // C = max(C, index) (§2.4: keeps later adds from reusing a routed entry's number).
  void raise_counter(std::uint64_t index);
  // Only for deserialization: the value written by serialize().
  void restore_counter(std::uint64_t counter) { counter_ = counter; }

  // FDSTORE=1 from a unit (AddOrigin::notify), §1.4 in systemd's order: name, limit, duplicate
  // checks first; then, if eligible and enabled, C += 1 and sub-fdstore-C is pushed (remove then
  // store, polled upstream: FDPOLL is not forwarded by a systemd manager); then the entry is
  // added locally with index C if the push went out, 0 if it failed (debug-level: the entry is
  // simply not mirrored; C stays consumed, as in systemd); then the mapping is pushed. The fd
  // is consumed either way. Errors as FdStore::add, plus ENOENT for an owner that is not loaded.
  Result<AddOutcome> store(std::string_view owner, UniqueFd fd, std::string_view name, Poll poll);

  // An fd that did not come from a notify message (deserialization, LISTEN_FDS, LUO): added
  // with `poll` and `index` as given, never pushed (loop prevention); C raised to index (§2.4
  // step 3). An owner that is not loaded is loaded as systemd's UNIT_NOT_FOUND unit: preserve
  // forced to yes, limit bumped by one, the bump rolled back if the fd was not stored (§1.8,
  // §2.4). `origin` notify is refused with EINVAL: that path is store(); so is an owner id that
  // is not a valid unit name (FdStoreRegistry::try_load, EINVAL), with the fd closed.
  Result<AddOutcome> attach(std::string_view owner, UniqueFd fd, std::string_view name, Poll poll,
                            std::uint64_t index, AddOrigin origin);

  // FDSTOREREMOVE=1 FDNAME=name: every local entry of that name goes; each one that had an
  // index is removed upstream (sub-fdstore-<idx>), then the mapping is refreshed once. Returns
  // how many local entries were removed.
  std::size_t remove(std::string_view owner, std::string_view name);
  // POLLHUP/POLLERR on a polled entry: as remove(), for that one entry. false if none matched.
  bool hang_up(std::string_view owner, int fd);

  // The whole-store paths: entries dropped locally, NOTHING sent upstream, on purpose (§1.5:
  // the upstream copy must survive; this is also §5.9, reproduced: a permanently failed
  // on-success unit or a `clean` inside the inner manager gets its fds back from upstream at
  // the next inner-manager start). Returns how many entries were dropped.
  std::size_t drop_locally(std::string_view owner, LocalOnlyRemoval why);
  // The owner stopped: FdStore::owner_stopped() (the §1.7 table), never propagated.
  bool owner_stopped(std::string_view owner, ReleaseTrigger trigger, bool failed);

  // End of startup (and after deserialization): push the mapping, or remove it upstream when no
  // entry has an index and C > 0, or do nothing (C = 0: a fresh manager must not delete a
  // mapping just handed down to it, §2.2).
  SysStatus refresh();

  // The mapping JSON for the current stores (compact, units in id order, entries newest first).
  std::string mapping_json() const;
  // The manager loaded the owner's unit file: an owner attach() created as UNIT_NOT_FOUND stops
  // getting its limit bumped per fd (its own configuration applies from now on).
  void fragment_loaded(std::string_view owner);

  // Upstream sends that failed since construction (each also left an entry unmirrored, or a
  // stale upstream copy / mapping behind).
  std::size_t failed_sends() const { return failed_sends_; }

 private:
  SysStatus push(int fd, std::string_view name);
  void note(const SysStatus& s);

  FdStoreRegistry& owners_;
  UpstreamSink* sink_;
  UpstreamConfig config_;
  std::uint64_t counter_ = 0;
  std::size_t failed_sends_ = 0;
  // Owners attach() loaded as UNIT_NOT_FOUND placeholders.
  std::set<std::string, std::less<>> placeholders_;
};

// ---------------------------------------------------------------------------------------------
// Serialization across daemon-reexec (§1.8)

// Text plus the fds its `fd-store-fd=` lines name. The numbers are those of `fds` in this
// process; for a real re-exec the caller clears FD_CLOEXEC on them before execve(), as systemd.
//
//   fd-store-upstream-next-index=3
//
//   foo.service
//   fd-store-fd=7 "state" 1 1
//   fd-store-fd=8 "conn" 0 3
//
// One manager section, then one section per owner with entries (its id on the first line),
// each ended by an empty line. Names are C-escaped inside double quotes.
struct Serialized {
  std::string text;
  std::vector<UniqueFd> fds;
};

// Entries oldest first, so that deserialize()'s prepending rebuilds the same order.
Result<Serialized> serialize(const UpstreamMirror& mirror);

struct DeserializeReport {
  std::size_t restored = 0;
  std::vector<handoff::Skipped> skipped;  // path: "line <n>"
};

// Into the mirror's registry. Re-adds every entry through UpstreamMirror::attach(...,
// AddOrigin::deserialization): poll and index as written (2-4 fields: poll defaults to 1, index to
// 0), no upstream traffic. An owner that is not loaded is loaded like systemd's UNIT_NOT_FOUND
// unit: preserve forced to yes and the limit bumped by one per fd actually stored. C is restored
// from its line, then raised to the largest index read (so a missing or damaged counter line cannot
// cause index reuse). fds named by the text are taken out of `fds` (by number); fds nobody names
// stay there for the caller.
DeserializeReport deserialize(std::string_view text, std::vector<UniqueFd>& fds,
                              UpstreamMirror& mirror);

// systemd's cescape() / cunescape() as far as the serialization needs them: \\ \" \' \a \b \f
// \n \r \t \v, \xNN for other bytes outside 0x20-0x7E; the reader also takes \NNN (octal).
std::string c_escape(std::string_view s);
std::optional<std::string> c_unescape(std::string_view s);

// ---------------------------------------------------------------------------------------------
// Downward: routing LISTEN_FDS by the mapping (§2.3, §2.4)

// One passed fd, owned, with its LISTEN_FDNAMES name.
struct ListenFd {
  UniqueFd fd;
  std::string name;
};

enum class NamesPassed : std::uint8_t { no, yes };

// One line of the mapping: where sub-fdstore-<index> goes.
struct MappingEntry {
  std::string unit;
  std::string name;
  std::uint64_t index = 0;
  bool operator==(const MappingEntry&) const = default;
};

// The §2.2 mapping reader: index -> entry. Entries with an invalid unit name, an invalid fd
// name, index 0, a missing field or an index already seen are skipped with their path
// (["foo.service"][2]); a unit whose value is not an array is skipped whole. Malformed JSON or
// a top level that is not an object is a ParseError (then nothing is routed).
std::variant<handoff::Parsed<std::map<std::uint64_t, MappingEntry>>, handoff::ParseError>
parse_fdstore_mapping(std::string_view json);
// The writer: units in the order given, entries as given (index 0 entries omitted, units left
// empty omitted), compact.
std::string fdstore_mapping_json(const std::vector<handoff::UnitEntries<MappingEntry>>& units);

// A RestoreTarget that can also keep an entry's upstream index. LUO restore calls the plain
// dispatch() (index 0, §3.6.2 step 8, which is §5.8); LISTEN_FDS routing calls
// dispatch_indexed(). One object serves both, as §2.4 shares one dispatch path.
class IndexedRestoreTarget : public RestoreTarget {
 public:
  DispatchResult dispatch(RestoredItem& item) final { return dispatch_indexed(item, 0); }
  virtual DispatchResult dispatch_indexed(RestoredItem& item, std::uint64_t index) = 0;
};

// The manager's dispatcher (§2.4) over its stores and mirror: loaded owners take the fd
// (polled, index kept, no upstream push); a non-service owner is refused with EINVAL; an owner
// that is not loaded is loaded as UNIT_NOT_FOUND (preserve yes, limit bumped by one per stored
// fd), since systemd loads eagerly. C is raised to every dispatched index > 0, whatever the
// store then does with the fd: upstream still holds sub-fdstore-<index>, and that number must
// never be handed out again by this manager.
class ManagerTarget final : public IndexedRestoreTarget {
 public:
  // Into the mirror's registry.
  explicit ManagerTarget(UpstreamMirror& mirror) : mirror_(mirror) {}
  DispatchResult dispatch_indexed(RestoredItem& item, std::uint64_t index) override;

 private:
  UpstreamMirror& mirror_;
};

struct RoutedReport {
  std::string owner;
  std::string name;
  std::uint64_t index = 0;
  DispatchResult result;
};

struct ClaimReport {
  // false when LISTEN_FDNAMES was absent, or no mapping fd was passed, or it was unreadable.
  bool named_routing = false;
  std::vector<handoff::Skipped> skipped;             // mapping entries dropped
  std::optional<handoff::ParseError> mapping_error;  // the mapping was refused whole
  int mapping_errno = 0;  // the errno of the read that lost the mapping, else 0
};

// §2.3 passes 1 and 2, then (later in startup) the §2.4 dispatch of what was claimed.
class DownwardRouter {
 public:
  // Pass 1: the first fd named systemd-fdstore-mapping is read, closed and taken out of the set
  // (even if unparsable). Pass 2: every sub-fdstore-<decimal> fd whose index the mapping lists
  // is claimed. Everything else is returned, in the order given, for the generic fd set
  // (socket units). With NamesPassed::no nothing is claimed and every fd is returned.
  std::vector<ListenFd> claim(std::vector<ListenFd> fds, NamesPassed names);
  const ClaimReport& claim_report() const { return report_; }
  std::size_t claimed() const { return claimed_.size(); }

  // Hands each claimed fd to its unit with context "LISTEN_FDS" and its original index, in
  // LISTEN_FDS order. The claimed set is empty afterwards (refused fds are closed).
  std::vector<RoutedReport> dispatch(IndexedRestoreTarget& target);

 private:
  struct Claimed {
    MappingEntry where;
    UniqueFd fd;
  };
  std::vector<Claimed> claimed_;
  ClaimReport report_;
};

// ---------------------------------------------------------------------------------------------
// nspawn as a hop (§2.5)

enum class RelayWarning : std::uint8_t {
  not_payload_pid1,           // message from another pid: ignored
  remove_without_valid_name,  // FDSTOREREMOVE=1 with a missing or invalid FDNAME=: not forwarded
  invalid_name_stored,        // FDSTORE=1 with an invalid FDNAME=: forwarded as payload-stored
  name_too_long_stored,       // valid name, but payload-<name> > 255: forwarded as payload-stored
  name_too_long_not_removed,  // remove of such a name: not forwarded (it never existed upstream)
  no_fds,                     // FDSTORE=1 without fds: nothing to forward
  not_forwarding,             // the relay has no upstream: fds closed
};

std::string_view relay_warning_message(RelayWarning w);

// One received datagram from the payload side, as the adapter decoded it.
struct PayloadMessage {
  pid_t sender = 0;
  std::vector<std::pair<std::string, std::string>> tags;  // in order, KEY=VALUE split at '='
  std::vector<UniqueFd> fds;
};

// What to send upstream for one payload message.
struct RelayAction {
  enum class Kind : std::uint8_t { store, remove, ignore };
  Kind kind = Kind::ignore;
  std::string name;           // the upstream FDNAME
  Poll poll = Poll::on;       // off iff the payload sent FDPOLL=0 (forwarded, unlike a manager)
  std::vector<UniqueFd> fds;  // store: all of the message's fds, sent in one message
  std::vector<RelayWarning> warnings;
};

// nspawn's relay: no store, only translation. Names become "payload-<x or stored>".
//
// Decision for a valid payload name of 248-255 bytes, where "payload-<name>" would exceed
// FDNAME_MAX: systemd sends it anyway and the upstream manager stores the fd as plain "stored"
// (spec INFERRED), outside the payload- namespace. This relay sends "payload-stored" instead,
// with name_too_long_stored, so the fd stays recognisably the payload's; an FDSTOREREMOVE of
// such a name is not forwarded (name_too_long_not_removed): nothing upstream carries it.
class PayloadRelay {
 public:
  // payload_pid: the payload's PID 1 as seen by nspawn. config: nspawn's own NOTIFY_SOCKET and
  // $FDSTORE (forwarding needs both, §2.5).
  PayloadRelay(pid_t payload_pid, UpstreamConfig config)
      : payload_pid_(payload_pid), config_(config) {}

  bool forwarding() const { return config_.has_upstream && config_.fdstore_max > 0; }
  // Whether nspawn's socket for the payload should take fds at all (SO_PASSRIGHTS).
  bool accepts_fds() const { return forwarding(); }

  // Pure: no fd is sent; the message's fds move into the action (or are closed if ignored).
  RelayAction translate(PayloadMessage message) const;
  // translate() and send the result through sink.
  std::pair<RelayAction, SysStatus> forward(PayloadMessage message, UpstreamSink& sink) const;

  // Downward (§2.5): the environment nspawn gives the payload for n_fds passed fds 3...:
  // "LISTEN_FDS=<n>", "LISTEN_PID=1" and nothing else. No LISTEN_FDNAMES, no prefix stripping,
  // no $FDSTORE: systemd's behaviour (issue #43764, §5.10), reproduced so a payload written for
  // systemd-nspawn behaves the same here; it must recognise its fds by content. Empty for 0.
  static std::vector<std::string> payload_environment(std::size_t n_fds);

 private:
  pid_t payload_pid_;
  UpstreamConfig config_;
};

}  // namespace luo
