/* libFuzzer: the U-Boot env image parser. Any bytes, read as a single and
 * as a redundant image: the CRC check, the entry parser and normalizer must
 * not misbehave, and what they produce must serialize and parse back to
 * the same entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_env.h"

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
        if (len > hdr)
            round_trip(data + hdr, len - hdr);
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
