#!/bin/sh
# Instructions per fd of the library's own work in bench/handoff_bench, by phase, with callgrind:
# instruction counts do not move with the machine's load, so two builds compare on a busy host.
#
#   bench/callgrind_handoff.sh build/default/bench/handoff_bench 'BM_HandoffPerFd/1000/10/' 10000
#
# A phase's count is the inclusive cost of stage_a() (or stage_a_taking_fds()), stage_b() or restore() minus that of the
# KernelPort calls it makes (the simulated syscalls, which the bench's wall-clock figure also
# subtracts): is_device and get_session_name for Stage A; create_session and preserve_fd for Stage B;
# retrieve_session, retrieve_fd and finish_session for the restore, and the bench's emptying of
# the restored stores (ReleasingTarget::release, closing fds: the kernel's work). The bench runs
# one iteration (a tiny --benchmark_min_time); fds is the number of stored fds of that point.
set -eu
bench=$1
filter=$2
fds=$3
out=${TMPDIR:-/tmp}/callgrind.handoff.$$
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" \
  --benchmark_filter="$filter" --benchmark_min_time=0.000001 >/dev/null 2>"$out.log" ||
  { cat "$out.log"; exit 1; }
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null | awk -v fds="$fds" '
  function cost(s) { gsub(",", "", s); return s + 0 }
  # The functions themselves, not the lambdas inside them (whose names start the same).
  /luo::stage_a(_taking_fds)?\([^)]*StageAOptions const&\) \[/ { a += cost($1) }
  /luo::stage_b\([^)]*\) \[/ { b += cost($1) }
  /luo::restore\([^)]*\) \[/ { r += cost($1) }
  /TimingPort::(get_session_name|is_device)\([^)]*\) \[/ { pa += cost($1) }
  /TimingPort::(create_session|preserve_fd)\([^)]*\) \[/ { pb += cost($1) }
  /TimingPort::(retrieve_session|retrieve_fd|finish_session)\([^)]*\) \[/ { pr += cost($1) }
  /ReleasingTarget::release\([^)]*\) \[/ { pr += cost($1) }
  END {
    la = a - pa; lb = b - pb; lr = r - pr
    printf "stage A  %12d instr  %9.0f per fd\n", la, la / fds
    printf "stage B  %12d instr  %9.0f per fd\n", lb, lb / fds
    printf "restore  %12d instr  %9.0f per fd\n", lr, lr / fds
    printf "total    %12d instr  %9.0f per fd\n", la + lb + lr, (la + lb + lr) / fds
  }'
rm -f "$out" "$out.log"
