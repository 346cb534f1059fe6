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

static void count(void *ctx, const struct spool_record *r, uint32_t offset)
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
    struct spool_record r;
    struct spool_scan_stats st = {0};

    if (size < 8)
        return 0;
    file_id = spool_get64(data);
    p = data + 8;
    len = size - 8;

    if (spool_record_decode(p, len, file_id, &r, &used) == SPOOL_REC_OK) {
        uint8_t *again = malloc(used);

        if (spool_record_encode(again, used, file_id, &r) != used || memcmp(again, p, used) != 0)
            abort();
        free(again);
    }
    spool_block_walk(p, len, file_id, count, &records, &st);
    if (records * SPOOL_REC_MIN > len)
        abort();
    while (spool_batch_next(p, len, &off, &r) == 1)
        if (off > len || r.payload + r.len > p + len)
            abort();
    return 0;
}
