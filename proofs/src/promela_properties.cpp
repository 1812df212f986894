// The properties of properties.cpp written again, as Promela expressions and the check_state()
// inline every action ends with; transition properties are asserted where the action breaks them.
#include "promela_generator.hpp"

namespace luo::proofs::pml {

// ---- properties (properties.cpp, written again) ---------------------------------------------

std::string Generator::is_one_of(const std::string& v, std::initializer_list<std::string> values) {
  std::vector<std::string> parts;
  for (const auto& x : values)
    parts.push_back(v + " == " + x);
  return any_of(parts);
}

std::string Generator::ended(const std::string& e) const {
  return is_one_of(e, {E(Entry::removed), E(Entry::released), E(Entry::dropped), E(Entry::lost)});
}

std::string Generator::no_silent_loss() const {
  const std::string running = "out == " + HS(HandoffState::running);
  std::vector<std::string> all;
  for (int d = 0; d < fds(); ++d) {
    const std::string e = fd("e", d);
    all.push_back("!" + is_one_of(e, {E(Entry::stored), E(Entry::held)}) + " || " + running);
    all.push_back(e + " != " + E(Entry::staged) + " || out == " + HS(HandoffState::serialized));
    all.push_back(e + " != " + E(Entry::preserved) + " || (out == " + HS(HandoffState::preserved) +
                  " && " + fd("kf", d) + " == " + KF(KFile::preserved) + ")");
    all.push_back("!" + is_one_of(e, {E(Entry::handed_over), E(Entry::restorable)}) + " || " +
                  fd("kf", d) + " != " + KF(KFile::none));
  }
  for (int j = 0; j < sessions(); ++j) {
    const std::string e = sess("e", j);
    const std::string ss = sess("ss", j);
    all.push_back("!" + is_one_of(e, {E(Entry::stored), E(Entry::held)}) + " || (" + running +
                  " && " + ss + " != " + SS(Sess::none) + " && " + ss +
                  " != " + SS(Sess::incoming) + ")");
    all.push_back(e + " != " + E(Entry::staged) + " || (out == " + HS(HandoffState::serialized) +
                  " && " + ss + " == " + SS(Sess::outgoing) + ")");
    all.push_back(e + " != " + E(Entry::preserved) + " || (out == " + HS(HandoffState::preserved) +
                  " && " + ss + " == " + SS(Sess::outgoing) + ")");
    all.push_back(e + " != " + E(Entry::handed_over) + " || " + ss + " == " + SS(Sess::incoming));
  }
  return all_of(all);
}

std::string Generator::losses_legitimate() const {
  std::vector<std::string> illegitimate;
  for (Reason r : kAllReasons) {
    if (r == Reason::none || !legitimate(r))
      illegitimate.push_back(R(r));
  }
  std::vector<std::string> all;
  const auto one = [&](const std::string& e, const std::string& why) {
    std::vector<std::string> fine;
    for (const auto& r : illegitimate)
      fine.push_back(why + " != " + r);
    all.push_back("!" + ended(e) + " || " + all_of(fine));
  };
  for (int d = 0; d < fds(); ++d)
    one(fd("e", d), fd("why", d));
  for (int j = 0; j < sessions(); ++j)
    one(sess("e", j), sess("why", j));
  return all_of(all);
}

std::string Generator::mapping_matches() const {
  std::vector<std::string> all;
  for (int d = 0; d < fds(); ++d) {
    const std::string recorded = fd("e", d) + " == " + E(Entry::preserved);
    const std::string held = fd("kf", d) + " == " + KF(KFile::preserved);
    all.push_back("(" + recorded + ") == (" + held + ")");
    all.push_back("!(" + recorded + ") || " + fd("kt", d) + " == " + fd("mt", d));
  }
  return "out != " + HS(HandoffState::preserved) + " || " + all_of(all);
}

std::string Generator::token0() const {
  const std::string live =
      is_one_of("sys", {SS(Sess::outgoing), SS(Sess::incoming), SS(Sess::retrieved)});
  std::vector<std::string> no_zero, any_file;
  for (int d = 0; d < fds(); ++d) {
    no_zero.push_back(fd("kf", d) + " == " + KF(KFile::none) + " || " + fd("kt", d) + " != 0");
    any_file.push_back(fd("kf", d) + " != " + KF(KFile::none));
  }
  return "!" + live + " || sys_hijacked || (" + all_of(no_zero) + " && (!" + any_of(any_file) +
         " || (map_kf != " + KF(KFile::none) + " && map_kt == 0)))";
}

std::string Generator::systemd_is_managers() const {
  if (!b_.hijack)
    return "!sys_hijacked";
  return "hj != " + HJ(Hijack::staged) + " && hj != " + HJ(Hijack::carried) + " && !sys_hijacked";
}

std::string Generator::pending(int entry) const {
  const std::string e = entry < fds() ? fd("e", entry) : sess("e", entry - fds());
  return is_one_of(e, {E(Entry::staged), E(Entry::preserved), E(Entry::handed_over),
                       E(Entry::restorable), E(Entry::held)});
}

Text Generator::property_inlines() const {
  Text t;
  t.line("/* ---- The state properties (properties.cpp), asserted after every step. */");
  t.open("inline check_state() {");
  const std::pair<PropertyId, std::string> state_props[] = {
      {PropertyId::no_silent_loss, no_silent_loss()},
      {PropertyId::losses_have_legitimate_reasons, losses_legitimate()},
      {PropertyId::mapping_matches_session, mapping_matches()},
      {PropertyId::token0_is_mapping, token0()},
      {PropertyId::systemd_session_is_managers, systemd_is_managers()},
  };
  for (const auto& [id, expr] : state_props) {
    if (!wanted(id))
      continue;
    const std::string p(property(id).name);
    t.line(p + " = (" + expr + ");");
    t.line("assert(" + p + ");");
  }
  t.line("skip");
  t.close("}");
  if (wanted(PropertyId::eventually_delivered)) {
    t.line("");
    t.line("/* An entry still owed a delivery or a reason (properties.cpp pending()). */");
    for (int k = 0; k < fds() + sessions(); ++k)
      t.line("#define pending_" + std::to_string(k) + " (" + pending(k) + ")");
  }
  return t;
}

}  // namespace luo::proofs::pml
