#include "sp_sandbox.h"

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sp_loop.h"

#ifdef SP_HAVE_LIBCAP_NG
#include <cap-ng.h>
#endif
#ifdef SP_HAVE_LIBSECCOMP
#include <seccomp.h>
#endif
#if !defined(SP_SANDBOX_SANITIZER) && defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SP_VALGRIND_AWARE 1
#endif
#endif

/* What the runtime itself does once running (sp_loop, sp_proto, glibc's
 * malloc, err/exit): the poll loop, protocol I/O, timers, the self-pipe,
 * memory. clock_gettime and gettimeofday are vDSO calls that may fall
 * back to the syscall. */
#ifdef SP_HAVE_LIBSECCOMP
static const char *const runtime_syscalls[] = {
    "read", "write", "writev", "readv", "poll", "ppoll", "close", "fcntl",
    "clock_gettime", "clock_getres", "gettimeofday", "time",
    "rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "restart_syscall",
    "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
    "getpid", "gettid", "getuid", "geteuid", "exit", "exit_group",
    /* glibc's qsort (ringlog's recovery, libudev's enumeration) sizes its
     * buffer by the RAM: sysconf(_SC_PHYS_PAGES) is sysinfo(2). */
    "sysinfo",
    NULL,
};
#endif

#ifdef SP_SANDBOX_SANITIZER
/* What the ASan/UBSan/LSan runtimes call after the filter is in place:
 * reports (the log_path files, /proc/self/maps for symbolizing), leak
 * checking at exit (a tracer thread made with clone that stops the
 * program with ptrace, reading /proc/self/task), and its allocator. */
static const char *const extra_syscalls[] = {
    "openat", "open", "newfstatat", "fstat", "lseek", "pread64", "readlink", "readlinkat",
    "getdents64", "getdents", "sched_yield", "sched_getaffinity", "futex", "clone", "wait4", "waitid",
    "ptrace", "prctl", "sigaltstack", "getppid", "getrlimit", "prlimit64", "set_robust_list",
    "rseq", "nanosleep", "clock_nanosleep", "munlock", "mincore", "msync", "uname",
    "tgkill", "kill", "process_vm_readv", "dup", "dup2", "dup3", "pipe", "pipe2",
    "getuid", "geteuid", "getrandom", "execve", "statx",
    NULL,
};
#define SP_EXTRA_LIST "sanitizer"
#endif


static struct {
    int entered;
    int no_new_privs;
    const char *caps_via;            /* "libcap-ng" | "capset" */
    int bounding_cleared;
    const sp_sandbox_policy *policy; /* caps reported: the kept ones held */
    unsigned long long held;         /* bit i: policy->caps[i] held */
    const char *seccomp;             /* "filter" or the reason there is none */
    const char *list;
} sb = {.seccomp = "not entered", .list = "production"};

const char *sp_sandbox_list_name(void)
{
    return sb.list;
}

/* The capability sets through the kernel's own interface (for the fallback
 * and to report what is held after either way of dropping). */
static int caps_get(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

    return (int)syscall(SYS_capget, &hdr, data);
}

static int cap_in(const struct __user_cap_data_struct data[2], int cap, int permitted)
{
    unsigned int word = permitted ? data[cap / 32].permitted : data[cap / 32].effective;

    return (word >> (cap % 32)) & 1;
}

#ifdef SP_HAVE_LIBCAP_NG
static void drop_caps(const sp_sandbox_policy *p)
{
    int can_bound;

    sb.caps_via = "libcap-ng";
    if (capng_get_caps_process() < 0)
        err(SP_EXIT_OSERR, "sandbox: read capabilities");
    can_bound = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
    /* Only what is held can be kept: a policy's cap the process lacks is
     * left out rather than failing the apply. */
    capng_clear(CAPNG_SELECT_BOTH);
    for (const sp_sandbox_cap *c = p->caps; c && c->name; c++) {
        struct __user_cap_data_struct now[2] = {{0, 0, 0}, {0, 0, 0}};

        if (caps_get(now) == 0 && cap_in(now, c->cap, 1))
            capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET, (unsigned)c->cap);
    }
    if (capng_apply(can_bound ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS) < 0)
        errx(SP_EXIT_OSERR, "sandbox: capng_apply failed");
    sb.bounding_cleared = can_bound;
}
#else
static int kept(const sp_sandbox_policy *p, int cap)
{
    for (const sp_sandbox_cap *c = p->caps; c && c->name; c++)
        if (c->cap == cap)
            return 1;
    return 0;
}

static void drop_caps(const sp_sandbox_policy *p)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct now[2] = {{0, 0, 0}, {0, 0, 0}}, want[2];
    int can_bound;

    sb.caps_via = "capset";
    if (caps_get(now) < 0)
        err(SP_EXIT_OSERR, "sandbox: capget");
    can_bound = cap_in(now, CAP_SETPCAP, 0);
    /* The bounding set first: dropping from it needs CAP_SETPCAP, which
     * capset below takes away. EINVAL: past the kernel's last cap. */
    for (int cap = 0; can_bound && cap < 64; cap++)
        if (!kept(p, cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            err(SP_EXIT_OSERR, "sandbox: drop capability %d from the bounding set", cap);
    memset(want, 0, sizeof(want));
    for (const sp_sandbox_cap *c = p->caps; c && c->name; c++)
        if (cap_in(now, c->cap, 1)) {
            want[c->cap / 32].permitted |= 1u << (c->cap % 32);
            want[c->cap / 32].effective |= 1u << (c->cap % 32);
        }
    if (syscall(SYS_capset, &hdr, want) < 0)
        err(SP_EXIT_OSERR, "sandbox: capset");
    sb.bounding_cleared = can_bound;
}
#endif

#ifdef SP_HAVE_LIBSECCOMP
static int allow_all(scmp_filter_ctx ctx, const char *const *names)
{
    for (; names && *names; names++) {
        int nr = seccomp_syscall_resolve_name(*names), rc;

        /* A name libseccomp does not know on any architecture is a typo in
         * a list: fail loudly. One that this architecture lacks (open on
         * aarch64) resolves to a negative pseudo number that is skipped. */
        if (nr == __NR_SCMP_ERROR)
            errx(SP_EXIT_OSERR, "sandbox: unknown syscall name %s", *names);
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (rc < 0 && rc != -EDOM && rc != -EEXIST)
            return rc;
    }
    return 0;
}

static int load_filter(const char *const *own, const char *const *extra)
{
    const struct scmp_arg_cmp self = {.arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)getpid(), .datum_b = 0};
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int rc;

    if (!ctx)
        return -ENOMEM;
    /* no_new_privs is set by sp_sandbox_enter itself; the filter must not
     * depend on libseccomp doing it. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc == 0)
        rc = allow_all(ctx, runtime_syscalls);
    if (rc == 0)
        rc = allow_all(ctx, own);
    if (rc == 0)
        rc = allow_all(ctx, extra);
    /* signals only to itself (abort, raise) */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, self);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, self);
    if (rc == -EEXIST) /* a wider list allows kill/tgkill already */
        rc = 0;
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc == -EEXIST)
        rc = 0;
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc;
}
#endif

static const char *const *extra_list(void)
{
#ifdef SP_SANDBOX_SANITIZER
    sb.list = SP_EXTRA_LIST;
    return extra_syscalls;
#else
    return NULL;
#endif
}

/* valgrind (3.19) has no seccomp(2), and a filter would bind its own core
 * as well: a release helper under valgrind runs unfiltered and says so.
 * Only valgrind answers its client request: no environment can fake it,
 * and whoever runs the helper under valgrind controls it anyway. */
static int under_valgrind(void)
{
#ifdef SP_VALGRIND_AWARE
    return RUNNING_ON_VALGRIND != 0;
#else
    return 0;
#endif
}

void sp_sandbox_drop(const sp_sandbox_policy *policy)
{
    struct __user_cap_data_struct held[2] = {{0, 0, 0}, {0, 0, 0}};

    sb.policy = policy;
    drop_caps(policy);
    /* The ambient set is cleared apart: libcap-ng's CAPNG_SELECT_BOTH
     * leaves it, and capset cannot touch it. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        err(SP_EXIT_OSERR, "sandbox: clear ambient capabilities");
    if (caps_get(held) < 0)
        err(SP_EXIT_OSERR, "sandbox: capget");
    sb.held = 0;
    for (int i = 0; policy->caps && policy->caps[i].name && i < 64; i++)
        if (cap_in(held, policy->caps[i].cap, 0))
            sb.held |= 1ull << i;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        err(SP_EXIT_OSERR, "sandbox: no_new_privs");
    sb.no_new_privs = 1;
    sb.seccomp = "none asked";
    sb.entered = 1;
}

void sp_sandbox_enter(const sp_sandbox_policy *policy)
{
    sp_sandbox_drop(policy);
#ifdef SP_HAVE_LIBSECCOMP
    {
        const char *const *extra = extra_list();
        int rc;

        if (under_valgrind()) {
            sb.list = "valgrind";
            sb.seccomp = "valgrind has no seccomp(2): memory checking runs unfiltered";
        } else if (seccomp_api_get() < 3) {
            /* API level 3: the kernel knows SECCOMP_RET_KILL_PROCESS (4.14). */
            sb.seccomp = "kernel without seccomp filters that kill the process";
        } else if ((rc = load_filter(policy->syscalls, extra)) < 0) {
            errno = -rc;
            err(SP_EXIT_OSERR, "sandbox: load the seccomp filter");
        } else {
            sb.seccomp = "filter";
        }
    }
#else
    (void)extra_list;
    (void)under_valgrind;
    sb.seccomp = "built without libseccomp";
#endif
}

int sp_sandbox_restrict(const char *const *syscalls)
{
#ifdef SP_HAVE_LIBSECCOMP
    if (!sb.entered || strcmp(sb.seccomp, "filter") != 0)
        return 0;
    {
        const char *const *extra = extra_list();

        return load_filter(syscalls, extra);
    }
#else
    (void)syscalls;
    return 0;
#endif
}

void sp_sandbox_encode(ei_x_buff *x)
{
    sp_map m;
    int n = 0;

    if (!sb.entered) {
        ei_x_encode_atom(x, "none");
        return;
    }
    sp_map_begin(&m, x);
    sp_map_int(&m, "uid", (long long)geteuid());
    sp_map_key(&m, "caps");
    for (int i = 0; sb.policy->caps && sb.policy->caps[i].name && i < 64; i++)
        if (sb.held & (1ull << i))
            n++;
    if (n > 0)
        ei_x_encode_list_header(x, n);
    for (int i = 0; sb.policy->caps && sb.policy->caps[i].name && i < 64; i++)
        if (sb.held & (1ull << i))
            ei_x_encode_atom(x, sb.policy->caps[i].name);
    ei_x_encode_empty_list(x);
    sp_map_atom(&m, "caps_via", sb.caps_via);
    sp_map_bool(&m, "bounding_cleared", sb.bounding_cleared);
    sp_map_bool(&m, "no_new_privs", sb.no_new_privs);
    sp_map_key(&m, "seccomp");
    if (strcmp(sb.seccomp, "filter") == 0) {
        ei_x_encode_atom(x, "filter");
    } else {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "unavailable");
        sp_x_binary_str(x, sb.seccomp);
    }
    sp_map_atom(&m, "syscalls", sb.list);
    sp_map_end(&m);
}

#ifdef SP_SANDBOX_TEST_REQUEST
int sp_sandbox_violate(void)
{
    /* Turns process accounting off where it is allowed at all (it needs
     * CAP_SYS_PACCT, which no helper keeps): harmless if it ever ran. */
    return syscall(SYS_acct, NULL) < 0 ? -errno : 0;
}
#endif
