// simulated_memfd.hpp: the memfd file handler of SimulatedKernel (spec §3.8).
//
// The kernel's memfd handler accepts a file when it is shmem with no links. The simulator
// applies the same rule from userspace: a regular file on a TMPFS_MAGIC filesystem with
// st_nlink == 0. That is every memfd_create() file except MFD_HUGETLB ones (hugetlbfs), and, as
// in the kernel, also an unlinked or O_TMPFILE tmpfs file; named tmpfs files, /dev/null,
// sockets (session fds included) and disk files are refused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "luo/impl/sys_result.hpp"
#include "luo/impl/unique_fd.hpp"

namespace luo::sim {

// What crosses the simulated reboot for one preserved memfd. Only the data extents are kept
// (SEEK_DATA/SEEK_HOLE), so a large sparse memfd costs the simulator what it stores, not its
// size; holes read back as zeros, as the kernel's materialized pages do.
struct MemfdImage {
  struct Extent {
    off_t offset = 0;
    std::string bytes;
  };
  off_t size = 0;  // i_size
  std::vector<Extent> extents;
  off_t position = 0;
  unsigned seals = 0;  // as snapshotted at PRESERVE_FD

  // Bytes of data the image holds (its allocations, not its size).
  std::size_t held_bytes() const;
  // Gives the memory back: assigning an empty image may keep a string's buffer.
  void release();
};

// The memfd handler's size limit where it has one (spec §3.8): a file of more than UINT_MAX
// pages is refused with EFBIG at PRESERVE_FD.
bool memfd_exceeds_page_limit(off_t size);

// The seals the seal-preserving memfd handler knows how to re-apply (§3.8).
unsigned memfd_supported_seals();

bool memfd_handler_accepts(int fd);

// F_GET_SEALS of the file (0 if it cannot say).
unsigned memfd_seals(int fd);

// Freeze: size, contents and the current file position of the open file description `fd`.
SysResult<MemfdImage> memfd_capture(int fd);

// Retrieve: a new memfd (O_RDWR, sealing allowed, empty name) with the image's contents and
// position; the seals are applied only when apply_seals.
SysResult<UniqueFd> memfd_restore(const MemfdImage& image, bool apply_seals);

}  // namespace luo::sim
