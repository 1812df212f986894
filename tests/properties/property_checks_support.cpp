#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "property_checks.hpp"

namespace luo::testing {

bool same_open_file_description(int a, int b) {
  const pid_t self = ::getpid();
  const long k = ::syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
  if (k >= 0)
    return k == 0;
  constexpr int kDupfdQuery = 1027;  // F_DUPFD_QUERY
  return ::fcntl(a, kDupfdQuery, b) == 1;
}

}  // namespace luo::testing
