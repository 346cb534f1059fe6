#include "uevent_modprobe.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_loop.h"
#include "sp_sandbox.h"
#include "uevent_aliasq.h"

#define QUEUE_MAX_ALIASES 1024
#define QUEUE_MAX_BYTES (256u * 1024)
#define BATCH_MAX_ALIASES 64
#define BATCH_MAX_BYTES (32u * 1024)
#define FIXED_ARGS 5 /* program -q -b -a -- */

/* What the autoload process sends back for each batch. */
enum outcome { OUTCOME_EXIT, OUTCOME_SIGNAL, OUTCOME_SPAWN_FAILED };
struct result {
    int outcome;
    int value;
};

static struct {
    const char *program;
    uevent_aliasq queue;
    int running; /* a batch is with the autoload process */
    pid_t autoload;
    int sock;    /* the reader's end of the socket pair */
    char *batch[BATCH_MAX_ALIASES];
    size_t batch_len;
} mp = {.sock = -1};

int uevent_modprobe_enabled(void)
{
    return mp.program != NULL;
}

int uevent_modprobe_pid(void)
{
    return (int)mp.autoload;
}

size_t uevent_modprobe_queued(void)
{
    return mp.queue.count;
}

int uevent_modprobe_running(void)
{
    return mp.running;
}

/* The autoload process: runs each batch it receives, one at a time, and
 * answers its outcome; exits when the reader goes. */
static _Noreturn void autoload_main(int sock, const char *program)
{
    static const sp_sandbox_cap module_cap[] = {SP_CAP(SYS_MODULE, "sys_module"), {0, NULL}};
    static const sp_sandbox_policy policy = {.caps = module_cap, .syscalls = NULL};
    static char buf[BATCH_MAX_BYTES + BATCH_MAX_ALIASES + 1];
    char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    char *argv[FIXED_ARGS + BATCH_MAX_ALIASES + 1] = {(char *)program, "-q", "-b", "-a", "--"};
    sigset_t defaults;

    /* Nothing of the reader's but the socket: not the protocol pipes, not
     * the netlink socket, not the self-pipe its signal handlers write. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    if (dup2(sock, 3) < 0)
        _exit(SP_EXIT_OSERR);
    sock = 3;
    close_range(4, ~0u, 0);
    sp_sandbox_drop(&policy);
    /* The helper ignores SIGPIPE; modprobe should not inherit that. */
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    for (;;) {
        ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);
        size_t argc = FIXED_ARGS;
        struct result r;
        posix_spawnattr_t attr;
        pid_t pid;
        int status, rc;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(0);
        buf[n] = '\0';
        for (char *a = buf; a < buf + n && argc < FIXED_ARGS + BATCH_MAX_ALIASES; a += strlen(a) + 1)
            argv[argc++] = a;
        argv[argc] = NULL;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawn(&pid, program, NULL, &attr, argv, env);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
            r = (struct result){OUTCOME_SPAWN_FAILED, rc};
        } else {
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            r = WIFSIGNALED(status) ? (struct result){OUTCOME_SIGNAL, WTERMSIG(status)}
                                    : (struct result){OUTCOME_EXIT, WEXITSTATUS(status)};
        }
        if (send(sock, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
            _exit(0);
    }
}

static void on_result(int fd, short revents, void *ctx);

void uevent_modprobe_setup(const char *program)
{
    int sv[2];

    mp.program = program;
    uevent_aliasq_init(&mp.queue, QUEUE_MAX_ALIASES, QUEUE_MAX_BYTES);
    if (!program)
        return;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        sp_fatal(SP_EXIT_OSERR, "autoload socket pair: %s", strerror(errno));
    if (sp_flush() < 0)
        sp_exit(SP_EXIT_IO);
    mp.autoload = fork();
    if (mp.autoload < 0)
        sp_fatal(SP_EXIT_OSERR, "fork the autoload process: %s", strerror(errno));
    if (mp.autoload == 0)
        autoload_main(sv[1], program);
    close(sv[1]);
    mp.sock = sv[0];
    if (sp_watch(mp.sock, POLLIN, on_result, NULL) < 0)
        sp_fatal(SP_EXIT_SOFTWARE, "cannot watch the autoload socket");
}

static void report(const char *kind, long value)
{
    ei_x_buff x;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "modprobe");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, kind);
    if (strcmp(kind, "spawn_failed") == 0)
        sp_x_errno(&x, (int)value);
    else
        ei_x_encode_long(&x, value);
    ei_x_encode_ulong(&x, (unsigned long)mp.batch_len);
    sp_send(&x);
}

static void log_failure(const char *how, long value)
{
    char list[256];
    size_t used = 0;

    list[0] = '\0';
    for (size_t i = 0; i < mp.batch_len && used + 1 < sizeof(list); i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? " " : "", mp.batch[i]);

        if (n < 0)
            break;
        used += (size_t)n < sizeof(list) - used ? (size_t)n : sizeof(list) - used - 1;
    }
    sp_log("warning", "%s %s %ld for %zu alias(es): %s%s", mp.program, how, value, mp.batch_len, list,
           used + 1 >= sizeof(list) ? "..." : "");
}

static void free_batch(void)
{
    for (size_t i = 0; i < mp.batch_len; i++)
        free(mp.batch[i]);
    mp.batch_len = 0;
}

static void drop(const char *alias, size_t len)
{
    ei_x_buff x;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "modprobe_dropped");
    ei_x_encode_binary(&x, alias, (long)len);
    sp_send(&x);
}

static void start_next(void)
{
    static char buf[BATCH_MAX_BYTES + BATCH_MAX_ALIASES];
    size_t used = 0;

    if (mp.running || mp.queue.count == 0)
        return;
    mp.batch_len = uevent_aliasq_take(&mp.queue, mp.batch, BATCH_MAX_ALIASES, BATCH_MAX_BYTES);
    for (size_t i = 0; i < mp.batch_len; i++) {
        size_t len = strlen(mp.batch[i]) + 1;

        /* Only a first alias over BATCH_MAX_BYTES on its own gets here
         * (the queue takes no more than that otherwise). */
        if (len > sizeof(buf) - used) {
            drop(mp.batch[i], len - 1);
            free_batch();
            return;
        }
        memcpy(buf + used, mp.batch[i], len);
        used += len;
    }
    if (send(mp.sock, buf, used, MSG_NOSIGNAL) != (ssize_t)used)
        sp_fatal(SP_EXIT_OSERR, "autoload process gone: %s", strerror(errno));
    mp.running = 1;
}

static void on_result(int fd, short revents, void *ctx)
{
    struct result r;
    ssize_t n = recv(fd, &r, sizeof(r), MSG_DONTWAIT);

    (void)revents, (void)ctx;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n != (ssize_t)sizeof(r) || !mp.running)
        sp_fatal(SP_EXIT_SOFTWARE, "autoload process gone or confused (%zd bytes)", n);
    mp.running = 0;
    if (r.outcome == OUTCOME_SPAWN_FAILED) {
        log_failure("could not be started: errno", r.value);
        report("spawn_failed", r.value);
    } else if (r.outcome == OUTCOME_SIGNAL) {
        log_failure("was killed by signal", r.value);
        report("signal", r.value);
    } else {
        if (r.value != 0)
            log_failure("exited with status", r.value);
        report("exit", r.value);
    }
    free_batch();
    start_next();
}

void uevent_modprobe_request(const char *alias, size_t len)
{
    if (!mp.program)
        return;
    switch (uevent_aliasq_push(&mp.queue, alias, len)) {
    case UEVENT_ALIASQ_QUEUED:
        start_next();
        break;
    case UEVENT_ALIASQ_DUPLICATE:
        break;
    case UEVENT_ALIASQ_FULL:
    case UEVENT_ALIASQ_INVALID:
        drop(alias, len);
        break;
    }
}
