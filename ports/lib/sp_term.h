/*
 * Bounded decoding of Erlang external term format.
 *
 * ei's decoders trust the buffer: they read whatever the length fields say.
 * Every function here first checks that the whole item (tag, header and any
 * inline payload) lies inside the buffer, and only then lets ei decode it.
 * On failure the cursor does not move, so a caller can try another type.
 */
#ifndef SP_TERM_H
#define SP_TERM_H

#include <stddef.h>
#include <ei.h>

typedef struct sp_dec {
    const char *buf;
    int index; /* next byte to decode */
    int len;   /* bytes in buf */
} sp_dec;

/* Nesting deeper than this is refused by sp_dec_skip (hostile input). */
#define SP_MAX_DEPTH 64

/* Starts a decoder over one frame: checks and consumes the version byte. */
int sp_dec_init(sp_dec *d, const char *buf, size_t len);
/* Starts a decoder over a term without a version byte (already positioned). */
void sp_dec_init_raw(sp_dec *d, const char *buf, size_t len, int index);

/* The tag of the next term, or -1 when the buffer is exhausted. */
int sp_dec_peek(const sp_dec *d);
int sp_dec_remaining(const sp_dec *d);
int sp_dec_done(const sp_dec *d); /* 1 when every byte was consumed */

int sp_dec_atom(sp_dec *d, char atom[MAXATOMLEN_UTF8]);
int sp_dec_atom_is(sp_dec *d, const char *expected); /* consumes only on match */
int sp_dec_bool(sp_dec *d, int *value);
int sp_dec_long(sp_dec *d, long long *value);
int sp_dec_ulong(sp_dec *d, unsigned long long *value);
int sp_dec_double(sp_dec *d, double *value); /* floats and integers */
/* A binary, returned in place (no copy, not NUL-terminated). */
int sp_dec_binary(sp_dec *d, const char **data, size_t *len);
/* A binary, a byte string (STRING_EXT) or [] - what iolist_to_binary gives. */
int sp_dec_bytes(sp_dec *d, const char **data, size_t *len);
/* Copies a binary into a NUL-terminated buffer; fails if it holds a NUL or
 * does not fit. */
int sp_dec_cstring(sp_dec *d, char *out, size_t out_size);

int sp_dec_tuple(sp_dec *d, int *arity);
/* A proper list header: [] gives 0. STRING_EXT is not accepted here. */
int sp_dec_list(sp_dec *d, int *len);
int sp_dec_list_tail(sp_dec *d); /* the [] after the elements */
int sp_dec_map(sp_dec *d, int *pairs);

/* Skips one whole term of any supported type (bounded and iterative). */
int sp_dec_skip(sp_dec *d);
/* Size in bytes of the next whole term, without moving. */
int sp_dec_term_size(const sp_dec *d, int *size);

#endif
