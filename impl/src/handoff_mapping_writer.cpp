// to_json(): both documents streamed as systemd's compact bytes, no tree built.
#include <algorithm>
#include <array>
#include <charconv>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "handoff_mapping_internal.hpp"
#include "luo/impl/handoff_mapping.hpp"

namespace luo::handoff {

namespace {

using internal::Json;

// Compact, as sd_json_variant_format(v, 0); `replace` because dump() would otherwise throw on a
// string that is not UTF-8.
void append_json(std::string& out, const Json& value) {
  out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A JSON string. Printable ASCII without '"' and '\\' (every unit id, fd name and session name
// systemd writes) needs no escaping and is copied; anything else goes through nlohmann, which
// escapes and replaces bytes that are not UTF-8.
void append_string(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7F && c != '"' && c != '\\';
  });
  if (!plain) {
    append_json(out, Json(s));
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

// A number as JSON writes it, without a temporary string.
template <class Int>
void append_number(std::string& out, Int value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

// The bytes of the compact dump of {type, name, fd, sessionName?}, without building it.
void append_entry(std::string& out, const StageAEntry& e) {
  out += "{\"type\":";
  append_string(out, entry_type_name(e.type));
  out += ",\"name\":";
  append_string(out, e.name);
  out += ",\"fd\":";
  append_number(out, e.fd);
  if (!e.session_name.empty()) {
    out += ",\"sessionName\":";
    append_string(out, e.session_name);
  }
  out += '}';
}

// {type, name, token} or {type, name, sessionName}.
void append_entry(std::string& out, const StageBEntry& e) {
  out += "{\"type\":";
  append_string(out, entry_type_name(e.type));
  out += ",\"name\":";
  append_string(out, e.name);
  switch (e.type) {
    case EntryType::fd:
      out += ",\"token\":";
      append_number(out, e.token);
      break;
    case EntryType::luo_session:
      out += ",\"sessionName\":";
      append_string(out, e.session_name);
      break;
  }
  out += '}';
}

// Streams the document instead of building it whole: the bytes are those of the compact dump of
// {version, state, units: {unit: {fdstore: [...]}}}, but a store set of 10,000 entries costs no
// tree of all of them and no linear key search per unit.
template <class Entry>
std::string write(const Header& header, const std::vector<UnitEntries<Entry>>& units) {
  const bool legacy = header.format == Format::b_legacy;
  // A unit given twice is written once, at its first position, with both lists. Only then are
  // the lists gathered; otherwise the units are written as they are.
  std::vector<const UnitEntries<Entry>*> order;
  std::unordered_map<std::string_view, std::size_t> position;
  std::size_t entries = 0;
  std::size_t bytes = 0;
  bool repeated = false;
  for (const auto& unit : units) {
    if (unit.fdstore.empty())
      continue;
    if (position.try_emplace(unit.unit, order.size()).second)
      order.push_back(&unit);
    else
      repeated = true;
    entries += unit.fdstore.size();
    bytes += unit.unit.size() + 16;
    for (const auto& e : unit.fdstore)
      bytes += e.name.size() + e.session_name.size();
  }
  std::vector<std::vector<const Entry*>> lists;
  if (repeated) {
    lists.resize(order.size());
    for (const auto& unit : units) {
      if (unit.fdstore.empty())
        continue;
      auto& list = lists[position.at(unit.unit)];
      for (const auto& e : unit.fdstore)
        list.push_back(&e);
    }
  }
  std::string out;
  // Beyond the names, an entry's keys, punctuation and number take under 64 bytes.
  out.reserve(bytes + 64 * entries + 256);
  if (!legacy) {
    out += "{\"version\":";
    append_number(out, header.version);
    if (header.state) {
      out += ",\"state\":";
      append_json(out, *header.state);
    }
    if (order.empty())
      return out + "}";
    out += ",\"units\":";
  }
  out += '{';
  for (std::size_t u = 0; u < order.size(); ++u) {
    if (u > 0)
      out += ',';
    append_string(out, order[u]->unit);
    out += legacy ? ":[" : ":{\"fdstore\":[";
    if (repeated) {
      for (std::size_t i = 0; i < lists[u].size(); ++i) {
        if (i > 0)
          out += ',';
        append_entry(out, *lists[u][i]);
      }
    } else {
      bool first = true;
      for (const auto& e : order[u]->fdstore) {
        if (!first)
          out += ',';
        first = false;
        append_entry(out, e);
      }
    }
    out += legacy ? "]" : "]}";
  }
  out += '}';
  if (!legacy)
    out += '}';
  return out;
}

}  // namespace

std::string to_json(const StageA& doc) {
  return write(doc.header, doc.units);
}
std::string to_json(const StageB& doc) {
  return write(doc.header, doc.units);
}

}  // namespace luo::handoff
