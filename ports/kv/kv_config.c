#include "sp_ascii.h"
#include "kv_config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kv_env.h"

#define MAX_FIELDS 6

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Digits in `base`, with an optional 0x/0X before hex ones; base 0 picks
 * it as C does (0x hex, leading 0 octal, else decimal). The whole field
 * must be digits, and the value at most `max`. */
static int parse_unsigned(const char *f, size_t len, int base, unsigned long long max, unsigned long long *v)
{
    if ((base == 0 || base == 16) && len > 2 && f[0] == '0' && (f[1] == 'x' || f[1] == 'X'))
        return sp_parse_uint(f + 2, len - 2, 16, max, v);
    if (base == 0)
        base = len > 1 && f[0] == '0' ? 8 : 10;
    return sp_parse_uint(f, len, base, max, v);
}

static int parse_offset(const char *f, size_t len, long long *v)
{
    int negative = len > 0 && f[0] == '-';
    unsigned long long u;

    if (parse_unsigned(f + negative, len - (size_t)negative, 0, (unsigned long long)LLONG_MAX, &u) < 0)
        return -1;
    *v = negative ? -(long long)u : (long long)u;
    return 0;
}

static int parse_hex(const char *f, size_t len, unsigned long *v)
{
    unsigned long long u;

    if (parse_unsigned(f, len, 16, ULONG_MAX, &u) < 0)
        return -1;
    *v = (unsigned long)u;
    return 0;
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
