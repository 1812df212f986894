#include "luo/proofs/spin_crosscheck.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "luo/proofs/promela.hpp"

namespace luo::proofs {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string find_on_path(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t pos = 0;
  while (pos <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', pos), dirs.size());
    const std::string dir = dirs.substr(pos, end - pos);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0)
      return candidate;
    pos = end + 1;
  }
  return "";
}

std::string compiler(const SpinOptions& o) {
  if (!o.cc.empty())
    return find_on_path(o.cc);
  for (const char* cc : {"gcc", "cc"}) {
    if (auto p = find_on_path(cc); !p.empty())
      return p;
  }
  return "";
}

struct Exit {
  bool ok = false;  // exited with status 0
  double seconds = 0;
  std::string failure;  // how it failed, for the error message
};

// Runs argv in `dir` with stdout and stderr into `log`; no shell.
Exit run(const std::vector<std::string>& argv, const fs::path& dir, const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid < 0)
    return {false, 0, "fork failed"};
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || chdir(dir.c_str()) != 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
      _exit(126);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  Exit e;
  e.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  e.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!e.ok) {
    e.failure =
        argv[0] + (WIFEXITED(status) ? " exited with status " + std::to_string(WEXITSTATUS(status))
                                     : std::string(" was killed by a signal"));
  }
  return e;
}

std::string tail(const fs::path& log, std::size_t lines = 12) {
  std::ifstream in(log);
  std::vector<std::string> last;
  for (std::string l; std::getline(in, l);) {
    last.push_back(l);
    if (last.size() > lines)
      last.erase(last.begin());
  }
  std::string s;
  for (const auto& l : last)
    s += "  | " + l + "\n";
  return s;
}

std::uint64_t number_before(const std::string& line, const std::string& marker) {
  const std::size_t at = line.find(marker);
  if (at == std::string::npos)
    return 0;
  std::size_t begin = at;
  while (begin > 0 && line[begin - 1] == ' ')
    --begin;
  std::size_t end = begin;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(line[begin - 1])))
    --begin;
  return begin == end ? 0 : std::stoull(line.substr(begin, end - begin));
}

// Reads pan's report: the counts, whether the search was cut, and each distinct error message.
// With -c0 pan prints an error whenever its text differs from the previous error's, so every
// distinct message appears at least once however many times it repeats.
PanRun read_pan(const std::string& claim, const fs::path& log, double seconds) {
  PanRun r;
  r.claim = claim;
  r.seconds = seconds;
  std::ifstream in(log);
  std::set<std::string> seen;
  bool counted = false, cut = false;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("pan:", 0) == 0 && l.size() > 4 && std::isdigit(static_cast<unsigned char>(l[4]))) {
      std::string msg = l.substr(l.find(':', 4) + 2);
      if (const auto at = msg.rfind(" (at depth"); at != std::string::npos)
        msg.resize(at);
      if (seen.insert(msg).second)
        r.messages.push_back(msg);
    } else if (l.find("states, stored") != std::string::npos) {
      r.states = number_before(l, "states, stored");
      counted = true;
    } else if (const auto at = l.find("errors: "); at != std::string::npos) {
      r.errors = std::stoull(l.substr(at + 8));
    } else if (l.find("max search depth too small") != std::string::npos) {
      cut = true;
    }
  }
  r.complete = counted && !cut;
  return r;
}

// pan -w: 2^w hash slots of 8 bytes; about two per state keeps chains short without
// reserving gigabytes. Only the speed depends on it, never the count.
int hash_bits(std::uint64_t states) {
  return std::clamp(static_cast<int>(std::bit_width(states)) + 1, 16, 26);
}

}  // namespace

bool CrossCheck::agree() const {
  return error.empty() && our_states == spin_states &&
         std::all_of(properties.begin(), properties.end(),
                     [](const PropertyAgreement& p) { return p.agree(); });
}

std::string spin_missing(const SpinOptions& options) {
  std::string missing;
  if (find_on_path(options.spin).empty())
    missing = "'" + options.spin + "' not found on PATH (Debian package spin)";
  if (compiler(options).empty()) {
    missing += std::string(missing.empty() ? "" : "; ") + "no C compiler (" +
               (options.cc.empty() ? std::string("gcc or cc") : options.cc) + ") on PATH";
  }
  return missing;
}

SpinResult run_spin(const Bounds& bounds, const std::string& promela, const SpinOptions& options,
                    std::uint64_t expected_states) {
  SpinResult x;
  x.verdicts.fill(PropertyStatus::not_checked);
  if (auto why = bounds.validate(); !why.empty()) {
    x.error = why;
    return x;
  }
  if (auto missing = spin_missing(options); !missing.empty()) {
    x.error = missing;
    return x;
  }
  fs::path dir;
  bool remove_dir = false;
  if (options.work_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    const std::string base = tmp && *tmp ? tmp : "/tmp";
    std::string templ = base + "/luo-spin-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      x.error = "cannot create a directory in " + base;
      return x;
    }
    dir = templ;
    remove_dir = true;
  } else {
    dir = options.work_dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
  }
  struct Cleanup {
    fs::path dir;
    bool active;
    ~Cleanup() {
      std::error_code ec;
      if (active)
        fs::remove_all(dir, ec);
    }
  } cleanup{dir, remove_dir};
  std::ofstream(dir / "model.pml") << promela;

  const auto fail = [&](const Exit& e, const fs::path& log) {
    x.error = e.failure + ":\n" + tail(log);
    return x;
  };
  const Exit gen = run({find_on_path(options.spin), "-a", "model.pml"}, dir, dir / "spin.log");
  x.build_seconds += gen.seconds;
  if (!gen.ok)
    return fail(gen, dir / "spin.log");
  // Exact storage (no -DBITSTATE, no -DHC), no partial-order reduction, every process counted
  // for weak fairness. One build serves the safety run (claim `safety`) and the liveness runs.
  const Exit build =
      run({compiler(options), "-O" + std::to_string(options.optimize), "-w", "-DNOREDUCE",
           "-DVECTORSZ=4096", "-DNFAIR=" + std::to_string(promela_process_count(bounds) / 4 + 2),
           "-o", "pan", "pan.c"},
          dir, dir / "cc.log");
  x.build_seconds += build.seconds;
  if (!build.ok)
    return fail(build, dir / "cc.log");

  const std::string depth = "-m" + std::to_string(options.max_depth);
  const int w = hash_bits(expected_states);
  const Exit safety = run({"./pan", "-n", "-c0", depth, "-w" + std::to_string(w), "-N",
                           std::string(kPromelaSafetyClaim)},
                          dir, dir / "safety.log");
  x.seconds += safety.seconds;
  x.runs.push_back(read_pan(std::string(kPromelaSafetyClaim), dir / "safety.log", safety.seconds));
  const PanRun s = x.runs.back();
  x.states = s.states;
  if (!s.complete) {
    x.error = "the safety run did not complete (depth limit -m" +
              std::to_string(options.max_depth) + ", or no report):\n" + tail(dir / "safety.log");
    return x;
  }
  for (const auto& p : kProperties) {
    if (p.kind != PropertyKind::liveness)
      x.verdicts[static_cast<std::size_t>(p.id)] = PropertyStatus::holds;
  }
  for (const auto& msg : s.messages) {
    const std::string prefix = "assertion violated ";
    const auto id =
        msg.rfind(prefix, 0) == 0 ? parse_property(msg.substr(prefix.size())) : std::nullopt;
    if (id && property(*id).kind != PropertyKind::liveness)
      x.verdicts[static_cast<std::size_t>(*id)] = PropertyStatus::violated;
    else
      x.error += "SPIN reports \"" + msg + "\", which no property explains\n";
  }

  if (options.liveness) {
    const World world(bounds);
    PropertyStatus live = PropertyStatus::holds;
    for (int k = 0; k < world.fd_count() + bounds.sessions && live == PropertyStatus::holds; ++k) {
      const std::string claim = promela_claim_name(world, k);
      const fs::path log = dir / (claim + ".log");
      // -A: the assertions were judged by the safety run over the same states.
      const Exit e = run({"./pan", "-n", "-a", "-f", "-A", depth,
                          "-w" + std::to_string(std::min(w + 2, 26)), "-N", claim},
                         dir, log);
      x.seconds += e.seconds;
      x.runs.push_back(read_pan(claim, log, e.seconds));
      const PanRun& r = x.runs.back();
      if (!r.complete) {
        x.error += "the liveness run " + claim + " did not complete:\n" + tail(log);
        live = PropertyStatus::not_checked;
        break;
      }
      for (const auto& msg : r.messages) {
        if (msg == "acceptance cycle")
          live = PropertyStatus::violated;
        else
          x.error += "SPIN reports \"" + msg + "\" for " + claim + ", which no property explains\n";
      }
    }
    x.verdicts[static_cast<std::size_t>(PropertyId::eventually_delivered)] = live;
  }
  return x;
}

CrossCheck compare(const CheckResult& ours, const SpinResult& spin) {
  CrossCheck x;
  x.bounds = ours.bounds;
  x.our_states = ours.distinct;
  x.our_seconds = ours.seconds;
  x.spin_states = spin.states;
  x.spin_seconds = spin.seconds;
  x.build_seconds = spin.build_seconds;
  x.runs = spin.runs;
  x.error = spin.error;
  if (ours.symmetry || !ours.complete)
    x.error += "check() must run unreduced and to completion for a comparison\n";
  for (const auto& p : kProperties)
    x.properties.push_back(
        {p.id, ours.verdict(p.id).status, spin.verdicts[static_cast<std::size_t>(p.id)]});
  return x;
}

CrossCheck spin_crosscheck(const Bounds& bounds, const SpinOptions& options) {
  // Before check(): a refused model should not cost a whole search first.
  if (auto why = promela_refusal(bounds); !why.empty())
    throw PromelaUnsupported("spin_crosscheck: " + why);
  if (auto missing = spin_missing(options); !missing.empty() || !bounds.validate().empty()) {
    CrossCheck x;
    x.bounds = bounds;
    x.error = missing.empty() ? bounds.validate() : missing;
    return x;
  }
  CheckOptions copt;
  copt.bounds = bounds;
  copt.symmetry = false;
  copt.liveness = options.liveness;
  const CheckResult ours = check(copt);
  PromelaOptions popt;
  if (!options.liveness)
    popt.properties &= ~bit(PropertyId::eventually_delivered);
  return compare(ours, run_spin(bounds, to_promela(bounds, popt), options, ours.distinct));
}

std::string to_text(const CrossCheck& x) {
  std::string out;
  char line[512];
  out += "SPIN cross-check: " + x.bounds.describe() + "\n";
  std::snprintf(line, sizeof line, "%-40s %-14s %s\n", "", "luo-lifecycle",
                "SPIN (exact, no reduction)");
  out += line;
  std::snprintf(line, sizeof line, "%-40s %-14llu %llu%s\n", "distinct states",
                static_cast<unsigned long long>(x.our_states),
                static_cast<unsigned long long>(x.spin_states),
                x.our_states == x.spin_states ? "" : "   MISMATCH");
  out += line;
  char ours[32];
  std::snprintf(ours, sizeof ours, "%.2f s", x.our_seconds);
  std::snprintf(line, sizeof line, "%-40s %-14s %.2f s pan (+ %.2f s spin -a and cc)\n", "time",
                ours, x.spin_seconds, x.build_seconds);
  out += line;
  out += "\n";
  std::snprintf(line, sizeof line, "%-40s %-14s %-14s %s\n", "property", "luo-lifecycle", "SPIN",
                "");
  out += line;
  for (const auto& p : x.properties) {
    std::snprintf(line, sizeof line, "%-40s %-14s %-14s %s\n",
                  std::string(property(p.id).name).c_str(),
                  std::string(status_name(p.ours)).c_str(),
                  std::string(status_name(p.spin)).c_str(), p.agree() ? "" : "DISAGREE");
    out += line;
  }
  out += "\npan runs:\n";
  for (const auto& r : x.runs) {
    std::snprintf(line, sizeof line, "  -N %-36s %10llu states stored, %llu errors, %.2f s\n",
                  r.claim.c_str(), static_cast<unsigned long long>(r.states),
                  static_cast<unsigned long long>(r.errors), r.seconds);
    out += line;
  }
  if (!x.error.empty())
    out += "\nERROR: " + x.error + (x.error.back() == '\n' ? "" : "\n");
  out += x.agree() ? "\nverdict: SPIN and luo-lifecycle agree\n"
                   : "\nverdict: SPIN and luo-lifecycle DISAGREE\n";
  return out;
}

}  // namespace luo::proofs
