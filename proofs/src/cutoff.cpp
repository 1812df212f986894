// The cutoff for any number of owners and fds: witness shapes, projections, the locality check
// and the mode that combines them with check() (docs/properties.md, "Any number of owners and
// fds").
#include "luo/proofs/cutoff.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "luo/proofs/encoding.hpp"

namespace luo::proofs {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string size_name(const WitnessShape& s) {
  return std::to_string(s.owners) + " owners x " + std::to_string(s.fds) + " fds";
}

// States are compared with the faults used left out: a projection drops the dropped owner's
// faults, so the smaller run may have used fewer (and a budget with more left allows more).
bool same_but_faults(State a, State b) {
  a.faults = 0;
  b.faults = 0;
  return a == b;
}

// The visited set: the states' packed words in one array, an index of positions into it.
class Visited {
 public:
  explicit Visited(const Bounds& b)
      : codec_(b), words_(codec_.words()), index_(1024, Hash{this}, Eq{this}) {}

  // The state's number, and whether it is new.
  std::pair<std::uint32_t, bool> insert(const State& s) {
    const auto at = words_ * count_;
    store_.resize(at + words_);
    codec_.encode(s, store_.data() + at);
    const auto n = static_cast<std::uint32_t>(count_);
    auto [it, fresh] = index_.insert(n);
    if (!fresh) {
      store_.resize(at);
      return {*it, false};
    }
    ++count_;
    return {n, true};
  }
  State at(std::uint32_t n) const { return codec_.decode(store_.data() + words_ * n); }
  std::size_t size() const { return count_; }
  std::size_t bytes() const {
    return store_.capacity() * sizeof(std::uint64_t) + index_.bucket_count() * sizeof(void*) +
           index_.size() * (sizeof(std::uint32_t) + 2 * sizeof(void*));
  }

 private:
  struct Hash {
    const Visited* v;
    std::size_t operator()(std::uint32_t n) const {
      std::uint64_t h = 0x9e3779b97f4a7c15ULL;
      const std::uint64_t* w = v->store_.data() + v->words_ * n;
      for (int i = 0; i < v->words_; ++i)
        h = (h ^ w[i]) * 0xff51afd7ed558ccdULL;
      return static_cast<std::size_t>(h ^ (h >> 29));
    }
  };
  struct Eq {
    const Visited* v;
    bool operator()(std::uint32_t a, std::uint32_t b) const {
      return std::equal(v->store_.data() + v->words_ * a, v->store_.data() + v->words_ * (a + 1),
                        v->store_.data() + v->words_ * b);
    }
  };
  Codec codec_;
  int words_;
  std::vector<std::uint64_t> store_;
  std::size_t count_ = 0;
  std::unordered_set<std::uint32_t, Hash, Eq> index_;
};

}  // namespace

std::string_view dimension_name(Dimension d) {
  return d == Dimension::owners ? "owners" : "fds";
}

// The shapes, argued from properties.cpp and the violate() calls of world.cpp
// (docs/properties.md has the argument per property).
const std::vector<Witness>& witnesses() {
  static const std::vector<Witness> w = {
      {PropertyId::no_silent_loss,
       {{1, 1}},
       "one entry's ledger state and kernel file, and the pipelines"},
      {PropertyId::losses_have_legitimate_reasons, {{1, 1}}, "one ended entry's reason"},
      {PropertyId::delivered_to_owner,
       {{2, 1}, {1, 2}},
       "the dispatched entry, the file its token finds (another owner's or its own) and the "
       "owner it goes to"},
      {PropertyId::mapping_matches_session,
       {{1, 1}},
       "one entry's ledger state, kernel file and its two tokens, and the pipeline"},
      {PropertyId::token0_is_mapping,
       {{1, 1}},
       "one file's token, and the mapping and \"systemd\""},
      {PropertyId::systemd_session_is_managers, {{1, 0}}, "the hijack (owner 0) and \"systemd\""},
      {PropertyId::third_party_survives_iff_held_outgoing,
       {{1, 0}},
       "the VMM session (owner 0's) and who holds it"},
      {PropertyId::restore_in_preservation_order,
       {{1, 2}},
       "two entries of one owner and their tokens"},
      {PropertyId::finish_once_after_dispatch,
       {{1, 1}},
       "one entry still in the mapping, and the restore pipeline"},
      {PropertyId::kexec_count_carried, {{1, 0}}, "the counters and the restore pipeline"},
  };
  return w;
}

std::optional<Witness> witness(PropertyId id) {
  for (const auto& w : witnesses()) {
    if (w.id == id)
      return w;
  }
  return std::nullopt;
}

int kept_owners(const Bounds& b) {
  return b.hijack || b.sessions > 0 ? 1 : 0;
}

std::vector<WitnessShape> cutoff_sizes(const Bounds& b) {
  std::vector<WitnessShape> out;
  const auto add = [&](int n, int m) {
    for (const auto& s : out) {
      if (s.owners == n && s.fds == m)
        return;
    }
    out.push_back({n, m});
  };
  for (const auto& w : witnesses()) {
    for (const auto& shape : w.shapes) {
      // Owner 0 is kept by every projection; the witness's owners may or may not include it.
      const int most = std::max(1, shape.owners + kept_owners(b));
      for (int n = 1; n <= most; ++n) {
        for (int m = 0; m <= shape.fds; ++m)
          add(n, m);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const WitnessShape& x, const WitnessShape& y) {
    return x.owners != y.owners ? x.owners < y.owners : x.fds < y.fds;
  });
  return out;
}

Bounds smaller(const Bounds& b, Dimension dim) {
  Bounds s = b;
  if (dim == Dimension::owners)
    --s.owners;
  else
    --s.fds;
  return s;
}

void renumber_tokens(const World& w, State& s) {
  std::vector<std::uint8_t> used;
  for (int d = 0; d < w.fd_count(); ++d) {
    if (s.fd[d].kf != KFile::none && s.fd[d].kt != 0)
      used.push_back(s.fd[d].kt);
    if (s.fd[d].mt != 0)
      used.push_back(s.fd[d].mt);
  }
  if (s.map_kf != KFile::none && s.map_kt != 0)
    used.push_back(s.map_kt);
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  const auto rank = [&](std::uint8_t t) -> std::uint8_t {
    if (t == 0)
      return 0;
    return static_cast<std::uint8_t>(std::lower_bound(used.begin(), used.end(), t) - used.begin() +
                                     1);
  };
  for (int d = 0; d < w.fd_count(); ++d) {
    s.fd[d].kt = rank(s.fd[d].kt);
    s.fd[d].mt = rank(s.fd[d].mt);
  }
  s.map_kt = rank(s.map_kt);
}

State project(const World& big, const State& s, Dimension dim, int index) {
  const Bounds& b = big.bounds();
  State t = s;
  t.fd.fill(FdSlot{});
  if (dim == Dimension::owners) {
    t.owner.fill(OwnerSlot{});
    for (int o = 0, n = 0; o < b.owners; ++o) {
      if (o == index)
        continue;
      t.owner[n] = s.owner[o];
      for (int i = 0; i < b.fds; ++i)
        t.fd[n * b.fds + i] = s.fd[o * b.fds + i];
      ++n;
    }
  } else {
    for (int o = 0; o < b.owners; ++o) {
      for (int i = 0, k = 0; i < b.fds; ++i) {
        if (i == index)
          continue;
        t.fd[o * (b.fds - 1) + k] = s.fd[o * b.fds + i];
        ++k;
      }
    }
  }
  renumber_tokens(World(smaller(b, dim)), t);
  return t;
}

LocalityResult check_locality(const LocalityOptions& opt) {
  const auto t0 = Clock::now();
  LocalityResult r;
  r.bounds = opt.bounds;
  r.dim = opt.dim;
  const World big(opt.bounds);
  const World small(smaller(opt.bounds, opt.dim));
  const int first = opt.dim == Dimension::owners ? kept_owners(opt.bounds) : 0;
  const int count = opt.dim == Dimension::owners ? opt.bounds.owners : opt.bounds.fds;

  Visited visited(opt.bounds);
  std::vector<std::pair<std::uint32_t, Action>> parent;
  visited.insert(big.initial());
  parent.push_back({0, Action{}});

  const auto fail = [&](std::uint32_t at, const Action& a, std::string assumption,
                        std::string detail) {
    r.holds = false;
    r.assumption = std::move(assumption);
    r.detail = std::move(detail);
    Trace tr;
    std::vector<std::uint32_t> path;
    for (std::uint32_t n = at; n != 0; n = parent[n].first)
      path.push_back(n);
    tr.states.push_back(visited.at(0));
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      tr.actions.push_back(parent[*it].second);
      tr.states.push_back(visited.at(*it));
    }
    if (auto next = big.apply(tr.states.back(), a)) {
      tr.actions.push_back(a);
      tr.states.push_back(*next);
    }
    r.witness = std::move(tr);
  };

  for (int i = first; i < count; ++i) {
    State p = project(big, big.initial(), opt.dim, i);
    if (!(p == small.initial())) {
      fail(0, Action{}, "the initial state projects to the smaller world's",
           "dropping " + std::string(dimension_name(opt.dim)) + " index " + std::to_string(i) +
               ": " + describe_state(small, p) + " is not " +
               describe_state(small, small.initial()));
      r.seconds = since(t0);
      return r;
    }
  }

  std::vector<World::Step> steps, fewer, below;
  auto last_progress = Clock::now();
  for (std::uint32_t n = 0; n < visited.size(); ++n) {
    const State s = visited.at(n);
    big.successors(s, steps);
    // Faults are a budget: with one fewer used, every step is still there, the same but for
    // the count.
    if (s.faults > 0) {
      State f = s;
      --f.faults;
      big.successors(f, fewer);
      for (const auto& st : steps) {
        const auto it = std::find_if(fewer.begin(), fewer.end(), [&](const World::Step& x) {
          return x.action == st.action && same_but_faults(x.next, st.next);
        });
        if (it == fewer.end()) {
          fail(n, st.action, "faults are a budget",
               "with one fault fewer used, '" + big.describe(st.action) +
                   "' is not the same step from " + describe_state(big, s));
          r.seconds = since(t0);
          r.states = visited.size();
          return r;
        }
      }
    }
    for (int i = first; i < count; ++i) {
      ++r.projections;
      const State p = project(big, s, opt.dim, i);
      small.successors(p, below);
      for (auto& x : below)
        renumber_tokens(small, x.next);
      for (const auto& st : steps) {
        const State q = project(big, st.next, opt.dim, i);
        const auto matches = [&](const State& x) {
          return same_but_faults(x, q) && x.faults <= q.faults;
        };
        bool ok = matches(p);
        for (std::size_t k = 0; !ok && k < below.size(); ++k)
          ok = matches(below[k].next);
        if (!ok) {
          fail(n, st.action, "dropping an owner or an fd commutes with every step",
               "without " + std::string(opt.dim == Dimension::owners ? "owner " : "fd ") +
                   std::to_string(i) + (opt.dim == Dimension::fds ? " of every owner" : "") +
                   ", '" + big.describe(st.action) + "' leads to " + describe_state(small, q) +
                   ", which no step of the smaller world reaches from " + describe_state(small, p));
          r.seconds = since(t0);
          r.states = visited.size();
          return r;
        }
      }
    }
    for (const auto& st : steps) {
      ++r.steps;
      if (visited.insert(st.next).second)
        parent.push_back({n, st.action});
    }
    if (opt.max_states != 0 && visited.size() >= opt.max_states && n + 1 < visited.size()) {
      r.complete = false;
      break;
    }
    if (opt.progress && since(last_progress) >= opt.progress_seconds) {
      last_progress = Clock::now();
      opt.progress("locality (" + std::string(dimension_name(opt.dim)) + ", " +
                   opt.bounds.describe() + "): " + std::to_string(n) + " of " +
                   std::to_string(visited.size()) + " states checked");
    }
  }
  r.states = visited.size();
  r.memory_bytes = visited.bytes() + parent.capacity() * sizeof(parent[0]);
  r.seconds = since(t0);
  return r;
}

std::string any_owners_refusal(const Bounds& b) {
  if (b.any_kexecs)
    return "--any-owners and --any-kexecs are separate modes (the cutoff is argued for the "
           "bounded world)";
  if (b.sessions > 1)
    return "--any-owners needs at most one VMM session (owner 0's): with more, a projection "
           "that drops an owner moves the other owners' sessions";
  return "";
}

std::vector<LocalityOptions> locality_runs(const Bounds& b) {
  std::vector<LocalityOptions> out;
  // The induction drops owners from one more than the largest cutoff size (kept + 2) on: from
  // kept + 2 at the bounds' own kexecs and faults, and from kept + 3 (the first step the
  // induction takes) at one kexec without faults, one fd each (4 owners x 1 fd at the default
  // bounds' kexecs and faults is some 40 million states).
  LocalityOptions owners;
  owners.bounds = b;
  owners.bounds.owners = kept_owners(b) + 2;
  owners.bounds.fds = 1;
  owners.dim = Dimension::owners;
  out.push_back(owners);
  owners.bounds.owners = kept_owners(b) + 3;
  owners.bounds.kexecs = std::min(b.kexecs, 1);
  owners.bounds.faults = 0;
  out.push_back(owners);
  // And with two fds each, so that tokens interleave within and across owners.
  owners.bounds.owners = kept_owners(b) + 2;
  owners.bounds.fds = 2;
  out.push_back(owners);
  // Dropping an fd: three fds each (one more than the largest cutoff size), one owner at the
  // bounds' own kexecs and faults, two owners at one kexec without faults (the full two-owner
  // world is some 30 million states).
  LocalityOptions one;
  one.bounds = b;
  one.bounds.owners = 1;
  one.bounds.fds = 3;
  one.dim = Dimension::fds;
  out.push_back(one);
  LocalityOptions two = one;
  two.bounds.owners = 2;
  two.bounds.kexecs = std::min(b.kexecs, 1);
  two.bounds.faults = 0;
  out.push_back(two);
  return out;
}

bool AnyOwnersResult::complete() const {
  return std::ranges::all_of(runs, [](const SizeRun& run) { return run.result.complete; }) &&
         std::ranges::all_of(locality, &LocalityResult::complete);
}

bool AnyOwnersResult::all_hold() const {
  return std::ranges::all_of(runs, [](const SizeRun& run) { return run.result.all_hold(); }) &&
         std::ranges::all_of(locality, &LocalityResult::holds);
}

bool AnyOwnersResult::any_for_all() const {
  return std::ranges::none_of(claims, [](const OwnerClaim& c) { return witness(c.id) && !c.any; });
}

AnyOwnersResult check_any_owners(const AnyOwnersOptions& opt) {
  const auto t0 = Clock::now();
  AnyOwnersResult r;
  r.bounds = opt.bounds;
  for (const auto& size : cutoff_sizes(opt.bounds)) {
    CheckOptions c;
    c.bounds = opt.bounds;
    c.bounds.owners = size.owners;
    c.bounds.fds = size.fds;
    c.liveness = false;
    c.max_states = opt.max_states;
    c.max_memory = opt.max_memory;
    c.jobs = opt.jobs;
    c.progress = opt.progress;
    r.runs.push_back({size, check(c)});
  }
  for (auto l : locality_runs(opt.bounds)) {
    l.max_states = opt.max_states;
    l.progress = opt.progress;
    r.locality.push_back(check_locality(l));
  }
  std::string premise;
  for (const auto& l : r.locality) {
    if (premise.empty() && !l.holds)
      premise = "the premise '" + l.assumption + "' fails (from " +
                std::to_string(l.bounds.owners) + " owners x " + std::to_string(l.bounds.fds) +
                " fds)";
    if (premise.empty() && !l.complete)
      premise = "the locality check stopped at a limit (from " + std::to_string(l.bounds.owners) +
                " owners x " + std::to_string(l.bounds.fds) + " fds)";
  }
  for (const auto& p : kProperties) {
    OwnerClaim claim{p.id, false, ""};
    const auto w = witness(p.id);
    if (!w) {
      claim.why =
          "liveness: dropping an owner does not keep a run fair (a dropped owner's "
          "pending entry can keep FINISH or Stage B disabled, which the smaller world "
          "must then take), so no cutoff is argued; checked only within the bounds";
    } else if (!premise.empty()) {
      claim.why = premise;
    } else {
      for (const auto& run : r.runs) {
        const auto& v = run.result.verdict(p.id);
        if (v.status == PropertyStatus::violated) {
          claim.why = "violated at " + size_name(run.size);
          break;
        }
        if (!run.result.complete) {
          claim.why = "the run at " + size_name(run.size) + " stopped at a limit";
          break;
        }
      }
      claim.any = claim.why.empty();
    }
    r.claims.push_back(claim);
  }
  r.seconds = since(t0);
  return r;
}

std::string to_text(const AnyOwnersResult& r) {
  std::string out =
      "any number of owners and fds: the cutoff (docs/properties.md, \"Any number "
      "of owners and fds\")\nother bounds: " +
      r.bounds.describe() + "\n\ncutoff sizes (safety properties):\n";
  char line[256];
  for (const auto& run : r.runs) {
    const auto& c = run.result;
    std::snprintf(line, sizeof line, "  %d owners x %d fds: %llu states, %.2f s, %s\n",
                  run.size.owners, run.size.fds, static_cast<unsigned long long>(c.distinct),
                  c.seconds,
                  !c.all_hold() ? "VIOLATED"
                  : c.complete  ? "every property holds"
                                : "INCOMPLETE");
    out += line;
  }
  out += "\nlocality (dropping an owner or an fd commutes with every step; faults are a budget):\n";
  for (const auto& l : r.locality) {
    std::snprintf(line, sizeof line, "  drop one of the %s, from %s: %llu states, %.2f s, ",
                  std::string(dimension_name(l.dim)).c_str(), l.bounds.describe().c_str(),
                  static_cast<unsigned long long>(l.states), l.seconds);
    out += line;
    out += !l.holds     ? "FAILS: " + l.assumption + ": " + l.detail + "\n"
           : l.complete ? std::string("holds\n")
                        : std::string("INCOMPLETE (state limit)\n");
  }
  out += "\n";
  for (const auto& c : r.claims) {
    std::snprintf(line, sizeof line, "%-40s ", std::string(property(c.id).name).c_str());
    out += line;
    out += c.any ? "holds for any number of owners and fds\n"
                 : "NOT for any number of owners and fds: " + c.why + "\n";
  }
  for (const auto& run : r.runs) {
    if (run.result.all_hold())
      continue;
    out += "\nat " + size_name(run.size) + ":\n" + to_text(World(run.result.bounds), run.result);
  }
  for (const auto& l : r.locality) {
    if (l.holds || !l.witness)
      continue;
    const World w(l.bounds);
    out += "\nthe run to the step no projection matches (" + l.bounds.describe() + "):\n";
    out += "  0. initial: " + describe_state(w, l.witness->states[0]) + "\n";
    for (std::size_t i = 0; i < l.witness->actions.size(); ++i)
      out += "  " + std::to_string(i + 1) + ". " + w.describe(l.witness->actions[i]) + "\n";
  }
  std::snprintf(line, sizeof line, "\ntime: %.2f s\n", r.seconds);
  out += line;
  return out;
}

std::string to_json(const AnyOwnersResult& r) {
  nlohmann::ordered_json j;
  j["anyOwners"] = true;
  j["allHold"] = r.all_hold();
  j["complete"] = r.complete();
  j["anyOwnersForEverySafetyProperty"] = r.any_for_all();
  auto runs = nlohmann::ordered_json::array();
  for (const auto& run : r.runs) {
    runs.push_back(
        {{"owners", run.size.owners},
         {"fds", run.size.fds},
         {"result", nlohmann::ordered_json::parse(to_json(World(run.result.bounds), run.result))}});
  }
  j["runs"] = runs;
  auto loc = nlohmann::ordered_json::array();
  for (const auto& l : r.locality) {
    nlohmann::ordered_json o{{"drop", dimension_name(l.dim)},
                             {"bounds", l.bounds.describe()},
                             {"owners", l.bounds.owners},
                             {"fds", l.bounds.fds},
                             {"holds", l.holds},
                             {"complete", l.complete},
                             {"states", l.states},
                             {"seconds", l.seconds}};
    if (!l.holds) {
      o["assumption"] = l.assumption;
      o["detail"] = l.detail;
    }
    loc.push_back(o);
  }
  j["locality"] = loc;
  auto claims = nlohmann::ordered_json::array();
  for (const auto& c : r.claims) {
    nlohmann::ordered_json o{{"property", property(c.id).name}, {"anyOwnersAndFds", c.any}};
    if (!c.any)
      o["why"] = c.why;
    claims.push_back(o);
  }
  j["claims"] = claims;
  j["seconds"] = r.seconds;
  return j.dump(2);
}

}  // namespace luo::proofs
