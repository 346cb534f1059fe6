/*
 * The copies of an env on their devices: regular files, block devices and
 * MTD partitions (NOR, NAND, dataflash). Devices are opened for each
 * operation and closed after it, so one that appears later (or is replaced)
 * is simply found next time.
 *
 * Writing a redundant env goes to the copy that is not current, with the
 * next flags value: write, fdatasync, drop the cached pages, read back and
 * compare, then (NOR) program the old copy's flags byte to obsolete. The
 * current copy is not touched until the new one is known good.
 *
 * A write need not read the env whole first: kv_known keeps what the last
 * request found (each copy's CRC and flags, and the current copy's entries,
 * a few bytes for a small env in a large copy), and kv_store_check tells
 * whether the devices still hold just that. Nothing the size of a copy is
 * then in memory: images are written and compared in pieces.
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kv_config.h"
#include "kv_env.h"
#include "kv_mtd.h"

/* RAM is an MTD RAM device (mtdram, the kernel's test driver, or SRAM):
 * erased and programmed like NOR. fw_printenv does not open those. */
enum kv_kind { KV_KIND_UNKNOWN, KV_KIND_FILE, KV_KIND_BLOCK, KV_KIND_NOR, KV_KIND_NAND, KV_KIND_DATAFLASH, KV_KIND_RAM };

enum kv_copy_status {
    KV_COPY_UNREAD,
    KV_COPY_VALID,
    KV_COPY_BAD_CRC,
    KV_COPY_MISSING,  /* absent, in a store that creates its files */
    KV_COPY_IO_ERROR, /* err */
    KV_COPY_SHORT,    /* the device ends inside the copy: got bytes */
    KV_COPY_LAYOUT,   /* why: an unsupported device, a misaligned offset... */
};

typedef struct kv_copy {
    const kv_location *loc;
    enum kv_copy_status status;
    enum kv_kind kind;
    int err;
    const char *why;
    size_t got;
    unsigned long long offset; /* resolved: negative offsets counted from the end */
    unsigned long long device_size;
    unsigned long unit, sectors; /* MTD erase geometry */
    uint32_t stored_crc, computed_crc;
    uint8_t flags;
    uint8_t *img; /* loc->size bytes once read (not after kv_store_check) */
} kv_copy;

typedef struct kv_store {
    const kv_config *cfg;
    int create; /* missing regular files are an empty env, created on write */
    enum kv_scheme scheme;
    int current; /* the copy in use, -1 when none is valid */
    kv_copy copy[KV_MAX_COPIES];
    /* The current copy's data area, or as much of it as holds the entries
     * (parsing these is parsing the area): in img once read, or in the
     * kv_known the store was checked against. */
    const uint8_t *data;
    size_t data_len;
    /* The data area written last (its entries and the final NUL; zeros
     * follow), and to which copy; the entries parsed from the env before
     * stay where they were. */
    uint8_t *written;
    size_t written_len;
    int written_copy;
    int write_failed; /* a write was attempted and failed: what a device holds is unsure */
} kv_store;

/* What the copies held at the end of the last request (see above). */
typedef struct kv_known {
    int valid;
    enum kv_scheme scheme;
    int current;
    struct {
        enum kv_kind kind;
        unsigned long long offset;
        enum kv_copy_status status; /* valid or bad_crc */
        uint32_t stored_crc;
        uint8_t flags;
    } copy[KV_MAX_COPIES];
    uint8_t *data; /* the current copy's data area up to the end of its entries */
    size_t len;
    uint8_t pad; /* every byte after them */
} kv_known;

/* Where a write failed. */
typedef struct kv_write_error {
    int copy;
    const char *step; /* open, write, sync, verify, obsolete, layout */
    int err;          /* errno, 0 for verify */
    const char *why;  /* layout problems */
} kv_write_error;

const char *kv_kind_name(enum kv_kind kind);
/* The flag scheme for the copies' kinds (pure): NOR, dataflash and RAM
 * pairs use active/obsolete, everything else a counter. -1 when the two kinds differ,
 * which U-Boot refuses too. */
int kv_scheme_for(int copies, enum kv_kind k0, enum kv_kind k1, enum kv_scheme *scheme);

void kv_store_init(kv_store *s, const kv_config *cfg, int create);
/* Reads every copy and picks the current one. 0, or -ENOMEM. */
int kv_store_read(kv_store *s);
/* Reads only what tells whether the devices still hold what k says: the
 * header of each copy but the current one, and the current one whole,
 * compared piece by piece with k's entries and padding (a changed copy
 * always has another header, unless its CRC collides; the current copy is
 * compared whole so that one gone bad in place is not written beside as
 * if it were good). 1 when they do, the store then as kv_store_read would
 * have left it, without images; 0 when they do not (kv_store_read then);
 * -ENOMEM. */
int kv_store_check(kv_store *s, const kv_known *k);
/* 1 when the store creates its files and none exists yet. */
int kv_store_is_new(const kv_store *s);
/* Writes env as the next copy (see above) and makes it current.
 * 0, -ENOSPC when it does not fit, or -1 with *e filled in. */
int kv_store_write(kv_store *s, const kv_env *env, kv_write_error *e);
/* Frees the images. */
void kv_store_release(kv_store *s);

void kv_known_init(kv_known *k);
/* Records what the store holds now, after a read, a check or writes: its
 * current data area moves into k (or is copied from the image read).
 * Entries parsed from k's data before must not be used after. A store
 * with a copy that is not valid or bad (missing, short, unreadable) or
 * whose write failed leaves k empty: the next write reads everything. 0,
 * or -ENOMEM (k empty). */
int kv_known_take(kv_known *k, kv_store *s);
void kv_known_clear(kv_known *k);

#endif
