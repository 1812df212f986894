// A nested manager across its own re-exec (see nested_manager.hpp for the lifecycle):
// serialize() writes the counter C and every entry with its index, systemd's
// "fd-store-fd=<fd> \"<name>\" <poll> <index>" lines, and deserialize() re-adds them without any
// upstream traffic; UpstreamMirror::refresh() follows at the end of startup.
#include <algorithm>
#include <limits>

#include "luo/impl/nested_manager.hpp"
#include "luo/impl/syscalls.hpp"
#include "luo/model/boolean.hpp"
#include "nested_manager_internal.hpp"

namespace luo {
namespace {

// Splits a serialization value into words: blanks separate, a word may be "quoted" (quotes
// removed), and every word is C-unescaped (systemd: EXTRACT_CUNESCAPE|EXTRACT_UNQUOTE).
std::optional<std::vector<std::string>> split_words(std::string_view s) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (true) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
      ++i;
    if (i >= s.size())
      return words;
    std::string raw;
    bool quoted = false;
    while (i < s.size() && (quoted || (s[i] != ' ' && s[i] != '\t'))) {
      if (s[i] == '"') {
        quoted = !quoted;
        ++i;
        continue;
      }
      if (s[i] == '\\' && i + 1 < s.size()) {
        raw += s[i];
        raw += s[i + 1];
        i += 2;
        continue;
      }
      raw += s[i++];
    }
    if (quoted)
      return std::nullopt;
    auto word = c_unescape(raw);
    if (!word)
      return std::nullopt;
    words.push_back(std::move(*word));
  }
}

}  // namespace

std::string c_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    switch (c) {
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '"':
        out += "\\\"";
        continue;
      case '\'':
        out += "\\'";
        continue;
      default:
        break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7E) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> c_unescape(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size())
      return std::nullopt;
    switch (s[i]) {
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
      case '"':
      case '\'':
        out += s[i];
        break;
      case 'x': {
        if (i + 2 >= s.size())
          return std::nullopt;
        const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0)
          return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default: {
        if (i + 2 >= s.size() || s[i] < '0' || s[i] > '3')
          return std::nullopt;
        int v = 0;
        for (int k = 0; k < 3; ++k) {
          const char c = s[i + static_cast<std::size_t>(k)];
          if (c < '0' || c > '7')
            return std::nullopt;
          v = v * 8 + (c - '0');
        }
        if (v == 0)
          return std::nullopt;  // no NUL inside a name
        out += static_cast<char>(v);
        i += 2;
        break;
      }
    }
  }
  return out;
}

Result<Serialized> serialize(const UpstreamMirror& mirror) {
  const FdStoreRegistry& owners = mirror.owners();
  Serialized out;
  out.text = std::string(kSerializeNextIndexKey) + "=" + std::to_string(mirror.counter()) + "\n\n";
  for (const auto& [id, store] : owners.owners()) {
    if (store.empty())
      continue;
    out.text += c_escape(id) + "\n";
    // Oldest first: deserialization prepends, which restores newest-first.
    for (auto it = store.entries().rbegin(); it != store.entries().rend(); ++it) {
      UniqueFd dup(sys::dup_cloexec(it->fd.get(), 3));
      if (!dup) {
        return Error(Operation::store_fd, ErrorOrigin::kernel, errno, "fd '" + it->name + "'", "",
                     "cannot duplicate a stored fd for serialization");
      }
      out.text += std::string(kSerializeFdKey) + "=" + std::to_string(dup.get()) + " \"" +
                  c_escape(it->name) + "\" " + (it->poll == Poll::on ? "1" : "0") + " " +
                  std::to_string(it->index) + "\n";
      out.fds.push_back(std::move(dup));
    }
    out.text += "\n";
  }
  return out;
}

DeserializeReport deserialize(std::string_view text, std::vector<UniqueFd>& fds,
                              UpstreamMirror& mirror) {
  DeserializeReport report;
  bool in_header = true;
  std::optional<std::string> owner;  // current section's owner, once its first line was read
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    const std::string path = "line " + std::to_string(line_no);
    if (line.empty()) {
      in_header = false;
      owner.reset();
      continue;
    }
    if (!in_header && !owner) {
      auto id = c_unescape(line);
      if (!id) {
        report.skipped.push_back({path, "malformed owner id"});
        owner = std::string();  // skip the section's lines under an impossible owner
      } else {
        owner = std::move(*id);
      }
      continue;
    }
    const auto eq = line.find('=');
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : line.substr(eq + 1);
    if (in_header) {
      if (key != kSerializeNextIndexKey) {
        report.skipped.push_back({path, "unknown manager key"});
        continue;
      }
      auto c = nested_internal::parse_u64(value);
      if (!c) {
        report.skipped.push_back({path, "counter is not an unsigned 64-bit number"});
        continue;
      }
      mirror.restore_counter(*c);
      continue;
    }
    if (key != kSerializeFdKey) {
      report.skipped.push_back({path, "unknown key"});
      continue;
    }
    if (owner->empty()) {
      report.skipped.push_back({path, "entry of a malformed section"});
      continue;
    }
    auto words = split_words(value);
    if (!words || words->size() < 2 || words->size() > 4) {
      report.skipped.push_back({path, "fd-store-fd= takes 2 to 4 fields"});
      continue;
    }
    const auto fdnum = nested_internal::parse_u64((*words)[0]);
    const std::optional<bool> poll =
        words->size() >= 3 ? parse_boolean((*words)[2]) : std::optional<bool>(true);
    const std::optional<std::uint64_t> index = words->size() >= 4
                                                   ? nested_internal::parse_u64((*words)[3])
                                                   : std::optional<std::uint64_t>(0);
    if (!fdnum || *fdnum > static_cast<std::uint64_t>(std::numeric_limits<int>::max()) || !poll ||
        !index) {
      report.skipped.push_back({path, "malformed fd number, poll flag or index"});
      continue;
    }
    auto it = std::find_if(fds.begin(), fds.end(),
                           [&](const UniqueFd& f) { return f.get() == static_cast<int>(*fdnum); });
    if (it == fds.end()) {
      report.skipped.push_back({path, "fd " + (*words)[0] + " was not passed on"});
      continue;
    }
    UniqueFd fd = std::move(*it);
    fds.erase(it);
    auto r = mirror.attach(*owner, std::move(fd), (*words)[1], *poll ? Poll::on : Poll::off, *index,
                           AddOrigin::deserialization);
    if (!r) {
      report.skipped.push_back({path, r.error().message()});
      continue;
    }
    if (r.value() == AddOutcome::stored)
      ++report.restored;
  }
  return report;
}
}  // namespace luo
