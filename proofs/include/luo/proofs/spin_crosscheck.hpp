// luo/proofs/spin_crosscheck.hpp: the same bounded world checked by SPIN, compared with check().
//
// spin_crosscheck() writes to_promela(bounds) into a fresh directory, runs `spin -a`, compiles
// pan.c (exact storage: no bitstate, no hash compaction; partial-order reduction off), runs pan
// and reads its report, then runs check() on the same bounds without symmetry reduction and
// compares:
//   - SPIN's "states, stored" of the safety run with check()'s `distinct`, exactly;
//   - every state and transition property: violated in check() iff pan reports
//     "assertion violated <property>" (one pan -c0 run reports each broken assertion);
//   - eventually_delivered: violated in check() iff pan finds an acceptance cycle under weak
//     fairness (pan -a -f) for some entry's claim; only the verdict, since the product with the
//     claim and the fairness copies make SPIN count other states.
// Anything else pan reports (a selector that met a cell without a row, a search cut short by the
// depth limit) is an error of the cross-check, never an agreement.
//
//   if (auto missing = luo::proofs::spin_missing(); !missing.empty()) skip(missing);
//   auto x = luo::proofs::spin_crosscheck(bounds);
//   std::cout << luo::proofs::to_text(x);                    // side by side
//   if (!x.agree()) fail();
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "luo/proofs/checker.hpp"

namespace luo::proofs {

struct SpinOptions {
  std::string spin = "spin";
  std::string cc;        // empty: gcc, else cc, from PATH
  std::string work_dir;  // empty: a new directory in $TMPDIR (or /tmp), removed afterwards
  bool liveness = true;  // also the eventually_delivered claims (pan -a -f)
  int optimize = 0;      // pan.c's -O level: 0 compiles fastest, 2 runs fastest
  std::uint64_t max_depth = 1'000'000;  // pan -m
};

// One pan run.
struct PanRun {
  std::string claim;                  // pan -N
  std::uint64_t states = 0;           // "states, stored"
  std::uint64_t errors = 0;           // "errors: N"
  double seconds = 0;                 // wall time
  bool complete = false;              // the report was read and the depth limit was not hit
  std::vector<std::string> messages;  // distinct "pan:N: <message>" texts, in order of appearance
};

// SPIN's side alone.
struct SpinResult {
  std::uint64_t states = 0;                               // "states, stored" of the safety run
  std::array<PropertyStatus, kPropertyCount> verdicts{};  // not_checked unless a run judged it
  std::vector<PanRun> runs;
  double seconds = 0;        // the pan runs
  double build_seconds = 0;  // spin -a and the C compiler
  std::string error;         // a tool failed or pan reported something no property explains
};

struct PropertyAgreement {
  PropertyId id;
  PropertyStatus ours = PropertyStatus::not_checked;
  PropertyStatus spin = PropertyStatus::not_checked;
  bool agree() const { return ours == spin; }
};

struct CrossCheck {
  Bounds bounds;
  std::uint64_t our_states = 0;               // check()'s distinct, without symmetry reduction
  std::uint64_t spin_states = 0;              // pan's "states, stored" of the safety run
  double our_seconds = 0;                     // check(), liveness included
  double spin_seconds = 0;                    // the pan runs
  double build_seconds = 0;                   // spin -a and the C compiler
  std::vector<PropertyAgreement> properties;  // in kProperties order
  std::vector<PanRun> runs;
  std::string error;

  bool agree() const;
};

// Empty when `spin` and a C compiler are on PATH; else what is missing, for a skip message.
std::string spin_missing(const SpinOptions& options = {});

// check() without symmetry reduction, run_spin() on to_promela(bounds), compare(). Throws
// PromelaUnsupported (promela.hpp), before any search, for bounds the Promela twin does not model.
CrossCheck spin_crosscheck(const Bounds& bounds, const SpinOptions& options = {});

// The parts, for callers that bring their own model text (the tests feed it a broken one).
// `bounds` names the claims and sizes pan; `expected_states` only sizes pan's hash table.
SpinResult run_spin(const Bounds& bounds, const std::string& promela, const SpinOptions& options,
                    std::uint64_t expected_states = 0);
CrossCheck compare(const CheckResult& ours, const SpinResult& spin);

// The side-by-side table.
std::string to_text(const CrossCheck& x);

}  // namespace luo::proofs
