// Diagrams are written from the tables: every edge comes from rows, labels carry guard and result.
#include <gtest/gtest.h>

#include "luo/model/all_machines.hpp"
#include "luo/model/diagram.hpp"

namespace luo {
namespace {

TEST(Diagram, MermaidHasTheInitialStateTheTerminalsAndGroupedOutcomes) {
  const std::string text = to_mermaid(kOutgoingSessionMachine);
  EXPECT_NE(text.find("[*] --> created"), std::string::npos);
  EXPECT_NE(text.find("closed --> [*]"), std::string::npos);
  EXPECT_NE(text.find("created --> created : PRESERVE_FD: [token_in_use] EEXIST"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("undefined"), std::string::npos) << "undefined rows are hidden by default";
}

TEST(Diagram, OptionsHideRefusalsAndShowUndefinedRows) {
  const std::string quiet = to_mermaid(kOutgoingSessionMachine, {.show_refusals = false});
  EXPECT_EQ(quiet.find("EEXIST"), std::string::npos);
  EXPECT_NE(quiet.find("created --> preserving : PRESERVE_FD"), std::string::npos);
  const std::string all = to_mermaid(kOutgoingSessionMachine, {.show_undefined = true});
  EXPECT_NE(all.find("undefined"), std::string::npos);
}

TEST(Diagram, ProfilesSelectTheirRows) {
  const std::string legacy = to_mermaid(kOutgoingSessionMachine, {.profile = KernelProfile::v6_19});
  const std::string current = to_mermaid(kOutgoingSessionMachine, {.profile = KernelProfile::v7_2});
  EXPECT_NE(legacy.find("[file_limit_reached] ENOSPC"), std::string::npos);
  EXPECT_EQ(current.find("[file_limit_reached] ENOSPC"), std::string::npos);
}

TEST(Diagram, DotIsAGraphWithEveryMachine) {
  for (auto name : kMachineNames) {
    bool found = visit_machine(name, [&](const auto& m) {
      const std::string dot = to_dot(m);
      EXPECT_EQ(dot.rfind("digraph \"" + std::string(name) + "\"", 0), 0u);
      EXPECT_NE(dot.find("__start ->"), std::string::npos);
      EXPECT_EQ(dot.back(), '\n');
    });
    EXPECT_TRUE(found) << name;
  }
  EXPECT_FALSE(visit_machine("no-such-machine", [](const auto&) {}));
}

}  // namespace
}  // namespace luo
