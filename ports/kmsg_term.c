#include "kmsg_term.h"

#include <string.h>

static void encode_span(ei_x_buff *x, const char *key, struct kmsg_span s)
{
    ei_x_encode_atom(x, key);
    ei_x_encode_binary(x, s.ptr ? s.ptr : "", (long)s.len);
}

void kmsg_encode_record(ei_x_buff *x, const struct kmsg_record *rec)
{
    const char *facility = kmsg_facility_name(rec->facility);

    ei_x_encode_map_header(x, 6 + (rec->caller.ptr != NULL) + (rec->subsystem.ptr != NULL) +
                                  (rec->device.ptr != NULL));
    ei_x_encode_atom(x, "seq");
    ei_x_encode_ulonglong(x, rec->seq);
    ei_x_encode_atom(x, "facility");
    if (facility)
        ei_x_encode_atom(x, facility);
    else
        ei_x_encode_ulong(x, rec->facility);
    ei_x_encode_atom(x, "level");
    ei_x_encode_atom(x, kmsg_level_name(rec->level));
    ei_x_encode_atom(x, "ts_usec");
    ei_x_encode_ulonglong(x, rec->ts_usec);
    encode_span(x, "flags", rec->flags);
    encode_span(x, "message", rec->message);
    if (rec->caller.ptr)
        encode_span(x, "caller", rec->caller);
    if (rec->subsystem.ptr)
        encode_span(x, "subsystem", rec->subsystem);
    if (rec->device.ptr)
        encode_span(x, "device", rec->device);
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
