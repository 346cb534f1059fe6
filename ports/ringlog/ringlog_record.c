/* Record and block header encoding: pure functions over buffers. */
#include "ringlog_format.h"

#include <string.h>
#include <zlib.h>

static uint32_t crc_of(uint64_t file_id, const uint8_t *p, size_t len)
{
    uint8_t seed[8];
    uLong crc;

    ringlog_put64(seed, file_id);
    crc = crc32(0L, seed, sizeof(seed));
    return (uint32_t)crc32(crc, p, (uInt)len);
}

static size_t align4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

size_t ringlog_record_size(size_t len)
{
    return align4(RINGLOG_REC_HDR + len) + 4;
}

size_t ringlog_max_payload(uint32_t block_size)
{
    size_t room = block_size - RINGLOG_BLOCK_HDR - RINGLOG_REC_MIN;

    room &= ~(size_t)3;
    return room > 0xffff ? 0xffff : room;
}

size_t ringlog_record_encode(uint8_t *out, size_t room, uint64_t file_id, const struct ringlog_record *r)
{
    size_t size = ringlog_record_size(r->len), body = size - 4;

    if (size > room || r->level > RINGLOG_MAX_LEVEL)
        return 0;
    ringlog_put16(out, RINGLOG_RECORD_MAGIC);
    ringlog_put16(out + 2, r->len);
    out[4] = r->level;
    out[5] = 0;
    ringlog_put16(out + 6, 0);
    ringlog_put64(out + 8, r->seq);
    ringlog_put64(out + 16, r->boot);
    ringlog_put64(out + 24, (uint64_t)r->wall_us);
    ringlog_put64(out + 32, (uint64_t)r->mono_us);
    if (r->len)
        memcpy(out + RINGLOG_REC_HDR, r->payload, r->len);
    memset(out + RINGLOG_REC_HDR + r->len, 0, body - RINGLOG_REC_HDR - r->len);
    ringlog_put32(out + body, crc_of(file_id, out, body));
    return size;
}

enum ringlog_rec_status ringlog_record_decode(const uint8_t *p, size_t avail, uint64_t file_id,
                                              struct ringlog_record *out, size_t *size)
{
    size_t need, body;

    if (avail < 2 || ringlog_get16(p) != RINGLOG_RECORD_MAGIC)
        return RINGLOG_REC_NONE;
    *size = avail < 4 ? avail : 4;
    if (avail < RINGLOG_REC_MIN)
        return RINGLOG_REC_BAD;
    need = ringlog_record_size(ringlog_get16(p + 2));
    *size = need <= avail ? need : avail;
    if (need > avail || p[4] > RINGLOG_MAX_LEVEL || p[5] != 0 || ringlog_get16(p + 6) != 0)
        return RINGLOG_REC_BAD;
    body = need - 4;
    if (ringlog_get32(p + body) != crc_of(file_id, p, body))
        return RINGLOG_REC_BAD;
    /* Padding is covered by the CRC; it must also be zero, so one record has
     * exactly one encoding. */
    for (size_t i = RINGLOG_REC_HDR + ringlog_get16(p + 2); i < body; i++)
        if (p[i] != 0)
            return RINGLOG_REC_BAD;
    out->len = ringlog_get16(p + 2);
    out->level = p[4];
    out->seq = ringlog_get64(p + 8);
    out->boot = ringlog_get64(p + 16);
    out->wall_us = (int64_t)ringlog_get64(p + 24);
    out->mono_us = (int64_t)ringlog_get64(p + 32);
    out->payload = p + RINGLOG_REC_HDR;
    return RINGLOG_REC_OK;
}

int ringlog_block_size_ok(uint64_t block_size)
{
    return block_size >= RINGLOG_MIN_BLOCK && block_size <= RINGLOG_MAX_BLOCK &&
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

void ringlog_block_hdr_encode(uint8_t out[RINGLOG_BLOCK_HDR], const struct ringlog_block_hdr *h)
{
    memset(out, 0, RINGLOG_BLOCK_HDR);
    ringlog_put32(out, RINGLOG_BLOCK_MAGIC);
    out[4] = RINGLOG_VERSION;
    out[5] = log2_of(h->block_size);
    ringlog_put64(out + 8, h->generation);
    ringlog_put64(out + 16, h->file_id);
    ringlog_put32(out + 28, (uint32_t)crc32(0L, out, 28));
}

int ringlog_block_hdr_decode(const uint8_t *p, size_t avail, struct ringlog_block_hdr *out)
{
    if (avail < RINGLOG_BLOCK_HDR || ringlog_get32(p) != RINGLOG_BLOCK_MAGIC || p[4] != RINGLOG_VERSION ||
        ringlog_get16(p + 6) != 0 || ringlog_get32(p + 24) != 0 || p[5] > 16 ||
        ringlog_get32(p + 28) != (uint32_t)crc32(0L, p, 28))
        return -1;
    out->block_size = 1u << p[5];
    if (!ringlog_block_size_ok(out->block_size))
        return -1;
    out->generation = ringlog_get64(p + 8);
    out->file_id = ringlog_get64(p + 16);
    return 0;
}
