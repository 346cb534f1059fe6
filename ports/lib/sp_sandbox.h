/*
 * Least privilege for a helper, entered once it has opened what needed
 * privilege and before it serves requests:
 *
 *   sp_init(...); sp_args(...); open devices ...;
 *   sp_sandbox_enter(&kmsg_sandbox);   // caps, no_new_privs, seccomp
 *   sp_run(&helper);                   // {ready, Info} says what it holds
 *
 * 1. Capabilities: every one the policy does not name is dropped from the
 *    effective, permitted, inheritable, ambient and (with CAP_SETPCAP)
 *    bounding sets. A named one the process does not hold is not gained;
 *    the ready info lists what is held afterwards. The uid is not changed:
 *    the helpers' files belong to the VM's user.
 * 2. no_new_privs: execve can never add privilege again.
 * 3. seccomp: an allow-list (the runtime's syscalls, sp_sandbox.c, plus the
 *    policy's own, ports/<helper>/<helper>_sandbox.c) whose default action
 *    kills the process (SIGSYS). clone3 fails with ENOSYS so that glibc
 *    falls back to clone, which a list may allow.
 *
 * The list is chosen at build time, never from the environment or the
 * command line (which whoever starts the helper controls):
 *  - production: the runtime's and the policy's lists;
 *  - sanitizer (SAN=1 builds, SP_SANDBOX_SANITIZER): plus what the ASan/
 *    UBSan/LSan runtimes call;
 *  - valgrind: a release build that finds itself under valgrind (valgrind's
 *    own client request, which nothing else can answer) installs no filter:
 *    valgrind has no seccomp(2), and a filter would bind valgrind's own
 *    core too. Capabilities and no_new_privs are as in production; the
 *    ready info says seccomp => {unavailable, <<"valgrind has no ...">>}.
 *
 * Builds without libcap-ng drop capabilities with prctl/capset; builds
 * without libseccomp (config.mk finds neither header) install no filter
 * and say so: seccomp => {unavailable, <<"built without libseccomp">>}.
 */
#ifndef SP_SANDBOX_H
#define SP_SANDBOX_H

#include <linux/capability.h>

#include "sp_proto.h"

typedef struct sp_sandbox_cap {
    int cap;          /* CAP_... */
    const char *name; /* as reported: "sys_time" */
} sp_sandbox_cap;

#define SP_CAP(NAME, name) {CAP_##NAME, name}

typedef struct sp_sandbox_policy {
    const sp_sandbox_cap *caps;    /* kept; ends with {0, NULL} */
    const char *const *syscalls;   /* the helper's own; NULL-terminated */
} sp_sandbox_policy;

/* Drops, sets no_new_privs, filters. Exits (err) when a step that this
 * build and kernel support fails: a helper never runs half-confined. */
void sp_sandbox_enter(const sp_sandbox_policy *policy);

/* Steps 1 and 2 alone, for a process that runs another program (the
 * uevent autoload process): a filter would bind that program too. */
void sp_sandbox_drop(const sp_sandbox_policy *policy);

/* Stacks a further filter allowing only `syscalls' (and the runtime's):
 * for a forked child that needs less than its parent. 0 or -errno. */
int sp_sandbox_restrict(const char *const *syscalls);

/* The ready info's `sandbox' value: #{uid, caps, no_new_privs, seccomp,
 * syscalls, caps_via}; `none' before sp_sandbox_enter. */
void sp_sandbox_encode(ei_x_buff *x);

/* Which list is installed: "production", "sanitizer" or "valgrind". */
const char *sp_sandbox_list_name(void);

#ifdef SP_SANDBOX_TEST_REQUEST
/* Test builds only (SAN=1): makes a syscall no list allows, acct(NULL).
 * Returns only when no filter stopped it: -errno or 0. */
int sp_sandbox_violate(void);
#endif

#endif
