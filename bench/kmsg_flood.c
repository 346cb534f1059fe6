/*
 * The writing side of the kmsg benchmark: as many records as fast as
 * /dev/kmsg takes them (kernel.printk_devkmsg must be `on').
 *
 *   kmsg_flood COUNT SIZE TAG [RATE]
 *       COUNT records "<14>TAG n=I xxx...\n", each SIZE bytes of text at
 *       least (the kernel takes at most 1024 per write), at RATE records/s
 *       (default: as fast as possible). Prints: records seconds records_per_s
 */
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char record[1024];
    long count, size, rate = 0;
    int fd;
    double t0, t1;

    if ((argc != 4 && argc != 5) || (count = atol(argv[1])) <= 0 || (size = atol(argv[2])) <= 0 ||
        size > 1000 || (argc == 5 && (rate = atol(argv[4])) <= 0))
        errx(64, "usage: kmsg_flood COUNT SIZE TAG [RATE]");
    fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        err(1, "/dev/kmsg");
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        int n = snprintf(record, sizeof(record), "<14>%s n=%ld ", argv[3], i);

        while (n < size + 4 && n < (int)sizeof(record) - 2)
            record[n++] = 'x';
        record[n++] = '\n';
        if (write(fd, record, (size_t)n) != n)
            err(1, "write record %ld", i);
        /* Paced: every 100 records, wait until they are due. */
        if (rate > 0 && i % 100 == 99) {
            double due = t0 + (double)(i + 1) / rate, wait = due - now_s();

            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};

                nanosleep(&ts, NULL);
            }
        }
    }
    t1 = now_s();
    printf("%ld %.6f %.0f\n", count, t1 - t0, count / (t1 - t0));
    return 0;
}
