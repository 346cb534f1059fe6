#include "kv_store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <mtd/mtd-user.h>

#include "kv_io.h"

const char *kv_kind_name(enum kv_kind kind)
{
    switch (kind) {
    case KV_KIND_FILE:
        return "file";
    case KV_KIND_BLOCK:
        return "block";
    case KV_KIND_NOR:
        return "nor";
    case KV_KIND_NAND:
        return "nand";
    case KV_KIND_DATAFLASH:
        return "dataflash";
    case KV_KIND_RAM:
        return "ram";
    default:
        return "unknown";
    }
}

int kv_scheme_for(int copies, enum kv_kind k0, enum kv_kind k1, enum kv_scheme *scheme)
{
    enum kv_kind kind;

    if (copies < 2) {
        *scheme = KV_SCHEME_SINGLE;
        return 0;
    }
    /* A copy that could not be opened says nothing about its kind. */
    if (k0 != KV_KIND_UNKNOWN && k1 != KV_KIND_UNKNOWN && k0 != k1)
        return -1;
    kind = k0 != KV_KIND_UNKNOWN ? k0 : k1;
    *scheme = kind == KV_KIND_NOR || kind == KV_KIND_DATAFLASH || kind == KV_KIND_RAM ? KV_SCHEME_BOOLEAN
                                                                                      : KV_SCHEME_INCREMENTAL;
    return 0;
}

static int is_mtd(enum kv_kind kind)
{
    return kind == KV_KIND_NOR || kind == KV_KIND_NAND || kind == KV_KIND_DATAFLASH || kind == KV_KIND_RAM;
}

void kv_store_init(kv_store *s, const kv_config *cfg, int create)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->create = create;
    s->current = -1;
    s->written_copy = -1;
    for (int i = 0; i < cfg->copies; i++)
        s->copy[i].loc = &cfg->loc[i];
}

static int layout_error(kv_copy *c, int fd, const char *why)
{
    c->status = KV_COPY_LAYOUT;
    c->why = why;
    close(fd);
    return -1;
}

/* Finds out what the device is and where the copy lies on it. */
static int classify(kv_copy *c, int fd)
{
    struct stat st;
    unsigned long long size = 0;
    unsigned long erasesize = 0;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode)) {
        c->kind = KV_KIND_FILE;
        size = (unsigned long long)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        uint64_t bytes;

        if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
            return -errno;
        c->kind = KV_KIND_BLOCK;
        size = bytes;
    } else if (S_ISCHR(st.st_mode)) {
        struct mtd_info_user info;

        if (ioctl(fd, MEMGETINFO, &info) < 0) {
            c->why = "a character device that is not an MTD partition";
            return 1;
        }
        if (info.type == MTD_NORFLASH)
            c->kind = KV_KIND_NOR;
        else if (info.type == MTD_NANDFLASH || info.type == MTD_MLCNANDFLASH)
            c->kind = KV_KIND_NAND;
        else if (info.type == MTD_DATAFLASH)
            c->kind = KV_KIND_DATAFLASH;
        else if (info.type == MTD_RAM)
            c->kind = KV_KIND_RAM;
        else {
            c->why = "an MTD type other than NOR, NAND, dataflash or RAM";
            return 1;
        }
        size = info.size;
        erasesize = info.erasesize;
    } else {
        c->why = "not a file, block device or MTD partition";
        return 1;
    }
    c->device_size = size;
    if (c->loc->offset < 0) {
        unsigned long long back = (unsigned long long)-(c->loc->offset + 1) + 1;

        if (back > size) {
            c->why = "a negative offset reaching before the start of the device";
            return 1;
        }
        c->offset = size - back;
    } else {
        c->offset = (unsigned long long)c->loc->offset;
    }
    if (is_mtd(c->kind) && kv_mtd_geometry(c->loc, c->offset, erasesize, size, &c->unit, &c->sectors, &c->why) < 0)
        return 1;
    return 0;
}

/* Opens and classifies a copy's device. The fd, or -1 with c->status set. */
static int open_copy(kv_store *s, kv_copy *c, int writing)
{
    int flags = (writing ? O_RDWR : O_RDONLY) | O_CLOEXEC | (writing && s->create ? O_CREAT : 0);
    int fd = open(c->loc->device, flags, 0600), rc;

    if (fd < 0) {
        c->err = errno;
        c->status = errno == ENOENT && s->create ? KV_COPY_MISSING : KV_COPY_IO_ERROR;
        return -1;
    }
    rc = classify(c, fd);
    if (rc > 0)
        return layout_error(c, fd, c->why);
    if (rc < 0) {
        c->status = KV_COPY_IO_ERROR;
        c->err = -rc;
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads an image into buf from where the copy lies: bytes read, or -errno. */
static ssize_t read_image(kv_copy *c, int fd, uint8_t *buf)
{
    size_t size = c->loc->size;

    if (is_mtd(c->kind)) {
        kv_block blocks[KV_MAX_BLOCKS];
        int n = kv_mtd_plan(c->offset, size, c->unit, c->sectors, c->kind == KV_KIND_NAND ? kv_mtd_bad_block : NULL,
                            &fd, blocks, &c->why);
        int rc;

        if (n < 0)
            return -EIO;
        rc = kv_mtd_read(fd, blocks, n, buf);
        return rc < 0 ? rc : (ssize_t)size;
    }
    return kv_pread_all(fd, buf, size, (off_t)c->offset);
}

/* Pieces in which images are written and read back when they are not read
 * whole: a buffer this size is all the memory a write of any size needs. */
#define PIECE (64 * 1024)

/* Reads the first n bytes of the copy (its header): bytes read, or -errno. */
static ssize_t read_head(kv_copy *c, int fd, uint8_t *buf, size_t n)
{
    if (is_mtd(c->kind)) {
        kv_block blocks[KV_MAX_BLOCKS];
        int nb = kv_mtd_plan(c->offset, c->loc->size, c->unit, c->sectors,
                             c->kind == KV_KIND_NAND ? kv_mtd_bad_block : NULL, &fd, blocks, &c->why);

        if (nb < 1)
            return -EIO;
        return kv_pread_all(fd, buf, n, (off_t)blocks[0].start);
    }
    return kv_pread_all(fd, buf, n, (off_t)c->offset);
}

/* Whether the copy holds image im, byte for byte: 1, 0, or -errno when it
 * cannot be read. MTD copies (small, and read through their erase units)
 * are read whole; others in pieces. */
static int compare_copy(kv_copy *c, int fd, const kv_image *im)
{
    size_t size = c->loc->size, piece = size < PIECE ? size : PIECE;
    uint8_t *buf = malloc(is_mtd(c->kind) ? size : piece);
    int same = 1;

    if (!buf)
        return -ENOMEM;
    if (is_mtd(c->kind)) {
        ssize_t got = read_image(c, fd, buf);

        same = got < 0 ? (int)got : (size_t)got == size && kv_image_same(im, 0, buf, size);
    } else {
        for (size_t off = 0; same == 1 && off < size; off += piece) {
            size_t n = size - off < piece ? size - off : piece;
            ssize_t got = kv_pread_all(fd, buf, n, (off_t)(c->offset + off));

            same = got < 0 ? (int)got : (size_t)got == n && kv_image_same(im, off, buf, n);
        }
    }
    free(buf);
    return same;
}

/* Writes image im where the copy lies, in pieces: 0, or -errno. */
static int write_pieces(kv_copy *c, int fd, const kv_image *im)
{
    size_t size = c->loc->size, piece = size < PIECE ? size : PIECE;
    uint8_t *buf = malloc(piece);
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    for (size_t off = 0; rc == 0 && off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        ssize_t done;

        kv_image_bytes(im, off, buf, n);
        done = kv_pwrite_all(fd, buf, n, (off_t)(c->offset + off));
        rc = done < 0 ? (int)done : 0;
    }
    free(buf);
    return rc;
}

static int read_copy(kv_store *s, kv_copy *c, enum kv_scheme scheme)
{
    int fd = open_copy(s, c, 0);
    ssize_t got;

    if (fd < 0)
        return 0;
    c->img = malloc(c->loc->size);
    if (!c->img) {
        close(fd);
        return -ENOMEM;
    }
    got = read_image(c, fd, c->img);
    close(fd);
    if (got < 0) {
        c->status = KV_COPY_IO_ERROR;
        c->err = (int)-got;
    } else if ((size_t)got < c->loc->size) {
        c->got = (size_t)got;
        c->status = got == 0 && s->create && c->kind == KV_KIND_FILE ? KV_COPY_MISSING : KV_COPY_SHORT;
    } else {
        c->status = kv_image_check(c->img, c->loc->size, scheme, &c->stored_crc, &c->computed_crc) ? KV_COPY_VALID
                                                                                                  : KV_COPY_BAD_CRC;
        c->flags = kv_image_flags(c->img, scheme);
    }
    return 0;
}

int kv_store_read(kv_store *s)
{
    int copies = s->cfg->copies;

    kv_store_release(s);
    /* Two copies always have the flags byte, whatever scheme their kinds
     * turn out to use; the scheme only matters for picking one. */
    s->scheme = copies < 2 ? KV_SCHEME_SINGLE : KV_SCHEME_INCREMENTAL;
    for (int i = 0; i < copies; i++)
        if (read_copy(s, &s->copy[i], s->scheme) < 0)
            return -ENOMEM;
    if (kv_scheme_for(copies, s->copy[0].kind, copies > 1 ? s->copy[1].kind : KV_KIND_UNKNOWN, &s->scheme) < 0) {
        for (int i = 0; i < copies; i++) {
            s->copy[i].status = KV_COPY_LAYOUT;
            s->copy[i].why = "the two copies are on different kinds of device";
        }
    }
    s->current = kv_select(s->scheme, s->copy[0].status == KV_COPY_VALID, s->copy[0].flags,
                           copies > 1 && s->copy[1].status == KV_COPY_VALID, copies > 1 ? s->copy[1].flags : 0);
    if (s->current >= 0) {
        size_t hdr = kv_header_size(s->scheme);

        s->data = s->copy[s->current].img + hdr;
        s->data_len = s->cfg->loc[0].size - hdr;
    }
    return 0;
}

/* The image k says copy i holds (only the current copy's data is known). */
static void known_image(const kv_known *k, int i, size_t size, kv_image *im)
{
    kv_image_known(im, k->scheme, k->copy[i].flags, k->copy[i].stored_crc, k->data, k->len, k->pad, size);
}

/* Whether copy i still holds what k says: 1, 0, or -ENOMEM. */
static int check_copy(kv_store *s, const kv_known *k, int i)
{
    kv_copy *c = &s->copy[i];
    int fd = open_copy(s, c, 0), same = 0;
    size_t hdr = kv_header_size(k->scheme);
    kv_image im;

    if (fd < 0)
        return 0;
    known_image(k, i, c->loc->size, &im);
    /* A file cut short is not what it was, whatever its first bytes say. */
    if (c->kind == k->copy[i].kind && c->offset == k->copy[i].offset && c->device_size >= c->offset + c->loc->size) {
        if (i == k->current) {
            same = compare_copy(c, fd, &im);
        } else {
            uint8_t head[5];

            same = read_head(c, fd, head, hdr) == (ssize_t)hdr && memcmp(head, im.hdr, hdr) == 0;
        }
    }
    close(fd);
    if (same == -ENOMEM)
        return -ENOMEM;
    if (same != 1)
        return 0;
    c->status = k->copy[i].status;
    c->flags = k->copy[i].flags;
    c->stored_crc = k->copy[i].stored_crc;
    /* A bad copy's computed CRC is not known without reading it: any other value says bad. */
    c->computed_crc = c->status == KV_COPY_VALID ? c->stored_crc : ~c->stored_crc;
    return 1;
}

int kv_store_check(kv_store *s, const kv_known *k)
{
    int copies = s->cfg->copies;
    enum kv_scheme scheme;

    kv_store_release(s);
    if (!k->valid)
        return 0;
    for (int i = 0; i < copies; i++) {
        int rc = check_copy(s, k, i);

        if (rc != 1) {
            kv_store_release(s);
            return rc;
        }
    }
    if (kv_scheme_for(copies, s->copy[0].kind, copies > 1 ? s->copy[1].kind : KV_KIND_UNKNOWN, &scheme) < 0 ||
        scheme != k->scheme) {
        kv_store_release(s);
        return 0;
    }
    s->scheme = k->scheme;
    s->current = k->current;
    s->data = k->data;
    s->data_len = k->len;
    return 1;
}

int kv_store_is_new(const kv_store *s)
{
    if (!s->create)
        return 0;
    for (int i = 0; i < s->cfg->copies; i++)
        if (s->copy[i].status != KV_COPY_MISSING)
            return 0;
    return 1;
}

static int fail(kv_write_error *e, int copy, const char *step, int err)
{
    e->copy = copy;
    e->step = step;
    e->err = err;
    return -1;
}

/* A file just created is only durable once its directory entry is. */
static void sync_parent_dir(const char *path)
{
    char copy[PATH_MAX];
    int fd;

    if (strlen(path) >= sizeof(copy))
        return;
    strcpy(copy, path);
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Writes image im to copy t, syncs it and reads it back from the device. */
static int write_copy(kv_store *s, int t, const kv_image *im, kv_write_error *e)
{
    kv_copy *c = &s->copy[t];
    size_t size = c->loc->size;
    int created = c->status == KV_COPY_MISSING;
    int fd = open_copy(s, c, 1), rc = 0, same;

    if (fd < 0 && c->status == KV_COPY_LAYOUT) {
        e->why = c->why;
        return fail(e, t, "layout", 0);
    }
    if (fd < 0)
        return fail(e, t, "open", c->err);
    if (is_mtd(c->kind)) {
        kv_block blocks[KV_MAX_BLOCKS];
        int n = kv_mtd_plan(c->offset, size, c->unit, c->sectors, c->kind == KV_KIND_NAND ? kv_mtd_bad_block : NULL,
                            &fd, blocks, &e->why);
        uint8_t *img = n < 0 ? NULL : malloc(size);

        if (n < 0)
            rc = fail(e, t, "layout", 0);
        else if (!img)
            rc = fail(e, t, "write", ENOMEM);
        else {
            kv_image_bytes(im, 0, img, size);
            if ((rc = kv_mtd_write(fd, blocks, n, c->unit, c->kind != KV_KIND_DATAFLASH, img)) < 0)
                rc = fail(e, t, "write", -rc);
        }
        free(img);
    } else {
        if ((rc = write_pieces(c, fd, im)) < 0)
            rc = fail(e, t, "write", -rc);
        else if (fdatasync(fd) < 0)
            rc = fail(e, t, "sync", errno);
        else /* so that the read-back below comes from the device */
            (void)posix_fadvise(fd, (off_t)c->offset, (off_t)size, POSIX_FADV_DONTNEED);
    }
    /* The whole copy is read back and compared: a device that took the
     * write and did not keep it (or kept it wrong) fails here, before the
     * old copy is given up. */
    if (rc == 0 && (same = compare_copy(c, fd, im)) != 1)
        rc = fail(e, t, "verify", same < 0 ? -same : 0);
    close(fd);
    if (rc == 0 && created)
        sync_parent_dir(c->loc->device);
    return rc;
}

static int mark_obsolete(kv_store *s, int old, kv_write_error *e)
{
    kv_copy *c = &s->copy[old];
    int fd = open_copy(s, c, 1), rc;

    if (fd < 0)
        return fail(e, old, "obsolete", c->err);
    rc = kv_mtd_mark_obsolete(fd, c->offset + 4, c->unit);
    close(fd);
    if (rc < 0)
        return fail(e, old, "obsolete", -rc);
    c->flags = KV_FLAG_OBSOLETE;
    return 0;
}

int kv_store_write(kv_store *s, const kv_env *env, kv_write_error *e)
{
    /* With no valid copy, copy 0 counts as current (as in fw_env). */
    int target = s->scheme == KV_SCHEME_SINGLE ? 0 : s->current == 1 ? 0 : 1;
    int old = s->current;
    size_t size = s->cfg->loc[0].size, hdr = kv_header_size(s->scheme), len = kv_env_data_size(env);
    kv_copy *c = &s->copy[target];
    kv_image im;
    uint8_t *data;

    memset(e, 0, sizeof(*e));
    if (size <= hdr || len > size - hdr)
        return -ENOSPC;
    /* The entries and the final NUL; the zeros after them are the image's padding. */
    data = malloc(len);
    if (!data)
        return fail(e, target, "write", ENOMEM);
    kv_env_serialize(env, data, len);
    kv_image_make(&im, s->scheme, kv_next_flags(s->scheme, old >= 0 ? s->copy[old].flags : 0), data, len, 0, size);
    if (write_copy(s, target, &im, e) < 0) {
        free(data);
        s->write_failed = 1;
        return -1;
    }
    free(s->written);
    s->written = data;
    s->written_len = len;
    s->written_copy = target;
    c->status = KV_COPY_VALID;
    kv_header_parse(im.hdr, im.hdr_len, s->scheme, &c->stored_crc, &c->flags);
    c->computed_crc = c->stored_crc;
    s->current = target;
    if (s->scheme == KV_SCHEME_BOOLEAN && old >= 0 && old != target && mark_obsolete(s, old, e) < 0) {
        s->write_failed = 1;
        return -1;
    }
    return 0;
}

void kv_store_release(kv_store *s)
{
    for (int i = 0; i < KV_MAX_COPIES; i++) {
        const kv_location *loc = s->copy[i].loc;

        free(s->copy[i].img);
        memset(&s->copy[i], 0, sizeof(s->copy[i]));
        s->copy[i].loc = loc;
    }
    s->current = -1;
    s->data = NULL;
    s->data_len = 0;
    free(s->written);
    s->written = NULL;
    s->written_len = 0;
    s->written_copy = -1;
    s->write_failed = 0;
}

void kv_known_init(kv_known *k)
{
    memset(k, 0, sizeof(*k));
    k->current = -1;
}

void kv_known_clear(kv_known *k)
{
    free(k->data);
    kv_known_init(k);
}

int kv_known_take(kv_known *k, kv_store *s)
{
    int ok = s->current >= 0 && !s->write_failed;
    const uint8_t *before = k->data;
    uint8_t *data = NULL, pad = 0;
    size_t len = 0;

    for (int i = 0; ok && i < s->cfg->copies; i++)
        ok = s->copy[i].status == KV_COPY_VALID || s->copy[i].status == KV_COPY_BAD_CRC;
    if (!ok) {
        kv_known_clear(k);
        return 0;
    }
    if (s->written && s->written_copy == s->current) {
        data = s->written; /* zeros follow */
        len = s->written_len;
        s->written = NULL;
    } else if (s->data == k->data) {
        data = k->data; /* checked, and nothing written */
        len = k->len;
        pad = k->pad;
        k->data = NULL;
    } else {
        len = kv_data_used(s->data, s->data_len);
        if (!kv_uniform(s->data + len, s->data_len - len, &pad))
            len = s->data_len; /* not padding: kept whole */
        data = malloc(len ? len : 1);
        if (!data) {
            kv_known_clear(k);
            return -ENOMEM;
        }
        memcpy(data, s->data, len);
    }
    kv_known_clear(k);
    if (s->data == before && data != before) {
        s->data = NULL; /* freed with k's old data */
        s->data_len = 0;
    }
    k->valid = 1;
    k->scheme = s->scheme;
    k->current = s->current;
    for (int i = 0; i < s->cfg->copies; i++) {
        k->copy[i].kind = s->copy[i].kind;
        k->copy[i].offset = s->copy[i].offset;
        k->copy[i].status = s->copy[i].status;
        k->copy[i].stored_crc = s->copy[i].stored_crc;
        k->copy[i].flags = s->copy[i].flags;
    }
    k->data = data;
    k->len = len;
    k->pad = pad;
    return 0;
}
