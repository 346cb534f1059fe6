/*
 * fw_env.config, as U-Boot's fw_printenv and libubootenv read it (pure):
 *
 *   # device         offset     size     [sector size  [sectors]]
 *   /dev/mmcblk0     0x100000   0x2000
 *   /dev/mmcblk0     -0x4000    0x2000          (negative: from the end)
 *
 * One location line is a single env, two are a redundant pair. Like those
 * tools, the offset is a C integer (0x hex, leading-0 octal or decimal,
 * optionally negative) and the size, sector size and sector count are hex
 * whether or not they start with 0x: "0x20000" and "20000" are the same
 * size. Unlike them, a line that does not parse is an error rather than
 * silently ignored. A '#' starts a comment, at the start of a line or after
 * the fields; a sixth field (libubootenv's disable-lock flag) is ignored.
 */
#ifndef KV_CONFIG_H
#define KV_CONFIG_H

#include <stddef.h>

#define KV_MAX_COPIES 2
#define KV_DEVICE_MAX 256

typedef struct kv_location {
    char device[KV_DEVICE_MAX];
    long long offset;           /* negative: counted back from the end of the device */
    unsigned long size;         /* bytes per copy, header included */
    unsigned long sector_size;  /* erase unit on MTD; 0: the device's */
    unsigned long sectors;      /* erase units the copy may use; 0: as many as it needs */
} kv_location;

typedef struct kv_config {
    kv_location loc[KV_MAX_COPIES];
    int copies;
} kv_config;

/* Parses one line (no newline needed). Returns 1 and fills *loc for a
 * location, 0 for a blank or comment line, -1 with *why set otherwise. */
int kv_config_line(const char *line, size_t len, kv_location *loc, const char **why);

/* Adds a location to cfg, checking what a set of copies needs (at most two,
 * equal sizes, room for a header and a terminator). 0, or -1 with *why. */
int kv_config_add(kv_config *cfg, const kv_location *loc, const char **why);

/* Parses a whole file. 0, or -1 with a message in err naming the line. */
int kv_config_parse(const char *text, size_t len, kv_config *cfg, char *err, size_t err_size);

#endif
