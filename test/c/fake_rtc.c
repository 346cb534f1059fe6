/*
 * A fake /dev/rtcN for the time keeper's tests, as an LD_PRELOAD shim
 * (the host has no RTC, and a real one must not be touched). Built by
 * sysport_time_SUITE; not part of the product.
 *
 *   FAKE_RTC_DEV=/tmp/x/rtc0   the path that is the fake device
 *   FAKE_RTC_STATE=/tmp/x/st   its state, "key value" lines, re-read on
 *                              every call so a test can change it:
 *     rtc N        the RTC's seconds at base_ns
 *     base_ns N    the real CLOCK_REALTIME at which rtc was current
 *     delay_ns N   how far past a write its next tick is short of 1 s
 *                  (500000000 for an rtc_cmos-like chip)
 *     busy N       the next N opens fail with EBUSY
 *     torn N       the next N RTC_RD_TIME return a torn time (+59 s)
 *     vl N         RTC_VL_READ flags (vl_errno N: fail with errno N)
 *     rd_errno N   RTC_RD_TIME fails with errno N
 *   FAKE_RTC_LOG=/tmp/x/log    what happened, a line per call:
 *     open | open_busy | rd SECS | set SECS REAL_NS | vl FLAGS
 *
 * The RTC ticks like a real one: a write of S at real time t makes it read
 * S until t + 1 s - delay_ns, then S + 1, and so on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define S 1000000000LL
#define MAX_FDS 16

static const char *const keys[] = {"rtc", "base_ns", "delay_ns", "busy", "torn", "vl", "vl_errno", "rd_errno"};
enum { K_RTC, K_BASE, K_DELAY, K_BUSY, K_TORN, K_VL, K_VL_ERRNO, K_RD_ERRNO, NKEYS };

static int fake_fds[MAX_FDS] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};

static int is_fake(int fd)
{
    for (int i = 0; i < MAX_FDS; i++)
        if (fd >= 0 && fake_fds[i] == fd)
            return 1;
    return 0;
}

static int64_t real_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * S + ts.tv_nsec;
}

static void load(long long v[NKEYS])
{
    const char *path = getenv("FAKE_RTC_STATE");
    FILE *f = path ? fopen(path, "r") : NULL;
    char key[32];
    long long val;

    memset(v, 0, NKEYS * sizeof(v[0]));
    if (!f)
        return;
    while (fscanf(f, "%31s %lld", key, &val) == 2)
        for (int i = 0; i < NKEYS; i++)
            if (strcmp(key, keys[i]) == 0)
                v[i] = val;
    fclose(f);
}

static void save(const long long v[NKEYS])
{
    const char *path = getenv("FAKE_RTC_STATE");
    FILE *f = path ? fopen(path, "w") : NULL;

    if (!f)
        return;
    for (int i = 0; i < NKEYS; i++)
        fprintf(f, "%s %lld\n", keys[i], v[i]);
    fclose(f);
}

static void logf_(const char *fmt, ...)
{
    const char *path = getenv("FAKE_RTC_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    va_list ap;

    if (!f)
        return;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static int64_t rtc_now(const long long v[NKEYS])
{
    int64_t elapsed = real_ns() - v[K_BASE];

    return v[K_RTC] + (elapsed >= 0 ? elapsed / S : -((-elapsed + S - 1) / S));
}

static int fake_open(void)
{
    long long v[NKEYS];
    int (*real_open)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    int fd;

    load(v);
    if (v[K_BUSY] > 0) {
        v[K_BUSY]--;
        save(v);
        logf_("open_busy");
        errno = EBUSY;
        return -1;
    }
    fd = real_open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < MAX_FDS && fd >= 0; i++)
        if (fake_fds[i] < 0) {
            fake_fds[i] = fd;
            logf_("open");
            return fd;
        }
    errno = EMFILE;
    return -1;
}

static int wants_fake(const char *path)
{
    const char *dev = getenv("FAKE_RTC_DEV");

    return dev && path && strcmp(path, dev) == 0;
}

static mode_t mode_of(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int __open_2(const char *path, int flags);
int ioctl(int fd, unsigned long req, ...);
int close(int fd);

int open(const char *path, int flags, ...)
{
    static int (*next)(const char *, int, ...);
    va_list ap;
    mode_t mode;

    if (wants_fake(path))
        return fake_open();
    va_start(ap, flags);
    mode = mode_of(flags, ap);
    va_end(ap);
    if (!next)
        next = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    return next(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    va_start(ap, flags);
    mode = mode_of(flags, ap);
    va_end(ap);
    return open(path, flags, mode);
}

int __open_2(const char *path, int flags)
{
    return open(path, flags);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    static int (*next)(int, const char *, int, ...);
    va_list ap;
    mode_t mode;

    if (wants_fake(path))
        return fake_open();
    va_start(ap, flags);
    mode = mode_of(flags, ap);
    va_end(ap);
    if (!next)
        next = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    return next(dirfd, path, flags, mode);
}

int close(int fd)
{
    static int (*next)(int);

    for (int i = 0; i < MAX_FDS; i++)
        if (fd >= 0 && fake_fds[i] == fd)
            fake_fds[i] = -1;
    if (!next)
        next = (int (*)(int))dlsym(RTLD_NEXT, "close");
    return next(fd);
}

static int fake_ioctl(unsigned long req, void *arg)
{
    long long v[NKEYS];
    struct tm tm;
    time_t t;

    load(v);
    if (req == RTC_RD_TIME) {
        if (v[K_RD_ERRNO]) {
            errno = (int)v[K_RD_ERRNO];
            return -1;
        }
        t = (time_t)rtc_now(v);
        if (v[K_TORN] > 0) {
            /* Read across the edge: the minute already rolled, the seconds not. */
            v[K_TORN]--;
            save(v);
            t += 59;
        }
        gmtime_r(&t, &tm);
        memset(arg, 0, sizeof(struct rtc_time));
        memcpy(arg, &tm, sizeof(struct rtc_time)); /* the same first nine ints */
        ((struct rtc_time *)arg)->tm_isdst = 0;
        logf_("rd %lld", (long long)t);
        return 0;
    }
    if (req == RTC_SET_TIME) {
        int64_t now = real_ns();

        memset(&tm, 0, sizeof(tm));
        memcpy(&tm, arg, sizeof(struct rtc_time));
        tm.tm_isdst = 0;
        t = timegm(&tm);
        v[K_RTC] = (long long)t;
        v[K_BASE] = now - v[K_DELAY];
        v[K_VL] &= ~(long long)RTC_VL_DATA_INVALID; /* a write makes the time good */
        save(v);
        logf_("set %lld %lld", (long long)t, (long long)now);
        return 0;
    }
    if (req == RTC_VL_READ) {
        if (v[K_VL_ERRNO]) {
            errno = (int)v[K_VL_ERRNO];
            return -1;
        }
        *(unsigned int *)arg = (unsigned int)v[K_VL];
        logf_("vl %lld", v[K_VL]);
        return 0;
    }
    errno = ENOTTY;
    return -1;
}

int ioctl(int fd, unsigned long req, ...)
{
    static int (*next)(int, unsigned long, ...);
    va_list ap;
    void *arg;

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (is_fake(fd))
        return fake_ioctl(req, arg);
    if (!next)
        next = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    return next(fd, req, arg);
}
