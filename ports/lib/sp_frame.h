/*
 * {packet,4} framing of the input side: a growable buffer with a hard cap.
 *
 * Reads append to the buffer; sp_inbuf_next() hands out whole frames in
 * order (several per read, or one assembled from many reads). The buffer
 * never grows past cap + 4 bytes, so a peer cannot make a helper allocate
 * without bound.
 */
#ifndef SP_FRAME_H
#define SP_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sp_frame_status {
    SP_FRAME_OK = 0,        /* frame and len set to the next whole frame */
    SP_FRAME_NEED_MORE = 1, /* a partial frame (or nothing) is buffered */
    SP_FRAME_TOO_BIG = 2,   /* the next frame's length exceeds the cap */
};

/* Pure: looks at buf[0..len) for one frame. */
enum sp_frame_status sp_frame_split(const uint8_t *buf, size_t len, size_t cap,
                                    size_t *payload_off, size_t *payload_len);

typedef struct sp_inbuf {
    uint8_t *data;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last buffered byte */
    size_t size;  /* allocated */
    size_t cap;   /* largest acceptable payload */
} sp_inbuf;

int sp_inbuf_init(sp_inbuf *b, size_t cap);
void sp_inbuf_free(sp_inbuf *b);

/* Reads once from fd into the buffer. Returns bytes read, 0 at EOF, -1 with
 * errno on error (EAGAIN and EINTR included: the caller decides). */
ssize_t sp_inbuf_read(sp_inbuf *b, int fd);

/* Appends bytes (what sp_inbuf_read does, for tests and fuzzing). */
int sp_inbuf_append(sp_inbuf *b, const void *bytes, size_t len);

/* Next whole frame; it stays valid until the next read/append. */
enum sp_frame_status sp_inbuf_next(sp_inbuf *b, const uint8_t **frame, size_t *len);

/* Bytes buffered that are not yet a whole frame. */
size_t sp_inbuf_pending(const sp_inbuf *b);

#endif
