#include "time_clock.h"

#include <errno.h>
#include <string.h>
#include <sys/timex.h>

#define NS_PER_S 1000000000LL
#define MAX_RECORDS 256
/* adjtime's slew rate, and the kernel PLL's offset clamp (MAXPHASE). */
#define SLEW_PPM 500
#define MAX_PHASE_NS 500000000LL

static struct {
    enum time_clock_backend backend;
    /* recording: what the steps and sets add to the real clock */
    int64_t offset_ns;
    /* recording: the slew in progress, since slew_start (monotonic) */
    int64_t slew_ns, slew_start;
    struct time_clock_record records[MAX_RECORDS];
    int nrecords;
    unsigned long steps; /* steps and sets made, successful or not */
} ck;

static int64_t read_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

void time_clock_init(enum time_clock_backend backend, int64_t recording_offset_ns)
{
    memset(&ck, 0, sizeof(ck));
    ck.backend = backend;
    ck.offset_ns = backend == TIME_CLOCK_BACKEND_RECORDING ? recording_offset_ns : 0;
}

enum time_clock_backend time_clock_backend(void)
{
    return ck.backend;
}

const char *time_clock_backend_name(void)
{
    return ck.backend == TIME_CLOCK_BACKEND_SYSTEM ? "system" : "recording";
}

/* The part of the recorded slew already applied, as a kernel would have. */
static int64_t slewed_ns(void)
{
    int64_t done, elapsed;

    if (ck.slew_ns == 0)
        return 0;
    elapsed = read_ns(CLOCK_MONOTONIC) - ck.slew_start;
    done = elapsed / (1000000 / SLEW_PPM);
    if (ck.slew_ns > 0)
        return done < ck.slew_ns ? done : ck.slew_ns;
    return done < -ck.slew_ns ? -done : ck.slew_ns;
}

static int64_t recorded_adjustment(void)
{
    return ck.backend == TIME_CLOCK_BACKEND_RECORDING ? ck.offset_ns + slewed_ns() : 0;
}

int64_t time_clock_now_ns(void)
{
    return read_ns(CLOCK_REALTIME) + recorded_adjustment();
}

int64_t time_clock_from_kernel(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec + recorded_adjustment();
}

int64_t time_clock_to_kernel_ns(int64_t t_ns)
{
    return t_ns - recorded_adjustment();
}

static void record(enum time_clock_op op, int64_t ns, int constant, long esterror_us)
{
    if (ck.nrecords == MAX_RECORDS) {
        memmove(ck.records, ck.records + 1, (MAX_RECORDS - 1) * sizeof(ck.records[0]));
        ck.nrecords--;
    }
    ck.records[ck.nrecords++] = (struct time_clock_record){op, ns, time_clock_now_ns(), constant, esterror_us};
}

/* What the slew in progress has done so far moves into the fixed offset;
 * the rest goes on from now. */
static void settle_slew(void)
{
    int64_t done = slewed_ns();

    ck.offset_ns += done;
    ck.slew_ns -= done;
    ck.slew_start = read_ns(CLOCK_MONOTONIC);
}

unsigned long time_clock_steps(void)
{
    return ck.steps;
}

int time_clock_step(int64_t ns)
{
    /* Counted even when it fails: the kernel may have applied part of it. */
    ck.steps++;
    if (ck.backend == TIME_CLOCK_BACKEND_SYSTEM) {
        /* ADJ_SETOFFSET adds to the clock inside the kernel: no window
         * between reading the time and writing it back. */
        struct timex tx = {.modes = ADJ_SETOFFSET | ADJ_NANO};
        int64_t secs = ns / NS_PER_S, rest = ns % NS_PER_S;

        if (rest < 0) {
            secs--;
            rest += NS_PER_S;
        }
        tx.time.tv_sec = (time_t)secs;
        tx.time.tv_usec = (long)rest; /* nanoseconds under ADJ_NANO */
        return clock_adjtime(CLOCK_REALTIME, &tx) < 0 ? -errno : 0;
    }
    settle_slew();
    ck.offset_ns += ns;
    record(TIME_CLOCK_OP_STEP, ns, 0, 0);
    return 0;
}

int time_clock_set(int64_t unix_ns)
{
    ck.steps++;
    if (ck.backend == TIME_CLOCK_BACKEND_SYSTEM) {
        struct timespec ts = {.tv_sec = (time_t)(unix_ns / NS_PER_S), .tv_nsec = (long)(unix_ns % NS_PER_S)};

        if (unix_ns < 0)
            return -EINVAL;
        return clock_settime(CLOCK_REALTIME, &ts) < 0 ? -errno : 0;
    }
    settle_slew();
    ck.offset_ns = unix_ns - read_ns(CLOCK_REALTIME);
    record(TIME_CLOCK_OP_SET, unix_ns, 0, 0);
    return 0;
}

int time_clock_slew(int64_t offset_ns, int constant, long esterror_us)
{
    if (offset_ns > MAX_PHASE_NS)
        offset_ns = MAX_PHASE_NS;
    else if (offset_ns < -MAX_PHASE_NS)
        offset_ns = -MAX_PHASE_NS;
    if (ck.backend == TIME_CLOCK_BACKEND_SYSTEM) {
        struct timex tx = {.modes = 0};

        if (clock_adjtime(CLOCK_REALTIME, &tx) < 0)
            return -errno;
        /* Keep the bits we do not own (leap second, PPS); take the PLL and
         * clear UNSYNC so the kernel (and timedatectl) call the clock
         * synchronized until maxerror grows past 16 s without us. */
        tx.status = (tx.status & ~(STA_UNSYNC | STA_FLL | STA_FREQHOLD)) | STA_PLL | STA_NANO;
        tx.modes = ADJ_OFFSET | ADJ_STATUS | ADJ_NANO | ADJ_TIMECONST | ADJ_MAXERROR | ADJ_ESTERROR;
        tx.offset = (long)offset_ns;
        tx.constant = constant;
        tx.maxerror = esterror_us;
        tx.esterror = esterror_us;
        return clock_adjtime(CLOCK_REALTIME, &tx) < 0 ? -errno : 0;
    }
    /* Like ADJ_OFFSET, a new slew replaces what is left of the last one. */
    settle_slew();
    ck.slew_ns = offset_ns;
    record(TIME_CLOCK_OP_SLEW, offset_ns, constant, esterror_us);
    return 0;
}

int time_clock_read_status(struct time_clock_status *out)
{
    memset(out, 0, sizeof(*out));
    if (ck.backend == TIME_CLOCK_BACKEND_SYSTEM) {
        struct timex tx = {.modes = 0};
        int state = clock_adjtime(CLOCK_REALTIME, &tx);

        if (state < 0)
            return -errno;
        out->state = state;
        out->status = tx.status;
        out->offset_ns = (tx.status & STA_NANO) ? tx.offset : (int64_t)tx.offset * 1000;
        out->freq_ppb = (long)(((long long)tx.freq * 1000) >> 16);
        out->maxerror_us = tx.maxerror;
        out->esterror_us = tx.esterror;
        out->constant = (int)tx.constant;
        out->tai = tx.tai;
        return 0;
    }
    /* What the kernel would say after the recorded operations. */
    out->state = TIME_OK;
    out->status = STA_UNSYNC;
    for (int i = 0; i < ck.nrecords; i++)
        if (ck.records[i].op == TIME_CLOCK_OP_SLEW) {
            out->status = STA_PLL | STA_NANO;
            out->constant = ck.records[i].constant;
            out->maxerror_us = out->esterror_us = ck.records[i].esterror_us;
        }
    out->offset_ns = ck.slew_ns - slewed_ns();
    return 0;
}

int time_clock_records(const struct time_clock_record **out)
{
    *out = ck.records;
    return ck.nrecords;
}

void time_clock_records_clear(void)
{
    ck.nrecords = 0;
}
