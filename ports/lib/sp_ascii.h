/* Locale-free text for the parsers: character classes, numbers and safe
 * excerpts of untrusted bytes. The C
 * library's versions consult the locale and pull in more of libc than a
 * helper should map (a small program calling strtoll once was about 100 KiB
 * more resident). Pure: no I/O, no allocation. */
#ifndef SP_ASCII_H
#define SP_ASCII_H

#include <stddef.h>

/* The value of a hexadecimal digit (either case), or -1. */
static inline int sp_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Numbers are whole strings of digits, nothing else: no sign (but the '-'
 * sp_parse_int allows), no blanks, no 0x, no suffix, at least one digit.
 * A value outside [min, max] fails like one that overflows. 0 with *out
 * set, or -1 with *out untouched.
 */
/* Digits of base 2..16 in s[0, len). */
int sp_parse_uint(const char *s, size_t len, int base, unsigned long long max, unsigned long long *out);
/* Decimal, with an optional leading '-'. */
int sp_parse_int(const char *s, size_t len, long long min, long long max, long long *out);

/* Copies up to out_size - 1 bytes of in[0, len) to out, NUL-terminated,
 * with every byte outside printable ASCII (0x20..0x7e) replaced by
 * `replacement': an excerpt of untrusted bytes that is safe to log. Returns
 * the bytes written before the NUL. out_size must be at least 1. */
size_t sp_printable(char *out, size_t out_size, const void *in, size_t len, char replacement);

#endif
