// luo/impl/handoff_mapping.hpp: the two JSON documents systemd uses to carry fd stores across
// kexec, as plain data: writers that produce systemd's bytes for a given systemd profile
// (model/systemd_profile.hpp: v261 or v262) and readers that apply the restoring systemd 262.1's
// acceptance rules, reporting every dropped piece by path (spec systemd-luo.md §3.3, §3.4,
// §3.6.2, and §9, which wins). Nothing here makes a syscall or touches an fd: fds are only
// integers in Stage A, tokens only integers in Stage B, timestamps only numbers.
//
// Stage A: PID 1 -> systemd-shutdown, in a sealed memfd named "luo-fd-store" whose fd number
// travels in $SYSTEMD_LUO_SERIALIZE_FD. `fd` is the dup PID 1 left open across execve.
//
//   {"version":1,"state":{"KExecCount":3,"ShutdownStartTimestamp":{"realtime":..,"monotonic":..},
//     "ShutdownFinishTimestamp":{..}},"units":{"foo.service":{"fdstore":[
//     {"type":"fd","name":"stateA","fd":23},
//     {"type":"luo_session","name":"vm0","fd":24,"sessionName":"myvmm-vm0"}]}}}
//
// Stage B: systemd-shutdown -> next kernel's PID 1, in a memfd named "luo-mapping" preserved at
// token 0 of the LUO session "systemd". Tokens start at 1 and count the fds that were preserved;
// a luo_session entry takes no token (its session survives on its own). systemd-shutdown
// appends ShutdownLateStartTimestamp and ShutdownLateFinishTimestamp to `state` first.
//
//   {"version":1,"state":{"KExecCount":3,...,"ShutdownLateFinishTimestamp":{..}},
//    "units":{"foo.service":{"fdstore":[
//     {"type":"fd","name":"stateA","token":1},
//     {"type":"luo_session","name":"vm0","sessionName":"myvmm-vm0"}]}}}
//
// With no entry at all, v262 still hands over: `units` is omitted, {"version":1,"state":{..}}.
// v261 writes the counter as "kexecsCount" and no timestamps, and hands over nothing then.
// The order of the keys inside `state` is 262.1's: KExecCount, ShutdownStartTimestamp,
// ShutdownFinishTimestamp as PID 1 builds them (the sd_json_build() argument order of
// manager_luo_serialize_fd_stores() in Debian's libsystemd-core-262.so), then the two late ones
// appended by luo_serialization_add_shutdown_timestamps() (run from libsystemd-shared-262.so:
// it appends them to an existing state, replaces them in place if present, and writes an unset
// timestamp not at all).
//
// Format B (v261-rc1, merged #41683) has no version and no state: the top level is the unit
// map and each unit maps straight to its entry array, {"foo.service":[{...},...]}. Format C
// (#42607) is what v261 and 262 write and the only one their reader takes. Readers here take B
// too on request, as a deliberate legacy input, so an rc1 -> current kexec need not lose the fds.
//
// Writers emit systemd's compact form byte for byte: keys in systemd's order (version, state,
// units; type, name, fd|token, sessionName), units in the order given, no whitespace, no
// trailing newline. Readers keep the document's order.
//
//   luo::handoff::StageA a;                             // what PID 1 lists
//   a.header.set_kexec_count(3, luo::SystemdProfile::v262);
//   a.units.push_back({"foo.service", {{luo::handoff::EntryType::fd, "stateA", 23, {}}}});
//   auto b = luo::handoff::stage_b_from_stage_a(a, luo::SystemdProfile::v262, {late, late});
//   std::string text = luo::handoff::to_json(b);       // goes into the "luo-mapping" memfd
//
//   auto r = luo::handoff::parse_stage_b(text);        // next boot
//   if (auto* err = std::get_if<luo::handoff::ParseError>(&r)) {
//     log(err->path, err->message);                    // systemd would restore nothing here
//   } else {
//     auto& parsed = std::get<luo::handoff::Parsed<luo::handoff::StageB>>(r);
//     for (auto& s : parsed.skipped) log(s.path, s.reason);   // systemd warns and goes on
//     for (auto& unit : parsed.value.units) ...        // RETRIEVE_FD(token) per fd entry
//     parsed.value.header.kexec_count();               // the previous boot's counter
//   }
//
// The restore reader follows 262.1 (§9.5; every number rule measured against the shipped
// sd_json_dispatch helpers): `version` is mandatory and may be any JSON value that
// sd_json_dispatch_uint64() turns into a u64 (1, 1.0, 1e0, "1", " +0x1"; null reads as
// UINT64_MAX), anything above 1 restores nothing; `state` and `units` are objects; a repeated
// known key in the top level is fatal; `state.KExecCount` must be an unsigned JSON number (an
// integral float counts) within u32 and the four timestamps objects whose `realtime`/`monotonic`
// convert to u64, with no known key of `state` or of a timestamp repeated, else `state` is ignored
// as a whole, as 262.1 does (spec §9.2/§9.4 say fatal; 262.1's restore drops `state` and restores
// the entries): a Skipped at path "state", Header::state_ignored set, no counter (the restore
// adopts 1) and no previous timestamps; per unit, an invalid unit name or an `fdstore` that is not
// an array (only the first `fdstore` counts) skips that unit; a repeated unit key is read twice;
// per entry `type` and `name` are mandatory strings, `token` converts like `version`, `sessionName`
// is a string, and a missing token, token 0, an unknown type or a luo_session without sessionName
// skips the entry. A string with a NUL byte anywhere fails the whole document, as sd_json
// refuses \u0000.
//
// Deliberate differences from 262.1's reader (each reported as a Skipped or a ParseError, never
// silent; docs/fd-store-handoff.md lists them with why each is safe):
// - state.kexecsCount is read as a fallback when KExecCount is absent, so a v261 document keeps
//   its counter; a kexecsCount that is not a u32 is reported and ignored (262 ignores the key).
// - Format B is read (when AcceptLegacy::yes); 262 refuses it for its missing version.
// - fd names must pass luo::fdname_is_valid() (model/fd_store_limits.hpp): systemd retrieves
//   such an fd and the unit's fd store then refuses the name, so the entry ends unrestored in
//   both, here without taking the fd from the kernel first.
// - sessionName must be 1..63 bytes and not "systemd": RETRIEVE_SESSION of any other name
//   fails in systemd (ENAMETOOLONG, or no such incoming session), so the entry ends the same.
// - A later entry reusing a token or a sessionName of an earlier accepted entry (across
//   repeated unit keys too) is skipped. 262.1 retrieves it again and hands the same file to the
//   second entry; here one preserved file never reaches two entries (it could give one
//   service's memory to another). systemd-shutdown never writes a repeated token, so only a
//   corrupt or hostile mapping has one.
// - token UINT64_MAX written as a number is "missing" in systemd too; said explicitly here.
// - Documents nested deeper than kMaxJsonDepth (64) are refused; sd_json allows 2048. No
//   systemd writes deeper than 7.
// Stage A (systemd-shutdown's input) is read with the restoring side's header rules, one stage
// early; a luo_session entry there needs a valid `fd` (nothing else holds its session open) and
// an fd number is used once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "luo/model/fd_store_limits.hpp"
#include "luo/model/systemd_profile.hpp"

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
  c_v1,      // v261 and 262: {version, state, units}
};

// systemd's dual_timestamp in JSON: {"realtime":u64,"monotonic":u64}, microseconds of
// CLOCK_REALTIME and CLOCK_MONOTONIC (usec_t).
struct DualTimestamp {
  std::uint64_t realtime = 0;
  std::uint64_t monotonic = 0;
  bool operator==(const DualTimestamp&) const = default;
};

// The four shutdown timestamps of 262's `state` (§9.4), in the order systemd writes them.
enum class ShutdownTimestamp : std::uint8_t {
  start,        // PID 1: units started to be stopped
  finish,       // PID 1: all units stopped
  late_start,   // the shutdown side began (systemd-shutdown's start)
  late_finish,  // the shutdown side is about to hand over (just before Stage B)
};
inline constexpr ShutdownTimestamp kAllShutdownTimestamps[] = {
    ShutdownTimestamp::start, ShutdownTimestamp::finish, ShutdownTimestamp::late_start,
    ShutdownTimestamp::late_finish};

// "ShutdownStartTimestamp", "ShutdownFinishTimestamp", "ShutdownLateStartTimestamp",
// "ShutdownLateFinishTimestamp": the `state` keys. The next boot's systemd shows them as
// "Previous" + key.
std::string_view shutdown_timestamp_key(ShutdownTimestamp t);

struct ShutdownTimestamps {
  std::optional<DualTimestamp> start{}, finish{}, late_start{}, late_finish{};
  std::optional<DualTimestamp>& operator[](ShutdownTimestamp t);
  const std::optional<DualTimestamp>& operator[](ShutdownTimestamp t) const;
  bool operator==(const ShutdownTimestamps&) const = default;
};

struct Header {
  Format format = Format::c_v1;
  // Written as given for format C. A format-B reader sets 0 (B predates versioning).
  std::uint64_t version = kProtocolVersion;
  // Copied verbatim, keys in their original order (hence ordered_json): keys this library does
  // not know must survive a pass through it.
  std::optional<nlohmann::ordered_json> state;
  // Set by a reader when `state` fails 262.1's dispatch: still copied through (a writer keeps
  // it), but it gives no counter and no timestamp, as in 262.1.
  bool state_ignored = false;

  // The previous boot's counter: state.KExecCount (262), else state.kexecsCount (v261), when it
  // is a u32 JSON number and `state` is not ignored.
  std::optional<std::uint32_t> kexec_count() const;
  // Creates `state` if needed and puts the counter under `profile`'s key (replacing a counter
  // under either key in place, the other key dropped), keeping any other state keys.
  void set_kexec_count(std::uint32_t count, SystemdProfile profile = kDefaultSystemdProfile);
  // A timestamp of `state` that is an object with u64 `realtime`/`monotonic` (a missing field
  // reads as 0, as systemd leaves it unset).
  std::optional<DualTimestamp> timestamp(ShutdownTimestamp t) const;
  ShutdownTimestamps timestamps() const;
  // Replaces the key in place, or appends it to `state`, as systemd's sd_json_variant_set_field()
  // does; so setting start, finish, late_start, late_finish in turn gives 262's order.
  void set_timestamp(ShutdownTimestamp t, DualTimestamp value);
  bool operator==(const Header&) const = default;
};

// The counter a restoring PID 1 adopts: previous + 1, wrapping as 262.1's u32 increment does
// (4294967295 restores as 0; spec §9.2 says saturating, real 262.1 wraps); 1 without a previous
// value (§3.6.2 step 6, §9.2).
std::uint32_t restored_kexec_count(const Header& header);

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

// What systemd-shutdown makes of Stage A (§3.4, §9.3, §9.4), without the kernel: `state` gets
// `late`'s timestamps that are set (appended, with the profile's shutdown_timestamps feature
// only), then each entry in unit order and array order becomes a Stage-B entry. An fd entry
// asks `preserve(entry, token)` (nullptr: every preserve succeeds), which returns whether
// PRESERVE_FD succeeded: tokens are dense from 1 over the successes, a refused fd takes none.
// A luo_session entry is recorded by name (`preserve` sees it with token 0, its answer
// ignored: the session is not nested, only held open). Units left without entries are omitted.
using PreserveFn = std::function<bool(const StageAEntry& entry, std::uint64_t token)>;
StageB stage_b_from_stage_a(const StageA& staged, SystemdProfile profile,
                            const ShutdownTimestamps& late = {},
                            const PreserveFn& preserve = nullptr);
// stage_b_from_stage_a()'s calls of `preserve`, the same ones with the same tokens, without
// building the mapping; returns how many fd entries it refused. With none refused, the mapping
// is stage_b_from_stage_a(staged, profile, late) without `preserve`.
std::size_t preserve_in_order(const StageA& staged, const PreserveFn& preserve);

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
// where parsing stopped), else the field ("version", "units", "state.KExecCount",
// "state.ShutdownLateStartTimestamp.realtime").
struct ParseError {
  std::string path;
  std::string message;
  bool operator==(const ParseError&) const = default;
};

// The text after "malformed JSON at byte N: " for an nlohmann exception's what(), which is
// "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing
// value - <lexer message>; last read: '<token>'; expected <what>", or
// "[json.exception.out_of_range.406] number overflow parsing '<token>'". The prefixes repeat the
// offset, and a token is raw input: a megabyte of an unterminated string or of digits, or bytes
// that are not text. Keeps the rest, printable and at most 160 bytes (then "..."). The mapping
// readers' ParseError and the CLI's JSON inputs say the same.
std::string parse_error_detail(std::string_view what);

template <class T>
struct Parsed {
  T value;
  std::vector<Skipped> skipped;
};

enum class AcceptLegacy { no, yes };

// Format detection: a document with a "version" key is format C. Without one it is format B
// when every top-level value is an array (B's unit map; "{}" included), and otherwise a format-C
// document that lost its version, refused with "missing 'version' field". A B document is
// refused as well when `accept` is no, which is what v261's and 262's own readers do.
//
// The verdict is the variant: ParseError when systemd 262.1 would restore nothing (and adopt no
// counter), else Parsed, whose `skipped` names every unit and entry it would not restore.
//
// Neither reader throws on any input, and both stop at the first malformed byte, so megabytes
// of garbage cost microseconds.
std::variant<Parsed<StageA>, ParseError> parse_stage_a(std::string_view json,
                                                       AcceptLegacy accept = AcceptLegacy::yes);
std::variant<Parsed<StageB>, ParseError> parse_stage_b(std::string_view json,
                                                       AcceptLegacy accept = AcceptLegacy::yes);

namespace detail {
// The same readers without their fast path (a SAX pass for the shape systemd writes): every
// document read whole by the exact reader, which alone knows every rule and message. Only for the
// tests that hold the fast path to it.
std::variant<Parsed<StageA>, ParseError> parse_stage_a_exact(
    std::string_view json, AcceptLegacy accept = AcceptLegacy::yes);
std::variant<Parsed<StageB>, ParseError> parse_stage_b_exact(
    std::string_view json, AcceptLegacy accept = AcceptLegacy::yes);
}  // namespace detail

}  // namespace luo::handoff
