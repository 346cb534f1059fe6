/*
 * sysport_kv: reads and writes the U-Boot environment the way fw_printenv
 * and fw_setenv do, holding their lock around every read-modify-write.
 *
 *   sysport_kv (--config=FILE | --location=LINE [--location=LINE])
 *              [--lock=FILE | --no-lock] [--lock-timeout=MS] [--create]
 *
 * --location takes a fw_env.config line; --create makes missing regular
 * files an empty env that the first write creates (a developer's host).
 * A configuration that does not parse does not stop the helper: it says
 * why in {ready, Info} and answers every request {error, {bad_config, Why}}.
 *
 * Requests (keys and values are binaries; Known is the version of the env
 * the caller holds, or none):
 *   {load, Known}                   -> {ok, Snapshot}
 *   {update, Puts, Deletes, Known}  -> {ok, Snapshot}   Puts = [{K, V}], Deletes = [K]
 *   {recover, Defaults}             -> {ok, Snapshot}   Defaults = [{K, V}]
 * Snapshot = #{env => [{K, V}] (sorted, one per key), version := {Copy,
 *   Flags, Crc} | none, action := none | written | repaired | defaults,
 *   current := 0 | 1 | none, scheme, flags, copies := [CopyInfo], skipped,
 *   duplicates, unterminated, lock}
 * env is left out when the store was at Known before the request: the
 * caller has those entries, and applies Puts and Deletes to them itself.
 * Errors: {corrupt_env, [CopyInfo]}, {unreadable, [CopyInfo]}, {invalid_key, K}, {invalid_value, K},
 *   no_space, lock_timeout, {write_failed, #{copy, device, step, reason}}.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_config.h"
#include "kv_encode.h"
#include "kv_env.h"
#include "kv_lock.h"
#include "kv_store.h"
#include "kv_sandbox.h"
#include "sp_args.h"
#include "sp_loop.h"

#define CONFIG_FILE_MAX (64 * 1024)

static struct {
    kv_config cfg;
    char config_error[256];
    int create;
    int configs, locations; /* --config and --location options given */
    const char *lock_path;
    int64_t lock_timeout_ms;
    int lock_err;  /* why the last lock attempt failed to open the file, or 0 */
    int lock_warned;
    kv_known known; /* what the copies held after the last request */
} kv = {.lock_path = "/var/lock/fw_printenv.lock", .lock_timeout_ms = 5000};

static void config_error(const char *fmt, const char *a, const char *b)
{
    if (!kv.config_error[0])
        snprintf(kv.config_error, sizeof(kv.config_error), fmt, a, b);
}

static void load_config_file(const char *path)
{
    kv.configs++;
    char *text = malloc(CONFIG_FILE_MAX), why[160];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read(fd, text, CONFIG_FILE_MAX);

    if (fd >= 0)
        close(fd);
    if (!text || len < 0)
        config_error("cannot read %s: %s", path, strerror(errno));
    else if (len == CONFIG_FILE_MAX)
        config_error("%s%s is too large", path, "");
    else if (kv_config_parse(text, (size_t)len, &kv.cfg, why, sizeof(why)) < 0)
        config_error("%s: %s", path, why);
    free(text);
}

static void add_location(const char *line)
{
    kv.locations++;
    kv_location loc;
    const char *why = "no location";

    if (kv_config_line(line, strlen(line), &loc, &why) != 1 || kv_config_add(&kv.cfg, &loc, &why) < 0)
        config_error("location \"%s\": %s", line, why);
}

enum { UNLOCKED = -1, LOCK_TIMEOUT = -2 };

/* Takes the lock; without a lock file to open (its directory missing, a
 * symlink planted in its place) carries on unlocked, and says so once.
 * Returns the fd, UNLOCKED or LOCK_TIMEOUT. */
static int lock(int exclusive)
{
    int fd;

    if (!kv.lock_path)
        return UNLOCKED;
    fd = kv_lock_acquire(kv.lock_path, exclusive, kv.lock_timeout_ms);
    if (fd == -ETIMEDOUT)
        return LOCK_TIMEOUT;
    kv.lock_err = fd < 0 ? -fd : 0;
    if (fd >= 0)
        return fd;
    if (!kv.lock_warned) {
        sp_log("warning", "cannot open lock file %s (%s): working without the lock", kv.lock_path,
               kv.lock_err == EINVAL ? "not a regular file" : strerror(kv.lock_err));
        kv.lock_warned = 1;
    }
    return UNLOCKED;
}

static void reply_snapshot(unsigned long long id, const kv_store *s, const kv_env *env, int with_entries,
                           const char *action)
{
    ei_x_buff x;

    sp_reply_ok_begin(&x, id);
    kv_encode_snapshot(&x, s, env, with_entries, action, kv.lock_path, kv.lock_err);
    sp_send(&x);
}

/* The version of the env the caller already holds (a snapshot's
 * {Copy, Flags, Crc}): when the store is still at it, the caller can do
 * without the entries. */
typedef struct known {
    int valid;
    long long copy, flags;
    unsigned long long crc;
} known;

static int decode_known(sp_dec *d, known *k)
{
    int arity;

    k->valid = 0;
    if (sp_dec_atom_is(d, "none") == 0)
        return 0;
    if (sp_dec_tuple(d, &arity) < 0 || arity != 3 || sp_dec_long(d, &k->copy) < 0 || sp_dec_long(d, &k->flags) < 0 ||
        sp_dec_ulong(d, &k->crc) < 0)
        return -1;
    k->valid = 1;
    return 0;
}

static int still_at(const kv_store *s, const known *k)
{
    return k->valid && s->current >= 0 && k->copy == s->current && k->flags == s->copy[s->current].flags &&
           k->crc == s->copy[s->current].stored_crc;
}

/* No valid copy: {corrupt_env, Copies} when a copy was read and failed its
 * checks, {unreadable, Copies} when none could be read at all (an absent
 * device, a bad layout). */
static void reply_corrupt(unsigned long long id, const kv_store *s)
{
    const char *why = "unreadable";
    ei_x_buff x;

    for (int i = 0; i < s->cfg->copies; i++)
        if (s->copy[i].status == KV_COPY_BAD_CRC || s->copy[i].status == KV_COPY_SHORT)
            why = "corrupt_env";
    sp_reply_error_begin(&x, id, why);
    kv_encode_copies(&x, s);
    sp_send(&x);
}

static void reply_write_error(unsigned long long id, const kv_store *s, int rc, const kv_write_error *e)
{
    ei_x_buff x;

    if (rc == -ENOSPC) {
        sp_reply_error(id, "no_space");
        return;
    }
    sp_reply_begin(&x, id);
    kv_encode_write_error(&x, s, e);
    sp_send(&x);
}

/* The current copy's entries, sorted with one per key; empty for a new
 * store. 0, or -1 when out of memory. */
static int current_env(const kv_store *s, kv_env *env)
{
    kv_env_init(env);
    if (s->current >= 0 && kv_env_parse(env, s->data, s->data_len) < 0)
        return -1;
    return kv_env_normalize(env);
}

/* How a request finds the env: read whole (a load shows what the devices
 * hold, a recovery must see every bad copy), or, for an update, checked
 * against what the last request found and read whole only when it differs. */
enum reading { READ, CHECK };

/* What to do with the env read under the lock: env is NULL when no copy
 * is valid. */
typedef void (*with_env_fn)(unsigned long long id, kv_store *s, kv_env *env, void *ctx);

static void with_env(unsigned long long id, int exclusive, enum reading reading, with_env_fn then, void *ctx)
{
    kv_store s;
    kv_env env;
    int fd = lock(exclusive), checked = 0;

    if (fd == LOCK_TIMEOUT) {
        sp_reply_error(id, "lock_timeout");
        return;
    }
    kv_store_init(&s, &kv.cfg, kv.create);
    kv_env_init(&env);
    if (reading == CHECK)
        checked = kv_store_check(&s, &kv.known);
    if (checked < 0 || (!checked && kv_store_read(&s) < 0) || current_env(&s, &env) < 0)
        sp_reply_errno(id, ENOMEM);
    else
        then(id, &s, s.current < 0 && !kv_store_is_new(&s) ? NULL : &env, ctx);
    /* The reply is sent: the entries in kv.known may go. */
    if (kv_known_take(&kv.known, &s) < 0)
        sp_log("warning", "out of memory keeping the env: the next write reads it whole");
    kv_lock_release(fd);
    kv_env_free(&env);
    kv_store_release(&s);
    /* Env images, entry arrays and the reply carrying them are large and
     * short-lived: send the reply now and give the memory back, so that an
     * idle helper stays small. (Not mallopt: that alone brings 64 KiB of
     * library pages in.) */
    sp_flush();
    malloc_trim(0);
}

static void reply_load(unsigned long long id, kv_store *s, kv_env *env, void *ctx)
{
    if (env)
        reply_snapshot(id, s, env, !still_at(s, ctx), "none");
    else
        reply_corrupt(id, s);
}

/* Writes env as the next copy; a store that is new, or being rebuilt, gets
 * every copy written so that none is left invalid. */
static int write_env(kv_store *s, const kv_env *env, int all_copies, kv_write_error *e)
{
    int rc = kv_store_write(s, env, e);

    for (int i = 1; rc == 0 && all_copies && i < s->cfg->copies; i++)
        rc = kv_store_write(s, env, e);
    return rc;
}

typedef struct update {
    kv_entry *puts, *deletes;
    size_t nputs, ndeletes;
    known base; /* a caller at this version applies the change itself */
} update;

/* After a write the current copy is the one just written: clean. */
static void reply_written(unsigned long long id, kv_store *s, kv_env *env, int with_entries, const char *action)
{
    env->skipped = env->duplicates = 0;
    env->unterminated = 0;
    reply_snapshot(id, s, env, with_entries, action);
}

static void apply_update(unsigned long long id, kv_store *s, kv_env *env, void *ctx)
{
    const update *u = ctx;
    kv_write_error e;
    int changed, rc, with_entries = !still_at(s, &u->base);

    if (!env) {
        reply_corrupt(id, s);
        return;
    }
    if (kv_env_apply(env, u->puts, u->nputs, u->deletes, u->ndeletes, &changed) < 0) {
        sp_reply_errno(id, ENOMEM);
        return;
    }
    if (!changed) {
        reply_snapshot(id, s, env, with_entries, "none");
        return;
    }
    rc = write_env(s, env, kv_store_is_new(s), &e);
    if (rc < 0)
        reply_write_error(id, s, rc, &e);
    else
        reply_written(id, s, env, with_entries, "written");
}

/* All copies valid: nothing to do. One valid: write it over the other.
 * None (or a new store): every copy gets the defaults. */
static void apply_recover(unsigned long long id, kv_store *s, kv_env *env, void *ctx)
{
    kv_env *defaults = ctx;
    kv_write_error e;
    int valid = 0, rc;

    for (int i = 0; i < s->cfg->copies; i++)
        valid += s->copy[i].status == KV_COPY_VALID;
    if (valid == s->cfg->copies) {
        reply_snapshot(id, s, env, 1, "none");
    } else if (valid > 0) {
        rc = write_env(s, env, 0, &e);
        if (rc < 0)
            reply_write_error(id, s, rc, &e);
        else
            reply_written(id, s, env, 1, "repaired");
    } else {
        rc = write_env(s, defaults, 1, &e);
        if (rc < 0)
            reply_write_error(id, s, rc, &e);
        else
            reply_written(id, s, defaults, 1, "defaults");
    }
}

/* What decode_entries found. */
enum decoded { DECODED, MALFORMED, REFUSED /* already replied: a bad key or value, no memory */ };

/* Decodes [{K, V}] (with_values: keys to write) or [K] (keys to delete,
 * which may be any key an image can hold) into entries pointing into the
 * request. */
static enum decoded decode_entries(unsigned long long id, sp_dec *d, int with_values, kv_entry **out, size_t *n)
{
    int len;

    *out = NULL;
    *n = 0;
    /* Every element takes at least a byte of the frame. */
    if (sp_dec_list(d, &len) < 0 || len > sp_dec_remaining(d))
        return MALFORMED;
    *out = calloc((size_t)len + 1, sizeof(kv_entry));
    if (!*out) {
        sp_reply_errno(id, ENOMEM);
        return REFUSED;
    }
    for (int i = 0; i < len; i++) {
        kv_entry *e = &(*out)[i];
        int arity;

        if (with_values && (sp_dec_tuple(d, &arity) < 0 || arity != 2))
            return MALFORMED;
        if (sp_dec_binary(d, &e->key, &e->key_len) < 0 || (with_values && sp_dec_binary(d, &e->val, &e->val_len) < 0))
            return MALFORMED;
        (*n)++;
    }
    if (len > 0 && sp_dec_list_tail(d) < 0)
        return MALFORMED;
    for (size_t i = 0; i < *n; i++) {
        const kv_entry *e = &(*out)[i];
        int key_ok = with_values ? kv_key_writable(e->key, e->key_len) : kv_key_valid(e->key, e->key_len);
        const char *bad = !key_ok                                               ? "invalid_key"
                          : with_values && !kv_value_valid(e->val, e->val_len) ? "invalid_value"
                                                                                : NULL;
        if (bad) {
            ei_x_buff x;

            sp_reply_error_begin(&x, id, bad);
            ei_x_encode_binary(&x, e->key, (long)e->key_len);
            sp_send(&x);
            return REFUSED;
        }
    }
    return DECODED;
}

/* A configuration that did not parse answers every request with why. */
static int refused_for_config(unsigned long long id)
{
    if (!kv.config_error[0])
        return 0;
    sp_reply_error_detail(id, "bad_config", kv.config_error);
    return 1;
}

static enum sp_handled call_load(unsigned long long id, sp_request *req)
{
    known k;

    if (refused_for_config(id))
        return SP_HANDLED;
    if (decode_known(&req->args, &k) < 0)
        return SP_BADARG;
    with_env(id, 0, READ, reply_load, &k);
    return SP_HANDLED;
}

static enum sp_handled call_update(unsigned long long id, sp_request *req)
{
    update u = {0};
    enum decoded r;

    if (refused_for_config(id))
        return SP_HANDLED;
    r = decode_entries(id, &req->args, 1, &u.puts, &u.nputs);
    if (r == DECODED)
        r = decode_entries(id, &req->args, 0, &u.deletes, &u.ndeletes);
    if (r == DECODED && decode_known(&req->args, &u.base) < 0)
        r = MALFORMED;
    if (r == DECODED)
        with_env(id, 1, CHECK, apply_update, &u);
    free(u.puts);
    free(u.deletes);
    return r == MALFORMED ? SP_BADARG : SP_HANDLED;
}

static enum sp_handled call_recover(unsigned long long id, sp_request *req)
{
    kv_entry *entries;
    size_t n;
    kv_env defaults;
    enum decoded r;
    int oom = 0;

    if (refused_for_config(id))
        return SP_HANDLED;
    r = decode_entries(id, &req->args, 1, &entries, &n);
    kv_env_init(&defaults);
    for (size_t i = 0; r == DECODED && i < n && !oom; i++)
        oom = kv_env_add(&defaults, entries[i].key, entries[i].key_len, entries[i].val, entries[i].val_len) < 0;
    if (r == DECODED && (oom || kv_env_normalize(&defaults) < 0))
        sp_reply_errno(id, ENOMEM);
    else if (r == DECODED)
        with_env(id, 1, READ, apply_recover, &defaults);
    kv_env_free(&defaults);
    free(entries);
    return r == MALFORMED ? SP_BADARG : SP_HANDLED;
}

static void ready_info(sp_map *m)
{
    sp_map_bool(m, "redundant", kv.cfg.copies > 1);
    /* A write whose keys and values could not fit even an empty env is
     * refused before it is sent (sysport_kv). */
    sp_map_uint(m, "env_size", kv.cfg.copies ? kv.cfg.loc[0].size : 0);
    if (kv.lock_path)
        sp_map_str(m, "lock_file", kv.lock_path);
    else
        sp_map_atom(m, "lock_file", "none");
    if (kv.config_error[0])
        sp_map_str(m, "config_error", kv.config_error);
    else
        sp_map_atom(m, "config_error", "none");
}

int main(int argc, char **argv)
{
    static const sp_call calls[] = {
        {"load", 1, call_load},
        {"update", 3, call_update},
        {"recover", 1, call_recover},
        {0},
    };
    static sp_helper helper = {
        .name = "sysport_kv",
        .version = "1",
        .calls = calls,
        .ready_info = ready_info,
    };
    static const char usage[] = "usage: sysport_kv (--config=FILE | --location=LINE...) [--lock=FILE | --no-lock] "
                                "[--lock-timeout=MS] [--create]";
    const char *lock_path = NULL;
    int no_lock = 0;
    const sp_option options[] = {
        SP_EACH("config", load_config_file),
        SP_EACH("location", add_location),
        SP_TEXT("lock", &lock_path),
        SP_FLAG("no-lock", &no_lock),
        SP_INT("lock-timeout", &kv.lock_timeout_ms, 0, 86400000), /* a day */
        SP_FLAG("create", &kv.create),
        {0},
    };

    sp_init(helper.name);
    sp_args(options, argc, argv, usage);
    if (kv.configs + (kv.locations > 0) != 1)
        sp_usage_error(usage, "give either --config or --location, once");
    if (lock_path && no_lock)
        sp_usage_error(usage, "give --lock or --no-lock, not both");
    if (lock_path)
        kv.lock_path = lock_path;
    if (no_lock)
        kv.lock_path = NULL;
    /* A frame carries at most a whole env's worth of keys and values. */
    helper.max_frame = 2 * (kv.cfg.copies ? kv.cfg.loc[0].size : 0) + SP_DEFAULT_MAX_FRAME;
    sp_sandbox_enter(&kv_sandbox);
    sp_run(&helper);
}
