// The named invariants (invariants.hpp): their registry, and for each one the public operation
// that would break it, shown to be refused with the spec's errno while the invariant holds.
//
// Showing a predicate *fail* needs a KernelModel in a violating state. KernelModel's state is
// private and every public operation goes through the machine tables, so no public call
// sequence reaches such a state (that is the point of the tables); building one would need
// access the API does not give. The tests below therefore exercise each predicate right at
// the edge: the step just before the violation succeeds, the violating step is refused.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

#include "model_test_support.hpp"

namespace luo::model_test {
namespace {

bool holds(const KernelModel& k, std::string_view name) {
  for (const auto& inv : kernel_invariants()) {
    if (inv.name == name)
      return inv.holds(k);
  }
  ADD_FAILURE() << "no invariant named " << name;
  return false;
}

TEST(InvariantRegistryTest, NamesRationalesAndSectionsArePresent) {
  const auto invariants = kernel_invariants();
  ASSERT_FALSE(invariants.empty());
  std::set<std::string_view> names;
  for (const auto& inv : invariants) {
    EXPECT_FALSE(inv.name.empty());
    EXPECT_TRUE(names.insert(inv.name).second) << "duplicate invariant " << inv.name;
    EXPECT_FALSE(inv.rationale.empty()) << inv.name;
    EXPECT_EQ(inv.spec.rfind("§", 0), 0U) << inv.name << " cites " << inv.spec;
    EXPECT_NE(inv.holds, nullptr) << inv.name;
  }
  // The invariants this suite relies on by name.
  for (std::string_view n :
       {"TokenUniquePerSession", "NameUniqueAmongOutgoing", "NameUniqueAmongIncoming",
        "FileInAtMostOneOutgoingSession", "OutgoingHoldsOnlyPreservedFiles", "FinishReleasesAll",
        "UnfinishedFilesStayRestorable", "LegacyLimitsRespected", "FrozenOnlyInsideReboot",
        "RetrievedSessionHasFd"}) {
    EXPECT_EQ(names.count(n), 1U) << n;
  }
}

class InvariantTest : public PerProfile {};

TEST_P(InvariantTest, FreshModelSatisfiesAll) {
  const KernelModel k(profile());
  EXPECT_TRUE(violated_invariants(k).empty());
  for (const auto& inv : kernel_invariants())
    EXPECT_TRUE(inv.holds(k)) << inv.name;
}

// violated_invariants() is exactly the list of predicates that fail, across a full lifecycle.
TEST_P(InvariantTest, ViolatedListAgreesWithPredicatesOverALifecycle) {
  CheckedModel k(profile());
  const auto agree = [&] {
    std::set<std::string_view> failing;
    for (const auto& inv : kernel_invariants()) {
      if (!inv.holds(k.model()))
        failing.insert(inv.name);
    }
    const auto listed = violated_invariants(k.model());
    EXPECT_EQ(std::set<std::string_view>(listed.begin(), listed.end()), failing);
  };
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("s");
  k.must_preserve_new_memfd(s, 1);
  k.must_preserve_new_memfd(s, 2);
  agree();
  ASSERT_TRUE(Succeeds(k.kexec()));
  agree();
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId in = k.must_retrieve("s");
  ASSERT_TRUE(Succeeds(k.retrieve_fd(in, 2)));
  agree();
  ASSERT_TRUE(Succeeds(k.finish_session(in)));
  agree();
}

// TokenUniquePerSession (§3.1.1): a second file under a used token is EEXIST, even when the
// copy-back would fault (a fault keeps the file, so it must not get that far).
TEST_P(InvariantTest, TokenUniquenessEdge) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("s");
  k.must_preserve_new_memfd(s, 1);
  EXPECT_TRUE(FailsWith(k.preserve_memfd(s, k.new_memfd(), 1), Errno::eexist));
  EXPECT_TRUE(FailsWith(k.preserve_memfd(s, k.new_memfd(), 1, model_test::copy_back_fault()),
                        Errno::eexist));
  EXPECT_TRUE(holds(k.model(), "TokenUniquePerSession"));
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_TRUE(holds(k.model(), "TokenUniquePerSession"));
}

// NameUniqueAmongOutgoing / NameUniqueAmongIncoming (§2.1): also on 6.19, where two different
// unterminated fields collapse to one truncated name.
TEST_P(InvariantTest, NameUniquenessEdge) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  k.must_create(std::string(63, 'N'));
  EXPECT_FALSE(k.create_session(std::string(63, 'N') + "1").ok());
  EXPECT_FALSE(k.create_session(std::string(63, 'N') + "2").ok());
  EXPECT_TRUE(holds(k.model(), "NameUniqueAmongOutgoing"));
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  // The same name again, now next to the incoming one: both lists stay unique.
  k.must_create(std::string(63, 'N'));
  EXPECT_TRUE(holds(k.model(), "NameUniqueAmongOutgoing"));
  EXPECT_TRUE(holds(k.model(), "NameUniqueAmongIncoming"));
  ASSERT_TRUE(Succeeds(k.kexec()));
  EXPECT_EQ(k->incoming().size(), 1U);
  EXPECT_TRUE(holds(k.model(), "NameUniqueAmongIncoming"));
}

// FileInAtMostOneOutgoingSession (§3.1.5): enforced from 7.0; on 6.19 the predicate is
// deliberately vacuous, since double preservation is legal there.
TEST_P(InvariantTest, SingleOwnerEdge) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId a = k.must_create("a");
  const SessionId b = k.must_create("b");
  const FileId f = k.must_preserve_new_memfd(a, 1);
  const Step twice = k.preserve_memfd(b, f, 1);
  if (has(Feature::double_preservation_check)) {
    EXPECT_TRUE(FailsWith(twice, Errno::ebusy));
  } else {
    // The state now has one file in two sessions, and the 6.19 predicate accepts it.
    EXPECT_TRUE(Succeeds(twice));
    EXPECT_EQ(k->find_outgoing(a)->files[0].file, k->find_outgoing(b)->files[0].file);
  }
  EXPECT_TRUE(holds(k.model(), "FileInAtMostOneOutgoingSession"));
}

// LegacyLimitsRespected (§2.6): the limits are refused exactly at the edge on 6.19-7.1, and
// the predicate does not apply from 7.2.
TEST_P(InvariantTest, LegacyLimitsEdge) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId s = k.must_create("s");
  for (Token t = 0; t < kLegacyMaxFilesPerSession; ++t)
    k.must_preserve_new_memfd(s, t);
  const Step over = k.preserve_memfd(s, k.new_memfd(), kLegacyMaxFilesPerSession);
  EXPECT_EQ(over.ok(), !has(Feature::legacy_limits));
  EXPECT_TRUE(holds(k.model(), "LegacyLimitsRespected"));
}

// FrozenOnlyInsideReboot and OutgoingHoldsOnlyPreservedFiles (§5.2, §2.3): a failed reboot
// leaves nothing frozen, and an empty session returns to `created`, not `preserving`.
TEST_P(InvariantTest, RollbackEdge) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId empty = k.must_create("empty");
  const SessionId full = k.must_create("full");
  k.must_preserve_new_memfd(full, 1);
  k.must_preserve_new_memfd(full, 2);
  EXPECT_FALSE(k.kexec(model_test::freeze_fails(1, Errno::eio)).ok());
  EXPECT_TRUE(holds(k.model(), "FrozenOnlyInsideReboot"));
  EXPECT_TRUE(holds(k.model(), "OutgoingHoldsOnlyPreservedFiles"));
  EXPECT_EQ(k->find_outgoing(empty)->state, OutgoingSessionState::created);
  EXPECT_EQ(k->find_outgoing(full)->state, OutgoingSessionState::preserving);
}

// RetrievedSessionHasFd, FinishReleasesAll, UnfinishedFilesStayRestorable (§2.4, §3.2, §3.3):
// across retrieve, failed retrieve, veto, finish, and a leaked session.
TEST_P(InvariantTest, IncomingLifecycleEdges) {
  CheckedModel k(profile());
  ASSERT_TRUE(Succeeds(k.open_device()));
  for (const char* n : {"a", "b"}) {
    const SessionId s = k.must_create(n);
    k.must_preserve_new_memfd(s, 1);
    k.must_preserve_new_memfd(s, 2);
  }
  ASSERT_TRUE(Succeeds(k.kexec()));
  ASSERT_TRUE(Succeeds(k.open_device()));
  const SessionId a = k.must_retrieve("a");
  EXPECT_FALSE(k.retrieve_fd(a, 1, model_test::handler_fails(Errno::eio)).ok());
  ASSERT_TRUE(Succeeds(k.retrieve_fd(a, 2)));
  EXPECT_FALSE(k.finish_session(a, 0, model_test::can_finish_vetoes()).ok());
  EXPECT_TRUE(holds(k.model(), "UnfinishedFilesStayRestorable"));
  ASSERT_TRUE(Succeeds(k.finish_session(a)));
  EXPECT_TRUE(holds(k.model(), "FinishReleasesAll"));
  const SessionId b = k.must_retrieve("b");
  ASSERT_TRUE(Succeeds(k.release_session(b, model_test::can_finish_vetoes())));
  EXPECT_TRUE(holds(k.model(), "RetrievedSessionHasFd"));
  EXPECT_TRUE(violated_invariants(k.model()).empty());
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, InvariantTest, ::testing::ValuesIn(kAllProfiles),
                         model_test::profile_param_name);

}  // namespace
}  // namespace luo::model_test
