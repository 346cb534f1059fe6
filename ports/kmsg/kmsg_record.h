/*
 * /dev/kmsg records (Documentation/ABI/testing/dev-kmsg), parsed without I/O.
 *
 *   PRI,SEQ,TS_USEC,FLAGS[,caller=T123][,future fields...];message\n
 *    SUBSYSTEM=pci\n
 *    DEVICE=+pci:0000:00:02.0\n
 *
 * PRI is (facility << 3) | level. The header ends at the FIRST ';' (the
 * message may contain more). Fields after FLAGS that are not caller= are
 * ignored, as the ABI asks. The kernel escapes bytes < 0x20, >= 0x7f and '\'
 * in the message and dictionary values as \xNN; those are decoded.
 *
 * A kmsg file (util-linux `dmesg -K`) holds such records separated by NULs.
 */
#ifndef KMSG_RECORD_H
#define KMSG_RECORD_H

#include <stddef.h>

/* The largest record read(2) on /dev/kmsg returns (CONSOLE_EXT_LOG_MAX). */
#define KMSG_RECORD_MAX 8192

struct kmsg_span {
    const char *ptr; /* NULL when absent */
    size_t len;
};

struct kmsg_record {
    unsigned long long seq;
    unsigned long long ts_usec; /* the kernel's printk clock */
    unsigned long facility;
    unsigned level; /* 0 (emergency) .. 7 (debug) */
    struct kmsg_span flags;   /* raw, in the input: "-", "c", "+" */
    struct kmsg_span caller;  /* raw, in the input: "T123", "C2" */
    struct kmsg_span message; /* decoded, in the output buffer */
    struct kmsg_span subsystem, device; /* decoded, in the output buffer */
};

enum kmsg_parse_status {
    KMSG_OK = 0,
    KMSG_EMPTY,          /* no bytes, or only NULs */
    KMSG_NO_TERMINATOR,  /* no ';' ends the header */
    KMSG_BAD_PRIORITY,   /* not a decimal number that fits */
    KMSG_BAD_SEQ,
    KMSG_BAD_TIMESTAMP,
    KMSG_MISSING_FIELDS, /* fewer than PRI,SEQ,TS before the ';' */
    KMSG_TOO_LONG,       /* over KMSG_RECORD_MAX bytes: not something the kernel wrote */
};

/*
 * Parses one record of len bytes (not NUL-terminated). Decoded text goes to
 * out (out_size bytes); rec's message/subsystem/device point into it,
 * flags/caller into buf. A record over KMSG_RECORD_MAX bytes, or over
 * out_size, is KMSG_TOO_LONG: /dev/kmsg never returns one, so only a kmsg
 * file can hold it, and nothing of it is decoded.
 */
enum kmsg_parse_status kmsg_parse(const char *buf, size_t len, char *out, size_t out_size, struct kmsg_record *rec);

/* The reason as an Erlang atom name: "no_terminator", ... */
const char *kmsg_status_name(enum kmsg_parse_status status);

/*
 * The next record of a kmsg file: skips NULs from *offset, sets rec/rec_len
 * to the bytes up to the next NUL (or the end) and advances *offset past
 * them. Returns 0 when no record is left.
 */
int kmsg_file_next(const char *buf, size_t len, size_t *offset, const char **rec, size_t *rec_len);

/* Facility names of syslog(3) (0..23), or NULL. */
const char *kmsg_facility_name(unsigned long facility);
/* The logger level of a kernel level: "emergency" .. "debug". */
const char *kmsg_level_name(unsigned level);

#endif
