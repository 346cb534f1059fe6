/*
 * Recovery: walking the records of a block, and finding the ring's head,
 * its order and its damage when the file is opened. Pure: the file is seen
 * through a read callback, so tests and the fuzzer run it over memory.
 */
#ifndef RINGLOG_SCAN_H
#define RINGLOG_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog_format.h"

struct ringlog_scan_stats {
    uint64_t records;         /* whose CRC holds */
    uint64_t bad_records;     /* record headers whose fields or CRC do not hold */
    uint64_t discarded_bytes; /* bytes those claimed, plus lost blocks */
};

typedef void (*ringlog_record_cb)(void *ctx, const struct ringlog_record *r, uint32_t offset);

/* Calls cb for every record whose CRC holds in blk[RINGLOG_BLOCK_HDR, len),
 * in file order. After damage it resynchronises on the next aligned record
 * magic, so one flipped bit costs one record. */
void ringlog_block_walk(const uint8_t *blk, size_t len, uint64_t file_id, ringlog_record_cb cb, void *ctx,
                        struct ringlog_scan_stats *st);

enum ringlog_block_state {
    /* Not read yet: ringlog_recover_step reads it. Zero, so that a large
     * ring's summaries need no pass over them before the first write. */
    RINGLOG_BLK_UNSCANNED = 0,
    RINGLOG_BLK_EMPTY,      /* never written (or beyond the end of a short file) */
    RINGLOG_BLK_VALID,      /* header holds */
    RINGLOG_BLK_BAD_HEADER, /* header damaged: records still used, generation inferred */
    RINGLOG_BLK_LOST,       /* inside the written run but unreadable (zeroed, wiped) */
};

struct ringlog_block_info {
    uint64_t gen;     /* from the header, or inferred from neighbours */
    uint64_t boot;    /* of the first record */
    uint64_t min_seq; /* of the records of that boot */
    uint64_t max_seq;
    int64_t min_wall; /* the wall times of the records min_seq and max_seq */
    int64_t max_wall;
    uint32_t records;
    uint8_t state;
    uint8_t mixed;  /* also holds records of other boots (stale ones past the tail) */
    uint8_t levels; /* bit L set when a record of level L is here */
};

/* The file seen by recovery: reads up to len bytes at off, returns how many
 * (fewer at the end of the file). */
typedef size_t (*ringlog_read_fn)(void *ctx, uint64_t off, uint8_t *buf, size_t len);

struct ringlog_recovery {
    uint64_t file_id;   /* 0 when no valid block was found: the caller formats */
    uint32_t block_size;
    uint32_t nblocks;
    uint32_t head;      /* newest block; the writer continues at head + 1 */
    uint64_t next_gen;
    struct ringlog_scan_stats stats;
    uint32_t bad_headers;
    uint32_t lost_blocks;
    uint64_t short_bytes; /* the file is this much shorter than the ring, and may have been cut */
    uint64_t grown_from;  /* the file was a whole ring of this many bytes: configured larger now */
    uint64_t foreign_bytes; /* nothing of ours, but this many bytes were not zero */
    struct ringlog_block_info *blocks; /* nblocks entries, owned */
    /* Left by ringlog_recover_fast for ringlog_recover_step: */
    uint32_t unscanned;    /* blocks still RINGLOG_BLK_UNSCANNED */
    uint32_t scan_next;    /* where the step goes on */
    uint64_t head_gen;     /* the head's generation when the writer took over */
    uint32_t newer_blocks; /* found later with a generation past head_gen: damage hid them from the fast path */
};

/* Scans a file of file_len bytes meant to be a ring of size bytes in blocks
 * of block_size (an existing file's own block size wins; a larger existing
 * file keeps its size; a shorter one is grown_from when it was a whole ring,
 * else short_bytes). scratch holds RINGLOG_MAX_BLOCK bytes. 0, or -1 when
 * out of memory or the sizes are unusable. */
int ringlog_recover(struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint64_t file_len, uint64_t size,
                    uint32_t block_size, uint8_t *scratch);
void ringlog_recovery_free(struct ringlog_recovery *rc);

/* The head without reading the file: block 0's header names the spool,
 * a binary search over O(log n) block headers finds the newest block,
 * the head block and any torn block after it are read whole, and headers
 * at doubling distances past the head must all be older laps or empty.
 * Every other block is left RINGLOG_BLK_UNSCANNED (rc->unscanned of them)
 * for ringlog_recover_step; the counters cover only what was read.
 * Returns 0; 1 when the file is not a clean ring that way (no spool, a
 * damaged or contradicting header on the way): the caller then runs
 * ringlog_recover; -1 as ringlog_recover. */
int ringlog_recover_fast(struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint64_t file_len, uint64_t size,
                         uint32_t block_size, uint8_t *scratch);

/* Reads up to max unscanned blocks into their summaries and counters,
 * never one the writer has started since (it is no longer unscanned).
 * When the last is read, the lost blocks are inferred as ringlog_recover
 * does. Returns how many stay unscanned. */
uint32_t ringlog_recover_step(struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint64_t file_len,
                              uint8_t *scratch, uint32_t max);

/* Block indices in write order (oldest first), skipping empty and lost
 * blocks. order holds nblocks entries; returns how many were set. */
uint32_t ringlog_block_order(const struct ringlog_recovery *rc, uint32_t *order);

/* Folds one record into a block's summary. */
void ringlog_block_note(struct ringlog_block_info *b, const struct ringlog_record *r);

#endif
