#!/usr/bin/env bash
# Runs PROGRAM [ARGS...] and fails unless it exits 0 and its output contains every TEXT.
#   examples/check-output.sh PROGRAM TEXT... [-- ARGS...]
set -uo pipefail
program=$1
shift
expected=()
while (($#)) && [[ $1 != -- ]]; do
  expected+=("$1")
  shift
done
[[ ${1:-} == -- ]] && shift
output=$("$program" "$@" 2>&1)
status=$?
printf '%s\n' "$output"
if ((status != 0)); then
  echo "check-output: $program exited with $status" >&2
  exit 1
fi
for text in "${expected[@]}"; do
  if ! grep -qF -- "$text" <<<"$output"; then
    echo "check-output: missing from the output: $text" >&2
    exit 1
  fi
done
