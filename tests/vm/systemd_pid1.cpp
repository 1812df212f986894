// Tier 2 of issue 12: see systemd_pid1.hpp. Boots 1 and 3 are the real systemd 262.1 as PID 1
// with the shipped test-luo; boot 2 is the library, first reading what real PID 1 and
// systemd-shutdown handed over, then handing over itself to the real PID 1 of boot 3.
#include "systemd_pid1.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cpio_writer.hpp"
#include "handoff_checks.hpp"
#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/linux_kernel.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/sd_notify.hpp"
#include "luo/impl/handoff_manager.hpp"
#include "recorder.hpp"
#include "tapping_port.hpp"
#include "vm_init.hpp"

extern char** environ;

namespace luo::vm {
namespace {

using json = nlohmann::json;

// Paths inside the initramfs (run-systemd-pid1.sh puts the files there).
constexpr char kSystemdPath[] = "/usr/lib/systemd/systemd";
constexpr char kSystemctlPath[] = "/usr/bin/systemctl";
constexpr char kTestLuoPath[] = "/usr/lib/systemd/tests/unit-tests/manual/test-luo";
// Every file of the initramfs besides /init and /bzImage, one guest path a line: the kexec
// of boots 1 and 2 rebuilds the same root filesystem from it (systemd and its units included).
constexpr char kManifestPath[] = "/luo-tier2-files";
// Written by boot 2 into boot 3's initramfs: what boot 3's PID 1 must report, one "key value"
// a line (KExecCount and the PreviousShutdown*TimestampMonotonic properties).
constexpr char kExpectedPath[] = "/luo-tier2-expected";

// The unit whose fd store carries everything, and what test-luo puts there (spec §4.2; the
// strings are test-luo's own, read from the 262.1 binary).
constexpr char kUnit[] = "luo-tier2.service";
constexpr char kSessionEntry[] = "luosession-direct";  // test-luo's default prefix + "-direct"
constexpr std::uint64_t kSessionToken = 42;
constexpr char kSessionContents[] = "luo-session-memfd-test-data";

// Boot 1 also stores through the library's own sd_notify client into the real PID 1: a memfd,
// and two O_PATH fds, which no kernel can preserve: one of a regular file (/init) and one
// reopened from a LUO session fd through /proc, on the anon-inode filesystem with the session's
// link text but no session behind it (GET_NAME says EBADF on it). Neither may travel.
constexpr char kLibraryEntry[] = "library-memfd";
constexpr char kLibraryContents[] = "stored by luo::notify into the real PID 1";
constexpr char kOpathFileEntry[] = "opath-file";
constexpr char kOpathSessionEntry[] = "opath-session";
constexpr char kOpathSessionName[] = "t2-opath";

// An O_PATH fd of `fd`'s file through /proc/self/fd (a magic link: same dentry, new file).
UniqueFd reopen_o_path(int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return UniqueFd(::open(path.c_str(), O_PATH | O_CLOEXEC));
}

std::string fd_link(int fd) {
  char link[256] = {};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
  return n > 0 ? std::string(link, static_cast<std::size_t>(n)) : "<" + errno_label(errno) + ">";
}

// The memfds that travel, by name: test-luo's two (its own strings) and the library's.
const std::map<std::string, std::string>& stored_memfds() {
  static const std::map<std::string, std::string> fds = {
      {"testfd1", "liveupdate-test-data-1"},
      {"testfd2", "liveupdate-test-data-2"},
      {kLibraryEntry, kLibraryContents},
  };
  return fds;
}

std::string read_text(const char* path) {
  std::string text;
  read_file(path, text);
  return text;
}

std::string cmdline_word(const std::string& cmdline, const std::string& key) {
  std::istringstream in(cmdline);
  for (std::string word; in >> word;) {
    if (word.rfind(key + "=", 0) == 0)
      return word.substr(key.size() + 1);
  }
  return {};
}

std::string proc_cmdline() {
  std::string cmdline = read_text("/proc/cmdline");
  while (!cmdline.empty() && (cmdline.back() == '\n' || cmdline.back() == ' '))
    cmdline.pop_back();
  return cmdline;
}

// The manifest's files, each at the same path in the next initramfs, plus `more`.
std::vector<ExtraFile> next_initramfs_files(const std::vector<std::string>& more = {}) {
  std::vector<ExtraFile> files;
  std::istringstream lines(read_text(kManifestPath));
  for (std::string path; std::getline(lines, path);) {
    if (!path.empty())
      files.emplace_back(path, path);
  }
  for (const auto& path : more)
    files.emplace_back(path, path);
  return files;
}

// Runs `argv` (absolute path first) with this process's environment and inherited fds (the
// unit's LISTEN_FDS among them); its stdout into *out when given. The exit status, or -1.
int run_program(const std::vector<std::string>& argv, std::string* out) {
  int pipe_fds[2] = {-1, -1};
  if (out != nullptr && ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    std::printf("LUO-T2 pipe2 for %s: %s\n", argv[0].c_str(), std::strerror(errno));
    return -1;
  }
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::printf("LUO-T2 fork for %s: %s\n", argv[0].c_str(), std::strerror(errno));
    return -1;
  }
  if (pid == 0) {
    if (out != nullptr)
      ::dup2(write_end.get(), STDOUT_FILENO);  // the duplicate is not close-on-exec
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execve(args[0], args.data(), environ);
    std::fprintf(stderr, "LUO-T2 execve %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  write_end.reset();
  if (out != nullptr) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      out->append(buf, static_cast<std::size_t>(n));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Boots 1 and 3, under the real systemd: the units' commands.

// The library's sd_notify client storing into the real PID 1, beside test-luo.
bool library_client_stores() {
  Recorder rec(stdout, kDefaultProfile);
  rec.begin("t2_library_client_stores");
  auto address = notify::from_environment();
  if (!rec.expect(address.ok() && address.value().has_value(), "NOTIFY_SOCKET is set")) {
    rec.end();
    return false;
  }
  const notify::Address& to = *address.value();
  auto m = memfd::create("luo-tier2", memfd::Sealing::allow);
  rec.expect(m.ok() && memfd::write_at(m.value().get(), 0, kLibraryContents).ok(),
             "a memfd with the library's data");
  if (m.ok()) {
    const int fd = m.value().get();
    const auto r = notify::store_fds(to, std::span<const int>(&fd, 1), kLibraryEntry);
    rec.expect_result(rec.step("FDSTORE " + std::string(kLibraryEntry), r.ok() ? 0 : r.raw_errno()),
                      0, "FDSTORE=1 of the memfd is sent");
  }
  // The session for the O_PATH reopen; it dies with this process (its only real fd).
  LinuxKernel kernel;
  IoctlPort port(kernel);
  LiveUpdate lu(port);
  auto dev = lu.open_device();
  rec.expect_result(rec.step("open /dev/liveupdate", dev ? 0 : dev.error().raw_errno()), 0,
                    "the device opens (test-luo closed it)");
  std::optional<OutgoingSession> session;
  if (dev) {
    auto s = dev.value().create_session(kOpathSessionName);
    rec.expect_result(
        rec.step("create " + std::string(kOpathSessionName), s ? 0 : s.error().raw_errno()), 0,
        "a session to reopen with O_PATH");
    if (s)
      session.emplace(std::move(s).value());
  }
  // O_PATH fds are not pollable (epoll_ctl says EBADF), hence FDPOLL=0, which PID 1 honours.
  std::vector<std::pair<std::string, UniqueFd>> opaths;
  opaths.emplace_back(kOpathFileEntry, UniqueFd(::open("/init", O_PATH | O_CLOEXEC)));
  if (session)
    opaths.emplace_back(kOpathSessionEntry, reopen_o_path(session->fd()));
  for (const auto& [name, fd] : opaths) {
    const int raw = fd.get();
    const auto r =
        raw < 0 ? SysStatus::failure(EBADF)
                : notify::store_fds(to, std::span<const int>(&raw, 1), name, notify::Poll::off);
    rec.expect_result(
        rec.step("FDSTORE " + name, r.ok() ? 0 : r.raw_errno(), {{"link", fd_link(raw)}}), 0,
        "FDSTORE=1 of the O_PATH fd " + name + " is sent");
  }
  const auto b = notify::barrier(to, std::chrono::seconds(20));
  rec.expect_result(rec.step("BARRIER", b.ok() ? 0 : b.raw_errno()), 0,
                    "PID 1 has read every message before the barrier");
  rec.end();
  return rec.failures() == 0;
}

// luo-tier2.service: boot 1 stores through test-luo and the library's client, boot 3 checks
// through test-luo.
int unit_service(int boot) {
  Recorder rec(stdout, kDefaultProfile);
  if (boot == 1) {
    rec.begin("t2_test_luo_store");
    const int status = run_program({kTestLuoPath, "store"}, nullptr);
    rec.expect_result(
        rec.step("test-luo store", status == 0 ? 0 : EIO, {{"exit", status}}), 0,
        "test-luo store exits 0 under the real PID 1, exit " + std::to_string(status));
    rec.end();
    const bool library_stored = library_client_stores();
    return status == 0 && library_stored ? 0 : 1;
  }
  rec.begin("t2_test_luo_check");
  const char* fds = std::getenv("LISTEN_FDS");
  const char* names = std::getenv("LISTEN_FDNAMES");
  rec.step("listen", 0, {{"LISTEN_FDS", fds ? fds : ""}, {"LISTEN_FDNAMES", names ? names : ""}});
  const int status = run_program({kTestLuoPath, "check"}, nullptr);
  rec.expect_result(
      rec.step("test-luo check", status == 0 ? 0 : EIO, {{"exit", status}}), 0,
      "test-luo check passes on what the library handed over, exit " + std::to_string(status));
  rec.end();
  return status == 0 ? 0 : 1;
}

// luo-tier2-driver.service, after luo-tier2.service: boot 1 loads boot 2 and runs
// `systemctl kexec`; boot 3 compares PID 1's counter and previous shutdown timestamps with
// what boot 2 wrote, then ends the VM.
int unit_driver(int boot, const std::string& cmdline) {
  if (boot == 1) {
    if (auto why = load_next_boot(cmdline, 1, next_initramfs_files()); !why.empty()) {
      std::printf("LUO-VM-ERROR boot 1: %s\n", why.c_str());
      return 1;
    }
    std::printf("LUO-T2-KEXEC 1 systemctl kexec\n");
    std::fflush(stdout);
    // No --force: the kexec goes through PID 1's kexec.target, so PID 1 writes Stage A and
    // execs systemd-shutdown (--force --force would reboot from systemctl and skip both).
    const char* const argv[] = {"systemctl", "kexec", nullptr};
    ::execve(kSystemctlPath, const_cast<char* const*>(argv), environ);
    std::printf("LUO-VM-ERROR execve %s: %s\n", kSystemctlPath, std::strerror(errno));
    return 1;
  }
  Recorder rec(stdout, kDefaultProfile);
  rec.begin("t2_pid1_counter_and_timestamps");
  std::map<std::string, std::string> expected;
  std::istringstream lines(read_text(kExpectedPath));
  for (std::string key, value; lines >> key >> value;)
    expected[key] = value;
  rec.expect(expected.count("KExecCount") == 1, std::string(kExpectedPath) + " names KExecCount");
  for (const auto& [key, value] : expected) {
    // "unit:Property" for a unit's property, else the manager's.
    const auto colon = key.find(':');
    const std::string property = colon == std::string::npos ? key : key.substr(colon + 1);
    std::vector<std::string> argv = {kSystemctlPath, "show", "-P", property};
    if (colon != std::string::npos)
      argv.push_back(key.substr(0, colon));
    std::string shown;
    const int status = run_program(argv, &shown);
    shown = trimmed(shown);
    rec.step("systemctl show -P " + key, status == 0 ? 0 : EIO,
             {{"shown", shown}, {"expected", value}});
    rec.expect(status == 0 && shown == value,
               key + " is " + value + " as boot 2 wrote it, PID 1 shows '" + shown + "'");
  }
  rec.end();
  std::printf("LUO-SUMMARY boot=3 scenarios=%d failures=%d\n", rec.scenarios(), rec.failures());
  power_off("LUO-VM-DONE");
}

// ---------------------------------------------------------------------------------------------
// Boot 2: the library reads real systemd's handover, then hands over to real systemd.

void check_restore(Recorder& rec, const RestoreResult& r, const HeldFds& held) {
  rec.begin("t2_restore");
  expect_everything_restored(rec, r, held);
  rec.expect(r.report.size() == stored_memfds().size() + 1,
             "one report per travelling entry (4), got " + std::to_string(r.report.size()));
  rec.end();
}

// Each of test-luo's fds back in luo-tier2.service's store with its contents; the third-party
// session's token 42 retrieved from it. Returns that memfd, which boot 2 hands over again.
UniqueFd check_contents(Recorder& rec, const FdStoreRegistry& owners, KernelPort& port) {
  rec.begin("t2_fd_contents");
  UniqueFd session_memfd;
  std::map<std::string, std::string> got;
  bool session_seen = false;
  if (const FdStore* store = owners.find(kUnit);
      rec.expect(store != nullptr, "the unit is loaded")) {
    for (const auto& e : store->entries()) {
      if (e.name == kSessionEntry) {
        session_seen = true;
        rec.expect(e.retrieved_session, std::string(kSessionEntry) + " came back as a session");
        auto f = port.retrieve_fd(e.fd.get(), kSessionToken);
        rec.step("retrieve token 42 from " + std::string(kSessionEntry),
                 f.ok() ? 0 : f.raw_errno());
        if (rec.expect(f.ok(), "token 42 of the third-party session is retrieved")) {
          const std::string text = contents_of(f.value().get());
          rec.expect(text == kSessionContents,
                     "token 42 holds test-luo's data, got '" + text + "'");
          session_memfd = std::move(f).value();
        }
        continue;
      }
      got[e.name] = contents_of(e.fd.get());
    }
    rec.step("store " + std::string(kUnit), 0, {{"memfds", got}});
  }
  rec.expect(session_seen, std::string(kSessionEntry) + " is in the store");
  rec.expect(got == stored_memfds(),
             "testfd1, testfd2 and library-memfd back with their contents, nothing else");
  rec.end();
  return session_memfd;
}

// The mapping real systemd-shutdown wrote, read through the tapping port.
json check_mapping(Recorder& rec, const TappingPort& port) {
  rec.begin("t2_mapping_tokens");
  const json mapping = expect_systemd_mapping(rec, port, "LUO-T2-MAPPING");
  const auto& by_token = port.by_token();
  const json units = mapping.is_object() ? mapping.value("units", json::object()) : json::object();
  rec.expect(units.size() == 1 && units.contains(kUnit), "only luo-tier2.service has entries");
  std::uint64_t next_token = 1;
  std::set<std::string> names;
  for (const auto& e : units.value(kUnit, json::object()).value("fdstore", json::array())) {
    const std::string name = e.value("name", "");
    names.insert(name);
    if (e.value("type", "") == "luo_session") {
      rec.expect(name == kSessionEntry && e.value("sessionName", "") == kSessionEntry &&
                     !e.contains("token"),
                 "the luo_session entry names its session and has no token");
      continue;
    }
    const auto token = e.value("token", std::uint64_t{0});
    rec.expect(token == next_token++, name + " has the next dense token");
    const auto fd = by_token.find(token);
    const auto want = stored_memfds().find(name);
    rec.expect(fd != by_token.end() && want != stored_memfds().end() &&
                   contents_of(fd->second.get()) == want->second,
               name + ": token " + std::to_string(token) + " carries test-luo's data");
  }
  rec.expect(names == std::set<std::string>{"testfd1", "testfd2", kLibraryEntry, kSessionEntry},
             "the entries are test-luo's three and the library's memfd (no O_PATH fd)");
  rec.expect(
      units.value(kUnit, json::object()).value("fdstore", json::array()).size() == names.size(),
      "no name twice");
  rec.end();
  return mapping;
}

// The counter and the four timestamps real PID 1 and systemd-shutdown wrote, and what the
// library's restore made of them.
void check_counter_and_timestamps(Recorder& rec, const RestoreResult& r, const json& mapping) {
  rec.begin("t2_counter_and_timestamps");
  const json state = mapping.is_object() ? mapping.value("state", json()) : json();
  rec.step("state", 0, {{"state", state}, {"library_kexecs_count", r.kexecs_count}});
  if (!rec.expect(state.is_object(), "the mapping has a state object")) {
    rec.end();
    return;
  }
  // Boot 1 was a cold boot: real PID 1's counter is 0, and the restore adopts 0 + 1.
  const auto count = state.find(std::string(kKexecCountKeyV262));
  rec.expect(
      count != state.end() && count->is_number_unsigned() && count->get<std::uint64_t>() == 0,
      "state.KExecCount is 0 after a cold boot");
  rec.expect(r.kexecs_count == 1, "the restore adopts 1, got " + std::to_string(r.kexecs_count));
  expect_shutdown_timestamps(rec, state, r);
  rec.end();
}

[[noreturn]] void boot2(const std::string& cmdline) {
  Recorder rec(stdout, kDefaultProfile);
  TappedKernel real;
  // The library's manager: the handoff as one object, as an embedder runs it.
  HandoffManager mgr(real.lu, real.port, {.profile = SystemdProfile::v262});
  if (!mgr.load_owner(kUnit, {.max = 20, .preserve = PreserveMode::yes}))
    fail_boot("load " + std::string(kUnit));
  auto restored = mgr.restore(real.dev);
  if (!restored)
    fail_boot("restore: " + restored.error().message());
  const RestoreResult& r = *restored.value();
  check_restore(rec, r, mgr.held());
  UniqueFd session_memfd = check_contents(rec, mgr.owners(), real.ioctl_port);
  const json mapping = check_mapping(rec, real.port);
  check_counter_and_timestamps(rec, r, mapping);

  // The library as the outgoing manager, for boot 3's real PID 1. The retrieved session is
  // incoming and would not survive another kexec (spec §5.6; stage_a() drops it, saying so),
  // so, as a service would, a fresh outgoing session of the same name takes its memfd.
  rec.begin("t2_library_hands_over");
  const std::uint32_t restored_count = r.kexecs_count;
  mgr.begin_shutdown();
  const FdStore* store = mgr.owners().find(kUnit);
  if (store == nullptr)
    fail_boot("luo-tier2.service is not loaded");
  for (const auto& e : store->entries()) {
    if (e.name == kSessionEntry && e.retrieved_session) {
      // FINISH frees the retrieved memfd for a new outgoing session (7.x gives EBUSY before).
      const auto f = real.ioctl_port.finish_session(e.fd.get(), 0);
      rec.expect_result(
          rec.step("finish the incoming " + std::string(kSessionEntry), f.ok() ? 0 : f.raw_errno()),
          0, "the incoming third-party session finishes");
    }
  }
  if (!mgr.remove(kUnit, kSessionEntry))
    fail_boot("remove the incoming " + std::string(kSessionEntry));
  auto session = real.dev.create_session(kSessionEntry);
  if (!session)
    fail_boot("create_session " + std::string(kSessionEntry) + ": " + session.error().message());
  if (!rec.expect(session_memfd && session.value().preserve(session_memfd.get(), kSessionToken),
                  "token 42's memfd is preserved in the new outgoing session")) {
    fail_boot("preserve token 42 into the new " + std::string(kSessionEntry));
  }
  if (!mgr.store(kUnit, UniqueFd(::fcntl(session.value().fd(), F_DUPFD_CLOEXEC, 3)), kSessionEntry))
    fail_boot("store the new session fd");
  // The two O_PATH fds, as boot 1 gave them to the real PID 1: the file's is staged and refused
  // by PRESERVE_FD, as 262 does; the session's cannot be told a session or not (GET_NAME says
  // EBADF) and 262 skips it at Stage A.
  if (!mgr.store(kUnit, UniqueFd(::open("/init", O_PATH | O_CLOEXEC)), kOpathFileEntry,
                 Poll::off) ||
      !mgr.store(kUnit, reopen_o_path(session.value().fd()), kOpathSessionEntry, Poll::off))
    fail_boot("store the O_PATH fds");

  // Stage A writes the counter the restore adopted and the two shutdown timestamps, as 262.1's
  // PID 1 does.
  auto a = mgr.stage_a(dual_timestamp_now());
  if (!a)
    fail_boot("stage_a: " + a.error().message());
  const StageAResult& staged = *a.value();
  rec.expect(staged.state == HandoffState::serialized, "stage_a serialized");
  rec.expect(staged.document.header.kexec_count() == restored_count,
             "Stage A writes the adopted counter " + std::to_string(restored_count));
  for (const auto& e : staged.report) {
    if (e.name == kOpathSessionEntry) {
      rec.expect(e.state == FdEntryState::dropped,
                 "the O_PATH reopen of a session is dropped at Stage A, not " +
                     std::string(state_name(e.state)) + " " + e.reason);
      continue;
    }
    rec.expect(e.state == FdEntryState::staged, e.owner + "/" + e.name + " staged, not " +
                                                    std::string(state_name(e.state)) + " " +
                                                    e.reason);
  }
  auto preserved = mgr.stage_b(real.dev, {.late_start = dual_timestamp_now()});
  if (!preserved)
    fail_boot("stage_b: " + preserved.error().message());
  const StageBResult& b = *preserved.value();
  rec.expect(b.state == HandoffState::preserved, "stage_b preserved: " + b.failure);
  for (const auto& e : b.report) {
    if (e.name == kOpathFileEntry) {
      rec.expect(e.state == FdEntryState::lost,
                 "PRESERVE_FD refuses the O_PATH file, as under 262's systemd-shutdown, not " +
                     std::string(state_name(e.state)));
      continue;
    }
    rec.expect(e.state == FdEntryState::preserved, e.owner + "/" + e.name + " preserved, not " +
                                                       std::string(state_name(e.state)) + " " +
                                                       e.reason);
  }
  const std::string written = handoff::to_json(b.mapping);
  std::printf("LUO-T2-STAGE-B %s\n", written.c_str());
  rec.step("stage b", b.error, {{"entries", b.report.size()}});

  // What boot 3's PID 1 must show: the counter one up, and the four timestamps as written.
  // And, after test-luo check removes its three, the library's memfd in the unit's store.
  std::string expected = "KExecCount " + std::to_string(restored_count + 1) + "\n" +
                         std::string(kUnit) + ":NFileDescriptorStore 1\n";
  for (const auto which : handoff::kAllShutdownTimestamps) {
    const auto t = b.mapping.header.timestamp(which);
    rec.expect(t.has_value(), std::string(handoff::shutdown_timestamp_key(which)) + " written");
    if (t)
      expected += "Previous" + std::string(handoff::shutdown_timestamp_key(which)) + "Monotonic " +
                  std::to_string(t->monotonic) + "\n";
  }
  {
    UniqueFd out(::open(kExpectedPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out || ::write(out.get(), expected.data(), expected.size()) !=
                    static_cast<ssize_t>(expected.size()))
      fail_boot(std::string("write ") + kExpectedPath + ": " + std::strerror(errno));
  }
  // Loaded after Stage B, since boot 3's expectations include Stage B's own timestamps; the
  // session is held open until reboot(KEXEC) below either way.
  if (auto why = load_next_boot(cmdline, 2, next_initramfs_files({kExpectedPath})); !why.empty())
    fail_boot(why);
  rec.end();
  std::printf("LUO-SUMMARY boot=2 scenarios=%d failures=%d\n", rec.scenarios(), rec.failures());
  std::printf("LUO-T2-KEXEC 2 reboot(KEXEC)\n");
  std::fflush(stdout);
  const Status k = mgr.kexec();  // returns only on failure
  fail_boot("reboot(KEXEC): " + (k ? std::string("returned") : k.error().message()));
}

}  // namespace

[[noreturn]] void run_systemd_pid1_boot(int boot, const std::string& cmdline) {
  if (boot == 2)
    boot2(cmdline);
  // Boots 1 and 3: the real systemd becomes PID 1 (exec keeps the pid), with the kernel's
  // environment; it finds /dev and /proc mounted, as after an initrd.
  std::printf("LUO-T2-EXEC-SYSTEMD boot %d\n", boot);
  std::fflush(stdout);
  const char* const argv[] = {kSystemdPath, nullptr};
  ::execve(kSystemdPath, const_cast<char* const*>(argv), environ);
  fail_boot("execve " + std::string(kSystemdPath) + ": " + std::strerror(errno));
}

int run_systemd_pid1_unit(const std::vector<std::string>& args) {
  ::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string cmdline = proc_cmdline();
  const int boot = std::atoi(cmdline_word(cmdline, "luo_stage").c_str());
  if (boot != 1 && boot != 3) {
    std::fprintf(stderr, "luo-vm tier2: runs under systemd in boot 1 or 3, not %d\n", boot);
    return 2;
  }
  if (args.size() == 1 && args[0] == "service")
    return unit_service(boot);
  if (args.size() == 1 && args[0] == "driver")
    return unit_driver(boot, cmdline);
  std::fprintf(stderr, "usage: luo-vm tier2 service|driver\n");
  return 2;
}

}  // namespace luo::vm
