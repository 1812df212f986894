// differential_test.cpp: the library against real systemd 262.1 (Tier 0, docs/systemd-interop.md):
// the golden Stage A, 1000 generated stores per systemd profile, 1000 generated mappings. Each
// test fails once per kind of difference that is not deliberate, naming how many cases showed it
// and the first one (reproduce it with the case number: generate_store/generate_mapping(n)).
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "differential.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "systemd_fixture.hpp"

namespace luo::sdtest {
namespace {

constexpr std::uint64_t kStores = 1000;
constexpr std::uint64_t kMappings = 1000;

std::string golden(const char* name) {
  std::ifstream in(std::string(LUO_GOLDEN_DIR) + "/" + name);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text;
}

void expect_no_differences(const Tally& t, std::uint64_t cases) {
  std::cout << "[ systemd  ] " << cases << " cases\n" << t.report();
  for (const auto& kind : t.failing_kinds())
    ADD_FAILURE() << kind << ": " << t.count(kind) << " of " << cases
                  << " cases differ from systemd 262.1; first: " << t.example(kind);
}

// The golden Stage A names fds 23 to 27: memfds are put at exactly those numbers.
class GoldenFds {
 public:
  GoldenFds() {
    for (int fd = 23; fd <= 27; ++fd) {
      if (::fcntl(fd, F_GETFD) != -1)
        return;  // taken: the test skips
    }
    for (int fd = 23; fd <= 27; ++fd) {
      auto m = memfd::create("golden");
      (void)memfd::write_at(m.value().get(), 0, "golden fd " + std::to_string(fd));
      fds_.emplace_back(::dup3(m.value().get(), fd, O_CLOEXEC));
    }
  }
  bool ok() const { return fds_.size() == 5; }

 private:
  std::vector<UniqueFd> fds_;
};

class StageBDifferential : public SystemdTier0,
                           public ::testing::WithParamInterface<SystemdProfile> {};

TEST_P(StageBDifferential, GoldenStageA) {
  GoldenFds fds;
  if (!fds.ok())
    GTEST_SKIP() << "fds 23-27 are taken in this process";
  StageAFixture f;
  f.text = golden("stage_a_format_c.json");
  f.sessions = {"myvmm-vm0"};
  Tally t;
  t.add("golden stage_a_format_c.json", compare_stage_b(sd(), f, GetParam()));
  expect_no_differences(t, 1);
}

// 262's builder alone, without the timestamp merge, is byte-identical to the golden Stage B.
TEST_F(SystemdTier0, BuilderReproducesTheGoldenStageB) {
  GoldenFds fds;
  if (!fds.ok())
    GTEST_SKIP() << "fds 23-27 are taken in this process";
  SimulatedKernel k;
  auto r = sd().stage_b(k, golden("stage_a_format_c.json"), std::nullopt);
  ASSERT_EQ(r.result, 1);
  ASSERT_GE(r.session.get(), 0);
  auto tokens = k.snapshot().outgoing.at(0).tokens;
  EXPECT_EQ(tokens, (std::vector<std::uint64_t>{1, 2, 3, 4, 0})) << "mapping preserved last";
  r.session.reset();
}

TEST_P(StageBDifferential, GeneratedStores) {
  Tally t;
  for (std::uint64_t n = 0; n < kStores; ++n) {
    const StoreCase c = generate_store(n);
    const StageAFixture f = materialize(c, GetParam());
    t.add("store #" + std::to_string(n) + " (" + describe(c) + ")\nStage A: " + f.text,
          compare_stage_b(sd(), f, GetParam()));
  }
  expect_no_differences(t, kStores);
}

INSTANTIATE_TEST_SUITE_P(Profiles, StageBDifferential,
                         ::testing::Values(SystemdProfile::v261, SystemdProfile::v262),
                         [](const auto& p) { return std::string(profile_name(p.param)); });

TEST_F(SystemdTier0, RestoreGeneratedMappings) {
  Tally t;
  for (std::uint64_t n = 0; n < kMappings; ++n) {
    const MappingCase c = generate_mapping(n);
    t.add("mapping #" + std::to_string(n) + ": " + c.text,
          compare_restore(sd(), c, SystemdProfile::v262));
  }
  expect_no_differences(t, kMappings);
}

TEST_F(SystemdTier0, RestoreGoldenMappings) {
  Tally t;
  for (const char* g : {"stage_b_format_c.json", "stage_b_format_b.json"}) {
    MappingCase c;
    c.text = golden(g);
    c.files = 4;
    c.sessions = {"myvmm-vm0"};
    t.add(std::string("golden ") + g, compare_restore(sd(), c, SystemdProfile::v262));
  }
  expect_no_differences(t, 2);
}

}  // namespace
}  // namespace luo::sdtest
