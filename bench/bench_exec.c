/*
 * The cost of running a command-line tool, the way a script or a program
 * shelling out pays it: spawn, run to the end, reap.
 *
 *   bench_exec N PROGRAM [ARG...]
 *       Runs PROGRAM N times (stdout to /dev/null, PATH searched), fails if
 *       any run exits non-zero. Prints: p50_us p99_us
 */
#include <err.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    posix_spawn_file_actions_t fa;
    double *t;
    int n;

    if (argc < 3 || (n = atoi(argv[1])) <= 0)
        errx(64, "usage: bench_exec N PROGRAM [ARG...]");
    t = calloc((size_t)n, sizeof(*t));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        pid_t pid;
        int status;

        if (posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ) != 0)
            err(71, "spawn %s", argv[2]);
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            errx(70, "%s failed", argv[2]);
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)n, sizeof(*t), by_value);
    printf("%.1f %.1f\n", t[n / 2], t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
    free(t);
    return 0;
}
