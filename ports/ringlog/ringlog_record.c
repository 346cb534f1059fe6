/* Record and block header encoding: pure functions over buffers. */
#include "ringlog_format.h"

#include <string.h>
#include <zlib.h>

static uint32_t crc_of(uint64_t file_id, const uint8_t *p, size_t len)
{
    uint8_t seed[8];
    uLong crc;

    spool_put64(seed, file_id);
    crc = crc32(0L, seed, sizeof(seed));
    return (uint32_t)crc32(crc, p, (uInt)len);
}

static size_t align4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

size_t spool_record_size(size_t len)
{
    return align4(SPOOL_REC_HDR + len) + 4;
}

size_t spool_max_payload(uint32_t block_size)
{
    size_t room = block_size - SPOOL_BLOCK_HDR - SPOOL_REC_MIN;

    room &= ~(size_t)3;
    return room > 0xffff ? 0xffff : room;
}

size_t spool_record_encode(uint8_t *out, size_t room, uint64_t file_id, const struct spool_record *r)
{
    size_t size = spool_record_size(r->len), body = size - 4;

    if (size > room || r->level > SPOOL_MAX_LEVEL)
        return 0;
    spool_put16(out, SPOOL_RECORD_MAGIC);
    spool_put16(out + 2, r->len);
    out[4] = r->level;
    out[5] = 0;
    spool_put16(out + 6, 0);
    spool_put64(out + 8, r->seq);
    spool_put64(out + 16, r->boot);
    spool_put64(out + 24, (uint64_t)r->wall_us);
    spool_put64(out + 32, (uint64_t)r->mono_us);
    if (r->len)
        memcpy(out + SPOOL_REC_HDR, r->payload, r->len);
    memset(out + SPOOL_REC_HDR + r->len, 0, body - SPOOL_REC_HDR - r->len);
    spool_put32(out + body, crc_of(file_id, out, body));
    return size;
}

enum spool_rec_status spool_record_decode(const uint8_t *p, size_t avail, uint64_t file_id,
                                          struct spool_record *out, size_t *size)
{
    size_t need, body;

    if (avail < 2 || spool_get16(p) != SPOOL_RECORD_MAGIC)
        return SPOOL_REC_NONE;
    *size = avail < 4 ? avail : 4;
    if (avail < SPOOL_REC_MIN)
        return SPOOL_REC_BAD;
    need = spool_record_size(spool_get16(p + 2));
    *size = need <= avail ? need : avail;
    if (need > avail || p[4] > SPOOL_MAX_LEVEL || p[5] != 0 || spool_get16(p + 6) != 0)
        return SPOOL_REC_BAD;
    body = need - 4;
    if (spool_get32(p + body) != crc_of(file_id, p, body))
        return SPOOL_REC_BAD;
    /* Padding is covered by the CRC; it must also be zero, so one record has
     * exactly one encoding. */
    for (size_t i = SPOOL_REC_HDR + spool_get16(p + 2); i < body; i++)
        if (p[i] != 0)
            return SPOOL_REC_BAD;
    out->len = spool_get16(p + 2);
    out->level = p[4];
    out->seq = spool_get64(p + 8);
    out->boot = spool_get64(p + 16);
    out->wall_us = (int64_t)spool_get64(p + 24);
    out->mono_us = (int64_t)spool_get64(p + 32);
    out->payload = p + SPOOL_REC_HDR;
    return SPOOL_REC_OK;
}

int spool_block_size_ok(uint64_t block_size)
{
    return block_size >= SPOOL_MIN_BLOCK && block_size <= SPOOL_MAX_BLOCK &&
           (block_size & (block_size - 1)) == 0;
}

static uint8_t log2_of(uint32_t v)
{
    uint8_t n = 0;

    while (v > 1) {
        v >>= 1;
        n++;
    }
    return n;
}

void spool_block_hdr_encode(uint8_t out[SPOOL_BLOCK_HDR], const struct spool_block_hdr *h)
{
    memset(out, 0, SPOOL_BLOCK_HDR);
    spool_put32(out, SPOOL_BLOCK_MAGIC);
    out[4] = SPOOL_VERSION;
    out[5] = log2_of(h->block_size);
    spool_put64(out + 8, h->generation);
    spool_put64(out + 16, h->file_id);
    spool_put32(out + 28, (uint32_t)crc32(0L, out, 28));
}

int spool_block_hdr_decode(const uint8_t *p, size_t avail, struct spool_block_hdr *out)
{
    if (avail < SPOOL_BLOCK_HDR || spool_get32(p) != SPOOL_BLOCK_MAGIC || p[4] != SPOOL_VERSION ||
        spool_get16(p + 6) != 0 || spool_get32(p + 24) != 0 || p[5] > 16 ||
        spool_get32(p + 28) != (uint32_t)crc32(0L, p, 28))
        return -1;
    out->block_size = 1u << p[5];
    if (!spool_block_size_ok(out->block_size))
        return -1;
    out->generation = spool_get64(p + 8);
    out->file_id = spool_get64(p + 16);
    return 0;
}
