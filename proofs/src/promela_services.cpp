// The services' actions in Promela: each function mirrors the Stepper member of the same name in
// world_services.cpp, statement by statement, and returns the action's guard.
#include "promela_generator.hpp"

namespace luo::proofs::pml {

// ---- the actions: one function per ActionKind, mirroring Stepper ---------------------------
// Each writes the d_step's guard (the conditions under which Stepper returns true, evaluated
// before any change) and fills `t` with its effect.

std::string Generator::store(Text& t, int d) {
  const int o = w_.owner_of_fd(d);
  t.open("if");
  t.line(":: " + owner("zero", o) + " -> " + fd("e", d) + " = " + E(Entry::dropped) + "; " +
         fd("why", d) + " = " + R(Reason::store_full));
  t.line(":: else -> " + fd("e", d) + " = " + E(Entry::stored));
  t.close("fi;");
  return all_of({services_may_act(), owner("loaded", o), owner("alive", o),
                 fd("e", d) + " == " + E(Entry::unborn)});
}

std::string Generator::remove(Text& t, int d) {
  const int o = w_.owner_of_fd(d);
  entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::remove);
  t.line(fd("why", d) + " = " + R(Reason::removed) + ";");
  return all_of({services_may_act(), owner("alive", o), fd("e", d) + " == " + E(Entry::stored),
                 "!" + fd("foreign", d)});
}

std::string Generator::open_session(Text& t, int j) {
  const int o = w_.owner_of_session(j);
  t.line(sess("ss", j) + " = " + SS(Sess::outgoing) + "; " + sess("e", j) + " = " +
         E(Entry::unborn) + "; " + sess("why", j) + " = " + R(Reason::none) + ";");
  t.line(sess("svc", j) + " = 1; " + sess("mgr", j) + " = 0;");
  const std::string entry_free =
      "!" + manager_holds(sess("e", j)) + " && " + sess("e", j) + " != " + E(Entry::handed_over);
  return all_of({services_may_act(), owner("loaded", o), owner("alive", o),
                 sess("ss", j) + " == " + SS(Sess::none), entry_free});
}

std::string Generator::store_session(Text& t, int j) {
  const int o = w_.owner_of_session(j);
  const std::string js = std::to_string(j);
  t.open("if");
  t.line(":: " + owner("zero", o) + " -> set_session_entry(" + js + ", " + E(Entry::dropped) +
         ", " + R(Reason::store_full) + ")");
  t.line(":: else -> set_session_entry(" + js + ", " + E(Entry::stored) + ", " + R(Reason::none) +
         ")");
  t.close("fi;");
  return all_of({services_may_act(), owner("alive", o), sess("ss", j) + " == " + SS(Sess::outgoing),
                 sess("svc", j), sess("e", j) + " == " + E(Entry::unborn)});
}

std::string Generator::resume_session(Text& t, int j) {
  const int o = w_.owner_of_session(j);
  const std::string js = std::to_string(j);
  const auto fin = selector(kIncomingSessionMachine, &IS, IncomingSessionEvent::finish, false);
  t.line(fin + "(" + IS(IncomingSessionState::retrieved) + ", t_to);");
  t.line("if :: t_to == " + IS(IncomingSessionState::finished) + " -> " + sess("ss", j) + " = " +
         SS(Sess::finished) + " :: else -> skip fi;");
  entry_step(t, "t_e", sess("e", j), FdEntryEvent::remove);
  t.line("set_session_entry(" + js + ", t_e, " + R(Reason::removed) + ");");
  t.line("release_if_unheld(" + js + ");");
  return all_of({services_may_act(), owner("alive", o), sess("e", j) + " == " + E(Entry::stored),
                 sess("ss", j) + " == " + SS(Sess::retrieved)});
}

std::string Generator::hijack(Text& t) {
  t.line("hj = " + HJ(Hijack::stored) + ";");
  return all_of({services_may_act(), owner("loaded", 0), owner("alive", 0),
                 "hj == " + HJ(Hijack::none), "!" + owner("zero", 0)});
}

std::string Generator::crash(Text& t, int o) {
  t.line("faults = faults + 1;");
  t.line("service_gone_" + std::to_string(o) + "(" + E(Entry::abandoned) + ");");
  for (int d : fds_of(o)) {
    t.line("if :: " + fd("e", d) + " == " + E(Entry::abandoned) + " && " + fd("why", d) +
           " == " + R(Reason::none) + " -> " + fd("why", d) + " = " + R(Reason::owner_crashed) +
           " :: else -> skip fi;");
  }
  return all_of({crash_ok(), "out == " + HS(HandoffState::running), owner("alive", o)});
}

std::string Generator::start(Text& t, int o) {
  t.line(owner("alive", o) + " = 1;");
  return all_of({services_may_act(), owner("loaded", o), "!" + owner("alive", o)});
}

}  // namespace luo::proofs::pml
