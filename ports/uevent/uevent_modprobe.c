#include "uevent_modprobe.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_loop.h"
#include "uevent_aliasq.h"

#define QUEUE_MAX_ALIASES 1024
#define QUEUE_MAX_BYTES (256u * 1024)
#define BATCH_MAX_ALIASES 64
#define BATCH_MAX_BYTES (32u * 1024)
#define FIXED_ARGS 5 /* program -q -b -a -- */

extern char **environ;

static struct {
    const char *program;
    uevent_aliasq queue;
    pid_t running;
    char *batch[BATCH_MAX_ALIASES];
    size_t batch_len;
} mp;

void uevent_modprobe_setup(const char *program)
{
    mp.program = program;
    uevent_aliasq_init(&mp.queue, QUEUE_MAX_ALIASES, QUEUE_MAX_BYTES);
    if (program && sp_signal_watch(SIGCHLD) < 0)
        sp_fatal(SP_EXIT_OSERR, "sigaction SIGCHLD: %s", strerror(errno));
}

int uevent_modprobe_enabled(void)
{
    return mp.program != NULL;
}

size_t uevent_modprobe_queued(void)
{
    return mp.queue.count;
}

int uevent_modprobe_running(void)
{
    return mp.running > 0;
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

static void start_next(void)
{
    char *argv[FIXED_ARGS + BATCH_MAX_ALIASES + 1];
    posix_spawnattr_t attr;
    sigset_t defaults;
    int rc;

    while (mp.running == 0 && mp.queue.count > 0) {
        mp.batch_len = uevent_aliasq_take(&mp.queue, mp.batch, BATCH_MAX_ALIASES, BATCH_MAX_BYTES);
        argv[0] = (char *)mp.program;
        argv[1] = "-q";
        argv[2] = "-b";
        argv[3] = "-a";
        argv[4] = "--";
        memcpy(argv + FIXED_ARGS, mp.batch, mp.batch_len * sizeof(char *));
        argv[FIXED_ARGS + mp.batch_len] = NULL;
        /* The helper ignores SIGPIPE; modprobe should not inherit that. */
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawn(&mp.running, mp.program, NULL, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
            mp.running = 0;
            log_failure("could not be started: errno", rc);
            report("spawn_failed", rc);
            free_batch();
        }
    }
}

void uevent_modprobe_request(const char *alias, size_t len)
{
    ei_x_buff x;

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
        sp_event_begin(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "modprobe_dropped");
        ei_x_encode_binary(&x, alias, (long)len);
        sp_send(&x);
        break;
    }
}

void uevent_modprobe_reap(void)
{
    int status;
    pid_t pid;

    if (mp.running <= 0)
        return;
    do
        pid = waitpid(mp.running, &status, WNOHANG);
    while (pid < 0 && errno == EINTR);
    if (pid != mp.running)
        return;
    mp.running = 0;
    if (WIFSIGNALED(status)) {
        log_failure("was killed by signal", WTERMSIG(status));
        report("signal", WTERMSIG(status));
    } else {
        if (WEXITSTATUS(status) != 0)
            log_failure("exited with status", WEXITSTATUS(status));
        report("exit", WEXITSTATUS(status));
    }
    free_batch();
    start_next();
}
