/*
 * The write side of the spool: records are laid out in an in-memory copy of
 * the block being filled; bytes go to the file once (pwrite of what is new
 * since the last write), so a byte logged is a byte written. A block is
 * written when it is full, or when the owner syncs.
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
    uint32_t block;                    /* being filled */
    uint64_t next_gen;
    uint8_t *buf;                    /* the block being filled */
    uint32_t fill;                   /* bytes laid out in buf */
    uint32_t written;                /* bytes of buf already in the file */
    int in_block;                    /* 0 until this session starts its first block */
    uint64_t last_seq;               /* appended */
    uint64_t synced_seq;             /* on stable storage */
    uint64_t unsynced_bytes;
    /* counters */
    uint64_t write_bytes, record_bytes, records, syncs, io_errors;
    int last_errno;
};

/* Takes the recovery's block summaries (they stay owned by rc). The first
 * record goes into a fresh block after rc->head: a session never appends to
 * a block another session wrote. 0, or -1 when out of memory. */
int ringlog_writer_init(struct ringlog_writer *w, int fd, struct ringlog_recovery *rc, uint64_t boot);
void ringlog_writer_free(struct ringlog_writer *w);

/* 0; -1 with w->last_errno when writing the block it filled failed (that
 * block's unwritten records are lost and counted in io_errors; the record
 * itself went into the next block); -2 when the record can never fit a
 * block. */
int ringlog_writer_append(struct ringlog_writer *w, const struct ringlog_record *r);
/* Writes what is laid out but not yet in the file. 0 or -1. */
int ringlog_writer_flush(struct ringlog_writer *w);
/* Flush, then fdatasync. 0 or -1. */
int ringlog_writer_sync(struct ringlog_writer *w);

#endif
