// The manager's crash, the shutdown and the kexec in Promela: each function mirrors the Stepper
// member of the same name in world_shutdown.cpp, statement by statement, and returns the action's
// guard.
#include "luo/model/errno.hpp"
#include "luo/proofs/world_environment.hpp"

#include "promela_generator.hpp"

namespace luo::proofs::pml {

std::string Generator::agent_crash(Text& t) {
  // What the crash takes in each shutdown state is the world's rule, in the entries' order.
  const auto manager_loses = [&](HandoffState out) {
    for (Entry e : kAllEntries) {
      if (environment::lost_with_manager(e, out))
        t.line("manager_loses(" + E(e) + ");");
    }
  };
  t.line("faults = faults + 1;");
  t.open("if");
  t.open(":: out == " + HS(HandoffState::running) + " ->");
  manager_loses(HandoffState::running);
  // The stored hijack session's only fd was in the store: it goes with the manager.
  if (b_.hijack)
    t.line("if :: hj == " + HJ(Hijack::stored) + " -> hj = " + HJ(Hijack::gone) +
           " :: else -> skip fi;");
  t.when("rst == " + HS(HandoffState::restoring), [&] {
    // Closing the retrieved "systemd" finishes it implicitly.
    t.line("manager_loses(" + E(Entry::handed_over) + ");");
    for (int d = 0; d < fds(); ++d)
      file_step(t, fd("kf", d), FileEvent::finish);
    file_step(t, "map_kf", FileEvent::finish);
    t.line("sys = " + SS(Sess::none) + ";");
    t.line("sys_hijacked = 0;");
    t.line("rst = " + HS(HandoffState::nothing) + ";");
  });
  t.close("");
  for (HandoffState out : {HandoffState::serialized, HandoffState::preserved}) {
    t.open(":: out == " + HS(out) + " ->");
    if (out == HandoffState::preserved)
      t.line("close_systemd_outgoing();");
    manager_loses(out);
    if (b_.hijack)
      t.line("if :: hj == " + HJ(Hijack::staged) + " -> hj = " + HJ(Hijack::gone) +
             " :: else -> skip fi;");
    t.line("out = " + HS(HandoffState::nothing));
    t.close("");
  }
  t.close("fi;");
  return all_of(
      {crash_ok(), is_one_of("out", {HS(HandoffState::running), HS(HandoffState::serialized),
                                     HS(HandoffState::preserved)})});
}

std::string Generator::stage_a(Text& t) {
  // The shutdown transaction stops every service first.
  for (int o = 0; o < b_.owners; ++o) {
    t.line("if :: " + owner("alive", o) + " -> service_gone_" + std::to_string(o) + "(" +
           E(Entry::abandoned) + ") :: else -> skip fi;");
    t.line(owner("alive", o) + " = 0;");
  }
  t.line("t_any = 0;");
  const bool forget = b_.mutant == Mutant::forget_held_at_stage_a;
  for (int d = 0; d < fds(); ++d) {
    const std::string cond = forget ? fd("e", d) + " == " + E(Entry::stored)
                                    : is_one_of(fd("e", d), {E(Entry::stored), E(Entry::held)});
    t.when(cond, [&] {
      entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::stage);
      t.line("t_any = t_any || " + fd("e", d) + " == " + E(Entry::staged) + ";");
    });
  }
  for (int j = 0; j < sessions(); ++j) {
    const std::string cond = forget ? sess("e", j) + " == " + E(Entry::stored)
                                    : is_one_of(sess("e", j), {E(Entry::stored), E(Entry::held)});
    t.when(cond, [&] {
      entry_step(t, "t_e", sess("e", j), FdEntryEvent::stage,
                 {{Guard::incoming_session, sess("ss", j) + " != " + SS(Sess::outgoing)}});
      t.line("set_session_entry(" + std::to_string(j) + ", t_e, (t_e == " + E(Entry::dropped) +
             " -> " + R(Reason::not_outgoing) + " : " + R(Reason::none) + "));");
      t.line("release_if_unheld(" + std::to_string(j) + ");");
      t.line("t_any = t_any || t_e == " + E(Entry::staged) + ";");
    });
  }
  if (b_.hijack) {
    t.when("hj == " + HJ(Hijack::stored), [&] {
      entry_step(
          t, "t_e", E(Entry::stored), FdEntryEvent::stage,
          {{Guard::reserved_session_name, b_.mutant != Mutant::no_namespace_guard ? "1" : "0"}});
      t.line("hj = (t_e == " + E(Entry::staged) + " -> " + HJ(Hijack::staged) + " : " +
             HJ(Hijack::gone) + ");");
      t.line("t_any = t_any || t_e == " + E(Entry::staged) + ";");
    });
  }
  // v262 writes Stage A, and so hands over, on every kexec.
  const bool every = systemd_profile_has(b_.systemd, SystemdFeature::handover_every_kexec);
  pipe_step(t, "out", HandoffEvent::stage_a,
            {{Guard::nothing_to_hand_over, every ? "0" : "!t_any"}});
  return all_of({services_may_act(), "boot < " + std::to_string(b_.kexecs)});
}

// fault_file: 0 none, 1 the mapping's PRESERVE_FD, 2+i the i-th staged entry's.
std::string Generator::stage_b(Text& t, int fault_file, bool create_fault) {
  if (fault_file != 0 || create_fault)
    t.line("faults = faults + 1;");
  // world.cpp's forget_stale_systemd(): a "systemd" whose RETRIEVE_SESSION failed.
  t.open("if");
  t.open(":: sys == " + SS(Sess::incoming) + " && !sys_hijacked ->");
  for (int d = 0; d < fds(); ++d)
    t.line(fd("kf", d) + " = " + KF(KFile::none) + ";");
  t.line("map_kf = " + KF(KFile::none) + ";");
  t.line("sys = " + SS(Sess::none));
  t.close("");
  t.line(":: else -> skip");
  t.close("fi;");
  if (create_fault) {
    t.line("stage_b_aborts(" + G(Guard::held_elsewhere) + ", " + R(Reason::no_luo) + ");");
  } else if (b_.hijack) {
    t.open("if");
    // The service's "systemd" is alive: CREATE_SESSION gives EEXIST.
    t.line(":: hj == " + HJ(Hijack::staged) + " -> stage_b_aborts(" + G(Guard::name_in_use) + ", " +
           R(Reason::no_luo) + ")");
    t.open(":: else ->");
    stage_b_fill(t, fault_file);
    t.close("");
    t.close("fi;");
  } else {
    stage_b_fill(t, fault_file);
  }
  std::vector<std::string> g{"out == " + HS(HandoffState::serialized)};
  if (fault_file != 0 || create_fault)
    g.push_back(errno_ok());
  if (fault_file > 1) {
    std::string staged = "1";
    for (int d = 0; d < fds(); ++d)
      staged += " + (" + fd("e", d) + " == " + E(Entry::staged) + " -> 1 : 0)";
    g.push_back(std::to_string(fault_file) + " <= " + staged);
  }
  return all_of(g);
}

void Generator::stage_b_fill(Text& t, int fault_file) {
  const bool mapping_first = b_.mutant != Mutant::mapping_last;
  const std::string mapping_fault = fault_file == 1 ? "1" : "0";
  t.line("sys = " + SS(Sess::outgoing) + ";");
  t.line("t_abort = 0;");
  if (mapping_first && b_.mutant != Mutant::mapping_skipped) {
    t.line("preserve_into_systemd(0, " + mapping_fault + ");");
    t.open("if");
    t.line(":: !t_ok -> stage_b_aborts(" + G(Guard::preserve_fails) + ", " + R(Reason::no_luo) +
           "); t_abort = 1");
    t.line(":: else -> map_kf = " + KF(KFile::preserved) + "; map_kt = 0; map_kc = kc");
    t.close("fi;");
  }
  t.open("if");
  t.open(":: !t_abort ->");
  // Dense tokens from 1 over the fds that were preserved, owners in order.
  t.line("t_token = 1;");
  t.line("t_i = 0;");
  for (int d = 0; d < fds(); ++d) {
    t.when(fd("e", d) + " == " + E(Entry::staged), [&] {
      t.line("preserve_into_systemd(t_token, (t_i + 2 == " + std::to_string(fault_file) + "));");
      t.line("t_i = t_i + 1;");
      entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::preserve,
                 {{Guard::preserve_fails, "!t_ok"}});
      t.open("if");
      t.line(":: !t_ok -> " + fd("why", d) + " = (t_err == EEXIST -> " + R(Reason::token_conflict) +
             " : " + R(Reason::preserve_refused) + ")");
      t.open(":: else ->");
      t.line(fd("kf", d) + " = " + KF(KFile::preserved) + ";");
      t.line(fd("kt", d) + " = t_token;");
      t.line(fd("mt", d) +
             (b_.mutant == Mutant::mapping_off_by_one ? " = t_token + 1;" : " = t_token;"));
      t.line(b_.mutant != Mutant::token_reuse ? "t_token = t_token + 1" : "skip");
      t.close("");
      t.close("fi;");
    });
  }
  if (!mapping_first) {
    t.line("preserve_into_systemd(0, " + mapping_fault + ");");
    t.open("if");
    t.line(":: !t_ok -> stage_b_aborts(" + G(Guard::preserve_fails) + ", " +
           R(fault_file == 1 ? Reason::no_luo : Reason::mapping_lost) + "); t_abort = 1");
    t.line(":: else -> map_kf = " + KF(KFile::preserved) + "; map_kt = 0; map_kc = kc");
    t.close("fi;");
  }
  t.open("if");
  t.open(":: !t_abort ->");
  // Sessions cannot nest: recorded by name, held open until the kexec.
  for (int j = 0; j < sessions(); ++j) {
    t.when(sess("e", j) + " == " + E(Entry::staged), [&] {
      entry_step(t, "t_e", E(Entry::staged), FdEntryEvent::preserve);
      t.line("set_session_entry(" + std::to_string(j) + ", t_e, " + R(Reason::none) + ");");
      if (b_.mutant == Mutant::close_sessions_early) {
        t.line(sess("mgr", j) + " = 0;");
        t.line("release_if_unheld(" + std::to_string(j) + ");");
      }
    });
  }
  pipe_step(t, "out", HandoffEvent::stage_b);
  t.close("");
  t.line(":: else -> skip");
  t.close("fi");
  t.close("");
  t.line(":: else -> skip");
  t.close("fi;");
}

std::string Generator::frozen_files() const {
  std::string n = "(map_kf == " + KF(KFile::preserved) + " -> 1 : 0)";
  for (int d = 0; d < fds(); ++d)
    n += " + (" + fd("kf", d) + " == " + KF(KFile::preserved) + " -> 1 : 0)";
  for (int j = 0; j < sessions(); ++j)
    n += " + (" + sess("ss", j) + " == " + SS(Sess::outgoing) + " && (" + sess("svc", j) + " || " +
         sess("mgr", j) + ") -> 1 : 0)";
  return n;
}

// freeze_fault: 0 none, 1+i the i-th file fails to freeze.
std::string Generator::kexec(Text& t, int freeze_fault) {
  // Who survives is decided now, before anything moves.
  for (int j = 0; j < sessions(); ++j)
    t.line("t_carried[" + std::to_string(j) + "] = (" + sess("ss", j) + " == " +
           SS(Sess::outgoing) + " && (" + sess("svc", j) + " || " + sess("mgr", j) + "));");
  if (freeze_fault != 0) {
    // Rolled back, reboot(KEXEC) returns, the fallback reboot keeps nothing.
    t.line("faults = faults + 1;");
    pipe_step(t, "out", HandoffEvent::reboot_fails);
    for (int d = 0; d < fds(); ++d) {
      t.when(is_one_of(fd("e", d), {E(Entry::preserved), E(Entry::staged)}), [&] {
        entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::reboot_fails);
        t.line(fd("why", d) + " = " + R(Reason::reboot_failed) + ";");
      });
      t.line(fd("kf", d) + " = " + KF(KFile::none) + ";");
    }
    for (int j = 0; j < sessions(); ++j) {
      t.line("if :: " + is_one_of(sess("e", j), {E(Entry::preserved), E(Entry::staged)}) +
             " -> set_session_entry(" + std::to_string(j) + ", " + E(Entry::lost) + ", " +
             R(Reason::reboot_failed) + ") :: else -> skip fi;");
      t.line(sess("ss", j) + " = " + SS(Sess::none) + "; " + sess("svc", j) + " = 0; " +
             sess("mgr", j) + " = 0;");
    }
    t.line("map_kf = " + KF(KFile::none) + ";");
    t.line("sys = " + SS(Sess::none) + ";");
    if (b_.hijack)
      t.line("if :: hj == " + HJ(Hijack::staged) + " -> hj = " + HJ(Hijack::gone) +
             " :: else -> skip fi;");
    t.line("next_boot(0);");
  } else {
    t.when("out == " + HS(HandoffState::preserved),
           [&] { pipe_step(t, "out", HandoffEvent::kexec); });
    for (int d = 0; d < fds(); ++d) {
      // Preserved files are handed over; anything of the old boot still incoming is dropped.
      t.line("freeze_and_reboot(" + fd("kf", d) + ");");
      t.when(fd("e", d) + " == " + E(Entry::preserved),
             [&] { entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::kexec); });
    }
    t.line("freeze_and_reboot(map_kf);");
    t.line("t_msys = (sys == " + SS(Sess::outgoing) + ");");
    t.line("sys = " + SS(Sess::none) + ";");
    t.line("sys_hijacked = 0;");
    t.open("if");
    t.line(":: t_msys -> sys = " + SS(Sess::incoming));
    if (b_.hijack)
      t.line(":: !t_msys && hj == " + HJ(Hijack::staged) + " -> sys = " + SS(Sess::incoming) +
             "; sys_hijacked = 1; hj = " + HJ(Hijack::carried));
    t.line(":: else -> skip");
    t.close("fi;");
    for (int j = 0; j < sessions(); ++j) {
      const std::string js = std::to_string(j);
      t.when(sess("e", j) + " == " + E(Entry::preserved), [&] {
        entry_step(t, "t_e", sess("e", j), FdEntryEvent::kexec);
        t.line("set_session_entry(" + js + ", t_e, " + R(Reason::none) + ");");
      });
      t.line("t_rec = (" + sess("e", j) + " == " + E(Entry::handed_over) + ");");
      t.line("survives_reboot(" + js + ", t_carried[" + js + "]);");
      t.line(sess("ss", j) + " = (t_surv -> " + SS(Sess::incoming) + " : " + SS(Sess::none) + ");");
      t.line(sess("svc", j) + " = 0;");
      t.line(sess("mgr", j) + " = " + manager_holds(sess("e", j)) + ";");
      violate_if(t, "t_surv != t_carried[" + js + "] || (t_rec && !t_surv)",
                 PropertyId::third_party_survives_iff_held_outgoing);
    }
    t.line("next_boot(1);");
  }
  std::vector<std::string> g{
      "boot < " + std::to_string(b_.kexecs),
      is_one_of("out", {HS(HandoffState::preserved), HS(HandoffState::nothing)})};
  if (freeze_fault != 0) {
    g.push_back(errno_ok());
    g.push_back(std::to_string(freeze_fault) + " <= " + frozen_files());
  }
  return all_of(g);
}

}  // namespace luo::proofs::pml
