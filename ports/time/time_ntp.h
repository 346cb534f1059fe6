/*
 * The NTP packet (RFC 5905 section 7.3) for an SNTP client: building a
 * request whose transmit timestamp is a random cookie, and checking a reply
 * against it with the RFC's packet sanity tests. Pure functions over
 * buffers: no I/O, no clocks.
 *
 * Times are Unix nanoseconds (int64_t). NTP timestamps count seconds since
 * 1900 in 32 bits and wrap every 136 years (the first wrap is 2036-02-07);
 * a timestamp is placed in the era that puts it nearest a pivot time the
 * caller knows (its own clock), which is right while the two are within 68
 * years of each other.
 */
#ifndef TIME_NTP_H
#define TIME_NTP_H

#include <stddef.h>
#include <stdint.h>

#define TIME_NTP_PACKET_LEN 48
#define TIME_NTP_PORT 123
/* Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
#define TIME_NTP_UNIX_OFFSET 2208988800LL
/* RFC 5905's MAXDIST: a server whose root distance is larger is refused. */
#define TIME_NTP_MAX_DISTANCE_NS 1000000000LL

/* What a reply is. The first group means "not an answer to our request"
 * (a stray, spoofed or mangled datagram): the client keeps waiting. The
 * second group is the server's answer, and it says no. */
enum time_ntp_verdict {
    TIME_NTP_OK = 0,
    TIME_NTP_SHORT,          /* fewer than 48 bytes */
    TIME_NTP_BAD_VERSION,    /* version not 1..4 */
    TIME_NTP_BAD_MODE,       /* not mode 4 (server) */
    TIME_NTP_BOGUS_ORIGIN,   /* origin timestamp is not our cookie */
    TIME_NTP_KOD,            /* stratum 0: kiss-o'-death, code in kiss */
    TIME_NTP_UNSYNCHRONIZED, /* leap indicator 3: the server has no time */
    TIME_NTP_BAD_STRATUM,    /* stratum above 15 */
    TIME_NTP_ZERO_TIMESTAMP, /* receive or transmit timestamp is zero */
    TIME_NTP_BAD_TIMESTAMPS, /* server transmitted before it received */
    TIME_NTP_NEGATIVE_DELAY, /* the server took longer than the round trip */
    TIME_NTP_ROOT_DISTANCE,  /* root distance above TIME_NTP_MAX_DISTANCE_NS */
};

struct time_ntp_reply {
    int leap, version, mode, stratum, poll, precision;
    int64_t root_delay_ns, root_dispersion_ns;
    uint8_t refid[4];
    char kiss[5]; /* KoD code, printable ASCII, NUL-terminated */
    int64_t t1, t2, t3, t4; /* originate, receive, transmit, destination */
    int64_t offset_ns, delay_ns;
};

/* 64-bit NTP timestamp (32.32) of a Unix time; the era is implied. */
uint64_t time_ntp_ts_from_unix_ns(int64_t unix_ns);
/* Unix time of an NTP timestamp, in the era nearest pivot_ns. */
int64_t time_ntp_ts_to_unix_ns(uint64_t ts, int64_t pivot_ns);
/* NTP short format (16.16 seconds) in nanoseconds. */
int64_t time_ntp_short_to_ns(uint32_t s);

/* A client request (version 4, mode 3) carrying cookie as its transmit
 * timestamp; every other field zero so the packet says nothing about us. */
void time_ntp_build_request(uint8_t out[TIME_NTP_PACKET_LEN], uint64_t cookie);

/* Checks a reply to the request that carried cookie, sent at t1_ns and
 * received at t4_ns (both by the client's clock), and fills *out with the
 * fields, offset and round-trip delay. out is filled as far as parsed. */
enum time_ntp_verdict time_ntp_parse_reply(const uint8_t *buf, size_t len, uint64_t cookie, int64_t t1_ns,
                                           int64_t t4_ns, struct time_ntp_reply *out);

/* The verdict as an Erlang atom name (ok, short_packet, bogus_origin...). */
const char *time_ntp_verdict_name(enum time_ntp_verdict v);
/* 1 for verdicts that mean "not an answer to our request". */
int time_ntp_verdict_is_stray(enum time_ntp_verdict v);

#endif
