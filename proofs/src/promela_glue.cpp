// Stepper's helpers (stepper.hpp) written again as Promela inlines: who holds what, the kernel's
// release of an unheld session, a service gone, the held entries retried, the counter's
// assignments, the FINISH of "systemd" and the normalization of world.cpp.
#include "luo/model/errno.hpp"

#include "promela_generator.hpp"

namespace luo::proofs::pml {

// ---- glue: Stepper's helpers ---------------------------------------------------------------

std::string Generator::manager_holds(const std::string& e) {
  return "(" + e + " == " + E(Entry::stored) + " || " + e + " == " + E(Entry::held) + " || " + e +
         " == " + E(Entry::staged) + " || " + e + " == " + E(Entry::preserved) + " || " + e +
         " == " + E(Entry::restorable) + ")";
}

std::string Generator::services_may_act() {
  return "out == " + HS(HandoffState::running) + " && (rst == " + HS(HandoffState::finished) +
         " || rst == " + HS(HandoffState::nothing) + ")";
}

std::string Generator::errno_ok() const {
  return "faults < " + std::to_string(b_.faults);
}

std::string Generator::crash_ok() const {
  return "faults < " + std::to_string(b_.faults);
}

void Generator::violate(Text& t, PropertyId id) const {
  if (!wanted(id))
    return;
  const std::string p(property(id).name);
  t.line(p + " = 0; assert(" + p + "); " + p + " = 1;");
}

// A violation of `id` when `cond` holds, where the run watches that property.
void Generator::violate_if(Text& t, const std::string& cond, PropertyId id) const {
  if (!wanted(id))
    return;
  t.open("if :: " + cond + " ->");
  violate(t, id);
  t.close("   skip :: else -> skip fi;");
}

Text Generator::glue_inlines() {
  Text t;
  // Stepper::to_file / from_file.
  t.open("inline kfile_to_file(k, f) {");
  t.open("if");
  for (KFile k : kAllKFiles) {
    if (k == KFile::none)
      continue;
    const FileState f = k == KFile::preserved    ? FileState::preserved
                        : k == KFile::restorable ? FileState::restorable
                        : k == KFile::retrieved  ? FileState::retrieved
                                                 : FileState::retrieve_failed;
    t.line(":: k == " + KF(k) + " -> f = " + FS(f));
  }
  t.line(":: else -> f = " + FS(FileState::unpreserved));
  t.close("fi");
  t.close("}");
  t.line("/* unpreserved, finished, discarded, dropped: LUO let go of it */");
  t.open("inline file_to_kfile(f, k) {");
  t.open("if");
  t.line(":: f == " + FS(FileState::preserved) + " -> k = " + KF(KFile::preserved));
  t.line(":: f == " + FS(FileState::restorable) + " -> k = " + KF(KFile::restorable));
  t.line(":: f == " + FS(FileState::retrieved) + " -> k = " + KF(KFile::retrieved));
  t.line(":: f == " + FS(FileState::retrieve_failed) + " -> k = " + KF(KFile::retrieve_failed));
  t.line(":: else -> k = " + KF(KFile::none));
  t.close("fi");
  t.close("}");

  if (sessions() > 0) {
    t.line("");
    t.open("inline set_session_entry(j, e, why) {");
    t.line("sess_e[j] = e;");
    t.line("if :: why != " + R(Reason::none) + " -> sess_why[j] = why :: else -> skip fi;");
    t.line("sess_mgr[j] = " + manager_holds("sess_e[j]"));
    t.close("}");
    t.line("");
    t.line("/* The last fd of a session is gone: the kernel acts on the session. */");
    t.open("inline release_if_unheld(j) {");
    t.when("!sess_svc[j] && !sess_mgr[j]", [&] {
      t.open("if");
      t.open(":: sess_ss[j] == " + SS(Sess::outgoing) + " ->");
      const auto rel = selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::release, false);
      t.line(rel + "(" + OS(OutgoingSessionState::preserving) + ", t_to);");
      t.line("if :: t_to == " + OS(OutgoingSessionState::closed) +
             " -> sess_ss[j] = " + SS(Sess::none) + " :: else -> skip fi");
      t.close("");
      t.open(":: sess_ss[j] == " + SS(Sess::retrieved) + " || sess_ss[j] == " + SS(Sess::finished) +
             " ->");
      t.line("t_from = (sess_ss[j] == " + SS(Sess::retrieved) + " -> " +
             IS(IncomingSessionState::retrieved) + " : " + IS(IncomingSessionState::finished) +
             ");");
      const auto irel =
          selector(kIncomingSessionMachine, &IS, IncomingSessionEvent::release, false);
      t.line(irel + "(t_from, t_to);");
      t.line("if :: t_to == " + IS(IncomingSessionState::gone) +
             " -> sess_ss[j] = " + SS(Sess::none) + " :: else -> skip fi");
      t.close("");
      t.line(":: else -> skip");
      t.close("fi");
    });
    t.close("}");
  }

  for (int o = 0; o < b_.owners; ++o) {
    t.line("");
    t.line("/* Owner " + std::to_string(o) + "'s service dies or stops. */");
    t.open("inline service_gone_" + std::to_string(o) + "(fate) {");
    for (int d : fds_of(o))
      t.line("if :: " + fd("e", d) + " == " + E(Entry::unborn) + " -> " + fd("e", d) +
             " = fate :: else -> skip fi;");
    for (int j : sessions_of(o)) {
      t.when(sess("svc", j), [&] {
        t.line(sess("svc", j) + " = 0;");
        t.line("release_if_unheld(" + std::to_string(j) + ");");
        t.when(sess("ss", j) + " == " + SS(Sess::none) + " && " + sess("e", j) +
                   " == " + E(Entry::unborn),
               [&] {
                 t.line(sess("e", j) + " = " + E(Entry::abandoned) + ";");
                 t.line(sess("why", j) + " = " + R(Reason::owner_crashed) + ";");
               });
      });
    }
    t.line("skip");
    t.close("}");
    retry_held(t, o);
  }

  t.line("");
  t.line("/* Every entry the manager holds in state e is lost with it. */");
  t.open("inline manager_loses(e) {");
  for (int d = 0; d < fds(); ++d) {
    t.when(fd("e", d) + " == e", [&] {
      t.line(fd("e", d) + " = " + E(Entry::lost) + ";");
      t.line(fd("why", d) + " = " + R(Reason::agent_crashed) + ";");
    });
  }
  for (int j = 0; j < sessions(); ++j) {
    t.when(sess("e", j) + " == e", [&] {
      t.line("set_session_entry(" + std::to_string(j) + ", " + E(Entry::lost) + ", " +
             R(Reason::agent_crashed) + ");");
      t.line("release_if_unheld(" + std::to_string(j) + ");");
    });
  }
  t.line("skip");
  t.close("}");

  t.line("");
  t.line("/* FINISH and close \"systemd\". */");
  t.open("inline finish_systemd() {");
  for (int d = 0; d < fds(); ++d)
    file_step(t, fd("kf", d), FileEvent::finish);
  file_step(t, "map_kf", FileEvent::finish);
  t.line("sys = " + SS(Sess::none) + ";");
  t.line("sys_hijacked = 0;");
  pipe_step(t, "rst", HandoffEvent::finish);
  t.close("}");

  t.line("");
  t.line("/* Closing the outgoing \"systemd\" unpreserves every file in it. */");
  t.open("inline close_systemd_outgoing() {");
  t.when("sys == " + SS(Sess::outgoing), [&] {
    for (int d = 0; d < fds(); ++d)
      file_step(t, fd("kf", d), FileEvent::unpreserve);
    file_step(t, "map_kf", FileEvent::unpreserve);
    t.line("sys = " + SS(Sess::none) + ";");
  });
  t.close("}");

  t.line("");
  t.line("/* Stage B failed as a whole; guard is the g_ fact of the pipeline's row. */");
  t.open("inline stage_b_aborts(guard, why) {");
  t.line("close_systemd_outgoing();");
  for (int d = 0; d < fds(); ++d) {
    t.when(
        fd("e", d) + " == " + E(Entry::staged) + " || " + fd("e", d) + " == " + E(Entry::preserved),
        [&] {
          t.line(fd("e", d) + " = " + E(Entry::lost) + ";");
          t.line(fd("why", d) + " = why;");
        });
  }
  for (int j = 0; j < sessions(); ++j) {
    t.when(sess("e", j) + " == " + E(Entry::staged) + " || " + sess("e", j) +
               " == " + E(Entry::preserved),
           [&] {
             t.line("set_session_entry(" + std::to_string(j) + ", " + E(Entry::lost) + ", why);");
             t.line("release_if_unheld(" + std::to_string(j) + ");");
           });
  }
  t.line("guard = 1;");
  const auto sb = selector(kHandoffMachine, &HS, HandoffEvent::stage_b, false);
  t.line(sb + "(out, t_to);");
  t.line("out = t_to;");
  t.line("guard = 0");
  t.close("}");
  for (Guard g : {Guard::held_elsewhere, Guard::name_in_use, Guard::preserve_fails})
    guards_.insert(g);

  t.line("");
  t.line("/* One PRESERVE_FD into the outgoing \"systemd\": t_ok, t_err. */");
  t.open("inline preserve_into_systemd(token, fault) {");
  std::string files = "(map_kf != " + KF(KFile::none) + " -> 1 : 0)";
  std::vector<std::string> used{"map_kf != " + KF(KFile::none) + " && map_kt == token"};
  for (int d = 0; d < fds(); ++d) {
    files += " + (" + fd("kf", d) + " == " + KF(KFile::preserved) + " -> 1 : 0)";
    used.push_back(fd("kf", d) + " == " + KF(KFile::preserved) + " && " + fd("kt", d) +
                   " == token");
  }
  t.line("t_files = " + files + ";");
  const auto pf = selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::preserve_fd, true);
  const FactList facts{{Guard::token_in_use, any_of(used)},
                       {Guard::file_limit_reached,
                        b_.file_limit > 0 ? "t_files >= " + std::to_string(b_.file_limit) : "0"},
                       {Guard::handler_fails, "fault"}};
  set_facts(t, facts);
  t.line(pf + "((t_files == 0 -> " + OS(OutgoingSessionState::created) + " : " +
         OS(OutgoingSessionState::preserving) + "), t_to);");
  clear_facts(t, facts);
  t.line("skip");
  t.close("}");

  t.line("");
  t.line("/* A successful reboot(): freeze, then the jump. */");
  t.open("inline freeze_and_reboot(k) {");
  t.open("if");
  t.open(":: k == " + KF(KFile::preserved) + " ->");
  const auto fz = selector(kFileMachine, &FS, FileEvent::freeze, false);
  const auto rb = selector(kFileMachine, &FS, FileEvent::reboot, false);
  t.line(fz + "(" + FS(FileState::preserved) + ", t_f);");
  t.line(rb + "(t_f, t_to);");
  t.line("file_to_kfile(t_to, k)");
  t.close("");
  t.open(":: else ->");
  file_step(t, "k", FileEvent::reboot);
  t.close("");
  t.close("fi");
  t.close("}");

  if (sessions() > 0) {
    t.line("");
    t.line("/* What reboot() does to a third-party session: t_surv. */");
    t.open("inline survives_reboot(j, held) {");
    t.line("t_surv = 0;");
    t.open("if");
    t.open(":: sess_ss[j] == " + SS(Sess::outgoing) + " && held ->");
    const auto ofz = selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::freeze, false);
    const auto orb = selector(kOutgoingSessionMachine, &OS, OutgoingSessionEvent::reboot, false);
    t.line(ofz + "(" + OS(OutgoingSessionState::preserving) + ", t_from);");
    t.line(orb + "(t_from, t_to);");
    t.line("t_surv = (t_to == " + OS(OutgoingSessionState::handed_over) + ")");
    t.close("");
    t.open(":: sess_ss[j] == " + SS(Sess::incoming) + " || sess_ss[j] == " + SS(Sess::retrieved) +
           " || sess_ss[j] == " + SS(Sess::finished) + " ->");
    t.line("t_from = (sess_ss[j] == " + SS(Sess::incoming) + " -> " +
           IS(IncomingSessionState::deserialized) + " : (sess_ss[j] == " + SS(Sess::retrieved) +
           " -> " + IS(IncomingSessionState::retrieved) + " : " +
           IS(IncomingSessionState::finished) + "));");
    const auto irb = selector(kIncomingSessionMachine, &IS, IncomingSessionEvent::reboot, false);
    t.line(irb + "(t_from, t_to);");
    t.line("t_surv = (t_to != " + IS(IncomingSessionState::dropped) + ")");
    t.close("");
    t.line(":: else -> skip");
    t.close("fi");
    t.close("}");
  }

  t.line("");
  t.open("inline next_boot(luo) {");
  t.line("boot = boot + 1;");
  t.line("out = " + HS(HandoffState::running) + ";");
  t.line("rst = (luo -> " + HS(HandoffState::running) + " : " + HS(HandoffState::nothing) + ");");
  t.line("if :: !luo -> kc = 0 :: else -> skip fi;");
  if (b_.hijack)
    t.line("if :: hj == " + HJ(Hijack::stored) + " || hj == " + HJ(Hijack::staged) +
           " -> hj = " + HJ(Hijack::gone) + " :: else -> skip fi;");
  for (int o = 0; o < b_.owners; ++o) {
    t.line(owner("loaded", o) + " = " + (b_.late_owners ? "0" : "1") + "; " + owner("zero", o) +
           " = 0; " + owner("alive", o) + " = 0;");
  }
  t.line("skip");
  t.close("}");

  t.line("");
  t.line("/* world.cpp's normalize(): values that no longer mean anything are zeroed. */");
  t.open("inline normalize() {");
  for (int d = 0; d < fds(); ++d) {
    t.line("if :: " + fd("kf", d) + " == " + KF(KFile::none) + " -> " + fd("kt", d) +
           " = 0 :: else -> skip fi;");
    t.line("if :: " + fd("e", d) + " != " + E(Entry::preserved) + " && " + fd("e", d) +
           " != " + E(Entry::handed_over) + " && " + fd("e", d) + " != " + E(Entry::restorable) +
           " -> " + fd("mt", d) + " = 0 :: else -> skip fi;");
  }
  t.line("if :: map_kf == " + KF(KFile::none) + " -> map_kt = 0; map_kc = 0 :: else -> skip fi");
  t.close("}");
  return t;
}

// Stepper::retry_held, for one owner: retry_held_<o>().
void Generator::retry_held(Text& t, int o) {
  t.line("");
  t.line("/* Held entries of owner " + std::to_string(o) + " are offered again. */");
  t.open("inline retry_held_" + std::to_string(o) + "() {");
  if (b_.mutant != Mutant::never_retry_held) {
    const FactList f{{Guard::store_full, owner("zero", o)}};
    for (int d : fds_of(o)) {
      t.when(fd("e", d) + " == " + E(Entry::held) + " && !" + fd("foreign", d), [&] {
        entry_step(t, fd("e", d), fd("e", d), FdEntryEvent::owner_loaded, f);
        t.line("if :: " + fd("e", d) + " == " + E(Entry::dropped) + " -> " + fd("why", d) + " = " +
               R(Reason::store_full) + " :: else -> skip fi;");
      });
    }
    for (int j : sessions_of(o)) {
      t.when(sess("e", j) + " == " + E(Entry::held), [&] {
        entry_step(t, "t_e", E(Entry::held), FdEntryEvent::owner_loaded, f);
        t.line("set_session_entry(" + std::to_string(j) + ", t_e, (t_e == " + E(Entry::dropped) +
               " -> " + R(Reason::store_full) + " : " + R(Reason::none) + "));");
        t.line("release_if_unheld(" + std::to_string(j) + ");");
      });
    }
  }
  t.line("skip");
  t.close("}");
}

}  // namespace luo::proofs::pml
