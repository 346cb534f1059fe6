/*
 * Recovery: walking the records of a block, and finding the ring's head,
 * its order and its damage when the file is opened. Pure: the file is seen
 * through a read callback, so tests and the fuzzer run it over memory.
 */
#ifndef SPOOL_SCAN_H
#define SPOOL_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog_format.h"

struct spool_scan_stats {
    uint64_t records;         /* whose CRC holds */
    uint64_t bad_records;     /* record headers whose fields or CRC do not hold */
    uint64_t discarded_bytes; /* bytes those claimed, plus lost blocks */
};

typedef void (*spool_record_cb)(void *ctx, const struct spool_record *r, uint32_t offset);

/* Calls cb for every record whose CRC holds in blk[SPOOL_BLOCK_HDR, len),
 * in file order. After damage it resynchronises on the next aligned record
 * magic, so one flipped bit costs one record. */
void spool_block_walk(const uint8_t *blk, size_t len, uint64_t file_id, spool_record_cb cb, void *ctx,
                      struct spool_scan_stats *st);

enum spool_block_state {
    SPOOL_BLK_EMPTY = 0, /* never written (or beyond the end of a short file) */
    SPOOL_BLK_VALID,     /* header holds */
    SPOOL_BLK_BAD_HEADER,/* header damaged: records still used, generation inferred */
    SPOOL_BLK_LOST,      /* inside the written run but unreadable (zeroed, wiped) */
};

struct spool_block_info {
    uint64_t gen;     /* from the header, or inferred from neighbours */
    uint64_t boot;    /* of the first record */
    uint64_t min_seq; /* of the records of that boot */
    uint64_t max_seq;
    uint32_t records;
    uint8_t state;
    uint8_t mixed; /* also holds records of other boots (stale ones past the tail) */
};

/* The file seen by recovery: reads up to len bytes at off, returns how many
 * (fewer at the end of the file). */
typedef size_t (*spool_read_fn)(void *ctx, uint64_t off, uint8_t *buf, size_t len);

struct spool_recovery {
    uint64_t file_id;   /* 0 when no valid block was found: the caller formats */
    uint32_t block_size;
    uint32_t nblocks;
    uint32_t head;      /* newest block; the writer continues at head + 1 */
    uint64_t next_gen;
    struct spool_scan_stats stats;
    uint32_t bad_headers;
    uint32_t lost_blocks;
    uint64_t short_bytes; /* the file is this much shorter than the ring */
    struct spool_block_info *blocks; /* nblocks entries, owned */
};

/* Scans a file of file_len bytes meant to be a ring of size bytes in blocks
 * of block_size (an existing file's own block size wins; a larger existing
 * file keeps its size). scratch holds SPOOL_MAX_BLOCK bytes. 0, or -1 when
 * out of memory or the sizes are unusable. */
int spool_recover(struct spool_recovery *rc, spool_read_fn rd, void *ctx, uint64_t file_len, uint64_t size,
                  uint32_t block_size, uint8_t *scratch);
void spool_recovery_free(struct spool_recovery *rc);

/* Block indices in write order (oldest first), skipping empty and lost
 * blocks. order holds nblocks entries; returns how many were set. */
uint32_t spool_block_order(const struct spool_recovery *rc, uint32_t *order);

/* Folds one record into a block's summary. */
void spool_block_note(struct spool_block_info *b, const struct spool_record *r);

#endif
