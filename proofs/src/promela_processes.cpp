// The action instances of World::successors() as Promela processes: one d_step each, grouped by
// weak-fairness class (one active proctype per fair class, env for the rest), and the ltl claims.
#include "promela_generator.hpp"

namespace luo::proofs::pml {

// World::successors()'s instances, in its order; those that can never be enabled under the
// bounds (a fault with no faults allowed, a feature turned off) are left out.
std::vector<Generator::Instance> Generator::instances() {
  std::vector<Instance> v;
  using K = ActionKind;
  const auto add = [&](Action a, auto&& emit) {
    Instance in{a, "", {}};
    in.guard = emit(in.effect);
    v.push_back(std::move(in));
  };
  const auto u = [](int x) { return static_cast<std::uint8_t>(x); };
  for (int d = 0; d < fds(); ++d) {
    add({K::store, u(d), 0}, [&](Text& t) { return store(t, d); });
    add({K::remove, u(d), 0}, [&](Text& t) { return remove(t, d); });
  }
  for (int j = 0; j < sessions(); ++j) {
    add({K::open_session, u(j), 0}, [&](Text& t) { return open_session(t, j); });
    add({K::store_session, u(j), 0}, [&](Text& t) { return store_session(t, j); });
    add({K::resume_session, u(j), 0}, [&](Text& t) { return resume_session(t, j); });
  }
  if (b_.hijack)
    add({K::hijack, 0, 0}, [&](Text& t) { return hijack(t); });
  for (int o = 0; o < b_.owners; ++o) {
    if (crashes())
      add({K::crash, u(o), 0}, [&](Text& t) { return crash(t, o); });
    add({K::start, u(o), 0}, [&](Text& t) { return start(t, o); });
    if (b_.late_owners) {
      add({K::load_owner, u(o), 0}, [&](Text& t) { return load_owner(t, o, false); });
      add({K::load_owner, u(o), 1}, [&](Text& t) { return load_owner(t, o, true); });
    }
  }
  add({K::reload, 0, 0}, [&](Text& t) { return reload(t); });
  for (int f = 0; f <= 2; ++f) {
    if (f == 0 || errnos())
      add({K::restore_begin, 0, static_cast<std::uint8_t>(f)},
          [&, f](Text& t) { return restore_begin(t, f); });
  }
  for (int o = 0; o < b_.owners; ++o) {
    add({K::dispatch, u(o), 0}, [&](Text& t) { return dispatch(t, o, false); });
    if (errnos())
      add({K::dispatch, u(o), 1}, [&](Text& t) { return dispatch(t, o, true); });
  }
  add({K::finish, 0, 0}, [&](Text& t) { return finish(t); });
  if (crashes())
    add({K::agent_crash, 0, 0}, [&](Text& t) { return agent_crash(t); });
  add({K::stage_a, 0, 0}, [&](Text& t) { return stage_a(t); });
  for (int f = 0; f <= fds() + 1; ++f) {
    if (f == 0 || errnos())
      add({K::stage_b, u(f), 0}, [&](Text& t) { return stage_b(t, f, false); });
  }
  if (errnos())
    add({K::stage_b, 0, 1}, [&](Text& t) { return stage_b(t, 0, true); });
  for (int f = 0; f <= fds() + 1 + sessions(); ++f) {
    if (f == 0 || errnos())
      add({K::kexec, u(f), 0}, [&](Text& t) { return kexec(t, f); });
  }
  return v;
}

Text Generator::processes() {
  std::vector<Instance> all = instances();
  // Weak fairness in SPIN (pan -f) is per process: one process per fairness class of the
  // checker, and env for the actions no fairness is assumed for.
  std::map<int, std::vector<const Instance*>> fair;
  std::vector<const Instance*> env;
  std::vector<std::string> fair_guards;
  for (const auto& in : all) {
    if (World::is_fair(in.action.kind)) {
      fair[w_.fairness_class(in.action)].push_back(&in);
      fair_guards.push_back(in.guard);
    } else {
      env.push_back(&in);
    }
  }
  std::map<ActionKind, int> classes_of_kind;
  for (const auto& [cls, ins] : fair)
    ++classes_of_kind[ins.front()->action.kind];

  Text t;
  const auto body = [&](const Instance& in) {
    t.open(":: d_step {  /* " + w_.describe(in.action) + " */");
    t.line(in.guard);
    t.line("->");
    t.append(in.effect);
    t.line("normalize();");
    t.line("check_state()");
    t.close("}");
  };
  t.line("");
  t.line("/* The services, crashes and Stage A: no fairness assumed. `idle` keeps pan -f from");
  t.line("   assuming it either: it lets env take a step that changes nothing whenever a fair");
  t.line("   action is enabled, so a run that never takes env's actions is still fair to env,");
  t.line("   and it is disabled where nothing fair is enabled, so that a state where only env");
  t.line("   can move must move, as in the checker. It adds no state, only a self-loop. */");
  t.open("active proctype env() {");
  t.line("end:");
  t.open("do");
  for (const Instance* in : env)
    body(*in);
  t.line(":: d_step {  /* idle */ " + any_of(fair_guards) + " -> skip }");
  t.close("od");
  t.close("}");
  for (const auto& [cls, ins] : fair) {
    const Action& a = ins.front()->action;
    std::string name(action_kind_name(a.kind));
    if (classes_of_kind[a.kind] > 1)
      name += "_" + std::to_string(cls % 16);
    t.line("");
    t.open("active proctype " + name + "() {");
    t.line("end:");
    t.open("do");
    for (const Instance* in : ins)
      body(*in);
    t.close("od");
    t.close("}");
  }
  return t;
}

void Generator::ltl(Text& t) const {
  t.line("");
  t.line("/* The safety run's claim: it never accepts and never blocks, so the product with it is");
  t.line("   the plain state graph (pan -N safety, without -a; first, so also pan's default). It");
  t.line("   lets one pan build, compiled without -DSAFETY, answer the safety properties exactly");
  t.line("   and the liveness claims below; a -DSAFETY -DNOCLAIM build needs no claim at all. */");
  t.line("ltl safety { [] true }");
  if (!wanted(PropertyId::eventually_delivered))
    return;
  t.line("");
  t.line("/* eventually_delivered, one claim per entry (pan -a -f -N <name>). */");
  for (int k = 0; k < fds() + sessions(); ++k) {
    const std::string p = "pending_" + std::to_string(k);
    t.line("ltl " + promela_claim_name(w_, k) + " { [] (" + p + " -> <> !" + p + ") }");
  }
}

}  // namespace luo::proofs::pml
