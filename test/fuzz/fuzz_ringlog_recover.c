/*
 * libFuzzer target over the recovery scan and the queries on its result.
 * Input: one control byte, then a file image. Control bits 0-1 pick the
 * configured block size (512 << n); bit 2 asks the target to make every
 * header-shaped and record-shaped piece's CRC valid first, so the fuzzer
 * explores structure (generations, lengths, boots, sequence numbers) and
 * not only checksums. Properties: nothing reads outside the image (ASan),
 * the head is a block of the ring (by the fast path, whose steps then
 * read every block, and by the whole scan), lookups (lowest and newest)
 * come back sorted and unique.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ringlog_image.h"
#include "ringlog_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Valid CRCs for whatever looks like a block header or a record. */
static void fix_crcs(uint8_t *img, size_t len, uint32_t bs)
{
    uint64_t file_id = 0;

    for (size_t off = 0; off + RINGLOG_BLOCK_HDR <= len; off += bs)
        if (ringlog_get32(img + off) == RINGLOG_BLOCK_MAGIC) {
            img[off + 4] = RINGLOG_VERSION;
            ringlog_put32(img + off + 28, (uint32_t)crc32(0L, img + off, 28));
            if (!file_id)
                file_id = ringlog_get64(img + off + 16);
        }
    for (size_t off = 0; off + RINGLOG_REC_MIN <= len; off += 4) {
        size_t need = ringlog_record_size(ringlog_get16(img + off + 2));
        uint8_t seed[8];

        if (ringlog_get16(img + off) != RINGLOG_RECORD_MAGIC || need > len - off)
            continue;
        ringlog_put64(seed, file_id);
        ringlog_put32(img + off + need - 4,
                    (uint32_t)crc32(crc32(0L, seed, 8), img + off, (uInt)(need - 4)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t scratch[RINGLOG_MAX_BLOCK];
    static struct ringlog_found found[64];
    struct ringlog_recovery rc;
    struct ringlog_boot *boots;
    struct ringlog_image im;
    uint8_t *img;
    size_t nboots, n;
    uint32_t bs;
    int more;

    if (size < 1 || size > (1 << 18))
        return 0;
    bs = 512u << (data[0] & 3);
    img = malloc(size - 1 + 1);
    memcpy(img, data + 1, size - 1);
    if (data[0] & 4)
        fix_crcs(img, size - 1, bs);
    im = (struct ringlog_image){img, size - 1};
    /* The fast path, finished by steps as the helper does: a head in the
     * ring, and every block read in the end. */
    if (ringlog_recover_fast(&rc, ringlog_image_read, &im, size - 1, 8 * bs, bs, scratch) == 0) {
        if (rc.head >= rc.nblocks || rc.next_gen <= rc.head_gen)
            abort();
        while (ringlog_recover_step(&rc, ringlog_image_read, &im, size - 1, scratch, 2) > 0)
            ;
        for (uint32_t i = 0; i < rc.nblocks; i++)
            if (rc.blocks[i].state == RINGLOG_BLK_UNSCANNED)
                abort();
        ringlog_recovery_free(&rc);
    }
    if (ringlog_recover(&rc, ringlog_image_read, &im, size - 1, 8 * bs, bs, scratch) == 0) {
        if (rc.head >= rc.nblocks)
            abort();
        if (ringlog_boots(&rc, ringlog_image_read, &im, scratch, &boots, &nboots) == 0) {
            for (size_t b = 0; b < nboots && b < 4; b++) {
                struct ringlog_query q = {boots[b].boot, boots[b].first_seq, UINT64_MAX, 0xff, (int)(b & 1)};

                n = ringlog_find(&rc, ringlog_image_read, &im, scratch, &q, found, 64, &more);
                for (size_t i = 1; i < n; i++)
                    if (found[i].seq <= found[i - 1].seq)
                        abort();
                if (n == 0 && boots[b].records > 0)
                    abort();
            }
            free(boots);
        }
        ringlog_recovery_free(&rc);
    }
    free(img);
    return 0;
}
