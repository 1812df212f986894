// luo/proofs/world.hpp: the whole fd-store handoff as one finite transition system, for the
// bounded model checker (checker.hpp) and its SPIN twin (promela.hpp).
//
// The world is a manager (an init system or a luod-like broker) with N owners, each with M memfds
// it may store and, optionally, third-party LUO sessions of its own (a VMM's); the kernel with its
// "systemd" session and the owners' sessions; and K kexec cycles. Everything moves only along
// model/'s machines: fd-store entries along kFdEntryMachine, the manager's pipeline along
// kHandoffMachine (one instance for the outgoing side, one for the restore), LUO sessions and
// files along the outgoing/incoming session and file machines. What the world adds is the glue
// a single machine cannot know: who holds which fd, which token the mapping records and which
// token the kernel holds, and the order of the pipeline.
//
// Each boot: services store memfds and session fds (FDSTORE=1), remove them, crash and restart;
// owners appear (late ones in later boots, possibly with FileDescriptorStoreMax=0); the manager
// restores what the previous boot handed over (retrieve "systemd", one mapping entry per step in
// token order per owner, FINISH), retries held entries on owner load and daemon-reload, and at
// the end runs Stage A, Stage B and reboot(KEXEC). Faults: an errno injected at PRESERVE_FD,
// RETRIEVE_FD, CREATE_SESSION("systemd") or a file's freeze, and crashes of a service or of the
// manager at any step between its actions (a crash drops every fd the process holds).
//
//   luo::proofs::Bounds b;                   // 2 owners x 2 fds, 1 VMM session, 2 kexecs, ...
//   luo::proofs::World w(b);
//   std::vector<luo::proofs::World::Step> next;
//   w.successors(w.initial(), next);         // each: action, next state, properties it broke
//
// Abstractions, each documented in docs/properties.md: a datagram's delivery, the service's own
// copies of its fds and fd names are not modelled (an entry is identified by its owner and
// index); Stage B is one step (a crash inside it leaves what a crash just before it leaves: the
// kernel drops a closed session whole); a crash is always followed by a restart of that process.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/model/fd_store_machine.hpp"
#include "luo/model/file_machine.hpp"
#include "luo/model/incoming_session_machine.hpp"
#include "luo/model/outgoing_session_machine.hpp"
#include "luo/model/profile.hpp"
#include "luo/model/systemd_profile.hpp"

namespace luo::proofs {

inline constexpr int kMaxOwners = 4;
inline constexpr int kMaxFdsPerOwner = 3;
inline constexpr int kMaxSessions = 4;
inline constexpr int kMaxKexecs = 3;
inline constexpr int kMaxFaults = 3;
// The kexec counter counts kexecs, so it never exceeds their bound.
inline constexpr int kMaxKexecCount = kMaxKexecs;
inline constexpr int kMaxFds = kMaxOwners * kMaxFdsPerOwner;

// Deliberately broken managers: the mutation check asserts the checker catches each one.
enum class Mutant : std::uint8_t {
  none,
  finish_before_dispatch,  // FINISH "systemd" while entries are still in it
  restore_lifo,            // each owner's entries restored newest token first
  no_namespace_guard,      // Stage A hands a service's session named "systemd" on
  mapping_last,            // the mapping preserved after the entries (systemd's §5.4 gap)
  token_reuse,             // Stage B forgets to advance the token after a success
  never_retry_held,        // held entries are not offered again when their owner appears
  wrong_owner,             // restore hands an entry to the next owner
  forget_held_at_stage_a,  // Stage A does not list entries still held for an absent owner
  close_sessions_early,    // the shutdown side closes third-party sessions before the kexec
  counter_stuck,           // the kexec counter stops at 3 (a two-bit field): kexec 4 is not counted
  two_unit_slots,          // the restore's unit table has two slots: owner o's entries go to o % 2
  mapping_off_by_one,      // Stage B records each entry one token above the one the kernel holds
  mapping_skipped,         // Stage B does not preserve the mapping at token 0
};
inline constexpr Mutant kAllMutants[] = {Mutant::finish_before_dispatch,
                                         Mutant::restore_lifo,
                                         Mutant::no_namespace_guard,
                                         Mutant::mapping_last,
                                         Mutant::token_reuse,
                                         Mutant::never_retry_held,
                                         Mutant::wrong_owner,
                                         Mutant::forget_held_at_stage_a,
                                         Mutant::close_sessions_early,
                                         Mutant::mapping_off_by_one,
                                         Mutant::mapping_skipped};
// Mutants the default bounds cannot expose: counter_stuck acts only after a fourth kexec (no
// bounded world gets there; `check --any-kexecs` catches it), two_unit_slots only with a third
// owner (`check --any-owners` catches it). Kept apart so that "every mutant is caught within the
// bounds" stays a statement about kAllMutants.
inline constexpr Mutant kBeyondBoundsMutants[] = {Mutant::counter_stuck, Mutant::two_unit_slots};
std::string_view mutant_name(Mutant m);
std::optional<Mutant> parse_mutant(std::string_view name);

struct Bounds {
  int owners = 2;
  int fds = 2;       // memfds per owner
  int sessions = 1;  // third-party sessions; session j belongs to owner j % owners
  int kexecs = 2;
  int faults = 1;  // injected errnos and crashes together (per boot with any_kexecs)
  // No bound on kexecs: the boot number, the faults used and the kexec counter are abstracted
  // (State::boot is 0 or "later", faults are a budget per boot, the counter is exact below
  // World::counter_cap() and "that or more" above it) so that the reachable space is finite
  // (docs/properties.md, "Beyond the bounds"). `kexecs` is then ignored.
  bool any_kexecs = false;
  bool crashes = true;
  bool errnos = true;
  bool hijack = true;       // owner 0 may push a LUO session named "systemd" into its store
  bool late_owners = true;  // owners of later boots appear one by one, possibly with max 0
  // A per-session file limit, the legacy 128 scaled down; only for profiles with legacy limits.
  int file_limit = 0;
  KernelProfile profile = kDefaultProfile;
  // v262 hands over on every kexec (an empty "systemd" with the mapping alone); v261 only when
  // something qualifies (systemd-luo.md §9.3).
  SystemdProfile systemd = kDefaultSystemdProfile;
  Mutant mutant = Mutant::none;

  // Empty when the bounds are usable, else why not.
  std::string validate() const;
  std::string describe() const;
  bool operator==(const Bounds&) const = default;
};

// Where an fd-store entry is, as the manager's ledger says: kFdEntryMachine's states plus the
// two before the store (the service holds the memfd, or died with it unstored).
enum class Entry : std::uint8_t {
  unborn,
  abandoned,
  stored,
  staged,
  preserved,
  handed_over,
  restorable,
  held,
  removed,
  released,
  dropped,
  lost,
};
std::string_view entry_name(Entry e);
// The machine state of a ledger entry that is in the store's lifecycle.
FdEntryState to_machine(Entry e);
Entry from_machine(FdEntryState s);
// The shutdown state in which the manager itself holds an entry in state e: its stores and held
// list while running, Stage A's list once serialized, "systemd" once preserved. None where the
// manager does not hold it (the service has it, the next boot's kernel, or it ended).
constexpr std::optional<HandoffState> manager_holds_in(Entry e) {
  switch (e) {
    case Entry::stored:
    case Entry::held:
      return HandoffState::running;
    case Entry::staged:
      return HandoffState::serialized;
    case Entry::preserved:
      return HandoffState::preserved;
    case Entry::unborn:
    case Entry::abandoned:
    case Entry::handed_over:
    case Entry::restorable:
    case Entry::removed:
    case Entry::released:
    case Entry::dropped:
    case Entry::lost:
      return std::nullopt;
  }
  return std::nullopt;
}

// Why an entry ended. The first group is what the environment does to a correct manager (each
// documented in docs/properties.md); the second only broken managers produce.
enum class Reason : std::uint8_t {
  none,
  removed,           // the owner asked (FDSTOREREMOVE=1)
  store_full,        // EXFULL: FileDescriptorStoreMax too small, 0 included (§1.4, §3.9)
  reserved_name,     // a session named "systemd" pushed by a service (§3.5)
  preserve_refused,  // the kernel refused this entry's PRESERVE_FD: a fault, or the file limit
  retrieve_failed,   // this entry's RETRIEVE_FD / RETRIEVE_SESSION failed
  reboot_failed,     // reboot(KEXEC) rolled back; the fallback reboot keeps nothing (§3.2)
  no_luo,            // Stage B could not create or fill "systemd": nothing handed over
  mapping_unusable,  // token 0 could not be read in the next boot (§5.3)
  agent_crashed,     // the manager (or its shutdown side) died holding it
  not_outgoing,      // a retrieved session cannot be handed over again (§5.6): said at Stage A
  owner_crashed,     // a session whose only holder, its service, died
  // Never legitimate:
  token_conflict,  // the manager reused a token in "systemd"
  mapping_lost,    // the mapping lost its place to a file limit and took every entry along
  silent,          // the kernel dropped it and the manager did not know
  // Only with Bounds::any_kexecs, and not in kAllReasons (the bounded world never sets it): an
  // entry that ended in an earlier boot for a legitimate reason, which the world then forgets
  // (docs/properties.md, "Beyond the bounds"). Stays last: world_names.cpp's table of
  // reasons is sized by it.
  earlier_boot,
};
std::string_view reason_name(Reason r);  // in words, for reports
std::string_view reason_id(Reason r);    // the enumerator's name, for JSON and Promela
bool legitimate(Reason r);

// The kernel's side of one file of "systemd" (or the mapping): FileState while LUO holds it.
enum class KFile : std::uint8_t { none, preserved, restorable, retrieved, retrieve_failed };

// A third-party session, as the kernel sees it.
enum class Sess : std::uint8_t { none, outgoing, incoming, retrieved, finished };

// A service's session named "systemd" (the hijack of TEST-91).
enum class Hijack : std::uint8_t { none, stored, staged, gone, carried };

// Their names (the enumerators' own), one place for reports, JSON, replay and Promela.
std::string_view kfile_name(KFile k);
std::string_view sess_name(Sess s);
std::string_view hijack_name(Hijack h);

inline constexpr Entry kAllEntries[] = {Entry::unborn,     Entry::abandoned, Entry::stored,
                                        Entry::staged,     Entry::preserved, Entry::handed_over,
                                        Entry::restorable, Entry::held,      Entry::removed,
                                        Entry::released,   Entry::dropped,   Entry::lost};
inline constexpr Reason kAllReasons[] = {
    Reason::none,           Reason::removed,          Reason::store_full,
    Reason::reserved_name,  Reason::preserve_refused, Reason::retrieve_failed,
    Reason::reboot_failed,  Reason::no_luo,           Reason::mapping_unusable,
    Reason::agent_crashed,  Reason::not_outgoing,     Reason::owner_crashed,
    Reason::token_conflict, Reason::mapping_lost,     Reason::silent};
inline constexpr KFile kAllKFiles[] = {KFile::none, KFile::preserved, KFile::restorable,
                                       KFile::retrieved, KFile::retrieve_failed};
inline constexpr Sess kAllSess[] = {Sess::none, Sess::outgoing, Sess::incoming, Sess::retrieved,
                                    Sess::finished};
inline constexpr Hijack kAllHijacks[] = {Hijack::none, Hijack::stored, Hijack::staged, Hijack::gone,
                                         Hijack::carried};

struct FdSlot {
  Entry e = Entry::unborn;
  Reason why = Reason::none;
  KFile kf = KFile::none;
  std::uint8_t kt = 0;   // the kernel's token for it in "systemd" (when kf != none)
  std::uint8_t mt = 0;   // the mapping's token for it (when the ledger says it is in "systemd")
  bool foreign = false;  // attached to another owner's store (only broken managers do that)
  bool operator==(const FdSlot&) const = default;
};

struct SessionSlot {
  Sess ss = Sess::none;
  Entry e = Entry::unborn;  // the session fd's store entry
  Reason why = Reason::none;
  bool svc = false;  // the owning service holds the session fd itself
  bool mgr = false;  // the manager (or its shutdown side) holds the session fd
  bool operator==(const SessionSlot&) const = default;
};

struct OwnerSlot {
  bool loaded = true;
  bool zero = false;  // loaded with FileDescriptorStoreMax=0
  bool alive = true;  // its service runs
  bool operator==(const OwnerSlot&) const = default;
};

struct State {
  std::uint8_t boot = 0;                     // with any_kexecs: 0 cold, 1 any later boot
  std::uint8_t faults = 0;                   // used so far (this boot, with any_kexecs)
  HandoffState out = HandoffState::running;  // this boot's shutdown pipeline
  HandoffState rst = HandoffState::nothing;  // this boot's restore (nothing in boot 0)
  Sess sys = Sess::none;                     // the manager's "systemd" session
  bool sys_hijacked = false;   // the incoming "systemd" is a service's, not the manager's
  KFile map_kf = KFile::none;  // the mapping memfd in "systemd"
  std::uint8_t map_kt = 0;
  Hijack hj = Hijack::none;
  // The manager's kexec counter (KExecCount). Between a kexec and the next boot's restore it
  // still holds the previous boot's value, which kexec_count_carried judges the restore by.
  std::uint8_t kc = 0;
  std::uint8_t map_kc = 0;  // the counter the mapping carries (while map_kf != none)
  // With any_kexecs only (else always false): kc == map_kc in the concrete run, while the mapping
  // exists. Below the cap it follows from the two values; at the cap ("that or more") it is the
  // only record of whether the mapping carries the manager's counter.
  bool kc_same = false;
  std::array<OwnerSlot, kMaxOwners> owner{};
  std::array<FdSlot, kMaxFds> fd{};
  std::array<SessionSlot, kMaxSessions> session{};
  bool operator==(const State&) const = default;
};

enum class ActionKind : std::uint8_t {
  store,           // a: fd    FDSTORE=1 of an unstored memfd
  remove,          // a: fd    FDSTOREREMOVE=1
  open_session,    // a: sess  the VMM creates its session and preserves its memory
  store_session,   // a: sess  FDSTORE=1 of the session fd
  resume_session,  // a: sess  the VMM retrieves its memory, finishes and drops the old session
  hijack,          //          owner 0 creates a session named "systemd" and stores it
  crash,           // a: owner a service dies (its fds close) and is restarted
  start,           // a: owner a stopped service starts (gets its store back)
  load_owner,      // a: owner, b: 1 for FileDescriptorStoreMax=0
  reload,          //          daemon-reload / re-exec: held entries are retried
  restore_begin,   // b: 0, or the fault: 1 RETRIEVE_FD of token 0, 2 RETRIEVE_SESSION itself
  dispatch,        // a: owner, b: fault  the owner's next mapping entry
  finish,          //          FINISH and close "systemd"
  agent_crash,     //          the manager (or its shutdown side) dies and restarts
  stage_a,         //          services stop; the stores are listed for the shutdown side
  stage_b,         // a: which file faults (0 none, 1 mapping, 2+i the i-th entry), b: create fault
  kexec,           // a: which file fails to freeze (0 none, 1+i the i-th file)
};
inline constexpr int kActionKinds = static_cast<int>(ActionKind::kexec) + 1;
std::string_view action_kind_name(ActionKind k);

struct Action {
  ActionKind kind = ActionKind::reload;
  std::uint8_t a = 0;
  std::uint8_t b = 0;
  bool operator==(const Action&) const = default;
};

// The transition properties a step broke (bit = PropertyId), evaluated as the step is taken.
using Violations = std::uint32_t;

class World {
 public:
  explicit World(Bounds bounds);

  const Bounds& bounds() const { return b_; }
  State initial() const;
  int fd_count() const { return b_.owners * b_.fds; }
  int owner_of_fd(int d) const { return d / b_.fds; }
  int owner_of_session(int j) const { return j % b_.owners; }
  // With any_kexecs: kexec counters at this value stand for "this or more" (exact below it).
  int counter_cap() const;

  // Every enabled action with its successor and the transition properties it broke, in a
  // fixed order. `out` is cleared first; reusing it across calls avoids allocation.
  struct Step {
    Action action;
    State next;
    Violations violations = 0;
  };
  void successors(const State& s, std::vector<Step>& out) const;

  // The action instances, in successors()' order: each kind with every parameter it can take
  // under the bounds, leaving out those no state can enable (a fault with no faults allowed, a
  // feature turned off). The one enumeration both successors() and the Promela model (one d_step
  // per instance) are made from, so that an instance added here is added to both.
  const std::vector<Action>& instances() const { return instances_; }

  // One action's successor, or nullopt if it is not enabled (used by traces and replay).
  std::optional<State> apply(const State& s, const Action& a, Violations* v = nullptr) const;

  // "store fd 1.0", "dispatch owner 1 (RETRIEVE_FD fails)", ...
  std::string describe(const Action& a) const;
  // Weak fairness is per action instance: the kind with its parameters.
  int fairness_class(const Action& a) const;
  int fairness_classes() const;
  // Actions of the manager and the kernel: the ones weak fairness is assumed for.
  static bool is_fair(ActionKind k);

 private:
  Bounds b_;
  std::vector<Action> instances_;
};

}  // namespace luo::proofs
