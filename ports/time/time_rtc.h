/*
 * The battery-backed RTC through /dev/rtcN, with sysfs since_epoch as a
 * read-only fallback.
 *
 * /dev/rtcN opens exclusively (a second opener gets EBUSY), so the helper
 * opens it for each operation and the caller retries EBUSY later. Reads go
 * through RTC_RD_TIME until two agree, because some drivers read the
 * registers one by one and a read across the second's edge can be torn
 * (12:00:59 then 12:01:00 read as 12:00:00). Writes must land on the
 * second's boundary: RTC_SET_TIME restarts the RTC's second, and the
 * MC146818 behind rtc_cmos ticks 0.5 s after a write, so it is written
 * 0.5 s past the boundary (what hwclock does).
 */
#ifndef TIME_RTC_H
#define TIME_RTC_H

#include <linux/rtc.h>
#include <stddef.h>
#include <stdint.h>

/* How long after the write an RTC counts its next second is 1 s minus
 * this: 0 for most drivers, 0.5 s for rtc_cmos. */
#define TIME_RTC_CMOS_DELAY_NS 500000000LL
/* 2199-12-31 23:59:59 UTC: the last second time_rtc_tm_valid accepts. */
#define TIME_RTC_MAX_SECS 7258118399LL

/* Pure. Days from 1970-01-01 to a proleptic Gregorian date (month 1..12),
 * and back (H. Hinnant's algorithms): no libc time code, whose tz and
 * locale machinery would double the helper's resident size. */
int64_t time_rtc_days_from_civil(int year, int month, int day);
void time_rtc_civil_from_days(int64_t days, int *year, int *month, int *day);
/* 1 when every field is in range (day checked against the month). */
int time_rtc_tm_valid(const struct rtc_time *tm);
/* RTC fields to Unix seconds and back; local selects the local time zone
 * (an RTC kept in local time for another OS), else UTC. 0 or -EINVAL. */
int time_rtc_tm_to_unix(const struct rtc_time *tm, int local, int64_t *secs);
int time_rtc_tm_from_unix(int64_t secs, int local, struct rtc_time *tm);
/* When to write: for the clock at now_ns and a driver delay (0 or
 * TIME_RTC_CMOS_DELAY_NS), how long to wait and which second to write then. */
void time_rtc_write_plan(int64_t now_ns, int64_t delay_ns, int64_t *wait_ns, int64_t *value_secs);
/* Pure. A sysfs since_epoch attribute's text (decimal seconds, maybe a
 * trailing newline) to seconds. 0, or -EINVAL for anything else. */
int time_rtc_parse_since_epoch(const char *text, size_t len, int64_t *secs);
/* The names of RTC_VL_READ's flag bits set in flags, for reporting. */
int time_rtc_vl_names(unsigned flags, const char *names[], int max);

/* I/O. Each returns 0 (or an fd) or -errno. */
int time_rtc_open(const char *dev, int writable);
void time_rtc_close(int fd);
/* RTC_RD_TIME until two consecutive reads agree (a few tries), then checks
 * the fields: -EINVAL for an RTC holding nonsense. */
int time_rtc_read_stable(int fd, struct rtc_time *tm, int *reads);
/* RTC_VL_READ: -ENOTTY or -EINVAL when the driver has no such thing. */
int time_rtc_read_vl(int fd, unsigned *flags);
int time_rtc_set(int fd, const struct rtc_time *tm);
/* sysfs_dir/since_epoch: the RTC's time as the kernel sees it (UTC). */
int time_rtc_sysfs_since_epoch(const char *sysfs_dir, int64_t *secs);
/* sysfs_dir/name: the driver's name into out. */
int time_rtc_sysfs_name(const char *sysfs_dir, char *out, int size);

#endif
