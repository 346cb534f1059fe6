/* The spool's write side: see ringlog_writer.h. */
#include "ringlog_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ringlog_writer_init(struct ringlog_writer *w, int fd, struct ringlog_recovery *rc, uint64_t boot)
{
    memset(w, 0, sizeof(*w));
    w->buf = calloc(1, rc->block_size);
    if (!w->buf)
        return -1;
    w->fd = fd;
    w->file_id = rc->file_id;
    w->boot = boot;
    w->block_size = rc->block_size;
    w->nblocks = rc->nblocks;
    w->blocks = rc->blocks;
    w->block = rc->head;
    w->next_gen = rc->next_gen;
    return 0;
}

void ringlog_writer_free(struct ringlog_writer *w)
{
    free(w->buf);
    w->buf = NULL;
}

static int write_all(struct ringlog_writer *w, const uint8_t *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(w->fd, p, len, off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            w->last_errno = errno;
            w->io_errors++;
            return -1;
        }
        w->write_bytes += (uint64_t)n;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int ringlog_writer_flush(struct ringlog_writer *w)
{
    off_t base = (off_t)w->block * w->block_size;

    if (!w->in_block || w->written == w->fill)
        return 0;
    if (write_all(w, w->buf + w->written, w->fill - w->written, base + w->written) < 0)
        return -1;
    w->written = w->fill;
    return 0;
}

/* The next block gets a new generation; whatever an older lap left past
 * our records stays there until overwritten (the scanner tells it apart by
 * boot and sequence number), so nothing is written twice. */
static void start_block(struct ringlog_writer *w)
{
    struct ringlog_block_hdr h = {w->next_gen++, w->file_id, w->block_size};
    struct ringlog_block_info *b;

    w->block = w->block + 1 == w->nblocks ? 0 : w->block + 1;
    b = &w->blocks[w->block];
    *b = (struct ringlog_block_info){.gen = h.generation, .state = RINGLOG_BLK_VALID,
                                   .mixed = b->records > 0 || b->mixed};
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
        /* A failed write of the full block is counted and reported; the ring
         * moves on rather than stall every later record behind it. */
        if (w->in_block && ringlog_writer_flush(w) < 0)
            rc = -1;
        start_block(w);
    }
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
    w->synced_seq = w->last_seq;
    return 0;
}
