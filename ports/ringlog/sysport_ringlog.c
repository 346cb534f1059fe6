/*
 * sysport_ringlog: the crash-safe spool file behind the ring log (the logger
 * handler sysport_ringlog): records written to a ring of checksummed blocks.
 *
 *   sysport_ringlog --file=PATH --boot=N [--size=BYTES] [--block=BYTES]
 *                   [--sync-ms=MS] [--sync-bytes=BYTES] [--sync-level=0..7]
 *
 * Opens the file (created 0600 and preallocated), locks it, finds the
 * ring's head from a few block headers (ringlog_recover_fast; the whole
 * scan when the file is not a clean ring, with a {progress, Info} frame
 * every second so that the owner does not take it for stuck) and says
 * {ready, Info}. The rest of the file is read in the background, a slice
 * per loop turn, for the block summaries that queries use and the damage
 * counts, which come as the event {recovered, Info}. Then:
 *   {cast, {append, Batch}}                   records to write (ringlog_batch.h)
 *   {call, Id, sync}                          -> {ok, SyncedSeq}
 *   {call, Id, boots}                         -> {ok, [#{boot, first_seq, ...}]}
 *   {call, Id, {read | read_last, Boot, FromSeq, UntilSeq, Max, Levels}}
 *       -> {ok, {[{Seq, Wall, Mono, Level, Payload}], More}}: the lowest
 *       (read_last: highest) numbered records of Boot in the range whose
 *       level's bit is set in Levels, ascending; More when there are more
 *       beyond them (read_last: below them)
 *   {call, Id, status}                        -> {ok, #{...}}
 *   {call, Id, {set_sync, Ms, Bytes, Level}}  -> ok
 * A query arriving before the background scan is done finishes it first.
 * Events: {synced, Seq} when an fdatasync made records durable up to Seq;
 *         {io_error, Errno} when a write or sync fails;
 *         {lost, Records, FirstSeq, LastSeq} when a block that could not be
 *         written was given up (see ringlog_writer.h);
 *         {recovered, Info} once the whole file has been read.
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
#define SCAN_SLICE_BYTES (256 * 1024)
#define PROGRESS_MS 1000

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
    uint64_t file_len;      /* when opened */
    uint64_t read_bytes, ready_read_bytes;
    int ready, full_scan;
    long long progress_ms;
    struct ringlog_recovery rc;
    struct ringlog_writer w;
    uint8_t *scratch;
    int timer;
    uint64_t reported_seq;
    uint64_t reported_lost;
    uint64_t batches, rejected;
} spool = {.size = 4 << 20, .block_size = 4096, .sync_ms = 1000, .sync_bytes = 256 * 1024, .sync_level = 3,
           .fd = -1};

static void send_progress(void)
{
    ei_x_buff x;
    sp_map m;

    sp_progress_begin(&x);
    sp_map_begin(&m, &x);
    sp_map_uint(&m, "read_bytes", spool.read_bytes);
    sp_map_uint(&m, "file_bytes", spool.file_len);
    sp_map_end(&m);
    sp_send(&x);
    sp_flush();
}

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
    spool.read_bytes += got;
    if (!spool.ready && sp_now_ms() - spool.progress_ms >= PROGRESS_MS) {
        spool.progress_ms = sp_now_ms();
        send_progress();
    }
    return got;
}

/* ---- the background scan ---- */

static void send_recovered(void)
{
    const struct ringlog_recovery *rc = &spool.rc;
    ei_x_buff x;
    sp_map m;

    if (rc->newer_blocks)
        sp_log("error", "sysport_ringlog: %s: %u blocks newer than the head recovery chose were found later "
                        "(damage hid them); writing may have gone over them",
               spool.path, rc->newer_blocks);
    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "recovered");
    sp_map_begin(&m, &x);
    sp_map_uint(&m, "recovered", rc->stats.records);
    sp_map_uint(&m, "discarded_bytes", rc->stats.discarded_bytes);
    sp_map_uint(&m, "bad_records", rc->stats.bad_records);
    sp_map_uint(&m, "bad_headers", rc->bad_headers);
    sp_map_uint(&m, "lost_blocks", rc->lost_blocks);
    sp_map_uint(&m, "newer_blocks", rc->newer_blocks);
    sp_map_uint(&m, "read_bytes", spool.read_bytes);
    sp_map_end(&m);
    sp_send(&x);
}

static uint32_t scan_slice(void)
{
    uint32_t blocks = SCAN_SLICE_BYTES / spool.rc.block_size;

    return blocks ? blocks : 1;
}

static void on_scan_timer(void *ctx)
{
    (void)ctx;
    if (ringlog_recover_step(&spool.rc, file_read, &spool.fd, spool.file_len, spool.scratch, scan_slice()) > 0) {
        sp_timer_start(0, on_scan_timer, NULL);
        return;
    }
    send_recovered();
}

/* Queries need every summary: what the background has not read yet is
 * read now. */
static void finish_scan(void)
{
    if (spool.rc.scan_next == UINT32_MAX)
        return;
    while (ringlog_recover_step(&spool.rc, file_read, &spool.fd, spool.file_len, spool.scratch, UINT32_MAX) > 0)
        ;
    /* The timer still pending finds nothing left and reports. */
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
    finish_scan();
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

/* The record found[i], through a one-block cache in scratch. */
static int found_record(const struct ringlog_found *f, uint32_t *cached, size_t *cached_len, struct ringlog_record *r)
{
    size_t size;

    if (f->block != *cached) {
        *cached = f->block;
        *cached_len = file_read(&spool.fd, (uint64_t)f->block * spool.rc.block_size, spool.scratch,
                                spool.rc.block_size);
    }
    /* Not decodable only if overwritten between the two reads, which
     * cannot happen: we are the only writer and do not write meanwhile. */
    return f->offset < *cached_len &&
           ringlog_record_decode(spool.scratch + f->offset, *cached_len - f->offset, spool.rc.file_id, r, &size) ==
               RINGLOG_REC_OK;
}

static enum sp_handled read_records(unsigned long long id, sp_request *req, int newest)
{
    unsigned long long boot, from, until, max, levels;
    struct ringlog_query q;
    struct ringlog_found *found;
    struct ringlog_record r;
    size_t n, first = 0, last, bytes = 0;
    uint32_t cached = UINT32_MAX;
    size_t cached_len = 0;
    int more;
    ei_x_buff x;

    if (sp_dec_ulong(&req->args, &boot) < 0 || sp_dec_ulong(&req->args, &from) < 0 ||
        sp_dec_ulong(&req->args, &until) < 0 || sp_dec_ulong(&req->args, &max) < 0 ||
        sp_dec_ulong(&req->args, &levels) < 0 || max == 0 || levels > 0xff)
        return SP_BADARG;
    if (max > READ_MAX_RECORDS)
        max = READ_MAX_RECORDS;
    found = malloc(max * sizeof(*found));
    if (!found) {
        sp_reply_error(id, "enomem");
        return SP_HANDLED;
    }
    finish_scan();
    ringlog_writer_flush(&spool.w);
    q = (struct ringlog_query){boot, from, until, (uint8_t)levels, newest};
    n = ringlog_find(&spool.rc, file_read, &spool.fd, spool.scratch, &q, found, max, &more);
    /* The reply stops at READ_MAX_BYTES, giving up the records farthest
     * from where the caller reads from. */
    last = n;
    if (newest) {
        first = n;
        while (first > 0 && bytes < READ_MAX_BYTES)
            if (found_record(&found[--first], &cached, &cached_len, &r))
                bytes += r.len;
    } else {
        for (last = 0; last < n && bytes < READ_MAX_BYTES; last++)
            if (found_record(&found[last], &cached, &cached_len, &r))
                bytes += r.len;
    }
    more |= first > 0 || last < n;
    sp_reply_ok_begin(&x, id);
    ei_x_encode_tuple_header(&x, 2);
    for (size_t i = first; i < last; i++) {
        if (!found_record(&found[i], &cached, &cached_len, &r))
            continue;
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_tuple_header(&x, 5);
        ei_x_encode_ulonglong(&x, r.seq);
        ei_x_encode_longlong(&x, r.wall_us);
        ei_x_encode_longlong(&x, r.mono_us);
        ei_x_encode_long(&x, r.level);
        ei_x_encode_binary(&x, r.payload, r.len);
    }
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, more ? "true" : "false");
    free(found);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_read(unsigned long long id, sp_request *req)
{
    return read_records(id, req, 0);
}

static enum sp_handled call_read_last(unsigned long long id, sp_request *req)
{
    return read_records(id, req, 1);
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
    sp_map_uint(&m, "tail_bytes", spool.w.tail_bytes);
    sp_map_uint(&m, "read_bytes", spool.read_bytes);
    sp_map_uint(&m, "unscanned_blocks", spool.rc.unscanned);
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
    sp_map_bool(m, "full_scan", spool.full_scan);
    sp_map_uint(m, "ready_read_bytes", spool.ready_read_bytes);
    sp_map_uint(m, "unscanned_blocks", rc->unscanned);
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
    spool.file_len = (uint64_t)st.st_size;
    spool.scratch = malloc(RINGLOG_MAX_BLOCK);
    if (!spool.scratch)
        sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: out of memory");
    /* A few headers here and there: no readahead of what is not needed. */
    (void)posix_fadvise(spool.fd, 0, 0, POSIX_FADV_RANDOM);
    spool.progress_ms = sp_now_ms();
    switch (ringlog_recover_fast(&spool.rc, file_read, &spool.fd, spool.file_len, spool.size, spool.block_size,
                                 spool.scratch)) {
    case 0:
        break;
    case 1:
        spool.full_scan = 1;
        (void)posix_fadvise(spool.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        if (ringlog_recover(&spool.rc, file_read, &spool.fd, spool.file_len, spool.size, spool.block_size,
                            spool.scratch) == 0)
            break;
        /* fall through */
    default:
        sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: %s: cannot scan (out of memory or bad size)", spool.path);
    }
    (void)posix_fadvise(spool.fd, 0, 0, POSIX_FADV_NORMAL);
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
    /* Our boot's newest record is in the head block: every session
     * resends from past what the file held, so numbers only grow. */
    if (spool.rc.blocks[spool.rc.head].records && spool.rc.blocks[spool.rc.head].boot == spool.boot)
        spool.boot_last_seq = spool.rc.blocks[spool.rc.head].max_seq;
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
        {"read", 5, call_read},
        {"read_last", 5, call_read_last},
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
    spool.ready = 1;
    spool.ready_read_bytes = spool.read_bytes;
    if (sp_timer_start(0, on_scan_timer, NULL) < 0)
        sp_fatal(SP_EXIT_OSERR, "sysport_ringlog: out of memory");
    sp_run(&helper);
}
