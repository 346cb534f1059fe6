/*
 * libFuzzer target over the uevent parsers and the property encoder. The
 * first byte picks the input kind: even, a netlink datagram; odd, a sysfs
 * uevent file. Whatever parses must encode to a well-formed map of
 * binaries with each key once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sp_term.h"
#include "uevent_encode.h"
#include "uevent_parse.h"
#include "uevent_seq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_map(ei_x_buff *x)
{
    sp_dec d;
    int pairs;

    sp_dec_init_raw(&d, x->buff, (size_t)x->index, 0);
    if (sp_dec_map(&d, &pairs) < 0)
        abort();
    for (int i = 0; i < pairs; i++) {
        const char *k, *v;
        size_t klen, vlen;

        if (sp_dec_binary(&d, &k, &klen) < 0 || sp_dec_binary(&d, &v, &vlen) < 0 || klen == 0)
            abort();
    }
    if (!sp_dec_done(&d))
        abort();
}

static void datagram(const char *buf, size_t len)
{
    uevent ev;
    uevent_field f;
    const char *cursor;
    size_t n = 0;
    ei_x_buff x;
    uevent_seq seq;

    if (uevent_parse(buf, len, &ev) != UEVENT_OK)
        return;
    cursor = ev.fields;
    while (uevent_next_field(&ev, &cursor, &f)) {
        if (f.key.len == 0 || f.key.ptr < buf || f.value.ptr + f.value.len > buf + len)
            abort();
        n++;
    }
    if (n != ev.nfields || ev.devpath.len == 0 || ev.subsystem.ptr == NULL)
        abort();
    ei_x_new(&x);
    if (uevent_x_props(&x, &ev) < 0)
        abort();
    check_map(&x);
    ei_x_free(&x);
    ei_x_new(&x);
    if (uevent_x_file_form(&x, &ev) < 0)
        abort();
    check_map(&x);
    ei_x_free(&x);
    /* The SEQNUM bookkeeping takes whatever a datagram says. */
    uevent_seq_reset(&seq, ev.seqnum / 2);
    uevent_seq_accept(&seq, ev.seqnum, 0);
    uevent_seq_accept(&seq, ev.seqnum / 3, 0);
    (void)uevent_seq_unseen(&seq);
}

static void uevent_file(const char *buf, size_t len)
{
    ei_x_buff x;

    ei_x_new(&x);
    if (uevent_x_file_props(&x, "/devices/fuzz", "fuzz", buf, len) < 0)
        abort();
    check_map(&x);
    ei_x_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy;

    if (size < 1)
        return 0;
    /* A private copy of exactly the input, so reads past it are caught. */
    copy = malloc(size - 1 ? size - 1 : 1);
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 1)
        uevent_file(copy, size - 1);
    else
        datagram(copy, size - 1);
    free(copy);
    return 0;
}
