#include "sp_proto.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Frames queued before sp_send flushes on its own. */
#define SP_OUTQ_MAX_FRAMES 256
#define SP_OUTQ_MAX_BYTES (1u << 20)
/* Frames per writev: two iovecs each, within IOV_MAX (1024 on Linux). */
#define SP_WRITEV_FRAMES 512

struct outq_frame {
    ei_x_buff x;
    unsigned char header[4];
};

static struct {
    int fd;
    int broken;
    struct outq_frame *frames;
    size_t count, capacity, bytes;
} outq = {.fd = 1};

void sp_out_set_fd(int fd)
{
    outq.fd = fd;
}

int sp_out_fd(void)
{
    return outq.fd;
}

int sp_out_broken(void)
{
    return outq.broken;
}

size_t sp_queued_frames(void)
{
    return outq.count;
}

int sp_writev_all(int fd, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        ssize_t n = writev(fd, iov, iovcnt);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static void drop_queue(void)
{
    for (size_t i = 0; i < outq.count; i++)
        ei_x_free(&outq.frames[i].x);
    outq.count = 0;
    outq.bytes = 0;
}

int sp_flush(void)
{
    struct iovec iov[2 * SP_WRITEV_FRAMES];
    size_t done = 0;

    while (done < outq.count && !outq.broken) {
        int n = 0;

        for (size_t i = done; i < outq.count && n < 2 * SP_WRITEV_FRAMES; i++) {
            iov[n].iov_base = outq.frames[i].header;
            iov[n++].iov_len = 4;
            iov[n].iov_base = outq.frames[i].x.buff;
            iov[n++].iov_len = (size_t)outq.frames[i].x.index;
        }
        if (sp_writev_all(outq.fd, iov, n) < 0)
            outq.broken = 1;
        done += (size_t)n / 2;
    }
    drop_queue();
    return outq.broken ? -1 : 0;
}

static int grow_queue(void)
{
    size_t capacity = outq.capacity ? outq.capacity * 2 : 16;
    struct outq_frame *grown = realloc(outq.frames, capacity * sizeof(*grown));

    if (!grown)
        return -1;
    outq.frames = grown;
    outq.capacity = capacity;
    return 0;
}

void sp_send(ei_x_buff *x)
{
    struct outq_frame *f;
    uint32_t len = (uint32_t)x->index;

    if (outq.count == outq.capacity && grow_queue() < 0)
        sp_flush(); /* out of memory: empty the queue to make room */
    if (outq.broken || outq.count == outq.capacity) {
        ei_x_free(x);
        memset(x, 0, sizeof(*x));
        return;
    }
    f = &outq.frames[outq.count++];
    f->x = *x;
    f->header[0] = (unsigned char)(len >> 24);
    f->header[1] = (unsigned char)(len >> 16);
    f->header[2] = (unsigned char)(len >> 8);
    f->header[3] = (unsigned char)len;
    outq.bytes += len + 4;
    memset(x, 0, sizeof(*x));
    if (outq.count >= SP_OUTQ_MAX_FRAMES || outq.bytes >= SP_OUTQ_MAX_BYTES)
        sp_flush();
}

void sp_x_new(ei_x_buff *x)
{
    ei_x_new_with_version(x);
}

void sp_reply_begin(ei_x_buff *x, unsigned long long id)
{
    sp_x_new(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "reply");
    ei_x_encode_ulonglong(x, id);
}

void sp_reply_ok_begin(ei_x_buff *x, unsigned long long id)
{
    sp_reply_begin(x, id);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "ok");
}

void sp_event_begin(ei_x_buff *x)
{
    sp_x_new(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "event");
}

void sp_progress_begin(ei_x_buff *x)
{
    sp_x_new(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "progress");
}

void sp_reply_ok(unsigned long long id)
{
    ei_x_buff x;

    sp_reply_begin(&x, id);
    ei_x_encode_atom(&x, "ok");
    sp_send(&x);
}

void sp_x_error(ei_x_buff *x, const char *reason)
{
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "error");
    ei_x_encode_atom(x, reason);
}

void sp_reply_error(unsigned long long id, const char *reason)
{
    ei_x_buff x;

    sp_reply_begin(&x, id);
    sp_x_error(&x, reason);
    sp_send(&x);
}

void sp_reply_errno(unsigned long long id, int err)
{
    sp_reply_error(id, sp_errno_atom(err));
}

void sp_reply_error_begin(ei_x_buff *x, unsigned long long id, const char *reason)
{
    sp_reply_begin(x, id);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "error");
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, reason);
}

void sp_reply_error_detail(unsigned long long id, const char *reason, const char *detail)
{
    ei_x_buff x;

    sp_reply_error_begin(&x, id, reason);
    sp_x_binary_str(&x, detail);
    sp_send(&x);
}

void sp_vlog(const char *level, const char *fmt, va_list ap)
{
    char msg[1024];
    ei_x_buff x;
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);

    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    sp_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "log");
    ei_x_encode_atom(&x, level);
    ei_x_encode_binary(&x, msg, n);
    sp_send(&x);
}

void sp_log(const char *level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sp_vlog(level, fmt, ap);
    va_end(ap);
}

/* ei reallocates unless ei_x_extra (100) bytes are left over after an item:
 * reserve more than that on top. */
#define SP_X_SLACK 256

int sp_x_reserve(ei_x_buff *x, size_t bytes)
{
    size_t need = (size_t)x->index + bytes + SP_X_SLACK, size = x->buffsz > 0 ? (size_t)x->buffsz : 64;
    char *grown;

    if (need <= (size_t)x->buffsz)
        return 0;
    if (bytes > INT_MAX || need > INT_MAX)
        return -1;
    while (size < need)
        size = size > INT_MAX / 2 ? INT_MAX : size * 2;
    grown = realloc(x->buff, size);
    if (!grown)
        return -1;
    x->buff = grown;
    x->buffsz = (int)size;
    return 0;
}

void sp_x_binary_str(ei_x_buff *x, const char *s)
{
    ei_x_encode_binary(x, s, (long)strlen(s));
}

void sp_map_begin(sp_map *m, ei_x_buff *x)
{
    m->x = x;
    m->at = x->index;
    m->pairs = 0;
    ei_x_encode_map_header(x, 0);
}

void sp_map_key(sp_map *m, const char *key)
{
    m->pairs++;
    ei_x_encode_atom(m->x, key);
}

void sp_map_atom(sp_map *m, const char *key, const char *atom)
{
    sp_map_key(m, key);
    ei_x_encode_atom(m->x, atom);
}

void sp_map_bool(sp_map *m, const char *key, int value)
{
    sp_map_key(m, key);
    ei_x_encode_boolean(m->x, value);
}

void sp_map_int(sp_map *m, const char *key, long long value)
{
    sp_map_key(m, key);
    ei_x_encode_longlong(m->x, value);
}

void sp_map_uint(sp_map *m, const char *key, unsigned long long value)
{
    sp_map_key(m, key);
    ei_x_encode_ulonglong(m->x, value);
}

void sp_map_str(sp_map *m, const char *key, const char *s)
{
    sp_map_key(m, key);
    sp_x_binary_str(m->x, s);
}

void sp_map_end(sp_map *m)
{
    int index = m->at;

    /* Same bytes as ei_x_encode_map_header with the final count. */
    ei_encode_map_header(m->x->buff, &index, m->pairs);
}

void sp_x_atoms(ei_x_buff *x, const char *const *atoms, int n)
{
    if (n > 0) {
        ei_x_encode_list_header(x, n);
        for (int i = 0; i < n; i++)
            ei_x_encode_atom(x, atoms[i]);
    }
    ei_x_encode_empty_list(x);
}

void sp_x_errno(ei_x_buff *x, int err)
{
    ei_x_encode_atom(x, sp_errno_atom(err));
}

const char *sp_errno_atom(int err)
{
    /* The names Erlang's file and inet modules use. */
    static const struct {
        int err;
        const char *name;
    } names[] = {
        {EPERM, "eperm"},         {ENOENT, "enoent"},       {ESRCH, "esrch"},
        {EINTR, "eintr"},         {EIO, "eio"},             {ENXIO, "enxio"},
        {E2BIG, "e2big"},         {ENOEXEC, "enoexec"},     {EBADF, "ebadf"},
        {ECHILD, "echild"},       {EAGAIN, "eagain"},       {ENOMEM, "enomem"},
        {EACCES, "eacces"},       {EFAULT, "efault"},       {EBUSY, "ebusy"},
        {EEXIST, "eexist"},       {EXDEV, "exdev"},         {ENODEV, "enodev"},
        {ENOTDIR, "enotdir"},     {EISDIR, "eisdir"},       {EINVAL, "einval"},
        {ENFILE, "enfile"},       {EMFILE, "emfile"},       {ENOTTY, "enotty"},
        {EFBIG, "efbig"},         {ENOSPC, "enospc"},       {ESPIPE, "espipe"},
        {EROFS, "erofs"},         {EPIPE, "epipe"},         {EDOM, "edom"},
        {ERANGE, "erange"},       {ENAMETOOLONG, "enametoolong"},
        {ENOSYS, "enosys"},       {ENOTEMPTY, "enotempty"}, {ELOOP, "eloop"},
        {ENODATA, "enodata"},     {ETIME, "etime"},         {EPROTO, "eproto"},
        {EBADMSG, "ebadmsg"},     {EOVERFLOW, "eoverflow"}, {EILSEQ, "eilseq"},
        {ENOTSOCK, "enotsock"},   {EMSGSIZE, "emsgsize"},   {EPROTONOSUPPORT, "eprotonosupport"},
        {EOPNOTSUPP, "eopnotsupp"}, {EAFNOSUPPORT, "eafnosupport"},
        {EADDRINUSE, "eaddrinuse"}, {EADDRNOTAVAIL, "eaddrnotavail"},
        {ENETDOWN, "enetdown"},   {ENETUNREACH, "enetunreach"},
        {ECONNABORTED, "econnaborted"}, {ECONNRESET, "econnreset"},
        {ENOBUFS, "enobufs"},     {EISCONN, "eisconn"},     {ENOTCONN, "enotconn"},
        {ETIMEDOUT, "etimedout"}, {ECONNREFUSED, "econnrefused"},
        {EHOSTDOWN, "ehostdown"}, {EHOSTUNREACH, "ehostunreach"},
        {EALREADY, "ealready"},   {EINPROGRESS, "einprogress"},
        {ESTALE, "estale"},       {EDQUOT, "edquot"},       {ECANCELED, "ecanceled"},
        {EUCLEAN, "euclean"},     {EBADE, "ebade"},         {EMEDIUMTYPE, "emediumtype"},
        {ENOMEDIUM, "enomedium"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].err == err)
            return names[i].name;
    return "unknown";
}
