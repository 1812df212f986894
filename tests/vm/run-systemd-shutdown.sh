#!/usr/bin/env bash
# Issue 12 Tier 1: the real systemd-shutdown of Debian's systemd 262.1 between two boots of the
# library's /init on a real LUO kernel (tests/vm/systemd_shutdown.hpp says what each boot does).
#
#   tests/vm/run-systemd-shutdown.sh SERIES LUO_VM WORKDIR   e.g. 7.3 build/default/tests/vm/luo-vm /tmp/t1
#
# Exit 0: boot 1 exec'd systemd-shutdown, systemd-shutdown kexec'd, and every check of boot 2
# passed. Exit 77 (ctest: skipped): no qemu, no kernel, or no systemd 262.1 packages, with the
# reason. Anything else: a failure, explained.
set -uo pipefail
series=${1:?series}
luo_vm=${2:?path to luo-vm}
work=${3:?work dir}
here=$(cd "$(dirname "$0")" && pwd)
start=$SECONDS

harness=systemd-shutdown
# shellcheck source=tests/vm/harness.sh
source "$here/harness.sh"
need_qemu_and_kernel
need_systemd libsystemd-shared systemd
shutdown=$root/usr/lib/systemd/systemd-shutdown
shared=$(find "$root" -name 'libsystemd-shared-*.so' -print -quit)
[[ -x $shutdown && -n $shared ]] || skip "no systemd-shutdown or libsystemd-shared in $root"
# systemd-shutdown needs only libsystemd-shared (found through its RUNPATH, the same path as in
# the package), libm, libc and the loader; those come from this machine's glibc (262.1 needs
# symbols up to 2.34). It dlopen()s libmount for its unmount and swapoff phase: without it both
# fail with EOPNOTSUPP and it goes on to the kexec anyway, so this machine's libmount (util-linux,
# essential in Debian) and its libraries are added to run that phase as on a real system.
loader=$(readelf -l "$shutdown" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
lib_path() { ldconfig -p | awk -v l="$1" '$1 == l && /x86-64/ {print $NF; exit}'; }
libs=()
for l in libc.so.6 libm.so.6; do
  p=$(lib_path "$l")
  [[ -n $p ]] || skip "no x86-64 $l to put beside systemd-shutdown"
  libs+=("$p")
done
[[ -n $loader ]] || skip "systemd-shutdown names no program interpreter"
libmount=$(lib_path libmount.so.1)
if [[ -n $libmount ]]; then
  libs+=("$libmount")
  while read -r p; do libs+=("$p"); done < <(ldd "$libmount" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
fi
added=()
declare -A seen=()
for p in "${libs[@]}"; do
  [[ -n ${seen[$p]:-} ]] && continue
  seen[$p]=1
  added+=(--add "$(readlink -f "$p")=/lib/x86_64-linux-gnu/${p##*/}")
done
fetched=$((SECONDS - start))

mkdir -p "$work"
rm -f "$work"/serial.log "$work"/serial.txt
"$luo_vm" mkinitrd --kernel "$kernel" --out "$work/initrd.cpio" \
  --add "$shutdown=/usr/lib/systemd/systemd-shutdown" \
  --add "$shared=${shared#"$root"}" \
  --add "$(readlink -f "$loader")=$loader" "${added[@]}" || fail "mkinitrd"

boot_start=$SECONDS
timeout 300 qemu-system-x86_64 -accel tcg -m 1G -smp 1 -display none -nodefaults -no-reboot \
  -serial "file:$work/serial.log" -kernel "$kernel" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 kho=on liveupdate=on panic=-1 loglevel=1 luo_profile=$series luo_stage=1 luo_test=systemd-shutdown" \
  >"$work/qemu.out" 2>&1
qemu_status=$?
booted=$((SECONDS - boot_start))
tr -d '\r' <"$work/serial.log" >"$work/serial.txt"

explain() {
  tail -n 40 "$work/serial.txt" >&2
  fail "$*"
}
grep -q '^LUO-T1-EXEC' "$work/serial.txt" || explain "boot 1 never exec'd systemd-shutdown"
# systemd-shutdown's own words that it went for the kexec (its log goes to the console).
grep -q 'Rebooting with kexec' "$work/serial.txt" || explain "systemd-shutdown did not kexec"
grep -q "Preserved fd stores in LUO session 'systemd'" "$work/serial.txt" ||
  explain "systemd-shutdown did not preserve the fd stores"
grep -q '^LUO-BOOT 2' "$work/serial.txt" || explain "boot 2 never started"
if ! grep -q '^LUO-VM-DONE' "$work/serial.txt"; then
  ((qemu_status == 124)) && explain "qemu timed out (see $work/serial.txt)"
  explain "boot 2 did not finish (see $work/serial.txt)"
fi
grep '^LUO-VM-ERROR' "$work/serial.txt" >&2 && fail "the VM reported an error"
failed=$(grep -c '^LUO-RESULT .* FAIL' "$work/serial.txt")
passed=$(grep -c '^LUO-RESULT .* PASS' "$work/serial.txt")
if ((failed > 0 || passed == 0)); then
  grep '^LUO-RESULT .* FAIL' "$work/serial.txt" >&2
  fail "$failed check(s) failed after systemd-shutdown on linux-$series"
fi
echo "systemd-shutdown $series: $passed checks passed after the real systemd-shutdown kexec," \
  "inputs ready after ${fetched}s, qemu ${booted}s, total $((SECONDS - start))s"
