/* Recovery scan: see ringlog_scan.h. */
#include "ringlog_scan.h"

#include <stdlib.h>
#include <string.h>

void ringlog_block_walk(const uint8_t *blk, size_t len, uint64_t file_id, ringlog_record_cb cb, void *ctx,
                        struct ringlog_scan_stats *st)
{
    size_t off = RINGLOG_BLOCK_HDR, bad_until = 0;

    while (off + 2 <= len) {
        struct ringlog_record r;
        size_t size = 0;

        switch (ringlog_record_decode(blk + off, len - off, file_id, &r, &size)) {
        case RINGLOG_REC_OK:
            st->records++;
            if (cb)
                cb(ctx, &r, (uint32_t)off);
            off += size;
            continue;
        case RINGLOG_REC_BAD:
            /* Count the damage once, not again for magic-looking bytes
             * inside the damaged record while we resynchronise. */
            if (off >= bad_until) {
                st->bad_records++;
                st->discarded_bytes += size;
                bad_until = off + size;
            }
            break;
        case RINGLOG_REC_NONE:
            break;
        }
        off += 4;
    }
}

void ringlog_block_note(struct ringlog_block_info *b, const struct ringlog_record *r)
{
    if (b->records == 0) {
        b->boot = r->boot;
        b->min_seq = b->max_seq = r->seq;
        b->min_wall = b->max_wall = r->wall_us;
    } else if (r->boot == b->boot) {
        if (r->seq < b->min_seq) {
            b->min_seq = r->seq;
            b->min_wall = r->wall_us;
        }
        if (r->seq > b->max_seq) {
            b->max_seq = r->seq;
            b->max_wall = r->wall_us;
        }
    } else {
        b->mixed = 1;
    }
    b->levels |= (uint8_t)(1u << (r->level & 7));
    b->records++;
}

static void note_record(void *ctx, const struct ringlog_record *r, uint32_t offset)
{
    (void)offset;
    ringlog_block_note(ctx, r);
}

static int all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Counts the valid headers at every multiple of bs that say bs, and picks
 * the file_id most of them carry (Boyer-Moore majority vote). */
static uint32_t headers_at(ringlog_read_fn rd, void *ctx, uint64_t file_len, uint32_t bs, uint64_t *file_id)
{
    uint8_t h[RINGLOG_BLOCK_HDR];
    uint64_t candidate = 0;
    uint32_t votes = 0, valid = 0;

    for (uint64_t off = 0; off + RINGLOG_BLOCK_HDR <= file_len; off += bs) {
        struct ringlog_block_hdr hdr;

        if (rd(ctx, off, h, sizeof(h)) != sizeof(h) || ringlog_block_hdr_decode(h, sizeof(h), &hdr) < 0 ||
            hdr.block_size != bs)
            continue;
        valid++;
        if (votes == 0) {
            candidate = hdr.file_id;
            votes = 1;
        } else {
            votes += hdr.file_id == candidate ? 1 : (uint32_t)-1;
        }
    }
    *file_id = candidate;
    return valid;
}

/* The block size the file was written with: the configured one if any
 * header agrees, else the first header found on a 512-byte boundary that
 * sits where its own block size says it should. */
static uint32_t detect_block_size(ringlog_read_fn rd, void *ctx, uint64_t file_len, uint32_t configured,
                                  uint64_t *file_id)
{
    uint8_t h[RINGLOG_BLOCK_HDR];

    if (headers_at(rd, ctx, file_len, configured, file_id) > 0)
        return configured;
    for (uint64_t off = 0; off + RINGLOG_BLOCK_HDR <= file_len; off += RINGLOG_MIN_BLOCK) {
        struct ringlog_block_hdr hdr;

        if (rd(ctx, off, h, sizeof(h)) == sizeof(h) && ringlog_block_hdr_decode(h, sizeof(h), &hdr) == 0 &&
            off % hdr.block_size == 0 && headers_at(rd, ctx, file_len, hdr.block_size, file_id) > 0)
            return hdr.block_size;
    }
    *file_id = 0;
    return configured;
}

static void scan_block(struct ringlog_recovery *rc, uint32_t i, ringlog_read_fn rd, void *ctx, uint64_t file_len,
                       uint8_t *buf)
{
    struct ringlog_block_info *b = &rc->blocks[i];
    uint64_t off = (uint64_t)i * rc->block_size;
    size_t len = off < file_len ? rd(ctx, off, buf, rc->block_size) : 0;
    struct ringlog_block_hdr hdr;

    memset(b, 0, sizeof(*b));
    if (len == 0 || all_zero(buf, len)) {
        b->state = RINGLOG_BLK_EMPTY;
        return;
    }
    if (ringlog_block_hdr_decode(buf, len, &hdr) == 0 && hdr.block_size == rc->block_size &&
        hdr.file_id == rc->file_id) {
        b->state = RINGLOG_BLK_VALID;
        b->gen = hdr.generation;
    } else {
        b->state = RINGLOG_BLK_BAD_HEADER;
    }
    ringlog_block_walk(buf, len, rc->file_id, note_record, b, &rc->stats);
    /* A damaged header over records is damage; noise in a block that held
     * nothing is not (it may still turn out lost, below). */
    if (b->state == RINGLOG_BLK_BAD_HEADER && b->records > 0)
        rc->bad_headers++;
}

static uint32_t next_index(const struct ringlog_recovery *rc, uint32_t i)
{
    return i + 1 == rc->nblocks ? 0 : i + 1;
}

/* The newest valid block, then any block right after it whose header was
 * torn but whose records continue the same boot: it is newer still, and
 * writing over it would destroy the last records before a crash. */
static void find_head(struct ringlog_recovery *rc)
{
    struct ringlog_block_info *b = rc->blocks;
    int found = 0;

    for (uint32_t i = 0; i < rc->nblocks; i++)
        if (b[i].state == RINGLOG_BLK_VALID && (!found || b[i].gen > b[rc->head].gen)) {
            rc->head = i;
            found = 1;
        }
    if (!found) {
        rc->head = rc->nblocks - 1;
        rc->next_gen = 1;
        return;
    }
    for (uint32_t j = next_index(rc, rc->head); j != rc->head; j = next_index(rc, j)) {
        struct ringlog_block_info *h = &b[rc->head];

        if (b[j].state != RINGLOG_BLK_BAD_HEADER || b[j].records == 0 || h->records == 0 ||
            b[j].boot != h->boot || b[j].min_seq <= h->max_seq)
            break;
        b[j].gen = h->gen + 1;
        rc->head = j;
    }
    rc->next_gen = b[rc->head].gen + 1;
}

/* Between two valid blocks of the same lap (generations as far apart as
 * their indices), every block was written: a damaged header there gets its
 * generation back, and an empty block there was lost. Other damaged headers
 * get a generation from the closest valid block before them, good enough
 * to order their records. */
static void infer_generations(struct ringlog_recovery *rc)
{
    struct ringlog_block_info *b = rc->blocks;
    uint32_t n = rc->nblocks, prev = n;

    for (uint32_t i = 0; i < n; i++) {
        if (b[i].state != RINGLOG_BLK_VALID)
            continue;
        if (prev != n && b[i].gen > b[prev].gen && b[i].gen - b[prev].gen == i - prev)
            for (uint32_t k = prev + 1; k < i; k++) {
                if (b[k].state == RINGLOG_BLK_BAD_HEADER && b[k].records > 0) {
                    b[k].gen = b[prev].gen + (k - prev);
                } else if (b[k].state != RINGLOG_BLK_VALID && b[k].state != RINGLOG_BLK_LOST) {
                    b[k].state = RINGLOG_BLK_LOST;
                    b[k].gen = b[prev].gen + (k - prev);
                    rc->lost_blocks++;
                    rc->stats.discarded_bytes += rc->block_size;
                }
            }
        prev = i;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (b[i].state != RINGLOG_BLK_BAD_HEADER || b[i].gen != 0)
            continue;
        for (uint32_t d = 1; d < n; d++) {
            uint32_t k = (i + n - d) % n;

            if (b[k].state == RINGLOG_BLK_VALID) {
                b[i].gen = b[k].gen + d;
                break;
            }
        }
    }
}

/* Bytes of a file with no block of ours that are not zero, in 512-byte
 * steps: what formatting it will overwrite. */
static uint64_t nonzero_bytes(ringlog_read_fn rd, void *ctx, uint64_t file_len, uint8_t *buf)
{
    uint64_t n = 0;

    for (uint64_t off = 0; off < file_len; off += RINGLOG_MAX_BLOCK) {
        size_t len = rd(ctx, off, buf, RINGLOG_MAX_BLOCK);

        for (size_t at = 0; at < len; at += RINGLOG_MIN_BLOCK) {
            size_t step = len - at < RINGLOG_MIN_BLOCK ? len - at : RINGLOG_MIN_BLOCK;

            if (!all_zero(buf + at, step))
                n += step;
        }
        if (len < RINGLOG_MAX_BLOCK)
            break;
    }
    return n;
}

/* A file shorter than the ring configured now: grown (it was a whole ring,
 * nothing is missing) or cut (records may be missing past its end). It was
 * a whole ring when it ends at a block boundary and the writer neither was
 * at its last block nor wrapped anywhere but at its end (block 0 written
 * right after its last block). */
static void judge_short(struct ringlog_recovery *rc, uint64_t file_len)
{
    const struct ringlog_block_info *b = rc->blocks;
    uint32_t last;

    if (rc->short_bytes == 0 || file_len == 0 || file_len % rc->block_size != 0)
        return;
    last = (uint32_t)(file_len / rc->block_size) - 1;
    if (rc->head == last && b[last].records > 0)
        return;
    if (b[last].state == RINGLOG_BLK_VALID && !(b[0].state == RINGLOG_BLK_VALID && b[0].gen == b[last].gen + 1))
        return;
    rc->grown_from = file_len;
    rc->short_bytes = 0;
}

int ringlog_recover(struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint64_t file_len, uint64_t size,
                    uint32_t block_size, uint8_t *scratch)
{
    uint64_t ring;

    memset(rc, 0, sizeof(*rc));
    if (!ringlog_block_size_ok(block_size))
        return -1;
    rc->block_size = detect_block_size(rd, ctx, file_len, block_size, &rc->file_id);
    ring = size > file_len ? size : file_len;
    rc->nblocks = (uint32_t)(ring / rc->block_size);
    if (ring / rc->block_size < 2 || ring / rc->block_size > UINT32_MAX)
        return -1;
    rc->short_bytes = size > file_len ? size - file_len : 0;
    rc->blocks = calloc(rc->nblocks, sizeof(*rc->blocks));
    if (!rc->blocks)
        return -1;
    if (rc->file_id == 0) {
        /* Nothing of ours: the whole file is free; what it held is said. */
        rc->foreign_bytes = nonzero_bytes(rd, ctx, file_len, scratch);
        for (uint32_t i = 0; i < rc->nblocks; i++)
            rc->blocks[i].state = RINGLOG_BLK_EMPTY;
        rc->head = rc->nblocks - 1;
        rc->next_gen = 1;
        rc->scan_next = UINT32_MAX;
        return 0;
    }
    for (uint32_t i = 0; i < rc->nblocks; i++)
        scan_block(rc, i, rd, ctx, file_len, scratch);
    find_head(rc);
    infer_generations(rc);
    judge_short(rc, file_len);
    rc->head_gen = rc->blocks[rc->head].gen;
    rc->scan_next = UINT32_MAX;
    return 0;
}

/* What a block's header alone says, for the fast path. */
enum probe { PROBE_ZERO, PROBE_OURS, PROBE_OTHER };

static enum probe probe_header(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint64_t file_len,
                               uint32_t i, uint64_t *gen)
{
    uint8_t h[RINGLOG_BLOCK_HDR];
    uint64_t off = (uint64_t)i * rc->block_size;
    struct ringlog_block_hdr hdr;
    size_t len = off < file_len ? rd(ctx, off, h, sizeof(h)) : 0;

    if (all_zero(h, len))
        return PROBE_ZERO;
    if (len == sizeof(h) && ringlog_block_hdr_decode(h, len, &hdr) == 0 && hdr.block_size == rc->block_size &&
        hdr.file_id == rc->file_id) {
        *gen = hdr.generation;
        return PROBE_OURS;
    }
    return PROBE_OTHER;
}

int ringlog_recover_fast(struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint64_t file_len, uint64_t size,
                         uint32_t block_size, uint8_t *scratch)
{
    uint8_t h[RINGLOG_BLOCK_HDR];
    struct ringlog_block_hdr first;
    uint64_t ring, gen0, gen = 0, in_file;
    uint32_t lo = 0, hi;

    memset(rc, 0, sizeof(*rc));
    if (!ringlog_block_size_ok(block_size))
        return -1;
    if (rd(ctx, 0, h, sizeof(h)) != sizeof(h) || ringlog_block_hdr_decode(h, sizeof(h), &first) < 0)
        return 1;
    rc->block_size = first.block_size;
    rc->file_id = first.file_id;
    gen0 = first.generation;
    ring = size > file_len ? size : file_len;
    if (ring / rc->block_size < 2 || ring / rc->block_size > UINT32_MAX)
        return -1;
    rc->nblocks = (uint32_t)(ring / rc->block_size);
    rc->short_bytes = size > file_len ? size - file_len : 0;
    rc->blocks = calloc(rc->nblocks, sizeof(*rc->blocks));
    if (!rc->blocks)
        return -1;
    in_file = (file_len + rc->block_size - 1) / rc->block_size;
    if (in_file > rc->nblocks)
        in_file = rc->nblocks;
    for (uint64_t i = in_file; i < rc->nblocks; i++)
        rc->blocks[i].state = RINGLOG_BLK_EMPTY;
    rc->unscanned = (uint32_t)in_file;

    /* Blocks 0..head are this lap, generations gen0, gen0 + 1, ...; the
     * ones after it an older lap, or never written. */
    hi = (uint32_t)in_file;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;

        switch (probe_header(rc, rd, ctx, file_len, mid, &gen)) {
        case PROBE_ZERO:
            hi = mid;
            break;
        case PROBE_OURS:
            if (gen >= gen0)
                lo = mid;
            else
                hi = mid;
            break;
        case PROBE_OTHER:
            goto unsure;
        }
    }
    if (lo > 0 && (probe_header(rc, rd, ctx, file_len, lo, &gen) != PROBE_OURS || gen - gen0 != lo))
        goto unsure;
    rc->head = lo;
    scan_block(rc, lo, rd, ctx, file_len, scratch);
    rc->unscanned--;
    if (rc->blocks[lo].state != RINGLOG_BLK_VALID)
        goto unsure;
    /* A torn header right after the head over records that continue its
     * boot: newer still (as find_head says). */
    for (;;) {
        uint32_t j = next_index(rc, rc->head);
        struct ringlog_block_info *b = &rc->blocks[j], *hb = &rc->blocks[rc->head];

        if (b->state != RINGLOG_BLK_UNSCANNED || probe_header(rc, rd, ctx, file_len, j, &gen) != PROBE_OTHER)
            break;
        scan_block(rc, j, rd, ctx, file_len, scratch);
        rc->unscanned--;
        if (b->state != RINGLOG_BLK_BAD_HEADER || b->records == 0 || hb->records == 0 || b->boot != hb->boot ||
            b->min_seq <= hb->max_seq)
            goto unsure;
        b->gen = hb->gen + 1;
        rc->head = j;
    }
    rc->head_gen = rc->blocks[rc->head].gen;
    if (rc->head_gen == UINT64_MAX)
        goto unsure; /* no next generation: not a spool we wrote */
    /* At distances 1, 2, 4, ... past the head: an older lap or nothing
     * up to the end of the ring, then this lap again from block 0. */
    for (uint64_t d = 1; d < rc->nblocks; d *= 2) {
        uint32_t k = (uint32_t)((rc->head + d) % rc->nblocks);
        enum probe p;

        if (rc->blocks[k].state != RINGLOG_BLK_UNSCANNED)
            continue;
        p = probe_header(rc, rd, ctx, file_len, k, &gen);
        if (k > rc->head ? p == PROBE_OTHER || (p == PROBE_OURS && gen >= gen0)
                         : p != PROBE_OURS || gen != gen0 + k)
            goto unsure;
    }
    rc->next_gen = rc->head_gen + 1;
    /* Grown or cut (see judge_short), from the headers. */
    if (rc->short_bytes && file_len % rc->block_size == 0) {
        uint32_t last = (uint32_t)(file_len / rc->block_size) - 1;
        enum probe p = probe_header(rc, rd, ctx, file_len, last, &gen);

        if (!(rc->head == last && rc->blocks[last].records > 0) && !(p == PROBE_OURS && gen0 != gen + 1))
            rc->grown_from = file_len;
    }
    if (rc->grown_from)
        rc->short_bytes = 0;
    rc->scan_next = next_index(rc, rc->head);
    return 0;

unsure:
    ringlog_recovery_free(rc);
    return 1;
}

uint32_t ringlog_recover_step(struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint64_t file_len,
                              uint8_t *scratch, uint32_t max)
{
    uint32_t left = rc->nblocks;

    /* Oldest first, from the block after the head. */
    for (; rc->unscanned > 0 && max > 0 && left > 0; left--) {
        uint32_t i = rc->scan_next;
        struct ringlog_block_info *b = &rc->blocks[i];

        rc->scan_next = next_index(rc, i);
        if (b->state != RINGLOG_BLK_UNSCANNED)
            continue;
        scan_block(rc, i, rd, ctx, file_len, scratch);
        if (b->state == RINGLOG_BLK_VALID && b->gen > rc->head_gen)
            rc->newer_blocks++;
        rc->unscanned--;
        max--;
    }
    if (left == 0)
        rc->unscanned = 0; /* a whole lap found none: the count was off, never loop on it */
    if (rc->unscanned == 0 && rc->scan_next != UINT32_MAX) {
        infer_generations(rc);
        rc->scan_next = UINT32_MAX;
    }
    return rc->unscanned;
}

void ringlog_recovery_free(struct ringlog_recovery *rc)
{
    free(rc->blocks);
    rc->blocks = NULL;
}

static const struct ringlog_block_info *sort_blocks;

static int by_generation(const void *a, const void *b)
{
    uint64_t ga = sort_blocks[*(const uint32_t *)a].gen, gb = sort_blocks[*(const uint32_t *)b].gen;

    return ga < gb ? -1 : ga > gb;
}

uint32_t ringlog_block_order(const struct ringlog_recovery *rc, uint32_t *order)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < rc->nblocks; i++)
        if ((rc->blocks[i].state == RINGLOG_BLK_VALID || rc->blocks[i].state == RINGLOG_BLK_BAD_HEADER) &&
            rc->blocks[i].records > 0)
            order[n++] = i;
    sort_blocks = rc->blocks;
    qsort(order, n, sizeof(*order), by_generation);
    return n;
}
