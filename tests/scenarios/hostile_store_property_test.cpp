// The writer refuses what the reader will refuse (issue 18 item 3), as a rapidcheck property over
// SimulatedKernel: for any generated set of stores, with owner ids and fd names drawn from valid,
// borderline and hostile strings alike, HandoffManager's load_owner() and store() refuse exactly
// the owners and fd names the restore would skip, and every entry its Stage B preserves is taken
// by the next boot's restore (held for its owner, as the next boot loads none): nothing is found
// lost only after the kexec.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/unit_name.hpp"
#include "luo/model/fd_store_limits.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

// Owner ids: valid unit names of every form, and what a careless or hostile caller passes.
rc::Gen<std::string> owner_ids() {
  return rc::gen::weightedOneOf<std::string>(
      {{6, rc::gen::element<std::string>("a.service", "getty@tty1.service", "getty@.service",
                                         "-.mount", "x.socket", "b.service")},
       {3, rc::gen::element<std::string>("", "not a unit", "foo", ".service", "foo.snapshot",
                                         "@x.service", "a\nb.service", "a b.service",
                                         std::string(252, 'a') + ".service",
                                         std::string(247, 'a') + ".service")},
       {2, rc::gen::string<std::string>()}});
}

// fd names: valid ones ("" included), and ones fdname_is_valid() refuses.
rc::Gen<std::string> fd_names() {
  return rc::gen::weightedOneOf<std::string>(
      {{6, rc::gen::element<std::string>("x", "", "state", "guest ram", "a/b")},
       {3, rc::gen::element<std::string>("bad:name", "tab\there", "\x7f", "é",
                                         std::string(kFdNameMax, 'n'),
                                         std::string(kFdNameMax + 1, 'n'))},
       {2, rc::gen::string<std::string>()}});
}

TEST(HostileStores, EveryEntryStageBPreservesIsTakenByTheRestore) {
  const bool ok = rc::check([] {
    const auto owners_wanted = *rc::gen::container<std::vector<std::string>>(
        *rc::gen::inRange<std::size_t>(0, 5), owner_ids());
    SimulatedKernel kernel(kDefaultProfile);
    IoctlPort port(kernel);
    LiveUpdate lu(port, kDefaultProfile);
    HandoffManager mgr(lu, port);
    std::size_t added = 0;
    for (const std::string& id : owners_wanted) {
      auto loaded = mgr.load_owner(id, {.max = 16, .preserve = PreserveMode::yes});
      // Refused exactly when the restore would skip the unit.
      RC_ASSERT(loaded.ok() == handoff::unit_name_is_valid(id));
      if (!loaded.ok()) {
        RC_ASSERT(loaded.error().raw_errno() == EINVAL);
        RC_ASSERT(mgr.owners().find(id) == nullptr);
        continue;
      }
      const auto names = *rc::gen::container<std::vector<std::string>>(
          *rc::gen::inRange<std::size_t>(0, 4), fd_names());
      for (const std::string& name : names) {
        auto r = mgr.store(id, testing::memfd_with("data of " + name), name);
        RC_ASSERT(r.ok() == fdname_is_valid(name));
        added += r.ok() ? 1 : 0;
      }
    }

    RC_ASSERT(mgr.stage_a().ok());
    auto preserved_b = mgr.stage_b();
    RC_ASSERT(preserved_b.ok());
    const StageBResult& b = *preserved_b.value();
    RC_ASSERT(b.error == 0);
    std::map<std::pair<std::string, std::string>, int> preserved;
    std::size_t preserved_count = 0;
    for (const EntryReport& e : b.report) {
      if (e.state == FdEntryState::preserved) {
        ++preserved[{e.owner, e.name}];
        ++preserved_count;
      }
    }
    // Every stored entry of a preserving owner reaches Stage B: memfds have a LUO handler.
    RC_ASSERT(preserved_count == added);
    RC_ASSERT(mgr.kexec().ok());

    // The next boot loads no unit: every entry is held for its owner.
    auto restored = mgr.restore();
    RC_ASSERT(restored.ok());
    const RestoreResult& r = *restored.value();
    // v262 hands over on every kexec: the "systemd" session is there even with nothing in it.
    RC_ASSERT(r.error == 0);
    for (const EntryReport& e : r.report) {
      RC_ASSERT(e.state != FdEntryState::lost);
      if (e.state == FdEntryState::held)
        --preserved[{e.owner, e.name}];
    }
    for (const auto& [entry, missing] : preserved)
      RC_ASSERT(missing == 0);
    RC_ASSERT(mgr.held().size() == preserved_count);
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace luo
