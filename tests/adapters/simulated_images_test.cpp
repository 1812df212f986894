// SimulatedKernel::Options::hold_images, the mode bench/handoff_bench runs 10,000 fds in within a
// stock RLIMIT_NOFILE: LUO's references to preserved and retrieved files cost no descriptor, and
// what that changes (the image is taken at PRESERVE_FD; a repeated RETRIEVE_FD fails) is visible.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "luo/adapters/simulated_kernel.hpp"
#include "simulated_test_util.hpp"

namespace luo::simtest {
namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

TEST(SimulatedKernelImages, PreservedAndRetrievedFilesCostNoDescriptor) {
  SimulatedKernel kernel(kDefaultProfile, {.hold_images = true});
  UniqueFd memfd = make_memfd("before");
  {
    auto dev = kernel.open_device();
    ASSERT_TRUE(dev.ok());
    auto session = create_session(kernel, dev.value().get(), "images");
    ASSERT_TRUE(session.ok());
    const std::size_t before = open_descriptors();
    ASSERT_EQ(preserve_fd(kernel, session.value().get(), memfd.get(), 7), 0);
    EXPECT_EQ(open_descriptors(), before);
    // Taken at PRESERVE_FD: this write does not reach the next boot (without the option it would).
    ASSERT_EQ(::pwrite(memfd.get(), "after!", 6, 0), 6);
    dev.value().reset();
    ASSERT_TRUE(kernel.kexec().ok());
  }
  auto dev = kernel.open_device();
  ASSERT_TRUE(dev.ok());
  auto session = retrieve_session(kernel, dev.value().get(), "images");
  ASSERT_TRUE(session.ok());
  const std::size_t before = open_descriptors();
  auto fd = retrieve_fd(kernel, session.value().get(), 7);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(open_descriptors(), before + 1);  // the caller's fd, nothing kept
  EXPECT_EQ(read_all(fd.value().get()), "before");
  // Nothing kept, so no same open file to give again.
  EXPECT_EQ(errno_of(retrieve_fd(kernel, session.value().get(), 7)), EBADF);
  EXPECT_EQ(finish(kernel, session.value().get()), 0);
}

}  // namespace
}  // namespace luo::simtest
