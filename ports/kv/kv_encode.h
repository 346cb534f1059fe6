/* The terms sysport_kv replies with (see the top of sysport_kv.c). */
#ifndef KV_ENCODE_H
#define KV_ENCODE_H

#include <ei.h>

#include "kv_env.h"
#include "kv_store.h"

/* #{env, version, action, current, scheme, flags, copies, skipped,
 *   duplicates, unterminated, lock}. version identifies the current copy:
 * {Copy, Flags, Crc}, or none. env (the entries) is left out unless
 * with_entries. lock is ok, none (no lock file configured) or the errno
 * atom of why the lock file could not be opened. */
void kv_encode_snapshot(ei_x_buff *x, const kv_store *s, const kv_env *env, int with_entries, const char *action,
                        const char *lock_path, int lock_err);
/* [#{copy, device, offset, size, kind, state, flags}] with state one of
 * valid | missing | {bad_crc, Stored, Computed} | {io_error, Errno} |
 * {short_read, Bytes} | {layout, Why} | unread. */
void kv_encode_copies(ei_x_buff *x, const kv_store *s);
/* {error, {write_failed, #{copy, device, step, reason}}} */
void kv_encode_write_error(ei_x_buff *x, const kv_store *s, const kv_write_error *e);

#endif
