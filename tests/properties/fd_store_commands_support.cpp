#include "fd_store_commands.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <tuple>
#include <typeinfo>

#include "fd_leak_listener.hpp"
#include "kernel_text.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/model/fd_store_limits.hpp"
#include "property_checks.hpp"
#include "property_stats.hpp"

namespace luo::testing {

std::size_t FdState::references(std::size_t object) const {
  std::size_t n = 0;
  for (const auto& [id, owner] : owners) {
    for (const auto& e : owner.entries)
      n += e.object == object ? 1 : 0;
  }
  for (const auto& [id, items] : held) {
    for (const auto& h : items)
      n += h.object == object ? 1 : 0;
  }
  return n;
}

bool FdState::outgoing_session_alive(const std::string& name) const {
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const Object& o = objects[i];
    if (o.kind == Kind::session && o.outgoing && o.session == name &&
        (references(i) > 0 || squatter == i)) {
      return true;
    }
  }
  return false;
}

FdSut::FdSut(KernelProfile p) : profile(p) {
  cold_boot();
}

void FdSut::cold_boot() {
  squatter.reset();
  mgr.reset();
  lu.reset();
  port.reset();
  sim = std::make_unique<SimulatedKernel>(profile);
  port = std::make_unique<IoctlPort>(*sim);
  lu = std::make_unique<LiveUpdate>(*port, profile);
  mgr = std::make_unique<HandoffManager>(*lu, *port);
}

namespace {

using Kind = FdState::Kind;

// ---------------------------------------------------------------------------------------------
// Vocabulary

const std::vector<std::string> kOwnerIds = {"a.service", "b.service", "c.service"};
// Names repeat on purpose (FDSTOREREMOVE removes them all); "" is a valid name, ':' is not.
const std::vector<std::string> kFdNames = {"x", "x", "y", "z", "", "bad:name"};

FdStoreConfig generate_config() {
  FdStoreConfig c;
  c.max = *rc::gen::weightedElement<unsigned>({{1, 0}, {2, 1}, {3, 2}, {3, 3}, {2, 4}, {2, 8}});
  c.preserve = *rc::gen::weightedElement<PreserveMode>({{4, PreserveMode::yes},
                                                        {3, PreserveMode::on_success},
                                                        {1, PreserveMode::restart},
                                                        {1, PreserveMode::no}});
  return c;
}

std::string config_text(const FdStoreConfig& c) {
  return "max=" + std::to_string(c.max) +
         " preserve=" + std::string(preserve_mode_name(c.preserve));
}

// ---------------------------------------------------------------------------------------------
// The model's operations

using Report = std::tuple<std::string, std::string, FdEntryState>;  // owner, name, state
using Reports = std::vector<Report>;

FdEntryState entry_step(FdEntryState from, FdEntryEvent event, const Facts& facts = {}) {
  return select(kFdEntryMachine, from, event, kDefaultProfile, facts).to;
}

HandoffState handoff_step(HandoffState from, HandoffEvent event, const Facts& facts = {}) {
  return select(kHandoffMachine, from, event, kDefaultProfile, facts).to;
}

struct AddExpect {
  int err = 0;
  AddOutcome outcome = AddOutcome::stored;
};

// FdStore::add per §1.4: name, then room, then "already included".
AddExpect model_add(FdState& s, const std::string& owner, const std::string& name,
                    std::size_t object, Poll poll) {
  auto& o = s.owners.at(owner);
  if (!fdname_is_valid(name))
    return {EINVAL, AddOutcome::stored};
  if (o.entries.size() >= o.config.max)
    return {EXFULL, AddOutcome::stored};
  for (const auto& e : o.entries) {
    if (e.object == object)
      return {0, AddOutcome::duplicate};
  }
  o.entries.insert(o.entries.begin(), FdState::Entry{name, object, poll});
  return {0, AddOutcome::stored};
}

// A lowered limit drops the newest entries first (§1.5).
void truncate_to_limit(FdState::Owner& o) {
  while (o.entries.size() > o.config.max)
    o.entries.erase(o.entries.begin());
}

// An entry offered to its owner: at restore (`restorable`) or when the owner is loaded (`held`).
FdEntryState dispatch(FdState& s, const std::string& owner, const std::string& name,
                      std::size_t object, FdEntryState from, FdEntryEvent event) {
  const auto it = s.owners.find(owner);
  const bool unknown = it == s.owners.end();
  const bool full = !unknown && it->second.entries.size() >= it->second.config.max;
  bool duplicate = false;
  if (!unknown && !full) {
    for (const auto& e : it->second.entries)
      duplicate = duplicate || e.object == object;
  }
  Facts f;
  f.set(Guard::owner_unknown, unknown)
      .set(Guard::store_full, full)
      .set(Guard::duplicate_fd, duplicate);
  const FdEntryState to = entry_step(from, event, f);
  if (to == FdEntryState::held)
    s.held[owner].push_back(FdState::Held{name, object});
  if (to == FdEntryState::stored && !duplicate) {
    // Restored entries are polled and have no upstream index (§2.4).
    it->second.entries.insert(it->second.entries.begin(), FdState::Entry{name, object, Poll::on});
  }
  return to;
}

Reports owner_loaded(FdState& s, const std::string& owner) {
  Reports out;
  const auto it = s.held.find(owner);
  if (it == s.held.end())
    return out;
  const std::vector<FdState::Held> items = std::move(it->second);
  s.held.erase(it);
  for (const auto& h : items) {
    out.emplace_back(
        owner, h.name,
        dispatch(s, owner, h.name, h.object, FdEntryState::held, FdEntryEvent::owner_loaded));
  }
  return out;
}

Reports retry_all(FdState& s) {
  std::vector<std::string> owners;
  for (const auto& [owner, items] : s.held)
    owners.push_back(owner);
  Reports out;
  for (const auto& owner : owners) {
    auto r = owner_loaded(s, owner);
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

// One entry listed by Stage A.
struct Staged {
  std::string unit;
  std::string name;
  std::size_t object = 0;
};

struct HandoffExpect {
  // Stage A
  Reports stage_a;
  std::vector<Staged> staged;
  HandoffState after_a = HandoffState::running;
  // Stage B
  Reports stage_b;
  std::vector<handoff::UnitEntries<handoff::StageBEntry>> mapping;
  HandoffState after_b = HandoffState::running;
  // reboot(KEXEC)
  int kexec_errno = 0;
  // Restore in the next boot
  HandoffState restored = HandoffState::running;
  std::uint32_t kexecs = 0;
  Reports restore;
  bool restore_fails = false;  // RestoreResult::failure is set
};

void stage_entry(const FdState& s, HandoffExpect& e, const std::string& unit,
                 const std::string& name, std::size_t object, FdEntryState from,
                 PreserveMode mode) {
  const auto& o = s.objects[object];
  Facts f;
  f.set(Guard::mode_not_preserved, !preserved_across_kexec(mode))
      .set(Guard::reserved_session_name,
           o.kind == Kind::session && o.session == handoff::kSessionName)
      // A session the restore retrieved is incoming: Stage A drops it with the reason (§5.6).
      .set(Guard::incoming_session, o.kind == Kind::session && !o.outgoing);
  const FdEntryState to = entry_step(from, FdEntryEvent::stage, f);
  e.stage_a.emplace_back(unit, name, to);
  if (to == FdEntryState::staged)
    e.staged.push_back(Staged{unit, name, object});
}

void model_stage_a(const FdState& s, HandoffExpect& e) {
  for (const auto& [id, owner] : s.owners) {
    for (const auto& entry : owner.entries)
      stage_entry(s, e, id, entry.name, entry.object, FdEntryState::stored, owner.config.preserve);
  }
  for (const auto& [id, items] : s.held) {
    for (const auto& h : items)
      stage_entry(s, e, id, h.name, h.object, FdEntryState::held, PreserveMode::yes);
  }
  // The implementation runs the default systemd profile: v262 hands over on every kexec.
  Facts f;
  f.set(Guard::nothing_to_hand_over,
        e.staged.empty() &&
            !systemd_profile_has(kDefaultSystemdProfile, SystemdFeature::handover_every_kexec));
  e.after_a = handoff_step(HandoffState::running, HandoffEvent::stage_a, f);
}

// The "systemd" session: token 0 is the mapping, then dense tokens over what was preserved.
// Returns the objects preserved, in token order (index + 1 is the token).
std::vector<std::size_t> model_stage_b(const FdState& s, HandoffExpect& e) {
  std::vector<std::size_t> preserved;
  e.after_b = e.after_a;
  if (e.after_a != HandoffState::serialized)
    return preserved;
  if (s.squatter) {
    // Someone else holds an outgoing "systemd": CREATE_SESSION gives EEXIST.
    Facts f;
    f.set(Guard::name_in_use, true);
    e.after_b = handoff_step(e.after_b, HandoffEvent::stage_b, f);
    return preserved;
  }
  for (const Staged& st : e.staged) {
    if (e.mapping.empty() || e.mapping.back().unit != st.unit)
      e.mapping.push_back({st.unit, {}});
    auto& unit = e.mapping.back().fdstore;
    const auto& o = s.objects[st.object];
    if (o.kind == Kind::session) {
      // Sessions cannot nest; Stage A's fd keeps this one open until the kexec.
      e.stage_b.emplace_back(st.unit, st.name, FdEntryState::preserved);
      unit.push_back({handoff::EntryType::luo_session, st.name, 0, o.session});
      continue;
    }
    // A pipe has no LUO handler (ENOENT); from 7.0 an inode is preserved only once (EBUSY).
    const bool refused =
        o.kind == Kind::pipe ||
        (profile_has(s.profile, Feature::double_preservation_check) &&
         std::find(preserved.begin(), preserved.end(), st.object) != preserved.end());
    Facts f;
    f.set(Guard::preserve_fails, refused);
    e.stage_b.emplace_back(st.unit, st.name,
                           entry_step(FdEntryState::staged, FdEntryEvent::preserve, f));
    if (refused)
      continue;
    preserved.push_back(st.object);
    unit.push_back({handoff::EntryType::fd, st.name, preserved.size(), ""});
  }
  std::erase_if(e.mapping, [](const auto& u) { return u.fdstore.empty(); });
  e.after_b = handoff_step(e.after_b, HandoffEvent::stage_b);
  return preserved;
}

// ---------------------------------------------------------------------------------------------
// Checks

std::string report_text(const Reports& reports) {
  std::ostringstream os;
  for (const auto& [owner, name, state] : reports)
    os << "\n    " << owner << " '" << name << "' " << state_name(state);
  return reports.empty() ? " (none)" : os.str();
}

Reports reports_of(const std::vector<EntryReport>& reports) {
  Reports out;
  for (const auto& r : reports)
    out.emplace_back(r.owner, r.name, r.state);
  return out;
}

void check_reports(const std::string& what, const std::vector<EntryReport>& sut,
                   const Reports& model) {
  const Reports got = reports_of(sut);
  if (got != model) {
    fail(what + ": entry reports differ.\n  impl:" + report_text(got) +
         "\n  model:" + report_text(model));
  }
}

void check_state(const std::string& what, HandoffState sut, HandoffState model) {
  if (sut != model) {
    fail(what + ": impl ends " + std::string(state_name(sut)) + ", the model " +
         std::string(state_name(model)));
  }
}

template <class Entry>
std::string units_text(const std::vector<handoff::UnitEntries<Entry>>& units) {
  std::ostringstream os;
  for (const auto& u : units) {
    os << "\n    " << u.unit << ":";
    for (const auto& e : u.fdstore) {
      os << " [" << handoff::entry_type_name(e.type) << " '" << e.name << "'";
      if constexpr (std::is_same_v<Entry, handoff::StageBEntry>) {
        if (e.type == handoff::EntryType::fd)
          os << " token " << e.token;
      }
      if (!e.session_name.empty())
        os << " session '" << e.session_name << "'";
      os << "]";
    }
  }
  return os.str();
}

// What a test can tell about an fd: which object it is and what it holds.
std::string describe_fd(FdSut& sut, int fd, const FdState& s, std::size_t object) {
  const auto& o = s.objects[object];
  switch (o.kind) {
    case Kind::memfd:
    case Kind::pipe: {
      const auto ref = sut.refs.find(object);
      if (ref == sut.refs.end() || !same_open_file_description(fd, ref->second.get()))
        return "another open file than object #" + std::to_string(object);
      if (o.kind == Kind::pipe)
        return "";
      auto snap = memfd::snapshot(fd);
      if (!snap.ok())
        return "an unreadable memfd";
      if (snap.value().contents != o.data || snap.value().position != o.position) {
        std::ostringstream os;
        os << "memfd \"" << snap.value().contents << "\" at " << snap.value().position
           << " instead of \"" << o.data << "\" at " << o.position;
        return os.str();
      }
      return "";
    }
    case Kind::session: {
      auto name = sut.port->get_session_name(fd);
      if (!name.ok())
        return "not a LUO session (" + errno_text(name.raw_errno()) + ")";
      if (name.value().stored() != o.session)
        return "session '" + name.value().stored() + "' instead of '" + o.session + "'";
      if (!o.outgoing) {
        // Handed over unfinished: its memfd is still there to retrieve (idempotent).
        auto data = sut.port->retrieve_fd(fd, 1);
        auto text = data.ok() ? memfd::read_all(data.value().get())
                              : SysResult<std::string>::failure(data.raw_errno());
        if (!text.ok() || text.value() != o.data)
          return "session '" + o.session + "' whose memfd does not hold \"" + o.data + "\"";
      }
      return "";
    }
  }
  return "?";
}

void verify(const FdState& s, FdSut& sut, const std::string& after) {
  std::vector<std::string> sut_owners;
  for (const auto& [id, store] : sut.mgr->owners().owners())
    sut_owners.push_back(id);
  std::vector<std::string> model_owners;
  for (const auto& [id, owner] : s.owners)
    model_owners.push_back(id);
  if (sut_owners != model_owners)
    fail(after + ": impl and the model load different owners");
  for (const auto& [id, owner] : s.owners) {
    const FdStore& store = *sut.mgr->owners().find(id);
    const std::string which = after + ": " + id;
    if (store.config().max != owner.config.max || store.config().preserve != owner.config.preserve)
      fail(which + ": configuration differs");
    if (store.size() != owner.entries.size()) {
      fail(which + ": impl stores " + std::to_string(store.size()) + " fds, the model " +
           std::to_string(owner.entries.size()));
    }
    for (std::size_t i = 0; i < owner.entries.size(); ++i) {
      const auto& got = store.entries()[i];
      const auto& want = owner.entries[i];
      const std::string at = which + " entry " + std::to_string(i);
      if (got.name != want.name || got.poll != want.poll) {
        fail(at + ": impl has '" + got.name + "' poll " + std::to_string(got.poll == Poll::on) +
             ", the model '" + want.name + "' poll " + std::to_string(want.poll == Poll::on));
      }
      if (const std::string bad = describe_fd(sut, got.fd.get(), s, want.object); !bad.empty())
        fail(at + " '" + want.name + "' holds " + bad);
    }
  }
  std::vector<std::string> sut_held;
  for (const auto& [owner, items] : sut.mgr->held().entries()) {
    for (const auto& h : items)
      sut_held.push_back(owner + "/" + h.item.name);
  }
  std::vector<std::string> model_held;
  for (const auto& [owner, items] : s.held) {
    for (const auto& h : items)
      model_held.push_back(owner + "/" + h.name);
  }
  if (sut_held != model_held)
    fail(after + ": held entries differ");
  for (const auto& [owner, items] : s.held) {
    const auto& got = sut.mgr->held().entries().at(owner);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (const std::string bad = describe_fd(sut, got[i].item.fd.get(), s, items[i].object);
          !bad.empty()) {
        fail(after + ": held " + owner + " '" + items[i].name + "' holds " + bad);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

struct Expect {
  int err = 0;
  AddOutcome outcome = AddOutcome::stored;
  std::size_t count = 0;  // Remove: entries removed; OwnerStopped: 1 if the store closed
  Reports reports;
  HandoffExpect handoff;
};

class Cmd : public ModelCommand<FdState, FdSut, Expect> {
 public:
  void apply(FdState& s) const final { (void)step(s); }
  void run(const FdState& before, FdSut& sut) const final {
    FdState after = before;
    const Expect e = step(after);
    perform(before, after, e, sut);
    verify(after, sut, text());
    count_outcome("fd-store", typeid(*this), e.err);
  }
};

template <class T>
void check_add(const std::string& what, const Result<T>& r, const Expect& e) {
  const int err = r.ok() ? 0 : r.error().raw_errno();
  if (err != e.err) {
    fail(what + ": impl gave " + errno_text(err) + ", the model says " + errno_text(e.err));
  }
  if (r.ok() && r.value() != e.outcome) {
    fail(what + ": impl says " + (r.value() == AddOutcome::duplicate ? "duplicate" : "stored") +
         ", the model " + (e.outcome == AddOutcome::duplicate ? "duplicate" : "stored"));
  }
}

class LoadOwner final : public Cmd {
 public:
  explicit LoadOwner(const FdState&)
      : owner_(*rc::gen::elementOf(kOwnerIds)), config_(generate_config()) {}
  void show(std::ostream& os) const override {
    os << "load " << owner_ << " (" << config_text(config_) << ")";
  }

 private:
  Expect step(FdState& s) const override {
    auto& o = s.owners[owner_];
    o.config = config_;
    truncate_to_limit(o);
    Expect e;
    e.reports = owner_loaded(s, owner_);
    return e;
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    auto loaded = sut.mgr->load_owner(owner_, config_);
    if (!loaded)
      fail(text() + ": " + loaded.error().message());
    check_reports(text(), loaded.value(), e.reports);
  }
  std::string owner_;
  FdStoreConfig config_;
};

class UnloadOwner final : public Cmd {
 public:
  explicit UnloadOwner(const FdState&) : owner_(*rc::gen::elementOf(kOwnerIds)) {}
  void checkPreconditions(const FdState& s) const override { require(s.owners.count(owner_)); }
  void show(std::ostream& os) const override { os << "unload " << owner_; }

 private:
  Expect step(FdState& s) const override {
    s.owners.erase(owner_);
    return {};
  }
  void perform(const FdState&, const FdState&, const Expect&, FdSut& sut) const override {
    if (auto r = sut.mgr->unload_owner(owner_); !r)
      fail(text() + ": " + r.error().message());
  }
  std::string owner_;
};

// daemon-reload: some loaded owners get a new configuration (a lowered limit truncates), then
// the held entries are offered again.
class DaemonReload final : public Cmd {
 public:
  explicit DaemonReload(const FdState&) {
    for (const auto& id : kOwnerIds) {
      if (*rc::gen::inRange(0, 3) == 0)
        changes_.emplace_back(id, generate_config());
    }
  }
  void show(std::ostream& os) const override {
    os << "daemon-reload";
    for (const auto& [id, c] : changes_)
      os << " " << id << " (" << config_text(c) << ")";
  }

 private:
  Expect step(FdState& s) const override {
    for (const auto& [id, c] : changes_) {
      if (auto it = s.owners.find(id); it != s.owners.end()) {
        it->second.config = c;
        truncate_to_limit(it->second);
      }
    }
    Expect e;
    e.reports = retry_all(s);
    return e;
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    // A loaded owner has nothing held (loading dispatched it all), so reconfiguring it reports
    // nothing; the daemon-reload's retry reports the rest.
    for (const auto& [id, c] : changes_) {
      if (sut.mgr->owners().find(id) != nullptr)
        (void)sut.mgr->load_owner(id, c);
    }
    auto retried = sut.mgr->daemon_reload();
    if (!retried)
      fail(text() + ": " + retried.error().message());
    check_reports(text(), retried.value(), e.reports);
  }
  std::vector<std::pair<std::string, FdStoreConfig>> changes_;
};

class AddMemfd final : public Cmd {
 public:
  explicit AddMemfd(const FdState&)
      : owner_(*rc::gen::elementOf(kOwnerIds)),
        name_(*rc::gen::elementOf(kFdNames)),
        poll_(*rc::gen::inRange(0, 4) != 0 ? Poll::on : Poll::off),
        data_(*rc::gen::container<std::string>(*rc::gen::inRange<std::size_t>(1, 12),
                                               rc::gen::inRange('a', 'z'))),
        position_(*rc::gen::inRange<std::size_t>(0, data_.size() + 1)) {}
  void checkPreconditions(const FdState& s) const override { require(s.owners.count(owner_)); }
  void show(std::ostream& os) const override {
    os << "FDSTORE=1 " << owner_ << " '" << name_ << "'" << (poll_ == Poll::on ? "" : " FDPOLL=0")
       << ": memfd \"" << data_ << "\" at " << position_;
  }

 private:
  Expect step(FdState& s) const override {
    s.objects.push_back(FdState::Object{Kind::memfd, data_, position_, false, "", false});
    const AddExpect a = model_add(s, owner_, name_, s.objects.size() - 1, poll_);
    return Expect{a.err, a.outcome, 0, {}, {}};
  }
  void perform(const FdState&, const FdState& after, const Expect& e, FdSut& sut) const override {
    auto fd = memfd::create("fdstore");
    ensure(fd.ok());
    ensure(memfd::write_at(fd.value().get(), 0, data_).ok());
    ensure(memfd::seek(fd.value().get(), position_).ok());
    sut.refs[after.objects.size() - 1] = UniqueFd(::fcntl(fd.value().get(), F_DUPFD_CLOEXEC, 3));
    check_add(text(), sut.mgr->store(owner_, std::move(fd).value(), name_, poll_), e);
  }
  std::string owner_;
  std::string name_;
  Poll poll_;
  std::string data_;
  std::size_t position_;
};

// A pipe's read end (a client keeps the write end): LUO cannot preserve it, and closing the
// write end hangs it up.
class AddPipe final : public Cmd {
 public:
  explicit AddPipe(const FdState&)
      : owner_(*rc::gen::elementOf(kOwnerIds)),
        name_(*rc::gen::elementOf(kFdNames)),
        poll_(*rc::gen::inRange(0, 3) != 0 ? Poll::on : Poll::off) {}
  void checkPreconditions(const FdState& s) const override { require(s.owners.count(owner_)); }
  void show(std::ostream& os) const override {
    os << "FDSTORE=1 " << owner_ << " '" << name_ << "'" << (poll_ == Poll::on ? "" : " FDPOLL=0")
       << ": pipe";
  }

 private:
  Expect step(FdState& s) const override {
    s.objects.push_back(FdState::Object{Kind::pipe, "", 0, true, "", false});
    const AddExpect a = model_add(s, owner_, name_, s.objects.size() - 1, poll_);
    return Expect{a.err, a.outcome, 0, {}, {}};
  }
  void perform(const FdState&, const FdState& after, const Expect& e, FdSut& sut) const override {
    int ends[2];
    ensure(::pipe2(ends, O_CLOEXEC) == 0);
    UniqueFd read_end(ends[0]);
    const std::size_t object = after.objects.size() - 1;
    sut.pipe_writers[object] = UniqueFd(ends[1]);
    sut.refs[object] = UniqueFd(::fcntl(read_end.get(), F_DUPFD_CLOEXEC, 3));
    check_add(text(), sut.mgr->store(owner_, std::move(read_end), name_, poll_), e);
  }
  std::string owner_;
  std::string name_;
  Poll poll_;
};

// The same open file again (a dup a service sends a second time, or to another owner).
class AddDuplicate final : public Cmd {
 public:
  explicit AddDuplicate(const FdState& s)
      : owner_(*rc::gen::elementOf(kOwnerIds)),
        name_(*rc::gen::elementOf(kFdNames)),
        poll_(*rc::gen::inRange(0, 4) != 0 ? Poll::on : Poll::off) {
    const auto candidates = sources(s);
    require(!candidates.empty());
    object_ = *rc::gen::elementOf(candidates);
  }
  void checkPreconditions(const FdState& s) const override {
    require(s.owners.count(owner_) != 0);
    const auto candidates = sources(s);
    require(std::find(candidates.begin(), candidates.end(), object_) != candidates.end());
  }
  void show(std::ostream& os) const override {
    os << "FDSTORE=1 " << owner_ << " '" << name_ << "'" << (poll_ == Poll::on ? "" : " FDPOLL=0")
       << ": a dup of object #" << object_;
  }

 private:
  // memfds and pipes some entry holds (sessions are never stored twice here).
  static std::vector<std::size_t> sources(const FdState& s) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < s.objects.size(); ++i) {
      if (s.objects[i].kind != Kind::session && s.references(i) > 0)
        out.push_back(i);
    }
    return out;
  }
  Expect step(FdState& s) const override {
    const AddExpect a = model_add(s, owner_, name_, object_, poll_);
    return Expect{a.err, a.outcome, 0, {}, {}};
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    UniqueFd dup(::fcntl(sut.refs.at(object_).get(), F_DUPFD_CLOEXEC, 3));
    check_add(text(), sut.mgr->store(owner_, std::move(dup), name_, poll_), e);
  }
  std::string owner_;
  std::string name_;
  Poll poll_;
  std::size_t object_ = 0;
};

// A service creates its own LUO session with one memfd and stores the session fd (the
// "<prefix>-direct" entries of TEST-91). Sometimes it names the session "systemd", which the
// manager must refuse to hand over (§3.5). Needs GET_NAME to be recognised (7.2+).
class AddOwnSession final : public Cmd {
 public:
  explicit AddOwnSession(const FdState& s)
      : owner_(*rc::gen::elementOf(kOwnerIds)),
        hijack_(*rc::gen::inRange(0, 6) == 0),
        data_(*rc::gen::container<std::string>(*rc::gen::inRange<std::size_t>(1, 12),
                                               rc::gen::inRange('A', 'Z'))) {
    require(profile_has(s.profile, Feature::get_name));
  }
  void checkPreconditions(const FdState& s) const override { require(s.owners.count(owner_)); }
  void show(std::ostream& os) const override {
    os << "FDSTORE=1 " << owner_ << ": own session " << (hijack_ ? "'systemd'" : "'svc-<n>'")
       << " with memfd \"" << data_ << "\"";
  }

 private:
  std::string session_name(const FdState& s) const {
    return hijack_ ? std::string(handoff::kSessionName) : "svc-" + std::to_string(s.next_session);
  }
  Expect step(FdState& s) const override {
    const std::string name = session_name(s);
    if (!hijack_)
      ++s.next_session;
    if (s.outgoing_session_alive(name))
      return Expect{EEXIST, AddOutcome::stored, 0, {}, {}};
    s.objects.push_back(FdState::Object{Kind::session, data_, 0, false, name, true});
    const AddExpect a = model_add(s, owner_, name, s.objects.size() - 1, Poll::on);
    return Expect{a.err, a.outcome, 0, {}, {}};
  }
  void perform(const FdState& before, const FdState&, const Expect& e, FdSut& sut) const override {
    const std::string name = session_name(before);
    auto dev = sut.lu->open_device();
    if (!dev.ok())
      fail(text() + ": cannot open the device: " + dev.error().message());
    auto created = dev.value().create_session(name);
    if (!created.ok()) {
      if (created.error().raw_errno() != e.err) {
        fail(text() + ": CREATE_SESSION gave " + errno_text(created.error().raw_errno()) +
             ", the model says " + errno_text(e.err));
      }
      return;
    }
    auto file = memfd::create("own");
    ensure(file.ok());
    ensure(memfd::write_at(file.value().get(), 0, data_).ok());
    ensure(created.value().preserve(file.value().get(), 1).ok());
    UniqueFd dup(::fcntl(created.value().fd(), F_DUPFD_CLOEXEC, 3));
    check_add(text(), sut.mgr->store(owner_, std::move(dup), name, Poll::on), e);
  }
  std::string owner_;
  bool hijack_;
  std::string data_;
};

class Remove final : public Cmd {
 public:
  explicit Remove(const FdState&)
      : owner_(*rc::gen::elementOf(kOwnerIds)), name_(*rc::gen::elementOf(kFdNames)) {}
  void checkPreconditions(const FdState& s) const override { require(s.owners.count(owner_)); }
  void show(std::ostream& os) const override {
    os << "FDSTOREREMOVE=1 " << owner_ << " '" << name_ << "'";
  }

 private:
  Expect step(FdState& s) const override {
    Expect e;
    e.count = std::erase_if(s.owners.at(owner_).entries,
                            [&](const FdState::Entry& x) { return x.name == name_; });
    return e;
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    const std::size_t removed = sut.mgr->remove(owner_, name_).value();
    if (removed != e.count) {
      fail(text() + ": impl removed " + std::to_string(removed) + ", the model " +
           std::to_string(e.count));
    }
  }
  std::string owner_;
  std::string name_;
};

// The client closes its write end; the manager's poll loop sees POLLHUP on every polled entry
// of that pipe and removes it (FDPOLL=0 entries stay).
class HangUp final : public Cmd {
 public:
  explicit HangUp(const FdState& s) {
    const auto pipes = open_pipes(s);
    require(!pipes.empty());
    object_ = *rc::gen::elementOf(pipes);
  }
  void checkPreconditions(const FdState& s) const override {
    const auto pipes = open_pipes(s);
    require(std::find(pipes.begin(), pipes.end(), object_) != pipes.end());
  }
  void show(std::ostream& os) const override {
    os << "the client of pipe #" << object_ << " closes it";
  }

 private:
  static std::vector<std::size_t> open_pipes(const FdState& s) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < s.objects.size(); ++i) {
      if (s.objects[i].kind == Kind::pipe && s.objects[i].writer_open)
        out.push_back(i);
    }
    return out;
  }
  Expect step(FdState& s) const override {
    s.objects[object_].writer_open = false;
    Expect e;
    for (auto& [id, owner] : s.owners) {
      e.count += std::erase_if(owner.entries, [&](const FdState::Entry& x) {
        const auto& o = s.objects[x.object];
        return x.poll == Poll::on && o.kind == Kind::pipe && !o.writer_open;
      });
    }
    return e;
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    sut.pipe_writers.erase(object_);
    // The manager's poll loop over every polled entry of every store.
    std::size_t hung = 0;
    for (const auto& [id, store] : sut.mgr->owners().owners()) {
      std::vector<int> fds;
      for (const auto& entry : store.entries()) {
        pollfd p{entry.fd.get(), POLLIN, 0};
        if (entry.poll == Poll::on && ::poll(&p, 1, 0) == 1 &&
            (p.revents & (POLLHUP | POLLERR)) != 0)
          fds.push_back(entry.fd.get());
      }
      for (int fd : fds) {
        if (!sut.mgr->hang_up(id, fd).value())
          fail(text() + ": hang_up() did not find an entry that hung up");
        ++hung;
      }
    }
    if (hung != e.count) {
      fail(text() + ": " + std::to_string(hung) + " entries hung up, the model expects " +
           std::to_string(e.count));
    }
  }
  std::size_t object_ = 0;
};

class OwnerStopped final : public Cmd {
 public:
  explicit OwnerStopped(const FdState&)
      : owner_(*rc::gen::elementOf(kOwnerIds)),
        trigger_(*rc::gen::elementOf(
            std::vector<ReleaseTrigger>{ReleaseTrigger::dead, ReleaseTrigger::release})),
        failed_(*rc::gen::inRange(0, 3) == 0) {}
  void checkPreconditions(const FdState& s) const override { require(s.owners.count(owner_)); }
  void show(std::ostream& os) const override {
    os << owner_ << " stops (" << (trigger_ == ReleaseTrigger::dead ? "dead" : "release")
       << (failed_ ? ", failed" : "") << ")";
  }

 private:
  Expect step(FdState& s) const override {
    auto& o = s.owners.at(owner_);
    Expect e;
    e.count = store_released(o.config.preserve, trigger_, failed_) ? 1 : 0;
    if (e.count != 0)
      o.entries.clear();
    return e;
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    const bool closed = sut.mgr->owner_stopped(owner_, trigger_, failed_).value();
    if (closed != (e.count != 0))
      fail(text() + ": impl " + (closed ? "closed" : "kept") + " the store, the model disagrees");
  }
  std::string owner_;
  ReleaseTrigger trigger_;
  bool failed_;
};

// The manager's main loop calls a step of the shutdown pipeline out of order: Stage B or the
// kexec while the pipeline is still `running` (no Stage A yet). The model's pipeline table says
// whether the step may run; where it may not, the manager refuses it (EINVAL, origin refused)
// and nothing changes, which verify() then checks store by store.
class OutOfOrderStep final : public Cmd {
 public:
  explicit OutOfOrderStep(const FdState&) : kexec_(*rc::gen::inRange(0, 2) == 0) {}
  void show(std::ostream& os) const override {
    os << (kexec_ ? "reboot(KEXEC)" : "Stage B") << " before Stage A";
  }

 private:
  HandoffEvent event() const { return kexec_ ? HandoffEvent::kexec : HandoffEvent::stage_b; }
  Expect step(FdState&) const override {
    Expect e;
    const auto d = decide(kHandoffMachine, HandoffState::running, event(), kDefaultProfile,
                          Facts::all_unknown());
    const bool refused = d.size() > 0 && d.candidate(0).outcome.kind == OutcomeKind::undefined;
    e.err = refused ? EINVAL : 0;
    return e;
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    if (e.err == 0)
      fail(text() + ": the model lets this step run in `running`; the command assumes it does not");
    const HandoffState state = sut.mgr->state();
    std::optional<Error> err;
    if (kexec_) {
      if (auto r = sut.mgr->kexec(); !r)
        err = r.error();
    } else if (auto r = sut.mgr->stage_b(); !r) {
      err = r.error();
    }
    if (!err || err->origin() != ErrorOrigin::refused || err->raw_errno() != e.err)
      fail(text() + ": the manager did not refuse it, the model's table does");
    if (sut.mgr->state() != state || sut.mgr->stage_b_result() != nullptr)
      fail(text() + ": refused, but the manager's pipeline changed");
  }
  bool kexec_;
};

// Another process creates an outgoing session named "systemd" and keeps it open: Stage B's
// CREATE_SESSION then fails with EEXIST, and the next boot retrieves the squatter's session.
class Squat final : public Cmd {
 public:
  explicit Squat(const FdState&) : garbage_(*rc::gen::inRange(0, 2) == 0) {}
  void checkPreconditions(const FdState& s) const override { require(!s.squatter); }
  void show(std::ostream& os) const override {
    os << "another process holds an outgoing 'systemd'"
       << (garbage_ ? " with a non-JSON memfd at token 0" : "");
  }

 private:
  Expect step(FdState& s) const override {
    if (s.outgoing_session_alive(handoff::kSessionName))
      return Expect{EEXIST, AddOutcome::stored, 0, {}, {}};
    s.objects.push_back(FdState::Object{Kind::session, garbage_ ? "not json" : "", 0, false,
                                        handoff::kSessionName, true});
    s.squatter = s.objects.size() - 1;
    return {};
  }
  void perform(const FdState&, const FdState&, const Expect& e, FdSut& sut) const override {
    auto dev = sut.lu->open_device();
    if (!dev.ok())
      fail(text() + ": cannot open the device: " + dev.error().message());
    auto created = dev.value().create_session(handoff::kSessionName);
    const int err = created.ok() ? 0 : created.error().raw_errno();
    if (err != e.err)
      fail(text() + ": CREATE_SESSION gave " + errno_text(err) + ", the model " +
           errno_text(e.err));
    if (!created.ok())
      return;
    if (garbage_) {
      auto file = memfd::create("garbage");
      ensure(file.ok());
      ensure(memfd::write_at(file.value().get(), 0, "not json").ok());
      ensure(created.value().preserve(file.value().get(), handoff::kMappingToken).ok());
    }
    sut.squatter = std::move(created).value();
  }
  bool garbage_;
};

class SquatterLeaves final : public Cmd {
 public:
  explicit SquatterLeaves(const FdState&) {}
  void checkPreconditions(const FdState& s) const override { require(s.squatter.has_value()); }
  void show(std::ostream& os) const override { os << "the 'systemd' squatter exits"; }

 private:
  Expect step(FdState& s) const override {
    s.squatter.reset();
    return {};
  }
  void perform(const FdState&, const FdState&, const Expect&, FdSut& sut) const override {
    sut.squatter.reset();
  }
};

// Shutdown for kexec and the next boot: Stage A, the manager's stores close, Stage B,
// reboot(KEXEC) (a freeze failure makes it return: the fallback reboot is a cold boot), then the
// next boot's manager loads the owners it knows and restores.
class Handoff final : public Cmd {
 public:
  explicit Handoff(const FdState& s) {
    for (const auto& id : kOwnerIds) {
      if (*rc::gen::inRange(0, 4) == 0)
        continue;  // not loaded yet in the next boot: its entries are held
      const auto it = s.owners.find(id);
      next_.emplace_back(id, (it != s.owners.end() && *rc::gen::inRange(0, 4) != 0)
                                 ? it->second.config
                                 : generate_config());
    }
    freeze_fails_ = *rc::gen::inRange(0, 8) == 0;
  }
  void checkPreconditions(const FdState& s) const override {
    // The injected freeze failure must meet a file: the mapping exists once Stage B succeeded.
    if (freeze_fails_)
      require(preview(s).handoff.after_b == HandoffState::preserved);
  }
  void show(std::ostream& os) const override {
    os << "kexec handoff" << (freeze_fails_ ? " [a freeze fails: cold boot]" : "")
       << "; next boot loads";
    for (const auto& [id, c] : next_)
      os << " " << id << " (" << config_text(c) << ")";
  }

 private:
  Expect step(FdState& s) const override {
    Expect e;
    HandoffExpect& h = e.handoff;
    model_stage_a(s, h);
    const std::vector<std::size_t> preserved = model_stage_b(s, h);
    h.kexec_errno = freeze_fails_ ? EIO : 0;

    // What reaches the next kernel: "systemd" (Stage B's, or the squatter's), and the services'
    // own sessions Stage A keeps open. A failed reboot falls back to a cold boot: nothing.
    const bool jumped = !freeze_fails_;
    const bool mapping = jumped && h.after_b == HandoffState::preserved;
    const bool squatted = jumped && s.squatter.has_value();
    const FdState old = s;
    s.owners.clear();
    s.held.clear();
    s.squatter.reset();
    for (const auto& [id, c] : next_)
      s.owners[id] = FdState::Owner{c, {}};

    if (!mapping && !squatted) {
      Facts f;
      f.set(Guard::name_unknown, true);
      h.restored = handoff_step(HandoffState::running, HandoffEvent::retrieve_session, f);
      h.restore_fails = true;
      h.kexecs = 0;
    } else if (!mapping) {
      // The squatter's session has no usable mapping at token 0: finished, nothing restored.
      h.restored = handoff_step(HandoffState::restoring, HandoffEvent::finish);
      h.restore_fails = true;
      h.kexecs = 0;
    } else {
      h.kexecs = old.kexecs + 1;
      for (const auto& unit : h.mapping) {
        for (const auto& entry : unit.fdstore) {
          std::size_t object = 0;
          bool retrieved = true;
          if (entry.type == handoff::EntryType::fd) {
            const auto& was = old.objects[preserved.at(entry.token - 1)];
            s.objects.push_back(
                FdState::Object{Kind::memfd, was.data, was.position, false, "", false});
            object = s.objects.size() - 1;
          } else {
            // Only sessions created in the ending boot were handed over (§2.7).
            const auto staged =
                std::find_if(h.staged.begin(), h.staged.end(), [&](const Staged& x) {
                  return x.unit == unit.unit && x.name == entry.name &&
                         old.objects[x.object].session == entry.session_name;
                });
            const auto& was = old.objects[staged->object];
            retrieved = was.outgoing;
            s.objects.push_back(
                FdState::Object{Kind::session, was.data, 0, false, was.session, false});
            object = s.objects.size() - 1;
          }
          Facts f;
          f.set(Guard::retrieve_fails, !retrieved);
          const FdEntryState state =
              entry_step(FdEntryState::handed_over, FdEntryEvent::restore, f);
          if (state != FdEntryState::restorable) {
            h.restore.emplace_back(unit.unit, entry.name, state);
            continue;
          }
          h.restore.emplace_back(unit.unit, entry.name,
                                 dispatch(s, unit.unit, entry.name, object,
                                          FdEntryState::restorable, FdEntryEvent::dispatch));
        }
      }
      h.restored = handoff_step(HandoffState::restoring, HandoffEvent::finish);
    }
    s.kexecs = h.kexecs;
    // Every object of the old boot died with its processes.
    for (auto& o : s.objects)
      o.writer_open = false;
    return e;
  }

  void perform(const FdState& before, const FdState& after, const Expect& e,
               FdSut& sut) const override {
    const HandoffExpect& h = e.handoff;
    // The manager's own counter is the model's: restored, or 0 after a cold boot.
    if (sut.mgr->kexec_count() != before.kexecs) {
      fail(text() + ": the manager counts " + std::to_string(sut.mgr->kexec_count()) +
           " kexecs, the model " + std::to_string(before.kexecs));
    }
    auto stage_a_result = sut.mgr->stage_a();
    if (!stage_a_result)
      fail(text() + ": Stage A refused: " + stage_a_result.error().message());
    const StageAResult& staged = *stage_a_result.value();
    check_state(text() + ", Stage A", staged.state, h.after_a);
    check_reports(text() + ", Stage A", staged.report, h.stage_a);
    std::vector<handoff::UnitEntries<handoff::StageAEntry>> listed;
    for (const auto& st : h.staged) {
      if (listed.empty() || listed.back().unit != st.unit)
        listed.push_back({st.unit, {}});
      const auto& o = before.objects[st.object];
      listed.back().fdstore.push_back(
          {o.kind == Kind::session ? handoff::EntryType::luo_session : handoff::EntryType::fd,
           st.name, -1, o.kind == Kind::session ? o.session : ""});
    }
    auto document = staged.document.units;
    for (auto& u : document) {
      for (auto& entry : u.fdstore)
        entry.fd = -1;  // fd numbers are the process's business
    }
    if (document != listed) {
      fail(text() + ": Stage A documents differ.\n  impl:" + units_text(document) +
           "\n  model:" + units_text(listed));
    }

    // The stores closed with Stage A: what it did not list is gone before the shutdown side.
    sut.refs.clear();
    auto stage_b_result = sut.mgr->stage_b();
    if (!stage_b_result)
      fail(text() + ": Stage B refused: " + stage_b_result.error().message());
    const StageBResult& b = *stage_b_result.value();
    check_state(text() + ", Stage B", b.state, h.after_b);
    check_reports(text() + ", Stage B", b.report, h.stage_b);
    if (b.mapping.units != h.mapping) {
      fail(text() + ": Stage B mappings differ.\n  impl:" + units_text(b.mapping.units) +
           "\n  model:" + units_text(h.mapping));
    }

    if (freeze_fails_)
      sut.sim->inject(SimFault::freeze, EIO, 0);
    const Status r = sut.mgr->kexec();
    const int err = r.ok() ? 0 : r.error().raw_errno();
    if (err != h.kexec_errno) {
      fail(text() + ": reboot(KEXEC) gave " + errno_text(err) + ", the model " +
           errno_text(h.kexec_errno));
    }
    // Every process of the old boot is gone, and its fds with it (the manager dropped its own
    // at kexec() and is the next boot's manager now). A kexec that returned is a cold boot.
    sut.pipe_writers.clear();
    sut.squatter.reset();
    if (!r.ok())
      sut.cold_boot();

    for (const auto& [id, c] : next_) {
      if (auto loaded = sut.mgr->load_owner(id, c); !loaded)
        fail(text() + ": the next boot cannot load " + id + ": " + loaded.error().message());
    }
    auto restore_result = sut.mgr->restore();
    if (!restore_result)
      fail(text() + ": restore refused: " + restore_result.error().message());
    const RestoreResult& restored = *restore_result.value();
    check_state(text() + ", restore", restored.state, h.restored);
    check_reports(text() + ", restore", restored.report, h.restore);
    if (restored.kexecs_count != h.kexecs) {
      fail(text() + ": restore counts " + std::to_string(restored.kexecs_count) +
           " kexecs, the model " + std::to_string(h.kexecs));
    }
    if (restored.failure.empty() == h.restore_fails)
      fail(text() + ": restore failure '" + restored.failure + "' was not expected");

    remember_restored(after, before.objects.size(), sut);
    check_round_trip(before, sut);
    for (const auto& [owner, name, state] : h.restore)
      count_outcome("fd-store", typeid(*this), "restored-" + std::string(state_name(state)));
    count_outcome("fd-store", typeid(*this), "restore-" + std::string(state_name(h.restored)));
  }

  // The test's references to the restored memfds, taken where the model says they landed.
  static void remember_restored(const FdState& after, std::size_t first_new, FdSut& sut) {
    const auto keep = [&](std::size_t object, int fd) {
      if (object >= first_new && after.objects[object].kind == Kind::memfd)
        sut.refs[object] = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    };
    for (const auto& [id, owner] : after.owners) {
      const FdStore* store = sut.mgr->owners().find(id);
      if (store == nullptr || store->size() != owner.entries.size())
        return;  // verify() reports the difference
      for (std::size_t i = 0; i < owner.entries.size(); ++i)
        keep(owner.entries[i].object, store->entries()[i].fd.get());
    }
    for (const auto& [owner, items] : after.held) {
      const auto it = sut.mgr->held().entries().find(owner);
      if (it == sut.mgr->held().entries().end() || it->second.size() != items.size())
        return;
      for (std::size_t i = 0; i < items.size(); ++i)
        keep(items[i].object, it->second[i].item.fd.get());
    }
  }

  // The plain statement of the handoff, independent of the model's step-by-step prediction:
  // an owner whose fds can all cross (memfds preserved once, sessions of this boot) finds its
  // store again by name and content: in its store if loaded with room, else held.
  void check_round_trip(const FdState& before, FdSut& sut) const {
    if (freeze_fails_ || before.squatter)
      return;
    std::map<std::size_t, int> listed;
    std::map<std::string, std::vector<FdState::Held>> items;
    for (const auto& [id, owner] : before.owners) {
      if (!preserved_across_kexec(owner.config.preserve))
        continue;
      for (const auto& e : owner.entries) {
        items[id].push_back({e.name, e.object});
        ++listed[e.object];
      }
    }
    for (const auto& [id, held] : before.held) {
      for (const auto& h : held) {
        items[id].push_back(h);
        ++listed[h.object];
      }
    }
    const bool once = profile_has(before.profile, Feature::double_preservation_check);
    for (const auto& [owner, list] : items) {
      const std::string& id = owner;  // clang before 16 cannot capture a structured binding
      const bool crosses = std::all_of(list.begin(), list.end(), [&](const FdState::Held& h) {
        const auto& o = before.objects[h.object];
        switch (o.kind) {
          case Kind::memfd:
            return !once || listed[h.object] == 1;
          case Kind::session:
            return o.outgoing && o.session != handoff::kSessionName;
          case Kind::pipe:
            return false;
        }
        return false;
      });
      if (!crosses)
        continue;
      std::multiset<std::string> want;
      for (const auto& h : list)
        want.insert(content_of(before.objects[h.object], h.name));
      std::multiset<std::string> got;
      const auto next =
          std::find_if(next_.begin(), next_.end(), [&](const auto& n) { return n.first == id; });
      if (next != next_.end()) {
        if (next->second.max < list.size())
          continue;
        for (const auto& e : sut.mgr->owners().find(id)->entries())
          got.insert(content_of_fd(sut, e.fd.get(), e.name));
      } else if (const auto it = sut.mgr->held().entries().find(id);
                 it != sut.mgr->held().entries().end()) {
        for (const auto& h : it->second)
          got.insert(content_of_fd(sut, h.item.fd.get(), h.item.name));
      }
      if (got != want) {
        std::string g, w;
        for (const auto& x : got)
          g += "\n    " + x;
        for (const auto& x : want)
          w += "\n    " + x;
        fail(text() + ": " + id + " did not get its fds back.\n  after:" + g + "\n  before:" + w);
      }
    }
  }
  static std::string content_of(const FdState::Object& o, const std::string& name) {
    if (o.kind == Kind::session)
      return "'" + name + "' session " + o.session + " holding \"" + o.data + "\"";
    return "'" + name + "' memfd \"" + o.data + "\" at " + std::to_string(o.position);
  }
  static std::string content_of_fd(FdSut& sut, int fd, const std::string& name) {
    if (auto session = sut.port->get_session_name(fd); session.ok()) {
      auto data = sut.port->retrieve_fd(fd, 1);
      auto text = data.ok() ? memfd::read_all(data.value().get())
                            : SysResult<std::string>::failure(data.raw_errno());
      return "'" + name + "' session " + session.value().stored() + " holding \"" +
             (text.ok() ? text.value() : "?") + "\"";
    }
    auto snap = memfd::snapshot(fd);
    if (!snap.ok())
      return "'" + name + "' unreadable";
    return "'" + name + "' memfd \"" + snap.value().contents + "\" at " +
           std::to_string(snap.value().position);
  }

  std::vector<std::pair<std::string, FdStoreConfig>> next_;
  bool freeze_fails_ = false;
};

// ---------------------------------------------------------------------------------------------
// Generation

struct Choice {
  int weight;
  std::shared_ptr<const FdCommand> (*make)(const FdState&);
};

template <class C>
std::shared_ptr<const FdCommand> make(const FdState& s) {
  return std::make_shared<const C>(s);
}

int when(bool condition, int weight) {
  return condition ? weight : 0;
}

}  // namespace

FdCommandGen fd_store_commands(const FdState& s) {
  std::size_t stored = 0;
  for (const auto& [id, o] : s.owners)
    stored += o.entries.size();
  bool pipes = false;
  for (const auto& o : s.objects)
    pipes = pipes || (o.kind == Kind::pipe && o.writer_open);
  const bool loaded = !s.owners.empty();
  std::vector<Choice> choices = {
      {s.owners.size() < 2 ? 4 : 1, make<LoadOwner>},
      {when(loaded, 1), make<UnloadOwner>},
      {when(loaded || !s.held.empty(), 1), make<DaemonReload>},
      {when(loaded, 8), make<AddMemfd>},
      {when(loaded, 2), make<AddPipe>},
      {when(loaded && stored > 0, 2), make<AddDuplicate>},
      {when(loaded && profile_has(s.profile, Feature::get_name), 3), make<AddOwnSession>},
      {when(stored > 0, 2), make<Remove>},
      {when(pipes, 2), make<HangUp>},
      {when(loaded, 1), make<OwnerStopped>},
      {when(!s.squatter, 1), make<Squat>},
      {when(s.squatter.has_value(), 3), make<SquatterLeaves>},
      {stored > 0 || !s.held.empty() ? 6 : 1, make<Handoff>},
      {1, make<OutOfOrderStep>},
  };
  return rc::gen::exec([s, choices]() {
    int total = 0;
    for (const auto& c : choices)
      total += c.weight;
    int pick = *rc::gen::inRange(0, total);
    for (const auto& c : choices) {
      if (pick < c.weight)
        return c.make(s);
      pick -= c.weight;
    }
    return choices.back().make(s);
  });
}

void fd_store_handoff_sequence(KernelProfile profile) {
  const int fds_before = count_open_fds();
  {
    const FdState initial(profile);
    const auto commands =
        *rc::state::gen::commands(initial, [](const FdState& s) { return fd_store_commands(s); });
    FdSut sut(profile);
    rc::state::runAll(commands, initial, sut);
  }
  const int fds_after = count_open_fds();
  if (fds_after != fds_before) {
    fail("fd leak: " + std::to_string(fds_before) + " fds open before the sequence, " +
         std::to_string(fds_after) + " after");
  }
}

}  // namespace luo::testing
