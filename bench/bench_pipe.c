/*
 * The raw limits the port runtime is measured against.
 *
 *   bench_pipe pingpong REQ_BYTES REPLY_BYTES N
 *       Two processes, two pipes, {packet,4}-style frames of the given sizes
 *       bounced N times. Prints: p50_us p99_us
 *   bench_pipe reader HELPER N SIZE
 *       Runs HELPER (the test helper) on pipes, asks it for N events of SIZE
 *       bytes, reads and frames them in C. Prints: frames frames_per_s
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ei.h>

#include "sp_frame.h"
#include "sp_proto.h"

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void read_exact(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);

        if (r <= 0)
            err(1, "read");
        got += (size_t)r;
    }
}

static void write_frame(int fd, const char *payload, uint32_t len)
{
    unsigned char hdr[4] = {len >> 24, len >> 16, len >> 8, len};
    struct iovec iov[2] = {{hdr, 4}, {(void *)payload, len}};

    if (sp_writev_all(fd, iov, 2) < 0)
        err(1, "write");
}

static uint32_t read_frame(int fd, char *buf)
{
    unsigned char hdr[4];
    uint32_t len;

    read_exact(fd, hdr, 4);
    len = ((uint32_t)hdr[0] << 24) | (hdr[1] << 16) | (hdr[2] << 8) | hdr[3];
    read_exact(fd, buf, len);
    return len;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int pingpong(int req, int reply, int n)
{
    int to_child[2], to_parent[2];
    char *buf = calloc(1, (size_t)(req > reply ? req : reply) + 16);
    double *lat = malloc(sizeof(double) * (size_t)n);

    if (pipe(to_child) < 0 || pipe(to_parent) < 0)
        err(1, "pipe");
    if (fork() == 0) {
        for (int i = 0; i < n + 100; i++) {
            read_frame(to_child[0], buf);
            write_frame(to_parent[1], buf, (uint32_t)reply);
        }
        _exit(0);
    }
    for (int i = 0; i < n + 100; i++) {
        double t0 = now_us();

        write_frame(to_child[1], buf, (uint32_t)req);
        read_frame(to_parent[0], buf);
        if (i >= 100) /* warm-up excluded */
            lat[i - 100] = now_us() - t0;
    }
    wait(NULL);
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    printf("%.2f %.2f\n", lat[n / 2], lat[(size_t)(n * 0.99)]);
    return 0;
}

static int reader(const char *helper, long n, long size)
{
    int in[2], out[2];
    pid_t pid;
    ei_x_buff x;
    sp_inbuf b;
    const uint8_t *frame;
    size_t len;
    long frames = 0;
    double t0, t1;

    if (pipe(in) < 0 || pipe(out) < 0)
        err(1, "pipe");
    pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(helper, helper, (char *)NULL);
        err(1, "exec %s", helper);
    }
    close(in[0]);
    close(out[1]);
    sp_inbuf_init(&b, 1 << 20);
    /* the ready frame */
    while (sp_inbuf_next(&b, &frame, &len) != SP_FRAME_OK)
        if (sp_inbuf_read(&b, out[0]) <= 0)
            errx(1, "helper closed");
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "cast");
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "events");
    ei_x_encode_long(&x, n);
    ei_x_encode_long(&x, size);
    t0 = now_us();
    write_frame(in[1], x.buff, (uint32_t)x.index);
    while (frames < n) {
        if (sp_inbuf_read(&b, out[0]) <= 0)
            errx(1, "helper closed");
        while (sp_inbuf_next(&b, &frame, &len) == SP_FRAME_OK)
            frames++;
    }
    t1 = now_us();
    close(in[1]);
    waitpid(pid, NULL, 0);
    printf("%ld %.0f\n", frames, frames / ((t1 - t0) / 1e6));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "pingpong") == 0)
        return pingpong(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc == 5 && strcmp(argv[1], "reader") == 0)
        return reader(argv[2], atol(argv[3]), atol(argv[4]));
    fprintf(stderr, "usage: bench_pipe pingpong REQ REPLY N | reader HELPER N SIZE\n");
    return 64;
}
