/* libFuzzer: the U-Boot env image parser. Any bytes, read as a single and
 * as a redundant image: the CRC check, the header and entry parsers and the
 * normalizer must not misbehave, and what they produce must serialize and
 * parse back to the same entries. The image as parts (what a write keeps
 * instead of the image: the entries, and padding) must read, compare and
 * check as the image itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kv_env.h"

static void same_entries(const kv_env *a, const kv_env *b)
{
    if (a->n != b->n || a->skipped != b->skipped || a->unterminated != b->unterminated)
        abort();
    for (size_t i = 0; i < a->n; i++)
        if (a->entries[i].key != b->entries[i].key || a->entries[i].val_len != b->entries[i].val_len)
            abort();
}

/* The data area as kv_known keeps it: up to the end of its entries, then
 * padding when the rest is one byte repeated. */
static void as_parts(const uint8_t *img, size_t size, enum kv_scheme scheme)
{
    size_t hdr = kv_header_size(scheme), len = size - hdr, used = kv_data_used(img + hdr, len);
    kv_env whole, part;
    uint8_t pad = 0, flags;
    uint32_t crc, stored, computed;
    kv_image im;
    uint8_t *back;

    if (used > len || kv_header_parse(img, size, scheme, &crc, &flags) < 0)
        abort();
    /* Parsing the bytes up to the end of the entries is parsing the area. */
    kv_env_init(&whole);
    kv_env_init(&part);
    if (kv_env_parse(&whole, img + hdr, len) < 0 || kv_env_parse(&part, img + hdr, used) < 0)
        abort();
    same_entries(&whole, &part);
    kv_env_free(&whole);
    kv_env_free(&part);
    if (!kv_uniform(img + hdr + used, len - used, &pad))
        used = len;
    if (kv_crc_padded(img + hdr, used, pad, len) != crc32(0L, img + hdr, (uInt)len))
        abort();
    kv_image_known(&im, scheme, flags, crc, img + hdr, used, pad, size);
    if (!kv_image_same(&im, 0, img, size))
        abort();
    back = malloc(size);
    kv_image_bytes(&im, 0, back, size);
    if (memcmp(back, img, size) != 0)
        abort();
    /* Sealed from its parts, the image checks. */
    kv_image_make(&im, scheme, flags, img + hdr, used, pad, size);
    kv_image_bytes(&im, 0, back, size);
    if (!kv_image_check(back, size, scheme, &stored, &computed) || kv_image_flags(back, scheme) != flags)
        abort();
    /* Any single byte changed is seen by the comparison. */
    if (size > 0) {
        size_t at = (size_t)img[size - 1] * 31 % size;

        back[at] ^= 0x01;
        if (kv_image_same(&im, 0, back, size) || kv_image_same(&im, at, back + at, 1))
            abort();
    }
    free(back);
}

static void round_trip(const uint8_t *data, size_t len)
{
    kv_env env, again;
    uint8_t *out;
    size_t size;

    kv_env_init(&env);
    if (kv_env_parse(&env, data, len) < 0)
        abort();
    if (kv_env_normalize(&env) < 0)
        abort();
    size = kv_env_data_size(&env);
    out = malloc(size);
    if (kv_env_serialize(&env, out, size) < 0)
        abort();
    kv_env_init(&again);
    kv_env_parse(&again, out, size);
    if (kv_env_normalize(&again) < 0)
        abort();
    if (again.n != env.n || again.skipped || again.duplicates || again.unterminated)
        abort();
    for (size_t i = 0; i < env.n; i++)
        if (again.entries[i].key_len != env.entries[i].key_len ||
            again.entries[i].val_len != env.entries[i].val_len ||
            memcmp(again.entries[i].key, env.entries[i].key, env.entries[i].key_len) != 0 ||
            memcmp(again.entries[i].val, env.entries[i].val, env.entries[i].val_len) != 0)
            abort();
    /* Putting back every entry changes nothing; deleting them all empties it. */
    {
        int changed;

        if (kv_env_apply(&again, env.entries, env.n, NULL, 0, &changed) < 0 || changed)
            abort();
        if (kv_env_apply(&again, NULL, 0, env.entries, env.n, &changed) < 0 || again.n != 0 ||
            changed != (env.n > 0))
            abort();
    }
    kv_env_free(&again);
    kv_env_free(&env);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const enum kv_scheme schemes[] = {KV_SCHEME_SINGLE, KV_SCHEME_INCREMENTAL};
    uint32_t stored, computed;

    for (size_t i = 0; i < 2; i++) {
        size_t hdr = kv_header_size(schemes[i]);

        kv_image_check(data, len, schemes[i], &stored, &computed);
        if (len > hdr) {
            round_trip(data + hdr, len - hdr);
            as_parts(data, len, schemes[i]);
        }
    }
    if (len >= 2) {
        int pick = kv_select(KV_SCHEME_BOOLEAN, data[0] & 1, data[0], data[1] & 1, data[1]);

        if (pick < -1 || pick > 1)
            abort();
        /* The copy written after the other one (flags + 1) always wins. */
        if (kv_select(KV_SCHEME_INCREMENTAL, 1, data[0], 1, kv_next_flags(KV_SCHEME_INCREMENTAL, data[0])) != 1)
            abort();
    }
    return 0;
}
