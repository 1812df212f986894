// luo-lifecycle inspect: validates a Stage A or Stage B fd-store mapping (formats C and B) with
// the library's own readers (impl/handoff_mapping.hpp) and says whether a restore would take
// every entry. The stage is told by the entries: Stage A entries carry `fd`, Stage B entries
// `token` (and a Stage-B luo_session entry carries neither).
#include <iostream>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "input.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "trace.hpp"

namespace luo::cli {
namespace {

using Json = nlohmann::ordered_json;

enum class Stage { a, b };

// Which stage the entries look like, by a SAX pass that keeps nothing but a stack of container
// kinds: an object directly inside an array is an entry.
class StageVotes final : public nlohmann::json_sax<Json> {
 public:
  int a = 0, b = 0;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    const bool entry = !stack_.empty() && stack_.back().array;
    stack_.push_back({false, entry});
    return stack_.size() <= handoff::kMaxJsonDepth;
  }
  bool key(string_t& k) override {
    auto& top = stack_.back();
    if (top.entry) {
      top.fd |= k == "fd";
      top.token |= k == "token";
      top.session |= k == "sessionName";
    }
    return true;
  }
  bool end_object() override {
    const Level top = stack_.back();
    stack_.pop_back();
    if (top.entry) {
      if (top.fd)
        ++a;
      else if (top.token || top.session)
        ++b;
    }
    return true;
  }
  bool start_array(std::size_t) override {
    stack_.push_back({true, false});
    return stack_.size() <= handoff::kMaxJsonDepth;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Level {
    bool array = false, entry = false, fd = false, token = false, session = false;
  };
  std::vector<Level> stack_;
};

struct Detected {
  Stage stage = Stage::b;
  std::string how;  // "given", "detected", or why the default was taken
};

Detected detect(std::string_view text) {
  StageVotes votes;
  (void)Json::sax_parse(text.begin(), text.end(), &votes);
  if (votes.a > 0 && votes.b == 0)
    return {Stage::a, "detected: entries carry 'fd'"};
  if (votes.b > 0 && votes.a == 0)
    return {Stage::b, "detected: entries carry 'token' or a bare 'sessionName'"};
  if (votes.a > 0)
    return {votes.a > votes.b ? Stage::a : Stage::b,
            "mixed: " + std::to_string(votes.a) + " entries look like Stage A, " +
                std::to_string(votes.b) + " like Stage B; pass --stage to choose"};
  return {Stage::b, "no entry carries 'fd' or 'token'; read as Stage B, --stage a reads Stage A"};
}

std::string_view format_name(handoff::Format f) {
  switch (f) {
    case handoff::Format::b_legacy:
      return "B";
    case handoff::Format::c_v1:
      return "C";
  }
  return "?";
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
    out["format"] = format_name(header.format);
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

  io.out << input << ": Stage " << stage_name << " mapping, format " << format_name(header.format);
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
