// Owners, daemon-reload and the boot restore in Promela: each function mirrors the Stepper member
// of the same name in world_restore.cpp, statement by statement, and returns the action's guard.
#include "promela_generator.hpp"

namespace luo::proofs::pml {

std::string Generator::load_owner(Text& t, int o, bool zero) {
  t.line(owner("loaded", o) + " = 1;");
  t.line(owner("zero", o) + " = " + (zero ? "1" : "0") + ";");
  t.line("retry_held_" + std::to_string(o) + "();");
  return all_of({"out == " + HS(HandoffState::running), "!" + owner("loaded", o)});
}

std::string Generator::reload(Text& t) {
  // The initial state has out == running, so reload is enabled in it: checking the state
  // before the step covers the initial state without a step of its own (which would add a
  // state to SPIN's count).
  t.line("check_state();  /* the state before: covers the initial state */");
  for (int d = 0; d < fds(); ++d) {
    t.when(is_one_of(fd("e", d), {E(Entry::stored), E(Entry::held)}),
           [&] { entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::reload); });
  }
  for (int o = 0; o < b_.owners; ++o)
    t.line("if :: " + owner("loaded", o) + " -> retry_held_" + std::to_string(o) +
           "() :: else -> skip fi;");
  return "out == " + HS(HandoffState::running);
}

std::string Generator::any_handed_over() const {
  std::vector<std::string> parts;
  for (int d = 0; d < fds(); ++d)
    parts.push_back(fd("e", d) + " == " + E(Entry::handed_over));
  for (int j = 0; j < sessions(); ++j)
    parts.push_back(sess("e", j) + " == " + E(Entry::handed_over));
  return any_of(parts);
}

// Every handed-over entry ends for `why` (Stepper::handed_over_lost).
void Generator::handed_over_lost(Text& t, const FactList& f, Reason why) {
  for (int d = 0; d < fds(); ++d) {
    t.when(fd("e", d) + " == " + E(Entry::handed_over), [&] {
      entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::restore, f);
      t.line(fd("why", d) + " = " + R(why) + ";");
    });
  }
  for (int j = 0; j < sessions(); ++j) {
    t.when(sess("e", j) + " == " + E(Entry::handed_over), [&] {
      entry_step(t, "t_e", E(Entry::handed_over), FdEntryEvent::restore, f);
      t.line("set_session_entry(" + std::to_string(j) + ", t_e, " + R(why) + ");");
    });
  }
}

// fault: 0 none, 1 RETRIEVE_FD of token 0 fails, 2 RETRIEVE_SESSION("systemd") itself fails.
std::string Generator::restore_begin(Text& t, int fault) {
  std::vector<std::string> g{"boot != 0", "rst == " + HS(HandoffState::running),
                             "out == " + HS(HandoffState::running)};
  if (fault != 0) {
    g.push_back(errno_ok());
    g.push_back("sys == " + SS(Sess::incoming));  // else Stepper returns fault == 0
  }
  if (fault == 2) {
    t.line("faults = faults + 1;");
    const FactList f{{Guard::retrieve_fails, "1"}};
    pipe_step(t, "rst", HandoffEvent::retrieve_session, f);
    handed_over_lost(t, f, Reason::retrieve_failed);
    return all_of(g);
  }
  t.open("if");
  t.open(":: sys != " + SS(Sess::incoming) + " ->");
  pipe_step(t, "rst", HandoffEvent::retrieve_session, {{Guard::name_unknown, "1"}});
  t.line("kc = 0;");
  t.close("");
  t.open(":: else ->");
  if (fault != 0)
    t.line("faults = faults + 1;");
  t.line("t_prev = kc;");
  t.line("kc = 0;");
  pipe_step(t, "rst", HandoffEvent::retrieve_session);
  t.line("sys = " + SS(Sess::retrieved) + ";");
  file_step(t, "map_kf", FileEvent::retrieve, {{Guard::handler_fails, fault == 1 ? "1" : "0"}});
  t.line("t_usable = " + std::string(fault == 0 ? "1" : "0") +
         " && !sys_hijacked && map_kf == " + KF(KFile::retrieved) + " && map_kt == 0;");
  t.when("t_usable", [&] {
    const std::string cap = std::to_string(kMaxKexecCount);
    t.line("kc = (map_kc + 1 < " + cap + " -> map_kc + 1 : " + cap + ");");
    violate_if(t, "kc != t_prev + 1", PropertyId::kexec_count_carried);
  });
  t.when("!t_usable", [&] {
    handed_over_lost(t, {{Guard::mapping_unusable, "1"}}, Reason::mapping_unusable);
    t.line("finish_systemd();");
  });
  t.close("");
  t.close("fi;");
  return all_of(g);
}

std::string Generator::dispatch(Text& t, int o, bool fault) {
  if (fault)
    t.line("faults = faults + 1;");
  const int target = b_.mutant == Mutant::wrong_owner      ? (o + 1) % b_.owners
                     : b_.mutant == Mutant::two_unit_slots ? o % 2
                                                           : o;
  const FactList df{{Guard::owner_unknown, "!" + owner("loaded", target)},
                    {Guard::store_full, owner("loaded", target) + " && " + owner("zero", target)}};
  // next_entry(o): the fd with the smallest mapping token (largest for restore_lifo), else
  // the owner's first handed-over session.
  const char* better = b_.mutant == Mutant::restore_lifo ? " > " : " < ";
  t.line("t_best = NONE;");
  for (int d : fds_of(o)) {
    t.line("if :: " + fd("e", d) + " == " + E(Entry::handed_over) + " && (t_best == NONE || " +
           fd("mt", d) + better + fd("mt", "t_best") + ") -> t_best = " + std::to_string(d) +
           " :: else -> skip fi;");
  }
  t.line("t_j = NONE;");
  const std::vector<int> own_sessions = sessions_of(o);
  for (auto it = own_sessions.rbegin(); it != own_sessions.rend(); ++it) {
    t.line("if :: " + sess("e", *it) + " == " + E(Entry::handed_over) +
           " -> t_j = " + std::to_string(*it) + " :: else -> skip fi;");
  }
  t.open("if");
  if (b_.fds > 0) {
    t.open(":: t_best != NONE ->");
    dispatch_fd(t, o, target, fault, df);
    t.close("");
  }
  t.open(":: t_j != NONE && t_best == NONE ->");
  if (!own_sessions.empty())
    dispatch_session(t, o, target, fault, df);
  t.line("skip");
  t.close("");
  t.line(":: else -> skip");
  t.close("fi;");
  std::vector<std::string> g{"rst == " + HS(HandoffState::restoring),
                             "out == " + HS(HandoffState::running)};
  if (fault)
    g.push_back(errno_ok());
  std::vector<std::string> mine;
  for (int d : fds_of(o))
    mine.push_back(fd("e", d) + " == " + E(Entry::handed_over));
  for (int j : sessions_of(o))
    mine.push_back(sess("e", j) + " == " + E(Entry::handed_over));
  g.push_back(any_of(mine));
  return all_of(g);
}

void Generator::dispatch_fd(Text& t, int o, int target, bool fault, const FactList& df) {
  const std::string x = "t_best";
  for (int d : fds_of(o)) {
    t.line("if :: " + std::to_string(d) + " != t_best && " + fd("e", d) +
           " == " + E(Entry::handed_over) + " && " + fd("mt", d) + " < " + fd("mt", x) + " ->");
    Text v;
    violate(v, PropertyId::restore_in_preservation_order);
    t.append(v);
    t.line("   skip :: else -> skip fi;");
  }
  // RETRIEVE_FD(the mapping's token): the file the kernel holds under that token.
  t.line("t_file = NONE;");
  for (int d = 0; d < fds(); ++d) {
    t.line("if :: " + fd("kf", d) + " != " + KF(KFile::none) + " && " + fd("kt", d) +
           " == " + fd("mt", x) + " -> t_file = " + std::to_string(d) + " :: else -> skip fi;");
  }
  t.when("t_file != NONE", [&] {
    file_step(t, fd("kf", "t_file"), FileEvent::retrieve,
              {{Guard::handler_fails, fault ? "1" : "0"}});
  });
  t.line("t_ok = (t_file != NONE && " + fd("kf", "t_file") + " == " + KF(KFile::retrieved) + ");");
  entry_step(t, fd("e", x), fd("e", x), FdEntryEvent::restore, {{Guard::retrieve_fails, "!t_ok"}});
  t.open("if");
  t.line(":: " + fd("e", x) + " != " + E(Entry::restorable) + " -> " + fd("why", x) + " = " +
         R(Reason::retrieve_failed));
  t.open(":: else ->");
  t.line("if :: t_file != t_best || " + std::to_string(target) + " != t_best / " +
         std::to_string(b_.fds) + " ->");
  Text v;
  violate(v, PropertyId::delivered_to_owner);
  t.append(v);
  t.line("   skip :: else -> skip fi;");
  t.line(fd("foreign", x) + " = " + (target != o ? "1" : "0") + ";");
  entry_step(t, fd("e", x), fd("e", x), FdEntryEvent::dispatch, df);
  t.line("if :: " + fd("e", x) + " == " + E(Entry::dropped) + " -> " + fd("why", x) + " = " +
         R(Reason::store_full) + " :: else -> skip fi");
  t.close("");
  t.close("fi;");
}

void Generator::dispatch_session(Text& t, int o, int target, bool fault, const FactList& df) {
  // RETRIEVE_SESSION(its name): only an incoming session of that name answers.
  t.line("t_ok = " + std::string(fault ? "0" : "1") + " && " + sess("ss", "t_j") +
         " == " + SS(Sess::incoming) + ";");
  entry_step(t, "t_e", sess("e", "t_j"), FdEntryEvent::restore, {{Guard::retrieve_fails, "!t_ok"}});
  t.open("if");
  t.line(":: t_e != " + E(Entry::restorable) + " -> set_session_entry(t_j, t_e, " +
         R(Reason::retrieve_failed) + ")");
  t.open(":: else ->");
  t.line(sess("ss", "t_j") + " = " + SS(Sess::retrieved) + ";");
  if (target != o)
    violate(t, PropertyId::delivered_to_owner);
  entry_step(t, "t_e2", "t_e", FdEntryEvent::dispatch, df);
  t.line("set_session_entry(t_j, t_e2, (t_e2 == " + E(Entry::dropped) + " -> " +
         R(Reason::store_full) + " : " + R(Reason::none) + "));");
  t.line("release_if_unheld(t_j)");
  t.close("");
  t.close("fi;");
}

std::string Generator::finish(Text& t) {
  t.line("t_wait = " + any_handed_over() + ";");
  violate_if(t, "t_wait", PropertyId::finish_once_after_dispatch);
  t.line("finish_systemd();");
  std::vector<std::string> g{"rst == " + HS(HandoffState::restoring),
                             "out == " + HS(HandoffState::running)};
  if (b_.mutant != Mutant::finish_before_dispatch)
    g.push_back("!" + any_handed_over());
  return all_of(g);
}

}  // namespace luo::proofs::pml
