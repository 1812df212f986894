#!/usr/bin/env bash
# Runs a libFuzzer campaign over the fuzz targets (fuzz/), one target at a time.
# Usage: scripts/fuzz.sh [--time SECONDS | --runs N] [target...]
#   --time  wall-clock budget per target (default 300)
#   --runs  executions per target instead of a time budget
#   target  names as in fuzz/CMakeLists.txt (default: all of them)
# Configures and builds the `fuzz` preset (clang, ASan+UBSan, libFuzzer). Each target starts
# from its committed corpus (fuzz/corpus/<target>) copied into build/fuzz/campaign/<target>, so
# the inputs a campaign finds never dirty the tree; a crash, leak or timeout is saved under
# build/fuzz/campaign/artifacts/. The last line per target is libFuzzer's final statistics
# (stat::number_of_executed_units, stat::average_exec_per_sec), which docs/reliability.md quotes.
# To fold a campaign's finds into the committed corpus (keep it a few KB):
#   build/fuzz/fuzz/luo_fuzz_<t> -merge=1 -max_len=2048 fuzz/corpus/<t> build/fuzz/campaign/<t>
set -euo pipefail
cd "$(dirname "$0")/.."

all=(stage_a_mapping stage_b_mapping fdstore_mapping reexec_serialization sd_notify_datagram
     listen_fds cli_inputs replay_trace simulated_kernel_ioctl)
budget=(-max_total_time=300)
targets=()
while (($#)); do
  case $1 in
    --time) budget=(-max_total_time="$2"); shift 2 ;;
    --runs) budget=(-runs="$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all[@]}")

[[ -f /root/ccache-env.sh ]] && source /root/ccache-env.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc 2>/dev/null || echo 2)" \
  --target "${targets[@]/#/luo_fuzz_}"

work=build/fuzz/campaign
mkdir -p "$work/artifacts"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp -n fuzz/corpus/"$t"/* "$work/$t"/ 2>/dev/null || true
  extra=()
  # A notify datagram above NOTIFY_BUFFER_MAX (4096) must be reachable: the truncation path.
  [[ $t == sd_notify_datagram ]] && extra+=(-max_len=6000)
  echo "fuzz: $t ${budget[*]}"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       build/fuzz/fuzz/luo_fuzz_"$t" "${budget[@]}" "${extra[@]}" -timeout=20 \
         -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" \
         "$work/$t" 2>"$work/$t.log"; then
    echo "fuzz: $t FAILED, see $work/$t.log and $work/artifacts/" >&2
    status=1
  fi
  grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$work/$t.log" \
    | sed "s/^/fuzz: $t /" || true
done
exit $status
