// Nested managers (spec systemd-luo.md §2): UpstreamMirror, the mapping, serialization across a
// re-exec, DownwardRouter and PayloadRelay, against a recording fake upstream.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "luo/impl/nested_manager.hpp"
#include "luo/impl/syscalls.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

using luo::testing::contents;
using luo::testing::memfd_with;

constexpr FdStoreConfig kNestedStore{.max = 8, .preserve = PreserveMode::yes};
constexpr UpstreamConfig kUp{.has_upstream = true, .fdstore_max = 20};

// The enveloping manager's store, as far as the inner manager can affect it: name -> fds (dups
// of what was sent), plus the log of calls in order.
class FakeUpstream final : public UpstreamSink {
 public:
  SysStatus store(std::span<const int> fds, std::string_view name, Poll poll) override {
    log.push_back("store " + std::string(name) + (poll == Poll::on ? "" : " nopoll") + " x" +
                  std::to_string(fds.size()));
    if (fail_store)
      return SysStatus::failure(ECONNREFUSED);
    for (int fd : fds)
      stored[std::string(name)].emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    return sys_ok();
  }
  SysStatus remove(std::string_view name) override {
    log.push_back("remove " + std::string(name));
    if (fail_remove)
      return SysStatus::failure(ECONNREFUSED);
    stored.erase(std::string(name));
    return sys_ok();
  }
  std::string mapping() const {
    auto it = stored.find(std::string(kFdStoreMappingName));
    if (it == stored.end() || it->second.size() != 1)
      return "<none>";
    return contents(it->second[0].get());
  }
  std::size_t copies(std::string_view name) const {
    auto it = stored.find(std::string(name));
    return it == stored.end() ? 0 : it->second.size();
  }

  std::vector<std::string> log;
  std::map<std::string, std::vector<UniqueFd>> stored;
  bool fail_store = false;
  bool fail_remove = false;
};

// §2.7's invariant: every entry with index > 0 has exactly one upstream copy and one mapping
// line; every sub-fdstore copy upstream belongs to an indexed entry.
void expect_consistent(const UpstreamMirror& mirror, const FakeUpstream& up) {
  std::size_t indexed = 0;
  for (const auto& [id, store] : mirror.owners().owners()) {
    for (const auto& e : store.entries()) {
      if (e.index == 0)
        continue;
      ++indexed;
      ASSERT_EQ(up.copies(sub_fdstore_name(e.index)), 1u) << id << " " << e.name;
      EXPECT_TRUE(same_open_file(up.stored.at(sub_fdstore_name(e.index))[0].get(), e.fd.get()));
    }
  }
  std::size_t upstream_subs = 0;
  for (const auto& [name, fds] : up.stored)
    upstream_subs += parse_sub_fdstore_name(name) ? fds.size() : 0;
  EXPECT_EQ(upstream_subs, indexed);
  if (indexed > 0) {
    EXPECT_EQ(up.mapping(), mirror.mapping_json());
  }
}

struct Rig {
  FdStoreRegistry owners;
  FakeUpstream up;
  UpstreamMirror mirror{owners, &up, kUp};
};

TEST(UpstreamMirror, SubFdStoreNames) {
  EXPECT_EQ(sub_fdstore_name(7), "sub-fdstore-7");
  EXPECT_EQ(parse_sub_fdstore_name("sub-fdstore-18446744073709551615"),
            std::optional<std::uint64_t>(18446744073709551615ull));
  for (auto bad : {"sub-fdstore-0", "sub-fdstore-", "sub-fdstore-01", "sub-fdstore-+1",
                   "sub-fdstore-1x", "sub-fdstore-18446744073709551616", "fdstore-1"}) {
    EXPECT_FALSE(parse_sub_fdstore_name(bad)) << bad;
  }
}

TEST(UpstreamMirror, EligibleAddPushesRemoveThenStoreThenTheMapping) {
  Rig r;
  r.owners.load("foo.service", kNestedStore);
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("a"), "state", Poll::off).ok());
  EXPECT_EQ(r.up.log, (std::vector<std::string>{"remove sub-fdstore-1", "store sub-fdstore-1 x1",
                                                "remove systemd-fdstore-mapping",
                                                "store systemd-fdstore-mapping x1"}))
      << "FDPOLL=0 is not forwarded by a manager";
  EXPECT_EQ(r.owners.find("foo.service")->entries()[0].index, 1u);
  EXPECT_EQ(r.mirror.counter(), 1u);
  EXPECT_EQ(r.up.mapping(), R"({"foo.service":[{"name":"state","index":1}]})");
  EXPECT_EQ(contents(r.up.stored.at("sub-fdstore-1")[0].get()), "a");
  // The mapping memfd is sealed.
  const int seals = ::fcntl(r.up.stored.at("systemd-fdstore-mapping")[0].get(), F_GET_SEALS);
  EXPECT_TRUE(seals & F_SEAL_WRITE);
  EXPECT_TRUE(seals & F_SEAL_SEAL);
  expect_consistent(r.mirror, r.up);
}

TEST(UpstreamMirror, MappingListsUnitsInIdOrderEntriesNewestFirst) {
  Rig r;
  r.owners.load("foo.service", kNestedStore);
  r.owners.load("bar.service", kNestedStore);
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("1"), "state", Poll::on).ok());
  ASSERT_TRUE(r.mirror.store("bar.service", memfd_with("2"), "stored", Poll::on).ok());
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("3"), "conn", Poll::on).ok());
  EXPECT_EQ(r.up.mapping(),
            R"({"bar.service":[{"name":"stored","index":2}],)"
            R"("foo.service":[{"name":"conn","index":3},{"name":"state","index":1}]})");
  expect_consistent(r.mirror, r.up);
}

TEST(UpstreamMirror, OnlyYesAndOnSuccessAreMirrored) {
  Rig r;
  for (PreserveMode mode : kAllPreserveModes) {
    const std::string id = std::string(preserve_mode_name(mode)) + ".service";
    r.owners.load(id, {.max = 2, .preserve = mode});
    ASSERT_TRUE(r.mirror.store(id, memfd_with(id), "x", Poll::on).ok());
  }
  // kAllPreserveModes lists yes before on_success.
  EXPECT_EQ(r.owners.find("yes.service")->entries()[0].index, 1u);
  EXPECT_EQ(r.owners.find("on-success.service")->entries()[0].index, 2u);
  EXPECT_EQ(r.owners.find("restart.service")->entries()[0].index, 0u);
  EXPECT_EQ(r.owners.find("no.service")->entries()[0].index, 0u);
  EXPECT_EQ(r.mirror.counter(), 2u);
  expect_consistent(r.mirror, r.up);
}

TEST(UpstreamMirror, EligibilityIsAboutTheOriginToo) {
  EXPECT_TRUE(mirror_eligible(AddOrigin::notify, PreserveMode::yes));
  EXPECT_TRUE(mirror_eligible(AddOrigin::notify, PreserveMode::on_success));
  EXPECT_FALSE(mirror_eligible(AddOrigin::notify, PreserveMode::restart));
  for (AddOrigin o : {AddOrigin::deserialization, AddOrigin::listen_fds, AddOrigin::luo})
    EXPECT_FALSE(mirror_eligible(o, PreserveMode::yes));
}

TEST(UpstreamMirror, NothingIsSentWithoutAnUpstreamOrWithFdstoreZero) {
  for (UpstreamConfig cfg : {UpstreamConfig{false, 20}, UpstreamConfig{true, 0}}) {
    FdStoreRegistry owners;
    FakeUpstream up;
    UpstreamMirror mirror(owners, &up, cfg);
    owners.load("foo.service", kNestedStore);
    ASSERT_TRUE(mirror.store("foo.service", memfd_with("a"), "s", Poll::on).ok());
    EXPECT_EQ(mirror.remove("foo.service", "s"), 1u);
    EXPECT_TRUE(mirror.refresh().ok());
    EXPECT_TRUE(up.log.empty());
    EXPECT_EQ(mirror.counter(), 0u);
  }
  FdStoreRegistry owners;
  UpstreamMirror no_sink(owners, nullptr, kUp);
  EXPECT_FALSE(no_sink.enabled());
}

TEST(UpstreamMirror, RefusedAddsSendNothing) {
  Rig r;
  auto& foo = r.owners.load("foo.service", {.max = 2, .preserve = PreserveMode::yes});
  auto first = memfd_with("a");
  UniqueFd again(::fcntl(first.get(), F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(r.mirror.store("foo.service", std::move(first), "a", Poll::on).ok());
  r.up.log.clear();
  auto dup = r.mirror.store("foo.service", std::move(again), "a", Poll::on);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup.value(), AddOutcome::duplicate);
  foo.set_config({.max = 1, .preserve = PreserveMode::yes});
  auto full = r.mirror.store("foo.service", memfd_with("b"), "b", Poll::on);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().raw_errno(), EXFULL);
  r.owners.load("bar.service", kNestedStore);
  auto bad = r.mirror.store("bar.service", memfd_with("c"), "bad:name", Poll::on);
  EXPECT_EQ(bad.error().raw_errno(), EINVAL);
  EXPECT_EQ(r.mirror.store("nobody.service", memfd_with("d"), "d", Poll::on).error().raw_errno(),
            ENOENT);
  EXPECT_TRUE(r.up.log.empty());
  EXPECT_EQ(r.mirror.counter(), 1u);
}

TEST(UpstreamMirror, FailedPushLeavesIndexZeroAndTheEntryStored) {
  Rig r;
  r.owners.load("foo.service", kNestedStore);
  r.up.fail_store = true;
  auto res = r.mirror.store("foo.service", memfd_with("a"), "s", Poll::on);
  ASSERT_TRUE(res.ok());
  const auto& store = *r.owners.find("foo.service");
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.entries()[0].index, 0u) << "not mirrored";
  EXPECT_EQ(r.mirror.counter(), 1u) << "the number stays consumed";
  EXPECT_EQ(r.mirror.failed_sends(), 1u);
  EXPECT_EQ(r.up.log.size(), 2u) << "no mapping push for an unmirrored entry";
}

TEST(UpstreamMirror, RemoveAndHangUpGoUpstreamThenRefreshTheMapping) {
  Rig r;
  r.owners.load("foo.service", kNestedStore);
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("a"), "a", Poll::on).ok());
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("b"), "b", Poll::on).ok());
  r.up.log.clear();
  EXPECT_EQ(r.mirror.remove("foo.service", "a"), 1u);
  EXPECT_EQ(r.up.log,
            (std::vector<std::string>{"remove sub-fdstore-1", "remove systemd-fdstore-mapping",
                                      "store systemd-fdstore-mapping x1"}));
  EXPECT_EQ(r.up.mapping(), R"({"foo.service":[{"name":"b","index":2}]})");
  expect_consistent(r.mirror, r.up);

  r.up.log.clear();
  const int fd_b = r.owners.find("foo.service")->entries()[0].fd.get();
  EXPECT_TRUE(r.mirror.hang_up("foo.service", fd_b));
  // The last mirrored entry went, and this manager numbered entries (C > 0): mapping removed.
  EXPECT_EQ(r.up.log,
            (std::vector<std::string>{"remove sub-fdstore-2", "remove systemd-fdstore-mapping"}));
  EXPECT_TRUE(r.up.stored.empty());
  EXPECT_FALSE(r.mirror.hang_up("foo.service", fd_b));
}

TEST(UpstreamMirror, RemovingAnUnmirroredEntrySendsNothing) {
  Rig r;
  r.owners.load("r.service", {.max = 2, .preserve = PreserveMode::restart});
  ASSERT_TRUE(r.mirror.store("r.service", memfd_with("a"), "a", Poll::on).ok());
  EXPECT_EQ(r.mirror.remove("r.service", "a"), 1u);
  EXPECT_TRUE(r.up.log.empty());
}

TEST(UpstreamMirror, WholeStoreRemovalsNeverGoUpstream) {
  // §1.5 / §5.9, reproduced on purpose: the upstream copy survives a release, a clean, a
  // truncation and an unload, and comes back at the next inner-manager start.
  for (LocalOnlyRemoval why : {LocalOnlyRemoval::release, LocalOnlyRemoval::clean,
                               LocalOnlyRemoval::truncate, LocalOnlyRemoval::unload}) {
    Rig r;
    auto& store = r.owners.load("foo.service", kNestedStore);
    ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("a"), "a", Poll::on).ok());
    ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("b"), "b", Poll::on).ok());
    if (why == LocalOnlyRemoval::truncate)
      store.set_config({.max = 1, .preserve = PreserveMode::yes});
    r.up.log.clear();
    EXPECT_GE(r.mirror.drop_locally("foo.service", why), 1u);
    EXPECT_TRUE(r.up.log.empty());
    EXPECT_EQ(r.up.copies("sub-fdstore-1"), 1u);
    EXPECT_EQ(r.up.copies("sub-fdstore-2"), 1u);
  }
  Rig r;
  r.owners.load("f.service", {.max = 2, .preserve = PreserveMode::on_success});
  ASSERT_TRUE(r.mirror.store("f.service", memfd_with("a"), "a", Poll::on).ok());
  r.up.log.clear();
  EXPECT_TRUE(r.mirror.owner_stopped("f.service", ReleaseTrigger::dead, /*failed=*/true));
  EXPECT_TRUE(r.up.log.empty());
  EXPECT_EQ(r.up.copies("sub-fdstore-1"), 1u) << "§5.9: on-success defeated across nesting";
}

TEST(UpstreamMirror, RefreshOfAFreshManagerLeavesAHandedDownMappingAlone) {
  Rig r;
  EXPECT_TRUE(r.mirror.refresh().ok());
  EXPECT_TRUE(r.up.log.empty()) << "C = 0: no FDSTOREREMOVE of the mapping";
  r.mirror.raise_counter(4);
  EXPECT_TRUE(r.mirror.refresh().ok());
  EXPECT_EQ(r.up.log, std::vector<std::string>{"remove systemd-fdstore-mapping"});
}

TEST(UpstreamMirror, AttachKeepsTheIndexRaisesTheCounterAndNeverPushes) {
  Rig r;
  r.owners.load("foo.service", kNestedStore);
  ASSERT_TRUE(
      r.mirror.attach("foo.service", memfd_with("x"), "x", Poll::on, 7, AddOrigin::listen_fds)
          .ok());
  EXPECT_EQ(r.mirror.counter(), 7u);
  EXPECT_EQ(r.owners.find("foo.service")->entries()[0].index, 7u);
  EXPECT_TRUE(r.up.log.empty());
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("y"), "y", Poll::on).ok());
  EXPECT_EQ(r.owners.find("foo.service")->entries()[0].index, 8u) << "no collision with 7";
  EXPECT_EQ(r.mirror.attach("foo.service", memfd_with("z"), "z", Poll::on, 0, AddOrigin::notify)
                .error()
                .raw_errno(),
            EINVAL);
}

TEST(UpstreamMirror, AttachToAnUnknownOwnerLoadsAPinnedPlaceholder) {
  Rig r;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(r.mirror
                    .attach("late.service", memfd_with("x"), "f" + std::to_string(i), Poll::on, 0,
                            AddOrigin::luo)
                    .ok());
  }
  const auto* late = r.owners.find("late.service");
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(late->size(), 3u);
  EXPECT_EQ(late->config().max, 3u) << "bumped by one per stored fd";
  EXPECT_EQ(late->config().preserve, PreserveMode::yes);
  // A duplicate rolls its bump back.
  UniqueFd dup(::fcntl(late->entries()[0].fd.get(), F_DUPFD_CLOEXEC, 3));
  auto d = r.mirror.attach("late.service", std::move(dup), "again", Poll::on, 0, AddOrigin::luo);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value(), AddOutcome::duplicate);
  EXPECT_EQ(late->config().max, 3u);
  // Once its fragment is loaded, its own limit applies.
  r.owners.load("late.service", {.max = 3, .preserve = PreserveMode::yes});
  r.mirror.fragment_loaded("late.service");
  EXPECT_EQ(r.mirror.attach("late.service", memfd_with("y"), "y", Poll::on, 0, AddOrigin::luo)
                .error()
                .raw_errno(),
            EXFULL);
}

// F8 (docs/reliability.md): an owner id that is not a unit name used to reach
// FdStoreRegistry::load(), whose exception ended the process; found by fuzz/reexec_serialization.
TEST(UpstreamMirror, AttachToAnOwnerThatIsNotAUnitNameIsATypedRefusal) {
  Rig r;
  for (const char* bad : {"foo", "", "no/slash.service", ".service"}) {
    UniqueFd fd = memfd_with("x");
    const int number = fd.get();
    auto a = r.mirror.attach(bad, std::move(fd), "x", Poll::on, 5, AddOrigin::deserialization);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().raw_errno(), EINVAL) << bad;
    EXPECT_NE(a.error().message().find("not a valid unit name"), std::string::npos)
        << a.error().message();
    EXPECT_EQ(::fcntl(number, F_GETFD), -1) << "the refused fd is closed: " << bad;
    EXPECT_EQ(r.owners.find(bad), nullptr) << "no placeholder for " << bad;
  }
  EXPECT_EQ(r.mirror.counter(), 5u) << "the index was handed out upstream: never reused";
}

TEST(NestedSerialization, ASectionWhoseOwnerIsNotAUnitNameIsSkippedByLineAndTheRestRestored) {
  FdStoreRegistry owners;
  UpstreamMirror mirror(owners, nullptr, {});
  std::vector<UniqueFd> fds;
  fds.push_back(memfd_with("bad"));
  fds.push_back(memfd_with("good"));
  const std::string text = "fd-store-upstream-next-index=3\n\nfoo\n" +
                           ("fd-store-fd=" + std::to_string(fds[0].get()) + " \"state\" 1 1\n") +
                           "\nbar.service\n" +
                           ("fd-store-fd=" + std::to_string(fds[1].get()) + " \"conn\" 0 3\n");
  auto rep = deserialize(text, fds, mirror);
  EXPECT_EQ(rep.restored, 1u);
  ASSERT_EQ(rep.skipped.size(), 1u);
  EXPECT_EQ(rep.skipped[0].path, "line 4");
  EXPECT_NE(rep.skipped[0].reason.find("owner 'foo'"), std::string::npos) << rep.skipped[0].reason;
  EXPECT_EQ(owners.find("foo"), nullptr);
  ASSERT_NE(owners.find("bar.service"), nullptr);
  EXPECT_EQ(contents(owners.find("bar.service")->entries()[0].fd.get()), "good");
  EXPECT_TRUE(fds.empty()) << "both fds were taken: one stored, one closed";
  EXPECT_EQ(mirror.counter(), 3u);
}

// ---------------------------------------------------------------------------------------------

TEST(NestedSerialization, CEscapeRoundTrips) {
  const std::string all = std::string("a\"b\\c'd\n\x01\x7f ") + "\xff";
  EXPECT_EQ(c_escape("plain name"), "plain name");
  EXPECT_EQ(c_escape("q\"b\\"), "q\\\"b\\\\");
  EXPECT_EQ(c_unescape(c_escape(all)), std::optional<std::string>(all));
  EXPECT_EQ(c_unescape("\\101\\x42"), std::optional<std::string>("AB"));
  EXPECT_FALSE(c_unescape("trailing\\"));
  EXPECT_FALSE(c_unescape("\\x4"));
  EXPECT_FALSE(c_unescape("\\000"));
}

TEST(NestedSerialization, ReexecKeepsIndexesAndTheCounterWithoutUpstreamTraffic) {
  Rig r;
  r.owners.load("foo.service", kNestedStore);
  r.owners.load("r.service", {.max = 2, .preserve = PreserveMode::restart});
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("1"), "state", Poll::on).ok());
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("2"), "q\"uote", Poll::off).ok());
  ASSERT_TRUE(r.mirror.store("r.service", memfd_with("3"), "local", Poll::on).ok());
  ASSERT_TRUE(r.mirror.store("foo.service", memfd_with("4"), "gone", Poll::on).ok());
  r.mirror.remove("foo.service", "gone");  // C stays 3: numbers are never reused

  auto ser = serialize(r.mirror);
  ASSERT_TRUE(ser.ok());
  const std::string& text = ser.value().text;
  EXPECT_TRUE(text.starts_with("fd-store-upstream-next-index=3\n\n")) << text;
  EXPECT_NE(text.find("\"q\\\"uote\" 0 2\n"), std::string::npos) << text;

  // The new manager image: same unit files, nothing pushed during deserialization.
  FdStoreRegistry owners2;
  FakeUpstream quiet;
  UpstreamMirror mirror2(owners2, &quiet, kUp);
  owners2.load("foo.service", kNestedStore);
  owners2.load("r.service", {.max = 2, .preserve = PreserveMode::restart});
  auto rep = deserialize(text, ser.value().fds, mirror2);
  EXPECT_TRUE(rep.skipped.empty()) << rep.skipped[0].path << ": " << rep.skipped[0].reason;
  EXPECT_EQ(rep.restored, 3u);
  EXPECT_TRUE(ser.value().fds.empty());
  EXPECT_TRUE(quiet.log.empty());
  EXPECT_EQ(mirror2.counter(), 3u);
  const auto& foo = *owners2.find("foo.service");
  ASSERT_EQ(foo.size(), 2u);
  EXPECT_EQ(foo.entries()[0].name, "q\"uote") << "newest first, as before";
  EXPECT_EQ(foo.entries()[0].poll, Poll::off);
  EXPECT_EQ(foo.entries()[0].index, 2u);
  EXPECT_EQ(foo.entries()[1].index, 1u);
  EXPECT_EQ(contents(foo.entries()[1].fd.get()), "1");
  EXPECT_EQ(owners2.find("r.service")->entries()[0].index, 0u);
  EXPECT_EQ(mirror2.mapping_json(), r.mirror.mapping_json());

  // End of startup: the mapping is pushed; the next add takes 4, not a used number.
  EXPECT_TRUE(mirror2.refresh().ok());
  ASSERT_TRUE(mirror2.store("foo.service", memfd_with("5"), "new", Poll::on).ok());
  EXPECT_EQ(foo.entries()[0].index, 4u);
}

TEST(NestedSerialization, TwoToFourFieldsAndBadLinesAreSkippedByLine) {
  FdStoreRegistry owners;
  UpstreamMirror mirror(owners, nullptr, {});
  owners.load("a.service", kNestedStore);
  std::vector<UniqueFd> fds;
  for (int i = 0; i < 4; ++i)
    fds.push_back(memfd_with(std::to_string(i)));
  const std::string text = "fd-store-upstream-next-index=2\n\na.service\n" +
                           ("fd-store-fd=" + std::to_string(fds[0].get()) + " two\n") +
                           ("fd-store-fd=" + std::to_string(fds[1].get()) + " \"three\" 0\n") +
                           ("fd-store-fd=" + std::to_string(fds[2].get()) + " four yes 9\n") +
                           "fd-store-fd=12345 \"not-passed\" 1 1\n" + "fd-store-fd=oops\n" +
                           "unknown-key=1\n\n";
  const int leftover = fds[3].get();
  auto rep = deserialize(text, fds, mirror);
  EXPECT_EQ(rep.restored, 3u);
  ASSERT_EQ(rep.skipped.size(), 3u);
  EXPECT_EQ(rep.skipped[0].path, "line 7");
  EXPECT_EQ(rep.skipped[1].path, "line 8");
  EXPECT_EQ(rep.skipped[2].path, "line 9");
  const auto& a = *owners.find("a.service");
  EXPECT_EQ(a.entries()[2].name, "two");
  EXPECT_EQ(a.entries()[2].poll, Poll::on) << "missing poll = 1";
  EXPECT_EQ(a.entries()[2].index, 0u) << "missing index = 0";
  EXPECT_EQ(a.entries()[1].poll, Poll::off);
  EXPECT_EQ(a.entries()[0].index, 9u);
  EXPECT_EQ(mirror.counter(), 9u) << "raised past the largest index read";
  ASSERT_EQ(fds.size(), 1u) << "an fd nobody named stays with the caller";
  EXPECT_EQ(fds[0].get(), leftover);
}

// ---------------------------------------------------------------------------------------------

TEST(RouterMapping, ParsesAndSkipsWithPaths) {
  auto r = parse_fdstore_mapping(
      R"({"foo.service":[{"name":"a","index":1},{"name":"z","index":0},{"name":"b"},)"
      R"({"name":"bad:name","index":5},{"name":"dup","index":1},7],)"
      R"("not a unit":[{"name":"x","index":2}],"bar.service":{"name":"y","index":3},)"
      R"("baz.socket":[{"name":"s","index":4}]})");
  ASSERT_EQ(r.index(), 0u) << "parsed, not refused";
  const auto& p = std::get<0>(r);
  EXPECT_EQ(p.value.size(), 2u);
  EXPECT_EQ(p.value.at(1), (MappingEntry{"foo.service", "a", 1}));
  EXPECT_EQ(p.value.at(4), (MappingEntry{"baz.socket", "s", 4}));
  std::vector<std::string> paths;
  for (const auto& s : p.skipped)
    paths.push_back(s.path);
  EXPECT_EQ(paths, (std::vector<std::string>{R"(["foo.service"][1])", R"(["foo.service"][2])",
                                             R"(["foo.service"][3])", R"(["foo.service"][4])",
                                             R"(["foo.service"][5])", R"(["not a unit"])",
                                             R"(["bar.service"])"}));
  EXPECT_TRUE(std::holds_alternative<handoff::ParseError>(parse_fdstore_mapping("[1]")));
  EXPECT_TRUE(std::holds_alternative<handoff::ParseError>(parse_fdstore_mapping("{")));
  // Issue 18: a value 50,000 levels deep followed by another key used to be copied recursively
  // when the ordered object grew; now it is refused while parsing, and so is 1e400.
  const std::string deep = R"({"a.service":)" + std::string(50000, '[') + std::string(50000, ']') +
                           R"(,"b.service":[]})";
  const auto refused = parse_fdstore_mapping(deep);
  ASSERT_TRUE(std::holds_alternative<handoff::ParseError>(refused));
  EXPECT_NE(std::get<handoff::ParseError>(refused).message.find("nested deeper than"),
            std::string::npos);
  EXPECT_TRUE(std::holds_alternative<handoff::ParseError>(
      parse_fdstore_mapping(R"({"a.service":[{"name":"x","index":1e400}]})")));
}

TEST(RouterMapping, WriterAndReaderAgree) {
  std::vector<handoff::UnitEntries<MappingEntry>> units = {
      {"foo.service", {{"foo.service", "state", 1}, {"foo.service", "conn", 3}}},
      {"bar.service", {{"bar.service", "stored", 2}}}};
  const std::string json = fdstore_mapping_json(units);
  EXPECT_EQ(json, R"({"foo.service":[{"name":"state","index":1},{"name":"conn","index":3}],)"
                  R"("bar.service":[{"name":"stored","index":2}]})");
  auto back = std::get<0>(parse_fdstore_mapping(json));
  EXPECT_TRUE(back.skipped.empty());
  EXPECT_EQ(back.value.at(3), (MappingEntry{"foo.service", "conn", 3}));
}

std::vector<ListenFd> listen_set(const Rig& r, const std::vector<std::string>& extra_names) {
  std::vector<ListenFd> fds;
  for (const auto& [name, copies] : r.up.stored) {
    for (const auto& c : copies)
      fds.push_back({UniqueFd(::fcntl(c.get(), F_DUPFD_CLOEXEC, 3)), name});
  }
  for (const auto& n : extra_names)
    fds.push_back({memfd_with("generic " + n), n});
  return fds;
}

TEST(Router, RoutesByTheMappingAndKeepsTheRestGeneric) {
  Rig up;  // the previous life of the inner manager, filling the upstream store
  up.owners.load("foo.service", kNestedStore);
  up.owners.load("bar.service", kNestedStore);
  ASSERT_TRUE(up.mirror.store("foo.service", memfd_with("foo-state"), "state", Poll::on).ok());
  ASSERT_TRUE(up.mirror.store("bar.service", memfd_with("bar-conn"), "conn", Poll::on).ok());

  Rig next;
  next.owners.load("foo.service", kNestedStore);
  DownwardRouter router;
  auto generic = router.claim(listen_set(up, {"sub-fdstore-99", "socket"}), NamesPassed::yes);
  EXPECT_TRUE(router.claim_report().named_routing);
  EXPECT_EQ(router.claimed(), 2u);
  ASSERT_EQ(generic.size(), 2u) << "unmapped sub-fdstore-99 and the socket stay generic";
  EXPECT_EQ(generic[0].name, "sub-fdstore-99");
  EXPECT_EQ(generic[1].name, "socket");

  ManagerTarget target(next.mirror);
  auto routed = router.dispatch(target);
  ASSERT_EQ(routed.size(), 2u);
  for (const auto& rr : routed)
    EXPECT_EQ(rr.result.disposition, Disposition::attached) << rr.result.reason;
  EXPECT_EQ(router.claimed(), 0u);
  const auto& foo = *next.owners.find("foo.service");
  ASSERT_EQ(foo.size(), 1u);
  EXPECT_EQ(foo.entries()[0].name, "state");
  EXPECT_EQ(foo.entries()[0].index, 1u);
  EXPECT_EQ(foo.entries()[0].poll, Poll::on);
  EXPECT_EQ(contents(foo.entries()[0].fd.get()), "foo-state");
  // bar.service has no unit file yet: held by a pinned placeholder, as systemd's eager load.
  const auto* bar = next.owners.find("bar.service");
  ASSERT_NE(bar, nullptr);
  EXPECT_EQ(bar->entries()[0].index, 2u);
  EXPECT_EQ(next.mirror.counter(), 2u);
  EXPECT_TRUE(next.up.log.empty()) << "routing never pushes (loop prevention)";
  EXPECT_TRUE(next.mirror.refresh().ok());
  EXPECT_EQ(next.up.mapping(), up.up.mapping());
}

TEST(Router, NoNamesNoMappingOrABadMappingMeansNoNamedRouting) {
  Rig up;
  up.owners.load("foo.service", kNestedStore);
  ASSERT_TRUE(up.mirror.store("foo.service", memfd_with("x"), "x", Poll::on).ok());
  {
    DownwardRouter router;
    auto all = router.claim(listen_set(up, {}), NamesPassed::no);
    EXPECT_EQ(all.size(), 2u) << "mapping fd included: nothing is interpreted";
    EXPECT_FALSE(router.claim_report().named_routing);
  }
  {
    DownwardRouter router;
    std::vector<ListenFd> fds;
    fds.push_back({memfd_with("x"), "sub-fdstore-1"});
    EXPECT_EQ(router.claim(std::move(fds), NamesPassed::yes).size(), 1u);
    EXPECT_FALSE(router.claim_report().named_routing);
  }
  {
    DownwardRouter router;
    std::vector<ListenFd> fds;
    fds.push_back({memfd_with("{not json"), std::string(kFdStoreMappingName)});
    fds.push_back({memfd_with("x"), "sub-fdstore-1"});
    auto rest = router.claim(std::move(fds), NamesPassed::yes);
    ASSERT_EQ(rest.size(), 1u) << "the unreadable mapping is still consumed, never routed";
    EXPECT_EQ(rest[0].name, "sub-fdstore-1");
    EXPECT_TRUE(router.claim_report().mapping_error.has_value());
  }
}

// A mapping whose read fails is refused with the read's errno: it used to be read as the bytes
// before the failure (here none) and reported as "not valid JSON".
TEST(Router, AFailedMappingReadIsReportedWithItsErrno) {
  Rig up;
  up.owners.load("foo.service", kNestedStore);
  ASSERT_TRUE(up.mirror.store("foo.service", memfd_with("x"), "x", Poll::on).ok());
  DownwardRouter router;
  sys::FaultPlan::fail(sys::Call::read, 0, EIO);
  auto rest = router.claim(listen_set(up, {}), NamesPassed::yes);
  EXPECT_TRUE(sys::FaultPlan::fired());
  sys::FaultPlan::reset();
  ASSERT_EQ(rest.size(), 1u) << "the unreadable mapping is still consumed, never routed";
  EXPECT_EQ(rest[0].name, "sub-fdstore-1");
  EXPECT_FALSE(router.claim_report().named_routing);
  ASSERT_TRUE(router.claim_report().mapping_error.has_value());
  EXPECT_EQ(router.claim_report().mapping_error->message,
            "the fd store mapping cannot be read: EIO");
  EXPECT_EQ(router.claim_report().mapping_errno, EIO);
}

TEST(Router, NonServiceUnitsAndFullStoresRefuseButStillRaiseTheCounter) {
  std::vector<ListenFd> fds;
  fds.push_back({memfd_with(R"({"a.socket":[{"name":"s","index":3}],)"
                            R"("full.service":[{"name":"f","index":5}]})"),
                 std::string(kFdStoreMappingName)});
  fds.push_back({memfd_with("s"), "sub-fdstore-3"});
  fds.push_back({memfd_with("f"), "sub-fdstore-5"});
  Rig r;
  r.owners.load("full.service", {.max = 0, .preserve = PreserveMode::yes});
  DownwardRouter router;
  EXPECT_TRUE(router.claim(std::move(fds), NamesPassed::yes).empty());
  ManagerTarget target(r.mirror);
  auto routed = router.dispatch(target);
  ASSERT_EQ(routed.size(), 2u);
  EXPECT_EQ(routed[0].result.disposition, Disposition::refused);
  EXPECT_EQ(routed[0].result.error, EINVAL);
  EXPECT_EQ(routed[1].result.disposition, Disposition::refused);
  EXPECT_EQ(routed[1].result.error, EXFULL);
  EXPECT_EQ(r.mirror.counter(), 5u);
}

TEST(Router, LuoRestoreThroughTheSameTargetGetsIndexZero) {
  Rig r;
  r.owners.load("foo.service", kNestedStore);
  ManagerTarget target(r.mirror);
  RestoreTarget& plain = target;
  RestoredItem item{"foo.service", "from-luo", handoff::EntryType::fd, memfd_with("l"), ""};
  EXPECT_EQ(plain.dispatch(item).disposition, Disposition::attached);
  EXPECT_EQ(r.owners.find("foo.service")->entries()[0].index, 0u) << "§5.8, reproduced";
  EXPECT_EQ(r.mirror.counter(), 0u);
}

// ---------------------------------------------------------------------------------------------

PayloadMessage msg(pid_t pid, std::vector<std::pair<std::string, std::string>> tags,
                   int n_fds = 0) {
  PayloadMessage m{pid, std::move(tags), {}};
  for (int i = 0; i < n_fds; ++i)
    m.fds.push_back(memfd_with("payload-" + std::to_string(i)));
  return m;
}

TEST(Relay, StoreAndRemoveArePrefixed) {
  PayloadRelay relay(4242, kUp);
  EXPECT_TRUE(relay.accepts_fds());
  auto s = relay.translate(msg(4242, {{"FDSTORE", "1"}, {"FDNAME", "test-fd-a"}}, 2));
  EXPECT_EQ(s.kind, RelayAction::Kind::store);
  EXPECT_EQ(s.name, "payload-test-fd-a");
  EXPECT_EQ(s.poll, Poll::on);
  EXPECT_EQ(s.fds.size(), 2u) << "all fds in one message";
  EXPECT_TRUE(s.warnings.empty());

  auto np = relay.translate(msg(4242, {{"FDSTORE", "1"}, {"FDPOLL", "0"}}, 1));
  EXPECT_EQ(np.name, "payload-stored");
  EXPECT_EQ(np.poll, Poll::off) << "nspawn forwards FDPOLL=0";

  auto rm = relay.translate(msg(4242, {{"FDSTOREREMOVE", "1"}, {"FDNAME", "test-fd-a"}}, 1));
  EXPECT_EQ(rm.kind, RelayAction::Kind::remove);
  EXPECT_EQ(rm.name, "payload-test-fd-a");
  EXPECT_TRUE(rm.fds.empty());
}

TEST(Relay, BadNamesOtherPidsAndNoUpstream) {
  PayloadRelay relay(1000, kUp);
  auto inv = relay.translate(msg(1000, {{"FDSTORE", "1"}, {"FDNAME", "a:b"}}, 1));
  EXPECT_EQ(inv.name, "payload-stored");
  EXPECT_EQ(inv.warnings, std::vector<RelayWarning>{RelayWarning::invalid_name_stored});

  const std::string longest(kFdNameMax, 'n');  // valid for the payload, too long once prefixed
  auto lng = relay.translate(msg(1000, {{"FDSTORE", "1"}, {"FDNAME", longest}}, 1));
  EXPECT_EQ(lng.kind, RelayAction::Kind::store);
  EXPECT_EQ(lng.name, "payload-stored");
  EXPECT_EQ(lng.warnings, std::vector<RelayWarning>{RelayWarning::name_too_long_stored});
  const std::string fits(kFdNameMax - kPayloadPrefix.size(), 'f');
  EXPECT_EQ(relay.translate(msg(1000, {{"FDSTORE", "1"}, {"FDNAME", fits}}, 1)).name.size(),
            kFdNameMax);
  auto lrm = relay.translate(msg(1000, {{"FDSTOREREMOVE", "1"}, {"FDNAME", longest}}));
  EXPECT_EQ(lrm.kind, RelayAction::Kind::ignore);
  EXPECT_EQ(lrm.warnings, std::vector<RelayWarning>{RelayWarning::name_too_long_not_removed});

  auto norm = relay.translate(msg(1000, {{"FDSTOREREMOVE", "1"}}));
  EXPECT_EQ(norm.warnings, std::vector<RelayWarning>{RelayWarning::remove_without_valid_name});
  auto nofd = relay.translate(msg(1000, {{"FDSTORE", "1"}, {"FDNAME", "x"}}));
  EXPECT_EQ(nofd.warnings, std::vector<RelayWarning>{RelayWarning::no_fds});
  auto other = relay.translate(msg(1001, {{"FDSTORE", "1"}}, 1));
  EXPECT_EQ(other.kind, RelayAction::Kind::ignore);
  EXPECT_EQ(other.warnings, std::vector<RelayWarning>{RelayWarning::not_payload_pid1});
  EXPECT_TRUE(other.fds.empty()) << "closed, not kept";
  EXPECT_EQ(relay.translate(msg(1000, {{"READY", "1"}})).kind, RelayAction::Kind::ignore);

  PayloadRelay off(1000, {.has_upstream = true, .fdstore_max = 0});
  EXPECT_FALSE(off.accepts_fds());
  auto dropped = off.translate(msg(1000, {{"FDSTORE", "1"}}, 1));
  EXPECT_EQ(dropped.warnings, std::vector<RelayWarning>{RelayWarning::not_forwarding});
  for (RelayWarning w : {RelayWarning::not_payload_pid1, RelayWarning::not_forwarding})
    EXPECT_FALSE(relay_warning_message(w).empty());
}

TEST(Relay, ForwardSendsOneMessageAndTheDownwardEnvironmentHasNoNames) {
  PayloadRelay relay(7, kUp);
  FakeUpstream up;
  auto [a, s] = relay.forward(msg(7, {{"FDSTORE", "1"}, {"FDNAME", "x"}, {"FDPOLL", "0"}}, 2), up);
  EXPECT_TRUE(s.ok());
  auto [b, s2] = relay.forward(msg(7, {{"FDSTOREREMOVE", "1"}, {"FDNAME", "x"}}), up);
  EXPECT_TRUE(s2.ok());
  EXPECT_EQ(up.log, (std::vector<std::string>{"store payload-x nopoll x2", "remove payload-x"}));
  // §5.10 reproduced: only a count and PID 1, no LISTEN_FDNAMES.
  EXPECT_EQ(PayloadRelay::payload_environment(2),
            (std::vector<std::string>{"LISTEN_FDS=2", "LISTEN_PID=1"}));
  EXPECT_TRUE(PayloadRelay::payload_environment(0).empty());
}

}  // namespace
}  // namespace luo
