// luo/proofs/replay.hpp: a trace of the bounded world (world.hpp), run through the real
// implementation (impl/ over IoctlPort over SimulatedKernel), compared with the model step by
// step. The checker's counterexamples (and any trace of World::successors) replay here; the
// first step where the implementation's state differs from the model's is reported with both.
//
//   luo::proofs::CheckOptions opt;
//   opt.bounds.mutant = luo::proofs::Mutant::restore_lifo;
//   const auto r = luo::proofs::check(opt);
//   const auto& trace = *r.verdict(luo::proofs::PropertyId::restore_in_preservation_order)
//                            .counterexample;
//   const auto rep = luo::proofs::replay(opt.bounds, trace);
//   // rep.verdict == ReplayVerdict::disagrees, rep.step: the dispatch where the mutant takes
//   // the newest entry and the implementation the oldest.
//
// This library (luo_proofs_replay) links impl/ and adapters/; luo::proofs stays model-only.
//
// THE PROCESS. One process plays every actor over one SimulatedKernel: the manager (one
// HandoffManager, the object an embedder uses: its stores of owners "owner<o>.service", its held
// entries, the Stage A/B results it keeps until the kexec, its restore), the services (their
// unstored memfds and their VMM sessions) and the kernel. Each actor's fds are its own; an actor
// that dies closes exactly those. Nothing outside the object composes the pipeline.
//
// IDENTITIES. World fd d of owner o is a memfd whose contents say "luo-replay fd <o>.<k>" and
// whose store name is "fd<k>"; VMM session j is the LUO session "vmm<j>" with one memfd at
// token 1; the hijack is a session "systemd" with one memfd at token 99. Contents, not names,
// identify a memfd found anywhere (a store, the held list, what the kernel returned).
// Within one owner, which fd the world numbers first is not a property of either side: the world
// gives staged fds tokens in index order, impl in its store's newest-first order. At Stage B the
// replay pairs the owner's staged fds by that order (world index order <-> impl token order),
// the world's own symmetry over interchangeable fds of one owner (checker --symmetry uses it
// too). Owners are never permuted.
//
// ACTIONS (world -> implementation):
//   store fd         the service creates the memfd; HandoffManager::store() into its owner's
//                    store (EXFULL for an owner loaded with FileDescriptorStoreMax=0: dropped)
//   remove fd        HandoffManager::remove(owner, "fd<k>")
//   open_session j   Device::create_session("vmm<j>"), a memfd preserved at token 1; the
//                    service keeps the OutgoingSession
//   store_session j  a dup of its fd stored as "vmm<j>"; the service keeps its own
//   resume_session j the VMM takes a dup from its store: RETRIEVE_FD 1 (contents checked),
//                    FINISH, HandoffManager::remove(owner, "vmm<j>"), closes the dup
//   hijack           owner 0's service creates "systemd" (a memfd at token 99) and hands its
//                    only fd to its store as "hijack"
//   crash o          the service closes what it holds (sessions); owner_stopped(dead, failed)
//                    (preserve=yes keeps the store)
//   start o          hand_back() (the duplicates are closed again)
//   load_owner o     load_owner() (max 16, or 0; its held entries are offered)
//   reload           daemon_reload()
//   restore_begin .. dispatch .. finish: the object's stepped restore, see RESTORE below
//   agent_crash      HandoffManager::crash(): its stores, held entries and Stage A/B results
//                    are closed; the restarted manager knows the same owners, stores empty
//   stage_a          the services stop (close what they hold); stage_a() (the stores close, the
//                    Stage A result keeps the duplicates)
//   stage_b          stage_b() on the object's own freshly opened device
//   kexec            kexec(); everything of the old boot is closed and the object begins the
//                    next boot. A freeze failure is followed by fallback_reboot(): every process
//                    of the boot dies, then a kexec that hands nothing over
//
// FAULTS go to SimulatedKernel::inject, armed by a KernelPort wrapper right before the n-th
// call of the kind the world names, so the simulator fails exactly that call:
//   PRESERVE_FD of the mapping / of an entry   preserve_handler, EIO
//   CREATE_SESSION("systemd")                  reserve_session_fd, EMFILE (device machine)
//   RETRIEVE_FD of token 0 / of an fd entry    retrieve_handler, EIO
//   RETRIEVE_SESSION of a VMM session entry    reserve_session_fd, EMFILE
//   a file's freeze at reboot                  freeze, EIO (the world's i-th file, found at
//                                              its place in the simulator's freeze order)
// The world names no errno for a handler's own failure; EIO is the replay's choice, and the
// implementation's report must carry it. A scaled-down legacy file limit (Bounds::file_limit)
// becomes SimulatedKernel::Options::legacy_files_per_session.
//
// RESTORE. The object's restore takes RETRIEVE_SESSION("systemd"), token 0, then every entry in
// mapping order, and FINISH. Stepped (restore_begin(), restore_next(), restore_dispatch(),
// restore_finish()), it hands the entries out one at a time. The world splits it into
// restore_begin, one dispatch per entry (owners interleaved freely, with owner loads and reloads
// between) and finish. The replay takes the trace's restore segment (restore_begin up to finish,
// an agent_crash, or the end of the trace), plans it (restore_plan.hpp, pure) and runs the plan:
//   - pairs each dispatch of the trace with impl's item of the entry it took, and reorders the
//     segment into impl's order, except that each owner keeps the world's own order (fds by
//     token, then sessions by index: impl's mapping, in store order, may put a session first;
//     such an entry is dispatched when impl reaches it and judged where the world takes it).
//     Other steps stay before the first dispatch that followed them. The world judges the
//     reordering: every step must be enabled and the segment must end in the trace's state,
//     else the trace is "not replayable" there;
//   - steps the object's restore: at each entry it retrieves, first performs the segment's
//     steps due before it (owner loads, reloads; a dispatch without an item is one whose
//     retrieve failed), checks that the entry is the one the model takes there, dispatches it
//     into the object's stores and compares the whole state. An entry the model never takes
//     while it takes a later one of the same owner is a disagreement where the model took that
//     later one;
//   - a manager crash inside the segment is the object's crash() before its next retrieve (or
//     before FINISH), after the entries the model dispatched before it (the steps between the
//     last dispatch and the crash run first): "systemd" is closed without FINISH, as a dying
//     process's fd is, and the kernel's implicit FINISH discards what was not retrieved;
//   - steps between two entries are not compared on their own (the kernel has already
//     retrieved the next entry there): they are compared with the next entry's dispatch, and
//     the whole state again after the segment. A disagreement is reported at the step where it
//     is seen; ReplayResult::last_agreed says where the window starts;
//   - a trace that ends inside a restore is compared up to its last dispatch.
//
// PROJECTION: what is compared after a step (both sides map to it; describe() prints it):
//   boot; the shutdown and restore pipeline states (impl: its StageA/B/Restore results);
//   per owner: loaded, FileDescriptorStoreMax=0, running;
//   per fd: its entry state and reason (impl: where its contents are found, stores and held
//     entries, else what impl's last report about it said), whether it sits in another owner's
//     store, the kernel's state of its file and the file's rank among the owner's files in
//     "systemd" (impl: recorded PRESERVE_FD calls and the simulator's snapshot), and whether
//     the mapping records it under the token the kernel holds it at;
//   the manager's "systemd" session (outgoing, incoming, retrieved, or none; a service's), its
//     mapping file at token 0 (kernel state);
//   the hijack (stored, staged, gone, carried);
//   per VMM session: the kernel's view (simulator snapshot), its entry state and reason, and
//     who holds its fd (the service; the manager: a store, the held list, Stage A).
// Reasons of ended entries come from the typed reasons of impl's reports (EntryReport::cause):
// refused_by_owner -> store full, reserved_name / incoming_session -> reserved name / not
// outgoing, preserve_refused -> refused, handoff_failed -> no "systemd", retrieve_failed ->
// retrieve failed; restore's mapping failure -> mapping unusable. Crashes and the fallback
// reboot are the environment's: the replay applies the world's rules for them
// (world_environment.hpp) to its ledger.
//
// NOT REPLAYABLE (reported with why): profiles without GET_NAME when a session fd is stored (impl
// then recognises sessions by their /proc link, which the simulator's session fds, sockets, do
// not have); a restore segment whose reordering the world does not accept; a manager crash in a
// restore after the model took a later entry of impl's mapping but before an earlier one (an
// owner's fd before the session impl's store order puts first). Liveness lassos replay their
// finite prefix and loop once.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "luo/proofs/checker.hpp"

namespace luo::proofs {

enum class ReplayVerdict : std::uint8_t { agrees, disagrees, not_replayable };
std::string_view replay_verdict_name(ReplayVerdict v);

struct ReplayResult {
  ReplayVerdict verdict = ReplayVerdict::agrees;
  int steps = 0;     // actions in the trace
  int compared = 0;  // steps after which the whole projection was compared
  // disagrees / not_replayable: the 1-based step (0: the initial state), its action's text, and
  // the last step after which both sides were compared equal (-1: none).
  int step = -1;
  int last_agreed = -1;
  std::string action;
  std::vector<std::string> differences;  // "fd 0.1: model stored, implementation held"
  std::string model;                     // both projections at `step`, described
  std::string implementation;
  std::string why;    // not_replayable: the reason; disagrees: a one-line summary
  std::string notes;  // e.g. how the restore segment was reordered
};

ReplayResult replay(const Bounds& bounds, const Trace& trace);

std::string to_text(const ReplayResult& r);
std::string to_json(const ReplayResult& r);  // one JSON object

// Traces from JSON: the output of `check --json` (every verdict's counterexample) or a bare
// trace {"bounds": {...}, "steps": [{"action": {"kind", "a", "b"}, "state"?: {...}}, ...],
// "loopStart"?: n}. Omitted bounds fields keep Bounds' defaults. States given are checked
// against the world's own (a trace made with other bounds, or edited, is refused).
struct NamedTrace {
  std::string property;  // empty for a bare trace
  Trace trace;
};
struct TraceFile {
  Bounds bounds;
  std::vector<NamedTrace> traces;
};
// The error names the field, e.g. "verdicts[2].counterexample.steps[4].action.kind: unknown
// action 'jump'".
std::variant<TraceFile, std::string> parse_trace_json(std::string_view text);
// The same from a parsed document, for callers that parse with their own limits (the CLI's
// cli/input.hpp: size cap, depth limit, repeated keys refused).
std::variant<TraceFile, std::string> parse_trace_document(const nlohmann::json& root);

}  // namespace luo::proofs
