#!/usr/bin/env bash
# The main job: set up, build, and run the lifecycle demonstration (a full simulated
# preserve -> kexec -> retrieve cycle through impl/ and the kernel simulator, every transition
# printed, checked against the model). Extra arguments go to `luo-lifecycle demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh default
exec build/default/cli/luo-lifecycle demo "$@"
