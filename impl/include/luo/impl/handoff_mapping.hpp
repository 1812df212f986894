// luo/impl/handoff_mapping.hpp: the two JSON documents systemd v261 uses to carry fd stores
// across kexec, as plain data: writers that produce systemd's bytes and readers that apply
// systemd's acceptance rules, reporting every dropped piece by path (spec systemd-luo.md §3.3,
// §3.4, §3.6.2). Nothing here makes a syscall or touches an fd: fds are only integers in
// Stage A, tokens only integers in Stage B.
//
// Stage A: PID 1 -> systemd-shutdown, in a sealed memfd named "luo-fd-store" whose fd number
// travels in $SYSTEMD_LUO_SERIALIZE_FD. `fd` is the dup PID 1 left open across execve.
//
//   {"version":1,"state":{"kexecsCount":3},"units":{"foo.service":{"fdstore":[
//     {"type":"fd","name":"stateA","fd":23},
//     {"type":"luo_session","name":"vm0","fd":24,"sessionName":"myvmm-vm0"}]}}}
//
// Stage B: systemd-shutdown -> next kernel's PID 1, in a sealed memfd named "luo-mapping"
// preserved at token 0 of the LUO session "systemd". Tokens start at 1 and count the fds that
// were preserved; a luo_session entry takes no token (its session survives on its own).
//
//   {"version":1,"state":{"kexecsCount":3},"units":{"foo.service":{"fdstore":[
//     {"type":"fd","name":"stateA","token":1},
//     {"type":"luo_session","name":"vm0","sessionName":"myvmm-vm0"}]}}}
//
// Format B (v261-rc1, merged #41683) has no version and no state: the top level is the unit
// map and each unit maps straight to its entry array, {"foo.service":[{...},...]}. Format C
// (#42607) is what v261 writes and the only one its reader takes: a v261 PID 1 drops a format-B
// mapping whole (§5 item 2). Readers here take B too on request, so an rc1 -> v261 kexec need
// not lose the fds.
//
// Writers emit systemd's compact form byte for byte: keys in systemd's order (version, state,
// units; type, name, fd|token, sessionName), units in the order given, no whitespace, no
// trailing newline. Readers keep the document's order.
//
//   luo::handoff::StageB b;
//   b.header.set_kexecs_count(3);
//   b.units.push_back({"foo.service", {{luo::handoff::EntryType::fd, "stateA", 1, {}}}});
//   std::string text = luo::handoff::to_json(b);      // goes into the "luo-mapping" memfd
//
//   auto r = luo::handoff::parse_stage_b(text);        // next boot
//   if (auto* err = std::get_if<luo::handoff::ParseError>(&r)) {
//     log(err->path, err->message);                    // systemd would drop every fd here
//   } else {
//     auto& parsed = std::get<luo::handoff::Parsed<luo::handoff::StageB>>(r);
//     for (auto& s : parsed.skipped) log(s.path, s.reason);   // systemd warns and goes on
//     for (auto& unit : parsed.value.units) ...        // RETRIEVE_FD(token) per fd entry
//   }
//
// Reader decisions beyond systemd's own checks (each reported as a Skipped or a ParseError,
// never silent):
// - Both readers apply the restoring PID 1's header rules (version, state, state.kexecsCount,
//   units); systemd-shutdown checks only `units` and `version` of Stage A and copies `state`
//   blindly, so a bad header fails here one stage earlier than in systemd, with the same end.
// - fd names must pass luo::fdname_is_valid() (model/fd_store_limits.hpp); systemd's restore
//   would hand such a name on to the unit, whose fd store refuses it anyway.
// - sessionName must be 1..63 bytes without NUL (the kernel's name field) and not "systemd"
//   (PID 1 never serializes a session of that name, §3.5).
// - Duplicates: the later entry is skipped when it reuses a token (Stage B), an fd number
//   (Stage A), or a sessionName (a session can be retrieved only once) of an earlier accepted
//   entry; "same unit, same name, same token" is the special case. Equal names with different
//   tokens are legitimate (a store may hold several fds under one name). A repeated unit key
//   keeps its first occurrence, and so does a repeated "fdstore" (sd_json_variant_by_key());
//   a repeated known field inside an entry or the header is an error of that object, as
//   sd_json_dispatch() returns -ENOTUNIQ for it.
// - A Stage-A luo_session entry needs a valid `fd` too: systemd-shutdown would still record
//   an fd-less one, but nothing then holds the session open, so the kernel has dropped it.
// - Numbers must be JSON integers; sd_json_dispatch_uint64() would also take "5" as a string,
//   which no systemd writer produces.
// - Documents nested deeper than kMaxJsonDepth (64) are refused; sd_json allows 2048.
// - version > 1 is refused by both readers (systemd-shutdown copies it blindly, but this
//   library cannot know what a newer version's entries mean).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "luo/model/fd_store_limits.hpp"

namespace luo::handoff {

// LUO_PROTOCOL_VERSION of format C.
inline constexpr std::uint64_t kProtocolVersion = 1;
// LUO_MAPPING_INDEX: the Stage-B memfd's token; entries never use it.
inline constexpr std::uint64_t kMappingToken = 0;
// systemd's restore reader initialises the token to UINT64_MAX and reads that value as
// "missing", so an entry carrying it is never restored.
inline constexpr std::uint64_t kMissingTokenSentinel = std::numeric_limits<std::uint64_t>::max();
// LUO_SESSION_NAME: the session systemd-shutdown creates and the next PID 1 retrieves.
inline constexpr char kSessionName[] = "systemd";
inline constexpr char kStageAMemfdName[] = "luo-fd-store";
inline constexpr char kMappingMemfdName[] = "luo-mapping";
// Carries the Stage-A memfd's fd number from PID 1 to systemd-shutdown.
inline constexpr char kSerializeFdEnv[] = "SYSTEMD_LUO_SERIALIZE_FD";
// Nesting limit of the readers. The mapping nests 5 levels and systemd's state 2 more; 64 is
// far beyond that and keeps nlohmann's recursive copy and dump of `state` within a small stack
// even under sanitizers (at sd_json's own DEPTH_MAX of 2048, dump() overflowed 8 MiB with
// ASan). Only a `state` nested 65 to 2048 deep would be read by systemd and refused here, and
// no systemd writes one.
inline constexpr std::size_t kMaxJsonDepth = 64;

enum class EntryType { fd, luo_session };

// "fd" or "luo_session", the JSON spelling.
std::string_view entry_type_name(EntryType type);

// One fd-store entry in PID 1's Stage-A document. `session_name` is set only for luo_session.
struct StageAEntry {
  EntryType type = EntryType::fd;
  std::string name;
  int fd = -1;
  std::string session_name;
  bool operator==(const StageAEntry&) const = default;
};

// One entry of the Stage-B mapping. `token` only for fd, `session_name` only for luo_session.
struct StageBEntry {
  EntryType type = EntryType::fd;
  std::string name;
  std::uint64_t token = 0;
  std::string session_name;
  bool operator==(const StageBEntry&) const = default;
};

template <class Entry>
struct UnitEntries {
  std::string unit;
  std::vector<Entry> fdstore;
  bool operator==(const UnitEntries&) const = default;
};

enum class Format {
  b_legacy,  // v261-rc1: the top level is the unit map, no version, no state
  c_v1,      // v261: {version, state, units}
};

struct Header {
  Format format = Format::c_v1;
  // Written as given for format C. A format-B reader sets 0 (B predates versioning).
  std::uint64_t version = kProtocolVersion;
  // Copied verbatim, keys in their original order (hence ordered_json): a later systemd puts
  // shutdown timestamps here (§3.4, format D) that must survive a pass through this library.
  std::optional<nlohmann::ordered_json> state;

  // state.kexecsCount, when present and a u32 (§3.8).
  std::optional<std::uint32_t> kexecs_count() const;
  // Creates `state` if needed and sets state.kexecsCount, keeping any other state keys.
  void set_kexecs_count(std::uint32_t count);
  bool operator==(const Header&) const = default;
};

// The counter a restoring PID 1 adopts: previous + 1, saturating; 1 without a previous value
// (§3.6.2 step 6).
std::uint32_t restored_kexecs_count(const Header& header);

struct StageA {
  Header header;
  std::vector<UnitEntries<StageAEntry>> units;
  bool operator==(const StageA&) const = default;
};

struct StageB {
  Header header;
  std::vector<UnitEntries<StageBEntry>> units;
  bool operator==(const StageB&) const = default;
};

// Compact JSON as systemd writes it. Units without entries are omitted, and so is `units` when
// none is left (format C); format B ignores the header and writes the bare unit map. Two
// UnitEntries with the same unit are merged at the first one's position, as a JSON object cannot
// hold the unit twice. Stage A writes `sessionName` whenever it is non-empty; Stage B writes
// `token` for fd entries and `sessionName` for luo_session entries, whatever the other field
// holds. Strings are written as given; bytes that are not UTF-8 (JSON cannot carry them) become
// U+FFFD.
std::string to_json(const StageA& doc);
std::string to_json(const StageB& doc);

// Something the reader dropped while keeping the rest. `path` names it in the document:
// units["foo.service"] or units["foo.service"].fdstore[2] (format C), ["foo.service"][2]
// (format B); key bytes outside 0x20-0x7E, '"' and '\' are escaped so a path is printable.
struct Skipped {
  std::string path;
  std::string reason;
  bool operator==(const Skipped&) const = default;
};

// The whole document is refused: systemd would restore (or preserve) nothing from it.
// `path` is "" for the document itself (malformed JSON; the message then gives the byte offset
// where parsing stopped), else the top-level field ("version", "units", "state.kexecsCount").
struct ParseError {
  std::string path;
  std::string message;
  bool operator==(const ParseError&) const = default;
};

template <class T>
struct Parsed {
  T value;
  std::vector<Skipped> skipped;
};

enum class AcceptLegacy { no, yes };

// Format detection: a document with a "version" key is format C. Without one it is format B
// when every top-level value is an array (B's unit map; "{}" included), and otherwise a format-C
// document that lost its version, refused with "missing 'version' field". A B document is
// refused as well when `accept` is no, which is what v261's own reader does.
//
// Neither reader throws on any input, and both stop at the first malformed byte, so megabytes
// of garbage cost microseconds.
std::variant<Parsed<StageA>, ParseError> parse_stage_a(std::string_view json,
                                                       AcceptLegacy accept = AcceptLegacy::yes);
std::variant<Parsed<StageB>, ParseError> parse_stage_b(std::string_view json,
                                                       AcceptLegacy accept = AcceptLegacy::yes);

}  // namespace luo::handoff
