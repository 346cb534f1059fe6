/*
 * sysport_kmsg: the kernel log (/dev/kmsg) as Erlang terms.
 *
 *   sysport_kmsg [--device=PATH]
 *
 * PATH is /dev/kmsg by default; a regular file is read as a kmsg file
 * (util-linux `dmesg -K`: records separated by NULs).
 *
 * Casts:
 *   {follow, AfterSeq}    from now on every record with seq > AfterSeq (-1:
 *                         all; any u64 seq) is sent as it arrives, in
 *                         {records, ...} events
 * Calls:
 *   {dmesg, {Since, MaxLevel, all | <<Facility:8, ...>>}}
 *                         -> {ok, Records}: the records in the buffer now that
 *                            pass the filter
 * Events:
 *   {records, WallOffsetUsec, Records}  WallOffsetUsec = CLOCK_REALTIME -
 *                            CLOCK_MONOTONIC when the batch was read
 *   {rejected, Reason, Excerpt}          a record that does not parse
 *
 * Records is a binary holding the external term of a list of records (see
 * kmsg_term.h), decoded by whoever uses them: the port owner passes the
 * binary on without decoding and copying the list between processes.
 *
 * The helper keeps no delivery state: sysport_kmsg (Erlang) remembers the
 * last seq delivered, tells it to every new helper, and turns seq gaps into
 * {missed, N}. EPIPE from the kernel (the ring overwrote records we had not
 * read) moves the reader to the oldest record, which shows up as such a gap.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmsg_record.h"
#include "kmsg_sandbox.h"
#include "kmsg_term.h"
#include "sp_args.h"
#include "sp_loop.h"

/* Records per {records, ...} event: big enough to amortise the frame and
 * the Erlang message, small enough to keep calls answered during a flood. */
#define FOLLOW_BATCH 256
/* A kmsg file larger than this is refused. */
#define KMSG_FILE_MAX (64u << 20)
#define EXCERPT_MAX 256
/* Allocations this big are mmapped and unmapped when freed (glibc). */
#define MMAP_THRESHOLD (64 * 1024)
#define DMESG_INITIAL_RESERVE (2 * MMAP_THRESHOLD)
#define SYSLOG_ACTION_SIZE_BUFFER 10

/* Where records come from: the character device, or a kmsg file held in
 * memory. */
struct source {
    int fd;
    char *file;
    size_t file_len, file_off;
};

static struct {
    const char *device;
    int is_file;
    struct source follow;
    int open_errno;
    int following;
    int resuming; /* after_seq holds the last seq delivered */
    unsigned long long after_seq;
    int buffer_size; /* bytes in the kernel ring, 0 when unknown */
    char buf[KMSG_RECORD_MAX + 1];
    char text[KMSG_RECORD_MAX + 1];
} k = {.device = "/dev/kmsg", .follow = {.fd = -1}};

static int slurp(const char *path, struct source *s)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
    struct stat st;

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0)
        err = errno;
    else if ((size_t)st.st_size > KMSG_FILE_MAX)
        err = EFBIG;
    else if (!(s->file = malloc((size_t)st.st_size + 1)))
        err = ENOMEM;
    while (!err && s->file_len < (size_t)st.st_size) {
        ssize_t n = read(fd, s->file + s->file_len, (size_t)st.st_size - s->file_len);

        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n == 0)
            break; /* the file shrank: keep what was there */
        else if (n > 0)
            s->file_len += (size_t)n;
    }
    close(fd);
    errno = err;
    return err ? -1 : 0;
}

static int source_open(const char *path, struct source *s)
{
    struct stat st;

    *s = (struct source){.fd = -1};
    if (stat(path, &st) < 0)
        return -1;
    if (S_ISREG(st.st_mode))
        return slurp(path, s);
    s->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    return s->fd < 0 ? -1 : 0;
}

static void source_close(struct source *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->file);
    *s = (struct source){.fd = -1};
}

/* 1: a record in rec and len. 0: nothing more for now. -1: errno says why
 * (EPIPE: the ring overwrote records; reading goes on at the oldest). */
static int source_next(struct source *s, const char **rec, size_t *len)
{
    ssize_t n;

    if (s->fd < 0)
        return kmsg_file_next(s->file, s->file_len, &s->file_off, rec, len);
    do
        n = read(s->fd, k.buf, sizeof(k.buf));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    *rec = k.buf;
    *len = (size_t)n;
    return n > 0;
}

static void send_rejected(enum kmsg_parse_status status, const char *rec, size_t len)
{
    ei_x_buff x;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "rejected");
    ei_x_encode_atom(&x, kmsg_status_name(status));
    ei_x_encode_binary(&x, rec, (long)(len < EXCERPT_MAX ? len : EXCERPT_MAX));
    sp_send(&x);
}

static long long wall_offset_usec(void)
{
    struct timespec mono, real;

    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    return ((long long)real.tv_sec - mono.tv_sec) * 1000000 + (real.tv_nsec - mono.tv_nsec) / 1000;
}

/* The owner restarts the helper with backoff, and the new one resumes after
 * the last record delivered: the way to heal a read that fails. */
static _Noreturn void read_failed(int err)
{
    sp_fatal(SP_EXIT_IO, "sysport_kmsg: reading %s: %s", k.device, strerror(err));
}

/* Appends a record to a list being built (the encoding is at most about
 * twice the raw record). */
static void append_record(ei_x_buff *list, const struct kmsg_record *rec, size_t raw_len)
{
    if (sp_x_reserve(list, 2 * raw_len + 64) < 0)
        sp_fatal(SP_EXIT_OSERR, "sysport_kmsg: out of memory");
    ei_x_encode_list_header(list, 1);
    kmsg_encode_record(list, rec);
}

static void pump_file(void *ctx);

/* Reads up to FOLLOW_BATCH records into one event. */
static void pump(void)
{
    ei_x_buff x;
    struct kmsg_record rec;
    const char *raw;
    size_t len;
    int n = 0, r = 0, read_err = 0, at;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "records");
    ei_x_encode_longlong(&x, wall_offset_usec());
    at = kmsg_x_nested_begin(&x);
    while (n < FOLLOW_BATCH && (r = source_next(&k.follow, &raw, &len)) != 0) {
        enum kmsg_parse_status status;

        if (r < 0) {
            if (errno == EPIPE)
                continue;
            read_err = errno;
            break;
        }
        status = kmsg_parse(raw, len, k.text, sizeof(k.text), &rec);
        if (status != KMSG_OK) {
            send_rejected(status, raw, len);
            continue;
        }
        if (k.resuming && rec.seq <= k.after_seq)
            continue;
        append_record(&x, &rec, len);
        n++;
    }
    if (n > 0) {
        ei_x_encode_empty_list(&x);
        kmsg_x_nested_end(&x, at);
        sp_send(&x);
    } else {
        ei_x_free(&x);
    }

    if (read_err)
        read_failed(read_err); /* after sending what was read */
    if (r > 0 && k.is_file)
        sp_timer_start(0, pump_file, NULL); /* the rest after pending calls */
}

/* /dev/kmsg polls POLLERR when the ring overwrote records not yet read:
 * the next read says EPIPE and goes on at the oldest. Not an error here. */
static void on_readable(int fd, short revents, void *ctx)
{
    (void)fd, (void)ctx;
    if (revents & POLLNVAL)
        read_failed(EBADF);
    pump();
}

static void pump_file(void *ctx)
{
    (void)ctx;
    pump();
}

/* AfterSeq: -1 (from the oldest record), or a seq (the kernel's are u64). */
static int decode_after(sp_request *req, int *resuming, unsigned long long *after)
{
    sp_dec minus_one = req->args;
    long long v;

    if (sp_dec_long(&minus_one, &v) == 0 && v == -1) {
        req->args = minus_one;
        *resuming = 0;
        *after = 0;
    } else if (sp_dec_ulong(&req->args, after) == 0) {
        *resuming = 1;
    } else {
        return -1;
    }
    return sp_request_end(req);
}

/* A cast: the owner sends it on every {ready, ...} and has nothing to wait
 * for; a refusal is logged. */
static enum sp_handled cast_follow(sp_request *req)
{
    unsigned long long after;
    int resuming;

    if (decode_after(req, &resuming, &after) < 0)
        return SP_BADARG;
    if (k.open_errno) {
        sp_log("error", "sysport_kmsg: cannot follow %s: %s", k.device, strerror(k.open_errno));
        return SP_HANDLED;
    }
    if (k.following) {
        sp_log("warning", "sysport_kmsg: already following %s", k.device);
        return SP_HANDLED;
    }
    k.after_seq = after;
    k.resuming = resuming;
    k.following = 1;
    if (k.is_file)
        sp_timer_start(0, pump_file, NULL);
    else if (sp_watch(k.follow.fd, POLLIN, on_readable, NULL) < 0)
        sp_fatal(SP_EXIT_SOFTWARE, "sysport_kmsg: no watch slot left");
    return SP_HANDLED;
}

/* The whole buffer, filtered. A flood cannot keep this reading forever: it
 * stops after twice as many records as the ring can hold (one per 32 bytes
 * at most). */
static enum sp_handled call_dmesg(unsigned long long id, sp_request *req)
{
    struct kmsg_filter filter;
    struct kmsg_record rec;
    struct source s;
    ei_x_buff x;
    const char *raw;
    size_t len;
    long long limit = k.buffer_size > 0 ? 2LL * (k.buffer_size / 32) : -1;
    int r, at;

    if (kmsg_filter_decode(&req->args, &filter) < 0 || sp_request_end(req) < 0)
        return SP_BADARG;
    if (source_open(k.device, &s) < 0) {
        sp_reply_errno(id, errno);
        return SP_HANDLED;
    }
    sp_reply_ok_begin(&x, id);
    /* Past the mmap threshold from the start: the reply never touches the
     * heap, and its pages go back to the system once it is sent. */
    if (sp_x_reserve(&x, DMESG_INITIAL_RESERVE) < 0)
        sp_fatal(SP_EXIT_OSERR, "sysport_kmsg: out of memory");
    at = kmsg_x_nested_begin(&x);
    while (limit != 0 && (r = source_next(&s, &raw, &len)) != 0) {
        if (r < 0) {
            if (errno == EPIPE)
                continue;
            sp_reply_errno(id, errno);
            ei_x_free(&x);
            source_close(&s);
            return SP_HANDLED;
        }
        limit--;
        if (kmsg_parse(raw, len, k.text, sizeof(k.text), &rec) != KMSG_OK || !kmsg_filter_match(&filter, &rec))
            continue;
        append_record(&x, &rec, len);
    }
    source_close(&s);
    ei_x_encode_empty_list(&x);
    kmsg_x_nested_end(&x, at);
    sp_send(&x);
    return SP_HANDLED;
}

static void ready_info(sp_map *m)
{
    struct timespec now;

    /* Records stamped before this are the backlog found at start. */
    clock_gettime(CLOCK_MONOTONIC, &now);
    sp_map_int(m, "monotonic_usec", (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
    sp_map_str(m, "device", k.device);
    sp_map_atom(m, "kind", k.is_file ? "file" : "device");
    sp_map_bool(m, "available", k.open_errno == 0);
    if (k.open_errno)
        sp_map_atom(m, "error", sp_errno_atom(k.open_errno));
    if (k.buffer_size > 0)
        sp_map_int(m, "buffer_size", k.buffer_size);
}

int main(int argc, char **argv)
{
    static const sp_call calls[] = {{"dmesg", 1, call_dmesg}, {0}};
    static const sp_cast casts[] = {{"follow", 1, cast_follow}, {0}};
    static const sp_helper helper = {
        .name = "sysport_kmsg",
        .version = "1",
        .calls = calls,
        .casts = casts,
        .ready_info = ready_info,
    };
    static const sp_option options[] = {SP_TEXT("device", &k.device), {0}};
    struct stat st;

    sp_init(helper.name);
#ifdef __GLIBC__
    /* The frames of a dmesg reply or a batch are big and short-lived: give
     * them back to the system when freed instead of letting glibc's dynamic
     * thresholds keep them in the heap (and in the RSS) for good. */
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD);
#endif
    sp_args(options, argc, argv, "usage: sysport_kmsg [--device=PATH]");
    /* An absent or unreadable log is reported in {ready, ...}, not fatal:
     * the service says so in its status instead of crash-looping. */
    k.is_file = stat(k.device, &st) == 0 && S_ISREG(st.st_mode);
    if (source_open(k.device, &k.follow) < 0)
        k.open_errno = errno;
    if (!k.is_file)
        k.buffer_size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
    sp_sandbox_enter(&kmsg_sandbox);
    sp_run(&helper);
}
