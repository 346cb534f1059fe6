#include "time_rtc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "sp_ascii.h"

#define NS_PER_S 1000000000LL
#define MAX_READS 5

static int leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t time_rtc_days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

void time_rtc_civil_from_days(int64_t z, int *year, int *month, int *day)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(yoe + era * 400 + (*month <= 2));
}

int time_rtc_tm_valid(const struct rtc_time *tm)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    /* tm_year is years since 1900, any int a driver returns: compared
     * before 1900 is added, which could overflow. */
    if (tm->tm_sec < 0 || tm->tm_sec > 59 || tm->tm_min < 0 || tm->tm_min > 59 || tm->tm_hour < 0 ||
        tm->tm_hour > 23 || tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_year < 1970 - 1900 ||
        tm->tm_year > 2199 - 1900)
        return 0;
    return tm->tm_mday >= 1 &&
           tm->tm_mday <= days[tm->tm_mon] + (tm->tm_mon == 1 && leap_year(tm->tm_year + 1900));
}

int time_rtc_tm_to_unix(const struct rtc_time *tm, int local, int64_t *secs)
{
    if (!time_rtc_tm_valid(tm))
        return -EINVAL;
    if (local) {
        struct tm t = {.tm_sec = tm->tm_sec, .tm_min = tm->tm_min, .tm_hour = tm->tm_hour,
                       .tm_mday = tm->tm_mday, .tm_mon = tm->tm_mon, .tm_year = tm->tm_year, .tm_isdst = -1};
        time_t v = mktime(&t);

        if (v == (time_t)-1)
            return -EINVAL;
        *secs = (int64_t)v;
        return 0;
    }
    *secs = time_rtc_days_from_civil(tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday) * 86400 + tm->tm_hour * 3600 +
            tm->tm_min * 60 + tm->tm_sec;
    return 0;
}

int time_rtc_tm_from_unix(int64_t secs, int local, struct rtc_time *tm)
{
    int64_t days, rest;
    int y, m, d;

    memset(tm, 0, sizeof(*tm));
    /* Outside the years an RTC holds (time_rtc_tm_valid) the year would
     * not even fit an int. */
    if (!local && (secs < 0 || secs > TIME_RTC_MAX_SECS))
        return -EINVAL;
    if (local) {
        time_t v = (time_t)secs;
        struct tm t;

        if (!localtime_r(&v, &t))
            return -EINVAL;
        tm->tm_sec = t.tm_sec;
        tm->tm_min = t.tm_min;
        tm->tm_hour = t.tm_hour;
        tm->tm_mday = t.tm_mday;
        tm->tm_mon = t.tm_mon;
        tm->tm_year = t.tm_year;
        tm->tm_wday = t.tm_wday;
        tm->tm_yday = t.tm_yday;
    } else {
        /* secs is within 1970..2199 here: days * 86400 cannot overflow. */
        days = secs / 86400;
        rest = secs - days * 86400;
        time_rtc_civil_from_days(days, &y, &m, &d);
        tm->tm_sec = (int)(rest % 60);
        tm->tm_min = (int)(rest / 60 % 60);
        tm->tm_hour = (int)(rest / 3600);
        tm->tm_mday = d;
        tm->tm_mon = m - 1;
        tm->tm_year = y - 1900;
        tm->tm_wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
        tm->tm_yday = (int)(days - time_rtc_days_from_civil(y, 1, 1));
    }
    tm->tm_isdst = -1; /* drivers ignore it */
    return time_rtc_tm_valid(tm) ? 0 : -EINVAL;
}

void time_rtc_write_plan(int64_t now_ns, int64_t delay_ns, int64_t *wait_ns, int64_t *value_secs)
{
    /* Write second S at S + delay: the RTC then reaches S + 1 exactly when
     * the clock does. */
    int64_t base = now_ns - delay_ns;
    int64_t s = base / NS_PER_S - (base % NS_PER_S < 0);

    if (base != s * NS_PER_S)
        s++;
    *value_secs = s;
    *wait_ns = s * NS_PER_S + delay_ns - now_ns;
}

int time_rtc_vl_names(unsigned flags, const char *names[], int max)
{
    static const struct {
        unsigned bit;
        const char *name;
    } bits[] = {
        {RTC_VL_DATA_INVALID, "data_invalid"},   {RTC_VL_BACKUP_LOW, "backup_low"},
        {RTC_VL_BACKUP_EMPTY, "backup_empty"},   {RTC_VL_ACCURACY_LOW, "accuracy_low"},
        {RTC_VL_BACKUP_SWITCH, "backup_switch"},
    };
    int n = 0;

    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]) && n < max; i++)
        if (flags & bits[i].bit)
            names[n++] = bits[i].name;
    return n;
}

int time_rtc_open(const char *dev, int writable)
{
    int fd = writable ? open(dev, O_RDWR | O_CLOEXEC) : open(dev, O_RDONLY | O_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

void time_rtc_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

static int same_time(const struct rtc_time *a, const struct rtc_time *b)
{
    return a->tm_sec == b->tm_sec && a->tm_min == b->tm_min && a->tm_hour == b->tm_hour &&
           a->tm_mday == b->tm_mday && a->tm_mon == b->tm_mon && a->tm_year == b->tm_year;
}

int time_rtc_read_stable(int fd, struct rtc_time *tm, int *reads)
{
    struct rtc_time prev = {0};

    *reads = 0;
    for (int i = 0; i < MAX_READS; i++) {
        memset(tm, 0, sizeof(*tm));
        if (ioctl(fd, RTC_RD_TIME, tm) < 0)
            return -errno;
        ++*reads;
        if (i > 0 && same_time(&prev, tm))
            return time_rtc_tm_valid(tm) ? 0 : -EINVAL;
        prev = *tm;
    }
    return -EIO; /* never the same twice: a broken RTC */
}

int time_rtc_read_vl(int fd, unsigned *flags)
{
    unsigned v = 0;

    if (ioctl(fd, RTC_VL_READ, &v) < 0)
        return -errno;
    *flags = v;
    return 0;
}

int time_rtc_set(int fd, const struct rtc_time *tm)
{
    struct rtc_time copy = *tm;

    return ioctl(fd, RTC_SET_TIME, &copy) < 0 ? -errno : 0;
}

/* sysfs attributes end in a newline. */
static size_t trimmed(const char *text, size_t len)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    return len;
}

static int read_sysfs(const char *dir, const char *attr, char *out, int size)
{
    char path[512];
    int fd, n;

    if (snprintf(path, sizeof(path), "%s/%s", dir, attr) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = (int)read(fd, out, (size_t)size - 1);
    close(fd);
    if (n < 0)
        return -errno;
    n = (int)trimmed(out, (size_t)n);
    out[n] = 0;
    return n;
}

int time_rtc_parse_since_epoch(const char *text, size_t len, int64_t *secs)
{
    unsigned long long v;

    if (sp_parse_uint(text, trimmed(text, len), 10, INT64_MAX, &v) < 0)
        return -EINVAL;
    *secs = (int64_t)v;
    return 0;
}

int time_rtc_sysfs_since_epoch(const char *sysfs_dir, int64_t *secs)
{
    char buf[32];
    int n = read_sysfs(sysfs_dir, "since_epoch", buf, sizeof(buf));

    return n < 0 ? n : time_rtc_parse_since_epoch(buf, (size_t)n, secs);
}

int time_rtc_sysfs_name(const char *sysfs_dir, char *out, int size)
{
    int n = read_sysfs(sysfs_dir, "name", out, size);

    return n < 0 ? n : 0;
}
