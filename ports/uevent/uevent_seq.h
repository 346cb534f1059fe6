/*
 * Pure bookkeeping of kernel SEQNUMs: which ones were never received.
 *
 * Every kernel uevent takes the next SEQNUM, so a number that does not
 * arrive is a "hole". Holes are not all losses: uevents of concurrent
 * writers can arrive slightly out of order (a late one fills its hole), and
 * the events of network devices in other namespaces never reach us. The
 * caller decides when a hole has been open long enough to count.
 */
#ifndef UEVENT_SEQ_H
#define UEVENT_SEQ_H

#include <stdint.h>

/* Holes tracked at once; beyond that the oldest is written off as missed. */
#define UEVENT_SEQ_MAX_HOLES 64

typedef struct uevent_seq_hole {
    uint64_t first, last; /* inclusive */
    long long born_ms;
} uevent_seq_hole;

typedef struct uevent_seq {
    uint64_t high;    /* highest SEQNUM seen, or the baseline */
    uint64_t evicted; /* SEQNUMs of holes pushed out of the table */
    int nholes;
    uevent_seq_hole holes[UEVENT_SEQ_MAX_HOLES]; /* ascending, so oldest first */
} uevent_seq;

enum uevent_seq_verdict {
    UEVENT_SEQ_IN_ORDER,  /* high + 1 */
    UEVENT_SEQ_AFTER_GAP, /* opened a hole below it */
    UEVENT_SEQ_LATE,      /* filled (part of) a hole */
    UEVENT_SEQ_STALE,     /* at or below the baseline, or a duplicate */
};

/* Forgets every hole: SEQNUMs up to baseline count as seen. A baseline of
 * 0 (unknown) makes the next SEQNUM the baseline. */
void uevent_seq_reset(uevent_seq *s, uint64_t baseline);
enum uevent_seq_verdict uevent_seq_accept(uevent_seq *s, uint64_t seq, long long now_ms);
/* SEQNUMs below high never received (open holes plus evicted ones). */
uint64_t uevent_seq_unseen(const uevent_seq *s);
/* Birth time of the oldest hole, or -1 without holes. An eviction counts
 * as a hole born at time 0. */
long long uevent_seq_oldest_ms(const uevent_seq *s);

#endif
