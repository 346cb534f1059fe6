#include "kmsg_term.h"

#include <string.h>

static void encode_span(ei_x_buff *x, struct kmsg_span s)
{
    ei_x_encode_binary(x, s.ptr ? s.ptr : "", (long)s.len);
}

static void encode_optional(ei_x_buff *x, struct kmsg_span s)
{
    if (s.ptr)
        ei_x_encode_binary(x, s.ptr, (long)s.len);
    else
        ei_x_encode_empty_list(x);
}

void kmsg_encode_record(ei_x_buff *x, const struct kmsg_record *rec)
{
    int extras = rec->caller.ptr || rec->subsystem.ptr || rec->device.ptr;

    ei_x_encode_tuple_header(x, extras ? 9 : 6);
    ei_x_encode_ulonglong(x, rec->seq);
    ei_x_encode_ulong(x, rec->facility);
    ei_x_encode_ulong(x, rec->level);
    ei_x_encode_ulonglong(x, rec->ts_usec);
    encode_span(x, rec->flags);
    encode_span(x, rec->message);
    if (extras) {
        encode_optional(x, rec->caller);
        encode_optional(x, rec->subsystem);
        encode_optional(x, rec->device);
    }
}

int kmsg_x_nested_begin(ei_x_buff *x)
{
    static const char header[] = {ERL_BINARY_EXT, 0, 0, 0, 0};
    int at = x->index + 1;

    ei_x_append_buf(x, header, sizeof(header));
    ei_x_encode_version(x);
    return at;
}

void kmsg_x_nested_end(ei_x_buff *x, int at)
{
    unsigned len = (unsigned)(x->index - at - 4);
    unsigned char *p = (unsigned char *)x->buff + at;

    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
}

int kmsg_filter_decode(sp_dec *d, struct kmsg_filter *f)
{
    unsigned long long level;
    const char *facilities;
    size_t n;
    int arity;

    memset(f, 0, sizeof(*f));
    if (sp_dec_tuple(d, &arity) < 0 || arity != 3 || sp_dec_ulong(d, &f->since_seq) < 0 ||
        sp_dec_ulong(d, &level) < 0 || level > 7)
        return -1;
    f->max_level = (unsigned)level;
    if (sp_dec_atom_is(d, "all") == 0) {
        f->any_facility = 1;
        return 0;
    }
    /* One byte per facility: what the kernel stores is a u8. */
    if (sp_dec_binary(d, &facilities, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char facility = (unsigned char)facilities[i];

        f->facilities[facility / 8] |= (unsigned char)(1u << (facility % 8));
    }
    return 0;
}

int kmsg_filter_match(const struct kmsg_filter *f, const struct kmsg_record *rec)
{
    if (rec->seq < f->since_seq || rec->level > f->max_level)
        return 0;
    if (f->any_facility)
        return 1;
    return rec->facility <= 255 && (f->facilities[rec->facility / 8] & (1u << (rec->facility % 8)));
}
