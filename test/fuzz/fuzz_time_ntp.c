/*
 * libFuzzer target over the NTP reply parser. The input is a datagram;
 * its first byte picks the client's clock (anywhere in two centuries, so
 * era handling is exercised) and whether the cookie matches the packet's
 * origin field (so the checks behind the origin test are reached).
 * Invariants: an accepted reply's offset and delay follow from its four
 * timestamps, and timestamps convert back to themselves.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "time_ntp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S 1000000000LL

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct time_ntp_reply r;
    const uint8_t *pkt;
    size_t len;
    uint64_t cookie;
    int64_t t1, t4;
    enum time_ntp_verdict v;

    if (size < 1)
        return 0;
    pkt = data + 1;
    len = size - 1;
    /* 1900 .. 2100 in steps of about a year, plus the packet's own bits. */
    t1 = ((int64_t)(data[0] >> 1) * 49700000 - TIME_NTP_UNIX_OFFSET) * S + (len > 47 ? pkt[47] : 0);
    t4 = t1 + (len > 46 ? (int64_t)pkt[46] * 1000000 : 0);
    cookie = (data[0] & 1) && len >= TIME_NTP_PACKET_LEN ? get64(pkt + 24) : 0x5eed5eed5eed5eedull;

    v = time_ntp_parse_reply(pkt, len, cookie, t1, t4, &r);
    if (!time_ntp_verdict_name(v) || strcmp(time_ntp_verdict_name(v), "unknown") == 0)
        abort();
    if (v == TIME_NTP_OK) {
        if (r.offset_ns != (r.t2 - r.t1) / 2 + (r.t3 - r.t4) / 2 || r.delay_ns != (r.t4 - r.t1) - (r.t3 - r.t2))
            abort();
        if (r.t3 < r.t2 || r.delay_ns < 0 || llabs(r.t2 - t1) > 69LL * 366 * 86400 * S)
            abort();
    }
    if (v == TIME_NTP_KOD && strlen(r.kiss) > 4)
        abort();
    if (llabs(time_ntp_ts_to_unix_ns(time_ntp_ts_from_unix_ns(t1), t1) - t1) > 1)
        abort();
    return 0;
}
