// systemd_shutdown.hpp: issue 12 Tier 1, the real `systemd-shutdown kexec` of Debian's systemd
// 262.1 between two boots of the library's /init on a real LUO kernel.
//
// Boot 1 (/init as PID 1) plays systemd 262's PID 1 with the library: it fills fd stores
// (several owners, memfds of known contents, one third-party LUO session), runs stage_a(),
// writes Stage A into the "luo-fd-store" memfd, loads the next kernel with kexec_file_load and
// execs the real /usr/lib/systemd/systemd-shutdown with the verb `kexec` and
// $SYSTEMD_LUO_SERIALIZE_FD. systemd-shutdown then kills, unmounts, syncs, builds Stage B itself
// (the "systemd" session, tokens 1..N, the token-0 mapping with its own ShutdownLate*
// timestamps) and kexecs. Boot 2 is the library's /init again: restore() into the same owners,
// then every fd's contents, the tokens, the counter and the four shutdown timestamps are checked.
//
// Verdict lines on the serial log, read by run-systemd-shutdown.sh:
//   LUO-T1-EXEC ...                      boot 1 is about to exec systemd-shutdown
//   LUO-RESULT t1_<check> PASS|FAIL why  boot 2's checks, one per line
//   LUO-VM-DONE                          boot 2 finished
#pragma once

#include <string>

namespace luo::vm {

// Kernel command line word that selects this test instead of the scenarios.
inline constexpr char kSystemdShutdownTest[] = "systemd-shutdown";
// Where the initramfs carries the real binary (its RUNPATH finds libsystemd-shared-262.so).
inline constexpr char kSystemdShutdownPath[] = "/usr/lib/systemd/systemd-shutdown";

// Runs boot `boot` of Tier 1 as PID 1. Boot 1 does not return when the exec succeeds.
[[noreturn]] void run_systemd_shutdown_boot(int boot, const std::string& cmdline);

}  // namespace luo::vm
