// The readers' fast path (impl/src/handoff_mapping_fast_reader.cpp: a SAX pass for the shape
// systemd writes) against their exact DOM reader, which it hands every other document to. An
// unknown top-level key is an extension both readers' rules ignore, but the fast path gives such
// a document up, so the same document with and without one is read once by each: the results must
// be equal, whatever the document holds (clean ones, repeated tokens, fds and sessions, bad names,
// odd types). The exact reader is also called directly (detail::parse_stage_*_exact) on the same
// text, whitespace added and bytes damaged (where the fast path must give up or read the same).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "luo/impl/handoff_mapping.hpp"

namespace luo::handoff {
namespace {

template <class Doc>
std::variant<Parsed<Doc>, ParseError> read(const std::string& json) {
  if constexpr (std::is_same_v<Doc, StageA>) {
    return parse_stage_a(json);
  } else {
    return parse_stage_b(json);
  }
}

// A random format-C document: mostly what systemd writes, with a chance of every kind of fault.
template <class Doc>
std::string random_document(std::mt19937& rng, bool clean) {
  constexpr bool stage_a = std::is_same_v<Doc, StageA>;
  const auto chance = [&](int percent) {
    return !clean && std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  std::string out = R"({"version":)" + std::string(chance(3) ? "2" : chance(3) ? "\"1\"" : "1");
  if (!chance(20)) {
    out += R"(,"state":{"KExecCount":)" + std::string(chance(5) ? "-1" : "7");
    if (!chance(30))
      out += R"(,"ShutdownStartTimestamp":{"realtime":1760000000000000,"monotonic":4000000})";
    if (chance(5))
      out += R"(,"KExecCount":8)";
    out += "}";
  }
  out += R"(,"units":{)";
  const int units = pick(5);
  std::uint64_t number = 1;
  for (int u = 0; u < units; ++u) {
    if (u > 0)
      out += ",";
    out += "\"" + std::string(chance(5) ? "bad name" : "unit-" + std::to_string(pick(4))) +
           ".service\":";
    if (chance(3)) {
      out += "[]";
      continue;
    }
    out += R"({"fdstore":[)";
    const int entries = pick(6);
    for (int e = 0; e < entries; ++e) {
      if (e > 0)
        out += ",";
      if (chance(2)) {
        out += "null";
        continue;
      }
      const bool session = pick(5) == 0;
      out += R"({"type":")" +
             std::string(session     ? "luo_session"
                         : chance(3) ? "pipe"
                                     : "fd") +
             R"(","name":")" + (chance(3) ? "a:b" : "fd-" + std::to_string(pick(20))) + "\"";
      const std::uint64_t n = chance(5) ? number - 1 : chance(5) ? 0 : number;
      ++number;
      if (!session || stage_a) {
        if (!chance(3))
          out += std::string(stage_a ? R"(,"fd":)" : R"(,"token":)") +
                 (chance(3) ? "\"" + std::to_string(n) + "\"" : std::to_string(n));
      }
      if (session && !chance(3))
        out += R"(,"sessionName":")" +
               std::string(chance(5) ? "systemd" : "vm-" + std::to_string(pick(8))) + "\"";
      if (chance(3))
        out += R"(,"type":"fd")";
      out += "}";
    }
    out += "]}";
  }
  return out + "}}";
}

template <class Doc>
std::variant<Parsed<Doc>, ParseError> read_exact(const std::string& json) {
  if constexpr (std::is_same_v<Doc, StageA>) {
    return detail::parse_stage_a_exact(json);
  } else {
    return detail::parse_stage_b_exact(json);
  }
}

template <class Doc>
void expect_equal(const std::variant<Parsed<Doc>, ParseError>& fast,
                  const std::variant<Parsed<Doc>, ParseError>& exact, const std::string& json) {
  ASSERT_EQ(fast.index(), exact.index()) << json;
  if (const auto* e = std::get_if<ParseError>(&fast)) {
    EXPECT_EQ(*e, std::get<ParseError>(exact)) << json;
    return;
  }
  EXPECT_EQ(std::get<Parsed<Doc>>(fast).value, std::get<Parsed<Doc>>(exact).value) << json;
  EXPECT_EQ(std::get<Parsed<Doc>>(fast).skipped, std::get<Parsed<Doc>>(exact).skipped) << json;
}

// The same text read with every path allowed and with the exact reader only.
template <class Doc>
void expect_same_as_exact(const std::string& json) {
  expect_equal<Doc>(read<Doc>(json), read_exact<Doc>(json), json);
}

template <class Doc>
void expect_same_reading(const std::string& json) {
  expect_same_as_exact<Doc>(json);
  // After the first '{' and after every ':', whitespace nlohmann skips: the same reading.
  std::string spaced;
  for (char c : json) {
    spaced += c;
    if (c == ':' || (spaced.size() == 1 && c == '{'))
      spaced += ' ';
  }
  expect_same_as_exact<Doc>(spaced);
  const std::string extended = "{\"zz-extension\":0," + json.substr(1);
  const auto fast = read<Doc>(json);
  const auto exact = read<Doc>(extended);
  ASSERT_EQ(fast.index(), exact.index()) << json;
  if (const auto* e = std::get_if<ParseError>(&fast)) {
    EXPECT_EQ(*e, std::get<ParseError>(exact)) << json;
    return;
  }
  const auto& a = std::get<Parsed<Doc>>(fast);
  const auto& b = std::get<Parsed<Doc>>(exact);
  EXPECT_EQ(a.value, b.value) << json;
  EXPECT_EQ(a.skipped, b.skipped) << json;
}

// Bytes and tokens that break the shape the writers produce.
const std::string_view kPieces[] = {" ",
                                    "\t",
                                    "\n",
                                    "\"",
                                    "\\",
                                    "\\u0041",
                                    "\\u0000",
                                    "\xc3\xa9",
                                    "\xff",
                                    "0",
                                    "00",
                                    "-1",
                                    "1.5",
                                    "1e3",
                                    "18446744073709551616",
                                    "{",
                                    "}",
                                    "[",
                                    "]",
                                    ",",
                                    ":",
                                    "null",
                                    "true",
                                    "\x01",
                                    std::string_view("\0", 1),
                                    "99999999999999999999",
                                    "9999999999999999999"};

// kPieces put where they break the subset, or bytes cut.
std::string damaged(std::mt19937& rng, std::string json) {
  const auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  const int edits = 1 + static_cast<int>(pick(3));
  for (int i = 0; i < edits && !json.empty(); ++i) {
    const std::size_t at = pick(json.size());
    switch (pick(3)) {
      case 0:
        json.insert(at, kPieces[pick(std::size(kPieces))]);
        break;
      case 1:
        json.erase(at, 1 + pick(3));
        break;
      default:
        json.resize(at);
        json += std::string(pick(4), ' ');
        break;
    }
  }
  return json;
}

template <class Doc>
void compare_many(unsigned seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < 400; ++i) {
    SCOPED_TRACE(i);
    const std::string json = random_document<Doc>(rng, /*clean=*/i % 2 == 0);
    expect_same_reading<Doc>(json);
    expect_same_as_exact<Doc>(damaged(rng, json));
  }
}

TEST(HandoffFastReader, StageBReadsAsTheExactReaderDoes) {
  compare_many<StageB>(14);
}

TEST(HandoffFastReader, StageAReadsAsTheExactReaderDoes) {
  compare_many<StageA>(15);
}

// Two units, a session among their entries, a counter and a timestamp: every field the writers
// produce.
StageA written_stage_a() {
  StageA a;
  a.header.set_kexec_count(3, SystemdProfile::v262);
  a.header.set_timestamp(ShutdownTimestamp::start, {1760000000000000, 4000000});
  a.units.push_back(
      {"vmm.service",
       {{EntryType::fd, "guest-ram", 23, {}}, {EntryType::luo_session, "vm0", 24, "myvmm-vm0"}}});
  a.units.push_back({"db.service", {{EntryType::fd, "wal", 30, {}}}});
  return a;
}

// What the writers produce is the fast path's shape, counter, timestamps and sessions included.
TEST(HandoffFastReader, WrittenDocumentsReadBackEqual) {
  const StageA a = written_stage_a();
  expect_same_reading<StageA>(to_json(a));
  const StageB b = stage_b_from_stage_a(a, SystemdProfile::v262, {});
  const std::string text = to_json(b);
  expect_same_reading<StageB>(text);
  // stage_b() pads the mapping with spaces to the size it preserved.
  expect_same_reading<StageB>(text + "   ");
  const auto parsed = parse_stage_b(text);
  ASSERT_TRUE(std::holds_alternative<Parsed<StageB>>(parsed));
  EXPECT_EQ(std::get<Parsed<StageB>>(parsed).value, b);
}

// Every piece at every position of a written mapping, and every byte cut out: the fast path must
// give up, or read what the exact reader reads, at each of them.
TEST(HandoffFastReader, EveryEditOfAWrittenMappingReadsAsTheExactReaderDoes) {
  const StageA a = written_stage_a();
  const std::string text = to_json(stage_b_from_stage_a(a, SystemdProfile::v262, {}));
  for (std::size_t at = 0; at <= text.size(); ++at) {
    for (std::string_view piece : kPieces) {
      std::string edited = text;
      edited.insert(at, piece);
      expect_same_as_exact<StageB>(edited);
    }
    if (at < text.size())
      expect_same_as_exact<StageB>(std::string(text).erase(at, 1));
  }
}

}  // namespace
}  // namespace luo::handoff
