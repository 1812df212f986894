// differential.hpp: the library against real systemd 262.1, case by case (Tier 0, issue 12).
//
// Stage B: the same Stage A document and the same fds go to the library's Stage B
// (library_side.hpp) and to systemd-shutdown's (Systemd262::stage_b), each on its own simulated
// kernel, four kernels per case:
//   - kernels 1: the handed-over session is read raw: the mapping text (the library's with its
//     deliberate padding stripped) must be byte-identical, and every token must carry the same
//     file;
//   - kernels 2: each side's output is restored by the *other* side (262's restore reads the
//     library's Stage B, the library's reader reads 262's), and every mapping entry must arrive.
// Restore: a mapping document, well-formed or not, is handed over identically on two kernels;
// 262's PID 1 restore and the library's must reach the same verdict for the document, the same
// counter and timestamps, and restore the same entries in the same order.
//
// A difference is reported by kind (one line naming what differs) with a detail. Differences the
// library makes on purpose (docs/systemd-interop.md, "Deliberate differences") are marked
// deliberate and do not fail a test.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <rapidcheck.h>

#include "library_side.hpp"
#include "luo/impl/unique_fd.hpp"
#include "systemd262.hpp"

namespace luo::sdtest {

struct Difference {
  std::string kind;
  std::string detail;
  bool deliberate = false;
};

// ---------------------------------------------------------------------------------------------
// Stage B cases

struct StoreEntry {
  enum class Kind { memfd, session, refused, repeat };
  Kind kind = Kind::memfd;
  std::string name;
  std::string session_name;  // for session
};
struct StoreUnit {
  std::string unit;
  std::vector<StoreEntry> entries;
};
struct StoreCase {
  std::vector<StoreUnit> units;
  std::uint32_t counter = 0;
  bool pid1_timestamps = false;  // Stage A carries ShutdownStart/FinishTimestamp (262's PID 1)
};

// A Stage A document with live fds behind its numbers.
struct StageAFixture {
  std::string text;  // "" = no Stage A at all (a v261 PID 1 with nothing to serialize)
  std::vector<UniqueFd> fds;
  std::vector<std::string> sessions;  // third-party sessions to create before Stage B
};
StageAFixture materialize(const StoreCase& c, SystemdProfile p);

std::vector<Difference> compare_stage_b(Systemd262& sd, const StageAFixture& f, SystemdProfile p);

// ---------------------------------------------------------------------------------------------
// Restore cases

struct MappingCase {
  std::string text;
  std::uint64_t files = 0;            // tokens 1..files exist, holding "file-<token>"
  std::vector<std::string> sessions;  // third-party sessions that exist
};

std::vector<Difference> compare_restore(Systemd262& sd, const MappingCase& c, SystemdProfile p);

// ---------------------------------------------------------------------------------------------
// Generators (rapidcheck, sampled from fixed seeds so case n is reproducible by its number)

StoreCase generate_store(std::uint64_t seed);
MappingCase generate_mapping(std::uint64_t seed);
std::string describe(const StoreCase& c);

// Differences of many cases, by kind: how many cases, and the first one seen.
class Tally {
 public:
  void add(const std::string& case_label, const std::vector<Difference>& diffs);
  // One line per kind, deliberate ones included; "" when nothing differed.
  std::string report() const;
  // The kinds that are not deliberate.
  std::vector<std::string> failing_kinds() const;
  std::string example(const std::string& kind) const;
  std::size_t count(const std::string& kind) const;

 private:
  struct Kind {
    std::size_t cases = 0;
    bool deliberate = false;
    std::string first_case;
    std::string first_detail;
  };
  std::map<std::string, Kind> kinds_;
};

}  // namespace luo::sdtest
