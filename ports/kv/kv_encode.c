#include "kv_encode.h"

#include <limits.h>
#include <stdlib.h>

#include "sp_proto.h"

static const char *scheme_name(enum kv_scheme scheme)
{
    switch (scheme) {
    case KV_SCHEME_SINGLE:
        return "single";
    case KV_SCHEME_BOOLEAN:
        return "boolean";
    default:
        return "incremental";
    }
}

static void encode_pair(ei_x_buff *x, const char *atom, long long a, long long b)
{
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, atom);
    ei_x_encode_longlong(x, a);
    ei_x_encode_longlong(x, b);
}

static void encode_state(ei_x_buff *x, const kv_copy *c)
{
    switch (c->status) {
    case KV_COPY_VALID:
        ei_x_encode_atom(x, "valid");
        break;
    case KV_COPY_MISSING:
        ei_x_encode_atom(x, "missing");
        break;
    case KV_COPY_BAD_CRC:
        encode_pair(x, "bad_crc", c->stored_crc, c->computed_crc);
        break;
    case KV_COPY_IO_ERROR:
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "io_error");
        sp_x_errno(x, c->err);
        break;
    case KV_COPY_SHORT:
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "short_read");
        ei_x_encode_ulonglong(x, c->got);
        break;
    case KV_COPY_LAYOUT:
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "layout");
        sp_x_binary_str(x, c->why ? c->why : "");
        break;
    default:
        ei_x_encode_atom(x, "unread");
    }
}

static void encode_copy(ei_x_buff *x, const kv_store *s, int i)
{
    const kv_copy *c = &s->copy[i];
    sp_map m;

    sp_map_begin(&m, x);
    sp_map_int(&m, "copy", i);
    sp_map_str(&m, "device", c->loc->device);
    if (c->kind != KV_KIND_UNKNOWN)
        sp_map_uint(&m, "offset", c->offset);
    else
        sp_map_int(&m, "offset", c->loc->offset);
    sp_map_uint(&m, "size", c->loc->size);
    sp_map_atom(&m, "kind", kv_kind_name(c->kind));
    sp_map_key(&m, "state");
    encode_state(x, c);
    if (s->scheme != KV_SCHEME_SINGLE && (c->status == KV_COPY_VALID || c->status == KV_COPY_BAD_CRC))
        sp_map_int(&m, "flags", c->flags);
    else
        sp_map_atom(&m, "flags", "none");
    sp_map_end(&m);
}

void kv_encode_copies(ei_x_buff *x, const kv_store *s)
{
    ei_x_encode_list_header(x, s->cfg->copies);
    for (int i = 0; i < s->cfg->copies; i++)
        encode_copy(x, s, i);
    ei_x_encode_empty_list(x);
}

/* Grows x once for what is coming rather than on every item. */
static void reserve(ei_x_buff *x, size_t more)
{
    size_t want = (size_t)x->index + more;
    char *bigger;

    if (want <= (size_t)x->buffsz || want > (size_t)INT_MAX)
        return;
    bigger = realloc(x->buff, want);
    if (bigger) {
        x->buff = bigger;
        x->buffsz = (int)want;
    }
}

static void encode_env(ei_x_buff *x, const kv_env *env)
{
    /* Per entry: a tuple header and two binary headers (at most 12 bytes). */
    reserve(x, kv_env_data_size(env) + 12 * env->n + 16);
    if (env->n > 0)
        ei_x_encode_list_header(x, (long)env->n);
    for (size_t i = 0; i < env->n; i++) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_binary(x, env->entries[i].key, (long)env->entries[i].key_len);
        ei_x_encode_binary(x, env->entries[i].val, (long)env->entries[i].val_len);
    }
    ei_x_encode_empty_list(x);
}

void kv_encode_snapshot(ei_x_buff *x, const kv_store *s, const kv_env *env, int with_entries, const char *action,
                        const char *lock_path, int lock_err)
{
    sp_map m;

    sp_map_begin(&m, x);
    if (with_entries) {
        sp_map_key(&m, "env");
        encode_env(x, env);
    }
    sp_map_key(&m, "version");
    if (s->current >= 0) {
        const kv_copy *c = &s->copy[s->current];

        ei_x_encode_tuple_header(x, 3);
        ei_x_encode_long(x, s->current);
        ei_x_encode_long(x, c->flags);
        ei_x_encode_ulong(x, c->stored_crc);
    } else {
        ei_x_encode_atom(x, "none");
    }
    sp_map_atom(&m, "action", action);
    if (s->current >= 0)
        sp_map_int(&m, "current", s->current);
    else
        sp_map_atom(&m, "current", "none");
    sp_map_atom(&m, "scheme", scheme_name(s->scheme));
    if (s->current >= 0 && s->scheme != KV_SCHEME_SINGLE)
        sp_map_int(&m, "flags", s->copy[s->current].flags);
    else
        sp_map_atom(&m, "flags", "none");
    sp_map_key(&m, "copies");
    kv_encode_copies(x, s);
    sp_map_uint(&m, "skipped", env->skipped);
    sp_map_uint(&m, "duplicates", env->duplicates);
    sp_map_bool(&m, "unterminated", env->unterminated);
    if (!lock_path)
        sp_map_atom(&m, "lock", "none");
    else if (lock_err)
        sp_map_atom(&m, "lock", sp_errno_atom(lock_err));
    else
        sp_map_atom(&m, "lock", "ok");
    sp_map_end(&m);
}

void kv_encode_write_error(ei_x_buff *x, const kv_store *s, const kv_write_error *e)
{
    sp_map m;

    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "error");
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "write_failed");
    sp_map_begin(&m, x);
    sp_map_int(&m, "copy", e->copy);
    sp_map_str(&m, "device", s->copy[e->copy].loc->device);
    sp_map_atom(&m, "step", e->step);
    if (e->why)
        sp_map_str(&m, "reason", e->why);
    else if (e->err)
        sp_map_atom(&m, "reason", sp_errno_atom(e->err));
    else
        sp_map_atom(&m, "reason", "mismatch");
    sp_map_end(&m);
}
