#include "sp_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first allocation; the buffer grows by doubling up to cap + 4. */
#define SP_INBUF_INITIAL 4096

enum sp_frame_status sp_frame_split(const uint8_t *buf, size_t len, size_t cap,
                                    size_t *payload_off, size_t *payload_len)
{
    uint32_t n;

    if (len < 4)
        return SP_FRAME_NEED_MORE;
    n = ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) | ((uint32_t)buf[2] << 8) | buf[3];
    if (n > cap)
        return SP_FRAME_TOO_BIG;
    if (len - 4 < n)
        return SP_FRAME_NEED_MORE;
    *payload_off = 4;
    *payload_len = n;
    return SP_FRAME_OK;
}

int sp_inbuf_init(sp_inbuf *b, size_t cap)
{
    size_t initial = cap + 4 < SP_INBUF_INITIAL ? cap + 4 : SP_INBUF_INITIAL;

    memset(b, 0, sizeof(*b));
    b->data = malloc(initial);
    if (!b->data)
        return -1;
    b->size = initial;
    b->cap = cap;
    return 0;
}

void sp_inbuf_free(sp_inbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

size_t sp_inbuf_pending(const sp_inbuf *b)
{
    return b->end - b->start;
}

/* Makes room for at least `want` more bytes, within the cap. Returns the
 * room available (0 when the buffer is full at its cap). */
static size_t make_room(sp_inbuf *b, size_t want)
{
    size_t limit = b->cap + 4;
    size_t used = b->end - b->start;

    if (b->start > 0 && (b->end == b->size || used == 0)) {
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->end = used;
    }
    if (b->size - b->end < want && b->size < limit) {
        size_t size = b->size;
        uint8_t *grown;

        if (b->start > 0) {
            memmove(b->data, b->data + b->start, used);
            b->start = 0;
            b->end = used;
        }
        while (size - b->end < want && size < limit)
            size = size > limit / 2 ? limit : size * 2;
        grown = realloc(b->data, size);
        if (grown) {
            b->data = grown;
            b->size = size;
        }
    }
    return b->size - b->end;
}

/* How many bytes the frame being assembled still needs (at least 1). */
static size_t bytes_wanted(const sp_inbuf *b)
{
    const uint8_t *p = b->data + b->start;
    size_t used = b->end - b->start;
    uint32_t n;

    if (used < 4)
        return 4096;
    n = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    if (n > b->cap || used >= 4 + (size_t)n)
        return 1;
    return 4 + (size_t)n - used;
}

ssize_t sp_inbuf_read(sp_inbuf *b, int fd)
{
    size_t room = make_room(b, bytes_wanted(b));
    ssize_t got;

    if (room == 0) {
        errno = ENOBUFS;
        return -1;
    }
    got = read(fd, b->data + b->end, room);
    if (got > 0)
        b->end += (size_t)got;
    return got;
}

int sp_inbuf_append(sp_inbuf *b, const void *bytes, size_t len)
{
    while (len > 0) {
        size_t room = make_room(b, len);
        size_t n = room < len ? room : len;

        if (n == 0)
            return -1;
        memcpy(b->data + b->end, bytes, n);
        b->end += n;
        bytes = (const uint8_t *)bytes + n;
        len -= n;
    }
    return 0;
}

enum sp_frame_status sp_inbuf_next(sp_inbuf *b, const uint8_t **frame, size_t *len)
{
    size_t off, n;
    enum sp_frame_status st = sp_frame_split(b->data + b->start, b->end - b->start, b->cap, &off, &n);

    if (st != SP_FRAME_OK)
        return st;
    *frame = b->data + b->start + off;
    *len = n;
    b->start += off + n;
    return SP_FRAME_OK;
}
