// The readers' fast path: the shape systemd writes read in one pass of nlohmann's SAX parser into
// the result. Anything else goes to the exact reader (handoff_mapping_reader.cpp).
#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "handoff_mapping_internal.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/unit_name.hpp"

namespace luo::handoff::internal {

namespace {

// The fast path of both readers: one pass of nlohmann's SAX events straight into the result, no
// tree of the units. It takes only the shape systemd writes (format C; `version` an unsigned
// number; `state` an object; `units` an object of {"fdstore":[...]} whose entries carry known
// keys with their canonical JSON types, each once) and entries every rule accepts, with no
// token, fd or sessionName claimed twice. On the first event outside that shape it gives up
// (`false` stops the parse), and parse() reads the document again with the DOM reader below,
// which alone applies every rule and writes every message: anything the fast path returns, the
// DOM reader would have returned too, so the two cannot disagree in what they accept or report.
// `state` is small and copied through verbatim, so it is built as a DOM by DomBuilder and read
// with the DOM reader's own read_state().
template <class Doc, class Entry>
class FastReader {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit FastReader(Parsed<Doc>& out) : out_(out) {}

  bool null() { return capturing() && capture_->null() && captured(); }
  bool boolean(bool v) { return capturing() && capture_->boolean(v) && captured(); }
  bool number_integer(number_integer_t v) {
    return capturing() && capture_->number_integer(v) && captured();
  }
  bool number_float(number_float_t v, const string_t& text) {
    return capturing() && capture_->number_float(v, text) && captured();
  }
  bool binary(binary_t& /*v*/) { return false; }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) {
    return false;
  }

  bool number_unsigned(number_unsigned_t v) {
    if (capturing())
      return capture_->number_unsigned(v) && captured();
    switch (at_) {
      case At::version:
        if (v > kProtocolVersion)
          return false;
        out_.value.header.version = v;
        at_ = At::top;
        return true;
      case At::entry_number:
        if constexpr (kStageA<Entry>) {
          if (v > static_cast<number_unsigned_t>(INT32_MAX))
            return false;
          entry_->fd = static_cast<int>(v);
        } else {
          entry_->token = v;
        }
        at_ = At::entry;
        return true;
      default:
        return false;
    }
  }

  bool string(string_t& v) {
    if (capturing())
      return capture_->string(v) && captured();
    if (at_ != At::entry_string || std::memchr(v.data(), '\0', v.size()) != nullptr)
      return false;
    switch (field_) {
      case Field::type:
        if (std::string_view(v) == "fd") {
          entry_->type = EntryType::fd;
        } else if (std::string_view(v) == "luo_session") {
          entry_->type = EntryType::luo_session;
        } else {
          return false;
        }
        break;
      case Field::name:
        entry_->name = v;
        break;
      case Field::session_name:
        entry_->session_name = v;
        break;
      case Field::number:
        return false;
    }
    at_ = At::entry;
    return true;
  }

  bool key(string_t& text) {
    if (capturing())
      return capture_->key(text);
    // A view compares the length first and needs no strlen() of the literal.
    const std::string_view k = text;
    switch (at_) {
      case At::top:
        if (k == "version")
          return take(Seen::version, At::version);
        if (k == "state")
          return take(Seen::state, At::state);
        if (k == "units")
          return take(Seen::units, At::units);
        return false;
      case At::units:
        // A unit the restore skips, and a NUL systemd's parser refuses, go to the DOM reader.
        if (std::memchr(k.data(), '\0', k.size()) != nullptr || !unit_name_is_valid(k))
          return false;
        {
          // Stores are often alike in size: the previous unit's count spares most of the
          // regrowths of this one's entries (four for ten entries).
          const std::size_t hint =
              out_.value.units.empty() ? 0 : out_.value.units.back().fdstore.size();
          out_.value.units.push_back(UnitEntries<Entry>{text, {}});
          out_.value.units.back().fdstore.reserve(hint);
        }
        at_ = At::unit_value;
        return true;
      case At::unit:
        if (k != "fdstore" || unit_has_fdstore_)
          return false;
        unit_has_fdstore_ = true;
        at_ = At::fdstore_value;
        return true;
      case At::entry:
        return entry_key(k);
      default:
        return false;
    }
  }

  bool start_object(std::size_t elements) {
    if (capturing())
      return capture_->start_object(elements);
    switch (at_) {
      case At::start:
        at_ = At::top;
        return true;
      case At::state:
        // The root is open at depth 1 already.
        capture_.emplace(kMaxJsonDepth - 1);
        return capture_->start_object(elements);
      case At::units:
        return false;
      case At::units_value:
        at_ = At::units;
        return true;
      case At::unit_value:
        unit_has_fdstore_ = false;
        at_ = At::unit;
        return true;
      case At::array:
        // Filled where it stays: an entry that is not acceptable ends the fast pass.
        entry_ = &out_.value.units.back().fdstore.emplace_back();
        entry_seen_ = 0;
        at_ = At::entry;
        return true;
      default:
        return false;
    }
  }

  bool end_object() {
    if (capturing())
      return capture_->end_object() && captured();
    switch (at_) {
      case At::top:
        at_ = At::done;
        return (seen_ & bit(Seen::version)) != 0;
      case At::units:
        at_ = At::top;
        return true;
      case At::unit:
        // Without `fdstore` the DOM reader reports the unit skipped.
        if (!unit_has_fdstore_)
          return false;
        at_ = At::units;
        return true;
      case At::entry:
        if (!entry_acceptable())
          return false;
        entry_ = nullptr;
        at_ = At::array;
        return true;
      default:
        return false;
    }
  }

  bool start_array(std::size_t elements) {
    if (capturing())
      return capture_->start_array(elements);
    if (at_ != At::fdstore_value)
      return false;
    at_ = At::array;
    return true;
  }

  bool end_array() {
    if (capturing())
      return capture_->end_array() && captured();
    if (at_ != At::array)
      return false;
    at_ = At::unit;
    return true;
  }

  // After a successful parse: the document was complete and no two accepted entries claim the
  // same token, fd number or session, which the DOM reader would report.
  bool finish() {
    if (at_ != At::done || !unique(numbers_) || !unique(sessions_))
      return false;
    out_.value.header.format = Format::c_v1;
    if (state_) {
      out_.value.header.state_ignored = !read_state(*state_, out_.skipped);
      out_.value.header.state = std::move(*state_);
    }
    return true;
  }

 private:
  enum class At : std::uint8_t {
    start,
    top,
    version,
    state,
    units_value,
    units,
    unit_value,
    unit,
    fdstore_value,
    array,
    entry,
    entry_string,
    entry_number,
    done,
  };
  enum class Seen : std::uint8_t { version, state, units };
  enum class Field : std::uint8_t { type, name, number, session_name };
  static constexpr unsigned bit(Seen s) { return 1u << static_cast<unsigned>(s); }
  static constexpr unsigned bit(Field f) { return 1u << static_cast<unsigned>(f); }

  // A repeated top-level key is the DOM reader's error to report.
  bool take(Seen s, At next) {
    if ((seen_ & bit(s)) != 0)
      return false;
    seen_ |= bit(s);
    at_ = s == Seen::units ? At::units_value : next;
    return true;
  }

  // Three keys an entry, so the keys are told apart by length first: a chain of string
  // comparisons cost about 90 instructions a key, a tenth of the restore's own parse work.
  static std::optional<Field> entry_field(std::string_view k) {
    constexpr std::string_view kNumber = kStageA<Entry> ? "fd" : "token";
    const auto is = [&](std::string_view name) {
      return std::memcmp(k.data(), name.data(), name.size()) == 0;
    };
    switch (k.size()) {
      case 4:
        if (is("type"))
          return Field::type;
        if (is("name"))
          return Field::name;
        return std::nullopt;
      case kNumber.size():
        return is(kNumber) ? std::optional(Field::number) : std::nullopt;
      case std::string_view("sessionName").size():
        return is("sessionName") ? std::optional(Field::session_name) : std::nullopt;
      default:
        return std::nullopt;
    }
  }

  bool entry_key(std::string_view k) {
    const std::optional<Field> field = entry_field(k);
    if (!field)
      return false;
    const Field f = *field;
    if ((entry_seen_ & bit(f)) != 0)
      return false;
    entry_seen_ |= bit(f);
    field_ = f;
    at_ = f == Field::number ? At::entry_number : At::entry_string;
    return true;
  }

  // read_entry()'s rules, as a yes/no: every entry they would skip goes to the DOM reader.
  bool entry_acceptable() {
    if ((entry_seen_ & bit(Field::type)) == 0 || (entry_seen_ & bit(Field::name)) == 0 ||
        !fdname_is_valid(entry_->name)) {
      return false;
    }
    const bool has_number = (entry_seen_ & bit(Field::number)) != 0;
    if (entry_->type == EntryType::fd) {
      // read_entry() leaves an fd entry's sessionName unread.
      entry_->session_name.clear();
      if (!has_number)
        return false;
      if constexpr (kStageA<Entry>) {
        numbers_.push_back(static_cast<std::uint64_t>(entry_->fd));
      } else {
        if (entry_->token == kMissingTokenSentinel || entry_->token == kMappingToken)
          return false;
        numbers_.push_back(entry_->token);
      }
      return true;
    }
    if ((entry_seen_ & bit(Field::session_name)) == 0 || session_name_problem(entry_->session_name))
      return false;
    if constexpr (kStageA<Entry>) {
      // Stage A's luo_session holds its session by fd: a claimed number, like an fd entry's.
      if (!has_number)
        return false;
      numbers_.push_back(static_cast<std::uint64_t>(entry_->fd));
    } else {
      // read_entry() does not read a luo_session entry's token.
      entry_->token = 0;
    }
    sessions_.push_back(entry_->session_name);
    return true;
  }

  // True when no value repeats. Tokens systemd-shutdown writes ascend, so the common case is one
  // scan; anything else is sorted.
  template <class T>
  static bool unique(std::vector<T>& values) {
    if (std::adjacent_find(values.begin(), values.end(), std::greater_equal<>()) == values.end())
      return true;
    std::sort(values.begin(), values.end());
    return std::adjacent_find(values.begin(), values.end()) == values.end();
  }

  bool capturing() const { return capture_.has_value(); }
  // Ends the capture once `state` is complete.
  bool captured() {
    if (capture_->open_containers() == 0) {
      state_ = std::move(capture_->root());
      capture_.reset();
      at_ = At::top;
    }
    return true;
  }

  Parsed<Doc>& out_;
  At at_ = At::start;
  unsigned seen_ = 0;
  bool unit_has_fdstore_ = false;
  Entry* entry_ = nullptr;  // the last entry of the last unit, while it is read
  unsigned entry_seen_ = 0;
  Field field_ = Field::type;
  std::vector<std::uint64_t> numbers_;
  std::vector<std::string> sessions_;
  std::optional<DomBuilder> capture_;
  std::optional<Json> state_;
};

// The fast path of parse(): nlohmann's SAX feeding a FastReader. nullopt: the document needs the
// exact reader.
template <class Doc, class Entry>
std::optional<Parsed<Doc>> parse_fast(std::string_view text) {
  Parsed<Doc> fast;
  FastReader<Doc, Entry> reader(fast);
  if (Json::sax_parse(text.begin(), text.end(), &reader) && reader.finish())
    return fast;
  return std::nullopt;
}

}  // namespace

std::optional<Parsed<StageA>> parse_fast_stage_a(std::string_view text) {
  return parse_fast<StageA, StageAEntry>(text);
}

std::optional<Parsed<StageB>> parse_fast_stage_b(std::string_view text) {
  return parse_fast<StageB, StageBEntry>(text);
}

}  // namespace luo::handoff::internal
