#include "time_ntp.h"

#include <string.h>

#include "sp_ascii.h"

#define NS_PER_S 1000000000LL
#define ERA (1LL << 32)

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Floor division: Unix times before 1970 are negative. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

uint64_t time_ntp_ts_from_unix_ns(int64_t unix_ns)
{
    int64_t secs = floor_div(unix_ns, NS_PER_S);
    uint64_t ns = (uint64_t)(unix_ns - secs * NS_PER_S);
    uint64_t frac = ((ns << 32) + NS_PER_S / 2) / NS_PER_S;

    /* Rounding up to a whole second carries into the seconds. */
    return ((uint64_t)(secs + TIME_NTP_UNIX_OFFSET) << 32) + frac;
}

int64_t time_ntp_ts_to_unix_ns(uint64_t ts, int64_t pivot_ns)
{
    int64_t pivot = floor_div(pivot_ns, NS_PER_S) + TIME_NTP_UNIX_OFFSET;
    int64_t secs = floor_div(pivot, ERA) * ERA + (int64_t)(ts >> 32);
    uint64_t frac = ts & 0xffffffffu;

    /* The era that puts the timestamp within 68 years of the pivot. */
    if (secs - pivot > ERA / 2)
        secs -= ERA;
    else if (pivot - secs > ERA / 2)
        secs += ERA;
    return (secs - TIME_NTP_UNIX_OFFSET) * NS_PER_S + (int64_t)((frac * NS_PER_S + (1u << 31)) >> 32);
}

int64_t time_ntp_short_to_ns(uint32_t s)
{
    return (int64_t)(s >> 16) * NS_PER_S + (int64_t)(((uint64_t)(s & 0xffff) * NS_PER_S + (1u << 15)) >> 16);
}

void time_ntp_build_request(uint8_t out[TIME_NTP_PACKET_LEN], uint64_t cookie)
{
    memset(out, 0, TIME_NTP_PACKET_LEN);
    out[0] = 4 << 3 | 3; /* LI 0, version 4, mode 3 (client) */
    put64(out + 40, cookie);
}

/* The refid as text up to its first NUL, trailing blanks dropped. */
static void kiss_code(const uint8_t refid[4], char out[5])
{
    size_t n = sp_printable(out, 5, refid, strnlen((const char *)refid, 4), '?');

    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = 0;
}

enum time_ntp_verdict time_ntp_parse_reply(const uint8_t *buf, size_t len, uint64_t cookie, int64_t t1_ns,
                                           int64_t t4_ns, struct time_ntp_reply *out)
{
    uint64_t rx, tx;
    int64_t distance;

    memset(out, 0, sizeof(*out));
    if (len < TIME_NTP_PACKET_LEN)
        return TIME_NTP_SHORT;
    out->leap = buf[0] >> 6;
    out->version = buf[0] >> 3 & 7;
    out->mode = buf[0] & 7;
    out->stratum = buf[1];
    out->poll = (int8_t)buf[2];
    out->precision = (int8_t)buf[3];
    out->root_delay_ns = time_ntp_short_to_ns(get32(buf + 4));
    out->root_dispersion_ns = time_ntp_short_to_ns(get32(buf + 8));
    memcpy(out->refid, buf + 12, 4);
    if (out->version < 1 || out->version > 4)
        return TIME_NTP_BAD_VERSION;
    if (out->mode != 4)
        return TIME_NTP_BAD_MODE;
    /* Only the server that got our request knows the cookie: this is what
     * makes everything below worth believing, kiss codes included. */
    if (get64(buf + 24) != cookie)
        return TIME_NTP_BOGUS_ORIGIN;
    if (out->stratum == 0) {
        kiss_code(out->refid, out->kiss);
        return TIME_NTP_KOD;
    }
    if (out->leap == 3)
        return TIME_NTP_UNSYNCHRONIZED;
    if (out->stratum > 15)
        return TIME_NTP_BAD_STRATUM;
    rx = get64(buf + 32);
    tx = get64(buf + 40);
    if (rx == 0 || tx == 0)
        return TIME_NTP_ZERO_TIMESTAMP;
    out->t1 = t1_ns;
    out->t2 = time_ntp_ts_to_unix_ns(rx, t1_ns);
    out->t3 = time_ntp_ts_to_unix_ns(tx, t1_ns);
    out->t4 = t4_ns;
    if (out->t3 < out->t2)
        return TIME_NTP_BAD_TIMESTAMPS;
    /* The halves are rounded separately so the sum cannot overflow. */
    out->offset_ns = (out->t2 - out->t1) / 2 + (out->t3 - out->t4) / 2;
    out->delay_ns = (out->t4 - out->t1) - (out->t3 - out->t2);
    /* Timestamps that cannot all be true (a server clock running wild, or
     * a reply forged to look closer than it is): nothing to believe. */
    if (out->delay_ns < 0)
        return TIME_NTP_NEGATIVE_DELAY;
    distance = (out->root_delay_ns + out->delay_ns) / 2 + out->root_dispersion_ns;
    if (distance > TIME_NTP_MAX_DISTANCE_NS)
        return TIME_NTP_ROOT_DISTANCE;
    return TIME_NTP_OK;
}

const char *time_ntp_verdict_name(enum time_ntp_verdict v)
{
    switch (v) {
    case TIME_NTP_OK: return "ok";
    case TIME_NTP_SHORT: return "short_packet";
    case TIME_NTP_BAD_VERSION: return "bad_version";
    case TIME_NTP_BAD_MODE: return "bad_mode";
    case TIME_NTP_BOGUS_ORIGIN: return "bogus_origin";
    case TIME_NTP_KOD: return "kod";
    case TIME_NTP_UNSYNCHRONIZED: return "unsynchronized";
    case TIME_NTP_BAD_STRATUM: return "bad_stratum";
    case TIME_NTP_ZERO_TIMESTAMP: return "zero_timestamp";
    case TIME_NTP_BAD_TIMESTAMPS: return "bad_timestamps";
    case TIME_NTP_NEGATIVE_DELAY: return "negative_delay";
    case TIME_NTP_ROOT_DISTANCE: return "root_distance";
    }
    return "unknown";
}

int time_ntp_verdict_is_stray(enum time_ntp_verdict v)
{
    return v == TIME_NTP_SHORT || v == TIME_NTP_BAD_VERSION || v == TIME_NTP_BAD_MODE || v == TIME_NTP_BOGUS_ORIGIN;
}
