#!/usr/bin/env bash
# Our checker against SPIN on the same generated model, side by side (not run by CI).
#
#   bench/checker_vs_spin.sh [LUO_LIFECYCLE]      default: build/default/cli/luo-lifecycle
#
# For each size: `luo-lifecycle check --no-liveness` unreduced and with --symmetry, each with
# --jobs 1 (the sequential search) and --jobs JOBS (default: every core); and SPIN on
# `luo-lifecycle check --promela --no-liveness`, single-core and multi-core (-DNCORE=JOBS), both
# in exact mode (spin -a; gcc -O2 -DSAFETY -DNOREDUCE -DNOCLAIM; ./pan -c0: full state vectors,
# no bitstate, no hash compaction, no partial-order reduction), all checking the same safety
# properties. Each run is timed by /usr/bin/time: wall seconds, CPU seconds (user + system, all
# threads and processes) and peak resident memory. pan's compile time is shown apart. SPIN's
# counts must equal ours (the script says MISMATCH otherwise). Liveness is left out on both
# sides: SPIN's fair-cycle search works on a product with the claim and the fairness copies, so
# its states are not comparable.
#
# Multi-core pan refuses models with `hidden` variables, because each worker process keeps its
# own copy of them. The generated model's hidden variables are scratch values written before
# they are read within one atomic step (and property flags asserted in the step that clears
# them), so a private copy per worker is sound: the script removes pan.h's HAS_HIDDEN guard,
# and the equal state counts confirm it.
#
# SIZES (a ';'-separated list of check options) replaces the three default sizes; JOBS the
# parallel job count. Wall times on a shared machine are noisy: the load is printed with them.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${1:-build/default/cli/luo-lifecycle}
jobs=${JOBS:-$(nproc)}
[[ -x $tool ]] || { echo "checker_vs_spin: $tool not built" >&2; exit 2; }
command -v spin >/dev/null || { echo "checker_vs_spin: spin not installed (apt-get install spin)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "checker_vs_spin: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
cc=$(command -v gcc || command -v cc) || { echo "checker_vs_spin: no C compiler" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

default_sizes="--owners 2 --fds 1 --sessions 1 --kexecs 2 --faults 1;\
--owners 3 --fds 1 --sessions 1 --kexecs 1 --faults 1;\
--owners 2 --fds 2 --sessions 1 --kexecs 2 --faults 1"
IFS=';' read -r -a sizes <<< "${SIZES:-$default_sizes}"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# timed OUT_FILE CMD...: runs CMD, its stdout to OUT_FILE; prints "wall cpu maxrss_MiB".
timed() {
  local out=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" > "$out" 2> "$work/stderr" || true
  awk '{ printf "%.2f %.2f %.0f", $1, $2 + $3, $4 / 1024 }' "$work/time"
}
states_of() { sed -nE 's/^states: ([0-9]+) distinct.*/\1/p' "$1"; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start; $(spin -V | head -1)"
echo "columns per run: wall s / CPU s / peak RSS MiB; x: wall speed-up of --jobs $jobs over --jobs 1"
printf '%-54s | %-10s | %-17s %-23s | %-17s %-23s | %-10s %-17s %-17s | %s\n' "" "" \
  "ours --jobs 1" "ours --jobs $jobs" "--symmetry -j 1" "--symmetry -j $jobs" \
  "SPIN" "pan (1 core)" "pan -DNCORE=$jobs" "cc s"
for size in "${sizes[@]}"; do
  read -r -a opts <<< "$size"
  read -r w1 c1 m1 <<< "$(timed "$work/o1" "$tool" check --no-liveness --quiet --jobs 1 "${opts[@]}")"
  read -r wn cn mn <<< "$(timed "$work/on" "$tool" check --no-liveness --quiet --jobs "$jobs" "${opts[@]}")"
  read -r s1 sc1 sm1 <<< "$(timed "$work/s1" "$tool" check --no-liveness --quiet --symmetry --jobs 1 "${opts[@]}")"
  read -r sn scn smn <<< "$(timed "$work/sn" "$tool" check --no-liveness --quiet --symmetry --jobs "$jobs" "${opts[@]}")"
  n_ours=$(states_of "$work/o1")
  n_sym=$(states_of "$work/s1")
  [[ $(states_of "$work/on") == "$n_ours" && $(states_of "$work/sn") == "$n_sym" ]] ||
    n_ours="$n_ours JOBS-MISMATCH"

  "$tool" check --promela --no-liveness "${opts[@]}" > "$work/model.pml"
  (cd "$work" && rm -f pan pan.* && spin -a model.pml > spin.log && sed -i '/#define HAS_HIDDEN/d' pan.h)
  t3=$(now)
  (cd "$work" && "$cc" -O2 -w -DSAFETY -DNOREDUCE -DNOCLAIM -DVECTORSZ=4096 -o pan1 pan.c &&
    "$cc" -O2 -w -DSAFETY -DNOREDUCE -DNOCLAIM -DVECTORSZ=4096 -DNCORE="$jobs" -o pann pan.c)
  t4=$(now)
  bits=$(awk -v n="${n_ours%% *}" 'BEGIN { b = 1; while (2 ^ b < n) b++; b++; if (b < 16) b = 16; if (b > 27) b = 27; print b }')
  read -r p1 pc1 pm1 <<< "$(cd "$work" && timed "$work/pan1.log" ./pan1 -n -c0 -m1000000 -w"$bits")"
  read -r pn pcn pmn <<< "$(cd "$work" && timed "$work/pann.log" ./pann -n -c0 -m1000000 -w"$bits")"
  spin_count() {
    local n
    n=$(sed -nE 's/^ *([0-9]+) states, stored.*/\1/p' "$1")
    grep -q "max search depth too small" "$1" && n="$n(CUT)"
    [[ $n == "${n_ours%% *}" ]] || n="$n MISMATCH"
    echo "$n"
  }
  n_spin="$(spin_count "$work/pan1.log")"
  n_spinn="$(spin_count "$work/pann.log")"
  # Multi-core pan reports its own total (shared memory included); RSS misses the workers'.
  pan_mib=$(sed -nE 's/^ *([0-9.]+)[[:space:]]+total actual memory usage.*/\1/p' "$work/pann.log" | head -1)
  x=$(awk -v a="$w1" -v b="$wn" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
  xs=$(awk -v a="$s1" -v b="$sn" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')

  printf '%-54s | %10s | %-17s %-23s | %-17s %-23s | %-10s %-17s %-17s | %s\n' "$size" \
    "$n_ours" "$w1/$c1/$m1" "$wn/$cn/$mn $x" "$s1/$sc1/$sm1 ($n_sym)" "$sn/$scn/$smn $xs" \
    "${n_spinn}" "$p1/$pc1/$pm1" "$pn/$pcn/${pan_mib:-?}" "$(secs "$t3" "$t4")"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg). pan's times exclude spin -a and its C"
echo "compiles (last column, both binaries); pan -DNCORE's memory is pan's own total, shared"
echo "memory included (its peak RSS counts only the first process)."
