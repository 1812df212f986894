// The fd-store handoff documents of systemd v261 (spec systemd-luo.md §3.3, §3.4, §3.6.2):
// golden files byte for byte in both formats, the readers' acceptance rules, and a table of bad
// inputs where each one must be refused or skipped at its exact path while every valid
// neighbour survives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "luo/impl/handoff_mapping.hpp"

#ifndef LUO_GOLDEN_DIR
#error "tests/CMakeLists.txt defines LUO_GOLDEN_DIR for luo_impl_tests"
#endif

namespace luo::handoff {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using namespace std::string_literals;

std::string read_golden_file(const std::string& file) {
  std::ifstream in(std::string(LUO_GOLDEN_DIR) + "/" + file, std::ios::binary);
  EXPECT_TRUE(in.good()) << file;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A golden file is systemd's compact output plus the newline every text file ends with.
std::string golden(const std::string& file) {
  std::string text = read_golden_file(file);
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text;
}

template <class Doc>
std::variant<Parsed<Doc>, ParseError> parse(std::string_view json,
                                            AcceptLegacy accept = AcceptLegacy::yes) {
  if constexpr (std::is_same_v<Doc, StageA>) {
    return parse_stage_a(json, accept);
  } else {
    return parse_stage_b(json, accept);
  }
}

template <class Doc>
Parsed<Doc> accepted(std::string_view json, AcceptLegacy accept = AcceptLegacy::yes) {
  auto r = parse<Doc>(json, accept);
  if (auto* e = std::get_if<ParseError>(&r)) {
    ADD_FAILURE() << "refused at '" << e->path << "': " << e->message;
    return {};
  }
  return std::get<Parsed<Doc>>(std::move(r));
}

// "[path] message", so a mismatch prints as text.
template <class Doc>
std::string refused(std::string_view json, AcceptLegacy accept = AcceptLegacy::yes) {
  auto r = parse<Doc>(json, accept);
  if (auto* p = std::get_if<Parsed<Doc>>(&r)) {
    ADD_FAILURE() << "accepted as " << to_json(p->value);
    return {};
  }
  const auto& e = std::get<ParseError>(r);
  return "[" + e.path + "] " + e.message;
}

// "path: reason" per skipped item.
std::vector<std::string> lines(const std::vector<Skipped>& skipped) {
  std::vector<std::string> out;
  for (const auto& s : skipped)
    out.push_back(s.path + ": " + s.reason);
  return out;
}

const std::string kWalName = R"(wal "main" \ 1)";

// The documents of the golden files, built through the API.
StageA golden_stage_a(Format format) {
  StageA a;
  if (format == Format::c_v1) {
    a.header.set_kexec_count(3, SystemdProfile::v261);
  } else {
    a.header = Header{Format::b_legacy, 0, std::nullopt};
  }
  a.units = {
      {"vmm@vm0.service",
       {{EntryType::fd, "guest-ram", 23, ""}, {EntryType::luo_session, "vm0", 24, "myvmm-vm0"}}},
      {"db.service",
       {{EntryType::fd, "stored", 25, ""},
        {EntryType::fd, "stored", 26, ""},
        {EntryType::fd, kWalName, 27, ""}}},
  };
  return a;
}

// What systemd-shutdown makes of golden_stage_a when every PRESERVE_FD succeeds: dense tokens
// from 1 in unit order, then array order; the session takes none.
StageB golden_stage_b(Format format) {
  StageB b;
  if (format == Format::c_v1) {
    b.header.set_kexec_count(3, SystemdProfile::v261);
  } else {
    b.header = Header{Format::b_legacy, 0, std::nullopt};
  }
  b.units = {
      {"vmm@vm0.service",
       {{EntryType::fd, "guest-ram", 1, ""}, {EntryType::luo_session, "vm0", 0, "myvmm-vm0"}}},
      {"db.service",
       {{EntryType::fd, "stored", 2, ""},
        {EntryType::fd, "stored", 3, ""},
        {EntryType::fd, kWalName, 4, ""}}},
  };
  return b;
}

// ---------------------------------------------------------------------------------------------
// Golden files

TEST(HandoffMappingGolden, FilesAreOneCompactLine) {
  for (const char* file : {"stage_a_format_c.json", "stage_b_format_c.json",
                           "stage_a_format_b.json", "stage_b_format_b.json", "stage_a_v262.json",
                           "stage_b_v262.json", "stage_b_v262_empty.json"}) {
    SCOPED_TRACE(file);
    const std::string text = read_golden_file(file);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(text.find('\n'), text.size() - 1);
    EXPECT_EQ(text.find(": "), std::string::npos);
  }
}

TEST(HandoffMappingGolden, WritersProduceTheGoldenBytes) {
  EXPECT_EQ(to_json(golden_stage_a(Format::c_v1)), golden("stage_a_format_c.json"));
  EXPECT_EQ(to_json(golden_stage_b(Format::c_v1)), golden("stage_b_format_c.json"));
  EXPECT_EQ(to_json(golden_stage_a(Format::b_legacy)), golden("stage_a_format_b.json"));
  EXPECT_EQ(to_json(golden_stage_b(Format::b_legacy)), golden("stage_b_format_b.json"));
}

TEST(HandoffMappingGolden, ReadersRoundTripTheGoldens) {
  for (Format format : {Format::c_v1, Format::b_legacy}) {
    const bool c = format == Format::c_v1;
    SCOPED_TRACE(c ? "format C" : "format B");
    const std::string a_text = golden(c ? "stage_a_format_c.json" : "stage_a_format_b.json");
    const std::string b_text = golden(c ? "stage_b_format_c.json" : "stage_b_format_b.json");

    auto a = accepted<StageA>(a_text);
    EXPECT_THAT(lines(a.skipped), IsEmpty());
    EXPECT_TRUE(a.value == golden_stage_a(format)) << to_json(a.value);
    EXPECT_EQ(to_json(a.value), a_text);

    auto b = accepted<StageB>(b_text);
    EXPECT_THAT(lines(b.skipped), IsEmpty());
    EXPECT_TRUE(b.value == golden_stage_b(format)) << to_json(b.value);
    EXPECT_EQ(to_json(b.value), b_text);
  }
}

// The v262 goldens: the same stores with PID 1's counter and timestamps, and the late ones
// systemd-shutdown appends (their bytes in `state` are what 262.1's own
// luo_serialization_add_shutdown_timestamps() makes of stage_a_v262.json, run in-process).
constexpr DualTimestamp kShutdownStart{1796000000000000, 86400000000};
constexpr DualTimestamp kShutdownFinish{1796000002500000, 86402500000};
const ShutdownTimestamps kLate{.late_start = DualTimestamp{1796000002600000, 86402600000},
                               .late_finish = DualTimestamp{1796000004000000, 86404000000}};

StageA golden_stage_a_v262() {
  StageA a = golden_stage_a(Format::c_v1);
  a.header.set_kexec_count(3, SystemdProfile::v262);
  a.header.set_timestamp(ShutdownTimestamp::start, kShutdownStart);
  a.header.set_timestamp(ShutdownTimestamp::finish, kShutdownFinish);
  return a;
}

TEST(HandoffMappingGolden, V262WritersProduceTheGoldenBytes) {
  const StageA a = golden_stage_a_v262();
  EXPECT_EQ(to_json(a), golden("stage_a_v262.json"));
  EXPECT_EQ(to_json(stage_b_from_stage_a(a, SystemdProfile::v262, kLate)),
            golden("stage_b_v262.json"));
  StageA empty;
  empty.header.set_kexec_count(0, SystemdProfile::v262);
  EXPECT_EQ(to_json(empty), R"({"version":1,"state":{"KExecCount":0}})");
  EXPECT_EQ(to_json(stage_b_from_stage_a(empty, SystemdProfile::v262, kLate)),
            golden("stage_b_v262_empty.json"));
  // The v261 profile writes no timestamps even when given some.
  EXPECT_EQ(to_json(stage_b_from_stage_a(empty, SystemdProfile::v261, kLate)),
            R"({"version":1,"state":{"KExecCount":0}})");
}

TEST(HandoffMappingGolden, V262GoldensReadBack) {
  auto a = accepted<StageA>(golden("stage_a_v262.json"), AcceptLegacy::no);
  EXPECT_TRUE(a.value == golden_stage_a_v262());
  auto b = accepted<StageB>(golden("stage_b_v262.json"), AcceptLegacy::no);
  EXPECT_THAT(b.skipped, IsEmpty());
  EXPECT_EQ(b.value.header.kexec_count(), 3u);
  EXPECT_EQ(restored_kexec_count(b.value.header), 4u);
  const ShutdownTimestamps ts = b.value.header.timestamps();
  EXPECT_EQ(ts.start, kShutdownStart);
  EXPECT_EQ(ts.finish, kShutdownFinish);
  EXPECT_EQ(ts.late_start, kLate.late_start);
  EXPECT_EQ(ts.late_finish, kLate.late_finish);
  EXPECT_EQ(to_json(b.value), golden("stage_b_v262.json"));
  auto empty = accepted<StageB>(golden("stage_b_v262_empty.json"), AcceptLegacy::no);
  EXPECT_THAT(empty.value.units, IsEmpty());
  EXPECT_EQ(restored_kexec_count(empty.value.header), 1u);
}

TEST(HandoffMappingGolden, KeysComeInSystemdsOrder) {
  const std::string a = golden("stage_a_format_c.json");
  EXPECT_THAT(a, StartsWith(R"({"version":1,"state":{"kexecsCount":3},"units":{)"));
  EXPECT_NE(a.find(R"({"type":"luo_session","name":"vm0","fd":24,"sessionName":"myvmm-vm0"})"),
            std::string::npos);
  // Units keep the order they were given in: "vmm@vm0.service" sorts after "db.service".
  EXPECT_LT(a.find("vmm@vm0.service"), a.find("db.service"));
  const std::string b = golden("stage_b_format_c.json");
  EXPECT_NE(b.find(R"({"type":"fd","name":"guest-ram","token":1})"), std::string::npos);
}

TEST(HandoffMappingGolden, NamesTheProtocolConstantsOnce) {
  EXPECT_EQ(kProtocolVersion, 1u);
  EXPECT_EQ(kMappingToken, 0u);
  EXPECT_STREQ(kSessionName, "systemd");
  EXPECT_STREQ(kStageAMemfdName, "luo-fd-store");
  EXPECT_STREQ(kMappingMemfdName, "luo-mapping");
  EXPECT_STREQ(kSerializeFdEnv, "SYSTEMD_LUO_SERIALIZE_FD");
  EXPECT_EQ(entry_type_name(EntryType::fd), "fd");
  EXPECT_EQ(entry_type_name(EntryType::luo_session), "luo_session");
}

// ---------------------------------------------------------------------------------------------
// Writers

TEST(HandoffMappingWriter, OmitsEmptyUnitsThenTheUnitMap) {
  StageB b;
  b.units = {{"empty.service", {}}, {"b.service", {{EntryType::fd, "x", 1, ""}}}};
  EXPECT_EQ(
      to_json(b),
      R"({"version":1,"units":{"b.service":{"fdstore":[{"type":"fd","name":"x","token":1}]}}})");
  b.units = {{"empty.service", {}}};
  EXPECT_EQ(to_json(b), R"({"version":1})");
  b.header.format = Format::b_legacy;
  EXPECT_EQ(to_json(b), "{}");
}

TEST(HandoffMappingWriter, MergesARepeatedUnitAtItsFirstPosition) {
  StageA a;
  a.units = {{"x.service", {{EntryType::fd, "one", 3, ""}}},
             {"y.service", {{EntryType::fd, "two", 4, ""}}},
             {"x.service", {{EntryType::fd, "three", 5, ""}}}};
  EXPECT_EQ(
      to_json(a),
      R"({"version":1,"units":{"x.service":{"fdstore":[{"type":"fd","name":"one","fd":3},)"
      R"({"type":"fd","name":"three","fd":5}]},"y.service":{"fdstore":[{"type":"fd","name":"two","fd":4}]}}})");
}

TEST(HandoffMappingWriter, StageBFieldsFollowTheType) {
  StageB b;
  b.units = {
      {"x.service", {{EntryType::fd, "f", 5, "ignored"}, {EntryType::luo_session, "s", 9, ""}}}};
  EXPECT_EQ(to_json(b),
            R"({"version":1,"units":{"x.service":{"fdstore":[{"type":"fd","name":"f","token":5},)"
            R"({"type":"luo_session","name":"s","sessionName":""}]}}})");
}

TEST(HandoffMappingWriter, StageAWritesSessionNameOnlyWhenNonEmpty) {
  // systemd builds the pair with JSON_BUILD_PAIR_STRING_NON_EMPTY whatever the type says.
  StageA a;
  a.units = {{"x.service", {{EntryType::fd, "f", 5, "odd"}, {EntryType::luo_session, "s", 6, ""}}}};
  EXPECT_EQ(
      to_json(a),
      R"({"version":1,"units":{"x.service":{"fdstore":[{"type":"fd","name":"f","fd":5,"sessionName":"odd"},)"
      R"({"type":"luo_session","name":"s","fd":6}]}}})");
}

TEST(HandoffMappingWriter, FormatBWritesNoHeader) {
  StageB b = golden_stage_b(Format::b_legacy);
  b.header.version = 7;
  b.header.set_kexec_count(9, SystemdProfile::v261);
  EXPECT_EQ(to_json(b), golden("stage_b_format_b.json"));
}

TEST(HandoffMappingWriter, VersionAndStateAreWrittenAsGiven) {
  StageB b;
  b.header.version = 0;
  b.header.state = nlohmann::ordered_json::parse(R"({"z":1,"kexecsCount":2,"a":[true,null]})");
  EXPECT_EQ(to_json(b), R"({"version":0,"state":{"z":1,"kexecsCount":2,"a":[true,null]}})");
}

TEST(HandoffMappingWriter, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  StageA a;
  a.units = {{"x.service", {{EntryType::luo_session, "n", 3, "bad\xff"}}}};
  EXPECT_EQ(to_json(a),
            "{\"version\":1,\"units\":{\"x.service\":{\"fdstore\":[{\"type\":\"luo_session\","
            "\"name\":\"n\",\"fd\":3,\"sessionName\":\"bad\xef\xbf\xbd\"}]}}}");
}

// ---------------------------------------------------------------------------------------------
// Header and state

TEST(HandoffMappingHeader, KexecsCountHelpers) {
  Header h;
  EXPECT_EQ(h.kexec_count(), std::nullopt);
  EXPECT_EQ(restored_kexec_count(h), 1u);  // a valid mapping without a count: first kexec
  h.set_kexec_count(3, SystemdProfile::v261);
  EXPECT_EQ(h.kexec_count(), 3u);
  EXPECT_EQ(restored_kexec_count(h), 4u);
  h.set_kexec_count(UINT32_MAX, SystemdProfile::v261);
  EXPECT_EQ(restored_kexec_count(h), 0u);  // wraps, as 262.1's u32 increment does

  // v261's reader took the counter through sd_json_dispatch_uint32 without a type: "3" too.
  h.state = nlohmann::ordered_json::parse(R"({"shutdown":{"realtime":5},"kexecsCount":"3"})");
  EXPECT_EQ(h.kexec_count(), 3u);
  h.state = nlohmann::ordered_json::parse(R"({"shutdown":{"realtime":5},"kexecsCount":"x"})");
  EXPECT_EQ(h.kexec_count(), std::nullopt);
  h.set_kexec_count(4, SystemdProfile::v261);
  EXPECT_EQ(h.state->dump(), R"({"shutdown":{"realtime":5},"kexecsCount":4})");
  // The v262 key replaces the v261 one in place.
  h.set_kexec_count(5, SystemdProfile::v262);
  EXPECT_EQ(h.state->dump(), R"({"shutdown":{"realtime":5},"KExecCount":5})");
  h.state = nlohmann::ordered_json::array();
  h.set_kexec_count(1, SystemdProfile::v261);
  EXPECT_EQ(h.state->dump(), R"({"kexecsCount":1})");
  h.set_kexec_count(2);
  EXPECT_EQ(h.state->dump(), R"({"KExecCount":2})") << "v262 is the default";
}

// 262 reads KExecCount only (as an UNSIGNED u32, so 7.0 counts and "7" does not); the
// library falls back to kexecsCount when KExecCount is absent.
TEST(HandoffMappingHeader, KExecCountWinsAndKexecsCountIsTheFallback) {
  Header h;
  h.state = nlohmann::ordered_json::parse(R"({"kexecsCount":3,"KExecCount":9})");
  EXPECT_EQ(h.kexec_count(), 9u);
  h.state = nlohmann::ordered_json::parse(R"({"KExecCount":7.0})");
  EXPECT_EQ(h.kexec_count(), 7u);
  h.state = nlohmann::ordered_json::parse(R"({"KExecCount":"7","kexecsCount":3})");
  EXPECT_EQ(h.kexec_count(), std::nullopt) << "a bad KExecCount is never replaced";
  h.state = nlohmann::ordered_json::parse(R"({"kexecsCount":3})");
  EXPECT_EQ(h.kexec_count(), 3u);
  EXPECT_EQ(restored_kexec_count(h), 4u);
}

// 262.1's key order, measured: PID 1 writes KExecCount, ShutdownStartTimestamp,
// ShutdownFinishTimestamp; systemd-shutdown appends the two late ones.
TEST(HandoffMappingHeader, TimestampsAreWrittenInSystemdsOrder) {
  Header h;
  h.set_kexec_count(3);
  h.set_timestamp(ShutdownTimestamp::start, {1, 2});
  h.set_timestamp(ShutdownTimestamp::finish, {3, 4});
  h.set_timestamp(ShutdownTimestamp::late_start, {5, 6});
  h.set_timestamp(ShutdownTimestamp::late_finish, {7, 8});
  EXPECT_EQ(h.state->dump(),
            R"({"KExecCount":3,"ShutdownStartTimestamp":{"realtime":1,"monotonic":2},)"
            R"("ShutdownFinishTimestamp":{"realtime":3,"monotonic":4},)"
            R"("ShutdownLateStartTimestamp":{"realtime":5,"monotonic":6},)"
            R"("ShutdownLateFinishTimestamp":{"realtime":7,"monotonic":8}})");
  // Setting one again replaces it in place.
  h.set_timestamp(ShutdownTimestamp::start, {9, 9});
  EXPECT_EQ(h.timestamp(ShutdownTimestamp::start), (DualTimestamp{9, 9}));
  EXPECT_THAT(h.state->dump(), StartsWith(R"({"KExecCount":3,"ShutdownStartTimestamp":{"r)"));
  const ShutdownTimestamps all = h.timestamps();
  EXPECT_EQ(all.finish, (DualTimestamp{3, 4}));
  EXPECT_EQ(all.late_finish, (DualTimestamp{7, 8}));
  for (ShutdownTimestamp t : kAllShutdownTimestamps)
    EXPECT_EQ(all[t], h.timestamp(t));
}

TEST(HandoffMappingHeader, TimestampsReadAsSystemdDoes) {
  // Fields are optional (unset reads as 0), convert like sd_json_dispatch_uint64, and
  // extension keys are allowed.
  auto b = accepted<StageB>(
      R"({"version":1,"state":{"ShutdownStartTimestamp":{"realtime":"0x10","x":1},)"
      R"("ShutdownLateFinishTimestamp":{"monotonic":2.0}}})");
  EXPECT_EQ(b.value.header.timestamp(ShutdownTimestamp::start), (DualTimestamp{16, 0}));
  EXPECT_EQ(b.value.header.timestamp(ShutdownTimestamp::late_finish), (DualTimestamp{0, 2}));
  EXPECT_EQ(b.value.header.timestamp(ShutdownTimestamp::finish), std::nullopt);
}

TEST(HandoffMappingWriter, StageBFromStageAFollowsTheProfile) {
  StageA a = golden_stage_a(Format::c_v1);
  const ShutdownTimestamps late{.late_start = DualTimestamp{5, 6},
                                .late_finish = DualTimestamp{7, 8}};
  // v261: no timestamps; the golden file is what real systemd-shutdown makes of this Stage A.
  EXPECT_EQ(to_json(stage_b_from_stage_a(a, SystemdProfile::v261, late)),
            golden("stage_b_format_c.json"));
  // A refused PRESERVE_FD takes no token; sessions are asked with token 0.
  std::vector<std::uint64_t> asked;
  auto b = stage_b_from_stage_a(a, SystemdProfile::v262, {},
                                [&](const StageAEntry& e, std::uint64_t token) {
                                  asked.push_back(token);
                                  return e.fd != 25;
                                });
  EXPECT_THAT(asked, ElementsAre(1u, 0u, 2u, 2u, 3u));
  ASSERT_EQ(b.units.size(), 2u);
  EXPECT_EQ(b.units[1].fdstore.size(), 2u);
  EXPECT_EQ(b.units[1].fdstore[1].token, 3u);
  EXPECT_EQ(b.header, a.header) << "nothing late to add";
}

TEST(HandoffMappingHeader, StateIsCopiedVerbatim) {
  // Keys this library does not know must pass through in their order.
  const std::string text =
      R"({"version":1,"state":{"zeta":[1,{"b":2,"a":1}],"kexecsCount":7,)"
      R"("shutdown":{"realtime":1,"monotonic":2},"neg":-5,"f":1.5},"units":{}})";
  auto b = accepted<StageB>(text);
  EXPECT_EQ(b.value.header.kexec_count(), 7u);
  EXPECT_EQ(to_json(b.value), R"({"version":1,"state":{"zeta":[1,{"b":2,"a":1}],"kexecsCount":7,)"
                              R"("shutdown":{"realtime":1,"monotonic":2},"neg":-5,"f":1.5}})");
  auto a = accepted<StageA>(text);
  EXPECT_TRUE(a.value.header == b.value.header);
}

TEST(HandoffMappingHeader, StateMayLackTheCounterAndCarryRepeatedUnknownKeys) {
  auto b = accepted<StageB>(R"({"version":1,"state":{"x":1,"x":2}})");
  EXPECT_EQ(b.value.header.kexec_count(), std::nullopt);
  EXPECT_EQ(to_json(b.value), R"({"version":1,"state":{"x":1,"x":2}})");
}

// ---------------------------------------------------------------------------------------------
// Readers: what they accept

TEST(HandoffMappingReader, ReadsFormatBAsLegacy) {
  auto b = accepted<StageB>(golden("stage_b_format_b.json"));
  EXPECT_EQ(b.value.header.format, Format::b_legacy);
  EXPECT_EQ(b.value.header.version, 0u);
  EXPECT_EQ(b.value.header.state, std::nullopt);
  ASSERT_EQ(b.value.units.size(), 2u);
  EXPECT_EQ(b.value.units[1].fdstore[2].token, 4u);
}

// Every spelling sd_json_dispatch_uint64() turns into 1 is version 1 to 262.1 (measured).
TEST(HandoffMappingReader, VersionAndTokenTakeEverySpellingSystemdAccepts) {
  for (const char* v :
       {"1", "1.0", "1e0", "0.1e1", R"("1")", R"(" +0x1")", R"("0b1")", R"("\t01")", R"("0o1")"}) {
    SCOPED_TRACE(v);
    const std::string doc =
        std::string(R"({"version":)") + v +
        R"(,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":)" + v + "}]}}}";
    auto b = accepted<StageB>(doc);
    EXPECT_EQ(b.value.header.version, 1u);
    ASSERT_EQ(b.value.units.size(), 1u);
    ASSERT_EQ(b.value.units[0].fdstore.size(), 1u);
    EXPECT_EQ(b.value.units[0].fdstore[0].token, 1u);
  }
  // A null token is sd_json's "unset": missing.
  auto b = accepted<StageB>(
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":null}]}}})");
  EXPECT_THAT(lines(b.skipped),
              ElementsAre(R"(units["a.service"].fdstore[0]: token is UINT64_MAX (or null), which )"
                          R"(systemd's reader takes for a missing token)"));
}

// 262 ignores kexecsCount; the library reads it as the v261 fallback, and a bad one is noted
// and ignored rather than fatal, so nothing 262 accepts is refused.
TEST(HandoffMappingReader, ABadV261CounterIsIgnoredNotFatal) {
  auto b = accepted<StageB>(R"({"version":1,"state":{"kexecsCount":-1}})");
  EXPECT_THAT(lines(b.skipped),
              ElementsAre("state.kexecsCount: 'kexecsCount' is not an unsigned 32-bit integer "
                          "(got -1): ignored"));
  EXPECT_EQ(b.value.header.kexec_count(), std::nullopt);
  EXPECT_EQ(restored_kexec_count(b.value.header), 1u);
  // The writer carries `state` verbatim, so the next reader notes the same thing and nothing
  // else (finding F9: fuzz/stage_b_mapping's round trip had expected no note at all).
  auto big = accepted<StageB>(R"({"version":0,"state":{"kexecsCount":4294967296},"units":{}})");
  ASSERT_EQ(big.skipped.size(), 1u);
  EXPECT_EQ(to_json(big.value), R"({"version":0,"state":{"kexecsCount":4294967296}})");
  EXPECT_EQ(accepted<StageB>(to_json(big.value)).skipped, big.skipped);
  auto twice = accepted<StageB>(R"({"version":1,"state":{"kexecsCount":1,"kexecsCount":2}})");
  EXPECT_THAT(lines(twice.skipped),
              ElementsAre("state.kexecsCount: duplicate 'kexecsCount' field: the counter is "
                          "ignored"));
  EXPECT_EQ(twice.value.header.kexec_count(), std::nullopt);
  // Next to a KExecCount it is not even looked at.
  auto both = accepted<StageB>(R"({"version":1,"state":{"kexecsCount":"x","KExecCount":4}})");
  EXPECT_THAT(both.skipped, IsEmpty());
  EXPECT_EQ(both.value.header.kexec_count(), 4u);
}

TEST(HandoffMappingReader, FormatBIsRefusedByACOnlyReader) {
  const std::string expected =
      "[version] missing 'version' field: this is a format-B (v261-rc1) document, which this "
      "reader does not accept";
  EXPECT_EQ(refused<StageB>(golden("stage_b_format_b.json"), AcceptLegacy::no), expected);
  EXPECT_EQ(refused<StageA>(golden("stage_a_format_b.json"), AcceptLegacy::no), expected);
  EXPECT_EQ(refused<StageB>("{}", AcceptLegacy::no), expected);
  // Format C is read the same either way.
  auto b = accepted<StageB>(golden("stage_b_format_c.json"), AcceptLegacy::no);
  EXPECT_TRUE(b.value == golden_stage_b(Format::c_v1));
}

TEST(HandoffMappingReader, DisambiguatesVersionlessDocumentsByTheirValues) {
  // Every value an array: format B, even an empty document.
  auto empty = accepted<StageB>("{}");
  EXPECT_EQ(empty.value.header.format, Format::b_legacy);
  EXPECT_THAT(empty.value.units, IsEmpty());
  // A value that is no array cannot come from a B writer: a format-C document lost its version.
  EXPECT_EQ(refused<StageB>(R"({"units":{"a.service":{"fdstore":[]}}})"),
            "[version] missing 'version' field");
  EXPECT_EQ(refused<StageB>(R"({"a.service":[],"b.service":{}})"),
            "[version] missing 'version' field");
  // ... unless all its values are arrays: then "units" is read as a (bad) unit name.
  auto odd = accepted<StageB>(R"({"units":[{"type":"fd","name":"x","token":1}]})");
  EXPECT_EQ(odd.value.header.format, Format::b_legacy);
  EXPECT_THAT(lines(odd.skipped), ElementsAre(R"(["units"]: invalid unit name)"));
}

TEST(HandoffMappingReader, FormatBPathsHaveNoUnitsPrefix) {
  auto b = accepted<StageB>(
      R"({"a.service":[{"type":"fd","name":"x","token":1},{"type":"fd","name":"y"}],)"
      R"("bad":[{"type":"fd","name":"z","token":2}],"a.service":[{"type":"fd","name":"w","token":3}]})");
  EXPECT_THAT(lines(b.skipped), ElementsAre(R"(["a.service"][1]: missing 'token' field)",
                                            R"(["bad"]: invalid unit name)"));
  // The repeated unit key is read too, as systemd's object iteration does.
  ASSERT_EQ(b.value.units.size(), 2u);
  EXPECT_EQ(b.value.units[1].fdstore[0].name, "w");
  EXPECT_EQ(
      to_json(b.value),
      R"({"a.service":[{"type":"fd","name":"x","token":1},{"type":"fd","name":"w","token":3}]})");
}

TEST(HandoffMappingReader, UnknownKeysAreExtensions) {
  // Each stage ignores the other's number field, and anything it does not know.
  auto b =
      accepted<StageB>(R"({"future":{"x":1},"version":1,"units":{"a.service":{"more":0,"fdstore":[)"
                       R"({"type":"fd","name":"x","token":1,"fd":-7,"extra":[null]}]}}})");
  EXPECT_THAT(lines(b.skipped), IsEmpty());
  EXPECT_EQ(
      to_json(b.value),
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":1}]}}})");
  auto a = accepted<StageA>(
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","fd":0,"token":0}]}}})");
  EXPECT_THAT(lines(a.skipped), IsEmpty());
  EXPECT_EQ(to_json(a.value),
            R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","fd":0}]}}})");
}

TEST(HandoffMappingReader, AcceptsWhitespacePadding) {
  // A mapping written into a pre-sized memfd is padded with JSON whitespace.
  const std::string text = golden("stage_b_format_c.json") + std::string(4096, ' ') + "\n\t\r";
  auto b = accepted<StageB>("  \n" + text);
  EXPECT_TRUE(b.value == golden_stage_b(Format::c_v1));
}

TEST(HandoffMappingReader, KeepsLegitimateRepeatsAndOddNames) {
  // Several fds under one name, the empty name, and every printable byte but ':'.
  std::string printable;
  for (char c = 0x20; c < 0x7F; ++c)
    if (c != ':')
      printable += c;
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(
      R"({"version":0,"units":{"a.service":{"fdstore":[{"type":"fd","name":"s","token":1},)"
      R"({"type":"fd","name":"s","token":2},{"type":"fd","name":"","token":3}]}}})");
  doc["units"]["a.service"]["fdstore"].push_back(
      {{"type", "fd"}, {"name", printable}, {"token", 4}});
  doc["units"]["a.service"]["fdstore"].push_back(
      {{"type", "fd"}, {"name", std::string(255, 'n')}, {"token", 5}});
  auto b = accepted<StageB>(doc.dump());
  EXPECT_THAT(lines(b.skipped), IsEmpty());
  EXPECT_EQ(b.value.header.version, 0u);  // older than 1 is fine for the reader
  ASSERT_EQ(b.value.units.size(), 1u);
  EXPECT_EQ(b.value.units[0].fdstore.size(), 5u);
  EXPECT_EQ(b.value.units[0].fdstore[3].name, printable);
  EXPECT_EQ(to_json(b.value), doc.dump());
}

TEST(HandoffMappingReader, KeepsAUnitWhoseEntriesWereAllSkipped) {
  auto b = accepted<StageB>(
      R"({"version":1,"units":{"a.service":{"fdstore":[]},"b.service":{"fdstore":[{"type":"x","name":""}]}}})");
  ASSERT_EQ(b.value.units.size(), 2u);
  EXPECT_THAT(b.value.units[0].fdstore, IsEmpty());
  EXPECT_THAT(b.value.units[1].fdstore, IsEmpty());
  EXPECT_THAT(lines(b.skipped), ElementsAre(R"(units["b.service"].fdstore[0]: unknown type "x")"));
  EXPECT_EQ(to_json(b.value), R"({"version":1})");  // and the writer leaves them out
}

TEST(HandoffMappingReader, ReadsManyEntries) {
  nlohmann::ordered_json doc = {{"version", 1}, {"units", nlohmann::ordered_json::object()}};
  auto& fdstore = doc["units"]["big.service"]["fdstore"];
  for (std::uint64_t token = 1; token <= 500; ++token)
    fdstore.push_back({{"type", "fd"}, {"name", "n" + std::to_string(token)}, {"token", token}});
  auto b = accepted<StageB>(doc.dump());
  EXPECT_THAT(lines(b.skipped), IsEmpty());
  ASSERT_EQ(b.value.units.size(), 1u);
  EXPECT_EQ(b.value.units[0].fdstore.size(), 500u);
  EXPECT_EQ(to_json(b.value), doc.dump());
}

// ---------------------------------------------------------------------------------------------
// Bad input: the whole document refused

struct TopCase {
  std::string json;
  std::string error;  // "[path] message"
};

TEST(HandoffMappingBadInput, DocumentLevelErrors) {
  const TopCase cases[] = {
      {"",
       "[] malformed JSON at byte 0: syntax error while parsing value - unexpected end of input; "
       "expected '[', '{', or a literal"},
      {R"({"version":1} x)",
       "[] malformed JSON at byte 14: syntax error while parsing value - invalid literal; "
       "expected end of input"},
      {"{\"version\":1,\"units\":{\"a\xff.service\":{}}}",
       "[] malformed JSON at byte 24: syntax error while parsing object key - invalid string: "
       "ill-formed UTF-8 byte; expected string literal"},
      {"[]", "[] top level is not a JSON object (got an array)"},
      {"null", "[] top level is not a JSON object (got null)"},
      {"42", "[] top level is not a JSON object (got 42)"},
      {R"("x")", "[] top level is not a JSON object (got a string)"},
      {R"({"version":-1})",
       "[version] 'version' is not an unsigned integer, nor one formatted as a string (got -1)"},
      {R"({"version":"-1"})",
       "[version] 'version' is not an unsigned integer, nor one formatted as a string (got a "
       "string)"},
      {R"({"version":"1 "})",
       "[version] 'version' is not an unsigned integer, nor one formatted as a string (got a "
       "string)"},
      {R"({"version":"0x"})",
       "[version] 'version' is not an unsigned integer, nor one formatted as a string (got a "
       "string)"},
      {R"({"version":1.5})",
       "[version] 'version' is not an unsigned integer, nor one formatted as a string (got a "
       "floating-point number)"},
      {R"({"version":1.8446744073709552e19})",
       "[version] 'version' is not an unsigned integer, nor one formatted as a string (got a "
       "floating-point number)"},
      {R"({"version":true})",
       "[version] 'version' is not an unsigned integer, nor one formatted as a string (got a "
       "boolean)"},
      // null is "unset" to sd_json_dispatch_uint64, UINT64_MAX: above every known version.
      {R"({"version":null})",
       "[version] unsupported version 18446744073709551615: systemd restores nothing from it"},
      {R"({"version":2,"units":{}})",
       "[version] unsupported version 2: systemd restores nothing from it"},
      {R"({"version":"010"})", "[version] unsupported version 8: systemd restores nothing from it"},
      {R"({"version":18446744073709551615})",
       "[version] unsupported version 18446744073709551615: systemd restores nothing from it"},
      {R"({"version":1,"version":1})", "[version] duplicate 'version' field"},
      {R"({"units":{}})", "[version] missing 'version' field"},
      {R"({"state":{"KExecCount":1}})", "[version] missing 'version' field"},
      {R"({"version":1,"units":[]})", "[units] 'units' is not a JSON object (got an array)"},
      {R"({"version":1,"units":[{"type":"fd","name":"a","token":1}]})",
       "[units] 'units' is not a JSON object (got an array)"},
      {R"({"version":1,"units":null})", "[units] 'units' is not a JSON object (got null)"},
      {R"({"version":1,"units":{},"units":{}})", "[units] duplicate 'units' field"},
      // Type errors come in document order, before the missing and version checks.
      {R"({"units":5,"version":9})", "[units] 'units' is not a JSON object (got 5)"},
      {R"({"version":1,"state":[]})", "[state] 'state' is not a JSON object (got an array)"},
      {R"({"version":1,"state":"x"})", "[state] 'state' is not a JSON object (got a string)"},
      {R"({"version":1,"state":null})", "[state] 'state' is not a JSON object (got null)"},
      // sd_json refuses \u0000 in any string, keys included: the whole document is lost.
      {R"({"version":1,"state":{"x":"a\u0000b"}})",
       "[] a JSON string contains \\u0000, which sd_json refuses"},
      {R"({"version":1,"units":{"a\u0000.service":{"fdstore":[]}}})",
       "[] a JSON string contains \\u0000, which sd_json refuses"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_EQ(refused<StageB>(c.json), c.error);
    EXPECT_EQ(refused<StageA>(c.json), c.error);
  }
}

// A `state` 262.1's dispatch fails on is not fatal in 262.1 (spec §9.2/§9.4 say it is): 262.1
// drops `state` and restores the entries (SystemdTier0.AMistypedStateIsIgnoredNotFatal measured
// each shape below). The readers report it at "state", keep the table for copying through, and
// read no counter and no timestamp from it.
TEST(HandoffMappingBadInput, AMistypedStateIsIgnoredAsIn262) {
  const TopCase cases[] = {
      // 262.1 dispatches KExecCount as SD_JSON_VARIANT_UNSIGNED + u32.
      {R"({"version":1,"state":{"KExecCount":-1}})",
       "[state.KExecCount] 'KExecCount' is not an unsigned 32-bit JSON number (got -1)"},
      {R"({"version":1,"state":{"KExecCount":4294967296}})",
       "[state.KExecCount] 'KExecCount' is not an unsigned 32-bit JSON number (got 4294967296)"},
      {R"({"version":1,"state":{"KExecCount":"3"}})",
       "[state.KExecCount] 'KExecCount' is not an unsigned 32-bit JSON number (got a string)"},
      {R"({"version":1,"state":{"KExecCount":1.5}})",
       "[state.KExecCount] 'KExecCount' is not an unsigned 32-bit JSON number (got a "
       "floating-point number)"},
      {R"({"version":1,"state":{"KExecCount":null}})",
       "[state.KExecCount] 'KExecCount' is not an unsigned 32-bit JSON number (got null)"},
      {R"({"version":1,"state":{"KExecCount":1,"KExecCount":1}})",
       "[state.KExecCount] duplicate 'KExecCount' field"},
      // The four timestamps: objects whose realtime/monotonic convert to u64 (§9.4).
      {R"({"version":1,"state":{"ShutdownStartTimestamp":5}})",
       "[state.ShutdownStartTimestamp] 'ShutdownStartTimestamp' is not a JSON object (got 5)"},
      {R"({"version":1,"state":{"ShutdownLateFinishTimestamp":null}})",
       "[state.ShutdownLateFinishTimestamp] 'ShutdownLateFinishTimestamp' is not a JSON object "
       "(got null)"},
      {R"({"version":1,"state":{"ShutdownFinishTimestamp":{"realtime":-1}}})",
       "[state.ShutdownFinishTimestamp] 'ShutdownFinishTimestamp'.realtime: 'realtime' is not an "
       "unsigned integer, nor one formatted as a string (got -1)"},
      {R"({"version":1,"state":{"ShutdownLateStartTimestamp":{"monotonic":1.5}}})",
       "[state.ShutdownLateStartTimestamp] 'ShutdownLateStartTimestamp'.monotonic: 'monotonic' is "
       "not an unsigned integer, nor one formatted as a string (got a floating-point number)"},
      {R"({"version":1,"state":{"ShutdownStartTimestamp":{"realtime":1,"realtime":1}}})",
       "[state.ShutdownStartTimestamp] 'ShutdownStartTimestamp'.realtime: duplicate 'realtime' "
       "field"},
      {R"({"version":1,"state":{"ShutdownStartTimestamp":{},"ShutdownStartTimestamp":{}}})",
       "[state.ShutdownStartTimestamp] duplicate 'ShutdownStartTimestamp' field"},
  };
  const std::string units =
      R"(,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":1}]}}})";
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    // Each case is a whole document: put the units in before the closing brace.
    const std::string json = c.json.substr(0, c.json.size() - 1) + units;
    // "[state.X] message" becomes the reason of the one Skipped at "state".
    const auto close = c.error.find("] ");
    const std::string want = "state: " + c.error.substr(1, close - 1) + ": " +
                             c.error.substr(close + 2) +
                             ": `state` ignored, as systemd 262.1 does (counter restarts at 1, no "
                             "previous shutdown timestamps)";
    auto b = accepted<StageB>(json);
    EXPECT_EQ(lines(b.skipped), std::vector<std::string>{want});
    EXPECT_TRUE(b.value.header.state_ignored);
    EXPECT_EQ(b.value.header.kexec_count(), std::nullopt);
    EXPECT_EQ(restored_kexec_count(b.value.header), 1u);
    EXPECT_EQ(b.value.header.timestamps(), ShutdownTimestamps{});
    ASSERT_EQ(b.value.units.size(), 1u);
    EXPECT_EQ(b.value.units[0].fdstore.size(), 1u);
    // Kept for copying through: systemd-shutdown does not dispatch `state`.
    EXPECT_TRUE(b.value.header.state.has_value());
    auto a = accepted<StageA>(c.json);
    EXPECT_EQ(lines(a.skipped), std::vector<std::string>{want});
    EXPECT_EQ(a.value.header.kexec_count(), std::nullopt);
  }
  // Only `state` that is not an object stays fatal (DocumentLevelErrors): the top-level dispatch
  // fails on it.
}

TEST(HandoffMappingBadInput, EveryTruncationIsMalformedAtItsEnd) {
  // Each reader on the format the other one gets, so both readers and both formats are cut.
  const std::string a = golden("stage_a_format_b.json");
  for (std::size_t cut = 0; cut < a.size(); ++cut) {
    SCOPED_TRACE("stage_a_format_b.json cut at " + std::to_string(cut));
    EXPECT_THAT(refused<StageA>(a.substr(0, cut)),
                StartsWith("[] malformed JSON at byte " + std::to_string(cut) + ": "));
  }
  const std::string b = golden("stage_b_format_c.json");
  for (std::size_t cut = 0; cut < b.size(); ++cut) {
    SCOPED_TRACE("stage_b_format_c.json cut at " + std::to_string(cut));
    EXPECT_THAT(refused<StageB>(b.substr(0, cut)),
                StartsWith("[] malformed JSON at byte " + std::to_string(cut) + ": "));
  }
}

const std::string kTooDeep = "[] JSON nested deeper than 64 levels";

TEST(HandoffMappingBadInput, NestingIsLimited) {
  // Root object, state object, then arrays: kMaxJsonDepth containers in all are fine, one more
  // is not.
  auto nested = [](std::size_t arrays) {
    return R"({"version":1,"state":{"deep":)" + std::string(arrays, '[') +
           std::string(arrays, ']') + "}}";
  };
  auto deep = accepted<StageB>(nested(kMaxJsonDepth - 2));
  EXPECT_EQ(to_json(deep.value), nested(kMaxJsonDepth - 2));
  EXPECT_EQ(refused<StageB>(nested(kMaxJsonDepth - 1)), kTooDeep);
}

TEST(HandoffMappingBadInput, AMebibyteOfGarbageStopsTheReaderAtItsFirstBadByte) {
  constexpr std::size_t kMiB = 1 << 20;
  std::mt19937 rng(20260615);
  std::string random(kMiB, '\0');
  for (auto& c : random)
    c = static_cast<char>(rng());
  std::string objects;
  while (objects.size() < kMiB)
    objects += R"({"a":)";
  // Near-valid input has to be read to its end; 64 KiB of it show the message stays bounded
  // without spending the unoptimised test build's time on a linear scan.
  constexpr std::size_t k64KiB = 64 << 10;
  const std::string unterminated =
      R"({"version":1,"units":{"a.service":{"fdstore":[{"name":")" + std::string(k64KiB, 'x');
  const std::string huge_number = "{\"version\":" + std::string(k64KiB, '9') + "}";
  struct Garbage {
    std::string_view what;
    const std::string& text;
    std::string error;  // exact, or a prefix when it ends in ": "
  };
  const std::string brackets(kMiB, '['), spaces(kMiB, ' '), high(kMiB, '\xff'), nul(kMiB, '\0');
  const Garbage inputs[] = {
      {"random bytes", random,
       "[] malformed JSON at byte 0: syntax error while parsing value - invalid literal"},
      {"open brackets", brackets, kTooDeep},
      {"open objects", objects, kTooDeep},
      {"whitespace", spaces, "[] malformed JSON at byte 1048576: "},
      {"0xff bytes", high, "[] malformed JSON at byte 0: "},
      {"NUL bytes", nul, "[] malformed JSON at byte 0: "},
      {"an unterminated string", unterminated, "[] malformed JSON at byte 65591: "},
      {"a huge number", huge_number, "[] malformed JSON at byte 65546: number overflow"},
  };
  for (const auto& g : inputs) {
    SCOPED_TRACE(std::string(g.what));
    // The offset in the message is where the reader stopped: at the first byte that cannot
    // start or continue a document, not after reading the rest (timings belong in bench/).
    const std::string error = refused<StageB>(g.text);
    if (g.error.ends_with(": "))
      EXPECT_THAT(error, StartsWith(g.error));
    else
      EXPECT_EQ(error, g.error);
    // Bounded and printable, whatever the input was.
    EXPECT_LT(error.size(), 250u) << error;
    for (char c : error)
      EXPECT_TRUE(c >= 0x20 && c <= 0x7E) << error;
  }
}

// ---------------------------------------------------------------------------------------------
// Bad input: one unit skipped, its neighbours kept

struct SkipCase {
  std::string json;     // the bad piece
  std::string skipped;  // "path: reason"
};

TEST(HandoffMappingBadInput, BadUnitsAreSkippedAlone) {
  const SkipCase cases[] = {
      {R"("foo":{"fdstore":[{"type":"fd","name":"x","token":5}]})",
       R"(units["foo"]: invalid unit name)"},
      {R"("foo.snapshot":{"fdstore":[{"type":"fd","name":"x","token":5}]})",
       R"(units["foo.snapshot"]: invalid unit name)"},
      {R"("@x.service":{"fdstore":[]})", R"(units["@x.service"]: invalid unit name)"},
      {R"("":{"fdstore":[]})", R"(units[""]: invalid unit name)"},
      {R"("a\u0001\"\\.service":{"fdstore":[]})",
       R"(units["a\x01\"\\.service"]: invalid unit name)"},
      {R"("b.service":[{"type":"fd","name":"x","token":5}])",
       R"(units["b.service"]: unit value is not a JSON object (got an array))"},
      {R"("b.service":null)", R"(units["b.service"]: unit value is not a JSON object (got null))"},
      {R"("b.service":{})", R"(units["b.service"]: missing 'fdstore' field)"},
      {R"("b.service":{"fdStore":[]})", R"(units["b.service"]: missing 'fdstore' field)"},
      {R"("b.service":{"fdstore":{}})",
       R"(units["b.service"]: 'fdstore' is not a JSON array (got an object))"},
      {R"("b.service":{"fdstore":"x"})",
       R"(units["b.service"]: 'fdstore' is not a JSON array (got a string))"},
  };
  const std::string kept =
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"keep","token":1}]},)"
      R"("z.service":{"fdstore":[{"type":"fd","name":"keep","token":2}]}}})";
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    const std::string doc =
        R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"keep","token":1}]},)" +
        c.json + R"(,"z.service":{"fdstore":[{"type":"fd","name":"keep","token":2}]}}})";
    auto b = accepted<StageB>(doc);
    EXPECT_THAT(lines(b.skipped), ElementsAre(c.skipped));
    EXPECT_EQ(to_json(b.value), kept);
  }
}

// systemd walks the object, so a repeated unit key is read twice (§9.5); the token and
// session-name claims still hold across both occurrences.
TEST(HandoffMappingReader, ARepeatedUnitKeyIsReadTwice) {
  auto b = accepted<StageB>(
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"one","token":1}]},)"
      R"("a.service":{"fdstore":[{"type":"fd","name":"two","token":2},)"
      R"({"type":"fd","name":"again","token":1}]}}})");
  EXPECT_THAT(lines(b.skipped),
              ElementsAre(R"(units["a.service"].fdstore[1]: token 1 already used by )"
                          R"(units["a.service"].fdstore[0])"));
  ASSERT_EQ(b.value.units.size(), 2u);
  EXPECT_EQ(b.value.units[0].fdstore[0].name, "one");
  EXPECT_EQ(b.value.units[1].fdstore[0].name, "two");
  // Written back, the two lists merge under the one key a JSON object can hold.
  EXPECT_EQ(to_json(b.value),
            R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"one","token":1},)"
            R"({"type":"fd","name":"two","token":2}]}}})");
}

TEST(HandoffMappingBadInput, ARepeatedFdstoreKeyUsesTheFirst) {
  auto b = accepted<StageB>(
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"first","token":1}],)"
      R"("fdstore":[{"type":"fd","name":"second","token":2}]}}})");
  EXPECT_THAT(
      lines(b.skipped),
      ElementsAre(
          R"(units["a.service"].fdstore: duplicate 'fdstore' field: the first one is used)"));
  EXPECT_EQ(
      to_json(b.value),
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"first","token":1}]}}})");
}

// ---------------------------------------------------------------------------------------------
// Bad input: one entry skipped, its neighbours kept

const std::string kBadName = "invalid fd name (allowed: bytes 0x20-0x7E except ':', at most 255)";

// Entries valid in both stages' eyes except for what the case is about.
const SkipCase kCommonEntryCases[] = {
    {R"("x")", "entry is not a JSON object (got a string)"},
    {R"([])", "entry is not a JSON object (got an array)"},
    {R"(null)", "entry is not a JSON object (got null)"},
    {R"({"name":"n"})", "missing 'type' field"},
    {R"({"type":"fd"})", "missing 'name' field"},
    {R"({"type":1,"name":"n"})", "'type' is not a string (got 1)"},
    {R"({"type":"fd","name":null})", "'name' is not a string (got null)"},
    {R"({"type":"fd","type":"fd","name":"n"})", "duplicate 'type' field"},
    {R"({"type":"fd","name":"n","name":"n"})", "duplicate 'name' field"},
    {R"({"type":"pipe","name":"n"})", R"(unknown type "pipe")"},
    {R"({"type":"FD","name":"n"})", R"(unknown type "FD")"},
    {R"({"type":"fd\n","name":"n"})", R"(unknown type "fd\x0a")"},
    {R"({"type":"fd","name":"a:b"})", kBadName},
    {R"({"type":"fd","name":"tab\t"})", kBadName},
    {R"({"type":"fd","name":"caf\u00e9"})", kBadName},
    {R"({"type":"fd","name":")" + std::string(256, 'n') + R"("})", kBadName},
    {R"({"type":"fd","name":"n","sessionName":7})", "'sessionName' is not a string (got 7)"},
    {R"({"type":"luo_session","name":"vm"})", "missing 'sessionName' field"},
    {R"({"type":"luo_session","name":"vm","sessionName":""})", "empty 'sessionName'"},
    {R"({"type":"luo_session","name":"vm","sessionName":")" + std::string(64, 's') + R"("})",
     "'sessionName' is longer than 63 bytes"},
    {R"({"type":"luo_session","name":"vm","sessionName":"systemd"})",
     R"(session name "systemd" is reserved for the mapping's own session)"},
};

template <class Doc>
void expect_entry_skipped(const std::string& before, const std::string& after, const SkipCase& c) {
  SCOPED_TRACE(c.json);
  const std::string head = R"({"version":1,"units":{"a.service":{"fdstore":[)";
  auto parsed = accepted<Doc>(head + before + "," + c.json + "," + after + "]}}}");
  EXPECT_THAT(lines(parsed.skipped), ElementsAre(R"(units["a.service"].fdstore[1]: )" + c.skipped));
  EXPECT_EQ(to_json(parsed.value), head + before + "," + after + "]}}}");
}

TEST(HandoffMappingBadInput, BadStageBEntriesAreSkippedAlone) {
  const std::string before = R"({"type":"fd","name":"before","token":1})";
  const std::string after = R"({"type":"fd","name":"after","token":2})";
  for (const auto& c : kCommonEntryCases)
    expect_entry_skipped<StageB>(before, after, c);
  const SkipCase cases[] = {
      {R"({"type":"fd","name":"n"})", "missing 'token' field"},
      {R"({"type":"fd","name":"n","token":0})", "token 0 is reserved for the mapping memfd"},
      {R"({"type":"fd","name":"n","token":18446744073709551615})",
       "token is UINT64_MAX (or null), which systemd's reader takes for a missing token"},
      {R"({"type":"fd","name":"n","token":null})",
       "token is UINT64_MAX (or null), which systemd's reader takes for a missing token"},
      {R"({"type":"fd","name":"n","token":-1})",
       "'token' is not an unsigned integer, nor one formatted as a string (got -1)"},
      {R"({"type":"fd","name":"n","token":1.5})",
       "'token' is not an unsigned integer, nor one formatted as a string (got a floating-point "
       "number)"},
      {R"({"type":"fd","name":"n","token":18446744073709551616})",
       "'token' is not an unsigned integer, nor one formatted as a string (got a floating-point "
       "number)"},
      {R"({"type":"fd","name":"n","token":"5x"})",
       "'token' is not an unsigned integer, nor one formatted as a string (got a string)"},
      {R"({"type":"fd","name":"n","token":5,"token":6})", "duplicate 'token' field"},
      // A luo_session entry's token is still dispatched, so its type matters.
      {R"({"type":"luo_session","name":"vm","sessionName":"s","token":[]})",
       "'token' is not an unsigned integer, nor one formatted as a string (got an array)"},
      // "5" is token 5 to systemd too, so it conflicts like the number would.
      {R"({"type":"fd","name":"n","token":"1"})",
       R"(token 1 already used by units["a.service"].fdstore[0])"},
      {R"({"type":"fd","name":"again","token":1})",
       R"(token 1 already used by units["a.service"].fdstore[0])"},
      {R"({"type":"fd","name":"before","token":1})",
       R"(token 1 already used by units["a.service"].fdstore[0])"},
  };
  for (const auto& c : cases)
    expect_entry_skipped<StageB>(before, after, c);
}

TEST(HandoffMappingBadInput, BadStageAEntriesAreSkippedAlone) {
  const std::string before = R"({"type":"fd","name":"before","fd":10})";
  const std::string after = R"({"type":"fd","name":"after","fd":11})";
  for (const auto& c : kCommonEntryCases)
    expect_entry_skipped<StageA>(before, after, c);
  const SkipCase cases[] = {
      {R"({"type":"fd","name":"n"})", "missing 'fd' field"},
      {R"({"type":"fd","name":"n","fd":-1})", "negative fd -1"},
      {R"({"type":"fd","name":"n","fd":2147483648})", "'fd' is not an int (got 2147483648)"},
      {R"({"type":"fd","name":"n","fd":-2147483649})", "'fd' is not an int (got -2147483649)"},
      {R"({"type":"fd","name":"n","fd":"12"})", "'fd' is not an int (got a string)"},
      {R"({"type":"fd","name":"n","fd":12,"fd":13})", "duplicate 'fd' field"},
      {R"({"type":"luo_session","name":"vm","sessionName":"s"})", "missing 'fd' field"},
      {R"({"type":"luo_session","name":"vm","sessionName":"s","fd":-1})", "negative fd -1"},
      {R"({"type":"fd","name":"again","fd":10})",
       R"(fd 10 already used by units["a.service"].fdstore[0])"},
      {R"({"type":"luo_session","name":"vm","sessionName":"s","fd":10})",
       R"(fd 10 already used by units["a.service"].fdstore[0])"},
  };
  for (const auto& c : cases)
    expect_entry_skipped<StageA>(before, after, c);
}

TEST(HandoffMappingBadInput, DuplicatesAcrossUnitsKeepTheFirst) {
  auto b = accepted<StageB>(
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":7},)"
      R"({"type":"luo_session","name":"vm","sessionName":"vmm-0"}]},)"
      R"("b.service":{"fdstore":[{"type":"fd","name":"x","token":7},)"
      R"({"type":"luo_session","name":"other","sessionName":"vmm-0"},)"
      R"({"type":"fd","name":"y","token":8}]}}})");
  EXPECT_THAT(
      lines(b.skipped),
      ElementsAre(
          R"(units["b.service"].fdstore[0]: token 7 already used by units["a.service"].fdstore[0])",
          R"(units["b.service"].fdstore[1]: sessionName "vmm-0" already claimed by units["a.service"].fdstore[1])"));
  EXPECT_EQ(to_json(b.value),
            R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"x","token":7},)"
            R"({"type":"luo_session","name":"vm","sessionName":"vmm-0"}]},)"
            R"("b.service":{"fdstore":[{"type":"fd","name":"y","token":8}]}}})");
}

TEST(HandoffMappingBadInput, ASkippedEntryClaimsNothing) {
  // The first token-3 entry is skipped (bad name), so the second one is not a duplicate.
  auto b = accepted<StageB>(
      R"({"version":1,"units":{"a.service":{"fdstore":[{"type":"fd","name":"a:b","token":3},)"
      R"({"type":"fd","name":"ok","token":3}]}}})");
  EXPECT_THAT(lines(b.skipped), ElementsAre(R"(units["a.service"].fdstore[0]: )" + kBadName));
  ASSERT_EQ(b.value.units.size(), 1u);
  ASSERT_EQ(b.value.units[0].fdstore.size(), 1u);
  EXPECT_EQ(b.value.units[0].fdstore[0].token, 3u);
}

}  // namespace
}  // namespace luo::handoff
