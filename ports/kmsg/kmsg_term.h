/*
 * kmsg records as Erlang terms, and the filter of a dmesg request decoded
 * from one. No I/O.
 *
 * On the wire a record is a tuple of numbers and binaries, which the VM
 * decodes several times faster than a map with atom keys (sysport_kmsg
 * builds the map):
 *   {Seq, Facility, Level, TsUsec, Flags, Message}
 *   {Seq, Facility, Level, TsUsec, Flags, Message, Caller, Subsystem, Device}
 * the second when the kernel gave any of the last three; those it did not
 * give are [].
 */
#ifndef KMSG_TERM_H
#define KMSG_TERM_H

#include <ei.h>

#include "kmsg_record.h"
#include "sp_term.h"

void kmsg_encode_record(ei_x_buff *x, const struct kmsg_record *rec);

/* A binary holding an external term (version byte included), encoded in
 * place: begin appends the binary's header and the version byte and returns
 * where its length goes; encode the term; end fills the length in. The
 * receiving process decodes it with binary_to_term/1 itself, so a big term
 * is neither decoded by the port owner nor copied between processes. */
int kmsg_x_nested_begin(ei_x_buff *x);
void kmsg_x_nested_end(ei_x_buff *x, int at);

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
