// The explicit-state search of checker.hpp: a breadth-first exploration into an exact visited
// set, the state and transition properties judged on the way, then the liveness pass over the
// stored graph. Two engines share everything but the exploration: the sequential one (one
// thread, one hash index) and the level-synchronous parallel one (a sharded index, each level's
// new states numbered afterwards in the sequential search's own order), so both store the same
// graph under the same numbers and report the same counterexamples. The visited sets are in
// checker_stores.hpp, the search's class in checker_search.hpp; the parallel exploration in
// checker_parallel.cpp, the liveness pass in checker_liveness.cpp; here the run's entry, the
// sequential exploration and the verdicts' notes.
#include "luo/proofs/checker.hpp"

#include <unistd.h>

#include "checker_search.hpp"

namespace luo::proofs {

std::string_view status_name(PropertyStatus s) {
  switch (s) {
    case PropertyStatus::holds:
      return "holds";
    case PropertyStatus::violated:
      return "VIOLATED";
    case PropertyStatus::not_checked:
      return "not checked";
  }
  return "?";
}

std::string_view stop_name(Stop s) {
  switch (s) {
    case Stop::none:
      return "none";
    case Stop::max_states:
      return "max-states";
    case Stop::max_memory:
      return "max-memory";
  }
  return "?";
}

unsigned default_jobs() {
  return std::max(1u, std::thread::hardware_concurrency());
}

std::uint64_t default_memory_cap() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0)
    return std::uint64_t{4} << 30;  // unknown: a cap a small machine still survives
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) / 2;
}

bool CheckResult::all_hold() const {
  return std::none_of(verdicts.begin(), verdicts.end(),
                      [](const Verdict& v) { return v.status == PropertyStatus::violated; });
}

const Verdict& CheckResult::verdict(PropertyId id) const {
  return verdicts[static_cast<std::size_t>(id)];
}

}  // namespace luo::proofs

namespace luo::proofs::search {

// The sequential search (jobs == 1).
template <class Store>
void Search<Store>::explore(Clock::time_point start) {
  std::array<std::uint64_t, kMaxWords> w{};
  const State init = world_.initial();
  encode(init, w.data());
  store_.reserve_for(1);
  store_.insert(w.data(), store_.hash(w.data()), kNone, 0);
  check_state(0, decode(0));
  if (opt_.symmetry)
    result_.represented += orbit_size(world_, decode(0));

  std::vector<World::Step> steps;
  std::vector<std::uint64_t> batch;
  std::vector<std::uint64_t> hashes;
  std::size_t level_end = 1;
  auto last_report = Clock::now();
  for (std::uint32_t i = 0; i < store_.size(); ++i) {
    if (i == level_end) {
      ++result_.depth;
      level_end = store_.size();
    }
    const State s = decode(i);
    world_.successors(s, steps);
    if (opt_.max_memory != 0 && store_.peak_after(steps.size()) > opt_.max_memory) {
      // Every state of this level and the one before was stored and checked.
      stop(Stop::max_memory);
      break;
    }
    result_.generated += steps.size();
    result_.transitions += steps.size();
    store_.reserve_for(steps.size());
    batch.resize(steps.size() * kMaxWords);
    hashes.resize(steps.size());
    for (std::size_t k = 0; k < steps.size(); ++k) {
      encode(steps[k].next, &batch[k * kMaxWords]);
      hashes[k] = store_.hash(&batch[k * kMaxWords]);
      store_.prefetch(hashes[k]);
    }
    for (std::size_t k = 0; k < steps.size(); ++k) {
      const auto& step = steps[k];
      if (Violations tv = step.violations & ~found_; tv != 0) {
        found_ |= tv;
        for (const auto& p : kProperties) {
          if ((tv & bit(p.id)) == 0)
            continue;
          Trace t = path_to(i);
          t.actions.push_back(step.action);
          t.states.push_back(step.next);
          violated(p.id, std::move(t));
        }
      }
      auto [index, added] = store_.insert(&batch[k * kMaxWords], hashes[k], i, pack(step.action));
      if (added) {
        check_state(index, step.next);
        if (opt_.symmetry)
          result_.represented += orbit_size(world_, codec_.decode(&batch[k * kMaxWords]));
      }
    }
    if (opt_.max_states != 0 && store_.size() >= opt_.max_states) {
      stop(Stop::max_states);
      break;
    }
    if (opt_.progress && (i & 0xFFF) == 0 &&
        Clock::now() - last_report > std::chrono::duration<double>(opt_.progress_seconds)) {
      last_report = Clock::now();
      report_progress(start, i, store_.size(), store_.memory());
    }
  }
  result_.complete_depth = result_.depth;
  result_.distinct = store_.size();
  if (!opt_.symmetry)
    result_.represented = result_.distinct;
}

template <class Store>
std::string Search<Store>::mib(std::uint64_t bytes) {
  return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

template <class Store>
void Search<Store>::finalize() {
  const Bounds& b = opt_.bounds;
  // The liveness pass alone may have been left out, after a search that covered everything.
  const bool searched_all = result_.complete || liveness_skipped_need_ != 0;
  result_.fixpoint = b.any_kexecs && searched_all;
  for (auto& v : result_.verdicts) {
    if (!wanted(v.id)) {
      v.status = PropertyStatus::not_checked;
      v.counterexample.reset();
      v.note = "not selected (--property)";
    } else if (v.id == PropertyId::eventually_delivered && v.status != PropertyStatus::violated) {
      if (opt_.symmetry) {
        v.status = PropertyStatus::not_checked;
        v.note = "liveness is checked only without symmetry reduction";
      } else if (!opt_.liveness) {
        v.status = PropertyStatus::not_checked;
        v.note = "liveness check disabled";
      } else if (liveness_skipped_need_ != 0) {
        v.status = PropertyStatus::not_checked;
        v.note = "the memory cap leaves no room for the liveness pass (it needs " +
                 mib(liveness_skipped_need_) + " more)";
      } else if (result_.stopped_by == Stop::max_states) {
        v.status = PropertyStatus::not_checked;
        v.note = "the state limit stopped the search";
      } else if (result_.stopped_by == Stop::max_memory) {
        v.status = PropertyStatus::not_checked;
        v.note = "the memory cap stopped the search";
      } else if (b.any_kexecs) {
        v.note = "for every fair run that kexecs finitely often";
      }
    } else if (v.status == PropertyStatus::holds && !searched_all) {
      v.note = "no violation among the states explored (search incomplete)";
    }
  }
  auto& nc = result_.not_covered;
  if (!b.any_kexecs)
    nc.push_back("only the bounds above: " + b.describe());
  else if (result_.fixpoint)
    nc.push_back(
        "for any number of kexecs (the search reached its fixpoint: every reachable state of "
        "the abstraction was stored), with at most " +
        std::to_string(b.faults) +
        " faults in each boot; only the other bounds above: " + b.describe());
  else
    nc.push_back(
        "NOT for any number of kexecs: the search stopped before its fixpoint, so the "
        "verdicts cover only the runs described below, not every number of kexecs; bounds: " +
        b.describe());
  if (b.any_kexecs)
    nc.push_back(
        "--any-kexecs abstracts what grows with kexecs: the boot is cold or later, faults are a "
        "budget per boot, the kexec counter is kept exactly up to " +
        std::to_string(world_.counter_cap() - 1) + " and as \"" +
        std::to_string(world_.counter_cap()) +
        " or more\" beyond, with whether it equals the mapping's; "
        "eventually_delivered covers the runs that kexec finitely often (an entry held for an "
        "owner that every boot shuts down before loading is carried forever) "
        "(docs/properties.md, \"Beyond the bounds\")");
  nc.push_back(
      "weak fairness is assumed for the manager's and the kernel's actions (load owner, "
      "daemon-reload, restore, dispatch, FINISH, Stage B, kexec, service start); services and "
      "faults are not assumed to act");
  if (opt_.symmetry)
    nc.push_back(
        "symmetry reduction over interchangeable fds and owners: safety verdicts are exact "
        "for the quotient; liveness is not checked under it");
  const std::string covered = "every state within " + std::to_string(result_.complete_depth) +
                              " steps of the initial state was checked, none beyond " +
                              std::to_string(result_.complete_depth + 1) +
                              " steps: verdicts cover only the states stored";
  if (result_.stopped_by == Stop::max_states)
    nc.push_back("the search stopped at " + std::to_string(result_.distinct) +
                 " states (--max-states): " + covered);
  else if (liveness_skipped_need_ != 0)
    nc.push_back("the memory cap (--max-memory " + mib(opt_.max_memory) +
                 ") left no room for the liveness pass: every state was checked for safety");
  else if (result_.stopped_by == Stop::max_memory)
    nc.push_back("the memory cap (--max-memory " + mib(opt_.max_memory) +
                 ") stopped the search at " + std::to_string(result_.distinct) +
                 " states: " + covered);
  nc.push_back(
      "abstractions: no fd names or datagrams, a service's own fd copies are not tracked, "
      "Stage B is one step, every crash is followed by a restart (docs/properties.md)");
}

}  // namespace luo::proofs::search

namespace luo::proofs {

CheckResult check(const CheckOptions& options) {
  const unsigned jobs = options.jobs == 0 ? default_jobs() : options.jobs;
  if (jobs == 1)
    return search::Search<search::StateStore>(options, 1).run();
  return search::Search<search::ShardedStore>(options, jobs).run();
}

}  // namespace luo::proofs