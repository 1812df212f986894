// differential.cpp: running one case through the library and through systemd 262.1, and saying
// what differs (see the header).
#include "differential.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/model/fd_store_limits.hpp"

namespace luo::sdtest {
namespace {

using Json = nlohmann::ordered_json;

// The late timestamps handed to both shutdown sides (v262).
constexpr std::array<DualTimestamp, 2> kLate = {DualTimestamp{1'760'000'000'000'001, 5'000'001},
                                                DualTimestamp{1'760'000'000'000'002, 5'000'002}};
const std::string kCounterKeyV261(luo::kKexecCountKeyV261);
const std::string kCounterKeyV262(luo::kKexecCountKeyV262);
constexpr std::uint64_t kSessionFileToken = 7;

UniqueFd memfd_holding(std::string_view data) {
  auto fd = memfd::create("sdtest");
  if (!fd.ok() || !memfd::write_at(fd.value().get(), 0, data).ok())
    throw std::runtime_error("memfd");
  return std::move(fd).value();
}

std::string read_fd(int fd) {
  auto r = memfd::read_all(fd);
  return r.ok() ? r.value() : "<unreadable>";
}

// What one restored fd is: a third-party session (by its kernel name) or a file (by content).
std::string payload(IoctlBackend& kernel, int fd) {
  IoctlPort port(kernel);
  if (auto name = port.get_session_name(fd); name.ok())
    return "session:" + name.value().stored();
  return "file:" + read_fd(fd);
}

// Creates the third-party sessions (each holding one file) on `kernel`; their fds keep them
// alive until kexec.
std::vector<UniqueFd> create_sessions(IoctlBackend& kernel, const std::vector<std::string>& names) {
  IoctlPort port(kernel);
  std::vector<UniqueFd> held;
  auto dev = port.open_device();
  if (!dev.ok())
    throw std::runtime_error("open_device");
  for (const auto& n : names) {
    auto s = port.create_session(dev.value().get(), SessionNameField::from(n));
    if (!s.ok())
      continue;  // a name the kernel refuses: the entry's retrieve fails on both sides alike
    UniqueFd file = memfd_holding("in session " + n);
    (void)port.preserve_fd(s.value().get(), file.get(), kSessionFileToken);
    held.push_back(std::move(s).value());
    held.push_back(std::move(file));
  }
  return held;
}

struct Handover {
  bool present = false;
  std::string mapping;
  std::map<std::uint64_t, std::string> files;  // token -> contents, mapping excluded
};

std::vector<std::uint64_t> outgoing_tokens(SimulatedKernel& k) {
  for (const auto& s : k.snapshot().outgoing)
    if (s.name == handoff::kSessionName) {
      auto t = s.tokens;
      std::sort(t.begin(), t.end());
      return t;
    }
  return {};
}

// After kexec: every token of "systemd" read back, then the session finished.
Handover read_handover(SimulatedKernel& k, const std::vector<std::uint64_t>& tokens) {
  Handover h;
  IoctlPort port(k);
  auto dev = port.open_device();
  if (!dev.ok())
    return h;
  auto s = port.retrieve_session(dev.value().get(), SessionNameField::from(handoff::kSessionName));
  if (!s.ok())
    return h;
  h.present = true;
  for (auto t : tokens) {
    auto fd = port.retrieve_fd(s.value().get(), t);
    const std::string data = fd.ok() ? read_fd(fd.value().get()) : "<not retrievable>";
    if (t == handoff::kMappingToken)
      h.mapping = data;
    else
      h.files[t] = data;
  }
  (void)port.finish_session(s.value().get(), 0);
  return h;
}

std::string rstrip_json_whitespace(std::string s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' || s.back() == '\r'))
    s.pop_back();
  return s;
}

std::optional<Json> parse(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The entries a reader of `mapping` should restore, as "<unit>\t<name>\t<payload>", given the
// files behind the tokens.
std::vector<std::string> expected_entries(const Json& mapping,
                                          const std::map<std::uint64_t, std::string>& files) {
  std::vector<std::string> out;
  if (!mapping.contains("units"))
    return out;
  for (const auto& [unit, body] : mapping["units"].items()) {
    for (const auto& e : body["fdstore"]) {
      const std::string prefix = unit + "\t" + e["name"].get<std::string>() + "\t";
      if (e["type"] == "fd") {
        auto it = files.find(e["token"].get<std::uint64_t>());
        out.push_back(prefix + "file:" + (it == files.end() ? "<missing>" : it->second));
      } else {
        out.push_back(prefix + "session:" + e["sessionName"].get<std::string>());
      }
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += "  " + x + "\n";
  return s.empty() ? "  (none)\n" : s;
}

// The late shutdown timestamps carry the shutdown side's clock: equal keys and shapes suffice.
Json without_late_values(Json doc) {
  if (doc.is_object() && doc.contains("state") && doc["state"].is_object()) {
    for (const char* key : {"ShutdownLateStartTimestamp", "ShutdownLateFinishTimestamp"}) {
      if (doc["state"].contains(key) && doc["state"][key].is_object())
        for (auto& [k, v] : doc["state"][key].items())
          if (v.is_number_unsigned())
            v = "<u64>";
    }
  }
  return doc;
}

void compare_mappings(const std::string& lib_padded, const std::string& sd_text,
                      std::vector<Difference>& out) {
  const std::string lib = rstrip_json_whitespace(lib_padded);
  if (lib == sd_text)
    return;
  const auto a = parse(lib), b = parse(sd_text);
  if (!a || !b) {
    out.push_back({"mapping: not both JSON", "library: " + lib + "\nsystemd: " + sd_text});
    return;
  }
  if (*a == *b) {
    out.push_back(
        {"mapping: same JSON, different bytes", "library: " + lib + "\nsystemd: " + sd_text});
    return;
  }
  if (without_late_values(*a) == without_late_values(*b)) {
    out.push_back({"mapping: ShutdownLate* values (each side's clock)", "", true});
    return;
  }
  for (const char* key : {"version", "state", "units"}) {
    const bool ha = a->contains(key), hb = b->contains(key);
    if (ha != hb || (ha && without_late_values(*a)[key] != without_late_values(*b)[key])) {
      out.push_back({std::string("mapping: '") + key + "' differs",
                     "library: " + (ha ? (*a)[key].dump() : "(absent)") +
                         "\nsystemd: " + (hb ? (*b)[key].dump() : "(absent)")});
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

StageAFixture materialize(const StoreCase& c, SystemdProfile p) {
  StageAFixture f;
  handoff::StageA doc;
  Json state = Json::object();
  state[p == SystemdProfile::v262 ? kCounterKeyV262 : kCounterKeyV261] = c.counter;
  if (p == SystemdProfile::v262 && c.pid1_timestamps) {
    state["ShutdownStartTimestamp"] = {{"realtime", 1'760'000'000'000'000},
                                       {"monotonic", 4'000'000}};
    state["ShutdownFinishTimestamp"] = {{"realtime", 1'760'000'000'000'050},
                                        {"monotonic", 4'000'050}};
  }
  doc.header.state = state;
  int last_memfd = -1;
  std::size_t entries = 0;
  for (std::size_t u = 0; u < c.units.size(); ++u) {
    handoff::UnitEntries<handoff::StageAEntry> unit{c.units[u].unit, {}};
    for (std::size_t i = 0; i < c.units[u].entries.size(); ++i) {
      const StoreEntry& e = c.units[u].entries[i];
      handoff::StageAEntry a;
      a.name = e.name;
      switch (e.kind) {
        case StoreEntry::Kind::memfd:
          f.fds.push_back(memfd_holding(c.units[u].unit + "/" + std::to_string(i) + "/" + e.name));
          last_memfd = a.fd = f.fds.back().get();
          break;
        case StoreEntry::Kind::session:
          // Stage B never touches a session's fd, only its name; the session itself is created
          // on each kernel (StageAFixture::sessions) so the restores can retrieve it.
          a.type = handoff::EntryType::luo_session;
          a.session_name = e.session_name;
          f.fds.push_back(memfd_holding("stand-in for " + e.session_name));
          a.fd = f.fds.back().get();
          f.sessions.push_back(e.session_name);
          break;
        case StoreEntry::Kind::refused: {
          int pipefd[2];
          if (::pipe2(pipefd, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe2");
          f.fds.emplace_back(pipefd[0]);
          f.fds.emplace_back(pipefd[1]);
          a.fd = pipefd[0];  // not shmem: PRESERVE_FD says ENOENT
          break;
        }
        case StoreEntry::Kind::repeat:
          if (last_memfd < 0) {
            f.fds.push_back(memfd_holding("first of its kind"));
            last_memfd = f.fds.back().get();
          }
          a.fd = last_memfd;  // already preserved in this session: refused too
          break;
      }
      unit.fdstore.push_back(std::move(a));
      ++entries;
    }
    doc.units.push_back(std::move(unit));
  }
  // v261's PID 1 writes no Stage A when it has nothing to serialize; 262's always does.
  if (p == SystemdProfile::v262 || entries > 0)
    f.text = handoff::to_json(doc);
  return f;
}

std::vector<Difference> compare_stage_b(Systemd262& sd, const StageAFixture& f, SystemdProfile p) {
  std::vector<Difference> out;
  const std::optional<std::array<DualTimestamp, 2>> late =
      p == SystemdProfile::v262 ? std::optional(kLate) : std::nullopt;
  SimulatedKernel kl1, kl2, ks1, ks2;
  auto tp_l2 = create_sessions(kl2, f.sessions);
  auto tp_s2 = create_sessions(ks2, f.sessions);

  LibraryStageB lib1, lib2;
  Systemd262::StageB sd1, sd2;
  if (!f.text.empty()) {
    lib1 = library_stage_b(kl1, f.text, p, kLate);
    lib2 = library_stage_b(kl2, f.text, p, kLate);
    sd1 = sd.stage_b(ks1, f.text, late);
    sd2 = sd.stage_b(ks2, f.text, late);
    // Stage A parser: the fds each shutdown side keeps open (systemd adds its memfd last).
    const auto lib_fds = library_stage_a_fds(f.text);
    std::vector<int> sd_fds = sd1.keep_fds;
    if (!sd_fds.empty())
      sd_fds.pop_back();
    // close_all_fds() takes the list as a set: an fd named twice is kept once.
    const auto as_set = [](std::vector<int> v) { return std::set<int>(v.begin(), v.end()); };
    if (sd1.parse_result < 0 || !lib_fds || as_set(*lib_fds) != as_set(sd_fds)) {
      std::ostringstream d;
      d << "systemd parse " << sd1.parse_result << ", keeps";
      for (int fd : sd_fds)
        d << ' ' << fd;
      d << "; library " << (lib_fds ? "keeps" : "refuses the document");
      if (lib_fds)
        for (int fd : *lib_fds)
          d << ' ' << fd;
      out.push_back({"Stage A: different fds kept open", d.str()});
    }
  }
  const bool sd_handed = sd1.session.get() >= 0;
  if (lib1.handed_over != sd_handed) {
    out.push_back({"handover: the \"systemd\" session exists on one side only",
                   std::string("library: ") +
                       (lib1.handed_over ? "yes" : "no (" + lib1.failure + ")") +
                       ", systemd: " + (sd_handed ? "yes" : "no") + " (luo_preserve_fd_stores " +
                       std::to_string(sd1.result) + ")"});
  }
  const auto lib_tokens = outgoing_tokens(kl1), sd_tokens = outgoing_tokens(ks1);
  if (lib_tokens != sd_tokens) {
    std::ostringstream d;
    d << "library:";
    for (auto t : lib_tokens)
      d << ' ' << t;
    d << "; systemd:";
    for (auto t : sd_tokens)
      d << ' ' << t;
    out.push_back({"tokens: different tokens preserved", d.str()});
  }

  for (auto* k : {&kl1, &kl2, &ks1, &ks2})
    (void)k->kexec();
  lib1 = {}, lib2 = {}, sd1 = {}, sd2 = {};
  tp_l2.clear(), tp_s2.clear();

  const Handover hl = read_handover(kl1, lib_tokens), hs = read_handover(ks1, sd_tokens);
  if (hl.present && hs.present) {
    compare_mappings(hl.mapping, hs.mapping, out);
    if (hl.files != hs.files)
      out.push_back({"files: a token carries a different file", ""});
  }

  // Each side's output restored by the other side.
  if (hl.present) {
    const auto mapping = parse(rstrip_json_whitespace(hl.mapping));
    const auto want = mapping ? expected_entries(*mapping, hl.files) : std::vector<std::string>{};
    auto r = sd.restore(kl2);
    std::vector<std::string> got;
    for (auto& d : r.dispatched)
      got.push_back(d.unit + "\t" + d.name + "\t" + payload(kl2, d.fd.get()));
    if (!r.counter || got != want)
      out.push_back({"cross: systemd's restore of the library's Stage B misses entries",
                     "restore " + std::to_string(r.result) + ", expected\n" + join(want) +
                         "restored\n" + join(got)});
  }
  if (hs.present) {
    const auto mapping = parse(hs.mapping);
    const auto want = mapping ? expected_entries(*mapping, hs.files) : std::vector<std::string>{};
    auto r = library_restore(ks2, p);
    std::vector<std::string> got;
    for (auto& d : r.dispatched)
      got.push_back(d.unit + "\t" + d.name + "\t" + payload(ks2, d.fd.get()));
    if (!r.accepted || got != want)
      out.push_back({"cross: the library's restore of systemd's Stage B misses entries",
                     r.failure + "\nexpected\n" + join(want) + "restored\n" + join(got)});
    if (mapping && p == SystemdProfile::v262 && r.accepted) {
      // 262.1's restore: KExecCount + 1 in u32 (wrapping), 1 without one. The library also
      // reads a v261 `kexecsCount` copied through when KExecCount is absent (deliberate; the
      // restore comparison treats the same case alike).
      const Json st = mapping->contains("state") ? (*mapping)["state"] : Json::object();
      const auto plus_one = [&](const std::string& key) {
        return static_cast<std::uint32_t>(st.value(key, std::uint32_t{0}) + 1u);
      };
      const std::uint32_t want_counter = plus_one(kCounterKeyV262);
      const bool fallback = st.is_object() && !st.contains(kCounterKeyV262) &&
                            st.contains(kCounterKeyV261) &&
                            st[kCounterKeyV261].is_number_unsigned();
      const std::string detail = "library " + std::to_string(r.counter) + ", systemd would have " +
                                 std::to_string(want_counter);
      if (fallback && r.counter == plus_one(kCounterKeyV261) && r.counter != want_counter)
        out.push_back({"cross: v261 kexecsCount fallback (library only)", detail, true});
      else if (r.counter != want_counter)
        out.push_back({"cross: the library's counter after reading systemd's Stage B", detail});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

namespace {

// Hands `c` over on `k`: "systemd" with the mapping at token 0 and files 1..n, plus the
// third-party sessions; then kexec.
void prepare(SimulatedKernel& k, const MappingCase& c) {
  IoctlPort port(k);
  std::vector<UniqueFd> held;
  {
    auto dev = port.open_device();
    if (!dev.ok())
      throw std::runtime_error("open_device");
    auto s = port.create_session(dev.value().get(), SessionNameField::from(handoff::kSessionName));
    if (!s.ok())
      throw std::runtime_error("create systemd");
    held.push_back(memfd_holding(c.text));
    (void)port.preserve_fd(s.value().get(), held.back().get(), handoff::kMappingToken);
    for (std::uint64_t t = 1; t <= c.files; ++t) {
      held.push_back(memfd_holding("file-" + std::to_string(t)));
      (void)port.preserve_fd(s.value().get(), held.back().get(), t);
    }
    held.push_back(std::move(s).value());
  }
  auto tp = create_sessions(k, c.sessions);
  if (!k.kexec().ok())
    throw std::runtime_error("kexec");
}

std::string describe_ts(const std::array<DualTimestamp, 4>& ts) {
  std::string s;
  for (const auto& t : ts)
    s += "{" + std::to_string(t.realtime) + "," + std::to_string(t.monotonic) + "}";
  return s;
}

bool is_format_b(const std::string& text) {
  const auto doc = parse(text);
  if (!doc || !doc->is_object() || doc->contains("version"))
    return false;
  for (const auto& [k, v] : doc->items())
    if (!v.is_array())
      return false;
  return true;
}

}  // namespace

std::vector<Difference> compare_restore(Systemd262& sd, const MappingCase& c, SystemdProfile p) {
  std::vector<Difference> out;
  SimulatedKernel kl, ks;
  prepare(kl, c);
  prepare(ks, c);
  auto s = sd.restore(ks);
  auto l = library_restore(kl, p);
  const bool sd_accepted = s.counter.has_value();
  if (sd_accepted != l.accepted) {
    // Format B (v261-rc1) is read by the library on purpose; 262 finds no version and drops it.
    const bool deliberate = l.accepted && is_format_b(c.text);
    out.push_back({deliberate ? "document: format B read by the library only"
                   : s.state_ignored
                       ? "document: mistyped state (262.1 ignores `state` and restores the entries)"
                       : "document: accepted by one side only",
                   std::string("systemd ") + (sd_accepted ? "accepts" : "refuses") + " (" +
                       std::to_string(s.result) + "), library " +
                       (l.accepted ? "accepts" : "refuses: " + l.failure),
                   deliberate});
    return out;
  }
  if (!sd_accepted)
    return out;
  // A `state` 262.1 ignores (mistyped) shows here as a counter or timestamps that differ when
  // the library did not ignore it too.
  if (*s.counter != l.counter) {
    // The library reads v261's `kexecsCount` when `KExecCount` is absent; 262 starts at 1.
    const auto doc = parse(c.text);
    bool deliberate = false;
    if (doc && doc->is_object() && doc->contains("state") && (*doc)["state"].is_object()) {
      const auto& st = (*doc)["state"];
      deliberate = !st.contains(kCounterKeyV262) && st.contains(kCounterKeyV261) && *s.counter == 1;
    }
    out.push_back(
        {deliberate ? "counter: v261 kexecsCount fallback (library only)"
                    : "counter: different kexec counter",
         "systemd " + std::to_string(*s.counter) + ", library " + std::to_string(l.counter),
         deliberate});
  }
  if (!l.timestamps || *l.timestamps != s.timestamps)
    out.push_back({"timestamps: previous shutdown timestamps differ",
                   "systemd " + describe_ts(s.timestamps) + ", library " +
                       (l.timestamps ? describe_ts(*l.timestamps) : std::string("none"))});
  struct Restored {
    std::string unit, name, what;
    std::string line() const { return unit + "\t" + name + "\t" + what; }
  };
  std::vector<Restored> a, b;
  for (auto& d : s.dispatched)
    a.push_back({d.unit, d.name, payload(ks, d.fd.get())});
  for (auto& d : l.dispatched)
    b.push_back({d.unit, d.name, payload(kl, d.fd.get())});
  std::vector<std::string> la, lb;
  for (const auto& r : a)
    la.push_back(r.line());
  for (const auto& r : b)
    lb.push_back(r.line());
  if (la == lb)
    return out;
  // Which rule made the difference, entry by entry (the multiset difference of both lists).
  std::multiset<std::string> only_sd(la.begin(), la.end()), only_lib(lb.begin(), lb.end());
  for (const auto& x : lb)
    if (auto it = only_sd.find(x); it != only_sd.end())
      only_sd.erase(it), only_lib.erase(only_lib.find(x));
  const std::string detail = "systemd restored\n" + join(la) + "library restored\n" + join(lb);
  // Each entry restored by systemd only is attributed to the first rule that explains it: an fd
  // name the library refuses, then a token or sessionName an earlier entry the library restored
  // already holds (the same file or session: the library hands it to one entry only), and only
  // then a repeated unit key, which both sides read twice and so explains nothing by itself.
  const std::multiset<std::string> lib_lines(lb.begin(), lb.end());
  std::set<std::string> kinds;
  std::set<std::string> invalid_name_sessions;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const Restored& r = a[i];
    if (only_sd.count(r.line()) == 0)
      continue;
    const bool repeats_accepted = std::any_of(
        a.begin(), a.begin() + static_cast<std::ptrdiff_t>(i), [&](const Restored& earlier) {
          return earlier.what == r.what && lib_lines.count(earlier.line()) != 0;
        });
    const auto unit_keys = [&] {
      std::size_t n = 0;
      const std::string key = nlohmann::json(r.unit).dump() + ":{";
      for (auto pos = c.text.find(key); pos != std::string::npos; pos = c.text.find(key, pos + 1))
        ++n;
      return n;
    }();
    if (!fdname_is_valid(r.name)) {
      kinds.insert("entries: fd name PID 1 would refuse (deliberate)");
      if (r.what.starts_with("session:"))
        invalid_name_sessions.insert(r.what);
    } else if (repeats_accepted) {
      kinds.insert("entries: repeated token or sessionName, handed to one entry only (deliberate)");
    } else if (unit_keys > 1) {
      kinds.insert("entries: repeated unit key (262 restores both occurrences)");
    } else {
      kinds.insert("entries: restored by systemd only");
    }
  }
  for (const auto& r : b) {
    if (only_lib.count(r.line()) == 0)
      continue;
    // A session the library retrieved for a later entry because it skipped the earlier one.
    if (invalid_name_sessions.count(r.what) != 0)
      kinds.insert("entries: fd name PID 1 would refuse (deliberate)");
    else
      kinds.insert("entries: restored by the library only");
  }
  for (const auto& k : kinds)
    out.push_back({k, detail, k.ends_with("(deliberate)")});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tally

void Tally::add(const std::string& case_label, const std::vector<Difference>& diffs) {
  // LUO_SYSTEMD_DUMP=<file>: every difference of every case, for studying one kind.
  static std::ofstream dump = [] {
    const char* path = std::getenv("LUO_SYSTEMD_DUMP");
    return path != nullptr ? std::ofstream(path) : std::ofstream();
  }();
  std::set<std::string> seen;
  for (const auto& d : diffs) {
    if (dump.is_open())
      dump << "=== " << d.kind << "\n" << case_label << "\n" << d.detail << "\n";
    if (!seen.insert(d.kind).second)
      continue;
    Kind& k = kinds_[d.kind];
    if (k.cases++ == 0) {
      k.first_case = case_label;
      k.first_detail = d.detail;
      k.deliberate = d.deliberate;
    }
  }
}

std::string Tally::report() const {
  std::string s;
  for (const auto& [kind, k] : kinds_)
    s += (k.deliberate ? "  deliberate: " : "  DIFFERENT:  ") + kind + " (" +
         std::to_string(k.cases) + " cases, first: " + k.first_case + ")\n";
  return s;
}

std::vector<std::string> Tally::failing_kinds() const {
  std::vector<std::string> v;
  for (const auto& [kind, k] : kinds_)
    if (!k.deliberate)
      v.push_back(kind);
  return v;
}

std::string Tally::example(const std::string& kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? "" : it->second.first_case + "\n" + it->second.first_detail;
}

std::size_t Tally::count(const std::string& kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? 0 : it->second.cases;
}

}  // namespace luo::sdtest
