#!/usr/bin/env bash
# The whole test suite: set up, then build and run every test twice, in the normal build and
# under ASan+UBSan, plus the real-kernel tests (label `vm`: Debian's 7.2 and 7.3 kernels in qemu,
# built once and cached; skipped, visibly, when they cannot be built). Exits non-zero if anything
# fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --vm default asan
jobs=$(nproc 2>/dev/null || echo 2)
# A failing test prints its own output, so a failure seen once in CI can be read afterwards.
export CTEST_OUTPUT_ON_FAILURE=1
status=0
for preset in default asan; do
  echo "== tests: preset '$preset'"
  ctest --preset "$preset" -j "$jobs" || status=1
done
exit $status
