// The luo-lifecycle subcommands, run in-process through run_main(): exit codes (0 ok, 1 failure
// or negative verdict, 2 usage error), --help everywhere, --json output that parses, inspect's
// verdicts and skip reasons, simulate's scenarios and its errors for bad ones.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "run_cli.hpp"

namespace luo::cli {
namespace {

using testing::contains;
using testing::Ran;
using testing::run;

std::string source(const std::string& relative) {
  return std::string(LUO_SOURCE_DIR) + "/" + relative;
}

TEST(Cli, TopLevelHelpListsEveryCommandAndUsageErrorsExitTwo) {
  const Ran help = run({"--help"});
  EXPECT_EQ(help.status, kExitOk);
  for (const Command* c : commands())
    EXPECT_TRUE(contains(help.out, "  " + std::string(c->name) + " ")) << c->name;
  EXPECT_EQ(run({}).status, kExitUsage);
  const Ran unknown = run({"frobnicate"});
  EXPECT_EQ(unknown.status, kExitUsage);
  EXPECT_TRUE(contains(unknown.err, "unknown command 'frobnicate'"));
  const Ran help_of = run({"help", "inspect"});
  EXPECT_EQ(help_of.status, kExitOk);
  EXPECT_TRUE(contains(help_of.out, "usage: luo-lifecycle inspect"));
}

TEST(Cli, EverySubcommandHasHelpAndRefusesUnknownOptions) {
  for (const Command* c : commands()) {
    const std::string name(c->name);
    for (const char* flag : {"--help", "-h"}) {
      const Ran help = run({name, flag});
      EXPECT_EQ(help.status, kExitOk) << name;
      EXPECT_TRUE(contains(help.out, "usage: luo-lifecycle " + name)) << name;
      EXPECT_TRUE(contains(help.out, "--help")) << name;
      for (const Option& o : c->options)
        EXPECT_TRUE(contains(help.out, std::string(o.name))) << name << " " << o.name;
    }
    const Ran bad = run({name, "--no-such-option"});
    EXPECT_EQ(bad.status, kExitUsage) << name;
    EXPECT_TRUE(contains(bad.err, "unknown option '--no-such-option'")) << bad.err;
  }
}

TEST(Cli, OptionsTakeValuesEitherWayAndSayWhenOneIsMissing) {
  EXPECT_EQ(run({"table", "device", "--profile=6.19"}).status, kExitOk);
  EXPECT_EQ(run({"table", "device", "--profile", "6.19"}).status, kExitOk);
  const Ran missing = run({"table", "device", "--profile"});
  EXPECT_EQ(missing.status, kExitUsage);
  EXPECT_TRUE(contains(missing.err, "needs a value")) << missing.err;
  const Ran flag_value = run({"table", "device", "--json=yes"});
  EXPECT_EQ(flag_value.status, kExitUsage);
  const Ran profile = run({"table", "device", "--profile", "5.4"});
  EXPECT_EQ(profile.status, kExitUsage);
  EXPECT_TRUE(contains(profile.err, "unknown profile '5.4'"));
}

TEST(Cli, DemoRunsTheCycle) {
  const Ran r = run({"demo", "--profile", "6.19"});
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "demo: PASS")) << r.out;
  EXPECT_EQ(run({"demo", "extra"}).status, kExitUsage);
}

TEST(Cli, TableAsTextAndJson) {
  const Ran text = run({"table", "outgoing-session"});
  EXPECT_EQ(text.status, kExitOk);
  EXPECT_TRUE(contains(text.out, "token_in_use")) << text.out;
  const Ran json = run({"table", "outgoing-session", "--json", "--all"});
  ASSERT_EQ(json.status, kExitOk);
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["machine"], "outgoing-session");
  EXPECT_EQ(doc["initial"], "created");
  ASSERT_FALSE(doc["rows"].empty());
  bool undefined = false;
  for (const auto& row : doc["rows"])
    undefined = undefined || row["result"] == "undefined";
  EXPECT_TRUE(undefined) << "--all lists undefined rows";
  EXPECT_EQ(run({"table", "no-such-machine"}).status, kExitUsage);
  EXPECT_EQ(run({"table"}).status, kExitUsage);
}

TEST(Cli, DiagramDrawsEveryMachineInMermaidAndDot) {
  for (const char* m : {"device", "outgoing-session", "incoming-session", "file", "fd-store-entry",
                        "kexec-handoff"}) {
    const Ran mermaid = run({"diagram", m});
    EXPECT_EQ(mermaid.status, kExitOk) << m;
    EXPECT_EQ(mermaid.out.rfind("stateDiagram-v2\n", 0), 0u) << m;
    const Ran dot = run({"diagram", m, "--format", "dot", "--profile", "6.19"});
    EXPECT_EQ(dot.status, kExitOk) << m;
    EXPECT_EQ(dot.out.rfind("digraph \"" + std::string(m) + "\"", 0), 0u) << m;
  }
  const Ran quiet = run({"diagram", "outgoing-session", "--no-refusals"});
  EXPECT_FALSE(contains(quiet.out, "EEXIST"));
  EXPECT_TRUE(contains(run({"diagram", "outgoing-session"}).out, "[token_in_use] EEXIST"));
  EXPECT_EQ(run({"diagram", "device", "--format", "png"}).status, kExitUsage);
  EXPECT_EQ(run({"diagram", "nothing"}).status, kExitUsage);
}

TEST(Cli, DiagramWritesToAFile) {
  char path[] = "/tmp/luo-cli-test-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const Ran r = run({"diagram", "device", "--output", path});
  EXPECT_EQ(r.status, kExitOk);
  EXPECT_TRUE(r.out.empty());
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_EQ(text.str(), run({"diagram", "device"}).out);
  ::unlink(path);
}

TEST(Cli, DiagramRendersSvgWithGraphviz) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "Graphviz's dot is not installed";
  const Ran r = run({"diagram", "kexec-handoff", "--format", "svg"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "<svg")) << r.out.substr(0, 200);
  EXPECT_TRUE(contains(r.out, "handed_over"));
}

// ---------------------------------------------------------------------------------------------
// inspect

TEST(CliInspect, EveryGoldenMappingIsAcceptedAndItsStageDetected) {
  for (const char* name :
       {"stage_a_format_b", "stage_a_format_c", "stage_b_format_b", "stage_b_format_c"}) {
    const std::string path = source("tests/impl/golden/") + name + ".json";
    const Ran r = run({"inspect", path, "--json"});
    EXPECT_EQ(r.status, kExitOk) << name << r.out << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["verdict"], "accepted") << name;
    EXPECT_EQ(doc["stage"], std::string(1, name[6])) << name;
    EXPECT_EQ(doc["format"], name[15] == 'b' ? "B" : "C") << name;
    EXPECT_EQ(doc["accepted_entries"], 5) << name;
  }
}

TEST(CliInspect, PrettyPrintsAStageBMapping) {
  const Ran r = run({"inspect", source("tests/impl/golden/stage_b_format_c.json")});
  EXPECT_EQ(r.status, kExitOk);
  EXPECT_TRUE(contains(r.out, "Stage B mapping, format C (version 1)")) << r.out;
  EXPECT_TRUE(contains(r.out, "adopts KExecCount 4")) << r.out;
  EXPECT_TRUE(contains(r.out, "session \"myvmm-vm0\"")) << r.out;
  EXPECT_TRUE(contains(r.out, "verdict: accepted: a restore takes all 5 entries of 2 units"));
}

// One bad entry next to a good one: exit 1, the path of the bad one, the reason.
struct BadEntry {
  const char* entry;
  const char* reason;
};

TEST(CliInspect, NamesEverySkippedEntryWithItsPathAndReason) {
  const BadEntry cases[] = {
      {R"({"type":"fd","name":"zero","token":0})", "token 0 is reserved for the mapping"},
      {R"({"type":"fd","name":"no-token"})", "missing 'token' field"},
      {R"({"type":"fd","token":5})", "missing 'name' field"},
      {R"({"type":"pipe","name":"p","token":5})", "unknown type \"pipe\""},
      {R"({"type":"fd","name":"a:b","token":5})", "invalid fd name"},
      {R"({"type":"fd","name":"x","token":"5x"})", "token"},
      {R"({"type":"luo_session","name":"s"})", "missing 'sessionName' field"},
      {R"({"type":"luo_session","name":"s","sessionName":"systemd"})", "reserved"},
      {R"({"type":"fd","name":"dup","token":1})", "token 1 already used"},
  };
  for (const auto& c : cases) {
    const std::string doc = std::string(R"({"version":1,"units":{"a.service":{"fdstore":[)") +
                            R"({"type":"fd","name":"good","token":1},)" + c.entry + "]}}}";
    const Ran r = run({"inspect", "-", "--stage", "b"}, doc);
    EXPECT_EQ(r.status, kExitFailure) << c.entry;
    EXPECT_TRUE(contains(r.out, "skipped units[\"a.service\"].fdstore[1]: ")) << r.out;
    EXPECT_TRUE(contains(r.out, c.reason)) << c.entry << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, "verdict: partial")) << r.out;
    EXPECT_TRUE(contains(r.out, "take 1 entry")) << r.out;
  }
}

TEST(CliInspect, AnInvalidUnitNameIsNamed) {
  const Ran r = run({"inspect", "-", "--json"}, R"({"version":1,"units":{"not a unit":{"fdstore":[)"
                                                R"({"type":"fd","name":"x","token":3}]}}})");
  EXPECT_EQ(r.status, kExitFailure);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["verdict"], "partial");
  ASSERT_EQ(doc["skipped"].size(), 1u);
  EXPECT_EQ(doc["skipped"][0]["path"], "units[\"not a unit\"]");
  EXPECT_EQ(doc["skipped"][0]["reason"], "invalid unit name");
}

TEST(CliInspect, ADocumentRefusedWholeSaysWhere) {
  struct Case {
    const char* doc;
    const char* path;
    const char* message;
  };
  const Case cases[] = {
      {R"({"version":1,"units":{)", "", "malformed JSON at byte"},
      {R"({"version":2,"units":{}})", "version", "version 2"},
      {R"({"units":{"a.service":{"fdstore":[]}}})", "version", "missing 'version'"},
      {"[1,2]", "", "not a JSON object"},
  };
  for (const auto& c : cases) {
    const Ran r = run({"inspect", "-", "--json"}, c.doc);
    EXPECT_EQ(r.status, kExitFailure) << c.doc;
    const auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["verdict"], "rejected") << c.doc;
    EXPECT_EQ(doc["error"]["path"], c.path) << c.doc;
    EXPECT_TRUE(contains(doc["error"]["message"].get<std::string>(), c.message))
        << c.doc << ": " << doc["error"]["message"];
    const Ran text = run({"inspect", "-"}, c.doc);
    EXPECT_TRUE(contains(text.out, "verdict: rejected")) << text.out;
  }
}

TEST(CliInspect, FormatBIsReadUnlessRefusedLikeSystemdV261) {
  const std::string path = source("tests/impl/golden/stage_b_format_b.json");
  const Ran legacy = run({"inspect", path});
  EXPECT_EQ(legacy.status, kExitOk);
  EXPECT_TRUE(contains(legacy.out, "format B")) << legacy.out;
  EXPECT_TRUE(contains(legacy.out, "drop it whole")) << legacy.out;
  EXPECT_EQ(run({"inspect", path, "--no-legacy"}).status, kExitFailure);
}

TEST(CliInspect, StageAIsDetectedByFdAndCanBeForced) {
  const std::string stage_a = source("tests/impl/golden/stage_a_format_c.json");
  const Ran a = run({"inspect", stage_a});
  EXPECT_EQ(a.status, kExitOk);
  EXPECT_TRUE(contains(a.out, "Stage A mapping")) << a.out;
  EXPECT_TRUE(contains(a.out, "detected")) << a.out;
  // Read as Stage B, its fd entries lack tokens.
  const Ran forced = run({"inspect", stage_a, "--stage", "b"});
  EXPECT_EQ(forced.status, kExitFailure);
  EXPECT_TRUE(contains(forced.out, "missing 'token' field")) << forced.out;
}

TEST(CliInspect, UsageErrors) {
  EXPECT_EQ(run({"inspect"}).status, kExitUsage);
  EXPECT_EQ(run({"inspect", "a.json", "b.json"}).status, kExitUsage);
  EXPECT_EQ(run({"inspect", "-", "--stage", "c"}).status, kExitUsage);
  const Ran missing = run({"inspect", "/nonexistent/mapping.json"});
  EXPECT_EQ(missing.status, kExitUsage);
  EXPECT_TRUE(contains(missing.err,
                       R"(cannot read "/nonexistent/mapping.json": No such file or directory)"));
}

// ---------------------------------------------------------------------------------------------
// simulate

TEST(CliSimulate, EveryExampleScenarioPasses) {
  for (const char* name :
       {"preserve-kexec-retrieve", "freeze-failure", "fd-store-handoff", "store-edits"}) {
    const Ran r = run({"simulate", source("examples/scenarios/") + name + ".json", "--json"});
    ASSERT_EQ(r.status, kExitOk) << name << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["verdict"], "pass") << name;
    for (const auto& op : doc["operations"])
      EXPECT_TRUE(op["as_expected"].get<bool>()) << name << " " << op.dump();
  }
}

TEST(CliSimulate, TheTraceShowsEveryTransitionAndTheRefusals) {
  const Ran r = run({"simulate", source("examples/scenarios/preserve-kexec-retrieve.json")});
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "#4 preserve")) << r.out;
  EXPECT_TRUE(contains(r.out, "EEXIST (refused before syscall) token=0x1")) << r.out;
  EXPECT_TRUE(contains(r.out, "frozen        -- reboot           --> handed_over")) << r.out;
  EXPECT_TRUE(contains(r.out, "simulate: PASS: 17 operations")) << r.out;
}

TEST(CliSimulate, AnUnexpectedResultStopsTheRunWithExitOne) {
  const Ran r = run({"simulate", "-"}, R"([{"op":"open_device"},
      {"op":"create_session","session":"a"},
      {"op":"create_session","session":"a"},
      {"op":"kexec"}])");
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_TRUE(contains(r.out, "FAIL at operations[2] (create_session): expected ok")) << r.out;
  EXPECT_FALSE(contains(r.out, "#3 kexec")) << r.out;
}

TEST(CliSimulate, FaultsAndProfilesComeFromTheScenarioOrTheCommandLine) {
  const std::string scenario = R"({"profile":"6.19","operations":[
      {"op":"open_device"},{"op":"create_session","session":"s"},
      {"op":"get_name","session":"s","expect":"EINVAL"}]})";
  EXPECT_EQ(run({"simulate", "-"}, scenario).status, kExitOk)
      << "6.19 has no GET_NAME: " << run({"simulate", "-"}, scenario).out;
  EXPECT_EQ(run({"simulate", "-", "--profile", "7.2"}, scenario).status, kExitFailure);

  const Ran injected = run({"simulate", "-", "--json"}, R"([
      {"op":"open_device"},{"op":"create_session","session":"s"},
      {"op":"memfd_create","memfd":"m"},
      {"op":"inject","fault":"preserve_handler","errno":"ENOSPC"},
      {"op":"preserve","session":"s","memfd":"m","token":1,"expect":"ENOSPC"},
      {"op":"preserve","session":"s","memfd":"m","token":1}])");
  ASSERT_EQ(injected.status, kExitOk) << injected.out;
  const auto doc = nlohmann::json::parse(injected.out);
  EXPECT_EQ(doc["operations"][4]["result"], "ENOSPC");
  EXPECT_EQ(doc["operations"][4]["trace"][0]["syscall_issued"], true);
}

TEST(CliSimulate, AnInvalidScenarioNamesTheOperationAndField) {
  struct Case {
    const char* scenario;
    const char* where;
  };
  const Case cases[] = {
      {R"([{"op":"open_device"},{"op":"preserve","session":"s","memfd":"m","tokn":1}])",
       "operations[1].tokn: unknown field for \"preserve\""},
      {R"([{"op":"preserve","session":"s","memfd":"m"}])", "operations[0].token: missing"},
      {R"([{"op":"preserve","session":"s","memfd":"m","token":-1}])",
       "operations[0].token: expected an unsigned integer, got -1"},
      {R"([{"op":"reboot"}])", "operations[0].op: unknown operation \"reboot\""},
      {R"([{"op":"kexec","expect":"EWHATEVER"}])", "operations[0].expect"},
      {R"([{"op":"inject","fault":"everything"}])", "operations[0].fault"},
      {R"([{"op":"kexec","expect":[["EIO"]]}])", "operations[0].expect: expected \"ok\""},
      {R"([{"op":"memfd_create","memfd":{"name":"m"}}])",
       "operations[0].memfd: expected a string, got an object"},
      {R"([{"op":"store_add","owner":"a","name":"b"}])", "exactly one of \"memfd\" and"},
      {R"([42])", "operations[0]: an operation is a JSON object"},
      {R"({"profile":"8.0","operations":[]})", "at profile"},
      {R"({"operation":[]})", "at operation: unknown field"},
      {R"([{"op":"kexec"})", "malformed JSON"},
      // A number too large for any JSON type is out_of_range, not parse_error: it used to escape
      // as an exception (docs/reliability.md F7, found by fuzz/cli_inputs).
      {R"([{"op":"kexec","x":1e99999}])", "malformed JSON at byte 25: number overflow"},
      // Handles are checked when the operation is reached.
      {R"([{"op":"open_device"},{"op":"finish","session":"ghost"}])",
       "operations[1].session: no session handle \"ghost\""},
      {R"([{"op":"create_session","session":"s"}])", "operations[0].device: no device handle"},
      {R"([{"op":"open_device"},{"op":"create_session","session":"s"},
           {"op":"finish","session":"s"}])",
       "operations[2].session: \"s\" is not an incoming session"},
      {R"([{"op":"open_device"},{"op":"stage_b"}])", "stage_b needs an earlier stage_a"},
  };
  for (const auto& c : cases) {
    const Ran r = run({"simulate", "-"}, c.scenario);
    EXPECT_EQ(r.status, kExitUsage) << c.scenario;
    EXPECT_TRUE(contains(r.err, c.where)) << c.scenario << "\n" << r.err;
  }
}

TEST(CliSimulate, WithoutLuoTheDeviceIsMissing) {
  const Ran r = run({"simulate", "-"},
                    R"({"luo":false,"operations":[{"op":"open_device","expect":"ENOENT"}]})");
  EXPECT_EQ(r.status, kExitOk) << r.out;
}

}  // namespace
}  // namespace luo::cli
