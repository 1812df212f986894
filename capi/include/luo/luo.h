/* luo/luo.h: the C API of luo-lifecycle, for C managers and services (C99 and later).
 *
 * The same runtime as the C++ API (impl/ over adapters/): every call is checked against the
 * model's transition tables and an illegal one is refused before any syscall, with the errno
 * the model names. Opaque handles, no exceptions: every function that can fail returns 0 or a
 * positive errno value (it never sets errno), results come back through out-parameters, and
 * luo_last_error() gives the message of the runtime's most recent failure, e.g.
 *   "luo_outgoing_preserve: PRESERVE_FD on outgoing session 'vm0' (preserving) refused before
 *    any syscall: EEXIST: the token is already used in this session"
 *
 *   luo_runtime *rt;
 *   luo_device *dev;
 *   luo_outgoing *vm;
 *   if (luo_runtime_new(LUO_BACKEND_KERNEL, NULL, &rt) != 0) return;    // default profile 7.2
 *   if (luo_device_open(rt, &dev) != 0) {                               // ENOENT: no LUO here
 *     fprintf(stderr, "%s\n", luo_last_error(rt));
 *   } else if (luo_session_create(dev, "vm0", &vm) == 0) {
 *     int err = luo_outgoing_preserve(vm, guest_memfd, 1);              // EEXIST, EBUSY, ...
 *     ...                                      // keep vm open until reboot(KEXEC)
 *   }
 *   // next boot:
 *   luo_incoming *in;
 *   int memory;
 *   luo_session_retrieve(dev, "vm0", &in);
 *   luo_incoming_retrieve_fd(in, 1, &memory);                           // the caller owns it
 *   luo_incoming_finish(in);
 *   luo_incoming_close(in);
 *
 * Ownership: every handle is freed by its *_close or *_free function (NULL is accepted). Handles
 * made from a runtime keep it alive, so they may be freed in any order. fds passed in are
 * borrowed (the library duplicates what it keeps); fds handed out through an out-parameter are
 * O_CLOEXEC and owned by the caller. Handles are not thread-safe: use one runtime, and the
 * handles made from it, from one thread at a time.
 *
 * Invalid arguments (a NULL handle or out-parameter, an unknown enum value or profile) give
 * EINVAL. Every enum has a *_MIN_ENUM of INT_MIN and a *_MAX_ENUM of INT_MAX, which are no
 * values of their own: they make any int, negative ones included, a valid value of the enum type
 * (for C and for the C++ that reads it), so an out-of-range one is EINVAL, not undefined. A
 * handle of a boot that ended with a kexec is stale: every call on it gives EBADF without a
 * syscall.
 *
 * Failures: the return value is the errno, and luo_last_error() says why in a message that
 * starts with the C function's name (as in the example above). Out-parameters are cleared
 * first (NULL handles, -1 fds, 0 counts, "" names), also when a handle argument is NULL, so a
 * failed call never leaves one holding a stale or uninitialised value.
 */
#ifndef LUO_LUO_H
#define LUO_LUO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A buffer of this size holds any session name and its terminating NUL (the kernel's 64-byte
 * name field). */
#define LUO_NAME_BUFFER_SIZE 64

/* "0.1.0": the library version. */
const char* luo_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Runtime */

typedef struct luo_runtime luo_runtime;

typedef enum luo_backend {
  LUO_BACKEND_KERNEL = 0,    /* the real /dev/liveupdate; kexec is the real reboot(KEXEC) */
  LUO_BACKEND_SIMULATOR = 1, /* the kernel simulator; kexec boots the next simulated kernel */
  LUO_BACKEND_SIMULATOR_NO_LUO = 2, /* the simulator booted without liveupdate=on */
  LUO_BACKEND_MIN_ENUM = -0x7fffffff - 1,
  LUO_BACKEND_MAX_ENUM = 0x7fffffff
} luo_backend;

/* profile: "6.19", "7.0", "7.1", "7.2" or "7.3"; NULL for the default (7.2). */
int luo_runtime_new(luo_backend backend, const char* profile, luo_runtime** out);
void luo_runtime_free(luo_runtime* rt);
/* The message of the most recent failed call on this runtime or a handle made from it; "" if
 * none failed yet. Valid until the next call on the runtime or its handles. */
const char* luo_last_error(const luo_runtime* rt);
/* The kernel profile's name, e.g. "7.2". */
const char* luo_runtime_profile(const luo_runtime* rt);
/* The boot generation: 0, +1 per successful kexec. */
uint64_t luo_runtime_boot(const luo_runtime* rt);
/* reboot(KEXEC). Every live outgoing session is frozen and handed over; on a freeze failure all
 * roll back and the errno is returned. On the simulator it returns 0 in the next boot, where
 * every handle of the old boot is stale; on the real kernel success does not return. */
int luo_runtime_kexec(luo_runtime* rt);

typedef enum luo_fault {
  LUO_FAULT_DESERIALIZE = 0,        /* first open of the boot: EIO for the rest of the boot */
  LUO_FAULT_PRESERVE_HANDLER = 1,   /* the handler's preserve() in PRESERVE_FD */
  LUO_FAULT_PRESERVE_COPY_BACK = 2, /* PRESERVE_FD's copy-back */
  LUO_FAULT_FREEZE = 3,             /* one file's freeze() in kexec: rollback */
  LUO_FAULT_RETRIEVE_HANDLER = 4,   /* the handler's retrieve() in RETRIEVE_FD */
  LUO_FAULT_CAN_FINISH = 5,         /* one file's can_finish() veto: FINISH gives EBUSY */
  LUO_FAULT_MIN_ENUM = -0x7fffffff - 1,
  LUO_FAULT_MAX_ENUM = 0x7fffffff
} luo_fault;

/* Simulator only (EOPNOTSUPP otherwise): the (skip+1)-th run of that kernel step from now fails
 * with error, once. */
int luo_simulator_inject(luo_runtime* rt, luo_fault fault, int error, unsigned skip);

/* ------------------------------------------------------------------------------------------ */
/* Device and sessions */

typedef struct luo_device luo_device;
typedef struct luo_outgoing luo_outgoing;
typedef struct luo_incoming luo_incoming;

/* ENOENT: LUO is not available; EBUSY: the device is held elsewhere. */
int luo_device_open(luo_runtime* rt, luo_device** out);
/* Closes the device and frees the handle; sessions are not affected. */
void luo_device_close(luo_device* dev);
int luo_device_fd(const luo_device* dev);

/* CREATE_SESSION: an outgoing session to preserve files in. */
int luo_session_create(luo_device* dev, const char* name, luo_outgoing** out);
/* PRESERVE_FD: fd (a memfd) is borrowed; LUO keeps its own reference. */
int luo_outgoing_preserve(luo_outgoing* s, int fd, uint64_t token);
/* GET_NAME (7.2+): the kernel's name into buf (size bytes, LUO_NAME_BUFFER_SIZE always
 * suffices; ERANGE when the name does not fit). */
int luo_outgoing_get_name(luo_outgoing* s, char* buf, size_t size);
/* The session's state name: "created", "preserving", "frozen", "handed_over", "closed". */
const char* luo_outgoing_state(const luo_outgoing* s);
/* Writes up to capacity tokens in preservation order; returns how many the session has. */
size_t luo_outgoing_tokens(const luo_outgoing* s, uint64_t* tokens, size_t capacity);
int luo_outgoing_fd(const luo_outgoing* s);
/* Closes the session fd (before kexec: every file is unpreserved) and frees the handle. */
void luo_outgoing_close(luo_outgoing* s);

/* RETRIEVE_SESSION: a session the previous boot handed over. */
int luo_session_retrieve(luo_device* dev, const char* name, luo_incoming** out);
/* RETRIEVE_FD: the caller owns *fd. */
int luo_incoming_retrieve_fd(luo_incoming* s, uint64_t token, int* fd);
/* FINISH: files never retrieved are discarded; retrieved fds stay valid. */
int luo_incoming_finish(luo_incoming* s);
int luo_incoming_get_name(luo_incoming* s, char* buf, size_t size);
/* "deserialized", "retrieved", "finished", ... */
const char* luo_incoming_state(const luo_incoming* s);
/* What the runtime knows of the file with that token: "retrieved", "retrieve_failed",
 * "finished", ... once a RETRIEVE_FD reached it; "" before that, with luo_last_error() saying
 * ENOENT: the runtime cannot tell a file not retrieved yet from a token that does not exist. */
const char* luo_incoming_file_state(const luo_incoming* s, uint64_t token);
int luo_incoming_fd(const luo_incoming* s);
/* Hands the session fd to the caller (*fd, e.g. for an fd store): the session stays retrieved in
 * the kernel and the handle can no longer act on it. */
int luo_incoming_release_fd(luo_incoming* s, int* fd);
/* Closes the session fd (finishing it implicitly) and frees the handle. */
void luo_incoming_close(luo_incoming* s);

/* ------------------------------------------------------------------------------------------ */
/* fd stores and their handoff across kexec (systemd v261's Stage A, Stage B and restore) */

typedef struct luo_registry luo_registry;
typedef struct luo_held luo_held;
typedef struct luo_stage_a_result luo_stage_a_result;
typedef struct luo_stage_b_result luo_stage_b_result;
typedef struct luo_report luo_report;

/* FileDescriptorStorePreserve=. Only yes and on-success stores are handed over a kexec. */
typedef enum luo_preserve_mode {
  LUO_PRESERVE_NO = 0,
  LUO_PRESERVE_YES = 1,
  LUO_PRESERVE_RESTART = 2,
  LUO_PRESERVE_ON_SUCCESS = 3,
  LUO_PRESERVE_MIN_ENUM = -0x7fffffff - 1,
  LUO_PRESERVE_MAX_ENUM = 0x7fffffff
} luo_preserve_mode;

/* Every owner's fd store (an owner is what systemd calls a unit, e.g. "vmm.service"). */
int luo_registry_new(luo_runtime* rt, luo_registry** out);
void luo_registry_free(luo_registry* reg);
/* Loads or reconfigures an owner; max is FileDescriptorStoreMax= (0 disables the store). EINVAL:
 * owner is not a valid unit name (systemd's unit_name_is_valid(): "", "not a unit", "foo" are
 * not), which the restore after a kexec would skip with every fd stored under it. */
int luo_registry_load(luo_registry* reg, const char* owner, unsigned max, luo_preserve_mode mode);
/* ENOENT when the owner is not loaded. */
int luo_registry_unload(luo_registry* reg, const char* owner);
/* Drops every owner and closes every stored fd (what a manager does after Stage A). */
void luo_registry_clear(luo_registry* reg);
/* FDSTORE=1: stores a duplicate of fd under name. *duplicate (may be NULL) is set to 1 when the
 * store already held that open file description (not an error). ENOENT: owner not loaded;
 * EINVAL: invalid name or owner (the checks the restore applies); EXFULL: the store is full. */
int luo_registry_add(luo_registry* reg, const char* owner, int fd, const char* name, int poll,
                     int* duplicate);
/* FDSTOREREMOVE=1: every entry of that name; *removed (may be NULL) says how many. */
int luo_registry_remove(luo_registry* reg, const char* owner, const char* name, size_t* removed);
int luo_registry_count(const luo_registry* reg, const char* owner, size_t* count);
/* Entry index (newest first): its name and fd, both borrowed. ERANGE past the end. */
int luo_registry_entry(const luo_registry* reg, const char* owner, size_t index, const char** name,
                       int* fd);

/* What happened to one entry on its way through the handoff. */
typedef struct luo_entry_report {
  const char* owner;
  const char* name;
  const char* state;  /* the fd-store entry machine's state: "stored", "held", "lost", ... */
  const char* reason; /* why, when it did not move on; "" otherwise */
} luo_entry_report;

size_t luo_report_count(const luo_report* report);
/* The strings stay valid until the report (or the handle it belongs to) is freed. */
int luo_report_get(const luo_report* report, size_t index, luo_entry_report* out);
void luo_report_free(luo_report* report);

/* Stage A, when the manager leaves its main loop for kexec: lists every entry of every store
 * whose owner preserves it, and of held (may be NULL), with duplicates of their fds. Free the
 * stores afterwards (luo_registry_clear); keep the result until the kexec. */
int luo_stage_a(luo_registry* owners, const luo_held* held, uint32_t kexecs_count,
                luo_stage_a_result** out);
/* The Stage A document (systemd's JSON, fd numbers of the duplicates). */
const char* luo_stage_a_json(const luo_stage_a_result* a);
/* "serialized", or "nothing" when no entry qualified. */
const char* luo_stage_a_state(const luo_stage_a_result* a);
const luo_report* luo_stage_a_report(const luo_stage_a_result* a);
void luo_stage_a_free(luo_stage_a_result* a);

/* Stage B, as late as possible: creates the "systemd" session, preserves the mapping at token 0
 * and every staged fd at tokens 1..N. Keep the result until the kexec: freeing it closes
 * "systemd", which makes the kernel drop it whole. Errors: EEXIST ("systemd" exists), EBUSY, or
 * the errno a preserve failed with; *out is then NULL. A Stage A with nothing to hand over gives
 * 0 and a result in state "nothing". */
int luo_stage_b(luo_device* dev, const luo_stage_a_result* a, luo_stage_b_result** out);
/* The mapping written at token 0 (compact JSON, without the padding). */
const char* luo_stage_b_mapping_json(const luo_stage_b_result* b);
/* "preserved" or "nothing". */
const char* luo_stage_b_state(const luo_stage_b_result* b);
const luo_report* luo_stage_b_report(const luo_stage_b_result* b);
void luo_stage_b_free(luo_stage_b_result* b);

typedef enum luo_entry_type {
  LUO_ENTRY_FD = 0,
  LUO_ENTRY_SESSION = 1,
  LUO_ENTRY_MIN_ENUM = -0x7fffffff - 1,
  LUO_ENTRY_MAX_ENUM = 0x7fffffff
} luo_entry_type;

/* One restored entry, offered to its owner. fd is borrowed for the duration of the call:
 * duplicate it (F_DUPFD_CLOEXEC) to keep it. */
typedef struct luo_restored_item {
  const char* owner;
  const char* name;
  luo_entry_type type;
  int fd;                   /* the retrieved memfd, or the retrieved third-party session */
  const char* session_name; /* for LUO_ENTRY_SESSION; "" otherwise */
} luo_restored_item;

typedef enum luo_disposition {
  LUO_DISPATCH_ATTACHED = 0,      /* the owner took it */
  LUO_DISPATCH_DUPLICATE = 1,     /* the owner already had that open file description */
  LUO_DISPATCH_UNKNOWN_OWNER = 2, /* no such owner yet: the library holds the entry */
  LUO_DISPATCH_REFUSED = 3,       /* the owner refused it (set *error, e.g. EXFULL) */
  LUO_DISPATCH_MIN_ENUM = -0x7fffffff - 1,
  LUO_DISPATCH_MAX_ENUM = 0x7fffffff
} luo_disposition;

/* The manager's side of a restore: offer item to its owner. Must not call back into the
 * library's handoff functions. A return value that is no luo_disposition holds the entry, as for
 * LUO_DISPATCH_UNKNOWN_OWNER: nothing is destroyed on an answer the library cannot read. */
typedef luo_disposition (*luo_dispatch_fn)(void* user, const luo_restored_item* item, int* error);

/* A ready dispatch function over a registry: pass it with user = the luo_registry *. Loaded
 * owners take a duplicate of the fd into their store with luo_registry_add's duplicate check
 * (item may carry any fd); unknown owners are held; a full store refuses. */
luo_disposition luo_registry_dispatch(void* registry, const luo_restored_item* item, int* error);

/* Entries restored for owners that were not loaded yet. */
int luo_held_new(luo_runtime* rt, luo_held** out);
void luo_held_free(luo_held* held);
size_t luo_held_count(const luo_held* held);
/* Offers the owner's held entries again; *report (may be NULL) says what happened to each. */
int luo_held_owner_loaded(luo_held* held, const char* owner, luo_dispatch_fn dispatch, void* user,
                          luo_report** report);
int luo_held_retry_all(luo_held* held, luo_dispatch_fn dispatch, void* user, luo_report** report);

/* The next boot's restore: retrieves "systemd", reads the mapping at token 0 (format C, or the
 * legacy format B), offers every entry to dispatch, holds the ones for unknown owners in held,
 * and finishes "systemd" on every path. *kexecs_count (may be NULL) is the counter to adopt
 * (previous + 1); *report (may be NULL) says what happened to each entry. ENOENT: nothing was
 * handed over; EINVAL: the mapping is unusable (the message says where); another errno: the
 * mapping could not be retrieved. On an error *report is NULL. */
int luo_restore(luo_device* dev, luo_dispatch_fn dispatch, void* user, luo_held* held,
                uint32_t* kexecs_count, luo_report** report);

/* ------------------------------------------------------------------------------------------ */
/* The handoff as one object: luo_manager                                                        */
/*                                                                                              */
/* A manager owns its owners' fd stores, the entries held for owners not loaded yet, the Stage A */
/* and Stage B results (and the "systemd" session they keep open), the kexec counter and the     */
/* pipeline state, and refuses a call out of the model's order (kHandoffMachine) with EINVAL      */
/* before it changes anything: Stage B before Stage A, a second restore, a store operation after */
/* Stage A, a kexec before Stage B. It is the way to embed the handoff; the free functions above */
/* (luo_registry_*, luo_stage_a, luo_stage_b, luo_restore, luo_held_*) stay as building blocks.  */
/* One boot's order:                                                                           */
/*   luo_manager_restore      first: the previous boot's entries back into their stores        */
/*   luo_manager_load         a unit is loaded (entries held for it are offered to it)          */
/*   luo_manager_store/remove FDSTORE=1 / FDSTOREREMOVE=1                                       */
/*   luo_manager_stage_a      leaving the main loop for kexec: stores listed, then closed        */
/*   luo_manager_stage_b      "systemd" created and filled (on a device of its own)              */
/*   luo_manager_kexec        reboot(KEXEC); the handle then is the next boot's manager          */
/* Use luo_manager_kexec, not luo_runtime_kexec, while a manager exists: only the former moves   */
/* the manager into the next boot. A whole lifetime: examples/manager.c.                         */

typedef struct luo_manager luo_manager;

/* Which systemd release the writers follow (model/systemd_profile.hpp). */
typedef enum luo_systemd_profile {
  LUO_SYSTEMD_V261 = 0, /* kexecsCount, a handover only with entries */
  LUO_SYSTEMD_V262 = 1, /* KExecCount, a handover on every kexec, shutdown timestamps */
  LUO_SYSTEMD_MIN_ENUM = -0x7fffffff - 1,
  LUO_SYSTEMD_MAX_ENUM = 0x7fffffff
} luo_systemd_profile;

int luo_manager_new(luo_runtime* rt, luo_systemd_profile profile, luo_manager** out);
/* Closes every fd the manager holds (and "systemd", which the kernel then drops). */
void luo_manager_free(luo_manager* m);
/* The pipeline state: "running", "serialized", "preserved", "nothing" or "lost". */
const char* luo_manager_state(const luo_manager* m);
/* This boot's counter: 0 after a cold boot, the restored count after a restore. */
uint32_t luo_manager_kexec_count(const luo_manager* m);
size_t luo_manager_held_count(const luo_manager* m);
/* The owner is loaded: like luo_registry_load, then its held entries are offered to it;
 * *report (may be NULL) says what happened to each. */
int luo_manager_load(luo_manager* m, const char* owner, unsigned max, luo_preserve_mode mode,
                     luo_report** report);
int luo_manager_unload(luo_manager* m, const char* owner);
/* daemon-reload: every held entry is offered again. */
int luo_manager_reload(luo_manager* m, luo_report** report);
/* FDSTORE=1, FDSTOREREMOVE=1, the entries: as luo_registry_add/remove/count/entry. */
int luo_manager_store(luo_manager* m, const char* owner, int fd, const char* name, int poll,
                      int* duplicate);
int luo_manager_remove(luo_manager* m, const char* owner, const char* name, size_t* removed);
int luo_manager_count(const luo_manager* m, const char* owner, size_t* count);
int luo_manager_entry(const luo_manager* m, const char* owner, size_t index, const char** name,
                      int* fd);
/* Stage A; the stores close. *report (may be NULL): every entry's fate. */
int luo_manager_stage_a(luo_manager* m, luo_report** report);
/* Stage B on a device the manager opens and closes. A failure of the kernel (EEXIST, EBUSY, the
 * errno a preserve failed with, ENOENT without LUO) ends the pipeline in "nothing" and is
 * returned; luo_manager_kexec still ends the boot. */
int luo_manager_stage_b(luo_manager* m, luo_report** report);
/* The mapping Stage B wrote at token 0; "" before Stage B. */
const char* luo_manager_mapping_json(const luo_manager* m);
/* reboot(KEXEC). On success the manager is the next boot's: stores, held entries and results of
 * the old boot are gone, the state is "running" again. */
int luo_manager_kexec(luo_manager* m);
/* The restore, on a device the manager opens and closes: entries go to the manager's stores,
 * or are held for owners not loaded. ENOENT: nothing was handed over (a cold boot); the
 * manager runs on either way. *report as for luo_restore. */
int luo_manager_restore(luo_manager* m, luo_report** report);

#ifdef __cplusplus
}
#endif

#endif /* LUO_LUO_H */
