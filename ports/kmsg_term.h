/*
 * kmsg records as Erlang terms, and the filter of a dmesg request decoded
 * from one. No I/O.
 *
 * A record is the map
 *   #{seq := integer(), facility := atom() | integer(), level := logger:level(),
 *     ts_usec := integer(), flags := binary(), message := binary(),
 *     caller => binary(), subsystem => binary(), device => binary()}
 * with facility the util-linux name (kern, user, ..., local7) when it has one.
 */
#ifndef KMSG_TERM_H
#define KMSG_TERM_H

#include <ei.h>

#include "kmsg_record.h"
#include "sp_term.h"

void kmsg_encode_record(ei_x_buff *x, const struct kmsg_record *rec);

struct kmsg_filter {
    unsigned long long since_seq; /* records with seq >= since_seq */
    unsigned max_level;           /* records with level <= max_level */
    int any_facility;
    unsigned char facilities[256 / 8]; /* bit set, when !any_facility */
};

/* {SinceSeq, MaxLevel, all | <<Facility:8, ...>>} as sent by sysport_kmsg. */
int kmsg_filter_decode(sp_dec *d, struct kmsg_filter *f);
int kmsg_filter_match(const struct kmsg_filter *f, const struct kmsg_record *rec);

#endif
