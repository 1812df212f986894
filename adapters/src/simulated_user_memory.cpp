#include "simulated_user_memory.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace luo::sim {
namespace {

thread_local pid_t user_process = 0;

// process_vm_* never splits one iovec element, so a short count means a fault somewhere. Any
// error but EFAULT (a seccomp filter, a kernel without the syscall) would make every argument
// look unreadable, so it is reported loudly instead of as a wrong errno.
bool transfer(bool write, UserAddr user, void* local, std::size_t n) {
  if (n == 0)
    return true;
  iovec local_iov{local, n};
  iovec remote_iov{reinterpret_cast<void*>(user), n};
  for (;;) {
    const pid_t pid = user_process != 0 ? user_process : ::getpid();
    const ssize_t done = write ? ::process_vm_writev(pid, &local_iov, 1, &remote_iov, 1, 0)
                               : ::process_vm_readv(pid, &local_iov, 1, &remote_iov, 1, 0);
    if (done < 0 && errno == EINTR)
      continue;
    if (done < 0 && errno != EFAULT) {
      throw std::system_error(errno, std::generic_category(),
                              "SimulatedKernel needs process_vm_readv/writev on itself");
    }
    return done == static_cast<ssize_t>(n);
  }
}

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

void set_user_process(int pid) {
  user_process = pid;
}

int copy_from_user(void* dst, UserAddr src, std::size_t n) {
  return transfer(false, src, dst, n) ? 0 : EFAULT;
}

int copy_to_user(UserAddr dst, const void* src, std::size_t n) {
  return transfer(true, dst, const_cast<void*>(src), n) ? 0 : EFAULT;
}

int check_zeroed_user(UserAddr src, std::size_t n) {
  // Page-sized chunks aligned to page boundaries: each chunk is either readable as a whole or
  // not at all, so "non-zero byte before the first fault" is decided exactly.
  std::vector<unsigned char> chunk(page_size());
  while (n > 0) {
    const std::size_t to_boundary = page_size() - (src % page_size());
    const std::size_t len = std::min(n, to_boundary);
    if (copy_from_user(chunk.data(), src, len) != 0)
      return EFAULT;
    if (std::any_of(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(len),
                    [](unsigned char b) { return b != 0; })) {
      return E2BIG;
    }
    src += len;
    n -= len;
  }
  return 0;
}

int copy_struct_from_user(void* dst, std::size_t ksize, UserAddr src, std::size_t usize) {
  const std::size_t common = std::min(ksize, usize);
  std::memset(dst, 0, ksize);
  // The kernel checks the tail before copying the struct, so a non-zero tail wins over a fault
  // inside the struct itself.
  if (usize > ksize) {
    if (const int err = check_zeroed_user(src + ksize, usize - ksize); err != 0)
      return err;
  }
  return copy_from_user(dst, src, common);
}

}  // namespace luo::sim
