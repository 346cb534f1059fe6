/*
 * A helper that misbehaves on request, to test the Erlang port owner end to
 * end. Built by `make test` the way production helpers are built; not
 * shipped.
 *
 *   sysport_testhelper [--no-ready] [--exit-at-start=N] [--max-frame=N]
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

static enum sp_handled handle_call(unsigned long long id, sp_request *req)
{
    sp_dec *a = &req->args;
    ei_x_buff x;
    long long n, size;

    if (strcmp(req->name, "ping") == 0 && req->argc == 0) {
        sp_reply_ok(id);
    } else if (strcmp(req->name, "echo") == 0 && req->argc == 1) {
        int term_size;

        if (sp_dec_term_size(a, &term_size) < 0)
            return SP_BADARG;
        sp_reply_ok_begin(&x, id);
        ei_x_append_buf(&x, a->buf + a->index, term_size);
        sp_send(&x);
    } else if (strcmp(req->name, "sleep") == 0 && req->argc == 1) {
        unsigned long long *ctx;

        if (sp_dec_long(a, &n) < 0 || n < 0)
            return SP_BADARG;
        ctx = malloc(sizeof(*ctx));
        *ctx = id;
        if (sp_timer_start(n, reply_slept, ctx) < 0) {
            free(ctx);
            sp_reply_error(id, "busy");
        }
    } else if (strcmp(req->name, "crash") == 0) {
        sp_flush();
        abort();
    } else if (strcmp(req->name, "exit") == 0 && req->argc == 1) {
        if (sp_dec_long(a, &n) < 0 || n < 0 || n > 255)
            return SP_BADARG;
        sp_exit((int)n);
    } else if (strcmp(req->name, "huge") == 0 && req->argc == 1) {
        char *bytes;

        if (sp_dec_long(a, &n) < 0 || n < 0 || n > (1LL << 30))
            return SP_BADARG;
        bytes = malloc((size_t)n + 1);
        memset(bytes, 'h', (size_t)n);
        sp_reply_ok_begin(&x, id);
        ei_x_encode_binary(&x, bytes, (long)n);
        free(bytes);
        sp_send(&x);
    } else if (strcmp(req->name, "garbage") == 0 && req->argc == 1) {
        char kind[MAXATOMLEN_UTF8];

        if (sp_dec_atom(a, kind) < 0)
            return SP_BADARG;
        return garbage(kind);
    } else if (strcmp(req->name, "log") == 0 && req->argc == 2) {
        char level[MAXATOMLEN_UTF8], msg[512];

        if (sp_dec_atom(a, level) < 0 || sp_dec_cstring(a, msg, sizeof(msg)) < 0)
            return SP_BADARG;
        sp_log(level, "%s", msg);
        sp_reply_ok(id);
    } else if (strcmp(req->name, "events") == 0 && req->argc == 2) {
        if (sp_dec_long(a, &n) < 0 || sp_dec_long(a, &size) < 0 || n < 0 || size < 0 || size > (1 << 20))
            return SP_BADARG;
        emit_events(n, size);
        sp_reply_ok_begin(&x, id);
        ei_x_encode_longlong(&x, n);
        sp_send(&x);
    } else if (strcmp(req->name, "ignore_stdin") == 0) {
        sp_reply_ok(id);
        signal(SIGTERM, SIG_IGN);
        sp_pause_input(1);
    } else {
        return SP_UNKNOWN;
    }
    return SP_HANDLED;
}

static enum sp_handled handle_cast(sp_request *req)
{
    long long n, size;

    if (strcmp(req->name, "events") == 0 && req->argc == 2) {
        if (sp_dec_long(&req->args, &n) < 0 || sp_dec_long(&req->args, &size) < 0 || n < 0 || size < 0 ||
            size > (1 << 20))
            return SP_BADARG;
        emit_events(n, size);
        return SP_HANDLED;
    }
    return SP_UNKNOWN;
}

int main(int argc, char **argv)
{
    static sp_helper helper = {
        .name = "sysport_testhelper",
        .version = "1",
        .capabilities = capabilities,
        .call = handle_call,
        .cast = handle_cast,
    };
    int no_ready = 0;
    int64_t exit_at_start = -1;
    uint64_t max_frame = 0;
    const sp_option options[] = {
        SP_FLAG("no-ready", &no_ready),
        SP_INT("exit-at-start", &exit_at_start, 0, 255),
        SP_UINT("max-frame", &max_frame, 0, SIZE_MAX),
        {0},
    };

    sp_init(helper.name);
    sp_args(options, argc, argv, "usage: sysport_testhelper [--no-ready] [--exit-at-start=N] [--max-frame=N]");
    if (exit_at_start >= 0)
        exit((int)exit_at_start);
    helper.max_frame = (size_t)max_frame;
    if (no_ready)
        for (;;)
            pause(); /* a helper that hangs before it is ready */
    sp_run(&helper);
}
