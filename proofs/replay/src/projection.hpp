// projection.hpp: what the replay compares after a step, and how a difference is told. Both
// sides map to a Projection: the model's State (project_model, here) and the implementation's
// objects (Replayer::project_impl). Pure: the model only (replay.hpp, PROJECTION).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "luo/proofs/world.hpp"

namespace luo::proofs::replay_detail {

struct FdView {
  Entry e = Entry::unborn;
  Reason why = Reason::none;
  bool foreign = false;
  KFile kf = KFile::none;
  int rank = -1;           // among the owner's files in "systemd" by token; -1: none
  bool mapping_ok = true;  // preserved/handed over: the mapping's token is the kernel's, not 0
  bool operator==(const FdView&) const = default;
};

struct SessionView {
  Sess ss = Sess::none;
  Entry e = Entry::unborn;
  Reason why = Reason::none;
  bool svc = false;
  bool mgr = false;
  bool operator==(const SessionView&) const = default;
};

struct Projection {
  int boot = 0;
  HandoffState out = HandoffState::running;
  HandoffState rst = HandoffState::nothing;
  Sess sys = Sess::none;
  bool sys_hijacked = false;
  KFile map_kf = KFile::none;
  Hijack hj = Hijack::none;
  std::array<OwnerSlot, kMaxOwners> owner{};
  std::array<FdView, kMaxFds> fd{};
  std::array<SessionView, kMaxSessions> session{};
};

std::string entry_text(Entry e, Reason why);
// Whether the entry's state means the mapping written at Stage B names it.
bool in_mapping(Entry e);
std::string fd_label(const Bounds& b, int d);

Projection project_model(const World& w, const State& s);
std::string describe(const Bounds& b, const Projection& p);
// "what: model X, implementation Y" for every field that differs.
std::vector<std::string> differences(const Bounds& b, const Projection& m, const Projection& i);

}  // namespace luo::proofs::replay_detail
