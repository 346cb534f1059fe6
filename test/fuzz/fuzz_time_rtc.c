/*
 * libFuzzer target over the RTC's pure code: the fields an RTC_RD_TIME
 * returns (any ints a driver or a broken chip gives), Unix seconds from the
 * clock, the write plan, and the sysfs since_epoch text. Invariants: valid
 * fields convert to seconds and back to themselves; seconds that convert
 * give valid fields that convert back; a write waits less than a second
 * and lands on the planned second.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "time_rtc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NS 1000000000LL
#define FIXED (6 * 4 + 8 + 8 + 1 + 4)

static int32_t get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return (int32_t)v;
}

static int64_t get64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return (int64_t)v;
}

static int same_fields(const struct rtc_time *a, const struct rtc_time *b)
{
    return a->tm_sec == b->tm_sec && a->tm_min == b->tm_min && a->tm_hour == b->tm_hour &&
           a->tm_mday == b->tm_mday && a->tm_mon == b->tm_mon && a->tm_year == b->tm_year;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rtc_time tm = {0}, back;
    int64_t secs, now, wait, value, delay;
    const char *names[8];

    if (size < FIXED)
        return 0;
    tm.tm_sec = get32(data);
    tm.tm_min = get32(data + 4);
    tm.tm_hour = get32(data + 8);
    tm.tm_mday = get32(data + 12);
    tm.tm_mon = get32(data + 16);
    tm.tm_year = get32(data + 20);
    if (time_rtc_tm_to_unix(&tm, 0, &secs) == 0) {
        if (!time_rtc_tm_valid(&tm) || time_rtc_tm_from_unix(secs, 0, &back) != 0 || !same_fields(&tm, &back))
            abort();
    } else if (time_rtc_tm_valid(&tm)) {
        abort();
    }

    secs = get64(data + 24);
    if (time_rtc_tm_from_unix(secs, 0, &back) == 0) {
        int64_t again;

        if (!time_rtc_tm_valid(&back) || time_rtc_tm_to_unix(&back, 0, &again) != 0 || again != secs)
            abort();
    } else if (secs >= 0 && secs <= TIME_RTC_MAX_SECS) {
        abort();
    }

    /* The clock within ±146 years of 1970: the plan's arithmetic is exact there. */
    now = get64(data + 32) % (146LL * 365 * 86400 * NS);
    delay = data[40] & 1 ? TIME_RTC_CMOS_DELAY_NS : 0;
    time_rtc_write_plan(now, delay, &wait, &value);
    if (wait < 0 || wait >= NS || value * NS + delay != now + wait)
        abort();

    if (time_rtc_vl_names((unsigned)get32(data + 41), names, 8) > 5)
        abort();

    if (time_rtc_parse_since_epoch((const char *)data + FIXED, size - FIXED, &secs) == 0 && secs < 0)
        abort();
    return 0;
}
