#!/bin/sh
# Instructions per fd of the library's own work in bench/handoff_bench, by phase, with callgrind:
# instruction counts do not move with the machine's load, so two builds compare on a busy host.
#
#   bench/callgrind_handoff.sh build/default/bench/handoff_bench 'BM_HandoffPerFd/1000/10/' 10000
#   bench/callgrind_handoff.sh build/default/bench/handoff_bench 'BM_HandoffManagerPerFd/100/10/' \
#     1000 manager
#
# A phase's count is the inclusive cost of stage_a() (or stage_a_taking_fds()), stage_b() or
# restore() minus that of the KernelPort calls it makes (the simulated syscalls, which the bench's
# wall-clock figure also subtracts): is_device and get_session_name for Stage A; create_session
# and preserve_fd for Stage B; retrieve_session, retrieve_fd and finish_session for the restore,
# and the bench's emptying of the restored stores during the restore (ReleasingTarget::release,
# closing fds: the kernel's work; the last emptying, after the restore, is restored_in_all() and
# not subtracted). The bench runs one iteration (a tiny --benchmark_min_time); fds is the number
# of stored fds of that point.
# With `manager` (for BM_HandoffManagerPerFd) a phase is the HandoffManager call instead:
# stage_a(), stage_b() on its own device, restore() on its own device, checks included. The two
# opens of the device are the kernel's work too (TimingPort::open_device); inclusive costs do not
# say which call made which, so both are subtracted from the restore's count. The total is exact;
# Stage B's count keeps its open (a few thousand instructions), the restore's is that much low.
set -eu
bench=$1
filter=$2
fds=$3
manager=0
[ "${4:-}" = manager ] && manager=1
out=${TMPDIR:-/tmp}/callgrind.handoff.$$
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" \
  --benchmark_filter="$filter" --benchmark_min_time=0.000001 >/dev/null 2>"$out.log" ||
  { cat "$out.log"; exit 1; }
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null | awk -v fds="$fds" -v manager="$manager" '
  function cost(s) { gsub(",", "", s); return s + 0 }
  # The functions themselves, not the lambdas inside them (whose names start the same).
  !manager && /luo::stage_a(_taking_fds)?\([^)]*StageAOptions const&\) \[/ { a += cost($1) }
  !manager && /luo::stage_b\([^)]*\) \[/ { b += cost($1) }
  !manager && /luo::restore\([^)]*\) \[/ { r += cost($1) }
  manager && /HandoffManager::stage_a\(std::optional[^)]*\) \[/ { a += cost($1) }
  manager && /HandoffManager::stage_b\(luo::StageBOptions\) \[/ { b += cost($1) }
  manager && /HandoffManager::restore\(luo::RestoreTarget\*\) \[/ { r += cost($1) }
  /TimingPort::(get_session_name|is_device)\([^)]*\) \[/ { pa += cost($1) }
  /TimingPort::(create_session|preserve_fd)\([^)]*\) \[/ { pb += cost($1) }
  /TimingPort::(retrieve_session|retrieve_fd|finish_session)\([^)]*\) \[/ { pr += cost($1) }
  /ReleasingTarget::release\([^)]*\) \[/ { pr += cost($1) }
  manager && /TimingPort::open_device\(\) \[/ { pr += cost($1) }
  END {
    la = a - pa; lb = b - pb; lr = r - pr
    printf "stage A  %12d instr  %9.0f per fd\n", la, la / fds
    printf "stage B  %12d instr  %9.0f per fd\n", lb, lb / fds
    printf "restore  %12d instr  %9.0f per fd\n", lr, lr / fds
    printf "total    %12d instr  %9.0f per fd\n", la + lb + lr, (la + lb + lr) / fds
  }'
rm -f "$out" "$out.log"
