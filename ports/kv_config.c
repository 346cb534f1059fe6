#include "kv_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_env.h"

#define MAX_FIELDS 6
#define FIELD_MAX 64

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Copies a numeric field to a NUL-terminated buffer for strto*. */
static int field_str(const char *f, size_t len, char out[FIELD_MAX])
{
    if (len == 0 || len >= FIELD_MAX)
        return -1;
    memcpy(out, f, len);
    out[len] = '\0';
    return 0;
}

static int parse_offset(const char *f, size_t len, long long *v)
{
    char s[FIELD_MAX], *end;

    if (field_str(f, len, s) < 0)
        return -1;
    errno = 0;
    *v = strtoll(s, &end, 0);
    return errno || *end ? -1 : 0;
}

static int parse_hex(const char *f, size_t len, unsigned long *v)
{
    char s[FIELD_MAX], *end;

    if (field_str(f, len, s) < 0 || s[0] == '-' || s[0] == '+')
        return -1;
    errno = 0;
    *v = strtoul(s, &end, 16);
    return errno || *end ? -1 : 0;
}

int kv_config_line(const char *line, size_t len, kv_location *loc, const char **why)
{
    const char *field[MAX_FIELDS];
    size_t flen[MAX_FIELDS];
    int n = 0;
    size_t i = 0;

    while (i < len) {
        while (i < len && is_blank(line[i]))
            i++;
        if (i == len || line[i] == '#' || line[i] == '\n')
            break;
        if (n == MAX_FIELDS) {
            *why = "more than 6 fields";
            return -1;
        }
        field[n] = line + i;
        while (i < len && !is_blank(line[i]) && line[i] != '\n' && line[i] != '#')
            i++;
        flen[n] = (size_t)(line + i - field[n]);
        n++;
    }
    if (n == 0)
        return 0;
    if (n < 3) {
        *why = "expected: device offset size [sector_size [sectors]]";
        return -1;
    }
    memset(loc, 0, sizeof(*loc));
    if (flen[0] >= sizeof(loc->device) || memchr(field[0], '\0', flen[0])) {
        *why = "device path too long";
        return -1;
    }
    memcpy(loc->device, field[0], flen[0]);
    if (parse_offset(field[1], flen[1], &loc->offset) < 0) {
        *why = "offset is not an integer";
        return -1;
    }
    if (parse_hex(field[2], flen[2], &loc->size) < 0 || loc->size == 0) {
        *why = "size is not a non-zero hex number";
        return -1;
    }
    if (n > 3 && parse_hex(field[3], flen[3], &loc->sector_size) < 0) {
        *why = "sector size is not a hex number";
        return -1;
    }
    if (n > 4 && parse_hex(field[4], flen[4], &loc->sectors) < 0) {
        *why = "sector count is not a hex number";
        return -1;
    }
    return 1;
}

int kv_config_add(kv_config *cfg, const kv_location *loc, const char **why)
{
    enum kv_scheme scheme = cfg->copies == 0 ? KV_SCHEME_SINGLE : KV_SCHEME_INCREMENTAL;

    if (cfg->copies == KV_MAX_COPIES) {
        *why = "more than two locations";
        return -1;
    }
    if (cfg->copies == 1 && loc->size != cfg->loc[0].size) {
        *why = "the two copies have different sizes";
        return -1;
    }
    /* A header and at least the terminating NUL (redundant header for a pair). */
    if (loc->size < kv_header_size(scheme) + 1 || loc->size > (1ul << 30)) {
        *why = "size out of range";
        return -1;
    }
    cfg->loc[cfg->copies++] = *loc;
    return 0;
}

int kv_config_parse(const char *text, size_t len, kv_config *cfg, char *err, size_t err_size)
{
    const char *p = text, *end = text + len;
    int lineno = 0;

    memset(cfg, 0, sizeof(*cfg));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *why = NULL;
        size_t line_len = (size_t)((nl ? nl : end) - p);
        kv_location loc;
        int r;

        lineno++;
        r = kv_config_line(p, line_len, &loc, &why);
        if (r == 1 && kv_config_add(cfg, &loc, &why) < 0)
            r = -1;
        if (r < 0) {
            snprintf(err, err_size, "line %d: %s", lineno, why);
            return -1;
        }
        p += line_len + (nl ? 1 : 0);
    }
    if (cfg->copies == 0) {
        snprintf(err, err_size, "no location lines");
        return -1;
    }
    return 0;
}
