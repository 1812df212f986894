#!/usr/bin/env bash
# Runs the luo-vm scenarios on a real LUO kernel in qemu and compares every observation with the
# same scenarios on SimulatedKernel.
#
#   tests/vm/run-vm-tests.sh SERIES LUO_VM WORKDIR [LUO_SIM LUO_VM_DYN]
#                                     e.g. 7.2 build/default/tests/vm/luo-vm /tmp/w
#
# With LUO_SIM and LUO_VM_DYN the same boots also run as an ordinary program under luo-sim
# (tools/luo-sim), compared with the kernel including the real_only_ scenarios (frozen memfd),
# which luo-sim reproduces and the in-process simulator cannot.
#
# Exit 0: every scenario passed on the kernel and the two runs agree. Exit 77 (shown as skipped
# by ctest): no kernel or no qemu, with the reason. Anything else: a failure, explained.
set -uo pipefail
series=${1:?series}
luo_vm=${2:?path to luo-vm}
work=${3:?work dir}
luo_sim=${4:-}
luo_vm_dyn=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
start=$SECONDS

harness=vm
# shellcheck source=tests/vm/harness.sh
source "$here/harness.sh"
need_qemu_and_kernel
version=$(basename "$kernel" | sed -e "s/^bzImage-$series-//" -e 's/-[0-9a-f]\{12\}$//')
built=$((SECONDS - start))
mkdir -p "$work"
rm -f "$work"/serial.log "$work"/*.jsonl
"$luo_vm" mkinitrd --kernel "$kernel" --out "$work/initrd.cpio" || fail "mkinitrd"

# loglevel=1 keeps printk off the console so observation lines arrive whole; /init echoes the
# kernel's LUO messages itself.
boot_start=$SECONDS
timeout 600 qemu-system-x86_64 -accel tcg -m 1G -smp 1 -display none -nodefaults -no-reboot \
  -serial "file:$work/serial.log" -kernel "$kernel" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 kho=on liveupdate=on panic=-1 loglevel=1 luo_profile=$series luo_stage=1" \
  >"$work/qemu.out" 2>&1
qemu_status=$?
booted=$((SECONDS - boot_start))
tr -d '\r' <"$work/serial.log" >"$work/serial.txt"

if ! grep -q '^LUO-VM-DONE' "$work/serial.txt"; then
  tail -n 40 "$work/serial.txt" >&2
  ((qemu_status == 124)) && fail "qemu timed out (see $work/serial.txt)"
  fail "the VM did not finish all boots (see $work/serial.txt)"
fi
grep '^LUO-VM-ERROR' "$work/serial.txt" >&2 && fail "the VM reported an error"
grep '^LUO-KMSG' "$work/serial.txt" | grep -m3 'liveupdate number' >&2 || true
failed=$(grep -c '^LUO-RESULT .* FAIL' "$work/serial.txt")
passed=$(grep -c '^LUO-RESULT .* PASS' "$work/serial.txt")
if ((failed > 0)); then
  grep '^LUO-RESULT .* FAIL' "$work/serial.txt" >&2
  fail "$failed scenario(s) failed on linux $version"
fi

# The differential: the same boots on the simulator, observation by observation.
"$luo_vm" simulate --profile "$series" >"$work/simulated.log" ||
  { grep 'FAIL' "$work/simulated.log" >&2; fail "the simulator failed the scenarios"; }
sed -n 's/^LUO-OBS //p' "$work/serial.txt" >"$work/kernel.jsonl"
sed -n 's/^LUO-OBS //p' "$work/simulated.log" >"$work/simulator.jsonl"
if ! "$luo_vm" compare "$work/simulated.log" "$work/serial.txt" >"$work/compare.txt"; then
  cat "$work/compare.txt" >&2
  fail "the simulator and linux $version disagree"
fi
luo_sim_summary=""
if [[ -n $luo_sim && -n $luo_vm_dyn ]]; then
  "$luo_sim" run --profile "$series" --boots 3 -- "$luo_vm_dyn" boot >"$work/luo-sim.log" ||
    fail "the scenarios under luo-sim failed (see $work/luo-sim.log)"
  sed -n 's/^LUO-OBS //p' "$work/luo-sim.log" >"$work/luo-sim.jsonl"
  if ! "$luo_vm" compare --all "$work/luo-sim.log" "$work/serial.txt" >"$work/compare-luo-sim.txt"; then
    cat "$work/compare-luo-sim.txt" >&2
    fail "luo-sim and linux $version disagree"
  fi
  luo_sim_summary=" luo-sim: $(tail -n1 "$work/compare-luo-sim.txt" | sed 's/^compare: //'),"
fi
echo "vm $series: linux $version, $passed scenario runs passed over 3 boots," \
  "$(tail -n1 "$work/compare.txt" | sed 's/^compare: //'),$luo_sim_summary" \
  "kernel ready after ${built}s, qemu ${booted}s, total $((SECONDS - start))s"
