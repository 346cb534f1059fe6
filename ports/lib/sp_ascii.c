/* Locale-free numbers and excerpts: see sp_ascii.h. */
#include "sp_ascii.h"

#include <limits.h>

int sp_parse_uint(const char *s, size_t len, int base, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;

    if (len == 0 || base < 2 || base > 16)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int d = sp_hex_digit(s[i]);

        if (d < 0 || d >= base || v > (max - (unsigned long long)d) / (unsigned long long)base)
            return -1;
        v = v * (unsigned long long)base + (unsigned long long)d;
    }
    *out = v;
    return 0;
}

int sp_parse_int(const char *s, size_t len, long long min, long long max, long long *out)
{
    int negative = len > 0 && s[0] == '-';
    /* LLONG_MIN's magnitude does not fit a long long: bound it unsigned. */
    unsigned long long limit = negative ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX, u;
    long long v;

    if (sp_parse_uint(s + negative, len - (size_t)negative, 10, limit, &u) < 0)
        return -1;
    v = !negative ? (long long)u : u == limit ? LLONG_MIN : -(long long)u;
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

size_t sp_printable(char *out, size_t out_size, const void *in, size_t len, char replacement)
{
    const unsigned char *p = in;
    size_t n = 0;

    for (; n < len && n + 1 < out_size; n++)
        out[n] = p[n] >= 0x20 && p[n] < 0x7f ? (char)p[n] : replacement;
    out[n] = '\0';
    return n;
}
