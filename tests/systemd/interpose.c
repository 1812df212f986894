/* interpose.c: routes the /dev/liveupdate ABI of the dlopen'd systemd libraries into the test's
 * kernel simulator.
 *
 * libsystemd-shared-262.so reaches the kernel through its PLT: open()/open64() of
 * "/dev/liveupdate" and ioctl() on the fds it got back. The test executable is linked with its
 * symbols exported (ENABLE_EXPORTS), so these definitions come first in the global lookup scope
 * and bind those PLT slots, whatever symbol version the library asked for (an unversioned
 * definition satisfies a non-hidden versioned reference). Only the two things LUO needs are
 * diverted: an open of exactly "/dev/liveupdate" and an ioctl of type 0xBA (every LUO command,
 * spec kernel-luo.md §1.3); everything else, and everything while no hook is installed, goes to
 * the next definition (glibc's) found with RTLD_NEXT.
 *
 * Written in C so the definitions match glibc's variadic prototypes exactly; the hooks are set
 * from C++ (systemd262.cpp). */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include "interpose.h"

luo_sd_open_hook_t luo_sd_open_hook = NULL;
luo_sd_ioctl_hook_t luo_sd_ioctl_hook = NULL;

static const char kDevice[] = "/dev/liveupdate";
static const unsigned long kLuoIoctlType = 0xBA;

typedef int (*open_fn)(const char*, int, ...);
typedef int (*openat_fn)(int, const char*, int, ...);
typedef int (*open2_fn)(const char*, int);
typedef int (*openat2_fn)(int, const char*, int);
typedef int (*ioctl_fn)(int, unsigned long, ...);

/* The next definition of `name` (glibc's) into *fn; memcpy because ISO C has no conversion from
 * an object pointer to a function pointer. */
static void next(void* fn, const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  memcpy(fn, &p, sizeof p);
}

static int diverted_open(const char* path, int* result) {
  if (luo_sd_open_hook == NULL || path == NULL || strcmp(path, kDevice) != 0)
    return 0;
  const int r = luo_sd_open_hook();
  if (r < 0) {
    errno = -r;
    *result = -1;
  } else {
    *result = r;
  }
  return 1;
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

#define LUO_DEFINE_OPEN(fn)                  \
  int fn(const char* path, int flags, ...) { \
    int r;                                   \
    if (diverted_open(path, &r))             \
      return r;                              \
    va_list ap;                              \
    va_start(ap, flags);                     \
    const mode_t mode = mode_arg(flags, ap); \
    va_end(ap);                              \
    static open_fn real = NULL;              \
    if (real == NULL)                        \
      next(&real, #fn);                      \
    return real(path, flags, mode);          \
  }
#define LUO_DEFINE_OPENAT(fn)                           \
  int fn(int dirfd, const char* path, int flags, ...) { \
    int r;                                              \
    if (diverted_open(path, &r))                        \
      return r;                                         \
    va_list ap;                                         \
    va_start(ap, flags);                                \
    const mode_t mode = mode_arg(flags, ap);            \
    va_end(ap);                                         \
    static openat_fn real = NULL;                       \
    if (real == NULL)                                   \
      next(&real, #fn);                                 \
    return real(dirfd, path, flags, mode);              \
  }
#define LUO_DEFINE_OPEN2(fn)            \
  int fn(const char* path, int flags) { \
    int r;                              \
    if (diverted_open(path, &r))        \
      return r;                         \
    static open2_fn real = NULL;        \
    if (real == NULL)                   \
      next(&real, #fn);                 \
    return real(path, flags);           \
  }
#define LUO_DEFINE_OPENAT2(fn)                     \
  int fn(int dirfd, const char* path, int flags) { \
    int r;                                         \
    if (diverted_open(path, &r))                   \
      return r;                                    \
    static openat2_fn real = NULL;                 \
    if (real == NULL)                              \
      next(&real, #fn);                            \
    return real(dirfd, path, flags);               \
  }

/* The fortified entry points are not declared without _FORTIFY_SOURCE. */
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);

LUO_DEFINE_OPEN(open)
LUO_DEFINE_OPEN(open64)
LUO_DEFINE_OPENAT(openat)
LUO_DEFINE_OPENAT(openat64)
LUO_DEFINE_OPEN2(__open_2)
LUO_DEFINE_OPEN2(__open64_2)
LUO_DEFINE_OPENAT2(__openat_2)
LUO_DEFINE_OPENAT2(__openat64_2)

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (luo_sd_ioctl_hook != NULL && ((request >> 8) & 0xff) == kLuoIoctlType) {
    const int r = luo_sd_ioctl_hook(fd, request, arg);
    if (r < 0) {
      errno = -r;
      return -1;
    }
    return r;
  }
  static ioctl_fn real = NULL;
  if (real == NULL)
    next(&real, "ioctl");
  return real(fd, request, arg);
}
