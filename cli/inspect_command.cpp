// luo-lifecycle inspect: validates a Stage A or Stage B fd-store mapping (formats C and B) with
// the library's own readers (impl/handoff_mapping.hpp) and says whether a restore would take
// every entry. The stage is told by the entries (handoff::detect_stage(), impl/mapping_format.hpp)
// unless --stage names it; this file parses the arguments and prints.
#include <iostream>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "input.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/mapping_format.hpp"
#include "trace.hpp"

namespace luo::cli {
namespace {

using Json = nlohmann::ordered_json;

using handoff::Stage;

struct Detected {
  Stage stage = Stage::b;
  std::string how;  // "given", "detected", or why the default was taken
};

Detected detect(std::string_view text) {
  using Basis = handoff::StageDetection::Basis;
  const handoff::StageDetection d = handoff::detect_stage(text);
  switch (d.basis) {
    case Basis::stage_a_entries:
      return {d.stage, "detected: entries carry 'fd'"};
    case Basis::stage_b_entries:
      return {d.stage, "detected: entries carry 'token' or a bare 'sessionName'"};
    case Basis::mixed:
      return {d.stage, "mixed: " + std::to_string(d.stage_a_entries) +
                           " entries look like Stage A, " + std::to_string(d.stage_b_entries) +
                           " like Stage B; pass --stage to choose"};
    case Basis::no_entries:
      break;
  }
  return {d.stage, "no entry carries 'fd' or 'token'; read as Stage B, --stage a reads Stage A"};
}

Json entry_json(const handoff::StageAEntry& e) {
  Json j;
  j["type"] = handoff::entry_type_name(e.type);
  j["name"] = e.name;
  j["fd"] = e.fd;
  if (e.type == handoff::EntryType::luo_session)
    j["sessionName"] = e.session_name;
  return j;
}

Json entry_json(const handoff::StageBEntry& e) {
  Json j;
  j["type"] = handoff::entry_type_name(e.type);
  j["name"] = e.name;
  if (e.type == handoff::EntryType::fd)
    j["token"] = e.token;
  else
    j["sessionName"] = e.session_name;
  return j;
}

std::string entry_text(const handoff::StageAEntry& e) {
  return format("    %-12s %-24s fd %d%s", std::string(handoff::entry_type_name(e.type)).c_str(),
                Json(e.name).dump().c_str(), e.fd,
                e.type == handoff::EntryType::luo_session
                    ? (" session " + Json(e.session_name).dump()).c_str()
                    : "");
}

std::string entry_text(const handoff::StageBEntry& e) {
  return format("    %-12s %-24s %s", std::string(handoff::entry_type_name(e.type)).c_str(),
                Json(e.name).dump().c_str(),
                e.type == handoff::EntryType::fd
                    ? ("token " + std::to_string(e.token)).c_str()
                    : ("session " + Json(e.session_name).dump()).c_str());
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The verdict and its reporting, shared by both stages.
template <class Doc>
int report(const Args& args, Io& io, const std::string& input, Stage stage,
           const Detected& detected,
           const std::variant<handoff::Parsed<Doc>, handoff::ParseError>& r) {
  const bool json = args.flag("--json");
  const char* stage_name = stage == Stage::a ? "A" : "B";
  // Who would read the document: Stage A feeds the shutdown side, Stage B the next boot.
  const char* reader = stage == Stage::a ? "the shutdown side (Stage B)" : "a restore";
  Json out;
  out["input"] = input;
  out["stage"] = stage == Stage::a ? "a" : "b";
  out["stage_source"] = detected.how;

  if (const auto* err = std::get_if<handoff::ParseError>(&r)) {
    const std::string where = err->path.empty() ? "the document" : err->path;
    if (json) {
      out["error"] = {{"path", err->path}, {"message", err->message}};
      out["accepted_entries"] = 0;
      out["verdict"] = "rejected";
      io.out << dump(out, 2) << "\n";
    } else {
      io.out << input << ": Stage " << stage_name << " mapping (" << detected.how << ")\n"
             << "rejected at " << where << ": " << err->message << "\n"
             << "verdict: rejected: " << reader << " would take nothing from this document\n";
    }
    return kExitFailure;
  }
  const auto& parsed = std::get<handoff::Parsed<Doc>>(r);
  const auto& header = parsed.value.header;
  std::size_t entries = 0;
  for (const auto& unit : parsed.value.units)
    entries += unit.fdstore.size();
  const bool legacy = header.format == handoff::Format::b_legacy;
  const bool all = parsed.skipped.empty();

  if (json) {
    out["format"] = handoff::format_name(header.format);
    out["version"] = legacy ? Json(nullptr) : Json(header.version);
    out["state"] = header.state ? *header.state : Json(nullptr);
    if (auto k = header.kexec_count())
      out["kexecs_count"] = *k;
    if (stage == Stage::b)
      out["restored_kexecs_count"] = handoff::restored_kexec_count(header);
    out["units"] = Json::array();
    for (const auto& unit : parsed.value.units) {
      Json u;
      u["unit"] = unit.unit;
      u["fdstore"] = Json::array();
      for (const auto& e : unit.fdstore)
        u["fdstore"].push_back(entry_json(e));
      out["units"].push_back(std::move(u));
    }
    out["skipped"] = Json::array();
    for (const auto& s : parsed.skipped)
      out["skipped"].push_back({{"path", s.path}, {"reason", s.reason}});
    out["error"] = nullptr;
    out["accepted_entries"] = entries;
    out["verdict"] = all ? "accepted" : "partial";
    io.out << dump(out, 2) << "\n";
    return all ? kExitOk : kExitFailure;
  }

  io.out << input << ": Stage " << stage_name << " mapping, format "
         << handoff::format_name(header.format);
  if (!legacy)
    io.out << " (version " << header.version << ")";
  io.out << "; " << detected.how << "\n";
  if (legacy) {
    io.out << "note: format B is systemd v261-rc1's; this library's restore reads it, systemd "
              "v261's and 262's readers drop it whole\n";
  }
  if (header.state)
    io.out << "state: " << dump(*header.state) << "\n";
  if (stage == Stage::b)
    io.out << "a restoring manager adopts KExecCount " << handoff::restored_kexec_count(header)
           << "\n";
  for (const auto& unit : parsed.value.units) {
    io.out << "  " << unit.unit << "\n";
    for (const auto& e : unit.fdstore)
      io.out << entry_text(e) << "\n";
  }
  for (const auto& s : parsed.skipped)
    io.out << "skipped " << s.path << ": " << s.reason << "\n";
  io.out << "verdict: ";
  if (all) {
    io.out << "accepted: " << reader << " takes all " << plural(entries, "entry", "entries")
           << " of " << plural(parsed.value.units.size(), "unit", "units") << "\n";
  } else {
    io.out << "partial: " << reader << " would skip "
           << plural(parsed.skipped.size(), "item", "items") << " (listed above) and take "
           << plural(entries, "entry", "entries") << "\n";
  }
  return all ? kExitOk : kExitFailure;
}

int run(const Args& args, Io& io) {
  const Command& self = inspect_command();
  if (args.positional.size() != 1)
    return usage_error(self, io, "expects exactly one mapping file (or - for standard input)");
  const std::string& input = args.positional[0];
  const auto stage_arg = args.value("--stage");
  if (stage_arg && *stage_arg != "a" && *stage_arg != "b")
    return usage_error(self, io, "--stage takes a or b, not '" + *stage_arg + "'");
  const auto text = read_input(self, input, io);
  if (!text)
    return kExitUsage;
  const Detected detected =
      stage_arg ? Detected{*stage_arg == "a" ? Stage::a : Stage::b, "given"} : detect(*text);
  const auto accept =
      args.flag("--no-legacy") ? handoff::AcceptLegacy::no : handoff::AcceptLegacy::yes;
  if (detected.stage == Stage::a)
    return report(args, io, input, Stage::a, detected, handoff::parse_stage_a(*text, accept));
  return report(args, io, input, Stage::b, detected, handoff::parse_stage_b(*text, accept));
}

}  // namespace

const Command& inspect_command() {
  static const Command command{
      "inspect",
      "<mapping.json|-> [--stage a|b] [--no-legacy] [--json]",
      "validate and pretty-print a Stage A or Stage B fd-store mapping",
      "Reads a systemd fd-store handoff document: Stage A (PID 1 -> systemd-shutdown, entries\n"
      "with 'fd') or the Stage B mapping (token 0 of the \"systemd\" LUO session, entries with\n"
      "'token'), in format C (v261: {version, state, units}) or the legacy format B (v261-rc1:\n"
      "the bare unit map). The stage is detected from the entries unless --stage is given.\n"
      "Every entry a reader would skip is named by its path (units[\"foo.service\"].fdstore[2])\n"
      "with the reason: token 0 or UINT64_MAX, an invalid unit, fd or session name, an unknown\n"
      "type, a missing or mistyped field, a duplicate token, fd or session. A document that is\n"
      "refused whole (malformed JSON with its byte offset, unknown version, bad header) is\n"
      "named too.\n\n"
      "Exit status: 0 when the reader takes every entry, 1 when it would skip any or refuse\n"
      "the document, 2 on a usage error or an unreadable file.\n",
      {{"--stage", "a|b", "read as Stage A or Stage B instead of detecting it"},
       {"--no-legacy", "", "refuse format B, as systemd v261's own reader does"},
       {"--json", "", "print the result as JSON: units, skipped[], error, verdict"}},
      run};
  return command;
}

}  // namespace luo::cli
