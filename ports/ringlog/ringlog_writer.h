/*
 * The write side of the spool: records are laid out in an in-memory copy of
 * the block being filled; bytes go to the file once (pwrite of what is new
 * since the last write), so a byte logged is a byte written. A block is
 * written when it is full, or when the owner syncs.
 *
 * A full block whose write fails (ENOSPC in a sparse file, EIO) is kept and
 * retried before anything else is written; the ring moves on meanwhile. Only
 * when a second block fails while one is still waiting, or the ring comes
 * round to the waiting block's place, are its records given up: counted as
 * lost, never counted as synced. synced_seq only moves over records that are
 * on stable storage, so after a loss it stays below the first lost record
 * for the rest of the session.
 */
#ifndef RINGLOG_WRITER_H
#define RINGLOG_WRITER_H

#include <stdint.h>

#include "ringlog_scan.h"

struct ringlog_writer {
    int fd;
    uint64_t file_id;
    uint64_t boot;
    uint32_t block_size;
    uint32_t nblocks;
    struct ringlog_block_info *blocks; /* the recovery's summaries, kept current */
    uint32_t *unscanned;               /* the recovery's count of blocks not read yet */
    uint32_t block;                    /* being filled */
    uint64_t next_gen;
    uint8_t *buf;                    /* the block being filled */
    uint32_t fill;                   /* bytes laid out in buf */
    uint32_t written;                /* bytes of buf already in the file */
    int in_block;                    /* 0 until this session starts its first block */
    int must_be_linked;              /* a sync of a file no longer in any directory fails */
    uint64_t block_first_seq;        /* of the first record in buf */
    uint64_t last_seq;               /* appended */
    uint64_t synced_seq;             /* every record up to here is on stable storage */
    uint64_t unsynced_bytes;
    /* a full block whose write failed, waiting to be retried */
    struct {
        uint8_t *buf;
        uint32_t block, fill, written;
        uint64_t first_seq, last_seq, records;
        int waiting;
    } retry;
    /* records given up, and the range they spanned (0 while none) */
    uint64_t lost_records, lost_first_seq, lost_last_seq;
    /* counters */
    uint64_t write_bytes, record_bytes, records, syncs, io_errors, block_retries;
    uint64_t tail_bytes; /* zeros written over an older lap's leftovers */
    int last_errno;
};

/* Takes the recovery's block summaries (they stay owned by rc). The first
 * record goes into a fresh block after rc->head: a session never appends to
 * a block another session wrote. 0, or -1 when out of memory. */
int ringlog_writer_init(struct ringlog_writer *w, int fd, struct ringlog_recovery *rc, uint64_t boot);
void ringlog_writer_free(struct ringlog_writer *w);

/* 0; -1 with w->last_errno when writing the block it filled failed (the
 * block waits to be retried; the record itself went into the next block);
 * -3 when, besides, an older failed block had to be given up (see
 * lost_records); -2 when the record can never fit a block. */
int ringlog_writer_append(struct ringlog_writer *w, const struct ringlog_record *r);
/* Writes a failed block waiting for a retry, then what is laid out but not
 * yet in the file. 0 or -1. */
int ringlog_writer_flush(struct ringlog_writer *w);
/* Flush, then fdatasync. 0 or -1 (ENOENT when must_be_linked and the file
 * was deleted: what it holds is gone at the next boot, so nothing counts as
 * synced). */
int ringlog_writer_sync(struct ringlog_writer *w);

#endif
