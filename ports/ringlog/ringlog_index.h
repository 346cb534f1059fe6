/*
 * Questions asked of a recovered spool: which boots it holds, and the
 * records of one boot from a sequence number on. Pure like spool_scan: the
 * file is read through a callback.
 */
#ifndef SPOOL_INDEX_H
#define SPOOL_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog_scan.h"

struct spool_boot {
    uint64_t boot;
    uint64_t first_seq, last_seq;
    uint64_t records;
    int64_t first_wall, last_wall;
};

/* The boots in the file, oldest first (by the generation of the first
 * block holding each). *out is malloc'ed (NULL when none). 0, or -1 when
 * out of memory. */
int spool_boots(const struct spool_recovery *rc, spool_read_fn rd, void *ctx, uint8_t *scratch,
                struct spool_boot **out, size_t *n);

struct spool_found {
    uint64_t seq;
    uint32_t block;
    uint32_t offset;
};

/* The (at most max) lowest-numbered records of boot with seq >= from_seq,
 * ascending, each seq once. *more is set when records beyond those exist.
 * Returns how many were stored in out. */
size_t spool_find(const struct spool_recovery *rc, spool_read_fn rd, void *ctx, uint8_t *scratch, uint64_t boot,
                  uint64_t from_seq, struct spool_found *out, size_t max, int *more);

#endif
