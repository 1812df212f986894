#!/bin/sh
# Instructions per call of the checked kernel transition and of the bare switch in
# bench/transition_bench, with callgrind (counts do not move with the machine's load):
#
#   bench/callgrind_transition.sh build/default/bench/transition_bench
#
# Each variant's count is the inclusive cost of its function (checked_preserve, switch_preserve;
# neither is inlined) over its number of calls. Build without -g: with line tables callgrind
# splits a function's cost by source file.
set -eu
bench=$1
out=${TMPDIR:-/tmp}/callgrind.transition.$$
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --benchmark_min_time=0.01 \
  >/dev/null 2>"$out.log" || { cat "$out.log"; exit 1; }
# The caller tree gives each function's inclusive cost and its number of calls, warm-up runs
# included (the benchmark's own iteration count leaves those out).
callgrind_annotate --tree=caller --inclusive=yes --threshold=100 "$out" 2>/dev/null | awk '
  function cost(s) { gsub(",", "", s); return s + 0 }
  function calls(line) { sub(/.*\(/, "", line); sub(/x\).*/, "", line); gsub(",", "", line); return line + 0 }
  / < .*BM_CheckedTransition.*x\)/ { cc += calls($0) }
  / < .*BM_BareSwitch.*x\)/ { sc += calls($0) }
  / \* .*checked_preserve\(/ { c += cost($1) }
  / \* .*switch_preserve\(/ { s += cost($1) }
  END {
    printf "checked transition  %6.1f instructions per call (%d calls)\n", c / cc, cc
    printf "bare switch         %6.1f instructions per call (%d calls)\n", s / sc, sc
    printf "ratio               %6.2fx\n", (c / cc) / (s / sc)
  }'
rm -f "$out" "$out.log"
