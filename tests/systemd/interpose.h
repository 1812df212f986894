/* interpose.h: the hooks interpose.c calls instead of the kernel (NULL: the real call). */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* Opens "/dev/liveupdate": an fd, or -errno. */
typedef int (*luo_sd_open_hook_t)(void);
/* A LUO ioctl (type 0xBA) on any fd: the ioctl's result, or -errno. */
typedef int (*luo_sd_ioctl_hook_t)(int fd, unsigned long request, void* arg);

extern luo_sd_open_hook_t luo_sd_open_hook;
extern luo_sd_ioctl_hook_t luo_sd_ioctl_hook;

#ifdef __cplusplus
}
#endif
