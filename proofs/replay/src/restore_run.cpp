// The restore segment's run (replay.hpp, RESTORE): the plan (restore_plan.hpp) played on the
// HandoffManager's stepped restore. Each entry the object retrieves is checked against the
// entry the model takes there and dispatched; the segment's other steps run between the entries,
// as the plan orders them; a manager crash is the object's crash() before its next retrieve (or
// before FINISH). Nothing here throws: a run that must stop returns how it stopped.
#include <algorithm>
#include <map>

#include "identities.hpp"
#include "replayer.hpp"

namespace luo::proofs::replay_detail {

std::vector<PlanItem> Replayer::mapping_items() const {
  std::vector<PlanItem> items;
  if (!handed_)
    return items;
  for (const auto& u : handed_->units) {
    const auto o = owner_of_id(u.unit);
    if (!o)
      continue;
    for (const auto& e : u.fdstore) {
      if (auto k = label_of_name(e.name)) {
        items.push_back({*o, *o * b_.fds + world_index(*o, *k), false, *k});
      } else if (auto j = session_of_name(e.name)) {
        items.push_back({*o, w_.fd_count() + *j, true, *j});
      }
    }
  }
  return items;
}

class Replayer::SegmentRun {
 public:
  SegmentRun(Replayer& x, RestorePlan plan)
      : x_(x),
        plan_(std::move(plan)),
        acts_(x.t_.actions),
        reported_(plan_.items.size(), false),
        ahead_(plan_.items.size(), false) {}

  int run();

 private:
  // How the run stopped before the end of the object's restore.
  enum class Stop : std::uint8_t { none, crash, trace_ends, disagree, unreplayable };
  enum class CatchUp : std::uint8_t { reached, segment_ends, disagree };

  const Action& act(int p) const { return acts_[static_cast<std::size_t>(p)]; }
  const PlanItem& item(int m) const { return plan_.items[static_cast<std::size_t>(m)]; }
  std::string entry_text_of(const State& pre, int e) const;
  void arm_faults();
  bool check_choice(std::size_t qq, int m);
  CatchUp catch_up(int upto);
  Stop on_item(RestoredItem& item);
  int stopped(Stop how);
  int finished();

  Replayer& x_;
  RestorePlan plan_;
  const std::vector<Action>& acts_;
  std::size_t q_ = 1;               // the next step of plan_.seq to run
  std::vector<bool> reported_;      // per item: its fate is in the ledger
  std::vector<bool> ahead_;         // per item: dispatched by impl before the world could
  int stopped_at_ = -1;             // the trace index where the run stopped
  std::map<int, int> injected_at_;  // trace index -> the errno injected there
  int begin_fault_ = 0;
};

std::string Replayer::SegmentRun::entry_text_of(const State& pre, int e) const {
  return e < 0 ? std::string("nothing")
         : e < x_.w_.fd_count()
             ? fd_label(x_.b_, e) + " (mapping token " + std::to_string(pre.fd[e].mt) + ")"
             : "session " + std::to_string(e - x_.w_.fd_count());
}

// Faults of the segment, at their kernel calls.
void Replayer::SegmentRun::arm_faults() {
  std::vector<Arm> arms;
  const int r = plan_.begin;
  begin_fault_ = act(r).b;
  if (begin_fault_ == 1) {
    arms.push_back({Call::retrieve_fd, 0, SimFault::retrieve_handler, kHandlerErrno});
    injected_at_[r] = kHandlerErrno;
  } else if (begin_fault_ == 2) {
    // RETRIEVE_SESSION("systemd") itself fails, as with a full fd table.
    const int err = reservation_errno(x_.b_.profile);
    arms.push_back({Call::retrieve_session, 0, SimFault::reserve_session_fd, err});
    injected_at_[r] = err;
  }
  int fd_calls = 1;       // token 0 came first
  int session_calls = 1;  // RETRIEVE_SESSION("systemd") came first
  for (const auto& it : plan_.items) {
    const bool fault = it.position >= 0 && act(it.position).b != 0;
    if (fault) {
      const int err = it.session ? reservation_errno(x_.b_.profile) : kHandlerErrno;
      arms.push_back(
          it.session ? Arm{Call::retrieve_session, session_calls, SimFault::reserve_session_fd, err}
                     : Arm{Call::retrieve_fd, fd_calls, SimFault::retrieve_handler, err});
      injected_at_[it.position] = err;
    }
    (it.session ? session_calls : fd_calls) += 1;
  }
  x_.port_.plan(arms);
}

// The world's dispatch at seq[qq] must take item m's entry.
bool Replayer::SegmentRun::check_choice(std::size_t qq, int m) {
  const PlanItem& it = item(m);
  const int chosen = taken_by(x_.w_, plan_.states[qq], plan_.states[qq + 1]);
  if (chosen == it.world)
    return true;
  x_.problem("the model restores " + entry_text_of(plan_.states[qq], chosen) +
             " here, the implementation " + entry_text_of(plan_.states[qq], it.world) +
             " (the next in its mapping)");
  // The trace deviates where it first took an entry impl would not have taken then.
  stopped_at_ = std::min(plan_.seq[qq], it.position);
  return false;
}

// Runs the steps seq[q..] up to (not including) the dispatch of item `upto` (-2: to the end);
// dispatches passed over had no item: the object found their retrieve failed.
Replayer::SegmentRun::CatchUp Replayer::SegmentRun::catch_up(int upto) {
  while (q_ < plan_.seq.size()) {
    const int p = plan_.seq[q_];
    const Action& a = act(p);
    if (a.kind == ActionKind::dispatch) {
      const int m = item_at(plan_.items, p);
      if (m == upto)
        return CatchUp::reached;
      if (!check_choice(q_, m))
        return CatchUp::disagree;
      if (!ahead_[static_cast<std::size_t>(m)]) {
        x_.item_ledger(item(m)) = Ledger{Entry::lost, Reason::retrieve_failed};
        reported_[static_cast<std::size_t>(m)] = true;
      }
    } else if (a.kind == ActionKind::finish || a.kind == ActionKind::agent_crash) {
      return CatchUp::segment_ends;
    } else {
      x_.perform(a, plan_.states[q_]);
    }
    ++q_;
  }
  return CatchUp::segment_ends;
}

// One entry the object retrieved: the one the model takes here? Then dispatched and compared.
Replayer::SegmentRun::Stop Replayer::SegmentRun::on_item(RestoredItem& restored) {
  const auto o = owner_of_id(restored.owner);
  int m = -1;
  for (std::size_t k = 0; k < plan_.items.size(); ++k) {
    const PlanItem& it = plan_.items[k];
    if (reported_[k] || !o || it.owner != *o)
      continue;
    const bool same = it.session ? session_of_name(restored.name) == it.label
                                 : label_of_name(restored.name) == it.label;
    if (same) {
      m = static_cast<int>(k);
      break;
    }
  }
  if (m < 0) {
    x_.problem("restore() dispatches " + restored.owner + " " + restored.name +
               ", which the mapping written at Stage B does not name");
    stopped_at_ = plan_.begin;
    return Stop::disagree;
  }
  const auto mi = static_cast<std::size_t>(m);
  const PlanItem& it = item(m);
  if (!it.session) {
    const auto l = label_of_contents(head_of(restored.fd.get()));
    if (!l || *l != std::pair<int, int>{it.owner, it.label}) {
      x_.problem("RETRIEVE_FD of " + restored.owner + " " + restored.name + " gave the file of '" +
                 head_of(restored.fd.get()) + "'");
    }
  }
  if (!plan_.restoring) {
    x_.problem("restore() dispatches " + restored.owner + " " + restored.name +
               "; the model found nothing to dispatch by");
    stopped_at_ = plan_.begin;
    return Stop::disagree;
  }
  const auto dispatch = [&] {
    const auto rep = x_.mgr_.restore_dispatch(restored);
    if (!rep)
      return x_.problem("the object refused the dispatch: " + rep.error().message());
    x_.note(rep.value());
    if (rep.value().cause == EntryReason::refused_by_owner)
      x_.expect_errno(rep.value().reason, EXFULL, "the refused dispatch");
  };
  if (plan_.deferred[mi]) {
    // The world restores it later (after entries of its owner that impl reaches after it):
    // taken now, judged when the world's order gets there.
    reported_[mi] = true;
    ahead_[mi] = true;
    dispatch();
    return Stop::none;
  }
  if (it.position < 0) {
    // The trace never dispatches this entry. If the model took an entry of the same owner that
    // comes after it in the model's own order (a later token), the model broke that order where
    // it took it: impl would have taken this one.
    const int fds = x_.b_.fds;
    for (std::size_t y = 0; y < plan_.items.size(); ++y) {
      const PlanItem& other = plan_.items[y];
      if (other.position >= 0 && other.owner == it.owner &&
          world_rank(plan_.items, y, fds) > world_rank(plan_.items, mi, fds)) {
        const State& there = x_.t_.states[static_cast<std::size_t>(other.position)];
        x_.problem("the model restores " + entry_text_of(there, other.world) +
                   " here, the implementation " + entry_text_of(there, it.world) +
                   " (the next in its mapping)");
        stopped_at_ = other.position;
        return Stop::disagree;
      }
    }
    // Impl reaches it before the trace's later ones.
    bool later = false;
    for (std::size_t k = q_; k < plan_.seq.size(); ++k) {
      const int mk =
          act(plan_.seq[k]).kind == ActionKind::dispatch ? item_at(plan_.items, plan_.seq[k]) : -1;
      later = later || mk > m;
    }
    if (later) {
      stopped_at_ = plan_.end;
      return plan_.terminal ? Stop::unreplayable : Stop::trace_ends;
    }
  }
  switch (catch_up(m)) {
    case CatchUp::reached:
      break;
    case CatchUp::disagree:
      return Stop::disagree;
    case CatchUp::segment_ends: {
      if (q_ >= plan_.seq.size()) {
        stopped_at_ = plan_.end;
        return Stop::trace_ends;
      }
      const int p = plan_.seq[q_];
      if (act(p).kind == ActionKind::agent_crash) {
        // Retrieved, and the manager dies holding it.
        stopped_at_ = p;
        reported_[mi] = true;
        x_.item_ledger(it) = Ledger{Entry::lost, Reason::agent_crashed};
        return Stop::crash;
      }
      x_.problem("restore() dispatches " + restored.owner + " " + restored.name +
                 " before FINISH; the model FINISHes with it not dispatched");
      stopped_at_ = p;
      return Stop::disagree;
    }
  }
  const int p = plan_.seq[q_];
  if (!check_choice(q_, m))
    return Stop::disagree;
  reported_[mi] = true;
  dispatch();
  ++q_;
  // Past the world's dispatches of entries impl already took; compare when none is pending.
  while (q_ < plan_.seq.size() && act(plan_.seq[q_]).kind == ActionKind::dispatch &&
         ahead_[static_cast<std::size_t>(item_at(plan_.items, plan_.seq[q_]))]) {
    if (!check_choice(q_, item_at(plan_.items, plan_.seq[q_])))
      return Stop::disagree;
    ++q_;
  }
  for (std::size_t k = 0; k < plan_.items.size(); ++k) {
    if (ahead_[k] && plan_.rpos[k] >= static_cast<int>(q_))
      return Stop::none;
  }
  const Projection mp = project_model(x_.w_, plan_.states[q_]);
  const Projection ip = x_.project_impl();
  auto diffs = differences(x_.b_, mp, ip);
  for (auto& s : x_.problems_)
    diffs.push_back(std::move(s));
  x_.problems_.clear();
  if (!diffs.empty()) {
    x_.disagree(p + 1, std::move(diffs), mp, ip);
    stopped_at_ = p;
    return Stop::disagree;
  }
  x_.result_.last_agreed = p + 1;
  ++x_.result_.compared;
  return Stop::none;
}

int Replayer::SegmentRun::run() {
  const int r = plan_.begin;
  x_.notes_ += plan_.note;
  arm_faults();
  // A crash before the first entry: the steps before it happen before the restore begins.
  if (plan_.crash && plan_.crash_after == 0) {
    while (q_ < plan_.seq.size() && plan_.seq[q_] != plan_.end) {
      x_.perform(act(plan_.seq[q_]), plan_.states[q_]);
      ++q_;
    }
  }
  const auto begun = x_.mgr_.restore_begin();
  if (!begun) {
    x_.port_.plan({});
    x_.problem("the manager cannot begin the restore: " + begun.error().message());
    x_.compare(r + 1, x_.t_.states[static_cast<std::size_t>(r + 1)]);
    return plan_.end;
  }
  Stop how = Stop::none;
  std::size_t retrieved = 0;
  while (how == Stop::none && x_.mgr_.restore_in_progress()) {
    if (plan_.crash && retrieved == plan_.crash_after) {
      // The manager dies before its next retrieve (or FINISH): the steps between the last
      // dispatch and the crash happen first.
      how = catch_up(-2) == CatchUp::disagree ? Stop::disagree : Stop::crash;
      stopped_at_ = how == Stop::crash ? plan_.end : stopped_at_;
      break;
    }
    auto step = x_.mgr_.restore_next();
    if (!step) {
      x_.problem("the object refused the next entry: " + step.error().message());
      stopped_at_ = r;
      how = Stop::disagree;
      break;
    }
    if (!step.value())
      break;  // every entry taken
    ++retrieved;
    if (step.value()->item)
      how = on_item(*step.value()->item);
  }
  x_.port_.plan({});
  return how == Stop::none ? finished() : stopped(how);
}

// The run stopped inside the object's restore.
int Replayer::SegmentRun::stopped(Stop how) {
  const int r = plan_.begin;
  if (how == Stop::crash) {
    // The steps before the crash that are still due (entries without an item failed their
    // retrieve), then what the manager held and had not dispatched.
    if (catch_up(-2) == CatchUp::disagree)
      return stopped(Stop::disagree);
    x_.manager_dies();
    for (std::size_t m = 0; m < plan_.items.size(); ++m) {
      if (!reported_[m])
        x_.item_ledger(plan_.items[m]) = Ledger{Entry::lost, Reason::agent_crashed};
    }
    x_.handed_.reset();
    x_.in_tokens_.clear();
    x_.compare(stopped_at_ + 1, x_.t_.states[static_cast<std::size_t>(plan_.end + 1)]);
    return plan_.end;
  }
  // Otherwise the restore ends as it would: FINISH.
  if (x_.mgr_.restore_in_progress())
    (void)x_.mgr_.restore_finish();
  if (x_.done_)
    return plan_.end;
  switch (how) {
    case Stop::unreplayable:
      x_.unreplayable(stopped_at_,
                      "impl's restore() dispatches in mapping order; the trace's restore ends "
                      "after a later entry of the mapping but before an earlier one");
      break;
    case Stop::disagree: {
      // What the run found; the implementation's state is described as the restore left it.
      auto diffs = std::move(x_.problems_);
      x_.problems_.clear();
      const auto& at = plan_.states[std::min(q_, plan_.states.size() - 1)];
      x_.disagree(stopped_at_ + 1, std::move(diffs), project_model(x_.w_, at), x_.project_impl(),
                  "\n  (after restore() was stopped)");
      break;
    }
    case Stop::trace_ends:
      x_.notes_ += "the trace ends inside a restore: compared up to its last dispatch\n";
      break;
    case Stop::none:
    case Stop::crash:
      break;
  }
  (void)r;
  return plan_.end;
}

// The object's restore ran to its end: FINISH, the rest of the segment, then its reports.
int Replayer::SegmentRun::finished() {
  const int r = plan_.begin;
  if (x_.mgr_.restore_in_progress()) {
    if (const auto done = x_.mgr_.restore_finish(); !done)
      x_.problem("the object refused FINISH: " + done.error().message());
  }
  const RestoreResult* rr = x_.mgr_.restore_result();
  if (rr == nullptr) {
    x_.problem("the object has no restore result after its restore");
    x_.compare(r + 1, x_.t_.states[static_cast<std::size_t>(r + 1)]);
    return plan_.end;
  }
  if (plan_.restoring && catch_up(-2) == CatchUp::disagree)
    return stopped(Stop::disagree);
  for (const auto& rep : rr->report) {
    const auto o = owner_of_id(rep.owner);
    Ledger* l = nullptr;
    if (auto k = label_of_name(rep.name); o && k)
      l = &x_.fd_[*o][*k];
    else if (auto j = session_of_name(rep.name))
      l = &x_.sess_[*j];
    if (l == nullptr || from_machine(rep.state) != Entry::lost)
      continue;
    if (rep.cause != EntryReason::retrieve_failed) {
      x_.problem("restore() lost " + rep.owner + " " + rep.name + " for '" + rep.reason + "' (" +
                 std::string(entry_reason_name(rep.cause)) + "), not a failed retrieve");
    }
    *l = Ledger{Entry::lost, Reason::retrieve_failed};
    for (const auto& it : plan_.items) {
      if (it.owner == o &&
          (it.session ? session_of_name(rep.name) : label_of_name(rep.name)) == it.label &&
          injected_at_.count(it.position) != 0)
        x_.expect_errno(rep.reason, injected_at_[it.position], rep.owner + " " + rep.name);
    }
  }
  if (begin_fault_ == 2 && rr->state == HandoffState::nothing) {
    // Nothing could be read: every entry of the mapping written at Stage B is lost with the
    // failure restore() reports.
    x_.expect_errno(rr->failure, injected_at_[r], "RETRIEVE_SESSION(\"systemd\")");
    for (const auto& it : plan_.items) {
      Ledger& l = x_.item_ledger(it);
      if (l.e == Entry::handed_over)
        l = Ledger{Entry::lost, Reason::retrieve_failed};
    }
  }
  if (!rr->failure.empty() && rr->state == HandoffState::finished) {
    // The mapping could not be used: every entry it would have named is lost (§5.3).
    if (injected_at_.count(r) != 0)
      x_.expect_errno(rr->failure, injected_at_[r], "the mapping's RETRIEVE_FD");
    for (const auto& it : plan_.items) {
      Ledger& l = x_.item_ledger(it);
      if (l.e == Entry::handed_over)
        l = Ledger{Entry::lost, Reason::mapping_unusable};
    }
  }
  if (plan_.crash)
    x_.manager_dies();  // the object's restore never began: the crash after it
  if (plan_.restoring && !plan_.terminal) {
    x_.notes_ += "the trace ends inside a restore: compared up to its last dispatch\n";
    return plan_.end;
  }
  x_.handed_.reset();
  // A RETRIEVE_SESSION that failed leaves "systemd" and its files in the kernel until the next
  // kexec drops them; every other end of the segment has finished it.
  if (begin_fault_ != 2)
    x_.in_tokens_.clear();
  x_.compare(plan_.end + 1, x_.t_.states[static_cast<std::size_t>(plan_.end + 1)]);
  return plan_.end;
}

int Replayer::restore_segment(int r) {
  auto planned = plan_restore(w_, t_, r, mapping_items());
  if (const auto* refused = std::get_if<PlanRefusal>(&planned)) {
    unreplayable(r, refused->why);
    return r;
  }
  SegmentRun run(*this, std::move(std::get<RestorePlan>(planned)));
  return run.run();
}

}  // namespace luo::proofs::replay_detail
