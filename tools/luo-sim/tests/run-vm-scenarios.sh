#!/usr/bin/env bash
# The VM scenarios (tests/vm) as an ordinary dynamically linked program under luo-sim, three
# boots, compared observation by observation with the same scenarios on the in-process
# SimulatedKernel (`luo-vm simulate`): the differential of the VM harness, at process level.
#
#   run-vm-scenarios.sh PROFILE LUO_SIM LUO_VM_DYN LUO_VM WORKDIR
set -uo pipefail
profile=${1:?profile} luo_sim=${2:?luo-sim} luo_vm_dyn=${3:?luo-vm-dyn} luo_vm=${4:?luo-vm}
work=${5:?work dir}
mkdir -p "$work"
"$luo_sim" run --profile "$profile" --boots 3 -- "$luo_vm_dyn" boot >"$work/luo-sim.log" 2>"$work/luo-sim.err"
status=$?
if ((status != 0)) || ! grep -q '^LUO-VM-DONE' "$work/luo-sim.log"; then
  tail -n 20 "$work/luo-sim.log" "$work/luo-sim.err" >&2
  echo "FAILED: the scenarios under luo-sim (exit $status)" >&2
  exit 1
fi
if grep '^LUO-RESULT .* FAIL' "$work/luo-sim.log" >&2; then
  echo "FAILED: scenarios failed under luo-sim" >&2
  exit 1
fi
"$luo_vm" simulate --profile "$profile" >"$work/simulated.log" || {
  echo "FAILED: the in-process simulation" >&2
  exit 1
}
if ! "$luo_vm" compare "$work/simulated.log" "$work/luo-sim.log" >"$work/compare.txt"; then
  cat "$work/compare.txt" >&2
  exit 1
fi
echo "luo-sim $profile: $(grep -c '^LUO-RESULT .* PASS' "$work/luo-sim.log") scenario runs passed," \
  "$(tail -n1 "$work/compare.txt" | sed 's/^compare: //')"
