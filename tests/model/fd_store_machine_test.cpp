// The fd-store entry and kexec-handoff machines (spec systemd-luo.md §1.7, §2.4, §3).
#include <gtest/gtest.h>

#include "luo/model/fd_store_limits.hpp"
#include "luo/model/fd_store_machine.hpp"

namespace luo {
namespace {

FdEntryState entry(FdEntryState s, FdEntryEvent e, Guard g = Guard::always) {
  Facts f;
  if (g != Guard::always)
    f.set(g, true);
  return select(kFdEntryMachine, s, e, kDefaultProfile, f).to;
}

TEST(FdEntryMachine, TheHappyPathGoesAroundToStoredAgain) {
  auto s = FdEntryState::stored;
  for (auto [event, expected] : {std::pair{FdEntryEvent::stage, FdEntryState::staged},
                                 {FdEntryEvent::preserve, FdEntryState::preserved},
                                 {FdEntryEvent::kexec, FdEntryState::handed_over},
                                 {FdEntryEvent::restore, FdEntryState::restorable},
                                 {FdEntryEvent::dispatch, FdEntryState::stored}}) {
    s = entry(s, event);
    EXPECT_EQ(s, expected) << event_name(event);
  }
}

TEST(FdEntryMachine, EveryWayOutIsATerminalWithAReason) {
  EXPECT_EQ(entry(FdEntryState::stored, FdEntryEvent::stage, Guard::mode_not_preserved),
            FdEntryState::released);
  EXPECT_EQ(entry(FdEntryState::stored, FdEntryEvent::stage, Guard::reserved_session_name),
            FdEntryState::dropped);
  // §5.6: a session the manager retrieved is incoming; the kernel would not carry it.
  EXPECT_EQ(entry(FdEntryState::stored, FdEntryEvent::stage, Guard::incoming_session),
            FdEntryState::dropped);
  EXPECT_EQ(entry(FdEntryState::held, FdEntryEvent::stage, Guard::incoming_session),
            FdEntryState::dropped);
  // F1 (docs/reliability.md): the device itself, stored or held, never reaches Stage B.
  EXPECT_EQ(entry(FdEntryState::stored, FdEntryEvent::stage, Guard::luo_device),
            FdEntryState::dropped);
  EXPECT_EQ(entry(FdEntryState::held, FdEntryEvent::stage, Guard::luo_device),
            FdEntryState::dropped);
  // §9.6: an fd that cannot be told a session or not (GET_NAME: EBADF on an O_PATH fd) is
  // skipped at Stage A, as 262.1's PID 1 skips it.
  EXPECT_EQ(entry(FdEntryState::stored, FdEntryEvent::stage, Guard::session_detection_fails),
            FdEntryState::dropped);
  EXPECT_EQ(entry(FdEntryState::held, FdEntryEvent::stage, Guard::session_detection_fails),
            FdEntryState::dropped);
  EXPECT_EQ(entry(FdEntryState::staged, FdEntryEvent::preserve, Guard::preserve_fails),
            FdEntryState::lost);
  EXPECT_EQ(entry(FdEntryState::preserved, FdEntryEvent::reboot_fails), FdEntryState::lost);
  EXPECT_EQ(entry(FdEntryState::handed_over, FdEntryEvent::restore, Guard::mapping_unusable),
            FdEntryState::lost);
  EXPECT_EQ(entry(FdEntryState::restorable, FdEntryEvent::dispatch, Guard::store_full),
            FdEntryState::dropped);
  for (auto s :
       {FdEntryState::removed, FdEntryState::released, FdEntryState::dropped, FdEntryState::lost}) {
    EXPECT_TRUE(kFdEntryMachine.is_terminal(s)) << state_name(s);
  }
}

TEST(FdEntryMachine, UnknownOwnersAreHeldAndRetried) {
  EXPECT_EQ(entry(FdEntryState::restorable, FdEntryEvent::dispatch, Guard::owner_unknown),
            FdEntryState::held);
  EXPECT_EQ(entry(FdEntryState::held, FdEntryEvent::owner_loaded, Guard::owner_unknown),
            FdEntryState::held);
  EXPECT_EQ(entry(FdEntryState::held, FdEntryEvent::owner_loaded), FdEntryState::stored);
  EXPECT_EQ(entry(FdEntryState::held, FdEntryEvent::owner_loaded, Guard::store_full),
            FdEntryState::dropped);
  // Held entries are pinned like a not-found unit's: they go through the next kexec too.
  EXPECT_EQ(entry(FdEntryState::held, FdEntryEvent::stage), FdEntryState::staged);
}

TEST(FdEntryMachine, RefusalsCarryTheirErrno) {
  Facts f;
  f.set(Guard::store_full, true);
  const auto& row =
      select(kFdEntryMachine, FdEntryState::restorable, FdEntryEvent::dispatch, kDefaultProfile, f);
  EXPECT_EQ(row.outcome, Outcome::fail(Errno::exfull));
}

HandoffState handoff(HandoffState s, HandoffEvent e, Guard g = Guard::always) {
  Facts f;
  if (g != Guard::always)
    f.set(g, true);
  return select(kHandoffMachine, s, e, kDefaultProfile, f).to;
}

TEST(HandoffMachine, StagesInOrderAndFinishesOnEveryRestorePath) {
  EXPECT_EQ(handoff(HandoffState::running, HandoffEvent::stage_a), HandoffState::serialized);
  EXPECT_EQ(handoff(HandoffState::running, HandoffEvent::stage_a, Guard::nothing_to_hand_over),
            HandoffState::nothing);
  EXPECT_EQ(handoff(HandoffState::serialized, HandoffEvent::stage_b), HandoffState::preserved);
  for (Guard g :
       {Guard::luo_unavailable, Guard::held_elsewhere, Guard::name_in_use, Guard::preserve_fails}) {
    EXPECT_EQ(handoff(HandoffState::serialized, HandoffEvent::stage_b, g), HandoffState::nothing)
        << guard_name(g);
  }
  EXPECT_EQ(handoff(HandoffState::preserved, HandoffEvent::kexec), HandoffState::handed_over);
  EXPECT_EQ(handoff(HandoffState::preserved, HandoffEvent::reboot_fails), HandoffState::lost);
  EXPECT_EQ(handoff(HandoffState::running, HandoffEvent::retrieve_session, Guard::name_unknown),
            HandoffState::nothing);
  // §3.6.2 step 2: any other RETRIEVE_SESSION failure is a warning and nothing restored.
  EXPECT_EQ(handoff(HandoffState::running, HandoffEvent::retrieve_session, Guard::retrieve_fails),
            HandoffState::nothing);
  EXPECT_EQ(handoff(HandoffState::running, HandoffEvent::retrieve_session),
            HandoffState::restoring);
  EXPECT_EQ(handoff(HandoffState::restoring, HandoffEvent::finish), HandoffState::finished);
}

TEST(PreserveMode, SpellingsAndWhatSurvivesKexec) {
  EXPECT_EQ(parse_preserve_mode("on-success"), PreserveMode::on_success);
  EXPECT_EQ(parse_preserve_mode("true"), PreserveMode::yes);
  EXPECT_EQ(parse_preserve_mode("off"), PreserveMode::no);
  EXPECT_EQ(parse_preserve_mode("sometimes"), std::nullopt);
  EXPECT_TRUE(preserved_across_kexec(PreserveMode::yes));
  EXPECT_TRUE(preserved_across_kexec(PreserveMode::on_success));
  EXPECT_FALSE(preserved_across_kexec(PreserveMode::restart));
  EXPECT_FALSE(preserved_across_kexec(PreserveMode::no));
  for (PreserveMode m : kAllPreserveModes) {
    EXPECT_EQ(parse_preserve_mode(preserve_mode_name(m)), m);
  }
}

// systemd's parse_boolean(): six words each way, any case, nothing else. The one parser of it
// (luo/model/boolean.hpp) serves FileDescriptorStorePreserve= and the serialized poll flag.
TEST(Boolean, SystemdSpellingsInAnyCase) {
  for (const char* t : {"1", "yes", "y", "true", "t", "on", "YES", "Y", "True", "T", "oN"})
    EXPECT_EQ(parse_boolean(t), true) << t;
  for (const char* f : {"0", "no", "n", "false", "f", "off", "NO", "N", "False", "F", "OFF"})
    EXPECT_EQ(parse_boolean(f), false) << f;
  for (const char* bad : {"", "2", "yess", " yes", "yes ", "of", "nope", "01"})
    EXPECT_EQ(parse_boolean(bad), std::nullopt) << '"' << bad << '"';
  static_assert(parse_boolean("On") == true, "usable at compile time");
}

// A boolean first, as systemd's string-table-with-boolean lookup: every boolean spelling is yes
// or no; the other words are case-sensitive, as in systemd's table.
TEST(PreserveMode, BooleansFirstThenCaseSensitiveWords) {
  EXPECT_EQ(parse_preserve_mode("Y"), PreserveMode::yes);
  EXPECT_EQ(parse_preserve_mode("t"), PreserveMode::yes);
  EXPECT_EQ(parse_preserve_mode("N"), PreserveMode::no);
  EXPECT_EQ(parse_preserve_mode("FALSE"), PreserveMode::no);
  EXPECT_EQ(parse_preserve_mode("restart"), PreserveMode::restart);
  EXPECT_EQ(parse_preserve_mode("Restart"), std::nullopt);
}

TEST(FdName, ValidityRules) {
  EXPECT_TRUE(fdname_is_valid(""));
  EXPECT_TRUE(fdname_is_valid("stored"));
  EXPECT_TRUE(fdname_is_valid(std::string(255, 'x')));
  EXPECT_FALSE(fdname_is_valid(std::string(256, 'x')));
  EXPECT_FALSE(fdname_is_valid("a:b"));
  EXPECT_FALSE(fdname_is_valid("new\nline"));
  EXPECT_FALSE(fdname_is_valid("\x7f"));
}

}  // namespace
}  // namespace luo
