/*
 * A storm of synthetic uevents for bench/uevent_bench.erl: writes ACTION
 * (default "change") N times to a sysfs uevent file as fast as it can, and
 * prints the seconds it took.
 *
 *   uevent_storm N /sys/class/net/lo/uevent [ACTION]
 */
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *action = argc > 3 ? argv[3] : "change";
    size_t len = strlen(action);
    struct timespec t0, t1;
    long n;
    int fd;

    if (argc < 3)
        errx(64, "usage: uevent_storm N UEVENT_FILE [ACTION]");
    n = atol(argv[1]);
    fd = open(argv[2], O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        err(1, "%s", argv[2]);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        if (write(fd, action, len) != (ssize_t)len)
            err(1, "write %s", argv[2]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
