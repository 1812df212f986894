// to_json(): both documents streamed as systemd's compact bytes, no tree built.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "handoff_mapping_internal.hpp"
#include "luo/impl/handoff_mapping.hpp"

namespace luo::handoff {

namespace {

using internal::Json;

// The document's bytes, written through a cursor into a buffer sized for the usual document:
// a piece is a bounds check and a copy, where std::string's operator+= is a call per character
// and a length check per literal (the writer took about 700 instructions an entry). An entry
// whose names need no escaping takes one bounds check for all its pieces (put_entry()).
class Output {
 public:
  explicit Output(std::size_t expected) : buf_(expected, '\0') { at(0); }

  // Checked: each makes room for itself.
  void put(char c) {
    room(1);
    *p_++ = c;
  }
  void put(std::string_view s) {
    room(s.size());
    bytes(s);
  }
  template <class Int>
  void put_number(Int value) {
    room(kMaxDigits);
    digits(value);
  }

  // Unchecked: after room() for all of them.
  void room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n)
      grow(n);
  }
  template <std::size_t N>
  void literal(const char (&s)[N]) {
    std::memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  void bytes(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // A number as JSON writes it, without a temporary string.
  template <class Int>
  void digits(Int value) {
    p_ = std::to_chars(p_, p_ + kMaxDigits, value).ptr;
  }
  static constexpr std::size_t kMaxDigits = 24;

  std::string take() && {
    buf_.resize(static_cast<std::size_t>(p_ - buf_.data()));
    return std::move(buf_);
  }

 private:
  void at(std::size_t offset) {
    p_ = buf_.data() + offset;
    end_ = buf_.data() + buf_.size();
  }
  [[gnu::noinline]] void grow(std::size_t n) {
    const auto offset = static_cast<std::size_t>(p_ - buf_.data());
    buf_.resize(std::max(buf_.size() * 2, offset + n));
    at(offset);
  }
  std::string buf_;
  char* p_ = nullptr;
  char* end_ = nullptr;
};

// Compact, as sd_json_variant_format(v, 0); `replace` because dump() would otherwise throw on a
// string that is not UTF-8.
void put_json(Output& out, const Json& value) {
  out.put(value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// A JSON string. Printable ASCII without '"' and '\\' (every unit id, fd name and session name
// systemd writes) needs no escaping and is copied; anything else goes through nlohmann, which
// escapes and replaces bytes that are not UTF-8.
bool plain(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7F && c != '"' && c != '\\';
  });
}

void put_string(Output& out, std::string_view s) {
  if (!plain(s)) {
    put_json(out, Json(s));
    return;
  }
  out.put('"');
  out.put(s);
  out.put('"');
}

// The bytes of the compact dump of {type, name, fd, sessionName?}, without building it.
void put_entry(Output& out, const StageAEntry& e) {
  out.put(R"({"type":)");
  put_string(out, entry_type_name(e.type));
  out.put(R"(,"name":)");
  put_string(out, e.name);
  out.put(R"(,"fd":)");
  out.put_number(e.fd);
  if (!e.session_name.empty()) {
    out.put(R"(,"sessionName":)");
    put_string(out, e.session_name);
  }
  out.put('}');
}

// {type, name, token} or {type, name, sessionName}.
void put_entry(Output& out, const StageBEntry& e) {
  const bool session = e.type == EntryType::luo_session;
  if (plain(e.name) && (!session || plain(e.session_name))) {
    const std::string_view type = entry_type_name(e.type);
    // The literals below take 38 bytes at most, a number kMaxDigits.
    out.room(type.size() + e.name.size() + e.session_name.size() + 40 + Output::kMaxDigits);
    out.literal(R"({"type":")");
    out.bytes(type);
    out.literal(R"(","name":")");
    out.bytes(e.name);
    if (session) {
      out.literal(R"(","sessionName":")");
      out.bytes(e.session_name);
      out.literal(R"("})");
    } else {
      out.literal(R"(","token":)");
      out.digits(e.token);
      out.literal("}");
    }
    return;
  }
  out.put(R"({"type":)");
  put_string(out, entry_type_name(e.type));
  out.put(R"(,"name":)");
  put_string(out, e.name);
  switch (e.type) {
    case EntryType::fd:
      out.put(R"(,"token":)");
      out.put_number(e.token);
      break;
    case EntryType::luo_session:
      out.put(R"(,"sessionName":)");
      put_string(out, e.session_name);
      break;
  }
  out.put('}');
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
  // Beyond the names, an entry's keys, punctuation and number take under 64 bytes.
  Output out(bytes + 64 * entries + 256);
  if (!legacy) {
    out.put(R"({"version":)");
    out.put_number(header.version);
    if (header.state) {
      out.put(R"(,"state":)");
      put_json(out, *header.state);
    }
    if (order.empty()) {
      out.put('}');
      return std::move(out).take();
    }
    out.put(R"(,"units":)");
  }
  out.put('{');
  for (std::size_t u = 0; u < order.size(); ++u) {
    if (u > 0)
      out.put(',');
    put_string(out, order[u]->unit);
    out.put(legacy ? ":[" : R"(:{"fdstore":[)");
    if (repeated) {
      for (std::size_t i = 0; i < lists[u].size(); ++i) {
        if (i > 0)
          out.put(',');
        put_entry(out, *lists[u][i]);
      }
    } else {
      bool first = true;
      for (const auto& e : order[u]->fdstore) {
        if (!first)
          out.put(',');
        first = false;
        put_entry(out, e);
      }
    }
    out.put(legacy ? "]" : "]}");
  }
  out.put('}');
  if (!legacy)
    out.put('}');
  return std::move(out).take();
}

}  // namespace

std::string to_json(const StageA& doc) {
  return write(doc.header, doc.units);
}
std::string to_json(const StageB& doc) {
  return write(doc.header, doc.units);
}

}  // namespace luo::handoff
