/* examples/manager.c: a minimal service manager in C, over the C API (luo/luo.h) and the kernel
 * simulator. It keeps its services' fd stores, serializes them for a kexec the way systemd v261
 * does (Stage A, Stage B), "kexecs", and restores them in the next boot:
 *
 *   db.service     preserve=yes         two memfds       -> restored into its store
 *   web.service    preserve=on-success  one memfd        -> restored into its store
 *   cache.service  preserve=restart     one memfd        -> released at shutdown, not handed over
 *   late.service   preserve=yes         one memfd        -> held until the unit is loaded
 *
 * Exits 0 and prints "manager: PASS" when every preserved store came back byte for byte. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luo/luo.h"

struct service {
  const char* owner;
  luo_preserve_mode mode;
  const char* name;
  const char* data;
};

static const struct service kServices[] = {
    {"db.service", LUO_PRESERVE_YES, "wal", "write-ahead log"},
    {"db.service", LUO_PRESERVE_YES, "index", "index pages"},
    {"web.service", LUO_PRESERVE_ON_SUCCESS, "sessions", "open HTTP sessions"},
    {"cache.service", LUO_PRESERVE_RESTART, "cache", "warm cache"},
    {"late.service", LUO_PRESERVE_YES, "state", "late state"},
};
#define SERVICES (sizeof kServices / sizeof kServices[0])

static int fail(luo_runtime* rt, const char* step, int err) {
  fprintf(stderr, "manager: FAIL: %s: %s (%s)\n", step, strerror(err), luo_last_error(rt));
  return 1;
}

static void print_report(const char* phase, const luo_report* report) {
  size_t i;
  luo_entry_report e;
  for (i = 0; i < luo_report_count(report); ++i) {
    if (luo_report_get(report, i, &e) == 0) {
      printf("  %-8s %s/%s: %s%s%s%s\n", phase, e.owner, e.name, e.state, e.reason[0] ? " (" : "",
             e.reason, e.reason[0] ? ")" : "");
    }
  }
}

/* Whether owner's store holds an entry called name with exactly data. */
static int holds(const luo_registry* reg, const char* owner, const char* name, const char* data) {
  size_t n = 0;
  size_t i;
  if (luo_registry_count(reg, owner, &n) != 0)
    return 0;
  for (i = 0; i < n; ++i) {
    const char* entry = NULL;
    int fd = -1;
    char buf[64] = "";
    ssize_t got;
    if (luo_registry_entry(reg, owner, i, &entry, &fd) != 0 || strcmp(entry, name) != 0)
      continue;
    got = pread(fd, buf, sizeof buf - 1, 0);
    return got >= 0 && strcmp(buf, data) == 0;
  }
  return 0;
}

static int load_units(luo_runtime* rt, luo_registry* reg, int with_late) {
  size_t i;
  int err;
  for (i = 0; i < SERVICES; ++i) {
    if (!with_late && strcmp(kServices[i].owner, "late.service") == 0)
      continue;
    if ((err = luo_registry_load(reg, kServices[i].owner, 8, kServices[i].mode)) != 0)
      return fail(rt, "load", err);
  }
  return 0;
}

int main(void) {
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_held* held = NULL;
  luo_device* dev = NULL;
  luo_stage_a_result* a = NULL;
  luo_stage_b_result* b = NULL;
  luo_report* report = NULL;
  luo_report* late = NULL;
  uint32_t kexecs = 0;
  int status = 1;
  int err;
  size_t i;

  if ((err = luo_runtime_new(LUO_BACKEND_SIMULATOR, "7.2", &rt)) != 0)
    return fail(rt, "runtime", err);
  if (luo_registry_new(rt, &reg) != 0 || luo_held_new(rt, &held) != 0 ||
      load_units(rt, reg, 1) != 0)
    goto done;

  /* boot 0: the services hand fds to their stores (FDSTORE=1). */
  for (i = 0; i < SERVICES; ++i) {
    int fd = memfd_create(kServices[i].name, MFD_CLOEXEC);
    size_t len = strlen(kServices[i].data);
    if (fd < 0 || pwrite(fd, kServices[i].data, len, 0) != (ssize_t)len) {
      fprintf(stderr, "manager: FAIL: memfd\n");
      goto done;
    }
    err = luo_registry_add(reg, kServices[i].owner, fd, kServices[i].name, 1, NULL);
    close(fd); /* the store keeps its own duplicate */
    if (err != 0) {
      fail(rt, "FDSTORE", err);
      goto done;
    }
  }
  printf("boot %llu: %zu fds in the stores\n", (unsigned long long)luo_runtime_boot(rt), SERVICES);

  /* Shutdown for kexec: Stage A lists what is preserved, the stores are freed, Stage B puts
   * it into the "systemd" session, and the kernel hands that over. */
  if ((err = luo_stage_a(reg, held, 0, &a)) != 0) {
    fail(rt, "stage A", err);
    goto done;
  }
  print_report("stage A", luo_stage_a_report(a));
  luo_registry_clear(reg);
  if ((err = luo_device_open(rt, &dev)) != 0 || (err = luo_stage_b(dev, a, &b)) != 0) {
    fail(rt, "stage B", err);
    goto done;
  }
  print_report("stage B", luo_stage_b_report(b));
  printf("mapping: %s\n", luo_stage_b_mapping_json(b));
  luo_device_close(dev);
  dev = NULL;
  if ((err = luo_runtime_kexec(rt)) != 0) {
    fail(rt, "kexec", err);
    goto done;
  }
  /* The old boot's processes are gone, and their fds with them. */
  luo_stage_b_free(b);
  b = NULL;
  luo_stage_a_free(a);
  a = NULL;

  /* boot 1: load the units (late.service is not known yet) and restore. */
  printf("boot %llu: restore\n", (unsigned long long)luo_runtime_boot(rt));
  if (load_units(rt, reg, 0) != 0)
    goto done;
  if ((err = luo_device_open(rt, &dev)) != 0 ||
      (err = luo_restore(dev, luo_registry_dispatch, reg, held, &kexecs, &report)) != 0) {
    fail(rt, "restore", err);
    goto done;
  }
  print_report("restore", report);
  printf("kexecsCount: %u, held for unknown units: %zu\n", (unsigned)kexecs, luo_held_count(held));
  if ((err = luo_registry_load(reg, "late.service", 8, LUO_PRESERVE_YES)) != 0 ||
      (err = luo_held_owner_loaded(held, "late.service", luo_registry_dispatch, reg, &late)) != 0) {
    fail(rt, "late.service", err);
    goto done;
  }
  print_report("loaded", late);

  status = 0;
  for (i = 0; i < SERVICES; ++i) {
    const int expected = kServices[i].mode != LUO_PRESERVE_RESTART;
    const int found = holds(reg, kServices[i].owner, kServices[i].name, kServices[i].data);
    printf("  %s/%s: %s\n", kServices[i].owner, kServices[i].name,
           found ? "restored, contents intact" : "not restored");
    if (found != expected)
      status = 1;
  }
  printf("manager: %s\n", status == 0 ? "PASS" : "FAIL: a store did not come back as expected");
done:
  luo_report_free(late);
  luo_report_free(report);
  luo_stage_b_free(b);
  luo_stage_a_free(a);
  luo_device_close(dev);
  luo_held_free(held);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return status;
}
