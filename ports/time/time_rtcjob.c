#include "time_rtcjob.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "sp_loop.h"
#include "time_clock.h"
#include "time_rtc.h"

#define NS_PER_S 1000000000LL
#define QUEUE 8
/* A write sleeps (blocking) through only this last stretch before its
 * instant; the loop's timer, millisecond-grained, brings it that close. */
#define SPIN_NS 20000000LL
/* A write whose timer keeps waking past its instant (a starved CPU) gives up. */
#define MAX_WRITE_WAKEUPS 10

enum job_kind { JOB_READ, JOB_WRITE };

struct job {
    enum job_kind kind;
    unsigned long long id;
};

static struct {
    struct time_rtcjob_config cfg;
    struct job queue[QUEUE];
    int head, count;
    int active;
    int fd;
    int attempts;
    int wakeups;
} rj = {.fd = -1};

static void start_next(void);

static void done(void)
{
    time_rtc_close(rj.fd);
    rj.fd = -1;
    rj.active = 0;
    rj.head = (rj.head + 1) % QUEUE;
    rj.count--;
    start_next();
}

static const struct job *current(void)
{
    return &rj.queue[rj.head];
}

static void reply_read(int64_t secs, int valid, unsigned flags, const char *source, int reads)
{
    const char *names[8];
    int n = time_rtc_vl_names(flags, names, 8);
    ei_x_buff x;
    sp_map m;

    sp_reply_ok_begin(&x, current()->id);
    sp_map_begin(&m, &x);
    if (valid)
        sp_map_int(&m, "time", secs);
    else
        sp_map_atom(&m, "time", "undefined");
    sp_map_bool(&m, "valid", valid);
    sp_map_key(&m, "flags");
    sp_x_atoms(&x, names, n);
    sp_map_atom(&m, "source", source);
    sp_map_int(&m, "reads", reads);
    sp_map_end(&m);
    sp_send(&x);
}

/* The kernel's own view when the device cannot be opened (held by
 * another process, or no permission on the node). */
static void read_sysfs(int open_err)
{
    int64_t secs;
    struct rtc_time tm;
    int rc = time_rtc_sysfs_since_epoch(rj.cfg.sysfs, &secs);

    if (rc < 0) {
        sp_reply_errno(current()->id, -open_err);
        return;
    }
    /* since_epoch reads the RTC's fields as UTC. */
    if (rj.cfg.local && (time_rtc_tm_from_unix(secs, 0, &tm) < 0 || time_rtc_tm_to_unix(&tm, 1, &secs) < 0)) {
        reply_read(0, 0, 0, "sysfs", 0);
        return;
    }
    reply_read(secs, 1, 0, "sysfs", 0);
}

static void read_device(void)
{
    struct rtc_time tm;
    unsigned flags = 0;
    int64_t secs = 0;
    int reads, rc, valid;

    /* No RTC_VL_READ (ENOTTY, EINVAL) is the common case: no flags. */
    if (time_rtc_read_vl(rj.fd, &flags) < 0)
        flags = 0;
    rc = time_rtc_read_stable(rj.fd, &tm, &reads);
    if (rc < 0 && rc != -EINVAL) {
        sp_reply_errno(current()->id, -rc);
        return;
    }
    /* Drivers answer EINVAL when the chip says its time is lost. */
    valid = rc == 0 && !(flags & RTC_VL_DATA_INVALID) && time_rtc_tm_to_unix(&tm, rj.cfg.local, &secs) == 0;
    reply_read(secs, valid, flags, "ioctl", reads);
}

static void write_now(int64_t target_ns, int64_t value)
{
    struct rtc_time tm;
    struct timespec until;
    int64_t kernel = time_clock_to_kernel_ns(target_ns);
    int64_t late;
    ei_x_buff x;
    sp_map m;
    int rc;

    until.tv_sec = (time_t)(kernel / NS_PER_S);
    until.tv_nsec = (long)(kernel % NS_PER_S);
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
    late = time_clock_now_ns() - target_ns;
    rc = time_rtc_tm_from_unix(value, rj.cfg.local, &tm);
    if (rc == 0)
        rc = time_rtc_set(rj.fd, &tm);
    if (rc < 0) {
        sp_reply_errno(current()->id, -rc);
        return;
    }
    sp_reply_ok_begin(&x, current()->id);
    sp_map_begin(&m, &x);
    sp_map_int(&m, "time", value);
    sp_map_int(&m, "late_ns", late);
    sp_map_end(&m);
    sp_send(&x);
}

static void write_step(void *ctx)
{
    int64_t wait, value, now = time_clock_now_ns();

    (void)ctx;
    time_rtc_write_plan(now, rj.cfg.delay_ns, &wait, &value);
    if (wait <= SPIN_NS) {
        write_now(now + wait, value);
        done();
        return;
    }
    if (++rj.wakeups > MAX_WRITE_WAKEUPS) {
        sp_reply_error(current()->id, "etimedout");
        done();
        return;
    }
    if (sp_timer_start((wait - SPIN_NS / 2) / 1000000, write_step, NULL) < 0) {
        sp_reply_error(current()->id, "enomem");
        done();
    }
}

static void try_open(void *ctx)
{
    const struct job *j = current();
    int fd;

    (void)ctx;
    fd = time_rtc_open(rj.cfg.dev, j->kind == JOB_WRITE);
    if (fd == -EBUSY && rj.attempts++ < rj.cfg.busy_retries &&
        sp_timer_start(rj.cfg.busy_wait_ms, try_open, NULL) > 0)
        return;
    if (fd < 0) {
        if (j->kind == JOB_READ)
            read_sysfs(fd);
        else
            sp_reply_errno(j->id, -fd);
        done();
        return;
    }
    rj.fd = fd;
    if (j->kind == JOB_READ) {
        read_device();
        done();
        return;
    }
    rj.wakeups = 0;
    write_step(NULL);
}

static void start_next(void)
{
    if (rj.active || rj.count == 0)
        return;
    rj.active = 1;
    rj.attempts = 0;
    try_open(NULL);
}

static int enqueue(enum job_kind kind, unsigned long long id)
{
    if (!rj.cfg.dev) {
        sp_reply_error(id, "no_rtc");
        return 0;
    }
    if (rj.count == QUEUE)
        return -EBUSY;
    rj.queue[(rj.head + rj.count++) % QUEUE] = (struct job){kind, id};
    start_next();
    return 0;
}

void time_rtcjob_init(const struct time_rtcjob_config *cfg)
{
    rj.cfg = *cfg;
}

int time_rtcjob_read(unsigned long long id)
{
    return enqueue(JOB_READ, id);
}

int time_rtcjob_write(unsigned long long id)
{
    return enqueue(JOB_WRITE, id);
}
