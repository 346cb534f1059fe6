/*
 * sysport_ringlog: the crash-safe spool file behind the ring log (the logger
 * handler sysport_ringlog): records written to a ring of checksummed blocks.
 *
 *   sysport_ringlog --file=PATH --boot=N [--size=BYTES] [--block=BYTES]
 *                   [--sync-ms=MS] [--sync-bytes=BYTES] [--sync-level=0..7]
 *
 * Opens the file (created 0600 and preallocated), locks it, runs the
 * recovery scan and reports what it found in {ready, Info}. Then:
 *   {cast, {append, Batch}}                   records to write (ringlog_batch.h)
 *   {call, Id, sync}                          -> {ok, SyncedSeq}
 *   {call, Id, boots}                         -> {ok, [#{boot, first_seq, ...}]}
 *   {call, Id, {read, Boot, FromSeq, Max}}    -> {ok, {[{Seq, Wall, Mono, Level, Payload}], More}}
 *   {call, Id, status}                        -> {ok, #{...}}
 *   {call, Id, {set_sync, Ms, Bytes, Level}}  -> ok
 * Events: {synced, Seq} when an fdatasync made records durable up to Seq;
 *         {io_error, Errno} when a write or sync fails;
 *         {lost, Records, FirstSeq, LastSeq} when a block that could not be
 *         written was given up (see ringlog_writer.h).
 *
 * Records are synced SyncMs after the first unsynced one, as soon as
 * SyncBytes are unsynced, and right after a batch holding a record at
 * SyncLevel or more severe. stdin EOF (the VM is gone) or SIGTERM: write
 * and sync what is buffered, then exit. No timer runs while nothing is
 * unsynced, so an idle helper never wakes up.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ringlog_batch.h"
#include "ringlog_index.h"
#include "ringlog_writer.h"
#include "ringlog_sandbox.h"
#include "sp_args.h"
#include "sp_loop.h"

#define USAGE                                                                                      \
    "usage: sysport_ringlog --file=PATH --boot=N [--size=BYTES] [--block=BYTES] [--sync-ms=MS] " \
    "[--sync-bytes=BYTES] [--sync-level=0..7]"
#define LOCK_WAIT_MS 3000
#define READ_MAX_RECORDS 1024
#define READ_MAX_BYTES (64 * 1024)

static struct {
    const char *path;
    uint64_t size, boot;
    uint32_t block_size;
    long long sync_ms;
    uint64_t sync_bytes;
    int sync_level;
    int fd;
    int created, mode_fixed;
    uint64_t boot_last_seq; /* our boot's newest record found by recovery */
    struct ringlog_recovery rc;
    struct ringlog_writer w;
    uint8_t *scratch;
    int timer;
    uint64_t reported_seq;
    uint64_t reported_lost;
    uint64_t batches, rejected;
} spool = {.size = 4 << 20, .block_size = 4096, .sync_ms = 1000, .sync_bytes = 256 * 1024, .sync_level = 3,
           .fd = -1};

static size_t file_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
    int fd = *(const int *)ctx;
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* an unreadable sector reads as the end of the block */
        got += (size_t)n;
    }
    return got;
}

/* ---- syncing ---- */

static void report_io_error(void)
{
    ei_x_buff x;

    sp_log("error", "sysport_ringlog: %s: %s", spool.path, strerror(spool.w.last_errno));
    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "io_error");
    sp_x_errno(&x, spool.w.last_errno);
    sp_send(&x);
}

/* Records given up are said out loud: logged, an event, and in status. */
static void report_lost(void)
{
    const struct ringlog_writer *w = &spool.w;
    ei_x_buff x;

    if (w->lost_records == spool.reported_lost)
        return;
    sp_log("error", "sysport_ringlog: %s: %llu records lost (seq %llu..%llu): %s", spool.path,
           (unsigned long long)(w->lost_records - spool.reported_lost), (unsigned long long)w->lost_first_seq,
           (unsigned long long)w->lost_last_seq, strerror(w->last_errno));
    spool.reported_lost = w->lost_records;
    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "lost");
    ei_x_encode_ulonglong(&x, w->lost_records);
    ei_x_encode_ulonglong(&x, w->lost_first_seq);
    ei_x_encode_ulonglong(&x, w->lost_last_seq);
    sp_send(&x);
}

static int sync_now(void)
{
    ei_x_buff x;

    if (spool.timer) {
        sp_timer_cancel(spool.timer);
        spool.timer = 0;
    }
    if (ringlog_writer_sync(&spool.w) < 0) {
        report_io_error();
        return -1;
    }
    if (spool.w.synced_seq != spool.reported_seq) {
        spool.reported_seq = spool.w.synced_seq;
        sp_event_begin(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "synced");
        ei_x_encode_ulonglong(&x, spool.w.synced_seq);
        sp_send(&x);
    }
    return 0;
}

static void on_sync_timer(void *ctx)
{
    (void)ctx;
    spool.timer = 0;
    (void)sync_now();
}

static void append_batch(const uint8_t *p, size_t len)
{
    struct ringlog_record r;
    size_t off = 0;
    int urgent = 0, st;

    spool.batches++;
    while ((st = ringlog_batch_next(p, len, &off, &r)) == 1) {
        int rc = ringlog_writer_append(&spool.w, &r);

        if (rc == -1)
            report_io_error();
        else if (rc == -2)
            spool.rejected++;
        urgent |= r.level <= spool.sync_level;
    }
    report_lost();
    if (st < 0) {
        spool.rejected++;
        sp_log("warning", "sysport_ringlog: malformed batch entry at byte %zu of %zu; rest dropped", off, len);
    }
    if (urgent || spool.w.unsynced_bytes >= spool.sync_bytes)
        (void)sync_now();
    else if (spool.w.unsynced_bytes > 0 && !spool.timer)
        spool.timer = sp_timer_start(spool.sync_ms, on_sync_timer, NULL);
}

/* ---- queries ---- */

static enum sp_handled call_boots(unsigned long long id, sp_request *req)
{
    struct ringlog_boot *boots;
    size_t n;
    ei_x_buff x;

    (void)req;
    ringlog_writer_flush(&spool.w);
    if (ringlog_boots(&spool.rc, file_read, &spool.fd, spool.scratch, &boots, &n) < 0) {
        sp_reply_error(id, "enomem");
        return SP_HANDLED;
    }
    sp_reply_ok_begin(&x, id);
    if (n)
        ei_x_encode_list_header(&x, (long)n);
    for (size_t i = 0; i < n; i++) {
        sp_map m;

        sp_map_begin(&m, &x);
        sp_map_uint(&m, "boot", boots[i].boot);
        sp_map_uint(&m, "first_seq", boots[i].first_seq);
        sp_map_uint(&m, "last_seq", boots[i].last_seq);
        sp_map_uint(&m, "records", boots[i].records);
        sp_map_int(&m, "first_time", boots[i].first_wall);
        sp_map_int(&m, "last_time", boots[i].last_wall);
        sp_map_end(&m);
    }
    ei_x_encode_empty_list(&x);
    free(boots);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_read(unsigned long long id, sp_request *req)
{
    unsigned long long boot, from, max;
    struct ringlog_found *found;
    size_t n, sent = 0, bytes = 0;
    uint32_t cached = UINT32_MAX;
    size_t cached_len = 0;
    int more;
    ei_x_buff x;

    if (sp_dec_ulong(&req->args, &boot) < 0 || sp_dec_ulong(&req->args, &from) < 0 ||
        sp_dec_ulong(&req->args, &max) < 0 || max == 0)
        return SP_BADARG;
    if (max > READ_MAX_RECORDS)
        max = READ_MAX_RECORDS;
    found = malloc(max * sizeof(*found));
    if (!found) {
        sp_reply_error(id, "enomem");
        return SP_HANDLED;
    }
    ringlog_writer_flush(&spool.w);
    n = ringlog_find(&spool.rc, file_read, &spool.fd, spool.scratch, boot, from, found, max, &more);
    /* Records are re-read by block; the reply stops at READ_MAX_BYTES. */
    ei_x_new(&x);
    for (size_t i = 0; i < n && bytes < READ_MAX_BYTES; i++) {
        struct ringlog_record r;
        size_t size;

        if (found[i].block != cached) {
            cached = found[i].block;
            cached_len = file_read(&spool.fd, (uint64_t)cached * spool.rc.block_size, spool.scratch,
                                   spool.rc.block_size);
        }
        if (found[i].offset >= cached_len ||
            ringlog_record_decode(spool.scratch + found[i].offset, cached_len - found[i].offset, spool.rc.file_id, &r,
                                  &size) != RINGLOG_REC_OK)
            continue; /* overwritten between the two reads: cannot happen, we are the only writer */
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_tuple_header(&x, 5);
        ei_x_encode_ulonglong(&x, r.seq);
        ei_x_encode_longlong(&x, r.wall_us);
        ei_x_encode_longlong(&x, r.mono_us);
        ei_x_encode_long(&x, r.level);
        ei_x_encode_binary(&x, r.payload, r.len);
        bytes += r.len;
        sent = i + 1;
    }
    ei_x_encode_empty_list(&x);
    free(found);
    {
        ei_x_buff reply;

        sp_reply_ok_begin(&reply, id);
        ei_x_encode_tuple_header(&reply, 2);
        ei_x_append_buf(&reply, x.buff, x.index);
        ei_x_encode_atom(&reply, more || sent < n ? "true" : "false");
        ei_x_free(&x);
        sp_send(&reply);
    }
    return SP_HANDLED;
}

static enum sp_handled call_status(unsigned long long id, sp_request *req)
{
    ei_x_buff x;
    sp_map m;

    (void)req;
    sp_reply_ok_begin(&x, id);
    sp_map_begin(&m, &x);
    sp_map_uint(&m, "boot", spool.boot);
    sp_map_uint(&m, "block", spool.w.block);
    sp_map_uint(&m, "generation", spool.w.next_gen - 1);
    sp_map_uint(&m, "last_seq", spool.w.last_seq);
    sp_map_uint(&m, "synced_seq", spool.w.synced_seq);
    sp_map_uint(&m, "unsynced_bytes", spool.w.unsynced_bytes);
    sp_map_uint(&m, "write_bytes", spool.w.write_bytes);
    sp_map_uint(&m, "record_bytes", spool.w.record_bytes);
    sp_map_uint(&m, "records", spool.w.records);
    sp_map_uint(&m, "syncs", spool.w.syncs);
    sp_map_uint(&m, "io_errors", spool.w.io_errors);
    sp_map_uint(&m, "block_retries", spool.w.block_retries);
    sp_map_bool(&m, "block_waiting", spool.w.retry.waiting);
    sp_map_uint(&m, "lost_records", spool.w.lost_records);
    sp_map_uint(&m, "lost_first_seq", spool.w.lost_first_seq);
    sp_map_uint(&m, "lost_last_seq", spool.w.lost_last_seq);
    sp_map_uint(&m, "batches", spool.batches);
    sp_map_uint(&m, "rejected", spool.rejected);
    sp_map_uint(&m, "sync_ms", (uint64_t)spool.sync_ms);
    sp_map_uint(&m, "sync_bytes", spool.sync_bytes);
    sp_map_uint(&m, "sync_level", (uint64_t)spool.sync_level);
    sp_map_end(&m);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_sync(unsigned long long id, sp_request *req)
{
    ei_x_buff x;

    (void)req;
    if (sync_now() < 0) {
        sp_reply_errno(id, spool.w.last_errno);
        return SP_HANDLED;
    }
    sp_reply_ok_begin(&x, id);
    ei_x_encode_ulonglong(&x, spool.w.synced_seq);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_set_sync(unsigned long long id, sp_request *req)
{
    unsigned long long ms, bytes, level;

    if (sp_dec_ulong(&req->args, &ms) < 0 || sp_dec_ulong(&req->args, &bytes) < 0 ||
        sp_dec_ulong(&req->args, &level) < 0 || ms > 3600000 || level > RINGLOG_MAX_LEVEL)
        return SP_BADARG;
    spool.sync_ms = (long long)ms;
    spool.sync_bytes = bytes;
    spool.sync_level = (int)level;
    sp_reply_ok(id);
    return SP_HANDLED;
}

static enum sp_handled cast_append(sp_request *req)
{
    const char *data;
    size_t len;

    if (sp_dec_binary(&req->args, &data, &len) < 0)
        return SP_BADARG;
    append_batch((const uint8_t *)data, len);
    return SP_HANDLED;
}

static void shutdown_spool(void)
{
    (void)sync_now();
}

static void ready_info(sp_map *m)
{
    const struct ringlog_recovery *rc = &spool.rc;

    sp_map_str(m, "file", spool.path);
    sp_map_uint(m, "file_size", (uint64_t)rc->nblocks * rc->block_size);
    sp_map_uint(m, "block_size", rc->block_size);
    sp_map_uint(m, "blocks", rc->nblocks);
    sp_map_uint(m, "file_id", rc->file_id);
    sp_map_bool(m, "created", spool.created);
    sp_map_bool(m, "mode_fixed", spool.mode_fixed);
    sp_map_uint(m, "recovered", rc->stats.records);
    sp_map_uint(m, "discarded_bytes", rc->stats.discarded_bytes);
    sp_map_uint(m, "bad_records", rc->stats.bad_records);
    sp_map_uint(m, "bad_headers", rc->bad_headers);
    sp_map_uint(m, "lost_blocks", rc->lost_blocks);
    sp_map_uint(m, "short_bytes", rc->short_bytes);
    sp_map_uint(m, "grown_from", rc->grown_from);
    sp_map_uint(m, "foreign_bytes", rc->foreign_bytes);
    sp_map_uint(m, "boot_last_seq", spool.boot_last_seq);
}

/* ---- opening ---- */

static void parse_args(int argc, char **argv)
{
    uint64_t block = spool.block_size, sync_ms = (uint64_t)spool.sync_ms, sync_level = (uint64_t)spool.sync_level;
    const sp_option options[] = {
        SP_TEXT("file", &spool.path),
        SP_UINT("boot", &spool.boot, 1, UINT64_MAX),
        SP_UINT("size", &spool.size, 0, UINT64_MAX),
        SP_UINT("block", &block, RINGLOG_MIN_BLOCK, RINGLOG_MAX_BLOCK),
        SP_UINT("sync-ms", &sync_ms, 0, 3600000),
        SP_UINT("sync-bytes", &spool.sync_bytes, 0, UINT64_MAX),
        SP_UINT("sync-level", &sync_level, 0, RINGLOG_MAX_LEVEL),
        {0},
    };

    sp_args(options, argc, argv, USAGE);
    if (!ringlog_block_size_ok(block))
        sp_usage_error(USAGE, "--block=%llu: not a power of two", (unsigned long long)block);
    spool.block_size = (uint32_t)block;
    spool.sync_ms = (long long)sync_ms;
    spool.sync_level = (int)sync_level;
    if (!spool.path || spool.boot == 0)
        sp_usage_error(USAGE, "--file and --boot are needed");
    if (spool.size / spool.block_size < 4 || spool.size / spool.block_size > (1u << 24))
        sp_usage_error(USAGE, "--size must hold 4 to 16M blocks of %u bytes", spool.block_size);
}

/* Another VM (or the helper of a VM just killed, still flushing) may hold
 * the file: wait a little for it rather than write over its records. */
static void lock_file(void)
{
    long long deadline = sp_now_ms() + LOCK_WAIT_MS;
    struct timespec pause = {0, 50 * 1000 * 1000};

    while (flock(spool.fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK || sp_now_ms() >= deadline)
            sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: %s: cannot lock: %s", spool.path,
                     errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
        nanosleep(&pause, NULL);
    }
}

/* The new file's directory entry must survive a power cut too. */
static void sync_dir(void)
{
    const char *slash = strrchr(spool.path, '/');
    size_t len = !slash ? 0 : slash == spool.path ? 1 : (size_t)(slash - spool.path);
    char dir[4096];
    int dfd;

    if (len >= sizeof(dir))
        return;
    if (len == 0)
        dir[len++] = '.';
    else
        memcpy(dir, spool.path, len);
    dir[len] = 0;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static void open_spool(void)
{
    struct stat st;
    uint64_t ring;

    spool.fd = open(spool.path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (spool.fd < 0)
        sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: open %s: %s", spool.path, strerror(errno));
    if (fstat(spool.fd, &st) < 0 || !S_ISREG(st.st_mode))
        sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: %s is not a regular file", spool.path);
    if ((st.st_mode & 07777) != 0600) {
        if (fchmod(spool.fd, 0600) < 0)
            sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: chmod %s: %s", spool.path, strerror(errno));
        spool.mode_fixed = 1;
    }
    lock_file();
    spool.created = st.st_size == 0;
    spool.scratch = malloc(RINGLOG_MAX_BLOCK);
    if (!spool.scratch ||
        ringlog_recover(&spool.rc, file_read, &spool.fd, (uint64_t)st.st_size, spool.size, spool.block_size,
                        spool.scratch) < 0)
        sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: %s: cannot scan (out of memory or bad size)", spool.path);
    if (spool.rc.file_id == 0 && spool.rc.foreign_bytes > 0) {
        /* Not a spool: start from zeros (preallocated below, nothing
         * written), or its leftovers would read as damage at every boot. */
        if (ftruncate(spool.fd, 0) < 0)
            sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: truncate %s: %s", spool.path, strerror(errno));
        st.st_size = 0;
        spool.rc.short_bytes = 0;
    }
    while (spool.rc.file_id == 0)
        if (getrandom(&spool.rc.file_id, sizeof(spool.rc.file_id), 0) < 0 && errno != EINTR)
            sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: getrandom: %s", strerror(errno));
    ring = (uint64_t)spool.rc.nblocks * spool.rc.block_size;
    if ((uint64_t)st.st_size < ring) {
        int e = posix_fallocate(spool.fd, 0, (off_t)ring);

        if (e == EOPNOTSUPP || e == EINVAL)
            e = ftruncate(spool.fd, (off_t)ring) < 0 ? errno : 0;
        if (e)
            sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: preallocate %s: %s", spool.path, strerror(e));
        if (fsync(spool.fd) < 0)
            sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: fsync %s: %s", spool.path, strerror(errno));
    }
    if (spool.created) {
        spool.rc.short_bytes = 0; /* a new file is not a damaged one */
        sync_dir();
    }
    for (uint32_t i = 0; i < spool.rc.nblocks; i++)
        if (spool.rc.blocks[i].records && spool.rc.blocks[i].boot == spool.boot &&
            spool.rc.blocks[i].max_seq > spool.boot_last_seq)
            spool.boot_last_seq = spool.rc.blocks[i].max_seq;
    if (ringlog_writer_init(&spool.w, spool.fd, &spool.rc, spool.boot) < 0)
        sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: out of memory");
    spool.w.must_be_linked = 1;
    spool.w.synced_seq = spool.reported_seq = spool.boot_last_seq;
}

int main(int argc, char **argv)
{
    static const sp_call calls[] = {
        {"sync", 0, call_sync},
        {"boots", 0, call_boots},
        {"read", 3, call_read},
        {"status", 0, call_status},
        {"set_sync", 3, call_set_sync},
        {0},
    };
    static const sp_cast casts[] = {{"append", 1, cast_append}, {0}};
    static const sp_helper helper = {
        .name = "sysport_ringlog",
        .version = "1",
        .calls = calls,
        .casts = casts,
        .ready_info = ready_info,
        .shutdown = shutdown_spool,
    };

    sp_init(helper.name);
    parse_args(argc, argv);
    open_spool();
    sp_sandbox_enter(&ringlog_sandbox);
    sp_run(&helper);
}
