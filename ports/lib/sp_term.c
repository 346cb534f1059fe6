#include "sp_term.h"

#include <stdint.h>
#include <string.h>

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint16_t be16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

int sp_dec_remaining(const sp_dec *d)
{
    return d->len - d->index;
}

int sp_dec_done(const sp_dec *d)
{
    return d->index == d->len;
}

int sp_dec_peek(const sp_dec *d)
{
    if (sp_dec_remaining(d) < 1)
        return -1;
    return (unsigned char)d->buf[d->index];
}

/*
 * The extent of the item at the cursor: *leaf is the number of bytes taken by
 * its tag, header and inline payload, *children the number of terms that
 * follow it as its elements (tuple elements, list elements plus tail, map
 * keys and values). Fails when the leaf does not fit in the buffer or the tag
 * is one this protocol never carries (pids, refs, funs...).
 */
static int item_extent(const sp_dec *d, uint32_t *leaf, uint64_t *children)
{
    const unsigned char *p = (const unsigned char *)d->buf + d->index;
    uint64_t avail = (uint64_t)sp_dec_remaining(d);
    uint64_t need;

    if (avail < 1)
        return -1;
    *children = 0;
    switch (p[0]) {
    case ERL_SMALL_INTEGER_EXT: need = 2; break;
    case ERL_INTEGER_EXT: need = 5; break;
    case NEW_FLOAT_EXT: need = 9; break;
    case ERL_FLOAT_EXT: need = 32; break;
    case ERL_NIL_EXT: need = 1; break;
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
    case ERL_SMALL_BIG_EXT:
        if (avail < 2)
            return -1;
        need = 2 + (uint64_t)p[1] + (p[0] == ERL_SMALL_BIG_EXT ? 1 : 0);
        break;
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_STRING_EXT:
        if (avail < 3)
            return -1;
        need = 3 + (uint64_t)be16(p + 1);
        break;
    case ERL_BINARY_EXT:
    case ERL_BIT_BINARY_EXT:
    case ERL_LARGE_BIG_EXT:
        if (avail < 5)
            return -1;
        need = 5 + (uint64_t)be32(p + 1) + (p[0] == ERL_BINARY_EXT ? 0 : 1);
        break;
    case ERL_SMALL_TUPLE_EXT:
        if (avail < 2)
            return -1;
        need = 2;
        *children = p[1];
        break;
    case ERL_LARGE_TUPLE_EXT:
    case ERL_LIST_EXT:
    case ERL_MAP_EXT:
        if (avail < 5)
            return -1;
        need = 5;
        *children = be32(p + 1);
        if (p[0] == ERL_LIST_EXT)
            *children += 1; /* the tail */
        else if (p[0] == ERL_MAP_EXT)
            *children *= 2;
        break;
    default:
        return -1;
    }
    if (need > avail)
        return -1;
    /* Every child takes at least one byte: reject impossible counts early. */
    if (*children > avail - need)
        return -1;
    *leaf = (uint32_t)need;
    return 0;
}

int sp_dec_term_size(const sp_dec *d, int *size)
{
    sp_dec c = *d;
    /* Container depth is tracked so hostile nesting cannot pass as data;
     * stack[i] counts the children still owed by the container at depth i. */
    uint64_t stack[SP_MAX_DEPTH + 1];
    int depth = 0;

    stack[0] = 1;
    while (depth >= 0) {
        uint32_t leaf;
        uint64_t children;

        if (stack[depth] == 0) {
            depth--;
            continue;
        }
        if (item_extent(&c, &leaf, &children) < 0)
            return -1;
        c.index += (int)leaf;
        stack[depth]--;
        if (children > 0) {
            if (depth == SP_MAX_DEPTH)
                return -1;
            stack[++depth] = children;
        }
    }
    *size = c.index - d->index;
    return 0;
}

int sp_dec_skip(sp_dec *d)
{
    int size;

    if (sp_dec_term_size(d, &size) < 0)
        return -1;
    d->index += size;
    return 0;
}

int sp_dec_init(sp_dec *d, const char *buf, size_t len)
{
    if (len > INT32_MAX)
        return -1;
    d->buf = buf;
    d->index = 0;
    d->len = (int)len;
    if (len < 1 || (unsigned char)buf[0] != 131)
        return -1;
    d->index = 1;
    return 0;
}

void sp_dec_init_raw(sp_dec *d, const char *buf, size_t len, int index)
{
    d->buf = buf;
    d->len = len > INT32_MAX ? INT32_MAX : (int)len;
    d->index = index;
}

/* The leaf at the cursor fits; returns its tag or -1. */
static int leaf_tag(const sp_dec *d)
{
    uint32_t leaf;
    uint64_t children;

    if (item_extent(d, &leaf, &children) < 0)
        return -1;
    return (unsigned char)d->buf[d->index];
}

int sp_dec_atom(sp_dec *d, char atom[MAXATOMLEN_UTF8])
{
    int tag = leaf_tag(d);
    int index = d->index;

    switch (tag) {
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
        /* An atom is at most 255 characters, 4 bytes each in UTF-8. */
        if (be16((const unsigned char *)d->buf + index + 1) > MAXATOMLEN_UTF8 - 1)
            return -1;
        break;
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
        break;
    default:
        return -1;
    }
    if (ei_decode_atom_as(d->buf, &index, atom, MAXATOMLEN_UTF8, ERLANG_UTF8, NULL, NULL) < 0)
        return -1;
    d->index = index;
    return 0;
}

int sp_dec_atom_is(sp_dec *d, const char *expected)
{
    sp_dec c = *d;
    char atom[MAXATOMLEN_UTF8];

    if (sp_dec_atom(&c, atom) < 0 || strcmp(atom, expected) != 0)
        return -1;
    *d = c;
    return 0;
}

int sp_dec_bool(sp_dec *d, int *value)
{
    if (sp_dec_atom_is(d, "true") == 0) {
        *value = 1;
        return 0;
    }
    if (sp_dec_atom_is(d, "false") == 0) {
        *value = 0;
        return 0;
    }
    return -1;
}

static int is_integer_tag(int tag, const sp_dec *d)
{
    switch (tag) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
        return 1;
    case ERL_SMALL_BIG_EXT:
        /* ei handles bigs of up to 8 digit bytes as (unsigned) long long */
        return (unsigned char)d->buf[d->index + 1] <= 8;
    default:
        return 0;
    }
}

int sp_dec_long(sp_dec *d, long long *value)
{
    int index = d->index;

    if (!is_integer_tag(leaf_tag(d), d))
        return -1;
    if (ei_decode_longlong(d->buf, &index, value) < 0)
        return -1;
    d->index = index;
    return 0;
}

int sp_dec_ulong(sp_dec *d, unsigned long long *value)
{
    int index = d->index;

    if (!is_integer_tag(leaf_tag(d), d))
        return -1;
    if (ei_decode_ulonglong(d->buf, &index, value) < 0)
        return -1;
    d->index = index;
    return 0;
}

int sp_dec_double(sp_dec *d, double *value)
{
    int tag = leaf_tag(d);
    int index = d->index;
    long long integer;

    if (tag == NEW_FLOAT_EXT || tag == ERL_FLOAT_EXT) {
        if (ei_decode_double(d->buf, &index, value) < 0)
            return -1;
        d->index = index;
        return 0;
    }
    if (sp_dec_long(d, &integer) < 0)
        return -1;
    *value = (double)integer;
    return 0;
}

int sp_dec_binary(sp_dec *d, const char **data, size_t *len)
{
    if (leaf_tag(d) != ERL_BINARY_EXT)
        return -1;
    *len = be32((const unsigned char *)d->buf + d->index + 1);
    *data = d->buf + d->index + 5;
    d->index += 5 + (int)*len;
    return 0;
}

int sp_dec_bytes(sp_dec *d, const char **data, size_t *len)
{
    switch (leaf_tag(d)) {
    case ERL_BINARY_EXT:
        return sp_dec_binary(d, data, len);
    case ERL_STRING_EXT:
        *len = be16((const unsigned char *)d->buf + d->index + 1);
        *data = d->buf + d->index + 3;
        d->index += 3 + (int)*len;
        return 0;
    case ERL_NIL_EXT:
        *len = 0;
        *data = d->buf + d->index;
        d->index += 1;
        return 0;
    default:
        return -1;
    }
}

int sp_dec_cstring(sp_dec *d, char *out, size_t out_size)
{
    sp_dec c = *d;
    const char *data;
    size_t len;

    if (sp_dec_bytes(&c, &data, &len) < 0 || len >= out_size || memchr(data, 0, len))
        return -1;
    memcpy(out, data, len);
    out[len] = 0;
    *d = c;
    return 0;
}

int sp_dec_tuple(sp_dec *d, int *arity)
{
    int tag = leaf_tag(d);
    const unsigned char *p = (const unsigned char *)d->buf + d->index;

    if (tag == ERL_SMALL_TUPLE_EXT) {
        *arity = p[1];
        d->index += 2;
        return 0;
    }
    if (tag == ERL_LARGE_TUPLE_EXT && be32(p + 1) <= INT32_MAX) {
        *arity = (int)be32(p + 1);
        d->index += 5;
        return 0;
    }
    return -1;
}

int sp_dec_list(sp_dec *d, int *len)
{
    int tag = leaf_tag(d);
    const unsigned char *p = (const unsigned char *)d->buf + d->index;

    if (tag == ERL_NIL_EXT) {
        *len = 0;
        d->index += 1;
        return 0;
    }
    if (tag == ERL_LIST_EXT && be32(p + 1) <= INT32_MAX) {
        *len = (int)be32(p + 1);
        d->index += 5;
        return 0;
    }
    return -1;
}

int sp_dec_list_tail(sp_dec *d)
{
    if (leaf_tag(d) != ERL_NIL_EXT)
        return -1;
    d->index += 1;
    return 0;
}

int sp_dec_map(sp_dec *d, int *pairs)
{
    const unsigned char *p = (const unsigned char *)d->buf + d->index;

    if (leaf_tag(d) != ERL_MAP_EXT || be32(p + 1) > INT32_MAX / 2)
        return -1;
    *pairs = (int)be32(p + 1);
    d->index += 5;
    return 0;
}
