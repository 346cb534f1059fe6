/*
 * libFuzzer target over the kmsg record parser: the input is both one
 * record (as read(2) on /dev/kmsg returns it) and a kmsg file (records
 * separated by NULs, as the helper reads a file). Records decode into a
 * buffer of the helper's size (KMSG_RECORD_MAX + 1), allocated exactly so
 * that ASan sees a write past it: records in a file can be longer than the
 * kernel ever writes, and the committed corpus holds one over 8 KiB so
 * that libFuzzer's input size limit (the largest seed) lets such records
 * through. Every record that parses is encoded as the helper would send
 * it; every span must lie inside its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmsg_record.h"
#include "kmsg_term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(struct kmsg_span s, const char *base, size_t len)
{
    return s.ptr == NULL || (s.ptr >= base && s.len <= len && (size_t)(s.ptr - base) <= len - s.len);
}

#define OUT_SIZE (KMSG_RECORD_MAX + 1)

static void parse_one(const char *rec, size_t len, char *out)
{
    struct kmsg_record r;
    ei_x_buff x;
    enum kmsg_parse_status status = kmsg_parse(rec, len, out, OUT_SIZE, &r);

    if (status != KMSG_OK) {
        /* Every rejection has a name the Erlang side turns into an atom. */
        if (strcmp(kmsg_status_name(status), "unknown") == 0)
            abort();
        return;
    }
    if (len > KMSG_RECORD_MAX || !inside(r.flags, rec, len) || !inside(r.caller, rec, len) ||
        !inside(r.message, out, len) || !inside(r.subsystem, out, len) || !inside(r.device, out, len) || r.level > 7 ||
        r.message.len + r.subsystem.len + r.device.len > len)
        abort();
    ei_x_new_with_version(&x);
    kmsg_encode_record(&x, &r);
    ei_x_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *rec;
    size_t off = 0, len;
    char *out = malloc(OUT_SIZE);

    parse_one(buf, size, out);
    while (kmsg_file_next(buf, size, &off, &rec, &len))
        parse_one(rec, len, out);
    free(out);
    return 0;
}
