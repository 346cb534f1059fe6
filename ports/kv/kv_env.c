#include "kv_env.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

size_t kv_header_size(enum kv_scheme scheme)
{
    return scheme == KV_SCHEME_SINGLE ? 4 : 5;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* zlib's crc32 takes a uInt length: feed it in pieces. */
static uint32_t crc_of(const uint8_t *data, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    while (len > 0) {
        uInt piece = len > (1u << 30) ? (1u << 30) : (uInt)len;

        crc = crc32(crc, data, piece);
        data += piece;
        len -= piece;
    }
    return (uint32_t)crc;
}

int kv_image_check(const uint8_t *img, size_t size, enum kv_scheme scheme, uint32_t *stored, uint32_t *computed)
{
    size_t hdr = kv_header_size(scheme);

    if (size <= hdr) {
        *stored = *computed = 0;
        return 0;
    }
    *stored = get_le32(img);
    *computed = crc_of(img + hdr, size - hdr);
    return *stored == *computed;
}

void kv_image_seal(uint8_t *img, size_t size, enum kv_scheme scheme, uint8_t flags)
{
    size_t hdr = kv_header_size(scheme);

    if (scheme != KV_SCHEME_SINGLE)
        img[4] = flags;
    put_le32(img, crc_of(img + hdr, size - hdr));
}

uint8_t kv_image_flags(const uint8_t *img, enum kv_scheme scheme)
{
    return scheme == KV_SCHEME_SINGLE ? 0 : img[4];
}

int kv_header_parse(const uint8_t *hdr, size_t len, enum kv_scheme scheme, uint32_t *crc, uint8_t *flags)
{
    if (len < kv_header_size(scheme))
        return -1;
    *crc = get_le32(hdr);
    *flags = kv_image_flags(hdr, scheme);
    return 0;
}

size_t kv_data_used(const uint8_t *data, size_t len)
{
    const uint8_t *p = data, *end = data + len;

    while (p < end && *p != '\0') {
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));

        if (!nul)
            return len;
        p = nul + 1;
    }
    return p < end ? (size_t)(p - data) + 1 : len;
}

int kv_uniform(const uint8_t *p, size_t n, uint8_t *byte)
{
    if (n == 0)
        return 1;
    /* Each byte equal to the next: all equal to the first. */
    if (n > 1 && memcmp(p, p + 1, n - 1) != 0)
        return 0;
    *byte = p[0];
    return 1;
}

/* The CRC of n copies of one byte: doubled up from a small block with
 * crc32_combine, as the bytes are all alike and their order does not matter. */
static uint32_t crc_of_run(uint8_t byte, size_t n)
{
    uint8_t block[256];
    uLong run, crc;
    size_t run_len = sizeof(block), q = n / sizeof(block);

    memset(block, byte, sizeof(block));
    run = crc32(0L, block, (uInt)sizeof(block));
    crc = crc32(0L, block, (uInt)(n % sizeof(block)));
    while (q > 0) {
        if (q & 1)
            crc = crc32_combine(crc, run, (z_off_t)run_len);
        q >>= 1;
        if (q > 0) {
            run = crc32_combine(run, run, (z_off_t)run_len);
            run_len *= 2;
        }
    }
    return (uint32_t)crc;
}

uint32_t kv_crc_padded(const uint8_t *data, size_t len, uint8_t pad, size_t total)
{
    uLong crc = crc_of(data, len);

    if (total > len)
        crc = crc32_combine(crc, crc_of_run(pad, total - len), (z_off_t)(total - len));
    return (uint32_t)crc;
}

void kv_image_known(kv_image *im, enum kv_scheme scheme, uint8_t flags, uint32_t crc, const uint8_t *data, size_t len,
                    uint8_t pad, size_t size)
{
    im->hdr_len = kv_header_size(scheme);
    put_le32(im->hdr, crc);
    im->hdr[4] = scheme == KV_SCHEME_SINGLE ? 0 : flags;
    im->data = data;
    im->len = len;
    im->pad = pad;
    im->size = size;
}

void kv_image_make(kv_image *im, enum kv_scheme scheme, uint8_t flags, const uint8_t *data, size_t len, uint8_t pad,
                   size_t size)
{
    size_t hdr = kv_header_size(scheme);

    kv_image_known(im, scheme, flags, kv_crc_padded(data, len, pad, size - hdr), data, len, pad, size);
}

/* Calls part(ctx, region, at, n) for the pieces of [off, off + n): the
 * header, the data (region points into them) and the padding (NULL). */
typedef int (*image_part_fn)(void *ctx, const uint8_t *region, size_t at, size_t n);

static int image_parts(const kv_image *im, size_t off, size_t n, image_part_fn part, void *ctx)
{
    size_t at = 0;
    const size_t ends[3] = {im->hdr_len, im->hdr_len + im->len, im->size};
    const uint8_t *starts[3] = {im->hdr, im->data, NULL};
    size_t begin = 0;

    for (int i = 0; i < 3 && at < n; i++) {
        size_t pos = off + at;

        if (pos < ends[i]) {
            size_t take = ends[i] - pos < n - at ? ends[i] - pos : n - at;

            if (!part(ctx, starts[i] ? starts[i] + (pos - begin) : NULL, at, take))
                return 0;
            at += take;
        }
        begin = ends[i];
    }
    return 1;
}

typedef struct image_io {
    uint8_t pad;
    uint8_t *out;
    const uint8_t *in;
} image_io;

static int copy_part(void *ctx, const uint8_t *region, size_t at, size_t n)
{
    image_io *io = ctx;

    if (region)
        memcpy(io->out + at, region, n);
    else
        memset(io->out + at, io->pad, n);
    return 1;
}

static int same_part(void *ctx, const uint8_t *region, size_t at, size_t n)
{
    image_io *io = ctx;
    uint8_t byte;

    if (region)
        return memcmp(io->in + at, region, n) == 0;
    return n == 0 || (io->in[at] == io->pad && kv_uniform(io->in + at, n, &byte));
}

void kv_image_bytes(const kv_image *im, size_t off, uint8_t *buf, size_t n)
{
    image_io io = {.pad = im->pad, .out = buf};

    (void)image_parts(im, off, n, copy_part, &io);
}

int kv_image_same(const kv_image *im, size_t off, const uint8_t *buf, size_t n)
{
    image_io io = {.pad = im->pad, .in = buf};

    return image_parts(im, off, n, same_part, &io);
}

int kv_select(enum kv_scheme scheme, int valid0, uint8_t flags0, int valid1, uint8_t flags1)
{
    if (scheme == KV_SCHEME_SINGLE)
        return valid0 ? 0 : -1;
    if (!valid0 && !valid1)
        return -1;
    if (valid0 != valid1)
        return valid0 ? 0 : 1;
    if (scheme == KV_SCHEME_BOOLEAN) {
        if (flags0 == KV_FLAG_ACTIVE && flags1 == KV_FLAG_OBSOLETE)
            return 0;
        if (flags0 == KV_FLAG_OBSOLETE && flags1 == KV_FLAG_ACTIVE)
            return 1;
        if (flags0 == flags1 || flags0 == 0xff)
            return 0;
        return flags1 == 0xff ? 1 : 0;
    }
    /* Incremental: the higher counter is newer, except across the wrap. */
    if (flags0 == 0xff && flags1 == 0)
        return 1;
    if ((flags1 == 0xff && flags0 == 0) || flags0 >= flags1)
        return 0;
    return 1;
}

uint8_t kv_next_flags(enum kv_scheme scheme, uint8_t current)
{
    switch (scheme) {
    case KV_SCHEME_INCREMENTAL:
        return (uint8_t)(current + 1);
    case KV_SCHEME_BOOLEAN:
        return KV_FLAG_ACTIVE;
    default:
        return 0;
    }
}

void kv_env_init(kv_env *env)
{
    memset(env, 0, sizeof(*env));
}

void kv_env_free(kv_env *env)
{
    free(env->entries);
    kv_env_init(env);
}

static int grow(kv_env *env, size_t more)
{
    size_t cap;
    kv_entry *bigger;

    if (env->n + more <= env->cap)
        return 0;
    cap = env->cap ? env->cap : 64;
    while (cap < env->n + more)
        cap *= 2;
    bigger = realloc(env->entries, cap * sizeof(*bigger));
    if (!bigger)
        return -1;
    env->entries = bigger;
    env->cap = cap;
    return 0;
}

int kv_env_add(kv_env *env, const char *key, size_t key_len, const char *val, size_t val_len)
{
    if (grow(env, 1) < 0)
        return -1;
    env->entries[env->n++] = (kv_entry){key, key_len, val, val_len, env->next_seq++};
    return 0;
}

int kv_env_parse(kv_env *env, const uint8_t *data, size_t len)
{
    const char *p = (const char *)data, *end = p + len;

    env->unterminated = 1;
    while (p < end) {
        const char *nul, *eq;

        if (*p == '\0') {
            env->unterminated = 0;
            break;
        }
        nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul)
            nul = end; /* an entry cut off by the end of the area: keep it */
        eq = memchr(p, '=', (size_t)(nul - p));
        if (!eq || eq == p)
            env->skipped++;
        else if (kv_env_add(env, p, (size_t)(eq - p), eq + 1, (size_t)(nul - eq - 1)) < 0)
            return -1;
        p = nul + 1;
    }
    return 0;
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int entry_cmp(const kv_entry *a, const kv_entry *b)
{
    int c = key_cmp(a->key, a->key_len, b->key, b->key_len);

    if (c != 0)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* A merge sort of our own: glibc's qsort consults sysconf and brings some
 * 100 KiB of library pages into the helper, most of its memory budget. */
static int sort_entries(kv_entry *a, size_t n)
{
    kv_entry *tmp;
    size_t sorted = 1;

    /* Images written by sysport and libubootenv are sorted already. */
    while (sorted < n && entry_cmp(&a[sorted - 1], &a[sorted]) < 0)
        sorted++;
    if (sorted >= n)
        return 0;
    tmp = malloc(n * sizeof(*tmp));
    if (!tmp)
        return -1;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;

            while (i < mid && j < hi)
                tmp[k++] = entry_cmp(&a[i], &a[j]) <= 0 ? a[i++] : a[j++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof(*a));
    }
    free(tmp);
    return 0;
}

int kv_env_normalize(kv_env *env)
{
    size_t out = 0;

    if (sort_entries(env->entries, env->n) < 0)
        return -1;
    for (size_t i = 0; i < env->n; i++) {
        const kv_entry *e = &env->entries[i], *next = i + 1 < env->n ? e + 1 : NULL;

        if (next && key_cmp(e->key, e->key_len, next->key, next->key_len) == 0) {
            env->duplicates++;
            continue;
        }
        env->entries[out++] = *e;
    }
    env->n = out;
    return 0;
}

long kv_env_find(const kv_env *env, const char *key, size_t key_len)
{
    size_t lo = 0, hi = env->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(env->entries[mid].key, env->entries[mid].key_len, key, key_len);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Marks an entry for removal; normalize is done with seq by then. */
#define DELETED UINT32_MAX

static int same_entries(const kv_entry *a, size_t na, const kv_entry *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].key_len != b[i].key_len || a[i].val_len != b[i].val_len ||
            memcmp(a[i].key, b[i].key, a[i].key_len) != 0 || memcmp(a[i].val, b[i].val, a[i].val_len) != 0)
            return 0;
    return 1;
}

int kv_env_apply(kv_env *env, const kv_entry *puts, size_t nputs, const kv_entry *deletes, size_t ndeletes,
                 int *changed)
{
    size_t before_n = env->n, duplicates = env->duplicates, out = 0;
    kv_entry *before = malloc((before_n ? before_n : 1) * sizeof(*before));

    if (!before)
        return -1;
    if (before_n)
        memcpy(before, env->entries, before_n * sizeof(*before));
    for (size_t i = 0; i < nputs; i++)
        if (kv_env_add(env, puts[i].key, puts[i].key_len, puts[i].val, puts[i].val_len) < 0) {
            free(before);
            return -1;
        }
    if (kv_env_normalize(env) < 0) {
        free(before);
        return -1;
    }
    env->duplicates = duplicates; /* a put replacing a value is not a duplicate found in the image */
    for (size_t d = 0; d < ndeletes; d++) {
        long i = kv_env_find(env, deletes[d].key, deletes[d].key_len);

        if (i >= 0)
            env->entries[i].seq = DELETED;
    }
    for (size_t i = 0; i < env->n; i++)
        if (env->entries[i].seq != DELETED)
            env->entries[out++] = env->entries[i];
    env->n = out;
    *changed = !same_entries(before, before_n, env->entries, env->n);
    free(before);
    return 0;
}

size_t kv_env_data_size(const kv_env *env)
{
    size_t size = 1;

    for (size_t i = 0; i < env->n; i++)
        size += env->entries[i].key_len + env->entries[i].val_len + 2;
    return size;
}

int kv_env_serialize(const kv_env *env, uint8_t *data, size_t len)
{
    uint8_t *p = data;

    if (kv_env_data_size(env) > len)
        return -1;
    for (size_t i = 0; i < env->n; i++) {
        const kv_entry *e = &env->entries[i];

        memcpy(p, e->key, e->key_len);
        p += e->key_len;
        *p++ = '=';
        memcpy(p, e->val, e->val_len);
        p += e->val_len;
        *p++ = '\0';
    }
    memset(p, 0, len - (size_t)(p - data));
    return 0;
}

int kv_key_valid(const char *key, size_t len)
{
    return len > 0 && !memchr(key, '=', len) && !memchr(key, '\0', len);
}

int kv_key_writable(const char *key, size_t len)
{
    return kv_key_valid(key, len) && key[0] != '#' && !memchr(key, '\n', len);
}

int kv_value_valid(const char *val, size_t len)
{
    return !memchr(val, '\0', len);
}
