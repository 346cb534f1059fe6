/* Unit tests of the time keeper's pure parts: the NTP packet (RFC 5905's
 * sanity tests, KoD, era rollover), RTC field conversions and write
 * alignment, and the recording clock backend. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sp_test.h"
#include "time_clock.h"
#include "time_ntp.h"
#include "time_rtc.h"
#include "time_sntp_recv.h"

#define S 1000000000LL
/* 2036-02-07T06:28:16Z: NTP era 0 ends, seconds wrap to 0. */
#define ERA1_UNIX 2085978496LL

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* A server's reply: LI 0, v4, mode 4, stratum 2, answering cookie. */
static void reply(uint8_t p[TIME_NTP_PACKET_LEN], uint64_t cookie, int64_t t2, int64_t t3)
{
    memset(p, 0, TIME_NTP_PACKET_LEN);
    p[0] = 0 << 6 | 4 << 3 | 4;
    p[1] = 2;
    p[2] = 6;
    p[3] = (uint8_t)-20;
    put32(p + 4, 0x00000800);  /* root delay 1/32 s */
    put32(p + 8, 0x00000400);  /* root dispersion 1/64 s */
    memcpy(p + 12, "\xc0\x00\x02\x01", 4);
    put64(p + 16, time_ntp_ts_from_unix_ns(t2 - S));
    put64(p + 24, cookie);
    put64(p + 32, time_ntp_ts_from_unix_ns(t2));
    put64(p + 40, time_ntp_ts_from_unix_ns(t3));
}

static void timestamps_round_trip(void)
{
    int64_t times[] = {0, 1, 999999999, 1700000000LL * S + 123456789, ERA1_UNIX * S - 1, ERA1_UNIX * S,
                       ERA1_UNIX * S + 500000000, 4000000000LL * S + 7, -S / 2};

    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        int64_t back = time_ntp_ts_to_unix_ns(time_ntp_ts_from_unix_ns(times[i]), times[i]);

        /* 2^-32 s resolution: within a nanosecond. */
        CHECK(llabs(back - times[i]) <= 1);
    }
    /* The Unix epoch is NTP second 2208988800 of era 0. */
    CHECK_EQ(time_ntp_ts_from_unix_ns(0) >> 32, 2208988800LL);
    CHECK_EQ(time_ntp_ts_from_unix_ns(S / 2) & 0xffffffffu, 0x80000000u);
}

static void era_rollover(void)
{
    /* Seconds field 5 means 1900+5 s in era 0, or 2036+5 s in era 1: the
     * pivot decides. */
    uint64_t ts = (uint64_t)5 << 32;

    CHECK_EQ(time_ntp_ts_to_unix_ns(ts, ERA1_UNIX * S), (ERA1_UNIX + 5) * S);
    CHECK_EQ(time_ntp_ts_to_unix_ns(ts, (ERA1_UNIX - 1000) * S), (ERA1_UNIX + 5) * S);
    CHECK_EQ(time_ntp_ts_to_unix_ns(ts, -TIME_NTP_UNIX_OFFSET * S), (5 - TIME_NTP_UNIX_OFFSET) * S);
    /* The last second of era 0 seen from just after the wrap. */
    CHECK_EQ(time_ntp_ts_to_unix_ns(0xffffffffull << 32, (ERA1_UNIX + 10) * S), (ERA1_UNIX - 1) * S);
    /* A client in era 0 and a server in era 1 still agree on an offset. */
    {
        uint8_t p[TIME_NTP_PACKET_LEN];
        struct time_ntp_reply r;
        int64_t t1 = (ERA1_UNIX - 2) * S, t2 = (ERA1_UNIX + 3) * S;

        reply(p, 42, t2, t2 + 1000);
        CHECK_EQ(time_ntp_parse_reply(p, sizeof(p), 42, t1, t1 + 2000, &r), TIME_NTP_OK);
        CHECK_EQ(r.offset_ns, 5 * S - 500); /* ((5 s) + (5 s - 1 us)) / 2 */
        CHECK_EQ(r.delay_ns, 1000);
    }
}

static void request_layout(void)
{
    uint8_t p[TIME_NTP_PACKET_LEN];
    uint8_t zero[40] = {0};

    time_ntp_build_request(p, 0x0123456789abcdefull);
    CHECK_EQ(p[0], 0x23); /* LI 0, version 4, mode 3 */
    CHECK_MEM(p + 1, zero, 39);
    CHECK_MEM(p + 40, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
}

static void offset_and_delay(void)
{
    uint8_t p[TIME_NTP_PACKET_LEN + 20];
    struct time_ntp_reply r;
    /* RFC 5905 section 8: offset = ((T2-T1) + (T3-T4))/2, delay =
     * (T4-T1) - (T3-T2). Server 0.25 s ahead, 10 ms each way, 1 ms inside. */
    int64_t t1 = 1700000000LL * S, t2 = t1 + 260000000, t3 = t2 + 1000000, t4 = t1 + 21000000;

    reply(p, 7, t2, t3);
    CHECK_EQ(time_ntp_parse_reply(p, TIME_NTP_PACKET_LEN, 7, t1, t4, &r), TIME_NTP_OK);
    CHECK_EQ(r.offset_ns, 250000000);
    CHECK_EQ(r.delay_ns, 20000000);
    CHECK_EQ(r.t2, t2);
    CHECK_EQ(r.t3, t3);
    CHECK_EQ(r.stratum, 2);
    CHECK_EQ(r.precision, -20);
    CHECK_EQ(r.poll, 6);
    CHECK_EQ(r.root_delay_ns, S / 32);
    CHECK_EQ(r.root_dispersion_ns, S / 64);
    CHECK_MEM(r.refid, "\xc0\x00\x02\x01", 4);
    /* Extension fields or a MAC after the header are fine. */
    memset(p + TIME_NTP_PACKET_LEN, 0xee, 20);
    CHECK_EQ(time_ntp_parse_reply(p, sizeof(p), 7, t1, t4, &r), TIME_NTP_OK);
}

static enum time_ntp_verdict verdict_of(void (*mangle)(uint8_t *), size_t len)
{
    uint8_t p[TIME_NTP_PACKET_LEN];
    struct time_ntp_reply r;
    int64_t t1 = 1700000000LL * S;

    reply(p, 99, t1 + 5000, t1 + 6000);
    if (mangle)
        mangle(p);
    return time_ntp_parse_reply(p, len, 99, t1, t1 + 10000, &r);
}

static void m_version0(uint8_t *p) { p[0] = (uint8_t)((p[0] & 0xc7) | 0 << 3); }
static void m_version5(uint8_t *p) { p[0] = (uint8_t)((p[0] & 0xc7) | 5 << 3); }
static void m_mode_client(uint8_t *p) { p[0] = (uint8_t)((p[0] & 0xf8) | 3); }
static void m_mode_broadcast(uint8_t *p) { p[0] = (uint8_t)((p[0] & 0xf8) | 5); }
static void m_origin(uint8_t *p) { p[31] ^= 1; }
static void m_origin_zero(uint8_t *p) { memset(p + 24, 0, 8); }
static void m_leap3(uint8_t *p) { p[0] |= 0xc0; }
static void m_leap1(uint8_t *p) { p[0] = (uint8_t)((p[0] & 0x3f) | 0x40); }
static void m_stratum16(uint8_t *p) { p[1] = 16; }
static void m_stratum15(uint8_t *p) { p[1] = 15; }
static void m_rx_zero(uint8_t *p) { memset(p + 32, 0, 8); }
static void m_tx_zero(uint8_t *p) { memset(p + 40, 0, 8); }
static void m_tx_before_rx(uint8_t *p) { put64(p + 40, 1 + ((uint64_t)p[32] << 56)); memcpy(p + 40, p + 32, 4); p[44] = 0; }
static void m_root_disp(uint8_t *p) { put32(p + 8, 0x00018000); } /* 1.5 s */
static void m_root_delay(uint8_t *p) { put32(p + 4, 0x00020200); } /* 2.0078 s: half is over 1 s */
/* The server says it held the request 20 us; the round trip took 10 us. */
static void m_slow_server(uint8_t *p) { put64(p + 40, time_ntp_ts_from_unix_ns(1700000000LL * S + 25000)); }

static void sanity_tests(void)
{
    CHECK_EQ(verdict_of(NULL, TIME_NTP_PACKET_LEN), TIME_NTP_OK);
    CHECK_EQ(verdict_of(NULL, TIME_NTP_PACKET_LEN - 1), TIME_NTP_SHORT);
    CHECK_EQ(verdict_of(NULL, 0), TIME_NTP_SHORT);
    CHECK_EQ(verdict_of(m_version0, TIME_NTP_PACKET_LEN), TIME_NTP_BAD_VERSION);
    CHECK_EQ(verdict_of(m_version5, TIME_NTP_PACKET_LEN), TIME_NTP_BAD_VERSION);
    CHECK_EQ(verdict_of(m_mode_client, TIME_NTP_PACKET_LEN), TIME_NTP_BAD_MODE);
    CHECK_EQ(verdict_of(m_mode_broadcast, TIME_NTP_PACKET_LEN), TIME_NTP_BAD_MODE);
    CHECK_EQ(verdict_of(m_origin, TIME_NTP_PACKET_LEN), TIME_NTP_BOGUS_ORIGIN);
    CHECK_EQ(verdict_of(m_origin_zero, TIME_NTP_PACKET_LEN), TIME_NTP_BOGUS_ORIGIN);
    CHECK_EQ(verdict_of(m_leap3, TIME_NTP_PACKET_LEN), TIME_NTP_UNSYNCHRONIZED);
    CHECK_EQ(verdict_of(m_leap1, TIME_NTP_PACKET_LEN), TIME_NTP_OK); /* a leap second coming is fine */
    CHECK_EQ(verdict_of(m_stratum16, TIME_NTP_PACKET_LEN), TIME_NTP_BAD_STRATUM);
    CHECK_EQ(verdict_of(m_stratum15, TIME_NTP_PACKET_LEN), TIME_NTP_OK);
    CHECK_EQ(verdict_of(m_rx_zero, TIME_NTP_PACKET_LEN), TIME_NTP_ZERO_TIMESTAMP);
    CHECK_EQ(verdict_of(m_tx_zero, TIME_NTP_PACKET_LEN), TIME_NTP_ZERO_TIMESTAMP);
    CHECK_EQ(verdict_of(m_tx_before_rx, TIME_NTP_PACKET_LEN), TIME_NTP_BAD_TIMESTAMPS);
    CHECK_EQ(verdict_of(m_root_disp, TIME_NTP_PACKET_LEN), TIME_NTP_ROOT_DISTANCE);
    CHECK_EQ(verdict_of(m_root_delay, TIME_NTP_PACKET_LEN), TIME_NTP_ROOT_DISTANCE);
    CHECK_EQ(verdict_of(m_slow_server, TIME_NTP_PACKET_LEN), TIME_NTP_NEGATIVE_DELAY);
    /* Which ones mean "not for us, keep waiting". */
    CHECK(time_ntp_verdict_is_stray(TIME_NTP_SHORT) && time_ntp_verdict_is_stray(TIME_NTP_BOGUS_ORIGIN));
    CHECK(time_ntp_verdict_is_stray(TIME_NTP_BAD_MODE) && time_ntp_verdict_is_stray(TIME_NTP_BAD_VERSION));
    CHECK(!time_ntp_verdict_is_stray(TIME_NTP_KOD) && !time_ntp_verdict_is_stray(TIME_NTP_UNSYNCHRONIZED));
    CHECK(strcmp(time_ntp_verdict_name(TIME_NTP_ZERO_TIMESTAMP), "zero_timestamp") == 0);
}

static void kiss_of_death(void)
{
    uint8_t p[TIME_NTP_PACKET_LEN];
    struct time_ntp_reply r;
    int64_t t1 = 1700000000LL * S;
    const char *codes[] = {"RATE", "DENY", "RSTR"};

    for (int i = 0; i < 3; i++) {
        reply(p, 5, t1, t1);
        p[0] |= 0xc0; /* KoD packets usually say LI 3 too: the kiss wins */
        p[1] = 0;
        memcpy(p + 12, codes[i], 4);
        CHECK_EQ(time_ntp_parse_reply(p, sizeof(p), 5, t1, t1, &r), TIME_NTP_KOD);
        CHECK(strcmp(r.kiss, codes[i]) == 0);
    }
    /* Short and unprintable codes stay printable; a forged kiss is bogus. */
    reply(p, 5, t1, t1);
    p[1] = 0;
    memcpy(p + 12, "X\x01\0\0", 4);
    CHECK_EQ(time_ntp_parse_reply(p, sizeof(p), 5, t1, t1, &r), TIME_NTP_KOD);
    CHECK(strcmp(r.kiss, "X?") == 0);
    CHECK_EQ(time_ntp_parse_reply(p, sizeof(p), 6, t1, t1, &r), TIME_NTP_BOGUS_ORIGIN);
}

static void rtc_fields(void)
{
    struct rtc_time tm = {.tm_sec = 0, .tm_min = 0, .tm_hour = 0, .tm_mday = 29, .tm_mon = 1, .tm_year = 124};
    int64_t secs;

    CHECK(time_rtc_tm_valid(&tm)); /* 2024-02-29 */
    CHECK_EQ(time_rtc_tm_to_unix(&tm, 0, &secs), 0);
    CHECK_EQ(secs, 1709164800);
    tm.tm_year = 123;
    CHECK(!time_rtc_tm_valid(&tm)); /* 2023-02-29 */
    CHECK_EQ(time_rtc_tm_to_unix(&tm, 0, &secs), -EINVAL);
    tm = (struct rtc_time){.tm_sec = 60, .tm_mday = 1, .tm_year = 124};
    CHECK(!time_rtc_tm_valid(&tm));
    tm = (struct rtc_time){.tm_mday = 1, .tm_year = 69};
    CHECK(!time_rtc_tm_valid(&tm)); /* 1969: a reset chip, not a time */
    tm = (struct rtc_time){.tm_mday = 0, .tm_year = 124};
    CHECK(!time_rtc_tm_valid(&tm));
    /* Any int a driver returns, the largest too (1900 added to it would
     * overflow). */
    tm = (struct rtc_time){.tm_mday = 1, .tm_year = INT_MAX};
    CHECK(!time_rtc_tm_valid(&tm));
    tm = (struct rtc_time){.tm_mday = 1, .tm_year = INT_MIN};
    CHECK(!time_rtc_tm_valid(&tm));
    tm = (struct rtc_time){.tm_mday = 31, .tm_mon = 11, .tm_year = 299};
    CHECK(time_rtc_tm_valid(&tm));
    tm.tm_year = 300;
    CHECK(!time_rtc_tm_valid(&tm));
    CHECK_EQ(time_rtc_tm_from_unix(ERA1_UNIX, 0, &tm), 0);
    CHECK(tm.tm_year == 136 && tm.tm_mon == 1 && tm.tm_mday == 7 && tm.tm_hour == 6 && tm.tm_min == 28 &&
          tm.tm_sec == 16);
    CHECK_EQ(time_rtc_tm_to_unix(&tm, 0, &secs), 0);
    CHECK_EQ(secs, ERA1_UNIX);
    /* An RTC kept in local time (UTC+1, no DST here) reads an hour ahead. */
    setenv("TZ", "XXX-1", 1);
    tzset();
    CHECK_EQ(time_rtc_tm_from_unix(1709164800, 1, &tm), 0);
    CHECK_EQ(tm.tm_hour, 1);
    CHECK_EQ(time_rtc_tm_to_unix(&tm, 1, &secs), 0);
    CHECK_EQ(secs, 1709164800);
    unsetenv("TZ");
    tzset();
}

static void rtc_years_out_of_range(void)
{
    struct rtc_time tm;

    /* A clock before 1970 or past 2199 has no RTC fields (the year of
     * INT64_MAX seconds would not fit an int). */
    CHECK_EQ(time_rtc_tm_from_unix(-1, 0, &tm), -EINVAL);
    CHECK_EQ(time_rtc_tm_from_unix(TIME_RTC_MAX_SECS + 1, 0, &tm), -EINVAL);
    CHECK_EQ(time_rtc_tm_from_unix(INT64_MAX, 0, &tm), -EINVAL);
    CHECK_EQ(time_rtc_tm_from_unix(TIME_RTC_MAX_SECS, 0, &tm), 0);
    CHECK(tm.tm_year == 299 && tm.tm_mon == 11 && tm.tm_mday == 31 && tm.tm_hour == 23 && tm.tm_sec == 59);
}

static void rtc_since_epoch_text(void)
{
    int64_t secs = -1;

    CHECK_EQ(time_rtc_parse_since_epoch("1709164800\n", 11, &secs), 0);
    CHECK_EQ(secs, 1709164800);
    CHECK_EQ(time_rtc_parse_since_epoch("0", 1, &secs), 0);
    CHECK_EQ(secs, 0);
    /* Only the given length is read: no NUL needed. */
    CHECK_EQ(time_rtc_parse_since_epoch("17091648009999", 10, &secs), 0);
    CHECK_EQ(secs, 1709164800);
    secs = 7;
    CHECK_EQ(time_rtc_parse_since_epoch("", 0, &secs), -EINVAL);
    CHECK_EQ(time_rtc_parse_since_epoch("\n", 1, &secs), -EINVAL);
    CHECK_EQ(time_rtc_parse_since_epoch("-1\n", 3, &secs), -EINVAL);
    CHECK_EQ(time_rtc_parse_since_epoch("12x\n", 4, &secs), -EINVAL);
    CHECK_EQ(time_rtc_parse_since_epoch(" 12", 3, &secs), -EINVAL);
    CHECK_EQ(time_rtc_parse_since_epoch("9223372036854775808", 19, &secs), -EINVAL);
    CHECK_EQ(secs, 7);
}

/* A control buffer as recvmsg leaves it: cmsg headers and their data. */
union control {
    char buf[256];
    struct cmsghdr align;
};

static struct cmsghdr *put_cmsg(union control *c, size_t *len, int level, int type, const void *data,
                                size_t data_len)
{
    struct cmsghdr *h = (struct cmsghdr *)(c->buf + *len);

    h->cmsg_level = level;
    h->cmsg_type = type;
    h->cmsg_len = CMSG_LEN(data_len);
    memcpy(CMSG_DATA(h), data, data_len);
    *len += CMSG_SPACE(data_len);
    return h;
}

static void sntp_receive_stamp(void)
{
    union control c;
    struct timespec ts = {0}, want = {.tv_sec = 1700000000, .tv_nsec = 123456789}, other = {.tv_sec = 5};
    int one = 1;
    size_t len = 0;
    struct cmsghdr *h;

    memset(&c, 0, sizeof(c));
    CHECK_EQ(time_sntp_recv_stamp(c.buf, 0, &ts), 0);
    put_cmsg(&c, &len, SOL_IP, IP_TTL, &one, sizeof(one));
    CHECK_EQ(time_sntp_recv_stamp(c.buf, len, &ts), 0);
    put_cmsg(&c, &len, SOL_SOCKET, SCM_TIMESTAMPNS, &want, sizeof(want));
    CHECK_EQ(time_sntp_recv_stamp(c.buf, len, &ts), 1);
    CHECK(ts.tv_sec == want.tv_sec && ts.tv_nsec == want.tv_nsec);
    /* The stamp cut short by MSG_CTRUNC: its header claims more than the
     * buffer holds, so it is not read (the clock is read instead). */
    memset(&ts, 0, sizeof(ts));
    CHECK_EQ(time_sntp_recv_stamp(c.buf, len - 4, &ts), 0);
    CHECK_EQ(ts.tv_sec, 0);
    /* A header too short for a timespec. */
    len = 0;
    h = put_cmsg(&c, &len, SOL_SOCKET, SCM_TIMESTAMPNS, &other, sizeof(other));
    h->cmsg_len = CMSG_LEN(sizeof(other) - 1);
    CHECK_EQ(time_sntp_recv_stamp(c.buf, len, &ts), 0);
    /* A header whose length runs far past the buffer. */
    h->cmsg_len = (size_t)1 << 40;
    CHECK_EQ(time_sntp_recv_stamp(c.buf, len, &ts), 0);
}

static void sntp_same_peer(void)
{
    struct sockaddr_storage a, b;
    struct sockaddr_in *a4 = (void *)&a, *b4 = (void *)&b;
    struct sockaddr_in6 *a6 = (void *)&a, *b6 = (void *)&b;

    memset(&a, 0, sizeof(a));
    a4->sin_family = AF_INET;
    a4->sin_port = htons(123);
    a4->sin_addr.s_addr = htonl(0x7f000001);
    b = a;
    CHECK(time_sntp_recv_same_peer(&a, &b));
    b4->sin_port = htons(124);
    CHECK(!time_sntp_recv_same_peer(&a, &b));
    b = a;
    b4->sin_addr.s_addr = htonl(0x7f000002);
    CHECK(!time_sntp_recv_same_peer(&a, &b));
    memset(&a, 0, sizeof(a));
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(123);
    a6->sin6_addr = in6addr_loopback;
    b = a;
    CHECK(time_sntp_recv_same_peer(&a, &b));
    b6->sin6_addr.s6_addr[0] = 0xfe;
    CHECK(!time_sntp_recv_same_peer(&a, &b));
    b = a;
    b.ss_family = AF_INET;
    CHECK(!time_sntp_recv_same_peer(&a, &b));
    /* Neither family: never the peer, even byte for byte the same. */
    memset(&a, 0, sizeof(a));
    a.ss_family = AF_UNIX;
    b = a;
    CHECK(!time_sntp_recv_same_peer(&a, &b));
}

static void civil_dates_match_libc(void)
{
    /* Every day from 1900 to 2200 (and one before 1970), against gmtime_r
     * and timegm. */
    for (int64_t days = -25567; days < 84000; days += 1) {
        time_t t = (time_t)(days * 86400 + 45296); /* 12:34:56 */
        struct tm ref;
        struct rtc_time tm;
        int y, m, d;

        gmtime_r(&t, &ref);
        time_rtc_civil_from_days(days, &y, &m, &d);
        if (y != ref.tm_year + 1900 || m != ref.tm_mon + 1 || d != ref.tm_mday ||
            time_rtc_days_from_civil(y, m, d) != days) {
            CHECK(0);
            fprintf(stderr, "day %lld: %d-%d-%d\n", (long long)days, y, m, d);
            return;
        }
        if (ref.tm_year >= 70 && ref.tm_year < 300) {
            int64_t back;

            CHECK_EQ(time_rtc_tm_from_unix((int64_t)t, 0, &tm), 0);
            if (tm.tm_hour != 12 || tm.tm_min != 34 || tm.tm_sec != 56 || tm.tm_wday != ref.tm_wday ||
                tm.tm_yday != ref.tm_yday || time_rtc_tm_to_unix(&tm, 0, &back) != 0 || back != (int64_t)t) {
                CHECK(0);
                return;
            }
        }
    }
}

static void rtc_write_alignment(void)
{
    int64_t wait, value;

    /* Most RTCs: write second S exactly at S. */
    time_rtc_write_plan(10 * S + 300000000, 0, &wait, &value);
    CHECK_EQ(wait, 700000000);
    CHECK_EQ(value, 11);
    time_rtc_write_plan(10 * S, 0, &wait, &value);
    CHECK_EQ(wait, 0);
    CHECK_EQ(value, 10);
    /* rtc_cmos: write second S at S + 0.5 s. */
    time_rtc_write_plan(10 * S + 300000000, TIME_RTC_CMOS_DELAY_NS, &wait, &value);
    CHECK_EQ(wait, 200000000);
    CHECK_EQ(value, 10);
    time_rtc_write_plan(10 * S + 700000000, TIME_RTC_CMOS_DELAY_NS, &wait, &value);
    CHECK_EQ(wait, 800000000);
    CHECK_EQ(value, 11);
    time_rtc_write_plan(10 * S + 500000000, TIME_RTC_CMOS_DELAY_NS, &wait, &value);
    CHECK_EQ(wait, 0);
    CHECK_EQ(value, 10);
}

static void rtc_flag_names(void)
{
    const char *names[8];

    CHECK_EQ(time_rtc_vl_names(0, names, 8), 0);
    CHECK_EQ(time_rtc_vl_names(RTC_VL_DATA_INVALID | RTC_VL_BACKUP_LOW, names, 8), 2);
    CHECK(strcmp(names[0], "data_invalid") == 0 && strcmp(names[1], "backup_low") == 0);
}

static int64_t real_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * S + ts.tv_nsec;
}

static void recording_backend(void)
{
    const struct time_clock_record *r;
    struct time_clock_status st;
    int64_t diff, before, now, after;

    time_clock_init(TIME_CLOCK_BACKEND_RECORDING, -3 * S);
    diff = time_clock_now_ns() - real_now();
    CHECK(diff > -3 * S - S / 100 && diff <= -3 * S);
    CHECK_EQ(time_clock_read_status(&st), 0);
    CHECK(st.status & 0x40); /* STA_UNSYNC until a slew */
    CHECK_EQ(time_clock_step(5 * S), 0);
    diff = time_clock_now_ns() - real_now();
    CHECK(diff > 2 * S - S / 100 && diff <= 2 * S);
    /* A slew takes effect at 500 ppm: 20 ms of it after 40 s, so after
     * 50 ms only 25 us have been applied. */
    CHECK_EQ(time_clock_slew(20000000, 4, 1000), 0);
    usleep(50000);
    before = real_now();
    now = time_clock_now_ns();
    after = real_now();
    CHECK(now - before - 2 * S >= 25000);
    CHECK(now - after - 2 * S <= 20000000);
    CHECK_EQ(time_clock_read_status(&st), 0);
    CHECK(!(st.status & 0x40) && st.constant == 4 && st.offset_ns > 0 && st.offset_ns < 20000000);
    CHECK_EQ(time_clock_set(1000 * S), 0);
    diff = time_clock_now_ns() - 1000 * S;
    CHECK(diff >= 0 && diff < S / 10);
    CHECK_EQ(time_clock_records(&r), 3);
    CHECK(r[0].op == TIME_CLOCK_OP_STEP && r[0].ns == 5 * S);
    CHECK(r[1].op == TIME_CLOCK_OP_SLEW && r[1].ns == 20000000 && r[1].constant == 4);
    CHECK(r[2].op == TIME_CLOCK_OP_SET && r[2].ns == 1000 * S);
    /* Slews are clamped like the kernel's (MAXPHASE 0.5 s). */
    CHECK_EQ(time_clock_slew(-2 * S, 0, 0), 0);
    CHECK_EQ(time_clock_records(&r), 4);
    CHECK_EQ(r[3].ns, -S / 2);
    time_clock_records_clear();
    CHECK_EQ(time_clock_records(&r), 0);
}

int main(void)
{
    RUN(timestamps_round_trip);
    RUN(era_rollover);
    RUN(request_layout);
    RUN(offset_and_delay);
    RUN(sanity_tests);
    RUN(kiss_of_death);
    RUN(rtc_fields);
    RUN(rtc_years_out_of_range);
    RUN(rtc_since_epoch_text);
    RUN(civil_dates_match_libc);
    RUN(rtc_write_alignment);
    RUN(rtc_flag_names);
    RUN(recording_backend);
    RUN(sntp_receive_stamp);
    RUN(sntp_same_peer);
    return sp_test_report("test_time");
}
