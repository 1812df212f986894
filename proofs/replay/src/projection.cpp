// The projection of the model's state, its description and the field-by-field difference.
#include "projection.hpp"

namespace luo::proofs::replay_detail {

std::string entry_text(Entry e, Reason why) {
  std::string s(entry_name(e));
  if (why != Reason::none)
    s += " (" + std::string(reason_name(why)) + ")";
  return s;
}

bool in_mapping(Entry e) {
  return e == Entry::preserved || e == Entry::handed_over;
}

Projection project_model(const World& w, const State& s) {
  const Bounds& b = w.bounds();
  Projection p;
  p.boot = s.boot;
  p.out = s.out;
  p.rst = s.rst;
  p.sys = s.sys;
  p.sys_hijacked = s.sys_hijacked;
  p.map_kf = s.map_kf;
  p.hj = b.hijack ? s.hj : Hijack::none;
  for (int o = 0; o < b.owners; ++o)
    p.owner[o] = s.owner[o];
  for (int d = 0; d < w.fd_count(); ++d) {
    const auto& x = s.fd[d];
    FdView& v = p.fd[d];
    v.e = x.e;
    v.why = x.why;
    v.foreign = x.foreign;
    v.kf = x.kf;
    if (x.kf != KFile::none) {
      v.rank = 0;
      const int o = w.owner_of_fd(d);
      for (int e = o * b.fds; e < (o + 1) * b.fds; ++e) {
        if (e != d && s.fd[e].kf != KFile::none && s.fd[e].kt < x.kt)
          ++v.rank;
      }
    }
    if (in_mapping(x.e))
      v.mapping_ok = x.kf != KFile::none && x.kt == x.mt && x.kt != 0;
  }
  for (int j = 0; j < b.sessions; ++j) {
    const auto& x = s.session[j];
    p.session[j] = SessionView{x.ss, x.e, x.why, x.svc, x.mgr};
  }
  return p;
}

std::string fd_label(const Bounds& b, int d) {
  return "fd " + std::to_string(d / b.fds) + "." + std::to_string(d % b.fds);
}

std::string describe(const Bounds& b, const Projection& p) {
  std::string out = "boot " + std::to_string(p.boot) + "; shutdown " +
                    std::string(state_name(p.out)) + ", restore " + std::string(state_name(p.rst)) +
                    "; \"systemd\" " + std::string(sess_name(p.sys)) +
                    (p.sys_hijacked ? " (a service's)" : "");
  if (p.map_kf != KFile::none)
    out += ", mapping " + std::string(kfile_name(p.map_kf));
  if (b.hijack && p.hj != Hijack::none)
    out += "; hijack " + std::string(hijack_name(p.hj));
  out += "\n  owners:";
  for (int o = 0; o < b.owners; ++o) {
    out += " " + std::to_string(o) + "[" + (p.owner[o].loaded ? "loaded" : "absent") +
           (p.owner[o].zero ? ",max=0" : "") + (p.owner[o].alive ? ",running" : "") + "]";
  }
  for (int d = 0; d < b.owners * b.fds; ++d) {
    const auto& x = p.fd[d];
    out += "\n  " + fd_label(b, d) + ": " + entry_text(x.e, x.why);
    if (x.kf != KFile::none)
      out += ", kernel " + std::string(kfile_name(x.kf)) + " #" + std::to_string(x.rank);
    if (!x.mapping_ok)
      out += ", NOT in the mapping under the kernel's token";
    if (x.foreign)
      out += ", in another owner's store";
  }
  for (int j = 0; j < b.sessions; ++j) {
    const auto& x = p.session[j];
    out += "\n  session " + std::to_string(j) + ": kernel " + std::string(sess_name(x.ss)) +
           ", entry " + entry_text(x.e, x.why) + (x.svc ? ", held by its service" : "") +
           (x.mgr ? ", held by the manager" : "");
  }
  return out;
}

std::vector<std::string> differences(const Bounds& b, const Projection& m, const Projection& i) {
  std::vector<std::string> out;
  const auto diff = [&](const std::string& what, auto mv, auto iv) {
    out.push_back(what + ": model " + std::string(mv) + ", implementation " + std::string(iv));
  };
  const auto yn = [](bool v) { return v ? "yes" : "no"; };
  if (m.boot != i.boot)
    diff("boot", std::to_string(m.boot), std::to_string(i.boot));
  if (m.out != i.out)
    diff("shutdown pipeline", state_name(m.out), state_name(i.out));
  if (m.rst != i.rst)
    diff("restore pipeline", state_name(m.rst), state_name(i.rst));
  if (m.sys != i.sys || m.sys_hijacked != i.sys_hijacked) {
    diff("\"systemd\" session",
         std::string(sess_name(m.sys)) + (m.sys_hijacked ? " (a service's)" : ""),
         std::string(sess_name(i.sys)) + (i.sys_hijacked ? " (a service's)" : ""));
  }
  if (m.map_kf != i.map_kf)
    diff("the mapping file (token 0)", kfile_name(m.map_kf), kfile_name(i.map_kf));
  if (m.hj != i.hj)
    diff("the hijack session", hijack_name(m.hj), hijack_name(i.hj));
  for (int o = 0; o < b.owners; ++o) {
    const std::string who = "owner " + std::to_string(o);
    if (m.owner[o].loaded != i.owner[o].loaded)
      diff(who + " loaded", yn(m.owner[o].loaded), yn(i.owner[o].loaded));
    if (m.owner[o].zero != i.owner[o].zero)
      diff(who + " FileDescriptorStoreMax=0", yn(m.owner[o].zero), yn(i.owner[o].zero));
    if (m.owner[o].alive != i.owner[o].alive)
      diff(who + " running", yn(m.owner[o].alive), yn(i.owner[o].alive));
  }
  for (int d = 0; d < b.owners * b.fds; ++d) {
    const auto& x = m.fd[d];
    const auto& y = i.fd[d];
    const std::string who = fd_label(b, d);
    if (x.e != y.e || x.why != y.why)
      diff(who, entry_text(x.e, x.why), entry_text(y.e, y.why));
    if (x.foreign != y.foreign)
      diff(who + " attached to another owner (its store or held list)", yn(x.foreign),
           yn(y.foreign));
    if (x.kf != y.kf)
      diff(who + " kernel file", kfile_name(x.kf), kfile_name(y.kf));
    else if (x.rank != y.rank)
      diff(who + " token rank among its owner's files", std::to_string(x.rank),
           std::to_string(y.rank));
    if (x.mapping_ok != y.mapping_ok)
      diff(who + " recorded in the mapping under the kernel's token", yn(x.mapping_ok),
           yn(y.mapping_ok));
  }
  for (int j = 0; j < b.sessions; ++j) {
    const auto& x = m.session[j];
    const auto& y = i.session[j];
    const std::string who = "session " + std::to_string(j);
    if (x.ss != y.ss)
      diff(who + " in the kernel", sess_name(x.ss), sess_name(y.ss));
    if (x.e != y.e || x.why != y.why)
      diff(who + " entry", entry_text(x.e, x.why), entry_text(y.e, y.why));
    if (x.svc != y.svc)
      diff(who + " held by its service", yn(x.svc), yn(y.svc));
    if (x.mgr != y.mgr)
      diff(who + " held by the manager", yn(x.mgr), yn(y.mgr));
  }
  return out;
}

}  // namespace luo::proofs::replay_detail
