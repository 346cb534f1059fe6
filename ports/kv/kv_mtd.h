/*
 * An env copy on an MTD partition, as U-Boot's fw_env lays it out: the copy
 * starts on an erase-unit boundary and may use `sectors` erase units; on
 * NAND, bad units inside that range are skipped and the image continues in
 * the next good one. A write erases each unit it uses (MEMERASE; dataflash
 * needs none) and writes whole units, keeping whatever follows the image in
 * its last unit.
 *
 * The geometry and the plan are pure (unit-tested); the rest is ioctl glue.
 */
#ifndef KV_MTD_H
#define KV_MTD_H

#include <stddef.h>
#include <stdint.h>

#include "kv_config.h"

#define KV_MAX_BLOCKS 64

typedef struct kv_block {
    unsigned long long start; /* device offset of the erase unit */
    size_t image_off;         /* where its part of the image starts */
    size_t len;               /* image bytes in it: less than a unit only in the last */
} kv_block;

/* 1: the unit at `start` is bad, 0: good, -1: cannot tell (errno set). */
typedef int (*kv_bad_fn)(void *ctx, unsigned long long start);

/* Resolves the erase unit (the configured sector size, else the device's
 * erase size) and the number of units the copy may use. 0, or -1 with *why. */
int kv_mtd_geometry(const kv_location *loc, unsigned long long offset, unsigned long erasesize,
                    unsigned long long device_size, unsigned long *unit, unsigned long *sectors, const char **why);

/* The units an image of `size` bytes goes to, skipping the bad ones when
 * is_bad is given (NAND). Returns how many, or -1 with *why. */
int kv_mtd_plan(unsigned long long offset, size_t size, unsigned long unit, unsigned long sectors, kv_bad_fn is_bad,
                void *ctx, kv_block blocks[KV_MAX_BLOCKS], const char **why);

/* MEMGETBADBLOCK as a kv_bad_fn; ctx points to the fd. */
int kv_mtd_bad_block(void *ctx, unsigned long long start);

/* Reads the image from its planned units. 0, or -errno. */
int kv_mtd_read(int fd, const kv_block *blocks, int n, uint8_t *img);
/* Erases (unless dataflash) and writes each planned unit. 0, or -errno. */
int kv_mtd_write(int fd, const kv_block *blocks, int n, unsigned long unit, int erase, const uint8_t *img);
/* NOR: programs the old copy's flags byte to obsolete (bits only go 1 -> 0,
 * so no erase). 0, or -errno. */
int kv_mtd_mark_obsolete(int fd, unsigned long long flags_offset, unsigned long unit);

#endif
