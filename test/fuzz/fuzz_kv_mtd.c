/*
 * libFuzzer target over the MTD geometry and write plan: a location as
 * fw_env.config may give it, the device's erase size and size, and a bad
 * block table. Invariants of an accepted plan: units in order, each an
 * erase unit of the copy's range and not bad; the image laid out without
 * gap or overlap, every unit full but the last.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_mtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct table {
    uint64_t bad;              /* bit i: the i-th unit from the copy's start */
    unsigned long long offset; /* the copy's start */
    unsigned long unit;
};

static int is_bad(void *ctx, unsigned long long start)
{
    const struct table *t = ctx;
    unsigned long long i = (start - t->offset) / t->unit;

    return i < 64 && (t->bad >> i & 1);
}

static uint64_t get(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kv_location loc;
    kv_block blocks[KV_MAX_BLOCKS];
    struct table t;
    unsigned long unit, sectors;
    unsigned long long offset, device_size, erasesize;
    const char *why;
    size_t placed = 0;
    int n;

    if (size < 4 + 4 + 1 + 8 + 4 + 8 + 8)
        return 0;
    memset(&loc, 0, sizeof(loc));
    loc.size = (unsigned long)get(data, 4);
    loc.sector_size = (unsigned long)get(data + 4, 4);
    loc.sectors = data[8];
    offset = get(data + 9, 8);
    erasesize = get(data + 17, 4);
    device_size = get(data + 21, 8);
    t.bad = get(data + 29, 8);
    if (kv_mtd_geometry(&loc, offset, (unsigned long)erasesize, device_size, &unit, &sectors, &why) < 0)
        return 0;
    if (unit == 0 || sectors > KV_MAX_BLOCKS || offset % unit || (unsigned long long)sectors * unit < loc.size ||
        offset + (unsigned long long)sectors * unit > device_size)
        abort();
    t.offset = offset;
    t.unit = unit;
    n = kv_mtd_plan(offset, loc.size, unit, sectors, data[37 % size] & 1 ? is_bad : NULL, &t, blocks, &why);
    if (n < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        const kv_block *b = &blocks[i];

        if (b->start < offset || (b->start - offset) % unit || (b->start - offset) / unit >= sectors ||
            (i > 0 && b->start <= blocks[i - 1].start) || b->image_off != placed || b->len == 0 || b->len > unit ||
            (i < n - 1 && b->len != unit) || ((data[37 % size] & 1) && is_bad(&t, b->start)))
            abort();
        placed += b->len;
    }
    if (placed != loc.size)
        abort();
    return 0;
}
