#!/bin/sh
# Instructions per call of each variant in bench/transition_bench (the checked kernel
# transition, the bare switch, and the breakdown variants beside them), with callgrind (counts
# do not move with the machine's load):
#
#   bench/callgrind_transition.sh build/default/bench/transition_bench
#
# Each variant's count is the inclusive cost of its function (checked_preserve, switch_preserve,
# ...; none is inlined) over its number of calls. Build without -g: with line tables callgrind
# splits a function's cost by source file.
set -eu
bench=$1
out=${TMPDIR:-/tmp}/callgrind.transition.$$
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --benchmark_min_time=0.01 \
  >/dev/null 2>"$out.log" || { cat "$out.log"; exit 1; }
# The caller tree gives each function's inclusive cost (its `*` line) and its calls (the `<`
# lines of its callers just above), warm-up runs included (the benchmark's own iteration count
# leaves those out). Ratios are to the bare switch with the same knowledge of the profile.
callgrind_annotate --tree=caller --inclusive=yes --threshold=100 "$out" 2>/dev/null | awk '
  function num(s) { gsub(",", "", s); return s + 0 }
  function calls(line) { sub(/.*\(/, "", line); sub(/x\).*/, "", line); return num(line) }
  /^ *$/ { pending = 0; next }
  / < / { pending += calls($0); next }
  / \* .*::(checked|switch)_[a-z_]*\(/ {
    match($0, /::(checked|switch)_[a-z_]*\(/); name = substr($0, RSTART + 2, RLENGTH - 3)
    cost[name] += num($1); n[name] += pending; pending = 0
  }
  function per(f) { return n[f] ? cost[f] / n[f] : 0 }
  function row(label, f, base) {
    printf "%-58s %6.1f instructions per call (%d calls)", label, per(f), n[f]
    if (base != "" && per(base) > 0) printf "  %5.2fx", per(f) / per(base)
    printf "\n"
  }
  END {
    row("checked transition", "checked_preserve", "switch_preserve")
    row("bare switch", "switch_preserve", "")
    row("checked, only the facts 7.2 reads", "checked_reachable_facts", "switch_preserve")
    row("checked, profile known at run time", "checked_preserve_runtime_profile",
        "switch_preserve_runtime_profile")
    row("bare switch, profile known at run time", "switch_preserve_runtime_profile", "")
    row("PRESERVE_FD as LiveUpdate checks it, decide() each call", "checked_unknown_facts",
        "switch_preserve_runtime_profile")
    row("PRESERVE_FD as LiveUpdate checks it, remembered", "checked_remembered",
        "switch_preserve_runtime_profile")
  }'
rm -f "$out" "$out.log"
