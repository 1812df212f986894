#!/usr/bin/env bash
# Fails when a source file breaks the layering: model <- impl <- adapters <- capi, model <- proofs
# (the replay and the scenario library aside). The kernel simulator's independence is a build fact
# instead: it compiles with a view of the tree that holds only what it may use
# (cmake/base_layer.cmake).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
violation() { echo "layering: $1" >&2; status=1; }

while IFS= read -r hit; do violation "model/ must not include impl/ or adapters/: $hit"; done \
  < <(grep -rnE '#include "luo/(impl|adapters)/' model/ || true)
while IFS= read -r hit; do violation "impl/ must not include adapters/: $hit"; done \
  < <(grep -rnE '#include "luo/adapters/' impl/ || true)

# The checker explores millions of world states: its world and engine use model/ alone. Only
# the replay and the scenario library, which drive the real implementation, reach impl/ and
# adapters/.
while IFS= read -r hit; do violation "proofs/ (but proofs/replay/ and proofs/scenario/) must not include impl/ or adapters/: $hit"; done \
  < <(grep -rnE '#include "luo/(impl|adapters)/' proofs/include proofs/src || true)

while IFS= read -r hit; do violation "only tools, tests and examples may use the C API (capi/ sits on adapters/): $hit"; done \
  < <(grep -rnE '#include "luo/luo\.h"' model/ impl/ adapters/ || true)

# The simulator's independence (it uses only the vocabulary, the system layer and the uapi) is the
# build's: the headers it may include are the only ones its target can find
# (cmake/base_layer.cmake, ctest simulator_cannot_see_*). What no include path governs is a
# quoted include found beside the including file: the simulator's may name only its own
# simulated_*.hpp there, or go through the view (luo/...).
while IFS= read -r hit; do violation "the simulator includes past its view (only \"luo/...\" and its own \"simulated_*.hpp\"): $hit"; done \
  < <(grep -nE '#include "' adapters/src/simulated_* adapters/include/luo/adapters/simulated_kernel.hpp |
        grep -vE '#include "(luo/[a-z_/]+|simulated_[a-z_]+)\.hpp"' || true)

((status == 0)) && echo "layering: ok"
exit $status
