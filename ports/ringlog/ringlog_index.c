/* Boots and record lookup over a recovered spool: see ringlog_index.h. */
#include "ringlog_index.h"

#include <stdlib.h>
#include <string.h>

static size_t read_block(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint32_t i, uint8_t *buf)
{
    return rd(ctx, (uint64_t)i * rc->block_size, buf, rc->block_size);
}

static int readable(const struct ringlog_block_info *b)
{
    return b->records > 0 && (b->state == RINGLOG_BLK_VALID || b->state == RINGLOG_BLK_BAD_HEADER);
}

struct boots_acc {
    struct ringlog_boot *v;
    size_t n, size;
    int oom;
};

/* Folds n records of boot, seqs first..last at walls first_wall..last_wall. */
static void add_to_boot(struct boots_acc *a, uint64_t boot, uint64_t first, int64_t first_wall, uint64_t last,
                        int64_t last_wall, uint64_t n)
{
    struct ringlog_boot *b = NULL;

    /* The boot being read is almost always the last one seen. */
    for (size_t i = a->n; i-- > 0;)
        if (a->v[i].boot == boot) {
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
        *b = (struct ringlog_boot){boot, first, last, 0, first_wall, last_wall};
    }
    if (first < b->first_seq) {
        b->first_seq = first;
        b->first_wall = first_wall;
    }
    if (last > b->last_seq) {
        b->last_seq = last;
        b->last_wall = last_wall;
    }
    b->records += n;
}

static void add_record(void *ctx, const struct ringlog_record *r, uint32_t offset)
{
    (void)offset;
    add_to_boot(ctx, r->boot, r->seq, r->wall_us, r->seq, r->wall_us, 1);
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
        const struct ringlog_block_info *b = &rc->blocks[order[i]];

        if (b->mixed)
            ringlog_block_walk(scratch, read_block(rc, rd, ctx, order[i], scratch), rc->file_id, add_record, &a, &st);
        else
            add_to_boot(&a, b->boot, b->min_seq, b->min_wall, b->max_seq, b->max_wall, b->records);
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

/* A heap whose root is the worst record kept: the highest seq when the
 * lowest are wanted, the lowest for q->newest. */
struct find_acc {
    struct ringlog_found *heap;
    size_t n, max;
    const struct ringlog_query *q;
    uint32_t block;
    int more;
};

static int worse(const struct find_acc *a, uint64_t x, uint64_t y)
{
    return a->q->newest ? x < y : x > y;
}

static void sift_down(struct find_acc *a, size_t i)
{
    struct ringlog_found *h = a->heap;

    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        struct ringlog_found t;

        if (l < a->n && worse(a, h[l].seq, h[top].seq))
            top = l;
        if (r < a->n && worse(a, h[r].seq, h[top].seq))
            top = r;
        if (top == i)
            return;
        t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

static void sift_up(struct find_acc *a, size_t i)
{
    struct ringlog_found *h = a->heap;

    while (i > 0 && worse(a, h[i].seq, h[(i - 1) / 2].seq)) {
        struct ringlog_found t = h[i];

        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void consider(void *ctx, const struct ringlog_record *r, uint32_t offset)
{
    struct find_acc *a = ctx;
    const struct ringlog_query *q = a->q;
    struct ringlog_found f = {r->seq, a->block, offset};

    if (r->boot != q->boot || r->seq < q->from_seq || r->seq > q->until_seq || !(q->levels & (1u << r->level)))
        return;
    if (a->n < a->max) {
        a->heap[a->n] = f;
        sift_up(a, a->n++);
    } else if (a->max > 0 && worse(a, a->heap[0].seq, r->seq)) {
        a->heap[0] = f;
        sift_down(a, 0);
        a->more = 1;
    } else if (a->max == 0 || r->seq != a->heap[0].seq) {
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
    const struct ringlog_query *q = a->q;

    if (!readable(b))
        return 0;
    if (b->mixed)
        return 1;
    if (b->boot != q->boot || b->max_seq < q->from_seq || b->min_seq > q->until_seq || !(b->levels & q->levels))
        return 0;
    if (a->n == a->max && a->max > 0 &&
        (q->newest ? b->max_seq < a->heap[0].seq : b->min_seq > a->heap[0].seq)) {
        a->more = 1;
        return 0;
    }
    return 1;
}

size_t ringlog_find(const struct ringlog_recovery *rc, ringlog_read_fn rd, void *ctx, uint8_t *scratch,
                    const struct ringlog_query *q, struct ringlog_found *out, size_t max, int *more)
{
    struct find_acc a = {out, 0, max, q, 0, 0};
    struct ringlog_scan_stats st = {0};
    uint32_t n = rc->nblocks, newest = 0;
    size_t kept = 0;

    /* The blocks from the newest back (q->newest), or from the oldest on:
     * in a ring that is write order, the way records were numbered, so
     * that summaries prune the most. Any order gives the same answer. */
    for (uint32_t i = 0; i < n; i++)
        if (readable(&rc->blocks[i]) && rc->blocks[i].gen > rc->blocks[newest].gen)
            newest = i;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = q->newest ? (uint32_t)(((uint64_t)newest + n - k) % n) : (uint32_t)(((uint64_t)newest + 1 + k) % n);
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
