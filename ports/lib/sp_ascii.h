/* Locale-free character classes for the parsers (the C library's consult
 * the locale, and pull in more of libc than a helper should map). */
#ifndef SP_ASCII_H
#define SP_ASCII_H

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

#endif
