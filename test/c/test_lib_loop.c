/* Unit tests of the runtime's dispatch: requests looked up in a helper's
 * tables by name and arity, the replies the runtime gives for the rest,
 * the capabilities derived from the tables; and the maps that count their
 * own pairs. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sp_frame.h"
#include "sp_loop.h"
#include "sp_proto.h"
#include "sp_test.h"

static int handled;      /* calls that reached a handler */
static int cast_handled; /* casts that reached a handler */

static enum sp_handled call_ping(unsigned long long id, sp_request *req)
{
    (void)req;
    handled++;
    sp_reply_ok(id);
    return SP_HANDLED;
}

/* {echo, Int}: anything but an integer is badarg. */
static enum sp_handled call_echo(unsigned long long id, sp_request *req)
{
    long long v;
    ei_x_buff x;

    handled++;
    if (sp_dec_long(&req->args, &v) < 0)
        return SP_BADARG;
    sp_reply_ok_begin(&x, id);
    ei_x_encode_longlong(&x, v);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled cast_note(sp_request *req)
{
    (void)req;
    cast_handled++;
    return SP_HANDLED;
}

static const sp_call calls[] = {{"ping", 0, call_ping}, {"echo", 1, call_echo}, {"note", 1, call_echo}, {0}};
static const sp_cast casts[] = {{"note", 1, cast_note}, {"tick", 0, cast_note}, {0}};
static const sp_helper helper = {.name = "sysport_test", .version = "1", .calls = calls, .casts = casts};

/* Dispatches {call, Id, Name | {Name, Arg...}} or {cast, ...}: nargs
 * arguments, each the integer arg (or the atom nan when arg < 0). */
static void send_request(const char *kind, unsigned long long id, const char *name, int nargs, long long arg)
{
    ei_x_buff x;

    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, strcmp(kind, "call") == 0 ? 3 : 2);
    ei_x_encode_atom(&x, kind);
    if (strcmp(kind, "call") == 0)
        ei_x_encode_ulonglong(&x, id);
    if (nargs == 0) {
        ei_x_encode_atom(&x, name);
    } else {
        ei_x_encode_tuple_header(&x, nargs + 1);
        ei_x_encode_atom(&x, name);
        for (int i = 0; i < nargs; i++)
            if (arg < 0)
                ei_x_encode_atom(&x, "nan");
            else
                ei_x_encode_longlong(&x, arg);
    }
    sp_dispatch(&helper, (const uint8_t *)x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* The frames sent since the last call, printed as Erlang terms and
 * separated by " | ". */
static char *replies(int fd, char *out, size_t size)
{
    sp_inbuf in;
    const uint8_t *frame;
    size_t len, n = 0;

    out[0] = '\0';
    CHECK_EQ(sp_flush(), 0);
    sp_inbuf_init(&in, 1 << 16);
    while (sp_inbuf_read(&in, fd) > 0) {
    }
    while (sp_inbuf_next(&in, &frame, &len) == SP_FRAME_OK) {
        char *text = NULL;
        int index = 0, version;

        ei_decode_version((const char *)frame, &index, &version);
        if (ei_s_print_term(&text, (const char *)frame, &index) >= 0)
            n += (size_t)snprintf(out + n, size - n, "%s%s", n ? " | " : "", text);
        free(text);
    }
    sp_inbuf_free(&in);
    return out;
}

static void requests_go_by_name_and_arity(void)
{
    int pipefd[2];
    char out[1024];

    CHECK_EQ(pipe(pipefd), 0);
    CHECK_EQ(fcntl(pipefd[0], F_SETFL, O_NONBLOCK), 0);
    sp_out_set_fd(pipefd[1]);

    send_request("call", 1, "ping", 0, 0);
    send_request("call", 2, "echo", 1, 42);
    CHECK_EQ(handled, 2);
    CHECK(strcmp(replies(pipefd[0], out, sizeof(out)), "{reply, 1, ok} | {reply, 2, {ok, 42}}") == 0);

    /* Not in the table: unknown_request, whatever its arity. */
    send_request("call", 3, "frobnicate", 0, 0);
    send_request("call", 4, "frobnicate", 2, 1);
    /* A cast's name is not a call's. */
    send_request("call", 5, "tick", 0, 0);
    CHECK(strcmp(replies(pipefd[0], out, sizeof(out)),
                 "{reply, 3, {error, {unknown_request, frobnicate}}} | "
                 "{reply, 4, {error, {unknown_request, frobnicate}}} | "
                 "{reply, 5, {error, {unknown_request, tick}}}") == 0);

    /* The wrong arity never reaches the handler; the wrong type does, and
     * its SP_BADARG is answered the same. */
    handled = 0;
    send_request("call", 6, "ping", 1, 1);
    send_request("call", 7, "echo", 0, 0);
    send_request("call", 8, "echo", 2, 1);
    CHECK_EQ(handled, 0);
    send_request("call", 9, "echo", 1, -1);
    CHECK_EQ(handled, 1);
    CHECK(strcmp(replies(pipefd[0], out, sizeof(out)),
                 "{reply, 6, {error, badarg}} | {reply, 7, {error, badarg}} | {reply, 8, {error, badarg}} | "
                 "{reply, 9, {error, badarg}}") == 0);

    /* Casts: handled quietly; refused with a log line, never a reply. */
    send_request("cast", 0, "note", 1, 5);
    CHECK_EQ(cast_handled, 1);
    CHECK(strcmp(replies(pipefd[0], out, sizeof(out)), "") == 0);
    send_request("cast", 0, "note", 0, 0);
    send_request("cast", 0, "ping", 0, 0);
    CHECK_EQ(cast_handled, 1);
    {
        ssize_t n;

        CHECK_EQ(sp_flush(), 0);
        n = read(pipefd[0], out, sizeof(out));
        CHECK(n > 0 && memmem(out, (size_t)n, "warning", 7) != NULL);
        CHECK(n > 0 && memmem(out, (size_t)n, "sysport_test: cast note rejected (badarg)", 41) != NULL);
        CHECK(n > 0 && memmem(out, (size_t)n, "sysport_test: cast ping rejected (unknown request)", 50) != NULL);
    }
    close(pipefd[0]);
    close(pipefd[1]);
}

static void capabilities_come_from_the_tables(void)
{
    static const char *const named[] = {"echo", "misbehave", NULL};
    const char *caps[8];
    sp_helper override = helper, only_calls = helper;
    int n;

    /* Calls, then casts, each name once. */
    n = sp_capabilities(&helper, caps, 8);
    CHECK_EQ(n, 4);
    CHECK(n == 4 && strcmp(caps[0], "ping") == 0 && strcmp(caps[1], "echo") == 0 && strcmp(caps[2], "note") == 0 &&
          strcmp(caps[3], "tick") == 0);
    CHECK_EQ(sp_capabilities(&helper, caps, 2), 2);
    only_calls.casts = NULL;
    CHECK_EQ(sp_capabilities(&only_calls, caps, 8), 3);
    override.capabilities = named;
    n = sp_capabilities(&override, caps, 8);
    CHECK(n == 2 && strcmp(caps[0], "echo") == 0 && strcmp(caps[1], "misbehave") == 0);
}

/* The same bytes as ei with a hand-counted header, whatever the nesting
 * and however many pairs a condition left out. */
static void maps_count_their_pairs(void)
{
    ei_x_buff ours, theirs;
    sp_map outer, inner;
    int optional = 0;

    for (int round = 0; round < 2; round++, optional = 1) {
        ei_x_new_with_version(&ours);
        sp_map_begin(&outer, &ours);
        sp_map_int(&outer, "a", -5);
        if (optional)
            sp_map_uint(&outer, "b", 18446744073709551615ull);
        sp_map_key(&outer, "c");
        sp_map_begin(&inner, &ours);
        sp_map_bool(&inner, "t", 1);
        sp_map_str(&inner, "s", "text");
        sp_map_end(&inner);
        sp_map_atom(&outer, "d", "none");
        sp_map_end(&outer);

        ei_x_new_with_version(&theirs);
        ei_x_encode_map_header(&theirs, optional ? 4 : 3);
        ei_x_encode_atom(&theirs, "a");
        ei_x_encode_long(&theirs, -5);
        if (optional) {
            ei_x_encode_atom(&theirs, "b");
            ei_x_encode_ulonglong(&theirs, 18446744073709551615ull);
        }
        ei_x_encode_atom(&theirs, "c");
        ei_x_encode_map_header(&theirs, 2);
        ei_x_encode_atom(&theirs, "t");
        ei_x_encode_boolean(&theirs, 1);
        ei_x_encode_atom(&theirs, "s");
        ei_x_encode_binary(&theirs, "text", 4);
        ei_x_encode_atom(&theirs, "d");
        ei_x_encode_atom(&theirs, "none");

        CHECK_EQ(ours.index, theirs.index);
        CHECK(ours.index == theirs.index && memcmp(ours.buff, theirs.buff, (size_t)ours.index) == 0);
        ei_x_free(&ours);
        ei_x_free(&theirs);
    }
    /* An empty map, and one that grows the buffer (moving it) midway. */
    ei_x_new(&ours);
    sp_map_begin(&outer, &ours);
    sp_map_end(&outer);
    CHECK(ours.index == 5 && (unsigned char)ours.buff[0] == ERL_MAP_EXT && ours.buff[4] == 0);
    ei_x_free(&ours);
    ei_x_new(&ours);
    sp_map_begin(&outer, &ours);
    for (int i = 0; i < 5000; i++)
        sp_map_int(&outer, "k", i);
    sp_map_end(&outer);
    {
        int index = 0, arity;

        CHECK_EQ(ei_decode_map_header(ours.buff, &index, &arity), 0);
        CHECK_EQ(arity, 5000);
    }
    ei_x_free(&ours);
}

int main(void)
{
    RUN(requests_go_by_name_and_arity);
    RUN(capabilities_come_from_the_tables);
    RUN(maps_count_their_pairs);
    return sp_test_report("test_lib_loop");
}
