// replayer.hpp: the replay's driver (replay.hpp documents every mapping decision). One
// HandoffManager, the object an embedder uses, over one SimulatedKernel through a RecordingPort,
// plays the world's manager; the driver plays the services and the environment around it, keeps
// the ledger of what the implementation reported about each entry, and compares the projections
// after each step. The actions are in replay.cpp, the restore segment's run in restore_run.cpp
// (its plan, pure, in restore_plan.hpp).
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/proofs/replay.hpp"
#include "projection.hpp"
#include "recording_port.hpp"
#include "restore_plan.hpp"

namespace luo::proofs::replay_detail {

// What the implementation last said about an entry: the model's terms.
struct Ledger {
  Entry e = Entry::unborn;
  Reason why = Reason::none;
};

// The model's reason for a report's typed one; nullopt for a reason the model does not know.
std::optional<Reason> model_reason(const EntryReport& r);

class Replayer {
 public:
  Replayer(const Bounds& b, const Trace& t);
  ReplayResult run();

 private:
  // --- identities ---
  int world_index(int o, int label) const;
  Ledger& fd_ledger(int o, int label) { return fd_[o][label]; }
  Ledger& item_ledger(const PlanItem& it) {
    return it.session ? sess_[it.label] : fd_[it.owner][it.label];
  }

  // --- reports ---
  void problem(std::string s) { problems_.push_back(std::move(s)); }
  void note(const EntryReport& r);
  void expect_errno(const std::string& text, int err, const std::string& what);

  // --- locations ---
  struct Where {
    int store_owner = -1;
    bool held = false;
  };
  std::map<std::pair<int, int>, Where> locate_fds() const;
  bool store_has(int o, std::string_view name) const;
  bool held_has(int o, std::string_view name) const;
  bool staged_has(int o, std::string_view name) const;

  // --- the implementation's projection ---
  HandoffState shutdown_state() const;
  HandoffState restore_state() const;
  Projection project_impl();

  // --- actions ---
  void perform(const Action& a, const State& before);
  void store(int d);
  void remove(int d);
  void open_session(int j);
  void store_session(int j);
  void resume_session(int j);
  void hijack();
  void crash(int o);
  void start(int o);
  void load_owner(int o, bool zero);
  void reload();
  void agent_crash(const State& before);
  void stage_a();
  void stage_b(const Action& a, const State& before);
  void kexec(const Action& a, const State& before);
  void services_stop(int o);
  void new_boot(bool luo_data);
  // The manager dies (HandoffManager::crash()): what it held is lost, in the ledger.
  void manager_dies();

  // --- the restore segment (restore_run.cpp) ---
  // Runs the segment that begins at trace index r; returns the index of its last step.
  int restore_segment(int r);
  std::vector<PlanItem> mapping_items() const;
  class SegmentRun;

  // The whole projection after trace step `step` against the model's `model`.
  bool compare(int step, const State& model);
  void disagree(int step, std::vector<std::string> diffs, const Projection& m, const Projection& i,
                const std::string& suffix = "");
  void unreplayable(int index, std::string why);
  ReplayResult finish_result();

  const Bounds& b_;
  World w_;
  const Trace& t_;
  SimulatedKernel kernel_;
  RecordingPort port_;
  LiveUpdate lu_;
  HandoffManager mgr_;

  std::optional<handoff::StageB> handed_;  // the mapping the previous boot handed over
  bool boot_has_data_ = false;             // this boot's kernel got a handover to restore
  int boot_ = 0;

  std::array<std::array<int, kMaxFdsPerOwner>, kMaxOwners> perm_{};  // world index -> label
  std::array<std::array<Ledger, kMaxFdsPerOwner>, kMaxOwners> fd_{};
  std::array<Ledger, kMaxSessions> sess_{};
  std::array<bool, kMaxOwners> alive_{};
  std::array<OwnerSlot, kMaxOwners> loaded_at_stage_a_{};  // the owners as the stores closed
  std::array<std::optional<OutgoingSession>, kMaxSessions> svc_;
  bool hijack_made_ = false;
  bool hijack_dropped_ = false;
  bool hijack_carried_ = false;
  bool stage_b_tried_ = false;  // this boot's Stage B ran (whatever its outcome)

  // Tokens of this boot's manager "systemd" (outgoing) and of the one handed over (incoming),
  // by (owner, label); taken from the recorded PRESERVE_FD calls.
  std::map<std::pair<int, int>, std::uint64_t> out_tokens_;
  std::map<std::pair<int, int>, std::uint64_t> in_tokens_;

  std::vector<std::string> problems_;
  std::optional<std::string> not_replayable_;
  ReplayResult result_;
  bool done_ = false;
  std::string notes_;
};

}  // namespace luo::proofs::replay_detail
