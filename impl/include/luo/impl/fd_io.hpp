// luo/impl/fd_io.hpp: the one place that loops over read()/write() on a file descriptor.
//
// Every loop here retries EINTR, continues after a short transfer and keeps the errno of the
// call that failed: a failed read is a failure, never a shorter document (which a parser would
// then report as malformed and so hide the errno that lost the bytes).
//
// The positioned loops take the call they are made of, so each caller says which syscalls it
// means: the library passes sys::pread / sys::pwrite (luo/impl/syscalls.hpp, the seam a test
// can fail); the kernel simulator and the adapters' memfd helpers pass ::pread / ::pwrite,
// because the seam fails the library's own calls, not the kernel's or a test helper's.
//
//   auto text = luo::fd_io::read_to_end(fd, luo::sys::pread);
//   if (!text.ok()) return text.raw_errno();
//   auto st = luo::fd_io::write_all_at(fd, json, 0, ::pwrite);
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "luo/impl/sys_result.hpp"

namespace luo::fd_io {

using PreadCall = ssize_t (*)(int fd, void* buf, std::size_t len, off_t offset);
using PwriteCall = ssize_t (*)(int fd, const void* buf, std::size_t len, off_t offset);

// The file from offset 0 to EOF; the file position is neither used nor moved. `expected_size`
// (an fstat() size, say) is only where the buffer starts: a file that grew or shrank since is
// still read whole. ENOMEM when the contents cannot be held (a sparse memfd may claim
// terabytes), EFBIG past off_t.
SysResult<std::string> read_to_end(int fd, PreadCall pread, std::size_t expected_size = 0);

// Fills buf[0, len) from offset, stopping early only at EOF: the number of bytes read.
SysResult<std::size_t> read_at(int fd, char* buf, std::size_t len, off_t offset, PreadCall pread);

// All of data at offset. A failure after a short write leaves the bytes written so far in
// place. A call that takes no byte of a non-empty buffer is ENOSPC: no regular file does it,
// and retrying would loop forever.
SysStatus write_all_at(int fd, std::string_view data, off_t offset, PwriteCall pwrite);

// A stream (pipe, terminal, or a file from its current position) read with read() to EOF.
// EFBIG as soon as more than `limit` bytes have arrived, so an endless stream cannot exhaust
// memory.
SysResult<std::string> read_stream(int fd, std::size_t limit);

}  // namespace luo::fd_io
