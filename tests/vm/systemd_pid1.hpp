// systemd_pid1.hpp: issue 12 Tier 2, real systemd 262.1 (Debian's binaries) as PID 1 on a real
// LUO kernel, in both directions, three boots chained in one qemu run:
//
//   boot 1  /init execs the real /usr/lib/systemd/systemd. Its luo-tier2.service runs the
//           shipped `test-luo store` (two sealed memfds, testfd1/testfd2, and a third-party
//           session "luosession-direct" with a memfd at token 42, all in the unit's fd store);
//           luo-tier2-driver.service loads the next kernel and runs `systemctl kexec` (no
//           --force: PID 1 itself writes Stage A and execs the real systemd-shutdown).
//   boot 2  /init is the library: restore() into luo-tier2.service's store, then every fd's
//           contents, the session's token 42, the raw mapping's tokens and seals, the counter
//           and the four shutdown timestamps are checked. Then the library is the outgoing
//           manager: a fresh outgoing "luosession-direct" replaces the retrieved (incoming) one,
//           stage_a() and stage_b() with the v262 profile, and reboot(KEXEC).
//   boot 3  the real systemd again: PID 1 restores the library's handover; luo-tier2.service
//           runs the shipped `test-luo check`, and the driver compares `systemctl show -P
//           KExecCount` and the four PreviousShutdown*TimestampMonotonic with what boot 2 wrote.
//
// The units' commands are this binary (/init) run as an ordinary program: `luo-vm tier2
// service|driver`; the boot number comes from luo_stage= on the kernel command line.
//
// Verdict lines on the serial log, read by run-systemd-pid1.sh:
//   LUO-RESULT t2_<check> PASS|FAIL why   one per check, in all three boots
//   LUO-T2-KEXEC N                        boot N (1 or 2) is about to kexec
//   LUO-VM-DONE                           boot 3 finished its checks
#pragma once

#include <string>
#include <vector>

namespace luo::vm {

// Kernel command line word that selects this test.
inline constexpr char kSystemdPid1Test[] = "systemd-pid1";

// Runs boot `boot` as PID 1: boots 1 and 3 exec the real systemd, boot 2 is the library.
[[noreturn]] void run_systemd_pid1_boot(int boot, const std::string& cmdline);

// `luo-vm tier2 service|driver`: the ExecStart= of the units under the real systemd.
int run_systemd_pid1_unit(const std::vector<std::string>& args);

}  // namespace luo::vm
