/*
 * Questions asked of a recovered spool: which boots it holds, and the
 * records of one boot from a sequence number on. Pure like ringlog_scan: the
 * file is read through a callback.
 */
#ifndef RINGLOG_INDEX_H
#define RINGLOG_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog_scan.h"

struct ringlog_boot {
    uint64_t boot;
    uint64_t first_seq, last_seq;
    uint64_t records;
    int64_t first_wall, last_wall;
};

/* The boots in the file, oldest first (by the generation of the first
 * block holding each), from the block summaries: only blocks that also
 * hold another boot's records are read. *out is malloc'ed (NULL when
 * none). 0, or -1 when out of memory. */
int ringlog_boots(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint8_t *scratch,
                  struct ringlog_boot **out, size_t *n);

struct ringlog_found {
    uint64_t seq;
    uint32_t block;
    uint32_t offset;
};

struct ringlog_query {
    uint64_t boot;
    uint64_t from_seq, until_seq; /* inclusive */
    uint8_t levels;               /* bit L set: records of level L are wanted */
    int newest;                   /* the highest-numbered records, not the lowest */
};

/* The (at most max) lowest-numbered (q->newest: highest-numbered) records
 * q asks for, ascending, each seq once. *more is set when records beyond
 * those exist (below them, for q->newest). Reads only blocks whose
 * summary may hold one, newest first for q->newest. Returns how many were
 * stored in out. */
size_t ringlog_find(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint8_t *scratch,
                    const struct ringlog_query *q, struct ringlog_found *out, size_t max, int *more);

#endif
