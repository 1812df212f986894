// Tier 1 of issue 12: see systemd_shutdown.hpp. Boot 1 hands the library's Stage A to the real
// systemd-shutdown; boot 2 restores what that program built and checks it against the fixture
// below, which both boots share (boot 2 knows nothing else of boot 1).
#include "systemd_shutdown.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cpio_writer.hpp"
#include "handoff_checks.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/linux_kernel.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "luo/impl/shutdown_exec.hpp"
#include "recorder.hpp"
#include "tapping_port.hpp"
#include "vm_init.hpp"

namespace luo::vm {
namespace {

using json = nlohmann::json;

// What boot 1 stores, in add order. Two fds share a name (legitimate in an fd store), one name
// needs JSON escapes, one file is larger than a page, and a template instance is an owner.
struct StoredFd {
  const char* owner;
  const char* name;
  std::string contents;
};

const std::vector<StoredFd>& stored_fds() {
  static const std::vector<StoredFd> fds = {
      {"vmm.service", "guest-ram", "guest memory 0123456789"},
      {"vmm.service", "guest-ram", "a second fd under the same name"},
      {"vmm.service", "cfg \"quoted\" \\ name", "a name that needs JSON escapes"},
      {"db.service", "wal", std::string(70000, 'w') + "end of wal"},
      {"getty@tty1.service", "tty-state", "instance of a template unit"},
  };
  return fds;
}

// A third-party session in vmm.service's store: systemd-shutdown keeps its fd open through the
// kexec and records it as a luo_session entry without a token.
constexpr char kSessionOwner[] = "vmm.service";
constexpr char kSessionEntry[] = "vm0";
constexpr char kSessionName[] = "tier1-vm0";
constexpr std::uint64_t kSessionToken = 7;
constexpr char kSessionContents[] = "inside a third-party session";

// An owner whose store must not travel (preserve mode `no`).
constexpr char kStayingOwner[] = "cron.service";

// The counter boot 1 pretends its PID 1 has (as if 41 kexecs came before), so the mapping's
// value cannot be mistaken for a default.
constexpr std::uint32_t kWrittenKexecCount = 41;

FdStoreConfig store_config(std::string_view owner) {
  return {.max = 16, .preserve = owner == kStayingOwner ? PreserveMode::no : PreserveMode::yes};
}

void load_owners(HandoffManager& mgr) {
  for (const auto& s : stored_fds()) {
    if (!mgr.load_owner(s.owner, store_config(s.owner)))
      fail_boot("load " + std::string(s.owner));
  }
  if (!mgr.load_owner(kStayingOwner, store_config(kStayingOwner)))
    fail_boot("load " + std::string(kStayingOwner));
}

[[noreturn]] void boot1(const std::string& cmdline) {
  const auto shutdown_start = luo::dual_timestamp_now();
  // No /sys: systemd-shutdown 262.1 kexecs without it (tried), so /init gives it only what
  // the scenarios' boots have, /dev and /proc.

  LinuxKernel kernel;
  IoctlPort port(kernel);
  LiveUpdate lu(port);
  Device dev = open_device_or_fail(lu);

  // The library's manager, leaving its main loop for kexec as PID 1 does: Stage A, then the
  // exec of the real systemd-shutdown.
  HandoffManager mgr(lu, port, {.profile = SystemdProfile::v262});
  load_owners(mgr);
  for (const auto& s : stored_fds()) {
    auto m = memfd::create("tier1", memfd::Sealing::allow);
    if (!m.ok() || !memfd::write_at(m.value().get(), 0, s.contents).ok())
      fail_boot("memfd for " + std::string(s.name));
    if (!mgr.store(s.owner, std::move(m).value(), s.name))
      fail_boot("store " + std::string(s.name));
  }
  auto session = dev.create_session(kSessionName);
  if (!session)
    fail_boot("create_session: " + session.error().message());
  {
    auto m = memfd::create("tier1-session", memfd::Sealing::allow);
    if (!m.ok() || !memfd::write_at(m.value().get(), 0, kSessionContents).ok() ||
        !session.value().preserve(m.value().get(), kSessionToken))
      fail_boot("preserve into " + std::string(kSessionName));
  }
  if (!mgr.store(kSessionOwner, UniqueFd(::fcntl(session.value().fd(), F_DUPFD_CLOEXEC, 3)),
                 kSessionEntry))
    fail_boot("store the session fd");
  {
    auto m = memfd::create("tier1-stays", memfd::Sealing::allow);
    if (!m.ok() || !mgr.store(kStayingOwner, std::move(m).value(), "not-preserved"))
      fail_boot("store into " + std::string(kStayingOwner));
  }

  // Stage A's `state` as systemd 262.1's PID 1 writes it: the counter and its two shutdown
  // timestamps.
  if (!mgr.adopt_kexec_count(kWrittenKexecCount))
    fail_boot("adopt the kexec counter");
  mgr.begin_shutdown(shutdown_start);
  auto a = mgr.stage_a(luo::dual_timestamp_now());
  if (!a || a.value()->state != HandoffState::serialized)
    fail_boot("stage_a did not serialize");
  const StageAResult& staged = *a.value();
  auto memfd = mgr.stage_a_memfd();
  if (!memfd)
    fail_boot("stage_a_memfd: " + memfd.error().message());
  std::printf("LUO-T1-STAGE-A %s\n", handoff::to_json(staged.document).c_str());

  if (auto why = load_next_boot(cmdline, 1); !why.empty())
    fail_boot(why);
  const std::string env_fd = serialize_fd_assignment(memfd.value().get());
  if (!mgr.keep_across_exec(memfd.value().get()))
    fail_boot("keep_across_exec");
  // Its log on the console at info level: one line per phase, two of them markers for the harness.
  const char* const argv[] = {"systemd-shutdown", "kexec", nullptr};
  const char* const envp[] = {env_fd.c_str(), "SYSTEMD_LOG_TARGET=console",
                              "SYSTEMD_LOG_LEVEL=info", "SYSTEMD_LOG_COLOR=0", nullptr};
  std::printf("LUO-T1-EXEC %s kexec with %s, %zu staged fds\n", kSystemdShutdownPath,
              env_fd.c_str(), staged.fds.size());
  std::fflush(stdout);
  ::execve(kSystemdShutdownPath, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  fail_boot("execve " + std::string(kSystemdShutdownPath) + ": " + std::strerror(errno));
}

// The counter and the four shutdown timestamps: as systemd-shutdown wrote them into the mapping
// (KExecCount copied from Stage A, its own two late ones added), and as the library's restore
// reads them back (the counter to adopt is the written one plus one).
void check_counter_and_timestamps(Recorder& rec, const RestoreResult& r, const json& state) {
  rec.begin("t1_counter_and_timestamps");
  rec.step("state", 0, {{"state", state}, {"library_kexecs_count", r.kexecs_count}});
  rec.expect(state.is_object(), "the mapping has a state object");
  if (!state.is_object()) {
    rec.end();
    return;
  }
  const std::string counter_key(kKexecCountKeyV262);
  const auto count = state.find(counter_key);
  rec.expect(count != state.end() && count->is_number_unsigned() &&
                 count->get<std::uint64_t>() == kWrittenKexecCount,
             "state.KExecCount is the Stage A counter, copied by systemd-shutdown");
  rec.expect(!state.contains(std::string(kKexecCountKeyV261)), "no v261 counter key appears");
  rec.expect(r.kexecs_count == kWrittenKexecCount + 1,
             "the library's restore adopts KExecCount + 1, got " + std::to_string(r.kexecs_count));
  expect_shutdown_timestamps(rec, state, r);
  rec.end();
}

[[noreturn]] void boot2() {
  Recorder rec(stdout, kDefaultProfile);
  TappedKernel real;
  HandoffManager mgr(real.lu, real.port);
  load_owners(mgr);
  auto restored = mgr.restore(real.dev);
  if (!restored)
    fail_boot("restore: " + restored.error().message());
  const RestoreResult& r = *restored.value();

  rec.begin("t1_restore");
  expect_everything_restored(rec, r, mgr.held());
  rec.end();

  // Every stored fd is back in its owner's store with its contents (a multiset per owner: the
  // store's order is the restore's, not boot 1's).
  rec.begin("t1_fd_contents");
  std::map<std::string, std::multiset<std::pair<std::string, std::string>>> expected, got;
  for (const auto& s : stored_fds())
    expected[s.owner].insert({s.name, s.contents});
  expected[kSessionOwner].insert({kSessionEntry, kSessionContents});
  for (const auto& [owner, store] : mgr.owners().owners()) {
    for (const auto& e : store.entries()) {
      if (e.retrieved_session) {
        // The third-party session came back unfinished: its file, then FINISH, are ours.
        auto f = real.ioctl_port.retrieve_fd(e.fd.get(), kSessionToken);
        rec.step("retrieve from " + std::string(kSessionName), f.ok() ? 0 : f.raw_errno());
        got[owner].insert({e.name, f.ok() ? contents_of(f.value().get()) : "<not retrieved>"});
        rec.expect_result(rec.step("finish " + std::string(kSessionName),
                                   real.ioctl_port.finish_session(e.fd.get(), 0).ok() ? 0 : EIO),
                          0, "finish the third-party session");
      } else {
        got[owner].insert({e.name, contents_of(e.fd.get())});
      }
    }
  }
  for (const auto& [owner, entries] : expected) {
    json names = json::array();
    for (const auto& [name, contents] : got[owner])
      names.push_back({name, contents.size()});
    rec.step("store " + owner, 0, {{"entries", names}});
    rec.expect(got[owner] == entries, owner + ": every fd back with its contents");
  }
  rec.expect(got[kStayingOwner].empty(), std::string(kStayingOwner) + " (preserve no) stays empty");
  rec.end();

  // The mapping systemd-shutdown wrote: tokens dense 1..N in document order, each token's file
  // the contents the entry's name was stored with, the session entry without a token.
  rec.begin("t1_mapping_tokens");
  const json mapping = expect_systemd_mapping(rec, real.port, "LUO-T1-MAPPING");
  const auto& by_token = real.port.by_token();
  std::uint64_t next_token = 1;
  std::size_t sessions = 0;
  if (mapping.is_object() && mapping.contains("units") && mapping["units"].is_object()) {
    for (const auto& [unit, body] : mapping["units"].items()) {
      for (const auto& e : body.value("fdstore", json::array())) {
        const std::string name = e.value("name", "");
        if (e.value("type", "") == "luo_session") {
          ++sessions;
          rec.expect(unit == kSessionOwner && name == kSessionEntry &&
                         e.value("sessionName", "") == kSessionName && !e.contains("token"),
                     "the luo_session entry names its session and has no token");
          continue;
        }
        const auto token = e.value("token", std::uint64_t{0});
        rec.expect(token == next_token++, unit + "/" + name + " has the next dense token");
        const auto fd = by_token.find(token);
        bool known = false;
        for (const auto& s : stored_fds()) {
          known |= fd != by_token.end() && unit == s.owner && name == s.name &&
                   contents_of(fd->second.get()) == s.contents;
        }
        rec.expect(known, unit + "/" + name + ": token " + std::to_string(token) +
                              " carries a file stored under that name");
      }
    }
  }
  rec.expect(next_token - 1 == stored_fds().size() && sessions == 1,
             "one token per stored fd and one session entry");
  rec.end();

  check_counter_and_timestamps(rec, r,
                               mapping.is_object() ? mapping.value("state", json()) : json());
  std::printf("LUO-SUMMARY boot=2 scenarios=%d failures=%d\n", rec.scenarios(), rec.failures());
  power_off("LUO-VM-DONE");
}

}  // namespace

[[noreturn]] void run_systemd_shutdown_boot(int boot, const std::string& cmdline) {
  if (boot == 1)
    boot1(cmdline);
  boot2();
}

}  // namespace luo::vm
