/* Boots and record lookup over a recovered spool: see ringlog_index.h. */
#include "ringlog_index.h"

#include <stdlib.h>
#include <string.h>

static size_t read_block(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint32_t i, uint8_t *buf)
{
    return rd(ctx, (uint64_t)i * rc->block_size, buf, rc->block_size);
}

struct boots_acc {
    struct ringlog_boot *v;
    size_t n, size;
    int oom;
};

static void add_to_boot(void *ctx, const struct ringlog_record *r, uint32_t offset)
{
    struct boots_acc *a = ctx;
    struct ringlog_boot *b = NULL;

    (void)offset;
    /* The boot being read is almost always the last one seen. */
    for (size_t i = a->n; i-- > 0;)
        if (a->v[i].boot == r->boot) {
            b = &a->v[i];
            break;
        }
    if (!b) {
        if (a->n == a->size) {
            size_t size = a->size ? a->size * 2 : 16;
            struct ringlog_boot *grown = realloc(a->v, size * sizeof(*grown));

            if (!grown) {
                a->oom = 1;
                return;
            }
            a->v = grown;
            a->size = size;
        }
        b = &a->v[a->n++];
        *b = (struct ringlog_boot){r->boot, r->seq, r->seq, 0, r->wall_us, r->wall_us};
    }
    if (r->seq < b->first_seq) {
        b->first_seq = r->seq;
        b->first_wall = r->wall_us;
    }
    if (r->seq > b->last_seq) {
        b->last_seq = r->seq;
        b->last_wall = r->wall_us;
    }
    b->records++;
}

int ringlog_boots(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint8_t *scratch,
                  struct ringlog_boot **out, size_t *n)
{
    struct boots_acc a = {0};
    struct ringlog_scan_stats st = {0};
    uint32_t *order = malloc((size_t)rc->nblocks * sizeof(*order));
    uint32_t norder;

    *out = NULL;
    *n = 0;
    if (!order)
        return -1;
    norder = ringlog_block_order(rc, order);
    for (uint32_t i = 0; i < norder && !a.oom; i++) {
        size_t len = read_block(rc, rd, ctx, order[i], scratch);

        ringlog_block_walk(scratch, len, rc->file_id, add_to_boot, &a, &st);
    }
    free(order);
    if (a.oom) {
        free(a.v);
        return -1;
    }
    *out = a.v;
    *n = a.n;
    return 0;
}

/* A max-heap on seq keeps the lowest `max` sequence numbers seen. */
struct find_acc {
    struct ringlog_found *heap;
    size_t n, max;
    uint64_t boot, from;
    uint32_t block;
    int more;
};

static void sift_down(struct ringlog_found *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        struct ringlog_found t;

        if (l < n && h[l].seq > h[top].seq)
            top = l;
        if (r < n && h[r].seq > h[top].seq)
            top = r;
        if (top == i)
            return;
        t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

static void sift_up(struct ringlog_found *h, size_t i)
{
    while (i > 0 && h[(i - 1) / 2].seq < h[i].seq) {
        struct ringlog_found t = h[i];

        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void consider(void *ctx, const struct ringlog_record *r, uint32_t offset)
{
    struct find_acc *a = ctx;
    struct ringlog_found f = {r->seq, a->block, offset};

    if (r->boot != a->boot || r->seq < a->from)
        return;
    if (a->n < a->max) {
        a->heap[a->n] = f;
        sift_up(a->heap, a->n++);
    } else if (a->max > 0 && r->seq < a->heap[0].seq) {
        a->heap[0] = f;
        sift_down(a->heap, a->n, 0);
        a->more = 1;
    } else if (a->max == 0 || r->seq > a->heap[0].seq) {
        a->more = 1;
    }
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct ringlog_found *)a)->seq, y = ((const struct ringlog_found *)b)->seq;

    return x < y ? -1 : x > y;
}

/* Blocks whose summary proves they hold nothing wanted are not read; one
 * that holds only records past those already kept means there are more. */
static int may_hold(const struct ringlog_block_info *b, struct find_acc *a)
{
    if (b->records == 0 || (b->state != RINGLOG_BLK_VALID && b->state != RINGLOG_BLK_BAD_HEADER))
        return 0;
    if (b->mixed)
        return 1;
    if (b->boot != a->boot || b->max_seq < a->from)
        return 0;
    if (a->n == a->max && a->max > 0 && b->min_seq > a->heap[0].seq) {
        a->more = 1;
        return 0;
    }
    return 1;
}

size_t ringlog_find(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint8_t *scratch, uint64_t boot,
                    uint64_t from_seq, struct ringlog_found *out, size_t max, int *more)
{
    struct find_acc a = {out, 0, max, boot, from_seq, 0, 0};
    struct ringlog_scan_stats st = {0};
    size_t kept = 0;

    for (uint32_t i = 0; i < rc->nblocks; i++) {
        size_t len;

        if (!may_hold(&rc->blocks[i], &a))
            continue;
        a.block = i;
        len = read_block(rc, rd, ctx, i, scratch);
        ringlog_block_walk(scratch, len, rc->file_id, consider, &a, &st);
    }
    qsort(out, a.n, sizeof(*out), by_seq);
    /* A record written twice (resent after a helper restart) counts once. */
    for (size_t i = 0; i < a.n; i++)
        if (kept == 0 || out[kept - 1].seq != out[i].seq)
            out[kept++] = out[i];
    *more = a.more;
    return kept;
}
