// systemd262.hpp: Debian's systemd 262.1 run in-process (Tier 0 of issue 12).
//
// The pinned libsystemd-shared-262.so and libsystemd-core-262.so (tests/systemd/fetch-systemd.sh,
// never installed) are dlopen'd into the test process and their own code runs: Stage A parser
// (luo_parse_serialization), timestamp merger (luo_serialization_add_shutdown_timestamps), Stage B
// builder (luo_preserve_fd_stores) and PID 1's whole restore (manager_luo_restore_fd_stores, with
// its own dispatch tables). Their /dev/liveupdate opens and LUO ioctls go to the IoctlBackend
// given to each call (a SimulatedKernel) through interpose.c.
//
// The restore needs a Manager. Its code touches three fields of it and calls one function:
// runtime_scope (0 = system, so the zeroed buffer passes), the kexec counter and the four previous
// shutdown timestamps (written on success), and manager_dispatch_external_fd_to_unit() for every
// restored entry, which libsystemd-core calls through its PLT, so the definition in this test
// executable receives each fd instead of a unit. The field offsets come from disassembling
// 262.1-1's manager_luo_restore_fd_stores; Systemd262Restore.ManagerLayout checks them by
// behaviour (a known counter and known timestamps must land there).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/adapters/ioctl_backend.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::sdtest {

// systemd's dual_timestamp: CLOCK_REALTIME and CLOCK_MONOTONIC, in microseconds.
struct DualTimestamp {
  std::uint64_t realtime = 0;
  std::uint64_t monotonic = 0;
  bool operator==(const DualTimestamp&) const = default;
};

// One sd_json_dispatch_field of a table read out of libsystemd-core's memory.
struct DispatchField {
  std::string name;
  std::int64_t type = 0;  // sd_json_variant_type_t; -EINVAL is "any type"
  std::string callback;   // the dispatcher's symbol name (dladdr)
  std::uint64_t offset = 0;
  std::uint64_t flags = 0;  // sd_json_dispatch_flags_t
  bool operator==(const DispatchField&) const = default;
};

class Systemd262 {
 public:
  // The process-wide instance, loaded on first use; nullptr when systemd cannot be had, with the
  // reason (the fetch helper's exit 77, a missing symbol, a table not found) in `why_not`.
  static Systemd262* get(std::string* why_not);

  std::string version() const { return version_; }

  struct StageB {
    int parse_result = 0;       // luo_parse_serialization()
    std::vector<int> keep_fds;  // its list of fds systemd-shutdown keeps open (Stage A parser)
    int merge_result = 0;       // luo_serialization_add_shutdown_timestamps(), when called
    int result = 0;             // luo_preserve_fd_stores()
    UniqueFd session;           // the "systemd" session it returned; hold until kexec
    // Wall time inside luo_preserve_fd_stores() alone, the kernel's share included
    // (bench/systemd_phases_bench subtracts what its backend measured).
    std::chrono::steady_clock::duration builder_time{};
  };
  // systemd-shutdown's LUO part: Stage A in a memfd named by $SYSTEMD_LUO_SERIALIZE_FD, parsed,
  // the late shutdown timestamps merged into `state` when given (as 262's systemd-shutdown does
  // just before Stage B), then Stage B against `kernel`.
  StageB stage_b(IoctlBackend& kernel, std::string_view stage_a,
                 const std::optional<std::array<DualTimestamp, 2>>& late);

  struct Dispatched {
    std::string unit;
    std::string name;
    std::uint64_t index = 0;
    std::string context;
    UniqueFd fd;
  };
  struct Restore {
    int result = 0;
    // The counter is written only once the mapping was accepted (fatal errors and version > 1
    // leave it alone); a sentinel tells the two apart. On a fresh boot the manager's own counter
    // is 0, which is what 262.1 increments when `state` fails to dispatch.
    std::optional<std::uint32_t> counter;
    // `state` failed to dispatch (a mistyped counter or timestamp): 262.1 then ignores all of
    // `state` (counter = previous + 1, no timestamps) and restores the entries anyway.
    bool state_ignored = false;
    // In state-table order: ShutdownStart, ShutdownFinish, ShutdownLateStart, ShutdownLateFinish.
    std::array<DualTimestamp, 4> timestamps{};
    std::vector<Dispatched> dispatched;
    // Wall time inside manager_luo_restore_fd_stores(), the kernel's share and the recording of
    // `dispatched` included.
    std::chrono::steady_clock::duration restore_time{};
  };
  // PID 1's restore on a fresh boot of `kernel`.
  Restore restore(IoctlBackend& kernel);

  // `"<unit id>/<name>"` through libsystemd-shared's id128_digest() and sd_id128_to_string():
  // the 32 hex characters LUOSession= takes the first 24 of.
  std::string id128_digest_hex(std::string_view data) const;
  bool fdname_is_valid(const std::string& name) const;
  bool string_is_safe(const std::string& s) const;
  bool luo_session_name_is_valid(const std::string& s) const;
  // PID 1's Stage A test of a stored fd: 0 and the name for a session, -EMEDIUMTYPE for "not a
  // session", any other -errno for "cannot tell" (PID 1 then skips the entry).
  int fd_get_luo_session_name(int fd, std::string* name) const;

  // The restore's dispatch tables, as compiled into libsystemd-core-262.so.
  const std::vector<DispatchField>& mapping_table() const { return mapping_table_; }
  const std::vector<DispatchField>& state_table() const { return state_table_; }
  const std::vector<DispatchField>& entry_table() const { return entry_table_; }

  Systemd262(const Systemd262&) = delete;
  Systemd262& operator=(const Systemd262&) = delete;

 private:
  Systemd262() = default;
  bool load(std::string* why_not);

  std::string version_;
  void* shared_ = nullptr;
  void* core_ = nullptr;
  std::vector<DispatchField> mapping_table_, state_table_, entry_table_;
};

}  // namespace luo::sdtest
