// The running half of a nested manager's fd store (see nested_manager.hpp for the lifecycle):
// UpstreamMirror pushes each eligible FDSTORE=1 entry upward as "sub-fdstore-<N>" and keeps the
// mapping memfd current; at startup DownwardRouter claims those fds back from LISTEN_FDS and
// ManagerTarget hands each to its unit. Re-exec is in nested_manager_reexec.cpp, the nspawn relay
// in nested_payload_relay.cpp.
#include "luo/impl/nested_manager.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "luo/impl/fd_io.hpp"
#include "luo/impl/quoted_key.hpp"
#include "luo/impl/syscalls.hpp"
#include "luo/impl/unit_name.hpp"
#include "luo/model/fd_store_limits.hpp"
#include "nested_manager_internal.hpp"

namespace luo {
namespace {

Error mirror_error(int err, std::string_view owner, std::string detail) {
  return Error(Operation::store_fd, ErrorOrigin::refused, err, "owner '" + std::string(owner) + "'",
               "", std::move(detail));
}

// A sealed memfd with the mapping. Sealing is best effort (§2.2 says sealed; a kernel without
// sealing still gets the mapping rather than none).
SysResult<UniqueFd> mapping_memfd(std::string_view json) {
  const std::string name(kFdStoreMappingName);
  UniqueFd fd(sys::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd)
    return SysResult<UniqueFd>::failure(errno);
  if (auto written = fd_io::write_all_at(fd.get(), json, 0, sys::pwrite); !written.ok())
    return SysResult<UniqueFd>::failure(written.raw_errno());
  (void)::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  return fd;
}

bool has_indexed_entry(const FdStoreRegistry& owners) {
  for (const auto& [id, store] : owners.owners()) {
    for (const auto& e : store.entries()) {
      if (e.index > 0)
        return true;
    }
  }
  return false;
}
}  // namespace

namespace nested_internal {

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0'))
    return std::nullopt;
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return std::nullopt;
  return v;
}

}  // namespace nested_internal

std::string sub_fdstore_name(std::uint64_t index) {
  return std::string(kSubFdStorePrefix) + std::to_string(index);
}

std::optional<std::uint64_t> parse_sub_fdstore_name(std::string_view name) {
  if (!name.starts_with(kSubFdStorePrefix))
    return std::nullopt;
  auto v = nested_internal::parse_u64(name.substr(kSubFdStorePrefix.size()));
  if (!v || *v == 0)
    return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------------
// UpstreamMirror

UpstreamMirror::UpstreamMirror(FdStoreRegistry& owners, UpstreamSink* sink, UpstreamConfig config)
    : owners_(owners), sink_(sink), config_(config) {}

void UpstreamMirror::raise_counter(std::uint64_t index) {
  counter_ = std::max(counter_, index);
}

void UpstreamMirror::note(const SysStatus& s) {
  if (!s.ok())
    ++failed_sends_;
}

SysStatus UpstreamMirror::push(int fd, std::string_view name) {
  // systemd's generic push helper: a same-named upstream entry is always removed first, so a
  // re-push replaces instead of accumulating (FDSTORE=1 would add a second fd of that name).
  auto r = sink_->remove(name);
  if (!r.ok())
    return r;
  const int fds[] = {fd};
  return sink_->store(fds, name, Poll::on);
}

Result<AddOutcome> UpstreamMirror::store(std::string_view owner, UniqueFd fd, std::string_view name,
                                         Poll poll) {
  FdStore* store = owners_.find(owner);
  if (store == nullptr)
    return mirror_error(ENOENT, owner, "no such owner loaded: fd closed");
  // §1.4 runs its refusals before the upstream push (steps 2-3 before 6): nothing is sent for an
  // fd that will not be stored. FdStore::add() gives the refusals their usual errors.
  bool refused = !fdname_is_valid(name) || store->size() >= store->config().max;
  for (const auto& e : store->entries()) {
    if (refused)
      break;
    refused = same_open_file(e.fd.get(), fd.get());
  }
  if (refused)
    return store->add(std::move(fd), name, poll);

  std::uint64_t index = 0;
  if (enabled() && mirror_eligible(AddOrigin::notify, store->config().preserve)) {
    // The number is consumed even if the push fails, as in systemd: harmless, and it keeps an
    // upstream copy that might have arrived after all from being overwritten by a later add.
    const std::uint64_t idx = ++counter_;
    auto s = push(fd.get(), sub_fdstore_name(idx));
    note(s);
    if (s.ok())
      index = idx;
  }
  auto r = store->add(std::move(fd), name, poll, index);
  if (r && index > 0)
    note(refresh());
  return r;
}

Result<AddOutcome> UpstreamMirror::attach(std::string_view owner, UniqueFd fd,
                                          std::string_view name, Poll poll, std::uint64_t index,
                                          AddOrigin origin) {
  switch (origin) {
    case AddOrigin::notify:
      return mirror_error(EINVAL, owner, "attach() is for fds that did not come from FDSTORE=1");
    case AddOrigin::deserialization:
    case AddOrigin::listen_fds:
    case AddOrigin::luo:
      break;
  }
  raise_counter(index);
  FdStore* store = owners_.find(owner);
  if (store == nullptr) {
    // The owner id comes from outside (a re-exec serialization, a mapping): the validating load,
    // so a name that is not a unit name is a typed refusal rather than load()'s exception,
    // which would take the whole deserialization down (docs/reliability.md F8). The fd closes.
    auto loaded = owners_.try_load(owner, {.max = 0, .preserve = PreserveMode::yes});
    if (!loaded)
      return loaded.error();
    store = loaded.value();
    placeholders_.emplace(owner);
  }
  if (!placeholders_.contains(owner))
    return store->add(std::move(fd), name, poll, index);
  // UNIT_NOT_FOUND: room for exactly this fd, rolled back if it is not stored.
  const unsigned max = store->config().max;
  store->set_config({.max = max + 1, .preserve = PreserveMode::yes});
  auto r = store->add(std::move(fd), name, poll, index);
  if (!r || r.value() != AddOutcome::stored)
    store->set_config({.max = max, .preserve = PreserveMode::yes});
  return r;
}

void UpstreamMirror::fragment_loaded(std::string_view owner) {
  if (auto it = placeholders_.find(owner); it != placeholders_.end())
    placeholders_.erase(it);
}

std::size_t UpstreamMirror::remove(std::string_view owner, std::string_view name) {
  FdStore* store = owners_.find(owner);
  if (store == nullptr)
    return 0;
  std::vector<std::uint64_t> indexes;
  for (const auto& e : store->entries()) {
    if (e.name == name && e.index > 0)
      indexes.push_back(e.index);
  }
  const std::size_t n = store->remove(name);
  if (enabled() && !indexes.empty()) {
    for (auto idx : indexes)
      note(sink_->remove(sub_fdstore_name(idx)));
    note(refresh());
  }
  return n;
}

bool UpstreamMirror::hang_up(std::string_view owner, int fd) {
  FdStore* store = owners_.find(owner);
  if (store == nullptr)
    return false;
  std::uint64_t idx = 0;
  for (const auto& e : store->entries()) {
    if (e.poll == Poll::on && e.fd.get() == fd) {
      idx = e.index;
      break;
    }
  }
  if (!store->hang_up(fd))
    return false;
  if (enabled() && idx > 0) {
    note(sink_->remove(sub_fdstore_name(idx)));
    note(refresh());
  }
  return true;
}

std::size_t UpstreamMirror::drop_locally(std::string_view owner, LocalOnlyRemoval why) {
  FdStore* store = owners_.find(owner);
  if (store == nullptr)
    return 0;
  const std::size_t before = store->size();
  switch (why) {
    case LocalOnlyRemoval::release:
    case LocalOnlyRemoval::clean:
      store->release_all();
      return before;
    case LocalOnlyRemoval::truncate:
      return store->truncate_to_limit();
    case LocalOnlyRemoval::unload:
      owners_.unload(owner);
      fragment_loaded(owner);
      return before;
  }
  return 0;
}

bool UpstreamMirror::owner_stopped(std::string_view owner, ReleaseTrigger trigger, bool failed) {
  FdStore* store = owners_.find(owner);
  return store != nullptr && store->owner_stopped(trigger, failed);
}

SysStatus UpstreamMirror::refresh() {
  if (!enabled())
    return sys_ok();
  if (!has_indexed_entry(owners_)) {
    // Only a manager that ever numbered an entry may delete the mapping: a fresh one (C = 0)
    // must leave alone the mapping its enveloping manager just handed down to it.
    if (counter_ == 0)
      return sys_ok();
    auto r = sink_->remove(kFdStoreMappingName);
    note(r);
    return r;
  }
  auto fd = mapping_memfd(mapping_json());
  if (!fd.ok()) {
    ++failed_sends_;
    return SysStatus::failure(fd.raw_errno());
  }
  auto r = push(fd.value().get(), kFdStoreMappingName);
  note(r);
  return r;
}

std::string UpstreamMirror::mapping_json() const {
  std::vector<handoff::UnitEntries<MappingEntry>> units;
  for (const auto& [id, store] : owners_.owners()) {
    handoff::UnitEntries<MappingEntry> unit{id, {}};
    for (const auto& e : store.entries()) {
      if (e.index > 0)
        unit.fdstore.push_back({id, e.name, e.index});
    }
    if (!unit.fdstore.empty())
      units.push_back(std::move(unit));
  }
  return fdstore_mapping_json(units);
}

// ---------------------------------------------------------------------------------------------
// Mapping JSON

std::string fdstore_mapping_json(const std::vector<handoff::UnitEntries<MappingEntry>>& units) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  for (const auto& unit : units) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& e : unit.fdstore) {
      if (e.index == 0)
        continue;
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      o["name"] = e.name;
      o["index"] = e.index;
      arr.push_back(std::move(o));
    }
    if (arr.empty())
      continue;
    auto& slot = doc[unit.unit];
    if (slot.is_null())
      slot = std::move(arr);
    else
      slot.insert(slot.end(), arr.begin(), arr.end());
  }
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::variant<handoff::Parsed<std::map<std::uint64_t, MappingEntry>>, handoff::ParseError>
parse_fdstore_mapping(std::string_view json) {
  // Values nested past the mapping readers' limit are discarded while parsing, so no deep value
  // exists for ordered_json to copy recursively (as it does when an object grows) or destroy:
  // a hostile document cannot overflow the stack. Without exceptions, a number out of range
  // (1e400) discards the document too.
  bool too_deep = false;
  auto doc = nlohmann::ordered_json::parse(
      json,
      [&too_deep](int depth, nlohmann::ordered_json::parse_event_t /*event*/,
                  nlohmann::ordered_json& /*parsed*/) {
        if (depth < static_cast<int>(handoff::kMaxJsonDepth))
          return true;
        too_deep = true;
        return false;
      },
      /*allow_exceptions=*/false);
  if (too_deep) {
    return handoff::ParseError{"", "the fd store mapping is nested deeper than " +
                                       std::to_string(handoff::kMaxJsonDepth) + " levels"};
  }
  if (doc.is_discarded())
    return handoff::ParseError{"", "the fd store mapping is not valid JSON"};
  if (!doc.is_object())
    return handoff::ParseError{"", "the fd store mapping is not a JSON object"};
  handoff::Parsed<std::map<std::uint64_t, MappingEntry>> out;
  for (const auto& [unit, entries] : doc.items()) {
    const std::string upath = "[" + quoted_key(unit) + "]";
    if (!handoff::unit_name_is_valid(unit)) {
      out.skipped.push_back({upath, "invalid unit name"});
      continue;
    }
    if (!entries.is_array()) {
      out.skipped.push_back({upath, "not a JSON array"});
      continue;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string epath = upath + "[" + std::to_string(i) + "]";
      const auto& e = entries[i];
      if (!e.is_object()) {
        out.skipped.push_back({epath, "not a JSON object"});
        continue;
      }
      const auto name = e.find("name");
      const auto index = e.find("index");
      if (name == e.end() || !name->is_string()) {
        out.skipped.push_back({epath, "missing or non-string 'name'"});
        continue;
      }
      if (index == e.end() || !index->is_number_unsigned()) {
        out.skipped.push_back({epath, "missing or non-integer 'index'"});
        continue;
      }
      const auto idx = index->get<std::uint64_t>();
      const auto fdname = name->get<std::string>();
      if (idx == 0) {
        out.skipped.push_back({epath, "index 0 means 'not mirrored'"});
        continue;
      }
      if (!fdname_is_valid(fdname)) {
        out.skipped.push_back({epath, "invalid fd name"});
        continue;
      }
      if (out.value.contains(idx)) {
        out.skipped.push_back({epath, "index " + std::to_string(idx) + " already mapped"});
        continue;
      }
      out.value.emplace(idx, MappingEntry{unit, fdname, idx});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ManagerTarget, DownwardRouter

DispatchResult ManagerTarget::dispatch_indexed(RestoredItem& item, std::uint64_t index) {
  mirror_.raise_counter(index);
  if (handoff::unit_type(item.owner) != "service") {
    return {
        Disposition::refused, EINVAL,
        "unit '" + item.owner + "' does not support fd restoration, closing fd '" + item.name + "'",
        ""};
  }
  auto r = mirror_.attach(item.owner, std::move(item.fd), item.name, Poll::on, index,
                          index > 0 ? AddOrigin::listen_fds : AddOrigin::luo);
  if (!r) {
    return {Disposition::refused, r.error().raw_errno(),
            item.owner + ": failed to attach fd '" + item.name +
                "' to fd store: " + r.error().message(),
            ""};
  }
  switch (r.value()) {
    case AddOutcome::stored:
      return {Disposition::attached, 0, "", ""};
    case AddOutcome::duplicate:
      return {Disposition::duplicate, 0, "already stored", ""};
  }
  return {Disposition::refused, EINVAL, "?", ""};
}

std::vector<ListenFd> DownwardRouter::claim(std::vector<ListenFd> fds, NamesPassed names) {
  report_ = ClaimReport();
  if (names == NamesPassed::no)
    return fds;  // -ENXIO in systemd: no named routing at all
  // Pass 1: the first mapping fd, read and closed, never routed.
  std::map<std::uint64_t, MappingEntry> mapping;
  auto m = std::find_if(fds.begin(), fds.end(),
                        [](const ListenFd& f) { return f.name == kFdStoreMappingName; });
  if (m == fds.end())
    return fds;
  const auto json = fd_io::read_to_end(m->fd.get(), sys::pread);
  fds.erase(m);
  if (!json.ok()) {
    // Refused whole like a malformed mapping, but named for what it is: the bytes were lost,
    // and the errno says why.
    report_.mapping_error = handoff::ParseError{
        "", "the fd store mapping cannot be read: " + errno_text(json.raw_errno())};
    report_.mapping_errno = json.raw_errno();
    return fds;
  }
  auto parsed = parse_fdstore_mapping(json.value());
  if (auto* err = std::get_if<handoff::ParseError>(&parsed)) {
    report_.mapping_error = std::move(*err);
    return fds;
  }
  auto& ok = std::get<handoff::Parsed<std::map<std::uint64_t, MappingEntry>>>(parsed);
  report_.skipped = std::move(ok.skipped);
  mapping = std::move(ok.value);
  report_.named_routing = true;
  // Pass 2: sub-fdstore-<N> with N in the mapping. A second fd of the same N stays generic:
  // one mapping line routes one fd.
  std::vector<ListenFd> rest;
  for (auto& f : fds) {
    const auto idx = parse_sub_fdstore_name(f.name);
    auto hit = idx ? mapping.find(*idx) : mapping.end();
    if (hit == mapping.end()) {
      rest.push_back(std::move(f));
      continue;
    }
    claimed_.push_back(Claimed{std::move(hit->second), std::move(f.fd)});
    mapping.erase(hit);
  }
  return rest;
}

std::vector<RoutedReport> DownwardRouter::dispatch(IndexedRestoreTarget& target) {
  std::vector<RoutedReport> out;
  for (auto& c : claimed_) {
    RestoredItem item{c.where.unit, c.where.name, handoff::EntryType::fd, std::move(c.fd), ""};
    RoutedReport r{c.where.unit, c.where.name, c.where.index, {}};
    r.result = target.dispatch_indexed(item, c.where.index);
    out.push_back(std::move(r));
  }
  claimed_.clear();
  return out;
}
}  // namespace luo
