/*
 * RTC reads and writes as jobs of the helper's loop, one at a time: the
 * device is opened per job and an EBUSY open (someone else, hwclock say,
 * has it) is retried on a timer; a write waits on a timer for its instant
 * on the second's edge. Nothing here blocks the loop for more than the
 * last few milliseconds before a write.
 *
 * Replies:
 *   rtc_read  -> {ok, #{time => Secs | undefined, valid => boolean(),
 *                      flags => [atom()], source => ioctl | sysfs,
 *                      reads => N}} | {error, Errno | no_rtc}
 *   rtc_write -> {ok, #{time => Secs, late_ns => Ns}} | {error, Errno | no_rtc}
 * A read that cannot open the device falls back to sysfs since_epoch.
 */
#ifndef TIME_RTCJOB_H
#define TIME_RTCJOB_H

#include <stdint.h>

struct time_rtcjob_config {
    const char *dev;   /* NULL: no RTC */
    const char *sysfs; /* /sys/class/rtc/rtcN */
    int local;         /* RTC kept in local time */
    int64_t delay_ns;  /* 0, or TIME_RTC_CMOS_DELAY_NS for rtc_cmos */
    int busy_retries;
    long busy_wait_ms;
};

void time_rtcjob_init(const struct time_rtcjob_config *cfg);
/* 0 when queued; -EBUSY when the queue is full (nothing replied). */
int time_rtcjob_read(unsigned long long id);
int time_rtcjob_write(unsigned long long id);

#endif
