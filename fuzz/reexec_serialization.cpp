// reexec_serialization.cpp: the daemon-reexec deserializer (§1.8, nested_manager.hpp) on any
// text, with four memfds passed at the fixed numbers 900-903 (so seeds can name them).
// Properties: no crash, no fd leaked or closed twice, every entry it restored serializes and
// deserializes again whole (nothing skipped, same count, same counter).
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "fuzz_support.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/impl/nested_manager.hpp"

namespace {

constexpr int kFirstPassedFd = 900;
constexpr int kPassedFds = 4;

std::size_t entry_count(const luo::FdStoreRegistry& owners) {
  std::size_t n = 0;
  for (const auto& [id, store] : owners.owners())
    n += store.size();
  return n;
}

// The passed files, made once: a run gets fresh descriptors of them (deserialize takes and
// closes what it is given) and never writes to a file, so runs stay independent.
const std::vector<luo::UniqueFd>& passed_files() {
  static const std::vector<luo::UniqueFd> files = [] {
    std::vector<luo::UniqueFd> made;
    for (int i = 0; i < kPassedFds; ++i) {
      auto m = luo::memfd::create("fuzz");
      luo::fuzz::check(m.ok(), "memfd_create failed");
      made.push_back(std::move(m).value());
    }
    return made;
  }();
  return files;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& files = passed_files();
  luo::fuzz::FdLeakGuard leaks;
  std::vector<luo::UniqueFd> fds;
  for (int i = 0; i < kPassedFds; ++i) {
    fds.emplace_back(::fcntl(files[i].get(), F_DUPFD_CLOEXEC, kFirstPassedFd));
    luo::fuzz::check(fds.back().get() == kFirstPassedFd + i, "fd 900.. already in use");
  }
  luo::FdStoreRegistry owners;
  luo::UpstreamMirror mirror(owners, nullptr, {});
  const auto report = luo::deserialize(luo::fuzz::as_text(data, size), fds, mirror);
  luo::fuzz::check(report.restored == entry_count(owners),
                   "restored count differs from the stores");
  luo::fuzz::check(report.restored + fds.size() <= kPassedFds, "more fds than were passed");

  auto serialized = luo::serialize(mirror);
  luo::fuzz::check(serialized.ok(), "a deserialized manager cannot serialize");
  luo::FdStoreRegistry owners2;
  luo::UpstreamMirror mirror2(owners2, nullptr, {});
  const auto again = luo::deserialize(serialized.value().text, serialized.value().fds, mirror2);
  if (!again.skipped.empty())
    luo::fuzz::fail(
        "a serialization of restored entries loses one",
        serialized.value().text + "\n" + again.skipped[0].path + ": " + again.skipped[0].reason);
  luo::fuzz::check(again.restored == report.restored, "a re-exec round trip changes the count",
                   serialized.value().text);
  luo::fuzz::check(serialized.value().fds.empty(), "a serialized fd was not consumed");
  luo::fuzz::check(mirror2.counter() == mirror.counter(), "the counter changes through a re-exec",
                   serialized.value().text);
  return 0;
}
