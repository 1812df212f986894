// generators.cpp: Stage-B stores and restore mappings for the differential tests, drawn with
// rapidcheck from a fixed seed per case, so "case n" always means the same input.
#include <limits>

#include "differential.hpp"

namespace luo::sdtest {
namespace {

// Draws values from rapidcheck generators, one split of the random stream per draw.
class Draw {
 public:
  Draw(std::uint64_t seed, int size) : random_(seed), size_(size) {}
  template <class T>
  T operator()(const rc::Gen<T>& g) {
    return g(random_.split(), size_).value();
  }
  // [lo, hi)
  std::size_t below(std::size_t hi) { return (*this)(rc::gen::inRange<std::size_t>(0, hi)); }
  bool chance(int percent) { return (*this)(rc::gen::inRange(0, 100)) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  std::uint32_t u32() { return (*this)(rc::gen::arbitrary<std::uint32_t>()); }

 private:
  rc::Random random_;
  int size_;
};

// rapidcheck scales some generators by size; the cases here want the full range every time.
constexpr int kSize = 100;

const std::vector<std::string> kUnits = {
    "a.service",       "db.service",
    "vmm@vm0.service", "vmm@vm1.service",
    "x-y_z.service",   "very-long-unit-name-with-many-characters@instance-0123456789.service",
    "b.socket"};
// fd names as PID 1 stores them (fdname_is_valid: 0x20-0x7E, no ':', at most 255 bytes), among
// them the ones a JSON writer must escape. Names PID 1 refuses never reach Stage A.
const std::vector<std::string> kNames = {"stored",
                                         "guest-ram",
                                         "wal \"main\" \\ 1",
                                         "a/b",
                                         "",
                                         "x",
                                         std::string(255, 'n'),
                                         "quote\"",
                                         "back\\slash",
                                         "~!@#$%^&*()_+{}|<>?`-=[];',./",
                                         " lead and trail "};

std::uint32_t counter(Draw& d) {
  switch (d.below(5)) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return std::numeric_limits<std::uint32_t>::max();
    case 3:
      return std::numeric_limits<std::uint32_t>::max() - 1;
    default:
      return d.u32();
  }
}

}  // namespace

StoreCase generate_store(std::uint64_t seed) {
  Draw d(seed, kSize);
  StoreCase c;
  c.counter = counter(d);
  c.pid1_timestamps = d.chance(50);
  const std::size_t units = d.chance(10) ? 0 : d.below(6);
  std::vector<std::string> used;
  for (std::size_t u = 0; u < units; ++u) {
    StoreUnit unit;
    unit.unit = d.pick(kUnits);
    if (std::find(used.begin(), used.end(), unit.unit) != used.end())
      unit.unit = "gen" + std::to_string(u) + ".service";
    used.push_back(unit.unit);
    const std::size_t n = d.chance(10) ? 0 : d.below(9);
    for (std::size_t i = 0; i < n; ++i) {
      StoreEntry e;
      e.name = d.pick(kNames);
      const std::size_t k = d.below(100);
      e.kind = k < 60   ? StoreEntry::Kind::memfd
               : k < 75 ? StoreEntry::Kind::session
               : k < 90 ? StoreEntry::Kind::refused
                        : StoreEntry::Kind::repeat;
      if (e.kind == StoreEntry::Kind::session)
        e.session_name = "tp-" + std::to_string(u) + "-" + std::to_string(i) +
                         (d.chance(20) ? std::string(50, 's') : "");
      unit.entries.push_back(std::move(e));
    }
    c.units.push_back(std::move(unit));
  }
  return c;
}

std::string describe(const StoreCase& c) {
  std::string s =
      "counter " + std::to_string(c.counter) + (c.pid1_timestamps ? ", PID 1 timestamps" : "");
  for (const auto& u : c.units) {
    s += "; " + u.unit + ":";
    for (const auto& e : u.entries) {
      static const char* kinds[] = {"memfd", "session", "refused", "repeat"};
      s += std::string(" ") + kinds[static_cast<int>(e.kind)];
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Mappings, as text: a small writer that can also repeat keys and misspell values.

namespace {

std::string str(const std::string& s) {
  return nlohmann::json(s).dump();
}

std::string member(const std::string& key, const std::string& value) {
  return str(key) + ":" + value;
}

std::string object(const std::vector<std::string>& members) {
  std::string s = "{";
  for (std::size_t i = 0; i < members.size(); ++i)
    s += (i ? "," : "") + members[i];
  return s + "}";
}

std::string array(const std::vector<std::string>& items) {
  std::string s = "[";
  for (std::size_t i = 0; i < items.size(); ++i)
    s += (i ? "," : "") + items[i];
  return s + "]";
}

std::string number_spelling(Draw& d, std::uint64_t good) {
  switch (d.below(20)) {
    case 0:
      return str(std::to_string(good));  // "1"
    case 1:
      return std::to_string(good) + ".0";  // 1.0
    case 2:
      return "-1";
    case 3:
      return "true";
    case 4:
      return "18446744073709551615";
    case 5:
      return std::to_string(good) + "e0";
    default:
      return std::to_string(good);
  }
}

std::string timestamp(Draw& d, std::uint64_t base) {
  switch (d.below(12)) {
    case 0:
      return "{}";
    case 1:
      return object({member("realtime", str("1"))});
    case 2:
      return "5";
    case 3:
      return object({member("realtime", std::to_string(base))});
    case 4:
      return object({member("realtime", std::to_string(base)), member("monotonic", "-3")});
    default:
      return object({member("realtime", std::to_string(base)),
                     member("monotonic", std::to_string(base / 1000))});
  }
}

std::string state(Draw& d) {
  if (d.chance(5))
    return d.chance(50) ? "[]" : "7";
  std::vector<std::string> m;
  const std::uint32_t n = counter(d);
  if (d.chance(70))
    m.push_back(member("KExecCount", d.chance(85)
                                         ? std::to_string(n)
                                         : d.pick(std::vector<std::string>{
                                               str("5"), "5.0", "4294967296", "-1", "null"})));
  if (d.chance(30))
    m.push_back(member("kexecsCount", std::to_string(counter(d))));
  const char* keys[] = {"ShutdownStartTimestamp", "ShutdownFinishTimestamp",
                        "ShutdownLateStartTimestamp", "ShutdownLateFinishTimestamp"};
  for (std::size_t i = 0; i < 4; ++i)
    if (d.chance(40))
      m.push_back(member(keys[i], timestamp(d, 1'760'000'000'000'000 + i)));
  if (d.chance(10))
    m.push_back(member("somethingNew", "[1,2]"));
  return object(m);
}

std::string entry(Draw& d, const MappingCase& c, std::size_t u, std::size_t i) {
  std::vector<std::string> m;
  const bool session = !c.sessions.empty() && d.chance(25);
  if (!d.chance(3))
    m.push_back(member("type", d.chance(95) ? str(session ? "luo_session" : "fd")
                                            : d.pick(std::vector<std::string>{str("other"), "5"})));
  if (!d.chance(3)) {
    std::string name = "n" + std::to_string(u) + "." + std::to_string(i);
    if (d.chance(5))
      name = d.pick(std::vector<std::string>{"a:b", "ctl\x01", "", std::string(300, 'l')});
    m.push_back(member("name", d.chance(97) ? str(name) : "5"));
  }
  if (!session || d.chance(10)) {
    if (!d.chance(5)) {
      const std::uint64_t t = c.files == 0 ? 1 : 1 + d.below(c.files);
      std::string v = d.chance(90) ? std::to_string(t) : number_spelling(d, t);
      if (d.chance(4))
        v = "0";
      if (d.chance(4))
        v = std::to_string(c.files + 5);  // not preserved
      m.push_back(member("token", v));
    }
  }
  if (session || d.chance(5)) {
    if (!d.chance(5)) {
      std::string s = c.sessions.empty() ? "nope" : d.pick(c.sessions);
      if (d.chance(5))
        s = d.pick(std::vector<std::string>{"nope", "systemd", std::string(70, 'L')});
      m.push_back(member("sessionName", str(s)));
    }
  }
  if (d.chance(5))
    m.push_back(member("extra", "{\"x\":1}"));
  if (d.chance(3) && !m.empty())
    m.push_back(m.front());  // a repeated field
  return object(m);
}

std::string units(Draw& d, const MappingCase& c) {
  if (d.chance(4))
    return "[]";
  const std::vector<std::string> unit_names = {"a.service",   "db.service", "vmm@vm0.service",
                                               "x.socket",    "bad",        "",
                                               "a b.service", "-.slice"};
  std::vector<std::string> m;
  const std::size_t n = d.below(5);
  std::vector<std::string> used;
  for (std::size_t u = 0; u < n; ++u) {
    std::string name = d.pick(unit_names);
    if (std::find(used.begin(), used.end(), name) != used.end() && !d.chance(30))
      name = "u" + std::to_string(u) + ".service";  // mostly unique; sometimes repeated
    used.push_back(name);
    std::string body;
    if (d.chance(5)) {
      body = d.pick(std::vector<std::string>{"{}", object({member("fdstore", "{}")}), "[]"});
    } else {
      std::vector<std::string> entries;
      const std::size_t k = d.below(6);
      for (std::size_t i = 0; i < k; ++i)
        entries.push_back(entry(d, c, u, i));
      body = object({member("fdstore", array(entries))});
    }
    m.push_back(member(name, body));
  }
  return object(m);
}

}  // namespace

MappingCase generate_mapping(std::uint64_t seed) {
  Draw d(seed, kSize);
  MappingCase c;
  c.files = d.below(6);
  for (std::size_t i = 0, n = d.below(3); i < n; ++i)
    c.sessions.push_back("tp-" + std::to_string(i));
  if (d.chance(3)) {
    c.text = d.pick(std::vector<std::string>{
        "[]", "null", "{", "{}", "", R"({"a.service":[{"type":"fd","name":"x","token":1}]})"});
    return c;
  }
  std::vector<std::string> m;
  if (!d.chance(4))
    m.push_back(member("version", d.chance(85) ? "1" : number_spelling(d, d.chance(50) ? 1 : 2)));
  if (d.chance(80))
    m.push_back(member("state", state(d)));
  if (d.chance(90))
    m.push_back(member("units", units(d, c)));
  if (d.chance(3) && !m.empty())
    m.push_back(m.front());  // a repeated top-level key
  if (d.chance(10))
    std::swap(m.front(), m.back());
  c.text = object(m);
  switch (d.below(20)) {
    case 0:
      c.text += "   \n";
      break;
    case 1:
      c.text += " x";
      break;
    default:
      break;
  }
  return c;
}

}  // namespace luo::sdtest
