// luo/test/mutants.hpp: deliberate bugs for the mutation report (tests/mutants/), selectable at
// run time, compiled only into the test-only copies of the libraries.
//
// impl/ and adapters/ sources mark each mutation point with `#ifdef LUO_TEST_MUTANTS`. The
// shipped libraries (luo_impl, luo_adapters) are built without that definition, so they contain
// no mutation point at all; tests/mutants/CMakeLists.txt builds luo_impl_mutants and
// luo_adapters_mutants from the same sources with it, and links them only into
// luo_mutation_report_tests. That binary runs every property once per mutant and asserts that
// some property fails (docs/property-tests.md lists which one catches which mutant).
//
//   #ifdef LUO_TEST_MUTANTS
//     if (LUO_MUTANT(fifo_unpreserve)) { ... the bug ... }
//   #endif
#pragma once

#include <cstdint>
#include <string_view>

namespace luo::test {

enum class Mutant : std::uint8_t {
  none,
  // simulator: a second RETRIEVE_FD of a retrieved file hands out a fresh copy, not the same
  // open file description
  retrieve_not_idempotent,
  // simulator: FINISH leaves never-retrieved files preserved instead of discarding them
  finish_keeps_unretrieved,
  // simulator: closing an outgoing session unpreserves its files oldest first
  fifo_unpreserve,
  // simulator: PRESERVE_FD of a file already preserved elsewhere succeeds on 7.0+
  no_double_preservation_ebusy,
  // impl: HeldFds keeps held entries when their owner is loaded instead of dispatching them
  never_retry_held,
  // simulator: kexec() hands a memfd over with its file position reset to 0
  freeze_forgets_position,
  // impl: a lowered FileDescriptorStoreMax= drops the oldest entries instead of the newest
  truncate_drops_oldest,
  // impl: an fd the kernel refused in Stage B still uses up a token (tokens not dense)
  stage_b_token_gaps,
  // impl: FDSTOREREMOVE=1 removes only the newest entry of that name, not all of them
  remove_only_first,
  // simulator: FINISH keeps retrieved files in the double-preservation table (EBUSY forever)
  finish_keeps_preservation_entry,
  // impl: after PRESERVE_FD's copy-back fault the session forgets the token the kernel kept
  copy_back_forgets_token,
  // impl: HandoffManager lets Stage B run in `running`, before Stage A listed anything
  stage_b_before_stage_a,
};

inline constexpr Mutant kAllMutants[] = {
    Mutant::retrieve_not_idempotent, Mutant::finish_keeps_unretrieved,
    Mutant::fifo_unpreserve,         Mutant::no_double_preservation_ebusy,
    Mutant::never_retry_held,        Mutant::freeze_forgets_position,
    Mutant::truncate_drops_oldest,   Mutant::stage_b_token_gaps,
    Mutant::remove_only_first,       Mutant::finish_keeps_preservation_entry,
    Mutant::copy_back_forgets_token, Mutant::stage_b_before_stage_a,
};

// Mutants of the HandoffManager object: besides a property, the walk over every row of
// kHandoffMachine must catch each of them.
inline constexpr Mutant kObjectMutants[] = {Mutant::stage_b_before_stage_a};

constexpr std::string_view mutant_name(Mutant m) {
  switch (m) {
    case Mutant::none:
      return "none";
    case Mutant::retrieve_not_idempotent:
      return "retrieve_not_idempotent";
    case Mutant::finish_keeps_unretrieved:
      return "finish_keeps_unretrieved";
    case Mutant::fifo_unpreserve:
      return "fifo_unpreserve";
    case Mutant::no_double_preservation_ebusy:
      return "no_double_preservation_ebusy";
    case Mutant::never_retry_held:
      return "never_retry_held";
    case Mutant::freeze_forgets_position:
      return "freeze_forgets_position";
    case Mutant::truncate_drops_oldest:
      return "truncate_drops_oldest";
    case Mutant::stage_b_token_gaps:
      return "stage_b_token_gaps";
    case Mutant::remove_only_first:
      return "remove_only_first";
    case Mutant::finish_keeps_preservation_entry:
      return "finish_keeps_preservation_entry";
    case Mutant::copy_back_forgets_token:
      return "copy_back_forgets_token";
    case Mutant::stage_b_before_stage_a:
      return "stage_b_before_stage_a";
  }
  return "?";
}

// The mutant in effect; Mutant::none unless a test selected one. Defined in mutants.cpp, which
// only the mutant copies of the libraries contain.
Mutant active_mutant();
void set_active_mutant(Mutant m);

}  // namespace luo::test

#define LUO_MUTANT(name) (::luo::test::active_mutant() == ::luo::test::Mutant::name)
