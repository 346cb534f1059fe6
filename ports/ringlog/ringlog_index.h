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
 * block holding each). *out is malloc'ed (NULL when none). 0, or -1 when
 * out of memory. */
int ringlog_boots(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint8_t *scratch,
                  struct ringlog_boot **out, size_t *n);

struct ringlog_found {
    uint64_t seq;
    uint32_t block;
    uint32_t offset;
};

/* The (at most max) lowest-numbered records of boot with seq >= from_seq,
 * ascending, each seq once. *more is set when records beyond those exist.
 * Returns how many were stored in out. */
size_t ringlog_find(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint8_t *scratch, uint64_t boot,
                    uint64_t from_seq, struct ringlog_found *out, size_t max, int *more);

#endif
