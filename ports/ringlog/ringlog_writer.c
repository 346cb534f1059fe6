/* The spool's write side: see ringlog_writer.h. */
#include "ringlog_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ringlog_writer_init(struct ringlog_writer *w, int fd, struct ringlog_recovery *rc, uint64_t boot)
{
    memset(w, 0, sizeof(*w));
    w->buf = calloc(1, rc->block_size);
    w->retry.buf = calloc(1, rc->block_size);
    if (!w->buf || !w->retry.buf) {
        ringlog_writer_free(w);
        return -1;
    }
    w->fd = fd;
    w->file_id = rc->file_id;
    w->boot = boot;
    w->block_size = rc->block_size;
    w->nblocks = rc->nblocks;
    w->blocks = rc->blocks;
    w->unscanned = &rc->unscanned;
    w->block = rc->head;
    w->next_gen = rc->next_gen;
    return 0;
}

void ringlog_writer_free(struct ringlog_writer *w)
{
    free(w->buf);
    free(w->retry.buf);
    w->buf = w->retry.buf = NULL;
}

/* Writes buf[*written..fill) to the block at base, moving *written over
 * what reached the file. */
static int write_all(struct ringlog_writer *w, const uint8_t *buf, uint32_t *written, uint32_t fill, off_t base)
{
    while (*written < fill) {
        ssize_t n = pwrite(w->fd, buf + *written, fill - *written, base + *written);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            w->last_errno = errno;
            w->io_errors++;
            return -1;
        }
        w->write_bytes += (uint64_t)n;
        *written += (uint32_t)n;
    }
    return 0;
}

/* The waiting block's records will never reach the file: count them lost,
 * and keep queries from looking for them there. */
static void give_up_retry(struct ringlog_writer *w)
{
    if (!w->retry.waiting)
        return;
    w->lost_records += w->retry.records;
    if (!w->lost_first_seq || w->retry.first_seq < w->lost_first_seq)
        w->lost_first_seq = w->retry.first_seq;
    if (w->retry.last_seq > w->lost_last_seq)
        w->lost_last_seq = w->retry.last_seq;
    w->blocks[w->retry.block] = (struct ringlog_block_info){.state = RINGLOG_BLK_LOST};
    w->retry.waiting = 0;
}

static int retry_block(struct ringlog_writer *w)
{
    if (!w->retry.waiting)
        return 0;
    w->block_retries++;
    if (write_all(w, w->retry.buf, &w->retry.written, w->retry.fill, (off_t)w->retry.block * w->block_size) < 0)
        return -1;
    w->retry.waiting = 0;
    return 0;
}

int ringlog_writer_flush(struct ringlog_writer *w)
{
    int rc = retry_block(w);

    if (w->in_block &&
        write_all(w, w->buf, &w->written, w->fill, (off_t)w->block * w->block_size) < 0)
        rc = -1;
    return rc;
}

/* The full block could not be written: it waits for a retry in the spare
 * buffer, giving up the one waiting before it (a failing disk must not
 * grow memory). */
static void park_block(struct ringlog_writer *w)
{
    uint8_t *spare = w->retry.buf;

    give_up_retry(w);
    w->retry.buf = w->buf;
    w->buf = spare;
    w->retry.block = w->block;
    w->retry.fill = w->fill;
    w->retry.written = w->written;
    w->retry.first_seq = w->block_first_seq;
    w->retry.last_seq = w->last_seq;
    w->retry.records = w->blocks[w->block].records;
    w->retry.waiting = 1;
}

/* The next block gets a new generation; whatever an older lap left past
 * our records stays there until overwritten (the scanner tells it apart by
 * boot and sequence number), so nothing is written twice. */
static void start_block(struct ringlog_writer *w)
{
    struct ringlog_block_hdr h = {w->next_gen++, w->file_id, w->block_size};
    struct ringlog_block_info *b;

    w->block = w->block + 1 == w->nblocks ? 0 : w->block + 1;
    if (w->retry.waiting && w->retry.block == w->block)
        give_up_retry(w); /* the ring came round to it: it would be overwritten now anyway */
    b = &w->blocks[w->block];
    if (b->state == RINGLOG_BLK_UNSCANNED && *w->unscanned > 0)
        (*w->unscanned)--; /* what it held is gone before it was read */
    *b = (struct ringlog_block_info){.gen = h.generation, .state = RINGLOG_BLK_VALID,
                                   .mixed = b->records > 0 || b->mixed || b->state == RINGLOG_BLK_UNSCANNED};
    memset(w->buf, 0, w->block_size);
    ringlog_block_hdr_encode(w->buf, &h);
    w->fill = RINGLOG_BLOCK_HDR;
    w->written = 0;
    w->in_block = 1;
}

int ringlog_writer_append(struct ringlog_writer *w, const struct ringlog_record *r)
{
    struct ringlog_record rec = *r;
    size_t size = ringlog_record_size(r->len);
    int rc = 0;

    if (r->len > ringlog_max_payload(w->block_size) || r->level > RINGLOG_MAX_LEVEL)
        return -2;
    rec.boot = w->boot;
    if (!w->in_block || w->fill + size > w->block_size) {
        /* A failed write of the full block is counted and reported; the
         * block waits for a retry and the ring moves on rather than stall
         * every later record behind it. */
        /* What an older lap left past our records would read as records
         * of its boot until the next lap: a full block's tail is written
         * as zeros, so that its summary alone answers for it. */
        if (w->in_block && w->blocks[w->block].mixed) {
            w->tail_bytes += w->block_size - w->fill;
            w->fill = w->block_size;
            w->blocks[w->block].mixed = 0;
        }
        if (w->in_block && ringlog_writer_flush(w) < 0) {
            rc = -1;
            if (w->written < w->fill)
                park_block(w);
        }
        start_block(w);
    }
    if (w->fill == RINGLOG_BLOCK_HDR)
        w->block_first_seq = rec.seq;
    ringlog_record_encode(w->buf + w->fill, w->block_size - w->fill, w->file_id, &rec);
    w->fill += (uint32_t)size;
    ringlog_block_note(&w->blocks[w->block], &rec);
    w->last_seq = rec.seq;
    w->unsynced_bytes += size;
    w->record_bytes += size;
    w->records++;
    return rc;
}

int ringlog_writer_sync(struct ringlog_writer *w)
{
    struct stat st;

    if (w->must_be_linked && fstat(w->fd, &st) == 0 && st.st_nlink == 0) {
        w->last_errno = ENOENT;
        w->io_errors++;
        return -1;
    }
    if (ringlog_writer_flush(w) < 0)
        return -1;
    if (w->unsynced_bytes == 0)
        return 0;
    if (fdatasync(w->fd) < 0) {
        w->last_errno = errno;
        w->io_errors++;
        return -1;
    }
    w->syncs++;
    w->unsynced_bytes = 0;
    /* Never over a lost record: after a loss the floor stays below it. */
    if (w->lost_first_seq && w->lost_first_seq <= w->last_seq) {
        if (w->lost_first_seq - 1 > w->synced_seq)
            w->synced_seq = w->lost_first_seq - 1;
    } else {
        w->synced_seq = w->last_seq;
    }
    return 0;
}
