// simulated_user_memory.hpp: copy_from_user/copy_to_user for SimulatedKernel.
//
// The simulator receives the caller's argument pointer exactly as the kernel would, including
// NULL, unmapped and read-only pointers. Touching it directly would crash the process where the
// kernel returns EFAULT, so every access goes through process_vm_readv/writev on our own pid:
// the kernel then does the access for us and reports a fault as EFAULT.
//
// Errors other than a fault (the syscalls being unavailable) throw std::system_error.
//
// User addresses are plain integers so that arithmetic on a bad pointer (NULL + 72) is defined.
#pragma once

#include <cstddef>
#include <cstdint>

namespace luo::sim {

using UserAddr = std::uintptr_t;

inline UserAddr user_addr(const void* p) {
  return reinterpret_cast<UserAddr>(p);
}

// The process whose memory "user" addresses refer to: 0 (the default) is this one. Set for the
// duration of one call by SimulatedKernel::ioctl_for; per thread.
void set_user_process(int pid);

// 0 or EFAULT; nothing is copied unless all n bytes are accessible.
int copy_from_user(void* dst, UserAddr src, std::size_t n);
int copy_to_user(UserAddr dst, const void* src, std::size_t n);

// The kernel's check_zeroed_user(): 0 if all n bytes are zero, E2BIG if a non-zero byte comes
// before any inaccessible one, EFAULT otherwise.
int check_zeroed_user(UserAddr src, std::size_t n);

// copy_struct_from_user() into a kernel struct of ksize bytes (spec §1.3 step 6): a longer user
// struct must have an all-zero tail (E2BIG), a shorter one is zero-extended.
int copy_struct_from_user(void* dst, std::size_t ksize, UserAddr src, std::size_t usize);

}  // namespace luo::sim
