#!/usr/bin/env bash
# Our checker against SPIN on the same generated model, side by side (not run by CI).
#
#   bench/checker_vs_spin.sh [LUO_LIFECYCLE]      default: build/default/cli/luo-lifecycle
#
# For each size: `luo-lifecycle check --no-liveness` unreduced and with --symmetry, and SPIN's
# exact mode on `luo-lifecycle check --promela --no-liveness` (spin -a; gcc -O2 -DSAFETY
# -DNOREDUCE -DNOCLAIM; ./pan -c0: full state vectors, no bitstate, no hash compaction, no
# partial-order reduction), all checking the same safety properties. Prints states, wall time
# and states/s; pan's compile time is shown apart. SPIN's count must equal ours (the script
# says MISMATCH otherwise). Liveness is left out on both sides: SPIN's fair-cycle search works
# on a product with the claim and the fairness copies, so its states are not comparable.
#
# SIZES (a ';'-separated list of check options) replaces the three default sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${1:-build/default/cli/luo-lifecycle}
[[ -x $tool ]] || { echo "checker_vs_spin: $tool not built" >&2; exit 2; }
command -v spin >/dev/null || { echo "checker_vs_spin: spin not installed (apt-get install spin)" >&2; exit 2; }
cc=$(command -v gcc || command -v cc) || { echo "checker_vs_spin: no C compiler" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

default_sizes="--owners 2 --fds 1 --sessions 1 --kexecs 2 --faults 1;\
--owners 3 --fds 1 --sessions 1 --kexecs 1 --faults 1;\
--owners 2 --fds 2 --sessions 1 --kexecs 2 --faults 1"
IFS=';' read -r -a sizes <<< "${SIZES:-$default_sizes}"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(spin -V | head -1)"
printf '%-58s | %-29s | %-42s | %-29s | %s\n' "" "ours, unreduced" "ours, --symmetry" \
  "SPIN exact (pan, gcc -O2)" "pan"
printf '%-58s | %10s %7s %10s | %10s (%10s) %7s %10s | %10s %7s %10s | %7s\n' \
  "size (check options)" states s st/s states unreduced s st/s states s st/s "cc s"
for size in "${sizes[@]}"; do
  read -r -a opts <<< "$size"
  t0=$(now)
  ours=$("$tool" check --no-liveness --quiet "${opts[@]}" | sed -n 2p)
  t1=$(now)
  sym=$("$tool" check --no-liveness --quiet --symmetry "${opts[@]}" | sed -n 2p)
  t2=$(now)
  n_ours=$(sed -E 's/^states: ([0-9]+) distinct.*/\1/' <<< "$ours")
  n_sym=$(sed -E 's/^states: ([0-9]+) distinct.*/\1/' <<< "$sym")
  w_ours=$(secs "$t0" "$t1")
  w_sym=$(secs "$t1" "$t2")

  "$tool" check --promela --no-liveness "${opts[@]}" > "$work/model.pml"
  (cd "$work" && rm -f pan pan.* && spin -a model.pml > spin.log)
  t3=$(now)
  (cd "$work" && "$cc" -O2 -w -DSAFETY -DNOREDUCE -DNOCLAIM -DVECTORSZ=4096 -o pan pan.c)
  t4=$(now)
  bits=$(awk -v n="$n_ours" 'BEGIN { b = 1; while (2 ^ b < n) b++; b++; if (b < 16) b = 16; if (b > 27) b = 27; print b }')
  (cd "$work" && ./pan -n -c0 -m1000000 -w"$bits" > pan.log 2>&1) || true
  t5=$(now)
  n_spin=$(sed -nE 's/^ *([0-9]+) states, stored.*/\1/p' "$work/pan.log")
  w_spin=$(secs "$t4" "$t5")
  grep -q "max search depth too small" "$work/pan.log" && n_spin="$n_spin(CUT)"
  [[ $n_spin == "$n_ours" ]] || n_spin="$n_spin MISMATCH"

  printf '%-58s | %10s %7s %10s | %10s (%10s) %7s %10s | %10s %7s %10s | %7s\n' "$size" \
    "$n_ours" "$w_ours" "$(rate "$n_ours" "$w_ours")" \
    "$n_sym" "$n_ours" "$w_sym" "$(rate "$n_ours" "$w_sym")" \
    "$n_spin" "$w_spin" "$(rate "${n_spin%% *}" "$w_spin")" "$(secs "$t3" "$t4")"
done
echo "st/s: states per second of wall time (process start to exit); for --symmetry, unreduced"
echo "states covered per second. pan's time excludes spin -a and its C compile (last column)."
