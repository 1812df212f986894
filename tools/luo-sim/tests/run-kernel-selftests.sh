#!/usr/bin/env bash
# The kernel's own LUO selftests (tools/testing/selftests/liveupdate of Debian's linux-source,
# the tree tests/vm/kernel.sh fetches), compiled unmodified as ordinary dynamically linked
# programs and run under luo-sim: liveupdate (15 tests, one boot) and the four kexec tests, whose
# stage 1 and stage 2 run in boots 1 and 2 (`-s $LUO_SIM_BOOT`; stage 1 daemonizes a holder of
# the session fds and exits, and luo-sim kexecs, as the selftests' VM init does).
#
#   run-kernel-selftests.sh PROFILE LUO_SIM WORKDIR [SERIES]
#
# SERIES (the linux-source the tests come from) defaults to the profile's own for 7.2 and 7.3,
# and to 7.2 for the older profiles (no Debian source of theirs carries these tests). 7.3 moved
# the helpers to lib/ (libliveupdate); both layouts are built.
#
# On 7.2 and 7.3 every test must pass, as on the real kernels (spec §8). The older profiles must
# fail exactly the tests of features they lack (the expected lists below), nothing else.
# Exit 77 (skipped) when the source cannot be obtained or there is no C compiler.
set -uo pipefail
profile=${1:?profile} luo_sim=${2:?luo-sim} work=${3:?work dir}
case $profile in 7.2 | 7.3) series=${4:-$profile} ;; *) series=${4:-7.2} ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

skip() { echo "SKIPPED kernel selftests: $*" >&2; exit 77; }
fail() { echo "FAILED kernel selftests ($profile): $*" >&2; exit 1; }

cc=${CC:-cc}
command -v "$cc" >/dev/null || skip "no C compiler ($cc)"
src=$("$root/tests/vm/kernel.sh" source "$series" 2>"$work.source.err") ||
  skip "linux-source-$series is not available ($(tail -n1 "$work.source.err"))"
tests=$src/tools/testing/selftests/liveupdate
[[ -f $tests/liveupdate.c ]] || skip "no selftests in $src"
mkdir -p "$work/include/linux"
if [[ -f $tests/luo_test_utils.c ]]; then
  helpers=("$tests/luo_test_utils.c")
  helper_include=$tests
else
  helpers=("$tests/lib/lu_utils.c")
  helper_include=$tests/lib/include
fi
# Only the LUO uapi header comes from the tree; the rest of <linux/*> is the host's.
cp "$src/include/uapi/linux/liveupdate.h" "$work/include/linux/"
programs=(liveupdate luo_kexec_simple luo_multi_session luo_stress_files luo_stress_sessions)
for p in "${programs[@]}"; do
  "$cc" -O2 -Wall -Wno-unused-function -isystem "$work/include" -I"$tests" -I"$helper_include" \
    "$tests/$p.c" "${helpers[@]}" -o "$work/$p" 2>"$work/$p.cc.log" ||
    fail "cannot compile $p: $(head -n3 "$work/$p.cc.log")"
done

# The tests a profile cannot pass (spec §6.1, §7): the 7.2 checks and limits, and before 7.0
# the double-preservation check.
case $profile in
  6.19) expected_not_ok="prevent_double_preservation create_session_no_null_termination create_session_empty_name get_session_name get_session_name_max_length preserve_many_sessions preserve_many_files"
        expected_kexec_fail="luo_stress_files luo_stress_sessions" ;;
  7.0) expected_not_ok="create_session_no_null_termination create_session_empty_name get_session_name get_session_name_max_length preserve_many_sessions preserve_many_files"
       expected_kexec_fail="luo_stress_files luo_stress_sessions" ;;
  *) expected_not_ok="" expected_kexec_fail="" ;;
esac

"$luo_sim" run --profile "$profile" -- "$work/liveupdate" >"$work/liveupdate.tap" 2>&1
not_ok=$(sed -n 's/^not ok [0-9]* liveupdate_device\.//p' "$work/liveupdate.tap" | tr '\n' ' ' | sed 's/ $//')
ok_count=$(grep -c '^ok [0-9]' "$work/liveupdate.tap")
[[ $not_ok == "$expected_not_ok" ]] ||
  { cat "$work/liveupdate.tap" >&2; fail "liveupdate: not ok '$not_ok', expected '$expected_not_ok'"; }
((ok_count + $(wc -w <<<"$expected_not_ok") == 15)) ||
  { cat "$work/liveupdate.tap" >&2; fail "liveupdate: $ok_count ok lines"; }

passed_kexec=0
for p in luo_kexec_simple luo_multi_session luo_stress_files luo_stress_sessions; do
  "$luo_sim" run --profile "$profile" --boots 2 -- \
    sh -c 'exec "$0" -s "$LUO_SIM_BOOT"' "$work/$p" >"$work/$p.log" 2>&1
  status=$?
  if grep -q 'TEST PASSED' "$work/$p.log" && ((status == 0)); then
    [[ " $expected_kexec_fail " == *" $p "* ]] && { cat "$work/$p.log" >&2; fail "$p passed on $profile"; }
    passed_kexec=$((passed_kexec + 1))
  else
    [[ " $expected_kexec_fail " == *" $p "* ]] ||
      { tail -n 20 "$work/$p.log" >&2; fail "$p did not pass (exit $status)"; }
  fi
done
echo "kernel selftests ($series source) on profile $profile: liveupdate $ok_count/15 ok" \
  "(expected not ok: ${expected_not_ok:-none}), kexec tests passed: $passed_kexec/4" \
  "(expected to fail: ${expected_kexec_fail:-none})"
