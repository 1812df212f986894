// The action instances of World::successors() as Promela processes: one d_step each, grouped by
// weak-fairness class (one active proctype per fair class, env for the rest), and the ltl claims.
#include "promela_generator.hpp"

namespace luo::proofs::pml {

// Each action instance of the world (World::instances(), the enumeration successors() takes
// them from, in its order) with its guard and effect.
std::vector<Generator::Instance> Generator::instances() {
  std::vector<Instance> v;
  for (const Action& a : w_.instances()) {
    Instance in{a, "", {}};
    in.guard = emit(in.effect, a);
    v.push_back(std::move(in));
  }
  return v;
}

// The emitting function of the action's kind (promela_services.cpp, promela_restore.cpp,
// promela_shutdown.cpp): writes the effect, returns the guard.
std::string Generator::emit(Text& t, const Action& a) {
  switch (a.kind) {
    case ActionKind::store:
      return store(t, a.a);
    case ActionKind::remove:
      return remove(t, a.a);
    case ActionKind::open_session:
      return open_session(t, a.a);
    case ActionKind::store_session:
      return store_session(t, a.a);
    case ActionKind::resume_session:
      return resume_session(t, a.a);
    case ActionKind::hijack:
      return hijack(t);
    case ActionKind::crash:
      return crash(t, a.a);
    case ActionKind::start:
      return start(t, a.a);
    case ActionKind::load_owner:
      return load_owner(t, a.a, a.b != 0);
    case ActionKind::reload:
      return reload(t);
    case ActionKind::restore_begin:
      return restore_begin(t, a.b);
    case ActionKind::dispatch:
      return dispatch(t, a.a, a.b != 0);
    case ActionKind::finish:
      return finish(t);
    case ActionKind::agent_crash:
      return agent_crash(t);
    case ActionKind::stage_a:
      return stage_a(t);
    case ActionKind::stage_b:
      return stage_b(t, a.a, a.b != 0);
    case ActionKind::kexec:
      return kexec(t, a.a);
  }
  return "0";
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
