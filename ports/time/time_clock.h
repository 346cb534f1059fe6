/*
 * The system clock behind a backend chosen at start:
 *
 *   system     steps with clock_adjtime(ADJ_SETOFFSET), sets with
 *              clock_settime, slews through the kernel PLL (ADJ_OFFSET) and
 *              reads adjtimex status. Needs CAP_SYS_TIME.
 *   recording  applies nothing to the host: it records what it would have
 *              done and keeps its own clock, the real clock plus what was
 *              recorded (steps at once, slews at the kernel's 500 ppm), so
 *              the policy sees its corrections take effect.
 *
 * The environment variable SYSPORT_TIME_CLOCK=recording forces the
 * recording backend whatever the command line says: test runs set it so
 * that nothing they start can move the host's clock.
 */
#ifndef TIME_CLOCK_H
#define TIME_CLOCK_H

#include <stdint.h>
#include <time.h>

enum time_clock_backend { TIME_CLOCK_BACKEND_SYSTEM, TIME_CLOCK_BACKEND_RECORDING };

enum time_clock_op { TIME_CLOCK_OP_STEP, TIME_CLOCK_OP_SLEW, TIME_CLOCK_OP_SET };

struct time_clock_record {
    enum time_clock_op op;
    int64_t ns;         /* step/slew amount, or the time set */
    int64_t at_ns;      /* the backend's clock when it was done */
    int constant;       /* slew: PLL time constant */
    long esterror_us;   /* slew: estimated error passed to the kernel */
};

/* Kernel clock state as adjtimex reports it. */
struct time_clock_status {
    int state; /* TIME_OK, TIME_INS, ... or TIME_ERROR */
    int status; /* STA_* bits */
    int64_t offset_ns;
    long freq_ppb;
    long maxerror_us, esterror_us;
    int constant;
    int tai;
};

void time_clock_init(enum time_clock_backend backend, int64_t recording_offset_ns);
enum time_clock_backend time_clock_backend(void);
const char *time_clock_backend_name(void);

/* CLOCK_REALTIME as the backend sees it, in Unix nanoseconds. */
int64_t time_clock_now_ns(void);
/* A kernel CLOCK_REALTIME timestamp (SO_TIMESTAMPNS) on the backend's clock. */
int64_t time_clock_from_kernel(const struct timespec *ts);
/* The kernel CLOCK_REALTIME instant at which the backend reads t_ns. */
int64_t time_clock_to_kernel_ns(int64_t t_ns);

/* How many steps and sets this helper has made: a measurement that began
 * at another count spans a jump of the clock. */
unsigned long time_clock_steps(void);

/* Each returns 0 or -errno. */
int time_clock_step(int64_t ns);
int time_clock_set(int64_t unix_ns);
/* Slews offset_ns through the PLL with the given time constant, marking the
 * clock synchronized with esterror_us as its estimated error. */
int time_clock_slew(int64_t offset_ns, int constant, long esterror_us);
int time_clock_read_status(struct time_clock_status *out);

/* Recording backend: what was done, oldest first (a bounded window). */
int time_clock_records(const struct time_clock_record **out);
void time_clock_records_clear(void);

#endif
