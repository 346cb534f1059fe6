/* Batch entries from the VM: see ringlog_batch.h. */
#include "ringlog_batch.h"

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int ringlog_batch_next(const uint8_t *p, size_t len, size_t *off, struct ringlog_record *r)
{
    size_t at = *off, plen;

    if (at == len)
        return 0;
    if (at > len || len - at < RINGLOG_BATCH_ENTRY_HDR)
        return -1;
    plen = (size_t)p[at + 25] << 8 | p[at + 26];
    if (len - at - RINGLOG_BATCH_ENTRY_HDR < plen || p[at + 24] > RINGLOG_MAX_LEVEL)
        return -1;
    r->seq = be64(p + at);
    r->wall_us = (int64_t)be64(p + at + 8);
    r->mono_us = (int64_t)be64(p + at + 16);
    r->level = p[at + 24];
    r->len = (uint16_t)plen;
    r->payload = p + at + RINGLOG_BATCH_ENTRY_HDR;
    r->boot = 0;
    *off = at + RINGLOG_BATCH_ENTRY_HDR + plen;
    return 1;
}
