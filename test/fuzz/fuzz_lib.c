/*
 * libFuzzer target over the protocol input path: the bytes are a stream
 * from the VM, split into reads by the first byte, framed by sp_inbuf and
 * parsed by sp_parse_message exactly as the helpers do; every request's
 * arguments are then walked with each bounded decoder.
 */
#include <stdint.h>
#include <string.h>

#include "sp_frame.h"
#include "sp_loop.h"
#include "sp_term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(sp_dec *d, int budget)
{
    char atom[MAXATOMLEN_UTF8], text[64];
    const char *bytes;
    size_t len;
    long long l;
    unsigned long long u;
    double f;
    int n, b;

    while (budget-- > 0 && !sp_dec_done(d)) {
        sp_dec probe = *d;

        /* Each decoder either fails without moving or consumes one item. */
        if (sp_dec_atom(&probe, atom) == 0 || sp_dec_long(&probe, &l) == 0 || sp_dec_ulong(&probe, &u) == 0 ||
            sp_dec_double(&probe, &f) == 0 || sp_dec_bool(&probe, &b) == 0 ||
            sp_dec_cstring(&probe, text, sizeof(text)) == 0 || sp_dec_bytes(&probe, &bytes, &len) == 0 ||
            sp_dec_tuple(&probe, &n) == 0 || sp_dec_map(&probe, &n) == 0 || sp_dec_list(&probe, &n) == 0 ||
            sp_dec_list_tail(&probe) == 0) {
            *d = probe;
            continue;
        }
        if (sp_dec_skip(d) < 0)
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_inbuf in;
    size_t chunk, off = 1;
    const uint8_t *frame;
    size_t len;

    if (size < 1)
        return 0;
    chunk = (size_t)data[0] + 1;
    if (sp_inbuf_init(&in, 4096) < 0)
        return 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        enum sp_frame_status st;

        if (sp_inbuf_append(&in, data + off, n) < 0)
            break;
        off += n;
        while ((st = sp_inbuf_next(&in, &frame, &len)) == SP_FRAME_OK) {
            sp_request req;
            unsigned long long id;

            if (sp_parse_message(frame, len, &id, &req) != SP_MSG_INVALID)
                walk(&req.args, 64);
        }
        if (st == SP_FRAME_TOO_BIG)
            break;
    }
    sp_inbuf_free(&in);
    return 0;
}
