#include "luo/proofs/properties.hpp"

namespace luo::proofs {
namespace {

bool ended(Entry e) {
  return e == Entry::removed || e == Entry::released || e == Entry::dropped || e == Entry::lost;
}

// no_silent_loss, the manager's half, alike for fds and sessions: an entry in its store, in
// Stage A's list or in "systemd" exists only while its shutdown side is at that point. The store
// is the manager's memory: it exists only while the manager runs.
bool manager_agrees(Entry e, HandoffState out) {
  const auto held = manager_holds_in(e);
  return !held || *held == out;
}

// The kernel's half for an fd: LUO holds the file of an entry preserved, handed over or
// restorable.
bool kernel_agrees(const FdSlot& x) {
  switch (x.e) {
    case Entry::preserved:
      return x.kf == KFile::preserved;
    case Entry::handed_over:
    case Entry::restorable:
      return x.kf != KFile::none;
    case Entry::stored:
    case Entry::held:
    case Entry::staged:
    case Entry::unborn:
    case Entry::abandoned:
    case Entry::removed:
    case Entry::released:
    case Entry::dropped:
    case Entry::lost:
      return true;  // not in the kernel: no state to agree with
  }
  return true;
}

// The kernel's half for a third-party session: outgoing until the kexec, incoming after it.
bool kernel_agrees(const SessionSlot& x) {
  switch (x.e) {
    case Entry::stored:
    case Entry::held:
      return x.ss != Sess::none && x.ss != Sess::incoming;
    case Entry::staged:
    case Entry::preserved:
      return x.ss == Sess::outgoing;
    case Entry::handed_over:
      return x.ss == Sess::incoming;
    case Entry::restorable:
    case Entry::unborn:
    case Entry::abandoned:
    case Entry::removed:
    case Entry::released:
    case Entry::dropped:
    case Entry::lost:
      return true;  // no session state this property ties them to
  }
  return true;
}

bool no_silent_loss(const World& w, const State& s) {
  for (int d = 0; d < w.fd_count(); ++d) {
    if (!manager_agrees(s.fd[d].e, s.out) || !kernel_agrees(s.fd[d]))
      return false;
  }
  for (int j = 0; j < w.bounds().sessions; ++j) {
    if (!manager_agrees(s.session[j].e, s.out) || !kernel_agrees(s.session[j]))
      return false;
  }
  return true;
}

bool losses_legitimate(const World& w, const State& s) {
  for (int d = 0; d < w.fd_count(); ++d) {
    const auto& x = s.fd[d];
    if (ended(x.e) && (x.why == Reason::none || !legitimate(x.why)))
      return false;
  }
  for (int j = 0; j < w.bounds().sessions; ++j) {
    const auto& x = s.session[j];
    if (ended(x.e) && (x.why == Reason::none || !legitimate(x.why)))
      return false;
  }
  return true;
}

bool mapping_matches(const World& w, const State& s) {
  if (s.out != HandoffState::preserved)
    return true;
  for (int d = 0; d < w.fd_count(); ++d) {
    const auto& x = s.fd[d];
    const bool recorded = x.e == Entry::preserved;
    const bool held = x.kf == KFile::preserved;
    if (recorded != held)
      return false;
    if (recorded && x.kt != x.mt)
      return false;
  }
  return true;
}

bool token0(const World& w, const State& s) {
  const bool live = s.sys == Sess::outgoing || s.sys == Sess::incoming || s.sys == Sess::retrieved;
  if (!live || s.sys_hijacked)
    return true;
  bool files = false;
  for (int d = 0; d < w.fd_count(); ++d) {
    const auto& x = s.fd[d];
    if (x.kf == KFile::none)
      continue;
    files = true;
    if (x.kt == 0)
      return false;
  }
  return !files || (s.map_kf != KFile::none && s.map_kt == 0);
}

bool systemd_is_managers(const State& s) {
  return s.hj != Hijack::staged && s.hj != Hijack::carried && !s.sys_hijacked;
}

}  // namespace

std::optional<PropertyId> parse_property(std::string_view name) {
  for (const auto& p : kProperties) {
    if (p.name == name)
      return p.id;
  }
  return std::nullopt;
}

bool holds_in(PropertyId id, const World& world, const State& s) {
  switch (id) {
    case PropertyId::no_silent_loss:
      return no_silent_loss(world, s);
    case PropertyId::losses_have_legitimate_reasons:
      return losses_legitimate(world, s);
    case PropertyId::mapping_matches_session:
      return mapping_matches(world, s);
    case PropertyId::token0_is_mapping:
      return token0(world, s);
    case PropertyId::systemd_session_is_managers:
      return systemd_is_managers(s);
    case PropertyId::delivered_to_owner:
    case PropertyId::third_party_survives_iff_held_outgoing:
    case PropertyId::restore_in_preservation_order:
    case PropertyId::finish_once_after_dispatch:
    case PropertyId::kexec_count_carried:
    case PropertyId::eventually_delivered:
      return true;  // judged on steps or paths, not on single states
  }
  return true;
}

std::string properties_markdown() {
  std::string out = "| property | kind | statement | why | spec |\n|---|---|---|---|---|\n";
  for (const auto& p : kProperties) {
    const char* kind = p.kind == PropertyKind::state        ? "state"
                       : p.kind == PropertyKind::transition ? "transition"
                                                            : "liveness";
    out += "| `" + std::string(p.name) + "` | " + kind + " | " + std::string(p.statement) + " | " +
           std::string(p.rationale) + " | " + std::string(p.spec) + " |\n";
  }
  return out;
}

Violations state_violations(const World& world, const State& s) {
  Violations v = 0;
  for (const auto& p : kProperties) {
    if (p.kind == PropertyKind::state && !holds_in(p.id, world, s))
      v |= bit(p.id);
  }
  return v;
}

bool pending(const World& world, const State& s, int entry) {
  const Entry e = entry < world.fd_count() ? s.fd[entry].e : s.session[entry - world.fd_count()].e;
  switch (e) {
    case Entry::staged:
    case Entry::preserved:
    case Entry::handed_over:
    case Entry::restorable:
    case Entry::held:
      return true;
    case Entry::unborn:
    case Entry::abandoned:
    case Entry::stored:
    case Entry::removed:
    case Entry::released:
    case Entry::dropped:
    case Entry::lost:
      return false;
  }
  return false;
}

}  // namespace luo::proofs
