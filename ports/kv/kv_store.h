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
    unsigned long unit, sectors; /* MTD erase geometry */
    uint32_t stored_crc, computed_crc;
    uint8_t flags;
    uint8_t *img;  /* loc->size bytes once read */
    uint8_t *read; /* the image as read, once a write replaced img: entries
                      parsed from it stay valid until kv_store_release */
} kv_copy;

typedef struct kv_store {
    const kv_config *cfg;
    int create; /* missing regular files are an empty env, created on write */
    enum kv_scheme scheme;
    int current; /* the copy in use, -1 when none is valid */
    kv_copy copy[KV_MAX_COPIES];
} kv_store;

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
/* 1 when the store creates its files and none exists yet. */
int kv_store_is_new(const kv_store *s);
/* Writes env as the next copy (see above) and makes it current.
 * 0, -ENOSPC when it does not fit, or -1 with *e filled in. */
int kv_store_write(kv_store *s, const kv_env *env, kv_write_error *e);
/* Frees the images. */
void kv_store_release(kv_store *s);

#endif
