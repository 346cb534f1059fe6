/*
 * The output side of the wire protocol: frames queued and written in
 * batches with writev, plus encoders for the frame shapes of DESIGN.md:
 *   {ready, Info}  {reply, Id, Result}  {event, Event}  {log, Level, Msg}
 */
#ifndef SP_PROTO_H
#define SP_PROTO_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/uio.h>
#include <ei.h>

/* Where frames go (set by sp_loop at start; tests may point it at a pipe). */
void sp_out_set_fd(int fd);
int sp_out_fd(void);

/* Queues the frame held by x (with its version byte) and takes ownership of
 * its memory: x is left empty (ei_x_free on it is a no-op). Large queues
 * flush themselves. */
void sp_send(ei_x_buff *x);
/* Writes everything queued. 0 on success, -1 when the peer is gone. */
int sp_flush(void);
size_t sp_queued_frames(void);
/* 1 once a write has failed (the VM is gone); later frames are dropped. */
int sp_out_broken(void);

/* Write-all over an iovec array, retrying EINTR and short writes. */
int sp_writev_all(int fd, struct iovec *iov, int iovcnt);

/* Starts a frame: ei_x_new_with_version. */
void sp_x_new(ei_x_buff *x);
/* {reply, Id, ...: the caller encodes the Result term next. */
void sp_reply_begin(ei_x_buff *x, unsigned long long id);
/* {reply, Id, {ok, ...: the caller encodes V next. */
void sp_reply_ok_begin(ei_x_buff *x, unsigned long long id);
/* {reply, Id, {error, {Reason, ...: the caller encodes the Detail next. */
void sp_reply_error_begin(ei_x_buff *x, unsigned long long id, const char *reason);
/* {event, ...: the caller encodes the Event term next. */
void sp_event_begin(ei_x_buff *x);
/* {progress, ...}: a helper still setting up is not stuck (the owner's
 * ready timeout starts again); the caller encodes one term and sends. */
void sp_progress_begin(ei_x_buff *x);

void sp_reply_ok(unsigned long long id);
void sp_reply_error(unsigned long long id, const char *reason);
void sp_reply_errno(unsigned long long id, int err);
/* {error, {Reason, Detail}} with Detail a binary. */
void sp_reply_error_detail(unsigned long long id, const char *reason, const char *detail);

/* {log, Level, Msg}: Level one of logger's levels ("error", "warning", ...). */
void sp_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sp_vlog(const char *level, const char *fmt, va_list ap);

/* Makes room for at least `bytes' more in x, growing it geometrically. ei
 * grows a buffer by ~200 bytes at a time, so a frame of many terms is
 * reallocated (and copied) once per term or two; a helper that builds a
 * large frame reserves before each item. 0, or -1 when out of memory (x is
 * then unchanged). */
int sp_x_reserve(ei_x_buff *x, size_t bytes);

/* Encoders for common values. */
void sp_x_binary_str(ei_x_buff *x, const char *s);
void sp_x_errno(ei_x_buff *x, int err); /* the errno's atom: enoent, ... */
/* A proper list of n atoms. */
void sp_x_atoms(ei_x_buff *x, const char *const *atoms, int n);
/* {error, Reason} with Reason an atom. */
void sp_x_error(ei_x_buff *x, const char *reason);

/*
 * A map with atom keys that counts its own pairs: sp_map_begin writes the
 * header with no count, every key adds one, and sp_map_end writes the
 * count in (a MAP_EXT header's arity is always four bytes, so it is
 * patched in place). Pairs can then be added under conditions without a
 * hand-kept total to go stale.
 *
 *   sp_map m;
 *   sp_map_begin(&m, x);
 *   sp_map_uint(&m, "records", n);
 *   if (err) sp_map_atom(&m, "error", sp_errno_atom(err));
 *   sp_map_key(&m, "copies"); encode_copies(x, ...);   // any value
 *   sp_map_end(&m);
 */
typedef struct sp_map {
    ei_x_buff *x;
    int at; /* where the header starts in x */
    long pairs;
} sp_map;

void sp_map_begin(sp_map *m, ei_x_buff *x);
/* Encodes a key: the caller encodes its value into m->x next. */
void sp_map_key(sp_map *m, const char *key);
void sp_map_atom(sp_map *m, const char *key, const char *atom);
void sp_map_bool(sp_map *m, const char *key, int value);
void sp_map_int(sp_map *m, const char *key, long long value);
void sp_map_uint(sp_map *m, const char *key, unsigned long long value);
void sp_map_str(sp_map *m, const char *key, const char *s); /* a binary */
void sp_map_end(sp_map *m);

/* The lower-case errno name Erlang uses (enoent, eacces...), or "unknown". */
const char *sp_errno_atom(int err);

#endif
