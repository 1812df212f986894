#!/usr/bin/env bash
# Issue 12 Tier 2: the real systemd 262.1 (Debian's binaries) as PID 1 on a real LUO kernel, both
# directions, three boots in one qemu run (tests/vm/systemd_pid1.hpp says what each boot does):
# real PID 1 stores through the shipped test-luo and `systemctl kexec`s, the library's /init
# restores and checks, then hands over to real PID 1, where test-luo check and KExecCount pass.
#
#   tests/vm/run-systemd-pid1.sh SERIES LUO_VM WORKDIR   e.g. 7.3 build/default/tests/vm/luo-vm /tmp/t2
#
# Exit 0: every check of the three boots passed. Exit 77 (ctest: skipped): no qemu, no kernel, or
# no systemd 262.1 packages, with the reason. Anything else: a failure, explained.
set -uo pipefail
series=${1:?series}
luo_vm=${2:?path to luo-vm}
work=${3:?work dir}
here=$(cd "$(dirname "$0")" && pwd)
start=$SECONDS

harness=systemd-pid1
# shellcheck source=tests/vm/harness.sh
source "$here/harness.sh"
need_qemu_and_kernel
need_systemd libsystemd-shared systemd systemd-tests

# The binaries at their package paths: RUNPATH finds libsystemd-{shared,core}-262.so there.
systemd=usr/lib/systemd/systemd
binaries=("$systemd" usr/lib/systemd/systemd-executor usr/lib/systemd/systemd-shutdown usr/bin/systemctl
  usr/lib/systemd/tests/unit-tests/manual/test-luo)
files=()
for b in "${binaries[@]}"; do
  [[ -x $root/$b ]] || skip "no $b in the unpacked systemd packages ($root)"
  files+=("$root/$b=/$b")
done
for l in "$root"/usr/lib/x86_64-linux-gnu/systemd/libsystemd-{shared,core}-*.so; do
  [[ -f $l ]] || skip "no $l in the unpacked systemd packages"
  files+=("$l=${l#"$root"}")
done
# The units systemctl kexec goes through, as the package ships them: kexec.target pulls in
# systemd-kexec.service (SuccessAction=kexec-force), which orders after shutdown.target,
# umount.target and final.target. Everything else PID 1 would start on a full system is left
# out; the test's own units do not need it (DefaultDependencies=no).
for u in kexec.target systemd-kexec.service shutdown.target umount.target final.target; do
  [[ -f $root/usr/lib/systemd/system/$u ]] || skip "no $u in the systemd package"
  files+=("$root/usr/lib/systemd/system/$u=/usr/lib/systemd/system/$u")
done

# As for Tier 1 (run-systemd-shutdown.sh): the loader, libc and libm of this machine's glibc
# (262.1 needs symbols up to 2.34), and libmount with its libraries, which PID 1 and
# systemd-shutdown dlopen() to read and unmount the mount table.
loader=$(readelf -l "$root/$systemd" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[[ -n $loader ]] || skip "systemd names no program interpreter"
lib_path() { ldconfig -p | awk -v l="$1" '$1 == l && /x86-64/ {print $NF; exit}'; }
libs=()
for l in libc.so.6 libm.so.6; do
  p=$(lib_path "$l")
  [[ -n $p ]] || skip "no x86-64 $l to put beside systemd"
  libs+=("$p")
done
libmount=$(lib_path libmount.so.1)
if [[ -n $libmount ]]; then
  libs+=("$libmount")
  while read -r p; do libs+=("$p"); done < <(ldd "$libmount" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
fi
declare -A seen=()
for p in "${libs[@]}"; do
  [[ -n ${seen[$p]:-} ]] && continue
  seen[$p]=1
  files+=("$(readlink -f "$p")=/lib/x86_64-linux-gnu/${p##*/}")
done
files+=("$(readlink -f "$loader")=$loader")

# The test's own units and files, written here.
mkdir -p "$work/files"
rm -f "$work"/serial.log "$work"/serial.txt
cat >"$work/files/default.target" <<'EOF'
[Unit]
Description=luo-lifecycle Tier 2
Wants=luo-tier2.service luo-tier2-driver.service
EOF
# test-luo runs as a child of `luo-vm tier2 service`, hence NotifyAccess=all; the store is
# carried through kexec (FileDescriptorStorePreserve=yes) whatever the unit's state.
cat >"$work/files/luo-tier2.service" <<'EOF'
[Unit]
Description=luo-lifecycle Tier 2: test-luo store (boot 1) / check (boot 3)
DefaultDependencies=no
[Service]
Type=oneshot
RemainAfterExit=yes
FileDescriptorStoreMax=20
FileDescriptorStorePreserve=yes
NotifyAccess=all
ExecStart=/init tier2 service
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
EOF
cat >"$work/files/luo-tier2-driver.service" <<'EOF'
[Unit]
Description=luo-lifecycle Tier 2: systemctl kexec (boot 1) / KExecCount (boot 3)
DefaultDependencies=no
After=luo-tier2.service
[Service]
Type=oneshot
ExecStart=/init tier2 driver
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
EOF
printf 'ID=luo-tier2\nNAME="luo-lifecycle Tier 2"\n' >"$work/files/os-release"
files+=("$work/files/default.target=/etc/systemd/system/default.target"
  "$work/files/luo-tier2.service=/etc/systemd/system/luo-tier2.service"
  "$work/files/luo-tier2-driver.service=/etc/systemd/system/luo-tier2-driver.service"
  "$work/files/os-release=/usr/lib/os-release")
# The manifest: every file above by its guest path, so the kexecs rebuild the same root.
: >"$work/files/manifest"
for f in "${files[@]}"; do echo "${f#*=}" >>"$work/files/manifest"; done
echo /luo-tier2-files >>"$work/files/manifest"
files+=("$work/files/manifest=/luo-tier2-files")
added=()
for f in "${files[@]}"; do added+=(--add "$f"); done
fetched=$((SECONDS - start))

"$luo_vm" mkinitrd --kernel "$kernel" --out "$work/initrd.cpio" "${added[@]}" || fail "mkinitrd"

boot_start=$SECONDS
# systemd.minimum_uptime_sec=0: systemd-shutdown would otherwise wait out its minimum uptime.
# LUO_T2_SYSTEMD_ARGS adds words for a diagnosis, e.g. systemd.log_level=debug.
timeout 600 qemu-system-x86_64 -accel tcg -m 1G -smp 1 -display none -nodefaults -no-reboot \
  -serial "file:$work/serial.log" -kernel "$kernel" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 kho=on liveupdate=on panic=-1 loglevel=1 luo_profile=$series luo_stage=1 luo_test=systemd-pid1 systemd.log_target=console systemd.log_color=0 systemd.minimum_uptime_sec=0 ${LUO_T2_SYSTEMD_ARGS:-}" \
  >"$work/qemu.out" 2>&1 &
qemu_pid=$!
# A PID 1 that cannot go on freezes ("Freezing execution."), and the VM would sit until the
# timeout: stop it as soon as it says so.
while kill -0 "$qemu_pid" 2>/dev/null; do
  if grep -q 'Freezing execution' "$work/serial.log" 2>/dev/null; then
    sleep 1
    kill "$qemu_pid" 2>/dev/null
    break
  fi
  sleep 1
done
wait "$qemu_pid"
qemu_status=$?
booted=$((SECONDS - boot_start))
tr -d '\r' <"$work/serial.log" >"$work/serial.txt"

explain() {
  tail -n 60 "$work/serial.txt" >&2
  fail "$*"
}
grep -q 'Freezing execution' "$work/serial.txt" && explain "systemd froze (see $work/serial.txt)"
grep -q '^LUO-T2-EXEC-SYSTEMD boot 1' "$work/serial.txt" || explain "boot 1 never exec'd systemd"
grep -q '^LUO-RESULT t2_test_luo_store ' "$work/serial.txt" || explain "boot 1: test-luo store never ran"
grep -q '^LUO-T2-KEXEC 1' "$work/serial.txt" || explain "boot 1 never reached systemctl kexec"
# Real PID 1 and systemd-shutdown in their own words (info level on the console).
grep -q 'Serialized [0-9]* fd store entries for LUO' "$work/serial.txt" ||
  explain "PID 1 did not serialize the fd stores (Stage A)"
grep -q "Preserved fd stores in LUO session 'systemd'" "$work/serial.txt" ||
  explain "systemd-shutdown did not preserve the fd stores (Stage B)"
# What 262 does with the two O_PATH fds boot 1 stored, which the library's Stage A mirrors in
# boot 2: the reopened session cannot be told (GET_NAME: EBADF) and PID 1 skips it; the file's is
# staged, and systemd-shutdown's PRESERVE_FD refuses it.
grep -q "Failed to check if fd 'opath-session' of unit 'luo-tier2.service' is a LUO session, skipping: Bad file descriptor" \
  "$work/serial.txt" || explain "PID 1 did not skip the O_PATH reopen of a session at Stage A"
grep -q "(name 'opath-file') with token [0-9]*, will be lost across kexec" "$work/serial.txt" ||
  explain "systemd-shutdown did not refuse the O_PATH file at Stage B"
grep -q '^LUO-BOOT 2' "$work/serial.txt" || explain "boot 2 (the library) never started"
grep -q '^LUO-T2-KEXEC 2' "$work/serial.txt" || explain "boot 2 never kexec'd"
grep -q '^LUO-T2-EXEC-SYSTEMD boot 3' "$work/serial.txt" || explain "boot 3 never exec'd systemd"
if ! grep -q '^LUO-VM-DONE' "$work/serial.txt"; then
  ((qemu_status == 124)) && explain "qemu timed out (see $work/serial.txt)"
  explain "boot 3 did not finish (see $work/serial.txt)"
fi
grep '^LUO-VM-ERROR' "$work/serial.txt" >&2 && fail "the VM reported an error"
failed=$(grep -c '^LUO-RESULT .* FAIL' "$work/serial.txt")
passed=$(grep -c '^LUO-RESULT .* PASS' "$work/serial.txt")
# Boot 1: t2_test_luo_store, t2_library_client_stores; boot 2: t2_restore, t2_fd_contents, t2_mapping_tokens,
# t2_counter_and_timestamps, t2_library_hands_over; boot 3: t2_test_luo_check,
# t2_pid1_counter_and_timestamps.
expected=9
if ((failed > 0 || passed != expected)); then
  grep '^LUO-RESULT .* FAIL' "$work/serial.txt" >&2
  fail "$failed check(s) failed, $passed of $expected passed, real systemd PID 1 on linux-$series"
fi
echo "systemd-pid1 $series: $passed checks passed over three boots (real PID 1, library, real" \
  "PID 1), inputs ready after ${fetched}s, qemu ${booted}s, total $((SECONDS - start))s"
