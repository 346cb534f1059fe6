/*
 * The U-Boot environment image, as pure functions over buffers (no I/O):
 *
 *   single env:     crc32 (little-endian) | data
 *   redundant env:  crc32 (little-endian) | flags byte | data
 *   data:           key=value\0 key=value\0 ... \0, then padding
 *
 * The CRC (zlib's crc32) covers the whole data area, padding included.
 * Entries point into the buffer they were parsed from: nothing is copied.
 */
#ifndef KV_ENV_H
#define KV_ENV_H

#include <stddef.h>
#include <stdint.h>

/* How the flags byte of a redundant pair picks the current copy. */
enum kv_scheme {
    KV_SCHEME_SINGLE,      /* one copy, no flags byte */
    KV_SCHEME_INCREMENTAL, /* files, block devices, NAND: a counter wrapping 255 -> 0 */
    KV_SCHEME_BOOLEAN,     /* NOR and dataflash: active (1) / obsolete (0) */
};

#define KV_FLAG_OBSOLETE 0
#define KV_FLAG_ACTIVE 1

typedef struct kv_entry {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
    uint32_t seq; /* position of arrival: the later of two equal keys wins */
} kv_entry;

typedef struct kv_env {
    kv_entry *entries;
    size_t n, cap;
    size_t skipped;    /* entries without '=' or with an empty key */
    size_t duplicates; /* entries dropped by kv_env_normalize */
    int unterminated;  /* the data area ended without the final empty string */
    uint32_t next_seq;
} kv_env;

/* Bytes before the data area. */
size_t kv_header_size(enum kv_scheme scheme);

/* CRC check of an image of `size` bytes. Returns 1 when valid; the stored
 * and computed CRCs are reported either way. */
int kv_image_check(const uint8_t *img, size_t size, enum kv_scheme scheme, uint32_t *stored, uint32_t *computed);
/* Fills in the header (CRC over the data area, and the flags byte). */
void kv_image_seal(uint8_t *img, size_t size, enum kv_scheme scheme, uint8_t flags);
uint8_t kv_image_flags(const uint8_t *img, enum kv_scheme scheme);
/* The CRC and flags byte of a header of `len` bytes (what a read of a
 * copy's first bytes got). 0, or -1 when it is shorter than a header. */
int kv_header_parse(const uint8_t *hdr, size_t len, enum kv_scheme scheme, uint32_t *crc, uint8_t *flags);

/* An image held as its parts, so that nothing the size of the copy need be
 * in memory: the header, then `len` bytes of data, then the byte `pad` up
 * to `size` bytes in all. What a write sends, and what reading a copy back
 * is compared with. */
typedef struct kv_image {
    uint8_t hdr[5];
    size_t hdr_len;
    const uint8_t *data;
    size_t len;
    uint8_t pad;
    size_t size;
} kv_image;

/* The bytes up to the end of a data area's entries: past the empty string
 * that ends them, or all of it when nothing does. Parsing these is parsing
 * the area. */
size_t kv_data_used(const uint8_t *data, size_t len);
/* 1 when the n bytes at p are all one byte (then *byte, when n > 0). */
int kv_uniform(const uint8_t *p, size_t n, uint8_t *byte);
/* The CRC of `len` bytes of data followed by pad up to `total` bytes, at
 * the cost of the data alone. */
uint32_t kv_crc_padded(const uint8_t *data, size_t len, uint8_t pad, size_t total);
/* An image of data padded with pad, sealed with its CRC and flags byte;
 * hdr + len must not exceed size. */
void kv_image_make(kv_image *im, enum kv_scheme scheme, uint8_t flags, const uint8_t *data, size_t len, uint8_t pad,
                   size_t size);
/* The same with the CRC already known (a copy that was checked before). */
void kv_image_known(kv_image *im, enum kv_scheme scheme, uint8_t flags, uint32_t crc, const uint8_t *data, size_t len,
                    uint8_t pad, size_t size);
/* Bytes [off, off + n) of the image into buf (off + n <= size). */
void kv_image_bytes(const kv_image *im, size_t off, uint8_t *buf, size_t n);
/* 1 when buf holds bytes [off, off + n) of the image (off + n <= size). */
int kv_image_same(const kv_image *im, size_t off, const uint8_t *buf, size_t n);

/* Which copy is current, as U-Boot's fw_env decides: 0, 1, or -1 when
 * neither is valid. For a single env only copy 0 counts. */
int kv_select(enum kv_scheme scheme, int valid0, uint8_t flags0, int valid1, uint8_t flags1);
/* The flags byte a new copy gets when `current` is the one it replaces. */
uint8_t kv_next_flags(enum kv_scheme scheme, uint8_t current);

void kv_env_init(kv_env *env);
void kv_env_free(kv_env *env);
/* Parses a data area. Entries without '=' or with an empty key are skipped
 * and counted; an entry running to the end of the area is kept. Returns 0,
 * or -1 when out of memory. */
int kv_env_parse(kv_env *env, const uint8_t *data, size_t len);
/* Appends one entry (after the ones already there). 0, or -1 when out of memory. */
int kv_env_add(kv_env *env, const char *key, size_t key_len, const char *val, size_t val_len);
/* Sorts by key (bytewise, as libubootenv writes) and keeps the last of
 * equal keys, adding the dropped ones to env->duplicates. 0, or -1 when
 * out of memory. */
int kv_env_normalize(kv_env *env);
/* Binary search in a normalized env; the index or -1. */
long kv_env_find(const kv_env *env, const char *key, size_t key_len);
/* Applies puts, then deletes, to a normalized env (which stays normalized).
 * *changed says whether the result differs. 0, or -1 when out of memory. */
int kv_env_apply(kv_env *env, const kv_entry *puts, size_t nputs, const kv_entry *deletes, size_t ndeletes,
                 int *changed);

/* Bytes the entries need in a data area, the final NUL included. */
size_t kv_env_data_size(const kv_env *env);
/* Writes the entries and the final NUL, zero-fills the rest. 0, or -1 when
 * they do not fit. */
int kv_env_serialize(const kv_env *env, uint8_t *data, size_t len);

/* Keys an image can hold are non-empty without '=' or NUL (what U-Boot
 * and fw_setenv refuse); values have no NUL. */
int kv_key_valid(const char *key, size_t len);
/* Keys a write may add: also round-trip through the env's text form
 * (fw_printenv's "key=value" lines, fw_setenv -s scripts, mkenvimage and
 * u-boot-initial-env files, U-Boot's env import -t): no newline, and not
 * starting with '#' (a comment line there). */
int kv_key_writable(const char *key, size_t len);
int kv_value_valid(const char *val, size_t len);

#endif
