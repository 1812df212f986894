// luo/proofs/properties.hpp: the named properties the checker proves about world.hpp.
//
// Each property has a stable name used the same way by the checker's report, the mutation test,
// the SPIN cross-check and docs/properties.md (generated from this table by
// `luo-lifecycle check --list-properties --markdown`). A property is one of three kinds:
//   state       must hold in every reachable state (holds_in());
//   transition  must hold for every step, judged as the step is taken (World::successors()
//               sets its bit in the step's Violations);
//   liveness    under weak fairness of the manager's and kernel's actions, every preserved fd is
//               eventually delivered or ends with a reason (checked on the unreduced graph).
//
//   for (const auto& p : luo::proofs::kProperties) std::cout << p.name << ": " << p.rationale;
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "luo/proofs/world.hpp"

namespace luo::proofs {

enum class PropertyId : std::uint8_t {
  no_silent_loss,
  losses_have_legitimate_reasons,
  delivered_to_owner,
  mapping_matches_session,
  token0_is_mapping,
  systemd_session_is_managers,
  third_party_survives_iff_held_outgoing,
  restore_in_preservation_order,
  finish_once_after_dispatch,
  kexec_count_carried,
  eventually_delivered,
};
inline constexpr int kPropertyCount = static_cast<int>(PropertyId::eventually_delivered) + 1;

enum class PropertyKind : std::uint8_t { state, transition, liveness };

struct Property {
  PropertyId id;
  std::string_view name;
  PropertyKind kind;
  std::string_view statement;  // what must hold, in one sentence
  std::string_view rationale;  // why it matters
  std::string_view spec;       // where the spec says so
};

inline constexpr Property kProperties[] = {
    {PropertyId::no_silent_loss, "no_silent_loss", PropertyKind::state,
     "What the manager's ledger says is alive is alive: an entry in a store or held is in a "
     "running manager, a staged one with the shutdown side, a preserved or handed-over one in "
     "the kernel's \"systemd\" session, and a recorded third-party session exists in the kernel "
     "in the matching direction.",
     "An fd the manager still counts on but that is gone is lost without anyone knowing; every "
     "loss must be an entry the manager ended itself, with a reason.",
     "systemd-luo.md §3.2-§3.6, kernel-luo.md §2.3, §2.7, §3.3"},
    {PropertyId::losses_have_legitimate_reasons, "losses_have_legitimate_reasons",
     PropertyKind::state,
     "Every entry that ended (removed, released, dropped, lost) ended for a documented reason the "
     "environment caused: the owner's request, a full store, the reserved name, a refused "
     "preserve or retrieve, a failed reboot, a crash, or a retrieved session kept across a "
     "kexec; never a reused token or a mapping that lost its place to a file limit.",
     "A documented, reported reason is what separates a drop from a loss; the manager's own "
     "mistakes must never be among them.",
     "systemd-luo.md §1.4, §3.4, §3.6, §5.4, §5.6"},
    {PropertyId::delivered_to_owner, "delivered_to_owner", PropertyKind::transition,
     "A restored fd goes to the owner and entry it was stored under, never to another.",
     "Handing a VM's memory to the wrong service is worse than losing it.",
     "systemd-luo.md §2.4, §3.6.2"},
    {PropertyId::mapping_matches_session, "mapping_matches_session", PropertyKind::state,
     "While \"systemd\" is filled for the kexec, the mapping names exactly the files the kernel "
     "holds: every preserved entry under the token the kernel has it at, and no other file.",
     "The next boot finds fds only through the mapping: an unnamed file is discarded at FINISH, "
     "a wrong token restores the wrong file.",
     "systemd-luo.md §3.4"},
    {PropertyId::token0_is_mapping, "token0_is_mapping", PropertyKind::state,
     "Whenever \"systemd\" holds files, token 0 is the mapping and no entry uses it.",
     "The restoring manager reads token 0 first; anything else there makes every entry "
     "unreadable.",
     "systemd-luo.md §3.4 (LUO_MAPPING_INDEX), §3.6.2"},
    {PropertyId::systemd_session_is_managers, "systemd_session_is_managers", PropertyKind::state,
     "No session named \"systemd\" that a service created is handed on by the shutdown side, "
     "carried across a kexec, or read by the next manager as its own.",
     "A service that squats the manager's namespace could feed it a forged mapping or make "
     "Stage B fail for everyone.",
     "systemd-luo.md §3.5, §4.3 step 4"},
    {PropertyId::third_party_survives_iff_held_outgoing, "third_party_survives_iff_held_outgoing",
     PropertyKind::transition,
     "A third-party session is in the next boot exactly when it was an outgoing session whose fd "
     "someone held at the kexec, and every session the mapping records is such a session.",
     "The kernel carries only held outgoing sessions; the manager must hold the ones it "
     "recorded and cannot carry retrieved ones.",
     "kernel-luo.md §2.3, §2.7, §5.2; systemd-luo.md §5.6"},
    {PropertyId::restore_in_preservation_order, "restore_in_preservation_order",
     PropertyKind::transition,
     "Each owner's entries are retrieved in the order they were preserved (token order).",
     "Userspace must restore dependencies in preservation order (fd_A before fd_B); the kernel "
     "keeps that order, the manager must too.",
     "kernel-luo.md §3.5; LUO v4 design notes (seed 004)"},
    {PropertyId::finish_once_after_dispatch, "finish_once_after_dispatch", PropertyKind::transition,
     "\"systemd\" is finished at most once per boot, and only after every entry of its mapping "
     "was dispatched or held.",
     "FINISH discards every file not retrieved yet.",
     "systemd-luo.md §3.6.2 steps 3 and 9, kernel-luo.md §3.3"},
    {PropertyId::kexec_count_carried, "kexec_count_carried", PropertyKind::transition,
     "After a kexec whose handover the next boot's manager read (a usable mapping at token 0), "
     "its kexec counter is the previous boot's plus one.",
     "The counter (KExecCount) is how the next boot knows it came from a kexec; bless-boot and "
     "TEST-91 rely on it, and systemd 262 hands over on every kexec so that it survives one "
     "that carries no fd.",
     "systemd-luo.md §9.2, §9.3, §3.6.2 step 6"},
    {PropertyId::eventually_delivered, "eventually_delivered", PropertyKind::liveness,
     "Under weak fairness of the manager's and the kernel's actions, every entry on its way "
     "through the handoff (staged, preserved, handed over, restorable or held) eventually "
     "reaches a store again or ends with a reason.",
     "Safety alone allows a manager that holds every fd forever and never hands any back.",
     "systemd-luo.md §3.6.3, seed 000"},
};
static_assert(std::size(kProperties) == kPropertyCount);

constexpr const Property& property(PropertyId id) {
  return kProperties[static_cast<int>(id)];
}
std::optional<PropertyId> parse_property(std::string_view name);

constexpr Violations bit(PropertyId id) {
  return Violations{1} << static_cast<unsigned>(id);
}

// A state property's verdict on one state.
bool holds_in(PropertyId id, const World& world, const State& s);
// The state properties the state breaks, as bits.
Violations state_violations(const World& world, const State& s);

// The property table of docs/properties.md, as Markdown.
std::string properties_markdown();

// Liveness: is the entry (fd index < fd_count(), else session index + fd_count()) on its way
// through the handoff, i.e. still owed a delivery or a reason?
bool pending(const World& world, const State& s, int entry);

}  // namespace luo::proofs
