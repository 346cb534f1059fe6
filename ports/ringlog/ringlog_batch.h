/*
 * Records as the VM sends them: {append, Batch} where Batch is a binary of
 * entries, each <<Seq:64, Wall:64/signed, Mono:64/signed, Level:8,
 * Length:16, Payload:Length/binary>> (big-endian, Erlang's default).
 */
#ifndef RINGLOG_BATCH_H
#define RINGLOG_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog_format.h"

#define RINGLOG_BATCH_ENTRY_HDR 27

/* Decodes the entry at *off into r (payload pointing into p) and moves *off
 * past it. 1 for an entry, 0 at the end, -1 when the rest is malformed. */
int ringlog_batch_next(const uint8_t *p, size_t len, size_t *off, struct ringlog_record *r);

#endif
