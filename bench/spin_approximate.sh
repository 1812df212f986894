#!/usr/bin/env bash
# SPIN's approximate modes on the generated Promela, measured against exact storage (not run by
# CI): what bitstate hashing and a swarm of small bitstate runs cover, at a size one machine can
# still check exactly, so their coverage is known before they are used beyond it.
#
#   bench/spin_approximate.sh [LUO_LIFECYCLE]     default: build/default/cli/luo-lifecycle
#
# On `luo-lifecycle check --promela --no-liveness SIZE` (safety properties only):
#  - exact: pan -DSAFETY -DNOREDUCE -DNOCLAIM, full state vectors (the reference count);
#  - bitstate: the same with -DBITSTATE, one run per bitmap size -w20 .. -w30 (2^N bits; pan's
#    default 3 hash functions), states found and their share of the exact count;
#  - swarm: RUNS bitstate runs with a small bitmap (-w$SWARM_W), each with its own hash function
#    (-hN, pan's numbered ones) and its own transition order (-DT_RAND, seeded by -RS), the way
#    SPIN's swarm tool spreads a search over many small, diverse runs (the tool itself is not
#    packaged by Debian); each run's states, and for each mutant how many runs find its
#    violation (the question a swarm answers) next to what this checker finds exactly at the
#    same size (a mutant may need other bounds to show: then neither does).
# SIZE (check options) defaults to the default bounds; RUNS to 8; SWARM_W to 20.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${1:-build/default/cli/luo-lifecycle}
size=${SIZE:---owners 2 --fds 2 --sessions 1 --kexecs 2 --faults 1}
runs=${RUNS:-8}
swarm_w=${SWARM_W:-20}
[[ -x $tool ]] || { echo "spin_approximate: $tool not built" >&2; exit 2; }
command -v spin >/dev/null || { echo "spin_approximate: spin not installed" >&2; exit 2; }
cc=$(command -v gcc || command -v cc) || { echo "spin_approximate: no C compiler" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
read -r -a opts <<< "$size"

flags=(-O2 -w -DSAFETY -DNOREDUCE -DNOCLAIM -DVECTORSZ=4096)
# build DIR MODEL_OPTS...: the Promela of SIZE (+ MODEL_OPTS) and three pans in DIR.
build() {
  local dir=$1; shift
  mkdir -p "$dir"
  "$tool" check --promela --no-liveness "${opts[@]}" "$@" > "$dir/model.pml"
  (cd "$dir" && spin -a model.pml > /dev/null &&
    "$cc" "${flags[@]}" -o exact pan.c &&
    "$cc" "${flags[@]}" -DBITSTATE -o bits pan.c &&
    "$cc" "${flags[@]}" -DBITSTATE -DT_RAND -o swarm pan.c)
}
stored() { sed -nE 's/^ *([0-9]+) states, stored.*/\1/p' "$1"; }
errors() { sed -nE 's/.*errors: ([0-9]+).*/\1/p' "$1" | head -1; }
elapsed() { sed -nE 's/.*elapsed time ([0-9.e+-]+) seconds.*/\1/p' "$1" | head -1; }
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f%%", (b > 0 ? 100 * a / b : 0) }'; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(spin -V | head -1)"
echo "size: $size"
build "$work/good"
(cd "$work/good" && ./exact -n -c0 -m1000000 -w26 > exact.log 2>&1) || true
exact=$(stored "$work/good/exact.log")
echo "exact: $exact states, $(elapsed "$work/good/exact.log") s"
echo
echo "bitstate (one run, 3 hash functions)"
printf '%-6s %12s %12s %10s %8s\n' "-w" "bitmap" "states" "of exact" "s"
for w in 20 22 24 26 28 30; do
  (cd "$work/good" && ./bits -n -c0 -m1000000 -w"$w" > "bits$w.log" 2>&1) || true
  n=$(stored "$work/good/bits$w.log")
  printf '%-6s %9s KiB %12s %10s %8s\n' "-w$w" "$(( (1 << w) / 8 / 1024 ))" "$n" "$(share "$n" "$exact")" \
    "$(elapsed "$work/good/bits$w.log")"
done
echo
echo "swarm: $runs runs, -w$swarm_w ($(( (1 << swarm_w) / 8 / 1024 )) KiB each), own seed and transition order"
total=0
for ((r = 1; r <= runs; ++r)); do
  (cd "$work/good" && ./swarm -n -c0 -m1000000 -w"$swarm_w" -RS$((r * 7919)) -h$r > "swarm$r.log" 2>&1) || true
  n=$(stored "$work/good/swarm$r.log")
  total=$((total + n))
  printf '  run %d: %10s states (%s of exact)\n' "$r" "$n" "$(share "$n" "$exact")"
done
echo "  sum over runs: $total (runs overlap: the sum is not the union)"
echo
echo "mutants: violated exactly (luo-lifecycle check) | swarm runs that found an error"
for m in $("$tool" check --help | sed -n 's/^mutants: //p'); do
  exact_verdict=holds
  "$tool" check --quiet --no-liveness --jobs "$(nproc)" --mutant "$m" "${opts[@]}" > /dev/null ||
    exact_verdict=VIOLATED
  mkdir -p "$work/$m"
  "$tool" check --promela --no-liveness --mutant "$m" "${opts[@]}" > "$work/$m/model.pml"
  (cd "$work/$m" && spin -a model.pml > /dev/null && "$cc" "${flags[@]}" -DBITSTATE -DT_RAND -o swarm pan.c)
  found=0
  for ((r = 1; r <= runs; ++r)); do
    (cd "$work/$m" && ./swarm -n -c1 -m1000000 -w"$swarm_w" -RS$((r * 7919)) -h$r > "swarm$r.log" 2>&1) || true
    e=$(errors "$work/$m/swarm$r.log")
    [[ -n $e && $e != 0 ]] && found=$((found + 1))
  done
  printf '  %-26s %-9s | %d of %d\n' "$m" "$exact_verdict" "$found" "$runs"
  rm -rf "${work:?}/$m"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
