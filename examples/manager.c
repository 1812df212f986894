/* examples/manager.c: a minimal service manager in C, over the C API (luo/luo.h) and the kernel
 * simulator. One luo_manager handle is the whole handoff: it keeps the services' fd stores,
 * serializes them for a kexec the way systemd v261 does (Stage A, Stage B), "kexecs", restores
 * them in the next boot, and refuses a step out of the model's order:
 *
 *   db.service     preserve=yes         two memfds       -> restored into its store
 *   web.service    preserve=on-success  one memfd        -> restored into its store
 *   cache.service  preserve=restart     one memfd        -> released at shutdown, not handed over
 *   late.service   preserve=yes         one memfd        -> held until the unit is loaded
 *
 * Exits 0 and prints "manager: PASS" when every preserved store came back byte for byte. */
#define _GNU_SOURCE
#include <errno.h>
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
static int holds(const luo_manager* m, const char* owner, const char* name, const char* data) {
  size_t n = 0;
  size_t i;
  if (luo_manager_count(m, owner, &n) != 0)
    return 0;
  for (i = 0; i < n; ++i) {
    const char* entry = NULL;
    int fd = -1;
    char buf[64] = "";
    ssize_t got;
    if (luo_manager_entry(m, owner, i, &entry, &fd) != 0 || strcmp(entry, name) != 0)
      continue;
    got = pread(fd, buf, sizeof buf - 1, 0);
    return got >= 0 && strcmp(buf, data) == 0;
  }
  return 0;
}

static int load_units(luo_runtime* rt, luo_manager* m, int with_late) {
  size_t i;
  int err;
  for (i = 0; i < SERVICES; ++i) {
    if (!with_late && strcmp(kServices[i].owner, "late.service") == 0)
      continue;
    if ((err = luo_manager_load(m, kServices[i].owner, 8, kServices[i].mode, NULL)) != 0)
      return fail(rt, "load", err);
  }
  return 0;
}

int main(void) {
  luo_runtime* rt = NULL;
  luo_manager* m = NULL;
  luo_report* report = NULL;
  int status = 1;
  int err;
  size_t i;

  if ((err = luo_runtime_new(LUO_BACKEND_SIMULATOR, "7.2", &rt)) != 0)
    return fail(rt, "runtime", err);
  if ((err = luo_manager_new(rt, LUO_SYSTEMD_V261, &m)) != 0) {
    fail(rt, "manager", err);
    goto done;
  }
  /* Every boot begins with the restore; a cold boot has nothing to retrieve (ENOENT). */
  err = luo_manager_restore(m, NULL);
  printf("boot %llu: restore: %s\n", (unsigned long long)luo_runtime_boot(rt),
         err == 0 ? "done" : luo_last_error(rt));
  if (load_units(rt, m, 1) != 0)
    goto done;

  /* boot 0: the services hand fds to their stores (FDSTORE=1). */
  for (i = 0; i < SERVICES; ++i) {
    int fd = memfd_create(kServices[i].name, MFD_CLOEXEC);
    size_t len = strlen(kServices[i].data);
    if (fd < 0 || pwrite(fd, kServices[i].data, len, 0) != (ssize_t)len) {
      fprintf(stderr, "manager: FAIL: memfd\n");
      if (fd >= 0)
        close(fd);
      goto done;
    }
    err = luo_manager_store(m, kServices[i].owner, fd, kServices[i].name, 1, NULL);
    close(fd); /* the store keeps its own duplicate */
    if (err != 0) {
      fail(rt, "FDSTORE", err);
      goto done;
    }
  }
  printf("boot %llu: %zu fds in the stores\n", (unsigned long long)luo_runtime_boot(rt), SERVICES);

  /* Out of order: Stage B before Stage A is refused, and nothing changes. */
  err = luo_manager_stage_b(m, NULL);
  printf("stage B before stage A: %s\n", err == EINVAL ? luo_last_error(rt) : "NOT REFUSED");
  if (err != EINVAL)
    goto done;

  /* Shutdown for kexec: Stage A lists what is preserved and closes the stores, Stage B puts it
   * into the "systemd" session, and the kernel hands that over. */
  if ((err = luo_manager_stage_a(m, &report)) != 0) {
    fail(rt, "stage A", err);
    goto done;
  }
  print_report("stage A", report);
  luo_report_free(report);
  report = NULL;
  if ((err = luo_manager_stage_b(m, &report)) != 0) {
    fail(rt, "stage B", err);
    goto done;
  }
  print_report("stage B", report);
  luo_report_free(report);
  report = NULL;
  printf("mapping: %s\n", luo_manager_mapping_json(m));
  if ((err = luo_manager_kexec(m)) != 0) {
    fail(rt, "kexec", err);
    goto done;
  }

  /* boot 1: the same handle is the next boot's manager. Load the units (late.service is not
   * known yet) and restore. */
  printf("boot %llu: restore\n", (unsigned long long)luo_runtime_boot(rt));
  if (load_units(rt, m, 0) != 0)
    goto done;
  if ((err = luo_manager_restore(m, &report)) != 0) {
    fail(rt, "restore", err);
    goto done;
  }
  print_report("restore", report);
  luo_report_free(report);
  report = NULL;
  printf("kexecsCount: %u, held for unknown units: %zu\n", (unsigned)luo_manager_kexec_count(m),
         luo_manager_held_count(m));
  if ((err = luo_manager_load(m, "late.service", 8, LUO_PRESERVE_YES, &report)) != 0) {
    fail(rt, "late.service", err);
    goto done;
  }
  print_report("loaded", report);

  status = 0;
  for (i = 0; i < SERVICES; ++i) {
    const int expected = kServices[i].mode != LUO_PRESERVE_RESTART;
    const int found = holds(m, kServices[i].owner, kServices[i].name, kServices[i].data);
    printf("  %s/%s: %s\n", kServices[i].owner, kServices[i].name,
           found ? "restored, contents intact" : "not restored");
    if (found != expected)
      status = 1;
  }
  printf("manager: %s\n", status == 0 ? "PASS" : "FAIL: a store did not come back as expected");
done:
  luo_report_free(report);
  luo_manager_free(m);
  luo_runtime_free(rt);
  return status;
}
