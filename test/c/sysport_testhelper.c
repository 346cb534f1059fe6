/*
 * A helper that misbehaves on request, to test the Erlang port owner end to
 * end. Built by `make test` the way production helpers are built; not
 * shipped.
 *
 *   sysport_testhelper [--no-ready] [--exit-at-start=N] [--max-frame=N] [--busy-start=MS]
 *
 * --busy-start: sets up for MS ms before ready, saying {progress, #{ms}}
 * every 100 ms (as a helper recovering a large file does).
 *
 * Requests:
 *   ping                  -> ok
 *   {echo, Term}          -> {ok, Term}
 *   {sleep, Ms}           -> {ok, slept} after Ms, without blocking others
 *   crash                 -> abort()
 *   {exit, Status}        -> exit(Status)
 *   {huge, Bytes}         -> {ok, <<Bytes bytes>>}
 *   {garbage, Kind}       -> writes a broken frame: not_a_term | bad_version
 *                            | bad_shape | bad_length
 *   {log, Level, Msg}     -> sends {log, Level, Msg}, then ok
 *   {events, N, Size}     -> N events {tick, I, <<Size bytes>>}, then {ok, N}
 *   ignore_stdin          -> ok, then reads nothing more (and ignores SIGTERM)
 */
#include <err.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_args.h"
#include "sp_loop.h"

/* What the port owner's tests expect in the ready info, not the requests. */
static const char *const capabilities[] = {"echo", "sleep", "misbehave", NULL};

static void reply_slept(void *ctx)
{
    ei_x_buff x;

    sp_reply_ok_begin(&x, *(unsigned long long *)ctx);
    ei_x_encode_atom(&x, "slept");
    sp_send(&x);
    free(ctx);
}

static void write_raw(const void *bytes, size_t len)
{
    struct iovec iov = {(void *)bytes, len};

    sp_flush();
    sp_writev_all(sp_out_fd(), &iov, 1);
}

static enum sp_handled garbage(const char *kind)
{
    if (strcmp(kind, "not_a_term") == 0) {
        static const unsigned char frame[] = {0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef};
        write_raw(frame, sizeof(frame));
    } else if (strcmp(kind, "bad_version") == 0) {
        static const unsigned char frame[] = {0, 0, 0, 3, 130, 97, 1};
        write_raw(frame, sizeof(frame));
    } else if (strcmp(kind, "bad_shape") == 0) {
        ei_x_buff x;

        sp_x_new(&x);
        ei_x_encode_tuple_header(&x, 1);
        ei_x_encode_atom(&x, "hello");
        sp_send(&x);
    } else if (strcmp(kind, "bad_length") == 0) {
        /* A length the VM will wait for forever, then the helper is gone. */
        static const unsigned char frame[] = {0x7f, 0xff, 0xff, 0xff, 131};
        write_raw(frame, sizeof(frame));
        _exit(9);
    } else {
        return SP_BADARG;
    }
    return SP_HANDLED;
}

static void emit_events(long long n, long long size)
{
    char *payload = malloc((size_t)size + 1);

    memset(payload, 'e', (size_t)size);
    for (long long i = 0; i < n; i++) {
        ei_x_buff x;

        sp_event_begin(&x);
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "tick");
        ei_x_encode_longlong(&x, i);
        ei_x_encode_binary(&x, payload, (long)size);
        sp_send(&x);
    }
    free(payload);
}

static enum sp_handled call_ping(unsigned long long id, sp_request *req)
{
    (void)req;
    sp_reply_ok(id);
    return SP_HANDLED;
}

static enum sp_handled call_echo(unsigned long long id, sp_request *req)
{
    ei_x_buff x;
    int term_size;

    if (sp_dec_term_size(&req->args, &term_size) < 0)
        return SP_BADARG;
    sp_reply_ok_begin(&x, id);
    ei_x_append_buf(&x, req->args.buf + req->args.index, term_size);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_sleep(unsigned long long id, sp_request *req)
{
    unsigned long long *ctx;
    long long ms;

    if (sp_dec_long(&req->args, &ms) < 0 || ms < 0)
        return SP_BADARG;
    ctx = malloc(sizeof(*ctx));
    *ctx = id;
    if (sp_timer_start(ms, reply_slept, ctx) < 0) {
        free(ctx);
        sp_reply_error(id, "busy");
    }
    return SP_HANDLED;
}

static enum sp_handled call_crash(unsigned long long id, sp_request *req)
{
    (void)id, (void)req;
    sp_flush();
    abort();
}

static enum sp_handled call_exit(unsigned long long id, sp_request *req)
{
    long long status;

    (void)id;
    if (sp_dec_long(&req->args, &status) < 0 || status < 0 || status > 255)
        return SP_BADARG;
    sp_exit((int)status);
}

static enum sp_handled call_huge(unsigned long long id, sp_request *req)
{
    ei_x_buff x;
    long long n;
    char *bytes;

    if (sp_dec_long(&req->args, &n) < 0 || n < 0 || n > (1LL << 30))
        return SP_BADARG;
    bytes = malloc((size_t)n + 1);
    memset(bytes, 'h', (size_t)n);
    sp_reply_ok_begin(&x, id);
    ei_x_encode_binary(&x, bytes, (long)n);
    free(bytes);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_garbage(unsigned long long id, sp_request *req)
{
    char kind[MAXATOMLEN_UTF8];

    (void)id;
    if (sp_dec_atom(&req->args, kind) < 0)
        return SP_BADARG;
    return garbage(kind);
}

static enum sp_handled call_log(unsigned long long id, sp_request *req)
{
    char level[MAXATOMLEN_UTF8], msg[512];

    if (sp_dec_atom(&req->args, level) < 0 || sp_dec_cstring(&req->args, msg, sizeof(msg)) < 0)
        return SP_BADARG;
    sp_log(level, "%s", msg);
    sp_reply_ok(id);
    return SP_HANDLED;
}

/* {events, N, Size}: 0, or -1 when the arguments are out of range. */
static int decode_events(sp_request *req, long long *n, long long *size)
{
    return sp_dec_long(&req->args, n) < 0 || sp_dec_long(&req->args, size) < 0 || *n < 0 || *size < 0 ||
                   *size > (1 << 20)
               ? -1
               : 0;
}

static enum sp_handled call_events(unsigned long long id, sp_request *req)
{
    ei_x_buff x;
    long long n, size;

    if (decode_events(req, &n, &size) < 0)
        return SP_BADARG;
    emit_events(n, size);
    sp_reply_ok_begin(&x, id);
    ei_x_encode_longlong(&x, n);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_ignore_stdin(unsigned long long id, sp_request *req)
{
    (void)req;
    sp_reply_ok(id);
    signal(SIGTERM, SIG_IGN);
    sp_pause_input(1);
    return SP_HANDLED;
}

static enum sp_handled cast_events(sp_request *req)
{
    long long n, size;

    if (decode_events(req, &n, &size) < 0)
        return SP_BADARG;
    emit_events(n, size);
    return SP_HANDLED;
}

int main(int argc, char **argv)
{
    static const sp_call calls[] = {
        {"ping", 0, call_ping},
        {"echo", 1, call_echo},
        {"sleep", 1, call_sleep},
        {"crash", 0, call_crash},
        {"exit", 1, call_exit},
        {"huge", 1, call_huge},
        {"garbage", 1, call_garbage},
        {"log", 2, call_log},
        {"events", 2, call_events},
        {"ignore_stdin", 0, call_ignore_stdin},
        {0},
    };
    static const sp_cast casts[] = {{"events", 2, cast_events}, {0}};
    static sp_helper helper = {
        .name = "sysport_testhelper",
        .version = "1",
        .calls = calls,
        .casts = casts,
        .capabilities = capabilities,
    };
    int no_ready = 0;
    int64_t exit_at_start = -1;
    uint64_t max_frame = 0, busy_ms = 0;
    const sp_option options[] = {
        SP_FLAG("no-ready", &no_ready),
        SP_INT("exit-at-start", &exit_at_start, 0, 255),
        SP_UINT("max-frame", &max_frame, 0, SIZE_MAX),
        SP_UINT("busy-start", &busy_ms, 0, 60000),
        {0},
    };

    sp_init(helper.name);
    sp_args(options, argc, argv,
            "usage: sysport_testhelper [--no-ready] [--exit-at-start=N] [--max-frame=N] [--busy-start=MS]");
    for (uint64_t ms = 0; ms < busy_ms; ms += 100) {
        ei_x_buff x;
        sp_map m;

        usleep(100 * 1000);
        sp_progress_begin(&x);
        sp_map_begin(&m, &x);
        sp_map_uint(&m, "ms", ms + 100);
        sp_map_end(&m);
        sp_send(&x);
        sp_flush();
    }
    if (exit_at_start >= 0)
        exit((int)exit_at_start);
    helper.max_frame = (size_t)max_frame;
    if (no_ready)
        for (;;)
            pause(); /* a helper that hangs before it is ready */
    sp_run(&helper);
}
