// The CLI's front door (cli/input.hpp) against careless and hostile input, one test per case of
// issue 18 items 1 and 2: every one ends with an exit code and a message naming the problem,
// never with a signal, a silent last-key-wins or a read without end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "input.hpp"
#include "luo/impl/handoff_mapping.hpp"
#include "luo/impl/unique_fd.hpp"
#include "run_cli.hpp"

namespace luo::cli {
namespace {

using testing::contains;
using testing::Ran;
using testing::run;

// The three subcommands that read a file.
const std::vector<std::string> kReaders = {"simulate", "replay", "inspect"};

// A scratch directory, removed with everything in it.
class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "luo-cli-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& contents) const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(HostileInput, ANumberOutOfRangeIsMalformedJsonNotAnAbort) {
  for (std::string command : {"simulate", "replay"}) {
    const Ran r = run({command, "-"}, R"({"operations": [1e400]})");
    EXPECT_EQ(r.status, kExitUsage) << command << r.err;
    EXPECT_TRUE(contains(r.err, "malformed JSON at byte ")) << r.err;
    EXPECT_TRUE(contains(r.err, "number overflow")) << r.err;
  }
  // inspect gives its verdict on the document: refused whole.
  const Ran r = run({"inspect", "-"}, R"({"version": 1e400})");
  EXPECT_EQ(r.status, kExitFailure) << r.err;
  EXPECT_TRUE(contains(r.out, "number overflow")) << r.out;
}

TEST_F(HostileInput, MemfdBytesThatAreNotUtf8ArePrintedEscaped) {
  // Valid operations: "é" is c3 a9, and writing "a" at offset 1 leaves c3 61.
  const std::string scenario = R"({"operations": [
      {"op": "memfd_create", "memfd": "m", "data": "é"},
      {"op": "memfd_write", "memfd": "m", "data": "a", "offset": 1},
      {"op": "memfd_check", "memfd": "m", "data": "é"}]})";
  const Ran text = run({"simulate", "-"}, scenario);
  EXPECT_EQ(text.status, kExitFailure) << text.err;
  EXPECT_TRUE(contains(text.out, R"(contents differ: "\xc3a", expected "é")")) << text.out;
  const Ran json = run({"simulate", "-", "--json"}, scenario);
  EXPECT_EQ(json.status, kExitFailure) << json.err;
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["verdict"], "fail");
  EXPECT_EQ(doc["failed_at"], 2);
}

TEST(CliQuoteBytes, KeepsUtf8AndEscapesEverythingElse) {
  EXPECT_EQ(quote_bytes("plain"), R"("plain")");
  EXPECT_EQ(quote_bytes("é€😀"), "\"é€😀\"");
  EXPECT_EQ(quote_bytes("\xc3"
                        "a"),
            R"("\xc3a")");
  EXPECT_EQ(quote_bytes("\xed\xa0\x80"), R"("\xed\xa0\x80")");  // a surrogate
  EXPECT_EQ(quote_bytes("\xc0\xaf"), R"("\xc0\xaf")");          // overlong '/'
  EXPECT_EQ(quote_bytes(std::string("a\0\"\\\n", 5)), R"("a\x00\"\\\n")");
}

TEST_F(HostileInput, ADeepDescriptionIsRefusedBeforeAnyDeepCopy) {
  // 50,000 levels, then another key: the ordered object used to copy the deep value
  // recursively when it grew, and overflowed the stack.
  const std::string deep = std::string(50000, '[') + std::string(50000, ']');
  const Ran r = run({"simulate", "-"}, R"({"description": )" + deep + R"(, "operations": []})");
  EXPECT_EQ(r.status, kExitUsage) << r.err;
  EXPECT_TRUE(contains(r.err, "at description[0]")) << r.err.substr(0, 200);
  EXPECT_TRUE(contains(
      r.err, "JSON nested deeper than " + std::to_string(handoff::kMaxJsonDepth) + " levels"))
      << r.err.substr(0, 200);
}

TEST_F(HostileInput, NestingAtTheLimitIsReadAndOneMoreIsNot) {
  const auto nested = [](std::size_t depth) {
    return R"({"operations": [], "description": )" + std::string(depth - 1, '[') +
           std::string(depth - 1, ']') + "}";
  };
  EXPECT_EQ(run({"simulate", "-"}, nested(handoff::kMaxJsonDepth)).status, kExitOk);
  const Ran r = run({"simulate", "-"}, nested(handoff::kMaxJsonDepth + 1));
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(contains(r.err, "nested deeper")) << r.err;
}

TEST_F(HostileInput, AMegabyteOfOpenBracketsStopsAtTheDepthLimit) {
  const std::string brackets(1 << 20, '[');
  for (const std::string& command : kReaders) {
    const Ran r = run({command, "-"}, brackets);
    EXPECT_EQ(r.status, command == "inspect" ? kExitFailure : kExitUsage) << command;
    EXPECT_TRUE(contains(command == "inspect" ? r.out : r.err, "nested deeper than")) << command;
  }
}

TEST_F(HostileInput, DevZeroStopsAtTheInputCap) {
  for (const std::string& command : kReaders) {
    const Ran r = run({command, "/dev/zero"});
    EXPECT_EQ(r.status, kExitUsage) << command;
    EXPECT_TRUE(
        contains(r.err, R"(cannot read "/dev/zero": larger than the input limit of 16 MiB)"))
        << r.err;
  }
}

TEST_F(HostileInput, StandardInputStopsAtTheInputCap) {
  const std::string endless(kMaxInputBytes + 1, ' ');
  for (const std::string& command : kReaders) {
    const Ran r = run({command, "-"}, endless);
    EXPECT_EQ(r.status, kExitUsage) << command;
    EXPECT_TRUE(contains(r.err, R"(cannot read "-": larger than the input limit)")) << r.err;
  }
  // Exactly at the cap is read (and then found empty of JSON).
  const Ran at_cap = run({"simulate", "-"}, std::string(kMaxInputBytes, ' '));
  EXPECT_TRUE(contains(at_cap.err, "malformed JSON")) << at_cap.err;
}

TEST_F(HostileInput, ALargeRegularFileIsRefusedBeforeReading) {
  const std::string path = file("sparse.json", "");
  // Sparse: the size is there without the bytes.
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(kMaxInputBytes) + 1), 0);
  for (const std::string& command : kReaders) {
    const Ran r = run({command, path});
    EXPECT_EQ(r.status, kExitUsage) << command;
    EXPECT_TRUE(contains(r.err, "larger than the input limit of 16 MiB")) << r.err;
  }
}

TEST_F(HostileInput, ADirectoryCannotBeRead) {
  for (const std::string& command : kReaders) {
    const Ran r = run({command, dir_.string()});
    EXPECT_EQ(r.status, kExitUsage) << command;
    EXPECT_TRUE(contains(r.err, "cannot read \"" + dir_.string() + "\": Is a directory")) << r.err;
  }
}

TEST_F(HostileInput, ADirectoryOnStandardInputCannotBeRead) {
  const UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  std::istringstream in;
  std::ostringstream out, err;
  Io io{in, out, err, fd.get()};
  EXPECT_EQ(run_main(std::vector<std::string>{"simulate", "-"}, io), kExitUsage);
  EXPECT_TRUE(contains(err.str(), R"(cannot read "-": Is a directory)")) << err.str();
}

TEST_F(HostileInput, AMissingFileCannotBeRead) {
  for (const std::string& command : kReaders) {
    const Ran r = run({command, (dir_ / "absent.json").string()});
    EXPECT_EQ(r.status, kExitUsage) << command;
    EXPECT_TRUE(contains(r.err, "No such file or directory")) << r.err;
  }
}

TEST_F(HostileInput, AFifoWithoutAWriterDoesNotBlock) {
  const std::string path = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  // No writer ever comes: the read sees an end of file and the empty document is malformed.
  const Ran r = run({"simulate", path});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(contains(r.err, "malformed JSON at byte 0")) << r.err;
  const Ran i = run({"inspect", path});
  EXPECT_EQ(i.status, kExitFailure);
}

TEST_F(HostileInput, DuplicateKeysAreRefusedWithTheirPath) {
  const Ran top = run({"simulate", "-"}, R"({"operations": [{"op": "kexec"}], "operations": []})");
  EXPECT_EQ(top.status, kExitUsage);
  EXPECT_TRUE(contains(top.err, R"(at operations: duplicate key "operations")")) << top.err;

  const Ran nested = run({"simulate", "-"},
                         R"({"operations": [{"op": "open_device"},
                                            {"op": "kexec", "op": "open_device"}]})");
  EXPECT_EQ(nested.status, kExitUsage);
  EXPECT_TRUE(contains(nested.err, R"(at operations[1].op: duplicate key "op")")) << nested.err;

  const Ran odd = run({"simulate", "-"}, R"({"description": {"a b": 1, "a b": 2}})");
  EXPECT_TRUE(contains(odd.err, R"(at description["a b"]: duplicate key "a b")")) << odd.err;

  const Ran replay = run({"replay", "-"}, R"({"bounds": {"owners": 1, "owners": 2}, "steps": []})");
  EXPECT_EQ(replay.status, kExitUsage);
  EXPECT_TRUE(contains(replay.err, R"(bounds.owners: duplicate key "owners")")) << replay.err;
}

TEST_F(HostileInput, APathThatIsNotUtf8IsPrintedWithoutThrowing) {
  const std::string golden =
      std::string(LUO_SOURCE_DIR) + "/tests/impl/golden/stage_b_format_c.json";
  std::ifstream in(golden, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string path = file("\xff.json", text.str());
  const Ran r = run({"inspect", path, "--json"});
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["verdict"], "accepted");
  const Ran missing = run({"simulate", (dir_ / "\xfe").string()});
  EXPECT_EQ(missing.status, kExitUsage);
  EXPECT_TRUE(contains(missing.err, R"(\xfe": No such file)")) << missing.err;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LUO_TEST_UNDER_ASAN 1
#endif
#elif defined(__SANITIZE_ADDRESS__)
#define LUO_TEST_UNDER_ASAN 1
#endif

// The cap is a memory bound too: in a child whose address space may grow by only 128 MiB past
// what it has, /dev/zero and 16 MiB of '[' end with exit 2, not with std::bad_alloc or a kill.
TEST_F(HostileInput, HostileInputStaysWithinAMemoryBound) {
#ifdef LUO_TEST_UNDER_ASAN
  GTEST_SKIP() << "ASan reserves terabytes of address space: RLIMIT_AS cannot bound it";
#else
  const std::string brackets(kMaxInputBytes, '[');
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::ifstream statm("/proc/self/statm");
    unsigned long pages = 0;
    statm >> pages;
    const rlim_t bound = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) +
                         (rlim_t{128} << 20);
    const struct rlimit limit { bound, bound };
    if (::setrlimit(RLIMIT_AS, &limit) != 0)
      ::_exit(100);
    int worst = kExitUsage;
    for (const std::string& command : kReaders) {
      std::istringstream in(brackets);
      std::ostringstream out, err;
      Io io{in, out, err};
      const int from_zero = run_main(std::vector<std::string>{command, "/dev/zero"}, io);
      const int from_brackets = run_main(std::vector<std::string>{command, "-"}, io);
      if (from_zero != kExitUsage)
        worst = 101;
      if (from_brackets != (command == "inspect" ? kExitFailure : kExitUsage))
        worst = 102;
    }
    ::_exit(worst);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by a signal";
  EXPECT_EQ(WEXITSTATUS(status), kExitUsage);
#endif
}

// Issue 18 item 3 from the CLI: an owner the restore would skip is refused at store_load.
TEST(CliSimulateOwners, AnOwnerThatIsNotAUnitNameIsRefusedAtStoreLoad) {
  const Ran expected = run({"simulate", "-"}, R"({"operations": [
      {"op": "store_load", "owner": "not a unit", "max": 4, "expect": "EINVAL"},
      {"op": "memfd_create", "memfd": "m", "data": "x"},
      {"op": "store_add", "owner": "not a unit", "name": "x", "memfd": "m", "expect": "ENOENT"}]})");
  EXPECT_EQ(expected.status, kExitOk) << expected.out << expected.err;
  const Ran r =
      run({"simulate", "-"}, R"({"operations": [{"op": "store_load", "owner": "", "max": 4}]})");
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_TRUE(contains(r.out, "not a valid unit name")) << r.out;
}

}  // namespace
}  // namespace luo::cli
