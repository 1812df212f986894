// The mutation report (docs/property-tests.md): every property, run against copies of impl/ and
// the simulator that carry deliberate bugs (luo/test/mutants.hpp), must fail for each bug, and
// hold without one. This proves the properties can fail, and says which property catches what.
//
// Each (mutant, property) pair runs profile after profile until the property fails or every
// profile ran its report budget (LUO_MUTATION_SEQUENCES, default 100 sequences per profile,
// without shrinking). The table printed at the end is the report.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "handoff_row_walk.hpp"
#include "luo/test/mutants.hpp"
#include "properties.hpp"
#include "property_runner.hpp"

namespace luo::test {
// gtest prints the parameter in test listings: the mutant's name, not a byte dump.
inline void PrintTo(Mutant m, std::ostream* os) {
  *os << mutant_name(m);
}
}  // namespace luo::test

namespace luo::testing {
namespace {

using test::Mutant;

int report_sequences() {
  const char* text = std::getenv("LUO_MUTATION_SEQUENCES");
  const int n = text != nullptr ? std::atoi(text) : 0;
  return n > 0 ? n : 100;
}

// A fixed seed makes the report the same on every run (RC_PARAMS="seed=..." overrides it), so a
// mutant that stops being caught is a change someone made, not bad luck.
std::uint64_t report_seed() {
  const char* text = std::getenv("LUO_MUTATION_SEED");
  return text != nullptr ? std::strtoull(text, nullptr, 10) : 20260601;
}

// Selects a mutant for the scope; the libraries read it at every mutation point.
class ActiveMutant {
 public:
  explicit ActiveMutant(Mutant m) { test::set_active_mutant(m); }
  ~ActiveMutant() { test::set_active_mutant(Mutant::none); }
  ActiveMutant(const ActiveMutant&) = delete;
  ActiveMutant& operator=(const ActiveMutant&) = delete;
};

struct Catch {
  std::string where;   // "Property/profile", empty if not caught
  int sequence = 0;    // the failing sequence's number
  std::string reason;  // the first line of rapidcheck's report
};

// The sentence our assertions put in the failure message: the first non-empty line after the
// RC_FAIL(...) / RC_ASSERT(...) line rapidcheck prints.
std::string reason_of(const std::string& message) {
  std::istringstream in(message);
  std::string line;
  bool after_assertion = false;
  while (std::getline(in, line)) {
    if (after_assertion && !line.empty())
      return line;
    after_assertion =
        after_assertion || line.starts_with("RC_FAIL") || line.starts_with("RC_ASSERT");
  }
  return message.substr(0, message.find('\n'));
}

Catch first_catch(const PropertyDef& p) {
  for (KernelProfile profile : kAllProfiles) {
    if (!p.applies(profile))
      continue;
    const PropertyRun run = run_property(
        property_id(p, profile), report_sequences(), [&] { p.sequence(profile); },
        RunOptions{Verbosity::quiet, p.max_commands, report_seed()});
    if (!run.passed)
      return Catch{property_id(p, profile), run.sequences + 1, reason_of(run.message)};
  }
  return {};
}

std::map<Mutant, std::map<std::string, Catch>>& report() {
  static std::map<Mutant, std::map<std::string, Catch>> r;
  return r;
}

TEST(MutationReport, WithoutAMutantEveryPropertyHolds) {
  ActiveMutant none(Mutant::none);
  for (const PropertyDef& p : all_properties()) {
    const Catch c = first_catch(p);
    EXPECT_TRUE(c.where.empty()) << c.where << " fails without a mutant: " << c.reason;
  }
}

class MutationReport : public ::testing::TestWithParam<Mutant> {};

TEST_P(MutationReport, SomePropertyCatchesIt) {
  ActiveMutant active(GetParam());
  bool caught = false;
  for (const PropertyDef& p : all_properties()) {
    const Catch c = first_catch(p);
    report()[GetParam()][std::string(p.name)] = c;
    caught = caught || !c.where.empty();
  }
  EXPECT_TRUE(caught) << "no property notices mutant " << test::mutant_name(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Mutants, MutationReport, ::testing::ValuesIn(test::kAllMutants),
                         [](const ::testing::TestParamInfo<Mutant>& param) {
                           return std::string(test::mutant_name(param.param));
                         });

// Mutants of the HandoffManager object: the walk over every row of kHandoffMachine
// (handoff_row_walk.hpp) holds on the object as built, and fails for each of them.
TEST(HandoffObjectMutants, WithoutAMutantTheRowWalkHolds) {
  ActiveMutant none(Mutant::none);
  const auto failures = walk_handoff_rows();
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
}

class HandoffObjectMutants : public ::testing::TestWithParam<Mutant> {};

TEST_P(HandoffObjectMutants, TheRowWalkCatchesIt) {
  ActiveMutant active(GetParam());
  const auto failures = walk_handoff_rows();
  EXPECT_FALSE(failures.empty()) << "the row walk does not notice mutant "
                                 << test::mutant_name(GetParam());
  for (const auto& f : failures)
    std::cout << "  " << test::mutant_name(GetParam()) << " caught: " << f << "\n";
}

INSTANTIATE_TEST_SUITE_P(Mutants, HandoffObjectMutants, ::testing::ValuesIn(test::kObjectMutants),
                         [](const ::testing::TestParamInfo<Mutant>& param) {
                           return std::string(test::mutant_name(param.param));
                         });

// Prints the table once every mutant ran (also when only some were selected).
class ReportPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    if (report().empty())
      return;
    std::cout << "\nmutation report (" << report_sequences()
              << " sequences per property and profile, seed " << report_seed() << "):\n";
    for (const auto& [mutant, by_property] : report()) {
      std::cout << "  " << test::mutant_name(mutant) << ":\n";
      for (const auto& [property, c] : by_property) {
        std::cout << "    " << property << ": ";
        if (c.where.empty())
          std::cout << "not caught\n";
        else
          std::cout << "caught on " << c.where << " at sequence " << c.sequence << ": " << c.reason
                    << "\n";
      }
    }
  }
};

const auto* const kPrinter = ::testing::AddGlobalTestEnvironment(new ReportPrinter);

}  // namespace
}  // namespace luo::testing
