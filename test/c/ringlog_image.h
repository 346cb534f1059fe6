/* A spool file image in memory, read the way recovery reads a file
 * (shared by the C tests and the fuzz targets). */
#ifndef RINGLOG_IMAGE_H
#define RINGLOG_IMAGE_H

#include <stdint.h>
#include <string.h>

struct ringlog_image {
    const uint8_t *p;
    size_t len;
};

static inline size_t ringlog_image_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
    const struct ringlog_image *im = ctx;

    if (off >= im->len)
        return 0;
    if (len > im->len - off)
        len = im->len - off;
    memcpy(buf, im->p + off, len);
    return len;
}

#endif
