#!/usr/bin/env bash
# Fails when a source file breaks the layering: model <- impl <- adapters <- capi, model <- proofs
# (the replay aside), and the kernel simulator (the tests' oracle) uses nothing of model/ beyond
# shared vocabulary, never the machines or their step functions.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
violation() { echo "layering: $1" >&2; status=1; }

while IFS= read -r hit; do violation "model/ must not include impl/ or adapters/: $hit"; done \
  < <(grep -rnE '#include "luo/(impl|adapters)/' model/ || true)
while IFS= read -r hit; do violation "impl/ must not include adapters/: $hit"; done \
  < <(grep -rnE '#include "luo/adapters/' impl/ || true)

# The checker explores millions of world states: its world and engine use model/ alone. Only
# the replay, which drives the real implementation, reaches impl/ and adapters/.
while IFS= read -r hit; do violation "proofs/ (but proofs/replay/) must not include impl/ or adapters/: $hit"; done \
  < <(grep -rnE '#include "luo/(impl|adapters)/' proofs/include proofs/src || true)

while IFS= read -r hit; do violation "only tools, tests and examples may use the C API (capi/ sits on adapters/): $hit"; done \
  < <(grep -rnE '#include "luo/luo\.h"' model/ impl/ adapters/ || true)

allowed='errno|limits|profile|session_name|handler_call'
while IFS= read -r hit; do violation "the simulator may use only model vocabulary ($allowed): $hit"; done \
  < <(grep -nE '#include "luo/model/' adapters/src/simulated_* adapters/include/luo/adapters/simulated_kernel.hpp \
      | grep -vE "luo/model/($allowed)\.hpp" || true)

((status == 0)) && echo "layering: ok"
exit $status
