// The four machine tables as data: their structural properties at runtime (the headers also
// static_assert some of them, but a runtime test names the broken machine in the report), the
// vocabulary of names, the profile feature matrix of spec §7/§8, and the decide/resolve
// semantics on concrete cells whose expected rows come from the spec's errno tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "luo/model/device_machine.hpp"
#include "luo/model/file_machine.hpp"
#include "luo/model/incoming_session_machine.hpp"
#include "luo/model/outgoing_session_machine.hpp"
#include "model_test_support.hpp"

namespace luo {
namespace {

// Every section of kernel-luo.md that a row may cite, plus the numbered checks of §3.1
// ("§3.1.5" is check 5 of PRESERVE_FD). A citation outside this list points nowhere.
std::set<std::string_view> spec_sections() {
  return {"§1.1",   "§1.2",   "§1.3", "§1.4",   "§2.1",   "§2.2",   "§2.3",   "§2.4",   "§2.5",
          "§2.6",   "§2.7",   "§3.1", "§3.1.1", "§3.1.2", "§3.1.3", "§3.1.4", "§3.1.5", "§3.1.6",
          "§3.1.7", "§3.1.8", "§3.2", "§3.3",   "§3.4",   "§3.5",   "§3.6",   "§3.7",   "§3.8",
          "§4",     "§5.1",   "§5.2", "§5.3",   "§6.1",   "§6.2",   "§7",     "§8"};
}

template <class T>
bool contains(std::span<const T> values, T v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// The structural checks shared by all four machines. Names go through the ADL-found
// state_name/event_name overloads of each machine's header.
template <class State, class Event>
void check_structure(const Machine<State, Event>& m) {
  SCOPED_TRACE(std::string(m.name));
  EXPECT_FALSE(m.name.empty());
  EXPECT_TRUE(m.is_complete());
  EXPECT_TRUE(m.rows_are_live());
  EXPECT_TRUE(m.terminals_are_final());
  EXPECT_FALSE(m.rows.empty());

  // The object starts alive, and the terminal list names real states.
  EXPECT_TRUE(contains(m.states, m.initial));
  EXPECT_FALSE(m.is_terminal(m.initial));
  for (State t : m.terminals)
    EXPECT_TRUE(contains(m.states, t));

  // State and event names: non-empty, not the "?" fallback of an unlisted enumerator, unique.
  std::set<std::string_view> state_names;
  for (State s : m.states) {
    const std::string_view n = state_name(s);
    EXPECT_FALSE(n.empty());
    EXPECT_NE(n, "?");
    EXPECT_TRUE(state_names.insert(n).second) << "duplicate state name " << n;
  }
  std::set<std::string_view> event_names;
  for (Event e : m.events) {
    const std::string_view n = event_name(e);
    EXPECT_FALSE(n.empty());
    EXPECT_NE(n, "?");
    EXPECT_TRUE(event_names.insert(n).second) << "duplicate event name " << n;
  }

  const auto sections = spec_sections();
  for (std::size_t i = 0; i < m.rows.size(); ++i) {
    const auto& r = m.rows[i];
    SCOPED_TRACE("row " + std::to_string(i) + ": " + std::string(state_name(r.from)) + " --" +
                 std::string(event_name(r.event)) + "[" + std::string(guard_name(r.guard)) +
                 "]--> " + std::string(state_name(r.to)));
    EXPECT_TRUE(contains(m.states, r.from));
    EXPECT_TRUE(contains(m.states, r.to));
    EXPECT_TRUE(contains(m.events, r.event));
    // Every behaviour must say where the spec states it.
    EXPECT_FALSE(r.spec.empty());
    EXPECT_TRUE(sections.count(r.spec) == 1) << "cites unknown section " << r.spec;
  }

  // A row after the `always` row of its cell can never fire: dead data that looks like
  // behaviour. Checked per profile, because rows apply to profile subsets.
  for (State s : m.states) {
    for (Event e : m.events) {
      for (KernelProfile p : kAllProfiles) {
        bool closed = false;
        for (const auto& r : m.rows) {
          if (r.from != s || r.event != e || !r.profiles.contains(p))
            continue;
          EXPECT_FALSE(closed) << "shadowed row in " << state_name(s) << "/" << event_name(e)
                               << " on " << profile_name(p) << " guard " << guard_name(r.guard);
          if (r.guard == Guard::always)
            closed = true;
        }
      }
    }
  }
}

TEST(MachineTablesTest, DeviceMachineStructure) {
  check_structure<DeviceState, DeviceEvent>(kDeviceMachine);
  // The device lives for the whole boot: there is no terminal state (§1.2).
  EXPECT_TRUE(kDeviceMachine.terminals.empty());
  EXPECT_EQ(kDeviceMachine.initial, DeviceState::never_opened);
}

TEST(MachineTablesTest, OutgoingSessionMachineStructure) {
  check_structure(kOutgoingSessionMachine);
  // CREATE_SESSION returns an empty session (§2.3).
  EXPECT_EQ(kOutgoingSessionMachine.initial, OutgoingSessionState::created);
  // Handed over at reboot or destroyed by close: both end the outgoing session (§2.3).
  EXPECT_TRUE(kOutgoingSessionMachine.is_terminal(OutgoingSessionState::handed_over));
  EXPECT_TRUE(kOutgoingSessionMachine.is_terminal(OutgoingSessionState::closed));
  EXPECT_FALSE(kOutgoingSessionMachine.is_terminal(OutgoingSessionState::frozen));
}

TEST(MachineTablesTest, IncomingSessionMachineStructure) {
  check_structure(kIncomingSessionMachine);
  // Built lazily at first open, before any fd exists (§2.4).
  EXPECT_EQ(kIncomingSessionMachine.initial, IncomingSessionState::deserialized);
  EXPECT_TRUE(kIncomingSessionMachine.is_terminal(IncomingSessionState::gone));
  EXPECT_TRUE(kIncomingSessionMachine.is_terminal(IncomingSessionState::dropped));
  // A leaked session still exists: it holds its name and answers RETRIEVE_SESSION (§2.4).
  EXPECT_FALSE(kIncomingSessionMachine.is_terminal(IncomingSessionState::leaked));
  EXPECT_FALSE(kIncomingSessionMachine.is_terminal(IncomingSessionState::finished));
}

TEST(MachineTablesTest, FileMachineStructure) {
  check_structure(kFileMachine);
  EXPECT_EQ(kFileMachine.initial, FileState::preserved);
  EXPECT_TRUE(kFileMachine.is_terminal(FileState::unpreserved));
  EXPECT_TRUE(kFileMachine.is_terminal(FileState::finished));
  EXPECT_TRUE(kFileMachine.is_terminal(FileState::discarded));
  EXPECT_TRUE(kFileMachine.is_terminal(FileState::dropped));
  // A failed retrieve is still owned by LUO until FINISH (§3.2, §3.3).
  EXPECT_FALSE(kFileMachine.is_terminal(FileState::retrieve_failed));
}

TEST(MachineTablesTest, MachineNamesAreDistinct) {
  const std::set<std::string_view> names = {kDeviceMachine.name, kOutgoingSessionMachine.name,
                                            kIncomingSessionMachine.name, kFileMachine.name};
  EXPECT_EQ(names.size(), 4U);
}

TEST(MachineTablesTest, GuardNamesAreUniqueAndDescribed) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kGuardCount; ++i) {
    const auto g = static_cast<Guard>(i);
    if (g == Guard::always) {
      // The unconditional guard is the absence of a condition; it prints as nothing.
      EXPECT_TRUE(guard_name(g).empty());
      continue;
    }
    const std::string_view n = guard_name(g);
    EXPECT_FALSE(n.empty()) << i;
    EXPECT_NE(n, "?") << i;
    EXPECT_FALSE(guard_description(g).empty()) << n;
    EXPECT_NE(guard_description(g), "?") << n;
    EXPECT_TRUE(names.insert(n).second) << "duplicate guard name " << n;
  }
  EXPECT_EQ(names.size(), kGuardCount - 1);
}

TEST(MachineTablesTest, ErrnoNamesAndValuesAreUniqueAndRoundTrip) {
  std::set<std::string_view> names;
  std::set<int> values;
  for (Errno e : kAllErrnos) {
    const std::string_view n = errno_name(e);
    EXPECT_FALSE(n.empty());
    EXPECT_NE(n, "E?");
    EXPECT_TRUE(names.insert(n).second) << "duplicate errno name " << n;
    EXPECT_TRUE(values.insert(errno_value(e)).second) << "duplicate errno value " << n;
    EXPECT_EQ(errno_from_int(errno_value(e)), e) << n;
    EXPECT_EQ(errno_from_name(n), e) << n;
  }
  // The numbers are Linux's, so adapters pass them through unchanged.
  EXPECT_EQ(errno_value(Errno::ok), 0);
  EXPECT_EQ(errno_value(Errno::ebusy), EBUSY);
  EXPECT_EQ(errno_value(Errno::enospc), ENOSPC);
  EXPECT_EQ(errno_value(Errno::emfile), EMFILE);
  // An errno the enum does not know is not silently mapped to a known one.
  EXPECT_EQ(errno_from_int(ENAMETOOLONG), std::nullopt);
  EXPECT_EQ(errno_from_name("ENAMETOOLONG"), std::nullopt);
}

// The behaviour matrix of spec §7 with the §8 correction (FINISH reserved checked on 7.2).
TEST(MachineTablesTest, ProfileFeaturesFollowSpecTimeline) {
  struct Expect {
    Feature feature;
    bool v6_19, v7_0, v7_2, v7_3;
  };
  const Expect table[] = {
      {Feature::session_name_validation, false, false, true, true},   // §2.2
      {Feature::legacy_limits, true, true, false, false},             // §2.6
      {Feature::session_type_check, false, false, true, true},        // §2.5
      {Feature::get_name, false, false, true, true},                  // §1.4
      {Feature::finish_reserved_checked, false, false, true, true},   // §8 outranks §1.4
      {Feature::double_preservation_check, false, true, true, true},  // §3.1.5
      {Feature::sticky_retrieve_failure, false, true, true, true},    // §3.2
      {Feature::memfd_seals_preserved, false, true, true, true},      // §3.8
      {Feature::memfd_size_limit, false, true, true, true},           // §3.8
      {Feature::serialize_lock, false, false, true, true},            // §2.3, §5.2
  };
  for (const auto& row : table) {
    const auto f = static_cast<int>(row.feature);
    EXPECT_EQ(profile_has(KernelProfile::v6_19, row.feature), row.v6_19) << f;
    EXPECT_EQ(profile_has(KernelProfile::v7_0, row.feature), row.v7_0) << f;
    EXPECT_EQ(profile_has(KernelProfile::v7_2, row.feature), row.v7_2) << f;
    EXPECT_EQ(profile_has(KernelProfile::v7_3, row.feature), row.v7_3) << f;
  }
}

TEST(MachineTablesTest, ProfileNamesParseBack) {
  std::set<std::string_view> names;
  for (KernelProfile p : kAllProfiles) {
    EXPECT_TRUE(names.insert(profile_name(p)).second);
    EXPECT_EQ(parse_profile(profile_name(p)), p);
  }
  // 7.1 has the 7.0 ABI (§0 timeline, §7).
  EXPECT_EQ(parse_profile("7.1"), KernelProfile::v7_0);
  EXPECT_EQ(parse_profile("6.18"), std::nullopt);
  EXPECT_EQ(parse_profile(""), std::nullopt);
}

TEST(MachineTablesTest, ProfileSetWithAndWithoutPartitionProfiles) {
  const auto with = ProfileSet::with(Feature::legacy_limits);
  const auto without = ProfileSet::without(Feature::legacy_limits);
  for (KernelProfile p : kAllProfiles) {
    EXPECT_NE(with.contains(p), without.contains(p)) << profile_name(p);
  }
  EXPECT_TRUE(ProfileSet::all().is_all());
  EXPECT_FALSE(with.is_all());
  EXPECT_FALSE(ProfileSet().contains(KernelProfile::v7_2));
}

TEST(MachineTablesTest, OutcomeMatchesObservedResult) {
  EXPECT_TRUE(Outcome::success().matches(0));
  EXPECT_FALSE(Outcome::success().matches(EBUSY));
  EXPECT_TRUE(Outcome::fail(Errno::ebusy).matches(EBUSY));
  EXPECT_FALSE(Outcome::fail(Errno::ebusy).matches(0));
  EXPECT_FALSE(Outcome::fail(Errno::ebusy).matches(EINVAL));
  // A handler's errno is whatever it returns, but never success.
  EXPECT_TRUE(Outcome::handler().matches(EOPNOTSUPP));
  EXPECT_FALSE(Outcome::handler().matches(0));
  // A call that blocks never returns, and undefined behaviour is never a valid explanation.
  EXPECT_FALSE(Outcome::blocks().matches(0));
  EXPECT_FALSE(Outcome::undefined().matches(0));
  EXPECT_FALSE(Outcome::undefined().matches(EINVAL));
}

// ---- decide / resolve on concrete cells ------------------------------------------------

// All facts known and false: the `always` row alone, determined.
TEST(DecideTest, AllFactsFalseIsDeterminedSuccess) {
  const auto d = decide(kDeviceMachine, DeviceState::open, DeviceEvent::create_session,
                        KernelProfile::v7_2, Facts{});
  ASSERT_TRUE(d.determined());
  EXPECT_EQ(d.size(), 1U);
  EXPECT_TRUE(d.first().outcome.ok());
  EXPECT_EQ(d.first().guard, Guard::always);
}

// §1.4: a duplicate name is EEXIST; §8: EMFILE comes first even for a duplicate name.
TEST(DecideTest, KnownTrueGuardDeterminesAndStops) {
  Facts dup;
  dup.set(Guard::name_in_use, true);
  auto d = decide(kDeviceMachine, DeviceState::open, DeviceEvent::create_session,
                  KernelProfile::v7_2, dup);
  ASSERT_TRUE(d.determined());
  EXPECT_EQ(d.size(), 1U);
  EXPECT_EQ(d.first().outcome, Outcome::fail(Errno::eexist));

  dup.set(Guard::no_free_fd, true);
  d = decide(kDeviceMachine, DeviceState::open, DeviceEvent::create_session, KernelProfile::v7_2,
             dup);
  ASSERT_TRUE(d.determined());
  EXPECT_EQ(d.first().outcome, Outcome::fail(Errno::emfile));
  EXPECT_EQ(&select(kDeviceMachine, DeviceState::open, DeviceEvent::create_session,
                    KernelProfile::v7_2, dup),
            &d.first());
}

// With nothing known, every row of the cell is a candidate and the kernel's answer picks one.
TEST(DecideTest, UnknownFactsGiveCandidatesResolvedByObservedErrno) {
  const auto facts = Facts::all_unknown();
  const auto d72 = decide(kDeviceMachine, DeviceState::open, DeviceEvent::create_session,
                          KernelProfile::v7_2, facts);
  EXPECT_FALSE(d72.determined());
  EXPECT_GT(d72.size(), 1U);
  // The last candidate is the unconditional one.
  EXPECT_EQ(d72.candidate(d72.size() - 1).guard, Guard::always);

  // §1.4 CREATE_SESSION errnos on 7.2: EMFILE, EINVAL, EEXIST, ENOMEM, EFAULT, or success.
  ASSERT_NE(d72.resolve(EMFILE), nullptr);
  EXPECT_EQ(d72.resolve(EMFILE)->guard, Guard::no_free_fd);
  ASSERT_NE(d72.resolve(EINVAL), nullptr);
  EXPECT_EQ(d72.resolve(EINVAL)->guard, Guard::name_invalid);
  ASSERT_NE(d72.resolve(EEXIST), nullptr);
  EXPECT_EQ(d72.resolve(EEXIST)->guard, Guard::name_in_use);
  ASSERT_NE(d72.resolve(ENOMEM), nullptr);
  EXPECT_EQ(d72.resolve(ENOMEM)->outcome, Outcome::fail(Errno::enomem));
  ASSERT_NE(d72.resolve(EFAULT), nullptr);
  EXPECT_EQ(d72.resolve(EFAULT)->guard, Guard::copy_back_fault);
  ASSERT_NE(d72.resolve(0), nullptr);
  EXPECT_TRUE(d72.resolve(0)->outcome.ok());
  // No CREATE_SESSION row gives EBUSY: the kernel did something the model does not allow.
  EXPECT_EQ(d72.resolve(EBUSY), nullptr);
  EXPECT_EQ(d72.resolve(ENOSPC), nullptr);

  // 6.19 has no name validation (§2.2): an EINVAL from CREATE_SESSION has no explanation.
  const auto d619 = decide(kDeviceMachine, DeviceState::open, DeviceEvent::create_session,
                           KernelProfile::v6_19, facts);
  EXPECT_EQ(d619.resolve(EINVAL), nullptr);
  ASSERT_NE(d619.resolve(ENOMEM), nullptr);
  EXPECT_EQ(d619.resolve(ENOMEM)->outcome, Outcome::fail(Errno::enomem));
}

// resolve() takes the first matching candidate in kernel check order: with the token unknown
// and the fd known invalid, PRESERVE_FD can end in EEXIST (check 1) or EBADF (check 3) only.
TEST(DecideTest, MixedFactsStopAtFirstKnownTrueGuard) {
  Facts f;
  f.set(Guard::token_in_use, Truth::unknown).set(Guard::fd_invalid, true);
  const auto d = decide(kOutgoingSessionMachine, OutgoingSessionState::preserving,
                        OutgoingSessionEvent::preserve_fd, KernelProfile::v7_2, f);
  EXPECT_FALSE(d.determined());
  ASSERT_EQ(d.size(), 2U);
  EXPECT_EQ(d.candidate(0).guard, Guard::token_in_use);
  EXPECT_EQ(d.candidate(1).guard, Guard::fd_invalid);
  ASSERT_NE(d.resolve(EBADF), nullptr);
  EXPECT_EQ(d.resolve(EBADF)->guard, Guard::fd_invalid);
  ASSERT_NE(d.resolve(EEXIST), nullptr);
  EXPECT_EQ(d.resolve(EEXIST)->guard, Guard::token_in_use);
  EXPECT_EQ(d.resolve(ENOENT), nullptr);
  EXPECT_EQ(d.resolve(0), nullptr);
}

// §3.1: the check order of PRESERVE_FD as the candidates' errnos, per profile.
TEST(DecideTest, PreserveFdCandidatesFollowSpecCheckOrder) {
  const auto errno_order = [](KernelProfile p) {
    const auto d = decide(kOutgoingSessionMachine, OutgoingSessionState::created,
                          OutgoingSessionEvent::preserve_fd, p, Facts::all_unknown());
    std::vector<Errno> out;
    for (std::size_t i = 0; i < d.size(); ++i) {
      const auto& o = d.candidate(i).outcome;
      if (o.kind == OutcomeKind::failure)
        out.push_back(o.error);
    }
    return out;
  };
  // The spec's errnos in order; the model may add others (ENOMEM) in between.
  const auto is_subsequence = [](const std::vector<Errno>& want, const std::vector<Errno>& got) {
    auto it = got.begin();
    for (Errno e : want) {
      it = std::find(it, got.end(), e);
      if (it == got.end())
        return false;
      ++it;
    }
    return true;
  };
  const auto legacy6 = errno_order(KernelProfile::v6_19);
  EXPECT_TRUE(is_subsequence(
      {Errno::eexist, Errno::enospc, Errno::ebadf, Errno::enoent, Errno::efault}, legacy6));
  // 6.19 has no double-preservation check.
  EXPECT_EQ(std::count(legacy6.begin(), legacy6.end(), Errno::ebusy), 0);
  EXPECT_TRUE(is_subsequence(
      {Errno::eexist, Errno::enospc, Errno::ebadf, Errno::enoent, Errno::ebusy, Errno::efault},
      errno_order(KernelProfile::v7_0)));
  for (KernelProfile p : {KernelProfile::v7_2, KernelProfile::v7_3}) {
    const auto order = errno_order(p);
    EXPECT_TRUE(is_subsequence(
        {Errno::eexist, Errno::ebadf, Errno::enoent, Errno::ebusy, Errno::efault}, order));
    // The file limit is gone in 7.2 (§2.6): no ENOSPC at all.
    EXPECT_EQ(std::count(order.begin(), order.end(), Errno::enospc), 0);
  }

  // The handler's own error (memfd: EOPNOTSUPP, EFBIG, §3.8) passes through.
  const auto d =
      decide(kOutgoingSessionMachine, OutgoingSessionState::created,
             OutgoingSessionEvent::preserve_fd, KernelProfile::v7_2, Facts::all_unknown());
  ASSERT_NE(d.resolve(EFBIG), nullptr);
  EXPECT_EQ(d.resolve(EFBIG)->outcome.kind, OutcomeKind::handler_error);
}

// §1.4 / §8: FINISH's reserved field is ignored before 7.2 and EINVAL from 7.2.
TEST(DecideTest, FinishReservedCellPerProfile) {
  Facts f;
  f.set(Guard::reserved_nonzero, true);
  for (KernelProfile p : kAllProfiles) {
    const auto d = decide(kIncomingSessionMachine, IncomingSessionState::retrieved,
                          IncomingSessionEvent::finish, p, f);
    ASSERT_TRUE(d.determined()) << profile_name(p);
    if (profile_has(p, Feature::finish_reserved_checked)) {
      EXPECT_EQ(d.first().outcome, Outcome::fail(Errno::einval)) << profile_name(p);
      EXPECT_EQ(d.first().to, IncomingSessionState::retrieved);
    } else {
      EXPECT_TRUE(d.first().outcome.ok()) << profile_name(p);
      EXPECT_EQ(d.first().to, IncomingSessionState::finished);
    }
  }
}

// §2.5: the 7.2 session-type check is unconditional: no fact can make RETRIEVE_FD on an
// outgoing session anything but EINVAL.
TEST(DecideTest, SessionTypeCheckIsUnconditionalOn72) {
  const auto d =
      decide(kOutgoingSessionMachine, OutgoingSessionState::preserving,
             OutgoingSessionEvent::retrieve_fd, KernelProfile::v7_2, Facts::all_unknown());
  ASSERT_TRUE(d.determined());
  EXPECT_EQ(d.size(), 1U);
  EXPECT_EQ(d.first().outcome, Outcome::fail(Errno::einval));
  // Before 7.2 the same call is undefined behaviour: nothing the kernel returns resolves it
  // to the final row.
  const auto old = decide(kOutgoingSessionMachine, OutgoingSessionState::preserving,
                          OutgoingSessionEvent::retrieve_fd, KernelProfile::v7_0, Facts{});
  ASSERT_TRUE(old.determined());
  EXPECT_EQ(old.first().outcome.kind, OutcomeKind::undefined);
  EXPECT_EQ(old.resolve(0), nullptr);
}

// §3.2: the sticky failure of 7.0+ keeps the file failed; 6.19 leaves it restorable.
TEST(DecideTest, RetrieveFailureStickinessPerProfile) {
  Facts f;
  f.set(Guard::handler_fails, true);
  for (KernelProfile p : kAllProfiles) {
    const auto& row = select(kFileMachine, FileState::restorable, FileEvent::retrieve, p, f);
    EXPECT_EQ(row.outcome.kind, OutcomeKind::handler_error) << profile_name(p);
    EXPECT_EQ(row.to, profile_has(p, Feature::sticky_retrieve_failure) ? FileState::retrieve_failed
                                                                       : FileState::restorable)
        << profile_name(p);
  }
}

// §2.3, §5.2: once reboot serialization succeeded, 7.2 holds the serialize lock for good, so
// session ioctls that reach it (dispatch step 7, §1.3) and close block; before 7.2 nothing
// orders a racing call against the reboot: undefined. The session-type check is dispatch step
// 4, before the lock (§1.3; §8 confirms it precedes the copy-in of step 6), so RETRIEVE_FD and
// FINISH on a frozen outgoing session still return EINVAL at once on 7.2+.
// SPEC DISAGREEMENT (7.2/7.3 retrieve_fd and finish): kFrozenRows make them block.
TEST(DecideTest, FrozenOutgoingSessionCells) {
  using OE = OutgoingSessionEvent;
  for (KernelProfile p : kAllProfiles) {
    SCOPED_TRACE(std::string(profile_name(p)));
    const auto at = [&](OE e) {
      return select(kOutgoingSessionMachine, OutgoingSessionState::frozen, e, p,
                    Facts::all_unknown())
          .outcome;
    };
    const bool locked = profile_has(p, Feature::serialize_lock);
    const Outcome lock_or_race = locked ? Outcome::blocks() : Outcome::undefined();
    EXPECT_EQ(at(OE::preserve_fd), lock_or_race);
    EXPECT_EQ(at(OE::get_name), lock_or_race);
    EXPECT_EQ(at(OE::release), lock_or_race);
    if (profile_has(p, Feature::session_type_check)) {
      EXPECT_EQ(at(OE::retrieve_fd), Outcome::fail(Errno::einval));
      EXPECT_EQ(at(OE::finish), Outcome::fail(Errno::einval));
    } else {
      EXPECT_EQ(at(OE::retrieve_fd), Outcome::undefined());
      EXPECT_EQ(at(OE::finish), Outcome::undefined());
    }
    // The jump hands the session over (§5.3).
    const auto& jump =
        select(kOutgoingSessionMachine, OutgoingSessionState::frozen, OE::reboot, p, Facts{});
    EXPECT_TRUE(jump.outcome.ok());
    EXPECT_EQ(jump.to, OutgoingSessionState::handed_over);
  }
}

// §2.3 rollback: a frozen session returns to `preserving`, or to `created` when empty.
TEST(DecideTest, RollbackRestoresPreFreezeState) {
  Facts with_files;
  with_files.set(Guard::has_files, true);
  for (KernelProfile p : kAllProfiles) {
    EXPECT_EQ(select(kOutgoingSessionMachine, OutgoingSessionState::frozen,
                     OutgoingSessionEvent::rollback, p, with_files)
                  .to,
              OutgoingSessionState::preserving);
    EXPECT_EQ(select(kOutgoingSessionMachine, OutgoingSessionState::frozen,
                     OutgoingSessionEvent::rollback, p, Facts{})
                  .to,
              OutgoingSessionState::created);
  }
}

}  // namespace
}  // namespace luo
