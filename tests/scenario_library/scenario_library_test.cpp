// The scenario library (luo/scenario/scenario.hpp) without the CLI: its op table against the
// docs and the examples, the fault spellings against the simulator's enum, and scenarios run
// in-process.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "luo/adapters/simulated_kernel.hpp"
#include "luo/scenario/scenario.hpp"

namespace luo::scenario {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::filesystem::path kSource = LUO_SOURCE_DIR;

std::set<std::string> table_names() {
  std::set<std::string> names;
  for (const OpSpec& op : ops())
    names.insert(std::string(op.name));
  return names;
}

// Every "op": "name" in a text (a JSON example, a Markdown code block).
std::set<std::string> ops_named_in(const std::string& text) {
  static const std::regex op(R"re("op"\s*:\s*"([^"]*)")re");
  std::set<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), op), end; it != end; ++it)
    names.insert((*it)[1]);
  return names;
}

std::set<std::string> ops_of_examples() {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kSource / "examples/scenarios")) {
    if (entry.path().extension() == ".json")
      names.merge(ops_named_in(read_file(entry.path())));
  }
  return names;
}

TEST(ScenarioOps, TheTableHasEachNameOnceAndEveryRowAHandler) {
  EXPECT_EQ(table_names().size(), ops().size());
  for (const OpSpec& op : ops()) {
    EXPECT_NE(op.handler, nullptr) << op.name;
    EXPECT_EQ(find_op(op.name), &op) << op.name;
  }
  EXPECT_EQ(find_op("reboot"), nullptr);
}

TEST(ScenarioOps, EveryOperationTheDocsAndExamplesNameIsInTheTable) {
  const auto table = table_names();
  for (const auto& name : ops_of_examples())
    EXPECT_TRUE(table.contains(name)) << "examples/scenarios/ use an unknown op " << name;
  for (const auto& name : ops_named_in(read_file(kSource / "docs/scenarios.md")))
    EXPECT_TRUE(table.contains(name)) << "docs/scenarios.md names an unknown op " << name;
}

// docs/scenarios.md lists the operations under "operations:" (its generated --help block), each
// at two spaces' indent with its fields; the examples run each one at least once.
TEST(ScenarioOps, EveryOperationInTheTableIsDocumentedAndInAnExample) {
  const std::string doc = read_file(kSource / "docs/scenarios.md");
  const auto start = doc.find("\noperations:\n");
  ASSERT_NE(start, std::string::npos);
  const auto end = doc.find("\n\n", start + 1);
  std::set<std::string> documented;
  static const std::regex line(R"(\n  ([a-z_]+)[ \n])");
  const std::string block = doc.substr(start, end - start + 1);
  for (std::sregex_iterator it(block.begin(), block.end(), line), e; it != e; ++it)
    documented.insert((*it)[1]);
  EXPECT_EQ(documented, table_names());

  const auto exercised = ops_of_examples();
  for (const auto& name : table_names())
    EXPECT_TRUE(exercised.contains(name)) << "no example in examples/scenarios/ runs " << name;
}

TEST(ScenarioFaults, EveryFaultHasOneSpellingThatReadsBack) {
  std::set<std::string_view> names;
  for (auto f : {SimFault::deserialize, SimFault::preserve_handler, SimFault::preserve_copy_back,
                 SimFault::freeze, SimFault::retrieve_handler, SimFault::can_finish,
                 SimFault::reserve_session_fd}) {
    const std::string_view name = sim_fault_name(f);
    ASSERT_FALSE(name.empty());
    EXPECT_EQ(sim_fault_from_name(name), f) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), 7u);
  EXPECT_EQ(sim_fault_from_name("everything"), std::nullopt);
  EXPECT_EQ(sim_fault_from_name(""), std::nullopt);
}

Scenario parsed(const char* text) {
  auto r = parse(Json::parse(text));
  if (auto* err = std::get_if<ScenarioError>(&r))
    ADD_FAILURE() << err->path << ": " << err->message;
  return std::get<Scenario>(std::move(r));
}

TEST(ScenarioParse, RefusesWithThePathOfTheFirstProblem) {
  struct Case {
    const char* text;
    const char* path;
  };
  for (const Case& c : {
           Case{R"([{"op":"preserve","session":"s","memfd":"m","tokn":1}])", "operations[0].tokn"},
           Case{R"([{"op":"kexec"},{"op":"inject","fault":"everything"}])", "operations[1].fault"},
           Case{R"([{"op":"inject"}])", "operations[0].fault"},
           Case{R"({"profile":"8.0","operations":[]})", "profile"},
           Case{R"({"luo":1,"operations":[]})", "luo"},
           Case{R"({"description":"x"})", "operations"},
           Case{R"([{"op":"kexec","expect":"OK"}])", "operations[0].expect"},
       }) {
    auto r = parse(Json::parse(c.text));
    ASSERT_TRUE(std::holds_alternative<ScenarioError>(r)) << c.text;
    EXPECT_EQ(std::get<ScenarioError>(r).path, c.path) << c.text;
  }
  const Scenario s = parsed(R"({"profile":"6.19","luo":false,"operations":[{"op":"kexec"}]})");
  EXPECT_EQ(s.profile, KernelProfile::v6_19);
  EXPECT_FALSE(s.luo_enabled);
  EXPECT_EQ(s.operations.size(), 1u);
}

TEST(ScenarioRun, StepsRunThroughTheRuntimeAndCompareWithTheirExpectation) {
  Simulation sim(parsed(R"([
      {"op":"open_device"},
      {"op":"create_session","session":"vm0"},
      {"op":"memfd_create","memfd":"m","data":"guest"},
      {"op":"inject","fault":"preserve_handler","errno":"ENOSPC"},
      {"op":"preserve","session":"vm0","memfd":"m","token":1,"expect":"ENOSPC"},
      {"op":"preserve","session":"vm0","memfd":"m","token":1},
      {"op":"kexec"},
      {"op":"open_device"},
      {"op":"retrieve_session","session":"vm0","as":"in"},
      {"op":"retrieve_fd","session":"in","token":1,"data":"not the guest"},
      {"op":"finish","session":"vm0"}])"),
                 nullptr);
  std::vector<Step> steps;
  for (std::size_t i = 0; i < sim.size(); ++i) {
    auto r = sim.step(i);
    if (i == 10) {
      // "vm0" was bound to the outgoing session of boot 0; the incoming one is "in".
      ASSERT_TRUE(std::holds_alternative<ScenarioError>(r));
      EXPECT_EQ(std::get<ScenarioError>(r).path, "operations[10].session");
      break;
    }
    ASSERT_TRUE(std::holds_alternative<Step>(r)) << std::get<ScenarioError>(r).message;
    steps.push_back(std::get<Step>(std::move(r)));
  }
  ASSERT_EQ(steps.size(), 10u);
  EXPECT_EQ(steps[4].result.error, ENOSPC);
  EXPECT_TRUE(steps[4].as_expected);
  EXPECT_EQ(steps[5].result.error, 0);
  EXPECT_EQ(steps[6].boot, 0u);
  EXPECT_EQ(steps[7].boot, 1u);
  EXPECT_TRUE(steps[9].result.mismatch);
  EXPECT_FALSE(steps[9].as_expected);
  EXPECT_EQ(steps[9].expected, "ok");
}

TEST(ScenarioRun, AnExpectationMatchesOnlyItsOwnResult) {
  StepResult ok;
  EXPECT_TRUE(ok.as_expected("ok"));
  EXPECT_TRUE(ok.as_expected("any"));
  EXPECT_FALSE(ok.as_expected("EIO"));
  EXPECT_FALSE(ok.as_expected("mismatch"));
  StepResult eio;
  eio.error = EIO;
  EXPECT_TRUE(eio.as_expected("EIO"));
  EXPECT_FALSE(eio.as_expected("ok"));
  EXPECT_FALSE(eio.as_expected("EBUSY"));
  StepResult differs;
  differs.mismatch = true;
  EXPECT_TRUE(differs.as_expected("mismatch"));
  EXPECT_FALSE(differs.as_expected("ok"));
}

TEST(ScenarioRun, TheObserverSeesTheTransitionsOfEveryStep) {
  struct Count final : Observer {
    int records = 0;
    void on_transition(const TransitionRecord&) override { ++records; }
  } count;
  Simulation sim(parsed(R"([{"op":"open_device"},{"op":"create_session","session":"a"}])"), &count);
  ASSERT_TRUE(std::holds_alternative<Step>(sim.step(0)));
  const int after_open = count.records;
  EXPECT_GT(after_open, 0);
  ASSERT_TRUE(std::holds_alternative<Step>(sim.step(1)));
  EXPECT_GT(count.records, after_open);
}

}  // namespace
}  // namespace luo::scenario
