/* A C99 program against an installed luo-lifecycle's C API (luo/luo.h): preserve a memfd on the
 * simulator, kexec, retrieve it. Prints "consumer (C): ok". */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luo/luo.h"

int main(void) {
  luo_runtime* rt = NULL;
  luo_device* dev = NULL;
  luo_outgoing* out = NULL;
  luo_incoming* in = NULL;
  int mem = -1;
  int back = -1;
  int status = 1;
  char buf[32] = "";

  if (luo_runtime_new(LUO_BACKEND_SIMULATOR, "7.2", &rt) != 0)
    return 1;
  mem = memfd_create("guest", MFD_CLOEXEC);
  if (mem < 0 || write(mem, "guest memory", 12) != 12)
    goto done;
  if (luo_device_open(rt, &dev) != 0 || luo_session_create(dev, "vm0", &out) != 0 ||
      luo_outgoing_preserve(out, mem, 1) != 0 || luo_runtime_kexec(rt) != 0)
    goto done;
  luo_device_close(dev);
  dev = NULL;
  if (luo_device_open(rt, &dev) != 0 || luo_session_retrieve(dev, "vm0", &in) != 0 ||
      luo_incoming_retrieve_fd(in, 1, &back) != 0 || luo_incoming_finish(in) != 0)
    goto done;
  if (pread(back, buf, sizeof buf - 1, 0) != 12 || strcmp(buf, "guest memory") != 0)
    goto done;
  printf("consumer (C, luo-lifecycle %s): ok\n", luo_version());
  status = 0;
done:
  if (status != 0)
    fprintf(stderr, "consumer (C): %s\n", luo_last_error(rt));
  if (mem >= 0)
    close(mem);
  if (back >= 0)
    close(back);
  luo_incoming_close(in);
  luo_outgoing_close(out);
  luo_device_close(dev);
  luo_runtime_free(rt);
  return status;
}
