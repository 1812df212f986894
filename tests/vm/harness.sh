# Sourced by the qemu harnesses (run-vm-tests.sh, run-systemd-shutdown.sh, run-systemd-pid1.sh):
# their common start. Expects $series and $here; $harness names the harness in its messages.
# Exit 77 is ctest's SKIP_RETURN_CODE: a visible skip, with the reason, when qemu, the kernel or
# systemd's packages cannot be had.

skip() {
  echo "SKIPPED $harness $series: $*" >&2
  exit 77
}
fail() {
  echo "FAILED $harness $series: $*" >&2
  exit 1
}

# Sets $kernel to the cached bzImage of $series (built on first use).
need_qemu_and_kernel() {
  command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
  kernel=$("$here/kernel.sh" build "$series") || skip "linux-source-$series could not be obtained or built"
}

# Sets $root to the unpacked tree of Debian's pinned systemd packages given as arguments.
need_systemd() {
  local status
  root=$("$here/../systemd/fetch-systemd.sh" fetch "$@")
  status=$?
  ((status == 77)) && skip "systemd could not be obtained (see above)"
  ((status == 0)) || fail "fetch-systemd.sh failed ($status)"
}
