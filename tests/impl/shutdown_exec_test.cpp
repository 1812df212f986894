// Stage A across execve() (impl/shutdown_exec.hpp, spec systemd-luo.md §3.2 phases 2-4): the
// sealed "luo-fd-store" memfd, $SYSTEMD_LUO_SERIALIZE_FD, FD_CLOEXEC cleared on exactly the
// staged fds, and the helper's side taking them back, in process and through a real exec.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/shutdown_exec.hpp"
#include "memfd_fixtures.hpp"

namespace luo {
namespace {

using luo::testing::memfd_with;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr FdStoreConfig kKept{.max = 8, .preserve = PreserveMode::yes};

bool has_cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

std::string link_of(int fd) {
  char buf[256] = {};
  const ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

// Two owners that keep their stores through a kexec and one that does not.
class ShutdownExec : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& vmm = owners_.load("vmm.service", kKept);
    ASSERT_TRUE(vmm.add(memfd_with("guest ram"), "ram").ok());
    ASSERT_TRUE(vmm.add(memfd_with("device state"), "dev").ok());
    auto& db = owners_.load("db.service", kKept);
    ASSERT_TRUE(db.add(memfd_with("wal"), "wal").ok());
    auto& web = owners_.load("web.service", {.max = 4, .preserve = PreserveMode::restart});
    ASSERT_TRUE(web.add(memfd_with("cache"), "cache").ok());
    staged_ = stage_a(owners_, nullptr, port_, 2);
    ASSERT_EQ(staged_.state, HandoffState::serialized);
    ASSERT_EQ(staged_.fds.size(), 3u);
  }

  // What an execve() does to the manager's objects: the numbers stay, the owners are gone.
  std::string forget_ownership(UniqueFd& memfd) {
    const std::string value = std::to_string(memfd.release());
    for (auto& fd : staged_.fds)
      (void)fd.release();
    return value;
  }

  SimulatedKernel kernel_;
  IoctlPort port_{kernel_};
  FdStoreRegistry owners_;
  StageAResult staged_;
};

TEST_F(ShutdownExec, TheDocumentGoesIntoASealedMemfdNamedLuoFdStore) {
  auto memfd = write_stage_a_memfd(staged_);
  ASSERT_TRUE(memfd.ok()) << memfd.error().message();
  const int fd = memfd.value().get();
  EXPECT_EQ(link_of(fd), "/memfd:luo-fd-store (deleted)");
  EXPECT_TRUE(has_cloexec(fd)) << "the memfd must not leak into other execs";
  EXPECT_EQ(memfd::read_all(fd).value(), handoff::to_json(staged_.document));
  const auto seals = memfd::seals(fd);
  ASSERT_TRUE(seals.ok());
  EXPECT_EQ(seals.value() & (F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK),
            static_cast<std::uint32_t>(F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK));
  EXPECT_FALSE(memfd::write_at(fd, 0, "x").ok()) << "sealed against writes";
  EXPECT_EQ(serialize_fd_assignment(fd), "SYSTEMD_LUO_SERIALIZE_FD=" + std::to_string(fd));
}

TEST_F(ShutdownExec, KeepAcrossExecClearsCloexecOnExactlyTheStagedFdsAndTheMemfd) {
  auto memfd = write_stage_a_memfd(staged_).value();
  const auto web_fd = owners_.find("web.service")->entries().front().fd.get();
  ASSERT_TRUE(keep_across_exec(staged_, memfd.get()).ok());
  EXPECT_FALSE(has_cloexec(memfd.get()));
  for (const auto& fd : staged_.fds)
    EXPECT_FALSE(has_cloexec(fd.get()));
  // The stores themselves die with the manager: a "restart" owner's fd is not handed over.
  EXPECT_TRUE(has_cloexec(web_fd));
  for (const auto& [id, store] : owners_.owners()) {
    for (const auto& e : store.entries())
      EXPECT_TRUE(has_cloexec(e.fd.get())) << id << " " << e.name;
  }
}

TEST_F(ShutdownExec, TheHelperTakesBackEveryEntryWithCloexecSetAgain) {
  auto memfd = write_stage_a_memfd(staged_).value();
  ASSERT_TRUE(keep_across_exec(staged_, memfd.get()).ok());
  const handoff::StageA document = staged_.document;
  const std::string value = forget_ownership(memfd);

  auto inherited = inherit_stage_a(value.c_str(), port_);
  ASSERT_TRUE(inherited.ok()) << inherited.error().message();
  ASSERT_TRUE(inherited.value().has_value());
  const InheritedStageA& in = *inherited.value();
  EXPECT_EQ(in.staged.state, HandoffState::serialized);
  EXPECT_EQ(in.staged.document, document);
  EXPECT_EQ(in.staged.document.header.kexec_count(), 2u);
  EXPECT_EQ(in.memfd.get(), std::stoi(value));
  ASSERT_EQ(in.keep().size(), 4u);
  for (int fd : in.keep())
    EXPECT_TRUE(has_cloexec(fd)) << fd;
  std::vector<std::string> seen;
  for (const auto& unit : in.staged.document.units) {
    for (const auto& e : unit.fdstore)
      seen.push_back(unit.unit + "/" + e.name + "=" + memfd::read_all(e.fd).value());
  }
  EXPECT_THAT(seen, UnorderedElementsAre("vmm.service/ram=guest ram",
                                         "vmm.service/dev=device state", "db.service/wal=wal"));
}

TEST_F(ShutdownExec, NoVariableMeansNothingWasHandedOver) {
  for (const char* value : {static_cast<const char*>(nullptr), ""}) {
    auto inherited = inherit_stage_a(value, port_);
    ASSERT_TRUE(inherited.ok());
    EXPECT_FALSE(inherited.value().has_value());
  }
}

TEST_F(ShutdownExec, AVariableThatIsNotAnOpenMemfdIsRefusedClearly) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  struct Case {
    std::string value;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"seven", "is not a file descriptor number"},
      {"7x", "is not a file descriptor number"},
      {"-3", "is not a file descriptor number"},
      {"99999999999", "is not a file descriptor number"},
      {"2", "is a standard stream"},
      {"1000000", "is not open"},
      {std::to_string(read_end.get()), "is not a memfd"},
  };
  for (const auto& c : cases) {
    auto inherited = inherit_stage_a(c.value.c_str(), port_);
    ASSERT_FALSE(inherited.ok()) << c.value;
    EXPECT_EQ(inherited.error().raw_errno(), EINVAL) << c.value;
    EXPECT_EQ(inherited.error().operation(), Operation::stage_a);
    EXPECT_THAT(inherited.error().message(), HasSubstr("SYSTEMD_LUO_SERIALIZE_FD")) << c.value;
    EXPECT_THAT(inherited.error().message(), HasSubstr(c.says)) << c.value;
  }
  EXPECT_TRUE(has_cloexec(read_end.get())) << "a refused fd is left alone";
}

TEST_F(ShutdownExec, AnUnparsableDocumentProtectsNothingAndClosesTheMemfd) {
  auto garbage = memfd_with("{\"version\":1,\"units\":{\"a.service\":{\"fdstore\":[");
  const int number = garbage.release();
  auto inherited = inherit_stage_a(std::to_string(number).c_str(), port_);
  ASSERT_FALSE(inherited.ok());
  EXPECT_THAT(inherited.error().message(), HasSubstr("the Stage A document is unusable"));
  EXPECT_EQ(::fcntl(number, F_GETFD), -1) << "the memfd was taken over and closed";
}

TEST_F(ShutdownExec, EntriesTheHelperCannotUseAreReportedLostAndTheRestGoOn) {
  handoff::StageA doc = staged_.document;
  auto memfd_probe = memfd_with("");
  const int memfd_number = memfd_probe.get();
  memfd_probe.reset();
  // Entries pointing at stdin, at the memfd itself and at nothing, beside a good one.
  doc.units.push_back({"bad.service",
                       {{handoff::EntryType::fd, "stdin", 0, ""},
                        {handoff::EntryType::fd, "self", memfd_number, ""},
                        {handoff::EntryType::fd, "gone", 1000001, ""}}});
  StageAResult tampered;
  tampered.document = doc;
  tampered.state = HandoffState::serialized;
  auto memfd = write_stage_a_memfd(tampered).value();
  ASSERT_EQ(memfd.get(), memfd_number);
  const std::string value = forget_ownership(memfd);

  auto inherited = inherit_stage_a(value.c_str(), port_);
  ASSERT_TRUE(inherited.ok()) << inherited.error().message();
  const InheritedStageA& in = *inherited.value();
  EXPECT_EQ(in.staged.fds.size(), 3u);
  std::vector<std::string> lost;
  for (const auto& r : in.staged.report) {
    if (r.state == FdEntryState::lost)
      lost.push_back(r.owner + "/" + r.name + ": " + r.reason);
  }
  EXPECT_THAT(lost, ElementsAre("bad.service/stdin: fd 0 is a standard stream; will be lost",
                                "bad.service/self: fd " + value +
                                    " is the Stage A memfd itself; will be lost",
                                "bad.service/gone: fd 1000001 is not open in the shutdown "
                                "helper; will be lost"));
  for (const auto& unit : in.staged.document.units)
    EXPECT_NE(unit.unit, "bad.service");
  EXPECT_NE(::fcntl(STDIN_FILENO, F_GETFD), -1) << "stdin was never taken over";
}

// A manager that is not this library may stage /dev/liveupdate itself (docs/reliability.md F1):
// the helper closes it at once, so Stage B's own open of the device succeeds, and reports it
// dropped with the entry table's reason; every other entry goes on to the kexec.
TEST_F(ShutdownExec, ADeviceFdInTheDocumentIsClosedAndDroppedSoStageBCanOpenTheDevice) {
  handoff::StageA doc = staged_.document;
  auto dev = port_.open_device();
  ASSERT_TRUE(dev.ok());
  const int device_number = dev.value().release();  // the helper owns it once inherited
  doc.units.push_back({"hostile.service", {{handoff::EntryType::fd, "device", device_number, ""}}});
  StageAResult tampered;
  tampered.document = doc;
  tampered.state = HandoffState::serialized;
  auto memfd = write_stage_a_memfd(tampered).value();
  const std::string value = forget_ownership(memfd);

  auto inherited = inherit_stage_a(value.c_str(), port_);
  ASSERT_TRUE(inherited.ok()) << inherited.error().message();
  const InheritedStageA& in = *inherited.value();
  EXPECT_EQ(::fcntl(device_number, F_GETFD), -1) << "the device fd was closed by the helper";
  ASSERT_EQ(in.staged.fds.size(), 3u);
  std::vector<std::string> dropped;
  for (const auto& r : in.staged.report) {
    if (r.state == FdEntryState::dropped)
      dropped.push_back(r.owner + "/" + r.name + ": " + r.reason);
  }
  EXPECT_THAT(dropped, ElementsAre("hostile.service/device: " +
                                   std::string(guard_description(Guard::luo_device))));
  for (const auto& unit : in.staged.document.units)
    EXPECT_NE(unit.unit, "hostile.service");

  LiveUpdate lu(port_);
  auto device = lu.open_device();
  ASSERT_TRUE(device.ok()) << device.error().message();
  StageBResult b = stage_b(device.value(), in.staged);
  device.value().close();
  ASSERT_EQ(b.state, HandoffState::preserved) << b.failure;
  EXPECT_EQ(b.report.size(), 3u);
  for (const auto& r : b.report)
    EXPECT_EQ(r.state, FdEntryState::preserved) << r.owner << " " << r.name << ": " << r.reason;
}

// The whole hand-over through a real execve(): the helper binary sees only what was kept, and
// its own Stage B, kexec and restore bring every entry back by name and content.
TEST_F(ShutdownExec, ARealExecCarriesEveryEntryToTheShutdownHelper) {
  auto memfd = write_stage_a_memfd(staged_).value();
  const std::string env = serialize_fd_assignment(memfd.get());
  int out_pipe[2];
  ASSERT_EQ(::pipe2(out_pipe, O_CLOEXEC), 0);
  UniqueFd read_end(out_pipe[0]), write_end(out_pipe[1]);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(write_end.get(), STDOUT_FILENO);
    if (!keep_across_exec(staged_, memfd.get()).ok())
      ::_exit(120);
    char* const argv[] = {const_cast<char*>(LUO_SHUTDOWN_HELPER), nullptr};
    char* const envp[] = {const_cast<char*>(env.c_str()), nullptr};
    ::execve(LUO_SHUTDOWN_HELPER, argv, envp);
    ::_exit(121);
  }
  write_end.reset();
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) > 0;)
    output.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;

  std::vector<std::string> lines;
  for (std::size_t start = 0, end; (end = output.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(output.substr(start, end - start));
  }
  EXPECT_THAT(lines,
              UnorderedElementsAre(
                  "kept 4", "staged db.service wal wal", "staged vmm.service dev device state",
                  "staged vmm.service ram guest ram", "restored db.service wal wal",
                  "restored vmm.service dev device state", "restored vmm.service ram guest ram"))
      << output;
}

}  // namespace
}  // namespace luo
