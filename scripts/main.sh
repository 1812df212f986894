#!/usr/bin/env bash
# The main job: set up, build, and run the bounded proof of the fd-store handoff with the
# default bounds (luo-lifecycle check): every reachable state of kernel + manager + services +
# kexec, with crashes and injected errnos, checked against every named property; prints the
# verdict table, what was not covered, and a counterexample for any violation. Exit status 0 only
# if every property holds. Extra arguments go to `luo-lifecycle check` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh default
exec build/default/cli/luo-lifecycle check "$@"
