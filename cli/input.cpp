// The CLI's front door: bounded reads and a strict, depth-limited JSON parse (cli/input.hpp).
#include "input.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <istream>
#include <unordered_set>
#include <vector>

#include "luo/impl/fd_io.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::cli {

namespace {

std::string too_large() {
  return "larger than the input limit of " + std::to_string(kMaxInputBytes >> 20) + " MiB";
}

// Reads fd to its end, or fails one byte past the cap.
std::optional<std::string> read_fd(int fd, std::string& error) {
  auto text = fd_io::read_stream(fd, kMaxInputBytes);
  if (text.ok())
    return std::move(text.value());
  error = text.raw_errno() == EFBIG ? too_large() : std::strerror(text.raw_errno());
  return std::nullopt;
}

std::optional<std::string> read_stream(std::istream& in, std::string& error) {
  std::string text;
  std::array<char, 65536> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    text.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxInputBytes) {
      error = too_large();
      return std::nullopt;
    }
  }
  if (in.bad()) {
    error = "read error";
    return std::nullopt;
  }
  return text;
}

// A directory or an oversized regular file is refused before any read; anything else is read
// with the cap.
std::optional<std::string> read_open_fd(int fd, std::string& error) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    error = std::strerror(EISDIR);
    return std::nullopt;
  }
  if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > kMaxInputBytes) {
    error = too_large();
    return std::nullopt;
  }
  return read_fd(fd, error);
}

}  // namespace

std::optional<std::string> read_input(const Command& command, const std::string& path, Io& io) {
  std::string error;
  std::optional<std::string> text;
  if (path == "-") {
    text = io.in_fd >= 0 ? read_open_fd(io.in_fd, error) : read_stream(io.in, error);
  } else {
    // O_NONBLOCK only for the open: a FIFO without a writer would block it forever. Reads are
    // blocking again, so a slow writer is waited for; with no writer at all a FIFO reads as end
    // of file.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) {
      error = std::strerror(errno);
    } else {
      const int flags = ::fcntl(fd.get(), F_GETFL);
      if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
        error = std::strerror(errno);
      else
        text = read_open_fd(fd.get(), error);
    }
  }
  if (!text)
    usage_error(command, io, "cannot read " + quote_bytes(path) + ": " + error);
  return text;
}

namespace {

// A key as a path step: .name when it is a plain identifier, else ["..."].
std::string key_step(std::string_view key) {
  const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  return plain ? "." + std::string(key) : "[" + quote_bytes(key) + "]";
}

// Builds the document from SAX events and stops at the first repeated key or at the depth
// limit, before a value that deep exists.
template <class Json>
class Builder {
 public:
  using number_integer_t = typename Json::number_integer_t;
  using number_unsigned_t = typename Json::number_unsigned_t;
  using number_float_t = typename Json::number_float_t;
  using string_t = typename Json::string_t;
  using binary_t = typename Json::binary_t;

  bool null() { return add(Json(nullptr)); }
  bool boolean(bool v) { return add(Json(v)); }
  bool number_integer(number_integer_t v) { return add(Json(v)); }
  bool number_unsigned(number_unsigned_t v) { return add(Json(v)); }
  bool number_float(number_float_t v, const string_t& /*text*/) { return add(Json(v)); }
  bool string(string_t& v) { return add(Json(std::move(v))); }
  // JSON text never produces binary values (only CBOR, MessagePack, ... do).
  bool binary(binary_t& /*v*/) { return false; }
  bool start_object(std::size_t /*elements*/) { return open(Json::object()); }
  bool start_array(std::size_t /*elements*/) { return open(Json::array()); }
  bool key(string_t& k) {
    Level& top = stack_.back();
    if (!top.keys.insert(k).second) {
      std::string where = path() + key_step(k);
      if (where.starts_with("."))
        where.erase(0, 1);
      error_ = JsonError{std::move(where), "duplicate key " + quote_bytes(k)};
      return false;
    }
    top.key = std::move(k);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    // `position` counts the bytes read including the failing one.
    const std::size_t offset = position == 0 ? 0 : position - 1;
    error_ = JsonError{"", "malformed JSON at byte " + std::to_string(offset) + ": " +
                               luo::handoff::parse_error_detail(ex.what())};
    return false;
  }

  Json& root() { return root_; }
  const std::optional<JsonError>& error() const { return error_; }

 private:
  struct Level {
    Json* value;
    std::unordered_set<std::string> keys;  // objects: every key so far, for the repeat check
    std::string key;                       // objects: the key of the value being read
    std::size_t count = 0;                 // arrays: how many values were placed so far
  };

  // Where the innermost open container sits: each outer level's step into the next, which is
  // the value it placed last.
  std::string path() const {
    std::string out;
    for (std::size_t i = 0; i + 1 < stack_.size(); ++i) {
      const Level& level = stack_[i];
      out += level.value->is_array() ? "[" + std::to_string(level.count - 1) + "]"
                                     : key_step(level.key);
    }
    if (out.starts_with("."))
      out.erase(0, 1);
    return out;
  }

  Json* place(Json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Level& top = stack_.back();
    Json& parent = *top.value;
    if (parent.is_array()) {
      auto& array = parent.template get_ref<typename Json::array_t&>();
      array.push_back(std::move(v));
      ++top.count;
      return &array.back();
    }
    auto& object = parent.template get_ref<typename Json::object_t&>();
    // The key is known to be new: ordered_map's own emplace() would search it again linearly.
    if constexpr (requires { typename Json::object_t::Container; }) {
      auto& members = static_cast<typename Json::object_t::Container&>(object);
      members.emplace_back(top.key, std::move(v));
      return &members.back().second;
    } else {
      return &object.emplace(top.key, std::move(v)).first->second;
    }
  }
  bool add(Json v) {
    place(std::move(v));
    return true;
  }
  bool open(Json container) {
    if (stack_.size() >= handoff::kMaxJsonDepth) {
      error_ = JsonError{
          path(), "JSON nested deeper than " + std::to_string(handoff::kMaxJsonDepth) + " levels"};
      return false;
    }
    // Pointers into a parent stay valid: a container grows only while it is the innermost open
    // one, and nothing deeper points into it then.
    Json* where = place(std::move(container));
    stack_.push_back(Level{where, {}, {}, 0});
    return true;
  }

  Json root_;
  std::vector<Level> stack_;
  std::optional<JsonError> error_;
};

}  // namespace

template <class Json>
std::variant<Json, JsonError> parse_json(std::string_view text) {
  Builder<Json> builder;
  if (!Json::sax_parse(text.begin(), text.end(), &builder))
    return builder.error().value_or(JsonError{"", "malformed JSON"});
  return std::move(builder.root());
}

template std::variant<nlohmann::json, JsonError> parse_json<nlohmann::json>(std::string_view);
template std::variant<nlohmann::ordered_json, JsonError> parse_json<nlohmann::ordered_json>(
    std::string_view);

}  // namespace luo::cli
