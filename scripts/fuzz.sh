#!/usr/bin/env bash
# Runs a libFuzzer campaign over the fuzz targets (fuzz/), one target at a time.
# Usage: scripts/fuzz.sh [--time SECONDS] [--runs N] [--jobs J] [--merge] [target...]
#   --time  wall-clock budget per target (default 300 unless --runs is given)
#   --runs  executions per target (with --time too: whichever comes first); with --jobs, in all
#   --jobs  J processes of each target side by side (one per spare core), each with its own
#           log (<target>.<j>.log) and 1/J of --runs, all over the same campaign corpus; the
#           executions are summed at the end
#   --merge fold build/fuzz/campaign/<target> into fuzz/corpus/<target>, minimized: libFuzzer's
#           -merge=1 (edges only) of the committed corpus and the campaign's into a fresh
#           directory, which then replaces the committed one (review the diff, then commit it)
#   target  names as in fuzz/CMakeLists.txt (default: all of them)
# Configures and builds the `fuzz` preset (clang, ASan+UBSan, libFuzzer). Each target starts
# from its committed corpus (fuzz/corpus/<target>) copied into build/fuzz/campaign/<target>, so
# the inputs a campaign finds never dirty the tree; a crash, leak or timeout is saved under
# build/fuzz/campaign/artifacts/. The last line per target is libFuzzer's final statistics
# (stat::number_of_executed_units, stat::average_exec_per_sec), which docs/reliability.md quotes.
# Each target runs with its own -max_len (max_len_of below; docs/reliability.md says why) and,
# for the text targets, a dictionary of the tokens its reader knows (fuzz/dict/).
set -euo pipefail
cd "$(dirname "$0")/.."

all=(stage_a_mapping stage_b_mapping fdstore_mapping reexec_serialization sd_notify_datagram
     listen_fds cli_inputs replay_trace simulated_kernel_ioctl)
budget=()
runs=
jobs=1
merge=0
targets=()
while (($#)); do
  case $1 in
    --time) budget+=(-max_total_time="$2"); shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all[@]}")
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --jobs wants a positive number, not '$jobs'" >&2; exit 2; }
[[ -z $runs ]] || [[ $runs =~ ^[0-9]+$ ]] || { echo "fuzz: --runs wants a number, not '$runs'" >&2; exit 2; }
[[ -n $runs ]] || ((${#budget[@]})) || budget=(-max_total_time=300)

# The largest input worth mutating per target. libFuzzer's default is the largest seed or 4096
# bytes; inputs grow towards it, and the readers' time grows with them, while nothing a target
# checks needs more than a few entries or operations.
max_len_of() {
  case $1 in
    # A datagram above NOTIFY_BUFFER_MAX (4096) must be reachable: the truncation path.
    sd_notify_datagram) echo 4200 ;;
    # The largest example scenario is 2.6 KB.
    cli_inputs) echo 3072 ;;
    # The `check --json` seed is 6.2 KB.
    replay_trace) echo 6400 ;;
    # A name past the 255-byte limit must fit.
    listen_fds) echo 512 ;;
    # About 50 operations.
    simulated_kernel_ioctl) echo 512 ;;
    *) echo 1024 ;;
  esac
}
dict_of() {
  case $1 in
    stage_a_mapping | stage_b_mapping) echo fuzz/dict/handoff_mapping.dict ;;
    *) if [[ -f fuzz/dict/$1.dict ]]; then echo "fuzz/dict/$1.dict"; fi ;;
  esac
}

[[ -f /root/ccache-env.sh ]] && source /root/ccache-env.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc 2>/dev/null || echo 2)" \
  --target "${targets[@]/#/luo_fuzz_}"

work=build/fuzz/campaign
mkdir -p "$work/artifacts"
status=0

if ((merge)); then
  for t in "${targets[@]}"; do
    [[ -d $work/$t ]] || { echo "fuzz: no campaign for $t in $work/$t" >&2; status=1; continue; }
    fresh=$work/merged-$t
    rm -rf "$fresh" && mkdir -p "$fresh"
    # -use_counters=0: every edge reached, not every hit-count bucket of it (2069 inputs and
    # 335 KB for fdstore_mapping's campaign with the buckets, 420 and 49 KB without).
    build/fuzz/fuzz/luo_fuzz_"$t" -merge=1 -use_counters=0 -max_len="$(max_len_of "$t")" "$fresh" \
      fuzz/corpus/"$t" "$work/$t" 2>"$work/$t-merge.log" || { status=1; continue; }
    rm -rf fuzz/corpus/"$t" && mkdir -p fuzz/corpus/"$t" && cp "$fresh"/* fuzz/corpus/"$t"/
    echo "fuzz: $t corpus $(ls fuzz/corpus/"$t" | wc -l) files, $(du -sb fuzz/corpus/"$t" | cut -f1) bytes"
  done
  exit $status
fi

for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp -n fuzz/corpus/"$t"/* "$work/$t"/ 2>/dev/null || true
  extra=(-max_len="$(max_len_of "$t")")
  dict=$(dict_of "$t")
  [[ -n $dict ]] && extra+=(-dict="$dict")
  echo "fuzz: $t ${budget[*]} ${runs:+-runs=$runs} ${extra[*]} (jobs: $jobs)"
  pids=()
  total=0
  for ((j = 0; j < jobs; j++)); do
    # Job j's share of --runs: the remainder goes to the first jobs, so the shares sum to it.
    share=()
    [[ -n $runs ]] && share=(-runs=$((runs / jobs + (j < runs % jobs ? 1 : 0))))
    log=$work/$t.log
    ((jobs == 1)) || log=$work/$t.$j.log
    # quarantine_size_mb: ASan's default 256 MB quarantine hands every allocation a fresh page
    # until it fills, and the page faults cost more than the targets' own work; 16 MB still holds
    # far more than one run frees. -entropic=0: the entropic schedule updates a frequency per
    # feature per run, half of each run's time over the instrumented libraries' ~8000 features;
    # the plain schedule reached the same coverage in 20 s with twice the executions.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=16 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      build/fuzz/fuzz/luo_fuzz_"$t" "${budget[@]}" "${share[@]}" "${extra[@]}" -entropic=0 \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t-" "$work/$t" 2>"$log" &
    pids+=($!)
  done
  for ((j = 0; j < jobs; j++)); do
    log=$work/$t.log
    ((jobs == 1)) || log=$work/$t.$j.log
    if ! wait "${pids[j]}"; then
      echo "fuzz: $t FAILED, see $log and $work/artifacts/" >&2
      status=1
    fi
    tag=$t
    ((jobs == 1)) || tag="$t job $j"
    grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" \
      | sed "s/^/fuzz: $tag /" || true
    units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    total=$((total + ${units:-0}))
  done
  ((jobs == 1)) || echo "fuzz: $t stat::number_of_executed_units (all $jobs jobs): $total"
done
exit $status
