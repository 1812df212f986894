#include "fd_leak_listener.hpp"

#include <dirent.h>

namespace luo::testing {

int count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.')
      ++count;
  }
  ::closedir(dir);
  return count - 1;  // the DIR's own fd
}

void FdLeakListener::OnTestStart(const ::testing::TestInfo&) {
  before_ = count_open_fds();
}

void FdLeakListener::OnTestEnd(const ::testing::TestInfo& info) {
  const int after = count_open_fds();
  if (after != before_) {
    ADD_FAILURE() << "fd leak in " << info.test_suite_name() << "." << info.name() << ": "
                  << before_ << " fds open before, " << after << " after";
  }
}

}  // namespace luo::testing
