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
    int resolved = c->kind != KV_KIND_UNKNOWN;

    ei_x_encode_map_header(x, 7);
    ei_x_encode_atom(x, "copy");
    ei_x_encode_long(x, i);
    ei_x_encode_atom(x, "device");
    sp_x_binary_str(x, c->loc->device);
    ei_x_encode_atom(x, "offset");
    if (resolved)
        ei_x_encode_ulonglong(x, c->offset);
    else
        ei_x_encode_longlong(x, c->loc->offset);
    ei_x_encode_atom(x, "size");
    ei_x_encode_ulonglong(x, c->loc->size);
    ei_x_encode_atom(x, "kind");
    ei_x_encode_atom(x, kv_kind_name(c->kind));
    ei_x_encode_atom(x, "state");
    encode_state(x, c);
    ei_x_encode_atom(x, "flags");
    if (s->scheme != KV_SCHEME_SINGLE && (c->status == KV_COPY_VALID || c->status == KV_COPY_BAD_CRC))
        ei_x_encode_long(x, c->flags);
    else
        ei_x_encode_atom(x, "none");
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
    ei_x_encode_map_header(x, with_entries ? 11 : 10);
    if (with_entries) {
        ei_x_encode_atom(x, "env");
        encode_env(x, env);
    }
    ei_x_encode_atom(x, "version");
    if (s->current >= 0) {
        const kv_copy *c = &s->copy[s->current];

        ei_x_encode_tuple_header(x, 3);
        ei_x_encode_long(x, s->current);
        ei_x_encode_long(x, c->flags);
        ei_x_encode_ulong(x, c->stored_crc);
    } else {
        ei_x_encode_atom(x, "none");
    }
    ei_x_encode_atom(x, "action");
    ei_x_encode_atom(x, action);
    ei_x_encode_atom(x, "current");
    if (s->current >= 0)
        ei_x_encode_long(x, s->current);
    else
        ei_x_encode_atom(x, "none");
    ei_x_encode_atom(x, "scheme");
    ei_x_encode_atom(x, scheme_name(s->scheme));
    ei_x_encode_atom(x, "flags");
    if (s->current >= 0 && s->scheme != KV_SCHEME_SINGLE)
        ei_x_encode_long(x, s->copy[s->current].flags);
    else
        ei_x_encode_atom(x, "none");
    ei_x_encode_atom(x, "copies");
    kv_encode_copies(x, s);
    ei_x_encode_atom(x, "skipped");
    ei_x_encode_ulonglong(x, env->skipped);
    ei_x_encode_atom(x, "duplicates");
    ei_x_encode_ulonglong(x, env->duplicates);
    ei_x_encode_atom(x, "unterminated");
    ei_x_encode_atom(x, env->unterminated ? "true" : "false");
    ei_x_encode_atom(x, "lock");
    if (!lock_path)
        ei_x_encode_atom(x, "none");
    else if (lock_err)
        sp_x_errno(x, lock_err);
    else
        ei_x_encode_atom(x, "ok");
}

void kv_encode_write_error(ei_x_buff *x, const kv_store *s, const kv_write_error *e)
{
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "error");
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "write_failed");
    ei_x_encode_map_header(x, 4);
    ei_x_encode_atom(x, "copy");
    ei_x_encode_long(x, e->copy);
    ei_x_encode_atom(x, "device");
    sp_x_binary_str(x, s->copy[e->copy].loc->device);
    ei_x_encode_atom(x, "step");
    ei_x_encode_atom(x, e->step);
    ei_x_encode_atom(x, "reason");
    if (e->why)
        sp_x_binary_str(x, e->why);
    else if (e->err)
        sp_x_errno(x, e->err);
    else
        ei_x_encode_atom(x, "mismatch");
}
