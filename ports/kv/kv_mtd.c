#include "kv_mtd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <mtd/mtd-user.h>

#include "kv_env.h"
#include "kv_io.h"

int kv_mtd_geometry(const kv_location *loc, unsigned long long offset, unsigned long erasesize,
                    unsigned long long device_size, unsigned long *unit, unsigned long *sectors, const char **why)
{
    if (erasesize == 0) {
        *why = "device reports no erase size";
        return -1;
    }
    *unit = loc->sector_size ? loc->sector_size : erasesize;
    if (*unit % erasesize != 0) {
        *why = "sector size is not a multiple of the erase size";
        return -1;
    }
    *sectors = loc->sectors ? loc->sectors : (loc->size + *unit - 1) / *unit;
    if (offset % *unit != 0) {
        *why = "offset is not on an erase unit boundary";
        return -1;
    }
    if (*sectors > KV_MAX_BLOCKS || (unsigned long long)*sectors * *unit < loc->size) {
        *why = "the env does not fit its sectors";
        return -1;
    }
    if (offset > device_size || device_size - offset < (unsigned long long)*sectors * *unit) {
        *why = "the env's sectors run past the end of the device";
        return -1;
    }
    return 0;
}

int kv_mtd_plan(unsigned long long offset, size_t size, unsigned long unit, unsigned long sectors, kv_bad_fn is_bad,
                void *ctx, kv_block blocks[KV_MAX_BLOCKS], const char **why)
{
    size_t placed = 0;
    int n = 0;

    for (unsigned long i = 0; i < sectors && placed < size; i++) {
        unsigned long long start = offset + (unsigned long long)i * unit;
        int bad = is_bad ? is_bad(ctx, start) : 0;

        if (bad < 0) {
            *why = "cannot read the bad block table";
            return -1;
        }
        if (bad)
            continue;
        if (n == KV_MAX_BLOCKS) {
            *why = "too many erase units";
            return -1;
        }
        blocks[n].start = start;
        blocks[n].image_off = placed;
        blocks[n].len = size - placed < unit ? size - placed : unit;
        placed += blocks[n].len;
        n++;
    }
    if (placed < size) {
        *why = "too few good erase units for the env";
        return -1;
    }
    return n;
}

int kv_mtd_bad_block(void *ctx, unsigned long long start)
{
    loff_t off = (loff_t)start;
    int bad = ioctl(*(int *)ctx, MEMGETBADBLOCK, &off);

    return bad < 0 ? -1 : bad > 0;
}

int kv_mtd_read(int fd, const kv_block *blocks, int n, uint8_t *img)
{
    for (int i = 0; i < n; i++) {
        ssize_t got = kv_pread_all(fd, img + blocks[i].image_off, blocks[i].len, (off_t)blocks[i].start);

        if (got < 0)
            return (int)got;
        if ((size_t)got != blocks[i].len)
            return -EIO;
    }
    return 0;
}

static int write_unit(int fd, const kv_block *b, unsigned long unit, int erase, const uint8_t *part, uint8_t *scratch)
{
    struct erase_info_user lock = {.start = (uint32_t)b->start, .length = (uint32_t)unit};
    struct erase_info_user64 ei = {.start = b->start, .length = unit};
    const uint8_t *data = part;
    ssize_t done;

    if (b->len < unit) {
        /* Keep what follows the image in its last unit. */
        done = kv_pread_all(fd, scratch, unit, (off_t)b->start);
        if (done < 0)
            return (int)done;
        if ((size_t)done != unit)
            return -EIO;
        memcpy(scratch, part, b->len);
        data = scratch;
    }
    /* Locking is optional in MTD drivers: errors from it do not matter. */
    (void)ioctl(fd, MEMUNLOCK, &lock);
    if (erase && ioctl(fd, MEMERASE64, &ei) < 0)
        return -errno;
    done = kv_pwrite_all(fd, data, unit, (off_t)b->start);
    (void)ioctl(fd, MEMLOCK, &lock);
    if (done < 0)
        return (int)done;
    return (size_t)done == unit ? 0 : -EIO;
}

int kv_mtd_write(int fd, const kv_block *blocks, int n, unsigned long unit, int erase, const uint8_t *img)
{
    uint8_t *scratch = malloc(unit);
    int rc = 0;

    if (!scratch)
        return -ENOMEM;
    for (int i = 0; i < n && rc == 0; i++)
        rc = write_unit(fd, &blocks[i], unit, erase, img + blocks[i].image_off, scratch);
    free(scratch);
    return rc;
}

int kv_mtd_mark_obsolete(int fd, unsigned long long flags_offset, unsigned long unit)
{
    const uint8_t obsolete = KV_FLAG_OBSOLETE;
    struct erase_info_user lock = {.start = (uint32_t)(flags_offset - flags_offset % unit), .length = (uint32_t)unit};
    ssize_t done;

    (void)ioctl(fd, MEMUNLOCK, &lock);
    done = kv_pwrite_all(fd, &obsolete, 1, (off_t)flags_offset);
    (void)ioctl(fd, MEMLOCK, &lock);
    if (done < 0)
        return (int)done;
    return done == 1 ? 0 : -EIO;
}
