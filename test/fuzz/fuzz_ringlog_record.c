/*
 * libFuzzer target over the spool record decoder, the block walk and the
 * batch entries from the VM. Input: 8 bytes of file_id, then the bytes.
 * Properties: a record that decodes re-encodes to exactly the same bytes
 * (one encoding per record), and the walk never reports more records than
 * fit, nor reads outside the buffer (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringlog_batch.h"
#include "ringlog_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(void *ctx, const struct ringlog_record *r, uint32_t offset)
{
    (void)r;
    (void)offset;
    (*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t file_id;
    const uint8_t *p;
    size_t len, used, off = 0, records = 0;
    struct ringlog_record r;
    struct ringlog_scan_stats st = {0};

    if (size < 8)
        return 0;
    file_id = ringlog_get64(data);
    p = data + 8;
    len = size - 8;

    if (ringlog_record_decode(p, len, file_id, &r, &used) == RINGLOG_REC_OK) {
        uint8_t *again = malloc(used);

        if (ringlog_record_encode(again, used, file_id, &r) != used || memcmp(again, p, used) != 0)
            abort();
        free(again);
    }
    ringlog_block_walk(p, len, file_id, count, &records, &st);
    if (records * RINGLOG_REC_MIN > len)
        abort();
    while (ringlog_batch_next(p, len, &off, &r) == 1)
        if (off > len || r.payload + r.len > p + len)
            abort();
    return 0;
}
