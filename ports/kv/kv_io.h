/* Whole-buffer positioned I/O, retrying EINTR and short transfers. */
#ifndef KV_IO_H
#define KV_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Bytes transferred (fewer only at end of file), or -errno. */
ssize_t kv_pread_all(int fd, void *buf, size_t len, off_t offset);
ssize_t kv_pwrite_all(int fd, const void *buf, size_t len, off_t offset);

#endif
