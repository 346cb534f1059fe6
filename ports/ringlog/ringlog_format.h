/*
 * The spool file format: a ring of aligned blocks, each starting with a
 * header, holding whole records (a record never spans two blocks, so a torn
 * or overwritten block never takes a neighbour's records with it).
 *
 * All integers are little-endian.
 *
 * Block header (32 bytes, at every multiple of the block size):
 *   0  magic        u32  "SPLB"
 *   4  version      u8   1
 *   5  log2(size)   u8   block size 512 .. 65536
 *   6  reserved     u16  0
 *   8  generation   u64  +1 for every block the writer starts, for the file's life
 *  16  file_id      u64  random, chosen when the file is formatted
 *  24  reserved     u32  0
 *  28  crc32        u32  over bytes 0..27
 *
 * Record (4-byte aligned, right after the header or the previous record):
 *   0  magic        u16  "SR"
 *   2  length       u16  payload bytes
 *   4  level        u8   syslog severity 0 (emergency) .. 7 (debug)
 *   5  flags        u8   0
 *   6  reserved     u16  0
 *   8  seq          u64  per boot, +1 per record
 *  16  boot_id      u64
 *  24  wall time    i64  microseconds since the epoch
 *  32  monotonic    i64  microseconds
 *  40  payload      length bytes (opaque here), zero-padded to 4 bytes
 *  ..  crc32        u32  over the file_id (8 bytes) then the record up to here
 *
 * The CRC is seeded with the file_id so that record-shaped bytes inside a
 * payload, or a record copied from another spool, never pass for a record
 * when the scanner resynchronises after damage.
 */
#ifndef RINGLOG_FORMAT_H
#define RINGLOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define RINGLOG_BLOCK_MAGIC 0x424c5053u /* "SPLB" */
#define RINGLOG_RECORD_MAGIC 0x5253u    /* "SR" */
#define RINGLOG_VERSION 1
#define RINGLOG_BLOCK_HDR 32
#define RINGLOG_REC_HDR 40
#define RINGLOG_REC_MIN (RINGLOG_REC_HDR + 4)
#define RINGLOG_MIN_BLOCK 512u
#define RINGLOG_MAX_BLOCK 65536u
#define RINGLOG_MAX_LEVEL 7

struct ringlog_block_hdr {
    uint64_t generation;
    uint64_t file_id;
    uint32_t block_size;
};

struct ringlog_record {
    uint64_t seq;
    uint64_t boot;
    int64_t wall_us;
    int64_t mono_us;
    uint8_t level;
    uint16_t len;
    const uint8_t *payload; /* points into the buffer decoded from */
};

enum ringlog_rec_status {
    RINGLOG_REC_OK = 0,
    RINGLOG_REC_NONE = 1, /* no record magic here */
    RINGLOG_REC_BAD = 2,  /* a record header whose fields or CRC do not hold */
};

/* Bytes a record with len payload bytes takes. */
size_t ringlog_record_size(size_t len);
/* The largest payload a block of block_size can hold. */
size_t ringlog_max_payload(uint32_t block_size);

/* Encodes r at out; returns its size, or 0 when it does not fit in room or
 * its fields are out of range. */
size_t ringlog_record_encode(uint8_t *out, size_t room, uint64_t file_id, const struct ringlog_record *r);

/* Decodes the record at p (avail bytes readable). On RINGLOG_REC_OK, *out is
 * set (payload pointing into p) and *size is the record's size. On
 * RINGLOG_REC_BAD, *size is the size its header claims (at least 4, at most
 * avail), so the caller can tell how many bytes the damage covers. */
enum ringlog_rec_status ringlog_record_decode(const uint8_t *p, size_t avail, uint64_t file_id,
                                              struct ringlog_record *out, size_t *size);

void ringlog_block_hdr_encode(uint8_t out[RINGLOG_BLOCK_HDR], const struct ringlog_block_hdr *h);
/* 0 when p holds a valid header; -1 otherwise. */
int ringlog_block_hdr_decode(const uint8_t *p, size_t avail, struct ringlog_block_hdr *out);
/* 1 when block_size is a power of two within the supported range. */
int ringlog_block_size_ok(uint64_t block_size);

/* Little-endian helpers. */
static inline void ringlog_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void ringlog_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void ringlog_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t ringlog_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t ringlog_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t ringlog_get64(const uint8_t *p)
{
    return (uint64_t)ringlog_get32(p) | ((uint64_t)ringlog_get32(p + 4) << 32);
}

#endif
