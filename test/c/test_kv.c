/* Unit tests for the U-Boot env helper's pure parts (image format,
 * fw_env.config, MTD planning, flag schemes) and for the store on files. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kv_config.h"
#include "kv_env.h"
#include "kv_mtd.h"
#include "kv_store.h"
#include "sp_test.h"

#define LIT(s) s, sizeof(s) - 1

static int entry_is(const kv_entry *e, const char *k, const char *v)
{
    return e->key_len == strlen(k) && memcmp(e->key, k, e->key_len) == 0 && e->val_len == strlen(v) &&
           memcmp(e->val, v, e->val_len) == 0;
}

/* The CRC of an image mkenvimage made (-r -s 0x20000 from "a=1\nb=2\n",
 * 0xff padding), as a golden value from another implementation. */
static void test_crc_matches_mkenvimage(void)
{
    size_t size = 0x20000;
    uint8_t *img = malloc(size);
    uint32_t stored, computed;

    memset(img, 0xff, size);
    memcpy(img, "\x1a\x9d\x86\x07\x01" "a=1\0b=2\0\0", 14);
    CHECK(kv_image_check(img, size, KV_SCHEME_INCREMENTAL, &stored, &computed));
    CHECK_EQ(computed, 0x07869d1a);
    CHECK_EQ(kv_image_flags(img, KV_SCHEME_INCREMENTAL), 1);
    img[100] ^= 1; /* a flip in the padding counts too */
    CHECK(!kv_image_check(img, size, KV_SCHEME_INCREMENTAL, &stored, &computed));
    free(img);
}

static void test_seal_then_check(void)
{
    uint8_t img[64];

    memset(img, 0, sizeof(img));
    memcpy(img + 4, "k=v\0", 4);
    kv_image_seal(img, sizeof(img), KV_SCHEME_SINGLE, 0);
    {
        uint32_t stored, computed;

        CHECK(kv_image_check(img, sizeof(img), KV_SCHEME_SINGLE, &stored, &computed));
        CHECK_EQ(stored, computed);
        /* Read as a redundant image the same bytes do not check. */
        CHECK(!kv_image_check(img, sizeof(img), KV_SCHEME_INCREMENTAL, &stored, &computed));
        CHECK(!kv_image_check(img, 4, KV_SCHEME_SINGLE, &stored, &computed));
    }
    kv_image_seal(img, sizeof(img), KV_SCHEME_BOOLEAN, KV_FLAG_ACTIVE);
    CHECK_EQ(img[4], KV_FLAG_ACTIVE);
}

/* Where the entries end, as the parser sees it. */
static void test_data_used(void)
{
    CHECK_EQ(kv_data_used((const uint8_t *)"a=1\0b=2\0\0\0\0", 11), 9);
    CHECK_EQ(kv_data_used((const uint8_t *)"\0\0\0", 3), 1); /* an empty env */
    CHECK_EQ(kv_data_used((const uint8_t *)"a=1\0b=2", 7), 7); /* cut off by the end */
    CHECK_EQ(kv_data_used((const uint8_t *)"a=1\0b=2\0", 8), 8); /* no final empty string */
    CHECK_EQ(kv_data_used((const uint8_t *)"a=1\0\0\xff\xff", 7), 5);
    CHECK_EQ(kv_data_used((const uint8_t *)"", 0), 0);
}

static void test_uniform(void)
{
    uint8_t b = 7;

    CHECK(kv_uniform((const uint8_t *)"", 0, &b));
    CHECK_EQ(b, 7);
    CHECK(kv_uniform((const uint8_t *)"\xff", 1, &b));
    CHECK_EQ(b, 0xff);
    CHECK(kv_uniform((const uint8_t *)"\0\0\0\0", 4, &b));
    CHECK_EQ(b, 0);
    CHECK(!kv_uniform((const uint8_t *)"\0\0\0\1", 4, &b));
    CHECK(!kv_uniform((const uint8_t *)"\1\0\0\0", 4, &b));
}

/* The CRC of data and padding, without the padding in memory, is zlib's
 * CRC of both written out: for padding of every length around the sizes
 * the doubling works in, and for both padding bytes images use. */
static void test_crc_padded(void)
{
    static const size_t totals[] = {9, 10, 255, 256, 257, 511, 512, 513, 4096, 4099, 0x20000 - 5, 0x100000 - 5};
    static const uint8_t pads[] = {0x00, 0xff};
    const uint8_t data[] = "a=1\0b=2\0\0";
    uint8_t *buf = malloc(0x100000);

    for (size_t p = 0; p < sizeof(pads); p++)
        for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
            size_t total = totals[t], len = 9;

            memcpy(buf, data, len);
            memset(buf + len, pads[p], total - len);
            CHECK_EQ(kv_crc_padded(data, len, pads[p], total), crc32(0L, buf, (uInt)total));
        }
    CHECK_EQ(kv_crc_padded(data, 9, 0, 9), crc32(0L, data, 9));
    CHECK_EQ(kv_crc_padded(data, 0, 0xff, 0), crc32(0L, Z_NULL, 0));
    free(buf);
}

/* An image held as parts reads and compares as the same image written out
 * and sealed the old way, at any offset and length. */
static void test_image_parts(void)
{
    size_t size = 300;
    uint8_t whole[300], piece[300];
    const uint8_t data[] = "k=v\0x=yy\0";
    kv_image im;

    memset(whole, 0xff, size);
    memcpy(whole + 5, data, 10);
    kv_image_seal(whole, size, KV_SCHEME_INCREMENTAL, 9);
    kv_image_make(&im, KV_SCHEME_INCREMENTAL, 9, data, 10, 0xff, size);
    CHECK_EQ(im.hdr_len, 5);
    for (size_t off = 0; off < size; off += 7)
        for (size_t n = 0; off + n <= size; n += 13) {
            memset(piece, 0x55, sizeof(piece));
            kv_image_bytes(&im, off, piece, n);
            CHECK_MEM(piece, whole + off, n);
            CHECK(kv_image_same(&im, off, whole + off, n));
            if (n > 0) {
                piece[n / 2] ^= 0x20;
                CHECK(!kv_image_same(&im, off, piece, n));
            }
        }
    {
        uint32_t crc;
        uint8_t flags;

        CHECK_EQ(kv_header_parse(whole, 5, KV_SCHEME_INCREMENTAL, &crc, &flags), 0);
        CHECK_EQ(flags, 9);
        CHECK_EQ(crc, whole[0] | whole[1] << 8 | whole[2] << 16 | (uint32_t)whole[3] << 24);
        CHECK_EQ(kv_header_parse(whole, 4, KV_SCHEME_INCREMENTAL, &crc, &flags), -1);
        CHECK_EQ(kv_header_parse(whole, 4, KV_SCHEME_SINGLE, &crc, &flags), 0);
        CHECK_EQ(flags, 0);
    }
    /* A single env's image has no flags byte. */
    kv_image_make(&im, KV_SCHEME_SINGLE, 0, data, 10, 0, size);
    memset(whole, 0, size);
    memcpy(whole + 4, data, 10);
    kv_image_seal(whole, size, KV_SCHEME_SINGLE, 0);
    memset(piece, 0x55, sizeof(piece));
    kv_image_bytes(&im, 0, piece, size);
    CHECK_MEM(piece, whole, size);
}

static void test_select_incremental(void)
{
    enum kv_scheme s = KV_SCHEME_INCREMENTAL;

    CHECK_EQ(kv_select(s, 0, 0, 0, 0), -1);
    CHECK_EQ(kv_select(s, 1, 9, 0, 200), 0);
    CHECK_EQ(kv_select(s, 0, 200, 1, 9), 1);
    CHECK_EQ(kv_select(s, 1, 3, 1, 4), 1);
    CHECK_EQ(kv_select(s, 1, 4, 1, 3), 0);
    CHECK_EQ(kv_select(s, 1, 7, 1, 7), 0);
    CHECK_EQ(kv_select(s, 1, 255, 1, 0), 1); /* the wrap */
    CHECK_EQ(kv_select(s, 1, 0, 1, 255), 0);
    CHECK_EQ(kv_select(s, 1, 254, 1, 255), 1);
    CHECK_EQ(kv_next_flags(s, 255), 0);
    CHECK_EQ(kv_next_flags(s, 41), 42);
}

static void test_select_boolean(void)
{
    enum kv_scheme s = KV_SCHEME_BOOLEAN;

    CHECK_EQ(kv_select(s, 1, KV_FLAG_ACTIVE, 1, KV_FLAG_OBSOLETE), 0);
    CHECK_EQ(kv_select(s, 1, KV_FLAG_OBSOLETE, 1, KV_FLAG_ACTIVE), 1);
    CHECK_EQ(kv_select(s, 1, KV_FLAG_ACTIVE, 1, KV_FLAG_ACTIVE), 0);
    CHECK_EQ(kv_select(s, 1, 0xff, 1, KV_FLAG_ACTIVE), 0);
    CHECK_EQ(kv_select(s, 1, 5, 1, 0xff), 1);
    CHECK_EQ(kv_select(s, 1, 5, 1, 6), 0);
    CHECK_EQ(kv_select(s, 0, KV_FLAG_ACTIVE, 1, KV_FLAG_OBSOLETE), 1);
    CHECK_EQ(kv_next_flags(s, KV_FLAG_OBSOLETE), KV_FLAG_ACTIVE);
    CHECK_EQ(kv_select(KV_SCHEME_SINGLE, 1, 0, 1, 0), 0);
    CHECK_EQ(kv_select(KV_SCHEME_SINGLE, 0, 0, 1, 0), -1);
}

static void test_parse_entries(void)
{
    static const char data[] = "b=2\0noequals\0=novalue\0a=x=y\0b=3\0bin=\xff\xfe\x01\0empty=\0\0junk=after\0";
    kv_env env;

    kv_env_init(&env);
    CHECK_EQ(kv_env_parse(&env, (const uint8_t *)data, sizeof(data) - 1), 0);
    CHECK_EQ(env.n, 5);
    CHECK_EQ(env.skipped, 2);
    CHECK_EQ(env.unterminated, 0);
    CHECK(entry_is(&env.entries[1], "a", "x=y"));
    CHECK_EQ(kv_env_normalize(&env), 0);
    CHECK_EQ(env.n, 4);
    CHECK_EQ(env.duplicates, 1);
    CHECK(entry_is(&env.entries[0], "a", "x=y"));
    CHECK(entry_is(&env.entries[1], "b", "3")); /* the last one wins */
    CHECK(entry_is(&env.entries[2], "bin", "\xff\xfe\x01"));
    CHECK(entry_is(&env.entries[3], "empty", ""));
    kv_env_free(&env);
}

static void test_parse_unterminated(void)
{
    kv_env env;

    /* The last entry runs into the end of the area. */
    kv_env_init(&env);
    CHECK_EQ(kv_env_parse(&env, (const uint8_t *)LIT("a=1\0b=22")), 0);
    CHECK_EQ(env.n, 2);
    CHECK(env.unterminated);
    CHECK(entry_is(&env.entries[1], "b", "22"));
    kv_env_free(&env);
    /* Terminated entries but no empty string after them. */
    kv_env_init(&env);
    CHECK_EQ(kv_env_parse(&env, (const uint8_t *)LIT("a=1\0b=2\0")), 0);
    CHECK_EQ(env.n, 2);
    CHECK(env.unterminated);
    kv_env_free(&env);
    kv_env_init(&env);
    CHECK_EQ(kv_env_parse(&env, (const uint8_t *)LIT("\0a=1\0")), 0);
    CHECK_EQ(env.n, 0);
    CHECK(!env.unterminated);
    kv_env_free(&env);
}

/* Many keys in a scrambled order, each twice: sorted, and the later of
 * each pair kept. */
static void test_normalize_many(void)
{
    enum { N = 1000 };
    static char keys[N][8], vals[2][N][8];
    kv_env env;

    kv_env_init(&env);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            int k = (i * 7919) % N; /* 7919 is prime: a permutation */

            snprintf(keys[k], sizeof(keys[k]), "k%04d", k);
            snprintf(vals[round][k], sizeof(vals[round][k]), "r%d", round);
            kv_env_add(&env, keys[k], strlen(keys[k]), vals[round][k], strlen(vals[round][k]));
        }
    CHECK_EQ(kv_env_normalize(&env), 0);
    CHECK_EQ(env.n, N);
    CHECK_EQ(env.duplicates, N);
    for (int i = 0; i < N; i++) {
        CHECK(entry_is(&env.entries[i], keys[i], "r1"));
        CHECK_EQ(kv_env_find(&env, keys[i], strlen(keys[i])), i);
    }
    kv_env_free(&env);
}

static void test_apply(void)
{
    kv_env env;
    kv_entry puts[] = {{LIT("c"), LIT("3"), 0}, {LIT("a"), LIT("1"), 0}};
    kv_entry same[] = {{LIT("a"), LIT("1"), 0}};
    kv_entry dels[] = {{LIT("b"), NULL, 0, 0}, {LIT("b"), NULL, 0, 0}, {LIT("zz"), NULL, 0, 0}};
    int changed;

    kv_env_init(&env);
    kv_env_parse(&env, (const uint8_t *)LIT("b=2\0a=0\0\0"));
    CHECK_EQ(kv_env_normalize(&env), 0);
    CHECK_EQ(kv_env_apply(&env, puts, 2, NULL, 0, &changed), 0);
    CHECK(changed);
    CHECK_EQ(env.n, 3);
    CHECK(entry_is(&env.entries[0], "a", "1"));
    CHECK(entry_is(&env.entries[2], "c", "3"));
    CHECK_EQ(env.duplicates, 0);
    CHECK_EQ(kv_env_apply(&env, same, 1, NULL, 0, &changed), 0);
    CHECK(!changed);
    CHECK_EQ(kv_env_apply(&env, NULL, 0, dels + 2, 1, &changed), 0);
    CHECK(!changed);
    CHECK_EQ(kv_env_apply(&env, NULL, 0, dels, 3, &changed), 0);
    CHECK(changed);
    CHECK_EQ(env.n, 2);
    CHECK_EQ(kv_env_find(&env, LIT("b")), -1);
    CHECK_EQ(kv_env_find(&env, LIT("c")), 1);
    kv_env_free(&env);
}

static void test_serialize_fits_exactly(void)
{
    uint8_t data[16];
    kv_env env;

    kv_env_init(&env);
    /* "k=0123456789ab\0" is 15 bytes, plus the final NUL: 16. */
    kv_env_add(&env, LIT("k"), LIT("0123456789ab"));
    CHECK_EQ(kv_env_data_size(&env), 16);
    memset(data, 0xee, sizeof(data));
    CHECK_EQ(kv_env_serialize(&env, data, sizeof(data)), 0);
    CHECK_MEM(data, "k=0123456789ab\0\0", 16);
    CHECK_EQ(kv_env_serialize(&env, data, sizeof(data) - 1), -1);
    kv_env_free(&env);
    kv_env_init(&env);
    CHECK_EQ(kv_env_data_size(&env), 1);
    CHECK_EQ(kv_env_serialize(&env, data, 1), 0);
    CHECK_EQ(data[0], 0);
    kv_env_free(&env);
}

static void test_key_value_rules(void)
{
    CHECK(kv_key_valid(LIT("nerves_fw_active")));
    CHECK(kv_key_valid(LIT("\xc3\xa9t\xc3\xa9")));
    CHECK(!kv_key_valid(LIT("")));
    CHECK(!kv_key_valid(LIT("a=b")));
    CHECK(!kv_key_valid(LIT("a\0b")));
    /* A newline or a leading '#' can be in an image, not in a write. */
    CHECK(kv_key_valid(LIT("a\nb")) && !kv_key_writable(LIT("a\nb")));
    CHECK(kv_key_valid(LIT("#a")) && !kv_key_writable(LIT("#a")));
    CHECK(!kv_key_writable(LIT("\n")) && !kv_key_writable(LIT("a=b")) && !kv_key_writable(LIT("")));
    CHECK(kv_key_writable(LIT("a#b")) && kv_key_writable(LIT("with space")) && kv_key_writable(LIT("\xff\xfe")));
    CHECK(kv_value_valid(LIT("")));
    CHECK(kv_value_valid(LIT("x=y \xff")));
    CHECK(!kv_value_valid(LIT("a\0b")));
}

static void test_config_lines(void)
{
    kv_location loc;
    const char *why = NULL;

    CHECK_EQ(kv_config_line(LIT("/dev/mmcblk0 0x100000 0x2000"), &loc, &why), 1);
    CHECK(strcmp(loc.device, "/dev/mmcblk0") == 0);
    CHECK_EQ(loc.offset, 0x100000);
    CHECK_EQ(loc.size, 0x2000);
    CHECK_EQ(loc.sector_size, 0);
    /* Sizes are hex with or without 0x, as in fw_printenv; offsets are C integers. */
    CHECK_EQ(kv_config_line(LIT("\t/dev/mtd1  4096  20000 10000 2 # env\r"), &loc, &why), 1);
    CHECK_EQ(loc.offset, 4096);
    CHECK_EQ(loc.size, 0x20000);
    CHECK_EQ(loc.sector_size, 0x10000);
    CHECK_EQ(loc.sectors, 2);
    CHECK_EQ(kv_config_line(LIT("/dev/sda -0x4000 0x2000"), &loc, &why), 1);
    CHECK_EQ(loc.offset, -0x4000);
    CHECK_EQ(kv_config_line(LIT("/dev/sda 010 0x2000"), &loc, &why), 1);
    CHECK_EQ(loc.offset, 8);
    CHECK_EQ(kv_config_line(LIT("/dev/mtd0 0 0x1000 0x1000 1 1"), &loc, &why), 1);
    CHECK_EQ(kv_config_line(LIT("   # a comment"), &loc, &why), 0);
    CHECK_EQ(kv_config_line(LIT(""), &loc, &why), 0);
    CHECK_EQ(kv_config_line(LIT(" \t \r"), &loc, &why), 0);
    CHECK_EQ(kv_config_line(LIT("/dev/sda 0x0"), &loc, &why), -1);
    CHECK_EQ(kv_config_line(LIT("/dev/sda zero 0x2000"), &loc, &why), -1);
    CHECK_EQ(kv_config_line(LIT("/dev/sda 0 0x2g00"), &loc, &why), -1);
    CHECK_EQ(kv_config_line(LIT("/dev/sda 0 0"), &loc, &why), -1);
    CHECK_EQ(kv_config_line(LIT("/dev/sda 0 -0x10"), &loc, &why), -1);
    CHECK_EQ(kv_config_line(LIT("/dev/sda 0 0x10 1 1 1 1"), &loc, &why), -1);
    CHECK_EQ(kv_config_line(LIT("/dev/sda 0 0x1000000000000000000000"), &loc, &why), -1);
}

static void test_config_files(void)
{
    static const char two[] = "# fw_env.config\n\n/tmp/a 0x0 0x4000\n/tmp/b 0x0 0x4000 # second\n";
    kv_config cfg;
    char err[128];

    CHECK_EQ(kv_config_parse(LIT(two), &cfg, err, sizeof(err)), 0);
    CHECK_EQ(cfg.copies, 2);
    CHECK(strcmp(cfg.loc[1].device, "/tmp/b") == 0);
    CHECK_EQ(kv_config_parse(LIT("/tmp/a 0 0x4000"), &cfg, err, sizeof(err)), 0);
    CHECK_EQ(cfg.copies, 1);
    CHECK_EQ(kv_config_parse(LIT("# nothing\n"), &cfg, err, sizeof(err)), -1);
    CHECK_EQ(kv_config_parse(LIT("/a 0 0x4000\n/b 0 0x2000\n"), &cfg, err, sizeof(err)), -1);
    CHECK(strstr(err, "line 2") != NULL);
    CHECK_EQ(kv_config_parse(LIT("/a 0 0x4000\n/b 0 0x4000\n/c 0 0x4000\n"), &cfg, err, sizeof(err)), -1);
    CHECK_EQ(kv_config_parse(LIT("/a 0 0x4000\nnonsense here\n"), &cfg, err, sizeof(err)), -1);
    CHECK(strstr(err, "line 2") != NULL);
    CHECK_EQ(kv_config_parse(LIT("/a 0 0x4\n"), &cfg, err, sizeof(err)), -1);
}

static void test_scheme_per_device(void)
{
    static const struct {
        int copies;
        enum kv_kind k0, k1;
        int rc;
        enum kv_scheme scheme;
    } cases[] = {
        {1, KV_KIND_NOR, KV_KIND_UNKNOWN, 0, KV_SCHEME_SINGLE},
        {2, KV_KIND_FILE, KV_KIND_FILE, 0, KV_SCHEME_INCREMENTAL},
        {2, KV_KIND_BLOCK, KV_KIND_BLOCK, 0, KV_SCHEME_INCREMENTAL},
        {2, KV_KIND_NAND, KV_KIND_NAND, 0, KV_SCHEME_INCREMENTAL},
        {2, KV_KIND_NOR, KV_KIND_NOR, 0, KV_SCHEME_BOOLEAN},
        {2, KV_KIND_DATAFLASH, KV_KIND_DATAFLASH, 0, KV_SCHEME_BOOLEAN},
        {2, KV_KIND_RAM, KV_KIND_RAM, 0, KV_SCHEME_BOOLEAN},
        {2, KV_KIND_UNKNOWN, KV_KIND_NOR, 0, KV_SCHEME_BOOLEAN}, /* a copy that did not open */
        {2, KV_KIND_UNKNOWN, KV_KIND_UNKNOWN, 0, KV_SCHEME_INCREMENTAL},
        {2, KV_KIND_NOR, KV_KIND_NAND, -1, 0},
        {2, KV_KIND_FILE, KV_KIND_BLOCK, -1, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum kv_scheme s = KV_SCHEME_SINGLE;

        CHECK_EQ(kv_scheme_for(cases[i].copies, cases[i].k0, cases[i].k1, &s), cases[i].rc);
        if (cases[i].rc == 0)
            CHECK_EQ(s, cases[i].scheme);
    }
}

static void test_mtd_geometry(void)
{
    kv_location loc = {.size = 0x20000};
    unsigned long unit, sectors;
    const char *why;

    CHECK_EQ(kv_mtd_geometry(&loc, 0x40000, 0x10000, 0x100000, &unit, &sectors, &why), 0);
    CHECK_EQ(unit, 0x10000);
    CHECK_EQ(sectors, 2);
    loc.size = 0x2000; /* smaller than an erase block: one unit */
    CHECK_EQ(kv_mtd_geometry(&loc, 0, 0x20000, 0x100000, &unit, &sectors, &why), 0);
    CHECK_EQ(sectors, 1);
    loc.sector_size = 0x40000; /* a configured unit of two erase blocks */
    CHECK_EQ(kv_mtd_geometry(&loc, 0x40000, 0x20000, 0x100000, &unit, &sectors, &why), 0);
    CHECK_EQ(unit, 0x40000);
    loc.sector_size = 0x18000;
    CHECK_EQ(kv_mtd_geometry(&loc, 0, 0x10000, 0x100000, &unit, &sectors, &why), -1);
    loc.sector_size = 0;
    CHECK_EQ(kv_mtd_geometry(&loc, 0x1000, 0x10000, 0x100000, &unit, &sectors, &why), -1);
    loc.size = 0x20000;
    loc.sectors = 1; /* 128 KiB in one 64 KiB sector */
    CHECK_EQ(kv_mtd_geometry(&loc, 0, 0x10000, 0x100000, &unit, &sectors, &why), -1);
    loc.sectors = 4; /* room for bad blocks, past the end */
    CHECK_EQ(kv_mtd_geometry(&loc, 0xe0000, 0x10000, 0x100000, &unit, &sectors, &why), -1);
    CHECK_EQ(kv_mtd_geometry(&loc, 0xc0000, 0x10000, 0x100000, &unit, &sectors, &why), 0);
    CHECK_EQ(kv_mtd_geometry(&loc, 0, 0, 0x100000, &unit, &sectors, &why), -1);
}

/* A bad block table for the planner: bit i set = unit i bad. */
struct fake_nand {
    unsigned long long base;
    unsigned long unit;
    unsigned bad;
    int fail;
};

static int fake_bad(void *ctx, unsigned long long start)
{
    struct fake_nand *f = ctx;

    if (f->fail)
        return -1;
    return (f->bad >> ((start - f->base) / f->unit)) & 1;
}

static void test_mtd_plan(void)
{
    kv_block b[KV_MAX_BLOCKS];
    struct fake_nand nand = {.base = 0x100000, .unit = 0x4000, .bad = 0x5}; /* units 0 and 2 bad */
    const char *why;

    /* NOR: contiguous, last unit partly used. */
    CHECK_EQ(kv_mtd_plan(0x100000, 0x6000, 0x4000, 2, NULL, NULL, b, &why), 2);
    CHECK_EQ(b[0].start, 0x100000);
    CHECK_EQ(b[0].len, 0x4000);
    CHECK_EQ(b[1].start, 0x104000);
    CHECK_EQ(b[1].image_off, 0x4000);
    CHECK_EQ(b[1].len, 0x2000);
    /* NAND: skips the bad units and continues in the next good one. */
    CHECK_EQ(kv_mtd_plan(0x100000, 0x8000, 0x4000, 5, fake_bad, &nand, b, &why), 2);
    CHECK_EQ(b[0].start, 0x104000);
    CHECK_EQ(b[0].image_off, 0);
    CHECK_EQ(b[1].start, 0x10c000);
    CHECK_EQ(b[1].image_off, 0x4000);
    /* Not enough good units left in the range. */
    CHECK_EQ(kv_mtd_plan(0x100000, 0x8000, 0x4000, 3, fake_bad, &nand, b, &why), -1);
    nand.fail = 1;
    CHECK_EQ(kv_mtd_plan(0x100000, 0x8000, 0x4000, 5, fake_bad, &nand, b, &why), -1);
}

/* The MTD read and write paths on a regular file standing in for a
 * dataflash partition (no erase; the ioctls fail and are not needed). */
static void test_mtd_io_on_file(void)
{
    char path[] = "/tmp/test_kv_mtd_XXXXXX";
    int fd = mkstemp(path);
    uint8_t fill[0x5000], img[0x1800], back[0x5000];
    struct fake_nand nand = {.base = 0x1000, .unit = 0x1000, .bad = 0x1}; /* unit at 0x1000 bad */
    kv_block b[KV_MAX_BLOCKS];
    const char *why;
    int n;

    memset(fill, 0xaa, sizeof(fill));
    CHECK(pwrite(fd, fill, sizeof(fill), 0) == (ssize_t)sizeof(fill));
    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = (uint8_t)(i * 7);
    n = kv_mtd_plan(0x1000, sizeof(img), 0x1000, 3, fake_bad, &nand, b, &why);
    CHECK_EQ(n, 2);
    CHECK_EQ(kv_mtd_write(fd, b, n, 0x1000, 0, img), 0);
    CHECK(pread(fd, back, sizeof(back), 0) == (ssize_t)sizeof(back));
    CHECK_MEM(back, fill, 0x2000);                  /* before, and the bad unit: untouched */
    CHECK_MEM(back + 0x2000, img, sizeof(img));     /* the image in the good units */
    CHECK_MEM(back + 0x3800, fill, 0x1800);         /* the rest of the last unit: kept */
    memset(back, 0, sizeof(back));
    CHECK_EQ(kv_mtd_read(fd, b, n, back), 0);
    CHECK_MEM(back, img, sizeof(img));
    /* A real erase is an ioctl a regular file does not have. */
    CHECK(kv_mtd_write(fd, b, n, 0x1000, 1, img) < 0);
    /* The obsolete mark is the flags byte after the CRC. */
    CHECK_EQ(kv_mtd_mark_obsolete(fd, 0x2000 + 4, 0x1000), 0);
    CHECK(pread(fd, back, 6, 0x2000) == 6);
    CHECK_MEM(back, img, 4);
    CHECK_EQ(back[4], KV_FLAG_OBSOLETE);
    CHECK_EQ(back[5], img[5]);
    close(fd);
    unlink(path);
}

/* A redundant env of two files of size bytes in a new directory dir. */
static void two_files(char *dir, kv_config *cfg, size_t size)
{
    CHECK(mkdtemp(dir) != NULL);
    for (int i = 0; i < 2; i++) {
        snprintf(cfg->loc[i].device, sizeof(cfg->loc[i].device), "%s/env%d", dir, i);
        cfg->loc[i].size = size;
    }
}

/* The store on two files: writes alternate copies with rising flags, and a
 * copy that goes bad is the one the next write replaces. */
static void test_store_on_files(void)
{
    char dir[] = "/tmp/test_kv_XXXXXX";
    kv_config cfg = {.copies = 2};
    kv_store s;
    kv_env env;
    kv_write_error e;
    int fd;

    two_files(dir, &cfg, 0x1000);
    kv_store_init(&s, &cfg, 1);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK(kv_store_is_new(&s));
    CHECK_EQ(s.current, -1);
    kv_env_init(&env);
    kv_env_add(&env, LIT("k"), LIT("v"));
    CHECK_EQ(kv_store_write(&s, &env, &e), 0);
    CHECK_EQ(s.current, 1);
    CHECK_EQ(kv_store_write(&s, &env, &e), 0);
    CHECK_EQ(s.current, 0);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.current, 0);
    CHECK_EQ(s.copy[0].flags, 2);
    CHECK_EQ(s.copy[1].flags, 1);
    CHECK_EQ(s.copy[1].status, KV_COPY_VALID);
    /* Corrupt copy 0: copy 1 is current, and the next write goes to 0. */
    fd = open(cfg.loc[0].device, O_WRONLY);
    CHECK(pwrite(fd, "X", 1, 10) == 1);
    close(fd);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.copy[0].status, KV_COPY_BAD_CRC);
    CHECK_EQ(s.current, 1);
    CHECK_EQ(kv_store_write(&s, &env, &e), 0);
    CHECK_EQ(s.current, 0);
    CHECK_EQ(s.copy[0].flags, 2);
    /* Too big for the copy: nothing written. */
    {
        static char big[0x1000];

        memset(big, 'x', sizeof(big));
        kv_env_add(&env, LIT("big"), big, sizeof(big));
        CHECK_EQ(kv_store_write(&s, &env, &e), -ENOSPC);
        CHECK_EQ(s.current, 0);
    }
    /* A truncated copy is short, not missing, once the store exists. */
    CHECK(truncate(cfg.loc[1].device, 100) == 0);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.copy[1].status, KV_COPY_SHORT);
    CHECK_EQ(s.copy[1].got, 100);
    kv_env_free(&env);
    kv_store_release(&s);
    unlink(cfg.loc[0].device);
    unlink(cfg.loc[1].device);
    rmdir(dir);
}

/* A single env is rewritten in place, while the entries being written
 * still point into the image read from it. */
static void test_store_single_in_place(void)
{
    char path[] = "/tmp/test_kv_single_XXXXXX";
    int fd = mkstemp(path);
    kv_config cfg = {.copies = 1};
    kv_store s;
    kv_env env;
    kv_write_error e;
    uint8_t img[256];

    memset(img, 0, sizeof(img));
    memcpy(img + 4, "a=1\0b=2\0", 8);
    kv_image_seal(img, sizeof(img), KV_SCHEME_SINGLE, 0);
    CHECK(pwrite(fd, img, sizeof(img), 0) == (ssize_t)sizeof(img));
    close(fd);
    strcpy(cfg.loc[0].device, path);
    cfg.loc[0].size = sizeof(img);
    kv_store_init(&s, &cfg, 0);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.current, 0);
    kv_env_init(&env);
    kv_env_parse(&env, s.copy[0].img + 4, sizeof(img) - 4);
    CHECK_EQ(kv_env_normalize(&env), 0);
    CHECK_EQ(kv_store_write(&s, &env, &e), 0);
    CHECK_EQ(kv_store_write(&s, &env, &e), 0);
    CHECK(entry_is(&env.entries[1], "b", "2"));
    CHECK_EQ(s.written_len, 9);
    CHECK_MEM(s.written, "a=1\0b=2\0\0", 9);
    {
        uint8_t back[256];
        int rfd = open(path, O_RDONLY);

        CHECK(pread(rfd, back, sizeof(back), 0) == (ssize_t)sizeof(back));
        close(rfd);
        CHECK_MEM(back, img, sizeof(img)); /* zero padded, as mkenvimage's default */
    }
    kv_env_free(&env);
    kv_store_release(&s);
    unlink(path);
}

static void write_at(const char *path, off_t off, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY);

    CHECK(pwrite(fd, buf, n, off) == (ssize_t)n);
    close(fd);
}

/* What a write trusts without reading the env whole: a check against what
 * the last request found passes only while the devices hold just that. */
static void test_store_check(void)
{
    char dir[] = "/tmp/test_kv_check_XXXXXX";
    kv_config cfg = {.copies = 2};
    kv_store s;
    kv_known k;
    kv_env env;
    kv_write_error e;
    uint8_t img[0x1000];

    two_files(dir, &cfg, sizeof(img));
    /* Two copies as mkenvimage -p 0xff pads them: copy 1 newer. */
    memset(img, 0xff, sizeof(img));
    memcpy(img + 5, "a=1\0b=2\0\0", 9);
    kv_image_seal(img, sizeof(img), KV_SCHEME_INCREMENTAL, 1);
    CHECK_EQ(close(open(cfg.loc[0].device, O_CREAT | O_WRONLY, 0600)), 0);
    CHECK_EQ(close(open(cfg.loc[1].device, O_CREAT | O_WRONLY, 0600)), 0);
    write_at(cfg.loc[0].device, 0, img, sizeof(img));
    memcpy(img + 5, "a=1\0b=3\0\0", 9);
    kv_image_seal(img, sizeof(img), KV_SCHEME_INCREMENTAL, 2);
    write_at(cfg.loc[1].device, 0, img, sizeof(img));

    kv_known_init(&k);
    kv_store_init(&s, &cfg, 0);
    CHECK_EQ(kv_store_check(&s, &k), 0); /* nothing known yet */
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.current, 1);
    CHECK_EQ(kv_known_take(&k, &s), 0);
    CHECK(k.valid);
    CHECK_EQ(k.len, 9); /* the entries and the empty string after them */
    CHECK_EQ(k.pad, 0xff);
    kv_store_release(&s);

    /* Unchanged: the store as a read leaves it, from the copies' headers
     * and the current copy compared. */
    CHECK_EQ(kv_store_check(&s, &k), 1);
    CHECK_EQ(s.current, 1);
    CHECK_EQ(s.copy[0].status, KV_COPY_VALID);
    CHECK_EQ(s.copy[0].flags, 1);
    CHECK_EQ(s.copy[1].flags, 2);
    CHECK_EQ(s.data_len, 9);
    CHECK_MEM(s.data, "a=1\0b=3\0\0", 9);
    CHECK(s.copy[1].img == NULL);

    /* A write after the check: copy 0 gets the next counter, and what is
     * known is then the written copy, zero padded. */
    kv_env_init(&env);
    kv_env_parse(&env, s.data, s.data_len);
    kv_env_add(&env, LIT("c"), LIT("4"));
    CHECK_EQ(kv_store_write(&s, &env, &e), 0);
    CHECK_EQ(s.current, 0);
    CHECK_EQ(kv_known_take(&k, &s), 0);
    kv_env_free(&env);
    kv_store_release(&s);
    CHECK_EQ(k.current, 0);
    CHECK_EQ(k.pad, 0);
    CHECK_EQ(k.copy[0].flags, 3);
    CHECK_EQ(kv_store_check(&s, &k), 1);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.copy[0].status, KV_COPY_VALID);
    CHECK_EQ(s.copy[0].flags, 3);
    kv_store_release(&s);

    /* Another writer (fw_setenv) wrote copy 1 with the next counter. */
    memset(img, 0, sizeof(img));
    memcpy(img + 5, "a=9\0\0", 5);
    kv_image_seal(img, sizeof(img), KV_SCHEME_INCREMENTAL, 4);
    write_at(cfg.loc[1].device, 0, img, sizeof(img));
    CHECK_EQ(kv_store_check(&s, &k), 0);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.current, 1);
    CHECK_EQ(kv_known_take(&k, &s), 0);
    kv_store_release(&s);
    CHECK_EQ(kv_store_check(&s, &k), 1);
    kv_store_release(&s);

    /* The current copy changed in place, header kept: in the entries, in
     * the padding, in the flags byte. */
    {
        static const off_t where[] = {6, 200, 4};

        for (size_t i = 0; i < 3; i++) {
            uint8_t b;
            int fd = open(cfg.loc[1].device, O_RDWR);

            CHECK(pread(fd, &b, 1, where[i]) == 1);
            b ^= 0x10;
            CHECK(pwrite(fd, &b, 1, where[i]) == 1);
            CHECK_EQ(kv_store_check(&s, &k), 0);
            b ^= 0x10;
            CHECK(pwrite(fd, &b, 1, where[i]) == 1);
            close(fd);
            CHECK_EQ(kv_store_check(&s, &k), 1);
            kv_store_release(&s);
        }
    }
    /* The other copy's data changed under its header: not seen (the next
     * write replaces that copy), as only its header is read. */
    write_at(cfg.loc[0].device, 100, "zz", 2);
    CHECK_EQ(kv_store_check(&s, &k), 1);
    kv_store_release(&s);
    /* Its header changed: seen. */
    write_at(cfg.loc[0].device, 4, "\x07", 1);
    CHECK_EQ(kv_store_check(&s, &k), 0);
    kv_store_release(&s);
    /* A copy gone: read whole, and nothing is trusted until it is back. */
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(kv_known_take(&k, &s), 0);
    kv_store_release(&s);
    CHECK(truncate(cfg.loc[0].device, 10) == 0);
    CHECK_EQ(kv_store_check(&s, &k), 0);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.copy[0].status, KV_COPY_SHORT);
    CHECK_EQ(kv_known_take(&k, &s), 0);
    CHECK(!k.valid);
    kv_store_release(&s);
    kv_known_clear(&k);
    unlink(cfg.loc[0].device);
    unlink(cfg.loc[1].device);
    rmdir(dir);
}

static void test_store_layout_errors(void)
{
    kv_config cfg = {.copies = 2};
    kv_store s;

    strcpy(cfg.loc[0].device, "/dev/null"); /* a character device, not MTD */
    strcpy(cfg.loc[1].device, "/nonexistent/env");
    cfg.loc[0].size = cfg.loc[1].size = 0x1000;
    kv_store_init(&s, &cfg, 0);
    CHECK_EQ(kv_store_read(&s), 0);
    CHECK_EQ(s.copy[0].status, KV_COPY_LAYOUT);
    CHECK_EQ(s.copy[1].status, KV_COPY_IO_ERROR);
    CHECK_EQ(s.copy[1].err, ENOENT);
    CHECK_EQ(s.current, -1);
    CHECK(!kv_store_is_new(&s));
    kv_store_release(&s);
}

int main(void)
{
    RUN(test_crc_matches_mkenvimage);
    RUN(test_seal_then_check);
    RUN(test_data_used);
    RUN(test_uniform);
    RUN(test_crc_padded);
    RUN(test_image_parts);
    RUN(test_select_incremental);
    RUN(test_select_boolean);
    RUN(test_parse_entries);
    RUN(test_parse_unterminated);
    RUN(test_normalize_many);
    RUN(test_apply);
    RUN(test_serialize_fits_exactly);
    RUN(test_key_value_rules);
    RUN(test_config_lines);
    RUN(test_config_files);
    RUN(test_scheme_per_device);
    RUN(test_mtd_geometry);
    RUN(test_mtd_plan);
    RUN(test_mtd_io_on_file);
    RUN(test_store_on_files);
    RUN(test_store_single_in_place);
    RUN(test_store_check);
    RUN(test_store_layout_errors);
    return sp_test_report("test_kv");
}
