/* The C API from C: success paths, bad arguments (EINVAL), wrong states (the model's errno),
 * fault injection and the fd-store handoff across a simulated kexec. Every case releases what it
 * opened on every path (the `done:` block), so the fd-leak listener can check it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capi_cases.h"
#include "luo/luo.h"

#define FAIL_AT(...)                                             \
  do {                                                           \
    int n_ = snprintf(msg, size, "%s:%d: ", __FILE__, __LINE__); \
    if (n_ >= 0 && (size_t)n_ < size)                            \
      snprintf(msg + n_, size - (size_t)n_, __VA_ARGS__);        \
    result = __LINE__;                                           \
    goto done;                                                   \
  } while (0)

#define CHECK(cond)                       \
  do {                                    \
    if (!(cond))                          \
      FAIL_AT("CHECK(%s) failed", #cond); \
  } while (0)

#define CHECK_EQ(a, b)                                          \
  do {                                                          \
    long long a_ = (long long)(a), b_ = (long long)(b);         \
    if (a_ != b_)                                               \
      FAIL_AT("%s == %s failed: %lld vs %lld", #a, #b, a_, b_); \
  } while (0)

/* A call on runtime rt that must return `expected`; the runtime's message on failure. */
#define CHECK_RT(rt, call, expected)                                                           \
  do {                                                                                         \
    int got_ = (call);                                                                         \
    if (got_ != (expected))                                                                    \
      FAIL_AT("%s returned %d (%s), expected %d; last error: %s", #call, got_, strerror(got_), \
              (int)(expected), luo_last_error(rt));                                            \
  } while (0)

#define CHECK_STR(a, b)                                      \
  do {                                                       \
    const char* a_ = (a);                                    \
    if (strcmp(a_, (b)) != 0)                                \
      FAIL_AT("%s is \"%s\", expected \"%s\"", #a, a_, (b)); \
  } while (0)

static int memfd_with(const char* data) {
  int fd = memfd_create("capi-test", MFD_CLOEXEC);
  size_t len = strlen(data);
  if (fd < 0)
    return -1;
  if (pwrite(fd, data, len, 0) != (ssize_t)len) {
    close(fd);
    return -1;
  }
  return fd;
}

static int contents_are(int fd, const char* expected) {
  char buf[256];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n < 0)
    return 0;
  buf[n] = '\0';
  return strcmp(buf, expected) == 0;
}

static void close_fd(int* fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* A restored fd entry, as the restore offers it to a dispatch function. */
static luo_restored_item fd_item(const char* owner, const char* name, int fd) {
  luo_restored_item item;
  item.owner = owner;
  item.name = name;
  item.type = LUO_ENTRY_FD;
  item.fd = fd;
  item.session_name = "";
  return item;
}

/* Whether the report has an entry of that name; it is copied to *out. */
static int find_entry(const luo_report* r, const char* name, luo_entry_report* out) {
  size_t i;
  for (i = 0; i < luo_report_count(r); ++i) {
    if (luo_report_get(r, i, out) == 0 && strcmp(out->name, name) == 0)
      return 1;
  }
  return 0;
}

/* The manager's whole shutdown side for the registry's stores: Stage A (the registry frees its
 * stores), Stage B on a fresh open of the device, the kexec; the old boot's results go with it.
 * 0, or the errno of the first step that failed (its message in luo_last_error()). */
static int hand_over(luo_runtime* rt, luo_registry* reg) {
  luo_stage_a_result* a = NULL;
  luo_stage_b_result* b = NULL;
  luo_device* dev = NULL;
  int r = luo_stage_a(reg, NULL, 0, &a);
  if (r == 0) {
    luo_registry_clear(reg);
    r = luo_device_open(rt, &dev);
  }
  if (r == 0)
    r = luo_stage_b(dev, a, &b);
  luo_device_close(dev);
  if (r == 0)
    r = luo_runtime_kexec(rt);
  luo_stage_b_free(b);
  luo_stage_a_free(a);
  return r;
}

int luo_capi_case_BadArgumentsAreEinval(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_runtime* kernel = NULL;
  luo_device* dev = NULL;
  luo_outgoing* out = NULL;
  luo_registry* reg = NULL;
  char name[LUO_NAME_BUFFER_SIZE];
  luo_entry_report entry;

  CHECK(strlen(luo_version()) > 0);
  CHECK_EQ(luo_runtime_new((luo_backend)42, NULL, &rt), EINVAL);
  CHECK(rt == NULL);
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, "5.4", &rt), EINVAL);
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, NULL), EINVAL);
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_STR(luo_runtime_profile(rt), "7.2");
  CHECK_STR(luo_last_error(rt), "");

  CHECK_EQ(luo_device_open(NULL, &dev), EINVAL);
  CHECK_EQ(luo_device_open(rt, NULL), EINVAL);
  CHECK(strstr(luo_last_error(rt), "out is NULL") != NULL);
  CHECK_EQ(luo_device_open(rt, &dev), 0);
  CHECK_EQ(luo_session_create(dev, NULL, &out), EINVAL);
  CHECK_EQ(luo_session_create(NULL, "x", &out), EINVAL);
  CHECK_EQ(luo_session_create(dev, "x", NULL), EINVAL);
  CHECK_EQ(luo_outgoing_preserve(NULL, 0, 1), EINVAL);
  CHECK_EQ(luo_outgoing_get_name(NULL, name, sizeof name), EINVAL);
  CHECK_EQ(luo_incoming_finish(NULL), EINVAL);
  CHECK_EQ(luo_runtime_kexec(NULL), EINVAL);
  CHECK_EQ(luo_simulator_inject(rt, (luo_fault)99, EIO, 0), EINVAL);
  CHECK_EQ(luo_simulator_inject(rt, LUO_FAULT_FREEZE, 0, 0), EINVAL);

  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_EQ(luo_registry_load(reg, "a.service", 1, (luo_preserve_mode)7), EINVAL);
  CHECK_EQ(luo_registry_load(reg, NULL, 1, LUO_PRESERVE_YES), EINVAL);
  CHECK_EQ(luo_stage_a(reg, NULL, 0, NULL), EINVAL);
  CHECK_EQ(luo_stage_b(dev, NULL, NULL), EINVAL);
  CHECK_EQ(luo_report_get(NULL, 0, &entry), EINVAL);
  CHECK_EQ(luo_report_count(NULL), 0);
  CHECK_EQ(luo_registry_dispatch(NULL, NULL, NULL), LUO_DISPATCH_REFUSED);

  /* The kernel backend exists everywhere; only its device may be missing. */
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_KERNEL, "7.3", &kernel), 0);
  CHECK_EQ(luo_simulator_inject(kernel, LUO_FAULT_FREEZE, EIO, 0), EOPNOTSUPP);

  /* Every free and close accepts NULL. */
  luo_runtime_free(NULL);
  luo_device_close(NULL);
  luo_outgoing_close(NULL);
  luo_incoming_close(NULL);
  luo_registry_free(NULL);
  luo_held_free(NULL);
  luo_report_free(NULL);
  luo_stage_a_free(NULL);
  luo_stage_b_free(NULL);
done:
  luo_registry_free(reg);
  luo_device_close(dev);
  luo_runtime_free(kernel);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_PreserveKexecRetrieve(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_device* dev = NULL;
  luo_outgoing* out = NULL;
  luo_incoming* in = NULL;
  int mem = -1;
  int back = -1;
  char name[LUO_NAME_BUFFER_SIZE];
  uint64_t tokens[4] = {0, 0, 0, 0};

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, "7.2", &rt), 0);
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK(luo_device_fd(dev) >= 0);
  CHECK_RT(rt, luo_session_create(dev, "vm0", &out), 0);
  CHECK_STR(luo_outgoing_state(out), "created");
  mem = memfd_with("guest memory");
  CHECK(mem >= 0);
  CHECK_RT(rt, luo_outgoing_preserve(out, mem, 7), 0);
  CHECK_STR(luo_outgoing_state(out), "preserving");
  CHECK_RT(rt, luo_outgoing_get_name(out, name, sizeof name), 0);
  CHECK_STR(name, "vm0");
  CHECK_EQ(luo_outgoing_tokens(out, tokens, 4), 1);
  CHECK_EQ(tokens[0], 7);
  close_fd(&mem); /* LUO keeps its own reference */
  luo_device_close(dev);
  dev = NULL;

  CHECK_RT(rt, luo_runtime_kexec(rt), 0);
  CHECK_EQ(luo_runtime_boot(rt), 1);
  /* A handle of the old boot is stale: refused without a syscall. */
  CHECK_STR(luo_outgoing_state(out), "handed_over");
  CHECK_RT(rt, luo_outgoing_preserve(out, 0, 8), EBADF);
  luo_outgoing_close(out);
  out = NULL;

  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_session_retrieve(dev, "vm0", &in), 0);
  CHECK_STR(luo_incoming_state(in), "retrieved");
  /* Before a RETRIEVE_FD reaches it, nothing says token 7 exists (issue 18). */
  CHECK_STR(luo_incoming_file_state(in, 7), "");
  CHECK(strstr(luo_last_error(rt), "luo_incoming_file_state: ENOENT") != NULL);
  CHECK_RT(rt, luo_incoming_retrieve_fd(in, 99, &back), ENOENT);
  CHECK_EQ(back, -1);
  CHECK_STR(luo_incoming_file_state(in, 99), "");
  CHECK_RT(rt, luo_incoming_retrieve_fd(in, 7, &back), 0);
  CHECK(back >= 0);
  CHECK((fcntl(back, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK(contents_are(back, "guest memory"));
  CHECK_STR(luo_incoming_file_state(in, 7), "retrieved");
  CHECK_RT(rt, luo_incoming_get_name(in, name, sizeof name), 0);
  CHECK_STR(name, "vm0");
  CHECK_RT(rt, luo_incoming_finish(in), 0);
  CHECK_STR(luo_incoming_state(in), "finished");
  CHECK(contents_are(back, "guest memory")); /* retrieved fds outlive FINISH */
done:
  close_fd(&mem);
  close_fd(&back);
  luo_incoming_close(in);
  luo_outgoing_close(out);
  luo_device_close(dev);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_WrongStateGivesTheModelsErrno(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_runtime* legacy = NULL;
  luo_device* dev = NULL;
  luo_device* second = NULL;
  luo_device* legacy_dev = NULL;
  luo_outgoing* out = NULL;
  luo_outgoing* twin = NULL;
  luo_outgoing* old = NULL;
  luo_incoming* in = NULL;
  int mem = -1;
  int pipe_fds[2] = {-1, -1};
  int fd = -1;
  char tiny[2];
  char name[LUO_NAME_BUFFER_SIZE];

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_device_open(rt, &second), EBUSY); /* the device is exclusive */
  CHECK(second == NULL);
  CHECK_RT(rt, luo_session_create(dev, "db", &out), 0);
  CHECK_RT(rt, luo_session_create(dev, "db", &twin), EEXIST);
  CHECK(strstr(luo_last_error(rt), "refused before any syscall") != NULL);
  mem = memfd_with("x");
  CHECK(mem >= 0);
  CHECK_RT(rt, luo_outgoing_preserve(out, mem, 1), 0);
  CHECK_RT(rt, luo_outgoing_preserve(out, mem, 1), EEXIST);
  CHECK(strstr(luo_last_error(rt), "EEXIST") != NULL);
  CHECK_RT(rt, luo_outgoing_preserve(out, mem, 2), EBUSY); /* same file, another token */
  CHECK_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  CHECK_RT(rt, luo_outgoing_preserve(out, pipe_fds[0], 3), ENOENT); /* not a memfd */
  CHECK_RT(rt, luo_outgoing_get_name(out, tiny, sizeof tiny), ERANGE);
  CHECK_RT(rt, luo_session_retrieve(dev, "never-handed-over", &in), ENOENT);
  CHECK(in == NULL);
  CHECK_RT(rt, luo_session_create(dev, "empty", &old), 0);

  CHECK_RT(rt, luo_runtime_kexec(rt), 0);
  luo_device_close(dev);
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_session_create(dev, "db", &twin), 0); /* a new boot may reuse the name */
  CHECK_RT(rt, luo_outgoing_get_name(old, name, sizeof name), EBADF);
  CHECK_RT(rt, luo_session_retrieve(dev, "db", &in), 0);
  CHECK_RT(rt, luo_incoming_retrieve_fd(in, 9, &fd), ENOENT);
  CHECK_EQ(fd, -1);
  CHECK_RT(rt, luo_incoming_finish(in), 0);
  CHECK_RT(rt, luo_incoming_retrieve_fd(in, 1, &fd), ENOENT); /* after FINISH */

  /* 6.19 has no GET_NAME: refused before any syscall. */
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, "6.19", &legacy), 0);
  CHECK_RT(legacy, luo_device_open(legacy, &legacy_dev), 0);
  luo_outgoing_close(old);
  old = NULL;
  CHECK_RT(legacy, luo_session_create(legacy_dev, "s", &old), 0);
  CHECK_RT(legacy, luo_outgoing_get_name(old, name, sizeof name), EINVAL);
done:
  close_fd(&mem);
  close_fd(&fd);
  close_fd(&pipe_fds[0]);
  close_fd(&pipe_fds[1]);
  luo_incoming_close(in);
  luo_outgoing_close(old);
  luo_outgoing_close(twin);
  luo_outgoing_close(out);
  luo_device_close(second);
  luo_device_close(legacy_dev);
  luo_device_close(dev);
  luo_runtime_free(legacy);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_WithoutLuoTheDeviceIsMissing(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_device* dev = NULL;
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR_NO_LUO, NULL, &rt), 0);
  CHECK_RT(rt, luo_device_open(rt, &dev), ENOENT);
  CHECK(dev == NULL);
  CHECK(strlen(luo_last_error(rt)) > 0);
done:
  luo_device_close(dev);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_FreezeFailureRollsBack(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_device* dev = NULL;
  luo_outgoing* out = NULL;
  int a = -1;
  int b = -1;
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_session_create(dev, "db", &out), 0);
  a = memfd_with("a");
  b = memfd_with("b");
  CHECK(a >= 0 && b >= 0);
  CHECK_RT(rt, luo_outgoing_preserve(out, a, 1), 0);
  CHECK_RT(rt, luo_outgoing_preserve(out, b, 2), 0);
  CHECK_RT(rt, luo_simulator_inject(rt, LUO_FAULT_FREEZE, ENOMEM, 1), 0);
  CHECK_RT(rt, luo_runtime_kexec(rt), ENOMEM);
  CHECK_EQ(luo_runtime_boot(rt), 0);
  CHECK_STR(luo_outgoing_state(out), "preserving");
  CHECK_RT(rt, luo_runtime_kexec(rt), 0);
  CHECK_EQ(luo_runtime_boot(rt), 1);
done:
  close_fd(&a);
  close_fd(&b);
  luo_outgoing_close(out);
  luo_device_close(dev);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_FdStoresOfAManager(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  int a = -1;
  int b = -1;
  int duplicate = -1;
  size_t n = 99;
  const char* name = NULL;
  int fd = -1;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_RT(rt, luo_registry_load(reg, "db.service", 2, LUO_PRESERVE_YES), 0);
  a = memfd_with("state");
  b = memfd_with("other");
  CHECK(a >= 0 && b >= 0);
  CHECK_RT(rt, luo_registry_add(reg, "db.service", a, "state", 1, &duplicate), 0);
  CHECK_EQ(duplicate, 0);
  CHECK_RT(rt, luo_registry_add(reg, "db.service", a, "again", 1, &duplicate), 0);
  CHECK_EQ(duplicate, 1); /* the same open file description: already included */
  CHECK_RT(rt, luo_registry_add(reg, "db.service", b, "bad:name", 1, NULL), EINVAL);
  CHECK_RT(rt, luo_registry_add(reg, "nobody.service", b, "x", 1, NULL), ENOENT);
  CHECK_RT(rt, luo_registry_add(reg, "db.service", -1, "x", 1, NULL), EBADF);
  CHECK_RT(rt, luo_registry_add(reg, "db.service", b, "other", 0, NULL), 0);
  CHECK_RT(rt, luo_registry_add(reg, "db.service", b, "third", 1, NULL), EXFULL);
  CHECK_RT(rt, luo_registry_count(reg, "db.service", &n), 0);
  CHECK_EQ(n, 2);
  CHECK_RT(rt, luo_registry_entry(reg, "db.service", 0, &name, &fd), 0);
  CHECK_STR(name, "other"); /* newest first */
  CHECK_RT(rt, luo_registry_entry(reg, "db.service", 1, &name, &fd), 0);
  CHECK_STR(name, "state");
  CHECK(fd >= 0 && fd != a); /* the store keeps its own duplicate */
  CHECK(contents_are(fd, "state"));
  CHECK_RT(rt, luo_registry_entry(reg, "db.service", 2, &name, &fd), ERANGE);
  CHECK_RT(rt, luo_registry_remove(reg, "db.service", "state", &n), 0);
  CHECK_EQ(n, 1);
  CHECK_RT(rt, luo_registry_count(reg, "db.service", &n), 0);
  CHECK_EQ(n, 1);
  CHECK_RT(rt, luo_registry_unload(reg, "db.service"), 0);
  CHECK_RT(rt, luo_registry_unload(reg, "db.service"), ENOENT);
  CHECK_RT(rt, luo_registry_count(reg, "db.service", &n), ENOENT);
done:
  close_fd(&a);
  close_fd(&b);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_FdStoreHandoffAcrossKexec(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_held* held = NULL;
  luo_device* dev = NULL;
  luo_outgoing* vm = NULL;
  luo_stage_a_result* a = NULL;
  luo_stage_b_result* b = NULL;
  luo_report* report = NULL;
  luo_report* late_report = NULL;
  luo_entry_report entry;
  int ram = -1;
  int state = -1;
  int late = -1;
  int cache = -1;
  int fd = -1;
  uint32_t kexecs = 0;
  size_t n = 0;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_EQ(luo_held_new(rt, &held), 0);
  CHECK_RT(rt, luo_registry_load(reg, "db.service", 4, LUO_PRESERVE_YES), 0);
  CHECK_RT(rt, luo_registry_load(reg, "vmm.service", 4, LUO_PRESERVE_YES), 0);
  CHECK_RT(rt, luo_registry_load(reg, "late.service", 4, LUO_PRESERVE_ON_SUCCESS), 0);
  CHECK_RT(rt, luo_registry_load(reg, "cache.service", 4, LUO_PRESERVE_RESTART), 0);

  /* A VMM with its own session, whose fd goes into its manager's store. */
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_session_create(dev, "vmm-vm0", &vm), 0);
  ram = memfd_with("guest RAM");
  CHECK(ram >= 0);
  CHECK_RT(rt, luo_outgoing_preserve(vm, ram, 42), 0);
  CHECK_RT(rt, luo_registry_add(reg, "vmm.service", luo_outgoing_fd(vm), "vm0", 1, NULL), 0);

  state = memfd_with("db state");
  late = memfd_with("late data");
  cache = memfd_with("cache");
  CHECK(state >= 0 && late >= 0 && cache >= 0);
  CHECK_RT(rt, luo_registry_add(reg, "db.service", state, "state", 1, NULL), 0);
  CHECK_RT(rt, luo_registry_add(reg, "late.service", late, "late", 1, NULL), 0);
  CHECK_RT(rt, luo_registry_add(reg, "cache.service", cache, "cache", 1, NULL), 0);

  CHECK_RT(rt, luo_stage_a(reg, held, 5, &a), 0);
  CHECK_STR(luo_stage_a_state(a), "serialized");
  CHECK(strstr(luo_stage_a_json(a), "\"KExecCount\":5") != NULL);
  CHECK(strstr(luo_stage_a_json(a), "\"sessionName\":\"vmm-vm0\"") != NULL);
  CHECK_EQ(luo_report_count(luo_stage_a_report(a)), 4);
  CHECK(find_entry(luo_stage_a_report(a), "cache", &entry));
  CHECK_STR(entry.state, "released"); /* restart stores are not handed over */
  luo_registry_clear(reg);            /* the manager frees its stores */

  CHECK_RT(rt, luo_stage_b(dev, a, &b), 0);
  CHECK_STR(luo_stage_b_state(b), "preserved");
  CHECK(strstr(luo_stage_b_mapping_json(b), "\"token\":1") != NULL);
  CHECK(find_entry(luo_stage_b_report(b), "state", &entry));
  CHECK_STR(entry.state, "preserved");
  luo_device_close(dev);
  dev = NULL;
  CHECK_RT(rt, luo_runtime_kexec(rt), 0);
  /* The old boot's processes are gone, and their fds with them. */
  luo_stage_b_free(b);
  b = NULL;
  luo_stage_a_free(a);
  a = NULL;
  luo_outgoing_close(vm);
  vm = NULL;
  close_fd(&ram);
  close_fd(&state);
  close_fd(&late);
  close_fd(&cache);

  CHECK_RT(rt, luo_registry_load(reg, "db.service", 4, LUO_PRESERVE_YES), 0);
  CHECK_RT(rt, luo_registry_load(reg, "vmm.service", 4, LUO_PRESERVE_YES), 0);
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_restore(dev, luo_registry_dispatch, reg, held, &kexecs, &report), 0);
  CHECK_EQ(kexecs, 6);
  CHECK_EQ(luo_report_count(report), 3);
  CHECK(find_entry(report, "state", &entry));
  CHECK_STR(entry.owner, "db.service");
  CHECK_STR(entry.state, "stored");
  CHECK(find_entry(report, "vm0", &entry));
  CHECK_STR(entry.state, "stored");
  CHECK(find_entry(report, "late", &entry));
  CHECK_STR(entry.state, "held");
  CHECK_EQ(luo_held_count(held), 1);
  CHECK_RT(rt, luo_registry_entry(reg, "db.service", 0, NULL, &fd), 0);
  CHECK(contents_are(fd, "db state"));
  fd = -1; /* borrowed */

  CHECK_RT(rt, luo_registry_load(reg, "late.service", 4, LUO_PRESERVE_YES), 0);
  CHECK_RT(
      rt, luo_held_owner_loaded(held, "late.service", luo_registry_dispatch, reg, &late_report), 0);
  CHECK_EQ(luo_report_count(late_report), 1);
  CHECK_EQ(luo_report_get(late_report, 0, &entry), 0);
  CHECK_STR(entry.state, "stored");
  CHECK_EQ(luo_report_get(late_report, 1, &entry), ERANGE);
  CHECK_EQ(luo_held_count(held), 0);
  CHECK_RT(rt, luo_registry_count(reg, "late.service", &n), 0);
  CHECK_EQ(n, 1);
  CHECK_RT(rt, luo_registry_entry(reg, "late.service", 0, NULL, &fd), 0);
  CHECK(contents_are(fd, "late data"));
  fd = -1;

  /* "systemd" was finished and closed: nothing to restore twice. */
  luo_report_free(report);
  report = NULL;
  CHECK_RT(rt, luo_restore(dev, luo_registry_dispatch, reg, held, NULL, &report), ENOENT);
  CHECK(report == NULL);
done:
  close_fd(&ram);
  close_fd(&state);
  close_fd(&late);
  close_fd(&cache);
  luo_report_free(late_report);
  luo_report_free(report);
  luo_stage_b_free(b);
  luo_stage_a_free(a);
  luo_outgoing_close(vm);
  luo_device_close(dev);
  luo_held_free(held);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

/* A manager's own dispatch: keeps "yes" (duplicating the borrowed fd), refuses the rest. */
struct Kept {
  int calls;
  int fd;
  char owner[64];
};

static luo_disposition keep_yes(void* user, const luo_restored_item* item, int* error) {
  struct Kept* kept = (struct Kept*)user;
  kept->calls++;
  snprintf(kept->owner, sizeof kept->owner, "%s", item->owner);
  if (item->type == LUO_ENTRY_FD && strcmp(item->name, "yes") == 0) {
    kept->fd = fcntl(item->fd, F_DUPFD_CLOEXEC, 3);
    return LUO_DISPATCH_ATTACHED;
  }
  *error = EXFULL;
  return LUO_DISPATCH_REFUSED;
}

int luo_capi_case_CustomDispatchCanRefuse(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_held* held = NULL;
  luo_device* dev = NULL;
  luo_report* report = NULL;
  luo_entry_report entry;
  int yes = -1;
  int no = -1;
  struct Kept kept = {0, -1, ""};

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, "7.3", &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_EQ(luo_held_new(rt, &held), 0);
  CHECK_RT(rt, luo_registry_load(reg, "a.service", 4, LUO_PRESERVE_YES), 0);
  yes = memfd_with("kept");
  no = memfd_with("refused");
  CHECK(yes >= 0 && no >= 0);
  CHECK_RT(rt, luo_registry_add(reg, "a.service", yes, "yes", 1, NULL), 0);
  CHECK_RT(rt, luo_registry_add(reg, "a.service", no, "no", 1, NULL), 0);
  CHECK_RT(rt, hand_over(rt, reg), 0);

  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_restore(dev, keep_yes, &kept, held, NULL, &report), 0);
  CHECK_EQ(kept.calls, 2);
  CHECK_STR(kept.owner, "a.service");
  CHECK(kept.fd >= 0);
  CHECK(contents_are(kept.fd, "kept"));
  CHECK(find_entry(report, "yes", &entry));
  CHECK_STR(entry.state, "stored");
  CHECK(find_entry(report, "no", &entry));
  CHECK_STR(entry.state, "dropped");
  CHECK(strstr(entry.reason, "EXFULL") != NULL);
  CHECK_EQ(luo_held_count(held), 0);
done:
  close_fd(&yes);
  close_fd(&no);
  close_fd(&kept.fd);
  luo_report_free(report);
  luo_device_close(dev);
  luo_held_free(held);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_StageBFailsCleanly(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_device* dev = NULL;
  luo_outgoing* squatter = NULL;
  luo_stage_a_result* a = NULL;
  luo_stage_b_result* b = NULL;
  int mem = -1;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_RT(rt, luo_registry_load(reg, "a.service", 4, LUO_PRESERVE_YES), 0);
  mem = memfd_with("x");
  CHECK(mem >= 0);
  CHECK_RT(rt, luo_registry_add(reg, "a.service", mem, "fd", 1, NULL), 0);
  CHECK_RT(rt, luo_stage_a(reg, NULL, 0, &a), 0);
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_session_create(dev, "systemd", &squatter), 0);
  CHECK_RT(rt, luo_stage_b(dev, a, &b), EEXIST);
  CHECK(b == NULL);
  CHECK(strstr(luo_last_error(rt), "EEXIST") != NULL);
done:
  close_fd(&mem);
  luo_stage_b_free(b);
  luo_stage_a_free(a);
  luo_outgoing_close(squatter);
  luo_device_close(dev);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

int luo_capi_case_RestoreWithNothingHandedOver(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_held* held = NULL;
  luo_device* dev = NULL;
  luo_report* report = NULL;
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_EQ(luo_held_new(rt, &held), 0);
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_restore(dev, luo_registry_dispatch, reg, held, NULL, &report), ENOENT);
  CHECK(report == NULL);
  CHECK(strstr(luo_last_error(rt), "ENOENT") != NULL);
  CHECK_RT(rt, luo_restore(dev, NULL, reg, held, NULL, &report), EINVAL);
done:
  luo_report_free(report);
  luo_device_close(dev);
  luo_held_free(held);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

/* Issue 18: any int is a value of every enum, so negative and out-of-range ones are EINVAL, with
 * no undefined behaviour on the C++ side (UBSan checks it in the asan preset). */
static luo_disposition answer_minus_one(void* user, const luo_restored_item* item, int* error) {
  (void)user;
  (void)item;
  (void)error;
  return (luo_disposition)-1;
}

int luo_capi_case_EnumsTakeAnyInt(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = (luo_runtime*)&result; /* garbage, cleared on failure */
  luo_registry* reg = NULL;
  luo_restored_item item;
  int error = 0;
  int mem = -1;
  /* Slot 0 is each enum's first value past its last one; the rest are invalid for all. */
  int bad[] = {0, -1, -2147483647 - 1, 99, 2147483647};
  size_t i;

  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    bad[0] = 3;
    CHECK_EQ(luo_runtime_new((luo_backend)bad[i], NULL, &rt), EINVAL);
    CHECK(rt == NULL);
  }
  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    bad[0] = 6;
    CHECK_RT(rt, luo_simulator_inject(rt, (luo_fault)bad[i], EIO, 0), EINVAL);
    CHECK(strncmp(luo_last_error(rt), "luo_simulator_inject: ", 22) == 0);
    bad[0] = 4;
    CHECK_RT(rt, luo_registry_load(reg, "a.service", 1, (luo_preserve_mode)bad[i]), EINVAL);
    CHECK(strncmp(luo_last_error(rt), "luo_registry_load: ", 19) == 0);
  }
  CHECK_RT(rt, luo_registry_load(reg, "a.service", 1, LUO_PRESERVE_YES), 0);
  mem = memfd_with("x");
  CHECK(mem >= 0);
  item = fd_item("a.service", "x", mem);
  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    bad[0] = 2;
    item.type = (luo_entry_type)bad[i];
    error = 0;
    CHECK_EQ(luo_registry_dispatch(reg, &item, &error), LUO_DISPATCH_REFUSED);
    CHECK_EQ(error, EINVAL);
    CHECK(strncmp(luo_last_error(rt), "luo_registry_dispatch: ", 23) == 0);
  }
done:
  close_fd(&mem);
  luo_registry_free(reg);
  if (rt != (luo_runtime*)&result)
    luo_runtime_free(rt);
  return result;
}

/* A C caller can hand luo_registry_dispatch any fd, so it keeps the store's duplicate check
 * (the restore's own dispatch stores what it retrieved without one): an fd the store already
 * holds is a duplicate, not a second entry. */
int luo_capi_case_DirectDispatchKeepsTheDuplicateCheck(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_restored_item item;
  int error = -1;
  int mem = -1;
  size_t count = 0;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_RT(rt, luo_registry_load(reg, "a.service", 4, LUO_PRESERVE_YES), 0);
  mem = memfd_with("x");
  CHECK(mem >= 0);
  item = fd_item("a.service", "x", mem);
  CHECK_EQ(luo_registry_dispatch(reg, &item, &error), LUO_DISPATCH_ATTACHED);
  item.name = "again";
  CHECK_EQ(luo_registry_dispatch(reg, &item, &error), LUO_DISPATCH_DUPLICATE);
  CHECK_EQ(error, 0);
  CHECK_RT(rt, luo_registry_count(reg, "a.service", &count), 0);
  CHECK_EQ(count, 1);
  item.fd = memfd_with("y");
  CHECK(item.fd >= 0);
  CHECK_EQ(luo_registry_dispatch(reg, &item, &error), LUO_DISPATCH_ATTACHED);
  close_fd(&item.fd);
  CHECK_RT(rt, luo_registry_count(reg, "a.service", &count), 0);
  CHECK_EQ(count, 2);
done:
  close_fd(&mem);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

/* Every failure's message starts with the C function's name, never "operator()". */
int luo_capi_case_MessagesNameTheCFunction(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_device* dev = NULL;
  luo_outgoing* out = NULL;
  luo_held* held = NULL;
  const char* name = NULL;
  int fd = -1;
  int mem = -1;
  size_t count = 0;

#define CHECK_PREFIX(call, expected, fn)                                                   \
  do {                                                                                     \
    CHECK_RT(rt, call, expected);                                                          \
    if (strncmp(luo_last_error(rt), fn ": ", strlen(fn) + 2) != 0)                         \
      FAIL_AT("%s: message \"%s\" does not start with %s", #call, luo_last_error(rt), fn); \
  } while (0)

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_EQ(luo_held_new(rt, &held), 0);
  mem = memfd_with("x");
  CHECK(mem >= 0);
  CHECK_PREFIX(luo_device_open(rt, NULL), EINVAL, "luo_device_open");
  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_PREFIX(luo_session_create(dev, NULL, &out), EINVAL, "luo_session_create");
  CHECK_PREFIX(luo_session_retrieve(dev, "absent", NULL), EINVAL, "luo_session_retrieve");
  CHECK_RT(rt, luo_session_create(dev, "vm0", &out), 0);
  CHECK_RT(rt, luo_outgoing_preserve(out, mem, 1), 0);
  /* A runtime error keeps its own text after the function's name. */
  CHECK_PREFIX(luo_outgoing_preserve(out, mem, 1), EEXIST, "luo_outgoing_preserve");
  CHECK(strstr(luo_last_error(rt), "PRESERVE_FD on outgoing session 'vm0'") != NULL);
  CHECK_PREFIX(luo_outgoing_get_name(out, NULL, 0), EINVAL, "luo_outgoing_get_name");
  CHECK_PREFIX(luo_registry_add(reg, "a.service", mem, "x", 1, NULL), ENOENT, "luo_registry_add");
  CHECK_PREFIX(luo_registry_remove(reg, "a.service", NULL, NULL), EINVAL, "luo_registry_remove");
  CHECK_PREFIX(luo_registry_count(reg, "a.service", &count), ENOENT, "luo_registry_count");
  CHECK_PREFIX(luo_registry_unload(reg, "a.service"), ENOENT, "luo_registry_unload");
  CHECK_RT(rt, luo_registry_load(reg, "a.service", 1, LUO_PRESERVE_YES), 0);
  CHECK_PREFIX(luo_registry_entry(reg, "a.service", 0, &name, &fd), ERANGE, "luo_registry_entry");
  CHECK_PREFIX(luo_registry_add(reg, "a.service", -1, "x", 1, NULL), EBADF, "luo_registry_add");
  CHECK_PREFIX(luo_registry_add(reg, "a.service", mem, "a:b", 1, NULL), EINVAL, "luo_registry_add");
  CHECK_PREFIX(luo_stage_a(reg, NULL, 0, NULL), EINVAL, "luo_stage_a");
  CHECK_PREFIX(luo_stage_b(dev, NULL, NULL), EINVAL, "luo_stage_b");
  CHECK_PREFIX(luo_held_owner_loaded(held, "a.service", NULL, NULL, NULL), EINVAL,
               "luo_held_owner_loaded");
  CHECK_PREFIX(luo_held_retry_all(held, NULL, NULL, NULL), EINVAL, "luo_held_retry_all");
  CHECK_PREFIX(luo_restore(dev, NULL, NULL, held, NULL, NULL), EINVAL, "luo_restore");
  CHECK_PREFIX(luo_simulator_inject(rt, LUO_FAULT_FREEZE, 0, 0), EINVAL, "luo_simulator_inject");
#undef CHECK_PREFIX
done:
  close_fd(&mem);
  luo_outgoing_close(out);
  luo_device_close(dev);
  luo_held_free(held);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

/* A failed call clears its out-parameters, also when the handle itself is NULL. */
int luo_capi_case_OutParametersAreClearedOnFailure(char* msg, size_t size) {
  int result = 0;
  void* garbage = &result;
  luo_device* dev = (luo_device*)garbage;
  luo_outgoing* out = (luo_outgoing*)garbage;
  luo_incoming* in = (luo_incoming*)garbage;
  luo_registry* reg = (luo_registry*)garbage;
  luo_held* held = (luo_held*)garbage;
  luo_stage_a_result* a = (luo_stage_a_result*)garbage;
  luo_stage_b_result* b = (luo_stage_b_result*)garbage;
  luo_report* report = (luo_report*)garbage;
  luo_entry_report entry = {"x", "x", "x", "x"};
  const char* name = "x";
  char buf[8] = "garbage";
  int fd = 42;
  int duplicate = 7;
  size_t count = 9;
  uint32_t kexecs = 9;

  CHECK_EQ(luo_device_open(NULL, &dev), EINVAL);
  CHECK(dev == NULL);
  CHECK_EQ(luo_session_create(NULL, "vm0", &out), EINVAL);
  CHECK(out == NULL);
  CHECK_EQ(luo_session_retrieve(NULL, "vm0", &in), EINVAL);
  CHECK(in == NULL);
  CHECK_EQ(luo_incoming_retrieve_fd(NULL, 1, &fd), EINVAL);
  CHECK_EQ(fd, -1);
  fd = 42;
  CHECK_EQ(luo_incoming_release_fd(NULL, &fd), EINVAL);
  CHECK_EQ(fd, -1);
  CHECK_EQ(luo_outgoing_get_name(NULL, buf, sizeof buf), EINVAL);
  CHECK_STR(buf, "");
  CHECK_EQ(luo_registry_new(NULL, &reg), EINVAL);
  CHECK(reg == NULL);
  CHECK_EQ(luo_held_new(NULL, &held), EINVAL);
  CHECK(held == NULL);
  CHECK_EQ(luo_registry_add(NULL, "a.service", 0, "x", 1, &duplicate), EINVAL);
  CHECK_EQ(duplicate, 0);
  CHECK_EQ(luo_registry_count(NULL, "a.service", &count), EINVAL);
  CHECK_EQ(count, 0);
  fd = 42;
  CHECK_EQ(luo_registry_entry(NULL, "a.service", 0, &name, &fd), EINVAL);
  CHECK(name == NULL);
  CHECK_EQ(fd, -1);
  CHECK_EQ(luo_report_get(NULL, 0, &entry), EINVAL);
  CHECK_STR(entry.owner, "");
  CHECK_EQ(luo_stage_a(NULL, NULL, 0, &a), EINVAL);
  CHECK(a == NULL);
  CHECK_EQ(luo_stage_b(NULL, NULL, &b), EINVAL);
  CHECK(b == NULL);
  CHECK_EQ(luo_restore(NULL, NULL, NULL, NULL, &kexecs, &report), EINVAL);
  CHECK_EQ(kexecs, 0);
  CHECK(report == NULL);
  report = (luo_report*)garbage;
  CHECK_EQ(luo_held_retry_all(NULL, NULL, NULL, &report), EINVAL);
  CHECK(report == NULL);
done:
  return result;
}

/* Issue 18 item 3: an owner the restore would skip is refused when it is loaded, before Stage A,
 * and so is an entry for it. */
int luo_capi_case_AnInvalidOwnerIsRefusedBeforeStageA(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  int mem = -1;
  size_t count = 0;
  const char* invalid[] = {"", "not a unit", "foo", ".service", "foo.snapshot", "a\nb.service"};
  size_t i;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  mem = memfd_with("x");
  CHECK(mem >= 0);
  for (i = 0; i < sizeof invalid / sizeof invalid[0]; ++i) {
    CHECK_RT(rt, luo_registry_load(reg, invalid[i], 4, LUO_PRESERVE_YES), EINVAL);
    CHECK(strstr(luo_last_error(rt), "not a valid unit name") != NULL);
    CHECK_RT(rt, luo_registry_add(reg, invalid[i], mem, "x", 1, NULL), EINVAL);
    CHECK(strncmp(luo_last_error(rt), "luo_registry_add: ", 18) == 0);
    CHECK_RT(rt, luo_registry_count(reg, invalid[i], &count), EINVAL);
  }
  CHECK_RT(rt, luo_registry_load(reg, "getty@tty1.service", 4, LUO_PRESERVE_YES), 0);
  CHECK_RT(rt, luo_registry_add(reg, "getty@tty1.service", mem, "x", 1, NULL), 0);
  CHECK_RT(rt, luo_registry_count(reg, "getty@tty1.service", &count), 0);
  CHECK_EQ(count, 1);
done:
  close_fd(&mem);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

/* Issue 18 item 5: a dispatch answer that is no luo_disposition keeps the entry (held), where it
 * used to be destroyed as refused. */
int luo_capi_case_AnUnknownDispatchAnswerHoldsTheEntry(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_registry* reg = NULL;
  luo_held* held = NULL;
  luo_device* dev = NULL;
  luo_report* report = NULL;
  luo_entry_report entry;
  int mem = -1;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_registry_new(rt, &reg), 0);
  CHECK_EQ(luo_held_new(rt, &held), 0);
  CHECK_RT(rt, luo_registry_load(reg, "a.service", 4, LUO_PRESERVE_YES), 0);
  mem = memfd_with("kept");
  CHECK(mem >= 0);
  CHECK_RT(rt, luo_registry_add(reg, "a.service", mem, "state", 1, NULL), 0);
  CHECK_RT(rt, hand_over(rt, reg), 0);

  CHECK_RT(rt, luo_device_open(rt, &dev), 0);
  CHECK_RT(rt, luo_restore(dev, answer_minus_one, NULL, held, NULL, &report), 0);
  CHECK(find_entry(report, "state", &entry));
  CHECK_STR(entry.state, "held");
  CHECK(strstr(entry.reason, "no luo_disposition") != NULL);
  CHECK_EQ(luo_held_count(held), 1);
  /* The held entry is intact: a registry that loads the owner now takes it. */
  CHECK_RT(rt, luo_registry_load(reg, "a.service", 4, LUO_PRESERVE_YES), 0);
  luo_report_free(report);
  report = NULL;
  CHECK_RT(rt, luo_held_owner_loaded(held, "a.service", luo_registry_dispatch, reg, &report), 0);
  CHECK_EQ(luo_held_count(held), 0);
  CHECK(find_entry(report, "state", &entry));
  CHECK_STR(entry.state, "stored");
done:
  close_fd(&mem);
  luo_report_free(report);
  luo_device_close(dev);
  luo_held_free(held);
  luo_registry_free(reg);
  luo_runtime_free(rt);
  return result;
}

/* One luo_manager handle through a whole handoff: stores, Stage A/B, kexec, restore, held. */
int luo_capi_case_TheManagerHandleAcrossAKexec(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_manager* m = NULL;
  luo_report* report = NULL;
  luo_entry_report entry;
  int fd = -1;
  int restored = -1;
  const char* name = NULL;
  size_t count = 0;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_EQ(luo_manager_new(rt, (luo_systemd_profile)9, &m), EINVAL);
  CHECK(m == NULL);
  CHECK_RT(rt, luo_manager_new(rt, LUO_SYSTEMD_V262, &m), 0);
  CHECK_STR(luo_manager_state(m), "running");
  CHECK_RT(rt, luo_manager_restore(m, &report), ENOENT); /* a cold boot */
  CHECK(report == NULL);
  CHECK_RT(rt, luo_manager_load(m, "db.service", 4, LUO_PRESERVE_YES, NULL), 0);
  CHECK((fd = memfd_with("wal")) >= 0);
  CHECK_RT(rt, luo_manager_store(m, "db.service", fd, "wal", 1, NULL), 0);
  CHECK_RT(rt, luo_manager_store(m, "no.service", fd, "wal", 1, NULL), ENOENT);
  CHECK_RT(rt, luo_manager_count(m, "db.service", &count), 0);
  CHECK_EQ(count, 1);
  CHECK_RT(rt, luo_manager_stage_a(m, &report), 0);
  CHECK(find_entry(report, "wal", &entry));
  CHECK_STR(entry.state, "staged");
  luo_report_free(report);
  report = NULL;
  CHECK_STR(luo_manager_state(m), "serialized");
  CHECK_RT(rt, luo_manager_stage_b(m, NULL), 0);
  CHECK(strstr(luo_manager_mapping_json(m), "\"wal\"") != NULL);
  CHECK_RT(rt, luo_manager_kexec(m), 0);
  CHECK_STR(luo_manager_state(m), "running");
  CHECK_EQ(luo_runtime_boot(rt), 1);
  CHECK_RT(rt, luo_manager_restore(m, &report), 0);
  CHECK(find_entry(report, "wal", &entry));
  CHECK_STR(entry.state, "held");
  CHECK_EQ(luo_manager_held_count(m), 1);
  CHECK_EQ(luo_manager_kexec_count(m), 1);
  luo_report_free(report);
  report = NULL;
  CHECK_RT(rt, luo_manager_load(m, "db.service", 4, LUO_PRESERVE_YES, &report), 0);
  CHECK(find_entry(report, "wal", &entry));
  CHECK_STR(entry.state, "stored");
  CHECK_RT(rt, luo_manager_entry(m, "db.service", 0, &name, &restored), 0);
  CHECK_STR(name, "wal");
  CHECK(contents_are(restored, "wal"));
done:
  luo_report_free(report);
  close_fd(&fd);
  luo_manager_free(m);
  luo_runtime_free(rt);
  return result;
}

/* The handle refuses what kHandoffMachine does not allow, with EINVAL, before any change. */
int luo_capi_case_TheManagerHandleRefusesOutOfOrder(char* msg, size_t size) {
  int result = 0;
  luo_runtime* rt = NULL;
  luo_manager* m = NULL;
  int fd = -1;

  CHECK_EQ(luo_runtime_new(LUO_BACKEND_SIMULATOR, NULL, &rt), 0);
  CHECK_RT(rt, luo_manager_new(rt, LUO_SYSTEMD_V262, &m), 0);
  CHECK_RT(rt, luo_manager_stage_b(m, NULL), EINVAL);
  CHECK(strstr(luo_last_error(rt),
               "luo_manager_stage_b: stage B on fd-store handoff (running) "
               "refused before any syscall") != NULL);
  CHECK_RT(rt, luo_manager_kexec(m), EINVAL);
  CHECK_EQ(luo_runtime_boot(rt), 0); /* refused before reboot(KEXEC) */
  CHECK_RT(rt, luo_manager_stage_a(m, NULL), 0);
  CHECK_RT(rt, luo_manager_stage_a(m, NULL), EINVAL);
  CHECK_RT(rt, luo_manager_restore(m, NULL), EINVAL);
  CHECK((fd = memfd_with("late")) >= 0);
  CHECK_RT(rt, luo_manager_load(m, "late.service", 4, LUO_PRESERVE_YES, NULL), EINVAL);
  CHECK_RT(rt, luo_manager_store(m, "late.service", fd, "late", 1, NULL), EINVAL);
  CHECK_STR(luo_manager_state(m), "serialized");
done:
  close_fd(&fd);
  luo_manager_free(m);
  luo_runtime_free(rt);
  return result;
}
