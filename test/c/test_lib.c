/* Unit tests of the shared runtime: framing, bounded decoding, encoding and
 * the write path. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_frame.h"
#include "sp_loop.h"
#include "sp_proto.h"
#include "sp_term.h"
#include "sp_test.h"

/* A frame: 4-byte length + payload. */
static size_t put_frame(uint8_t *out, const void *payload, uint32_t len)
{
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    memcpy(out + 4, payload, len);
    return 4 + len;
}

/* {call, Id, {echo, <<Bytes>>}} encoded with ei. */
static void call_term(ei_x_buff *x, unsigned long id, const char *bytes, long n)
{
    ei_x_new_with_version(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "call");
    ei_x_encode_ulong(x, id);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "echo");
    ei_x_encode_binary(x, bytes, n);
}

static void frame_split_across_many_reads(void)
{
    ei_x_buff x;
    uint8_t wire[256];
    size_t n;
    sp_inbuf b;
    const uint8_t *frame;
    size_t len;

    call_term(&x, 7, "hello", 5);
    n = put_frame(wire, x.buff, (uint32_t)x.index);
    CHECK_EQ(sp_inbuf_init(&b, 1024), 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_NEED_MORE);
        CHECK_EQ(sp_inbuf_append(&b, wire + i, 1), 0);
    }
    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_OK);
    CHECK_EQ(len, x.index);
    CHECK_MEM(frame, x.buff, len);
    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_NEED_MORE);
    CHECK_EQ(sp_inbuf_pending(&b), 0);
    sp_inbuf_free(&b);
    ei_x_free(&x);
}

static void many_frames_in_one_read(void)
{
    enum { N = 300 };
    uint8_t *wire = malloc(N * 64);
    size_t n = 0;
    sp_inbuf b;
    const uint8_t *frame;
    size_t len;
    int pipefd[2];

    for (int i = 0; i < N; i++) {
        uint8_t payload[8] = {131, 98, 0, 0, (uint8_t)(i >> 8), (uint8_t)i, 0, 0};
        n += put_frame(wire + n, payload, 6);
    }
    /* Through a real pipe: one read() returns all of them. */
    CHECK_EQ(pipe(pipefd), 0);
    CHECK_EQ(write(pipefd[1], wire, n), (ssize_t)n);
    CHECK_EQ(sp_inbuf_init(&b, 4096), 0);
    /* 3000 bytes are buffered at once: one read() takes them all. */
    CHECK_EQ(sp_inbuf_read(&b, pipefd[0]), (ssize_t)n);
    for (int i = 0; i < N; i++) {
        sp_dec d;
        long long v;

        CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_OK);
        CHECK_EQ(len, 6);
        CHECK_EQ(sp_dec_init(&d, (const char *)frame, len), 0);
        CHECK_EQ(sp_dec_long(&d, &v), 0);
        CHECK_EQ(v, i);
        CHECK(sp_dec_done(&d));
    }
    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_NEED_MORE);
    close(pipefd[1]);
    CHECK_EQ(sp_inbuf_read(&b, pipefd[0]), 0); /* EOF */
    close(pipefd[0]);
    sp_inbuf_free(&b);
    free(wire);
}

static void frame_at_cap_and_over(void)
{
    enum { CAP = 1000 };
    uint8_t *wire = calloc(1, CAP + 8);
    sp_inbuf b;
    const uint8_t *frame;
    size_t len;

    /* Exactly at the cap: accepted, even when it arrives in pieces. */
    put_frame(wire, wire + 4, CAP);
    CHECK_EQ(sp_inbuf_init(&b, CAP), 0);
    CHECK_EQ(sp_inbuf_append(&b, wire, 500), 0);
    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_NEED_MORE);
    CHECK_EQ(sp_inbuf_append(&b, wire + 500, CAP + 4 - 500), 0);
    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_OK);
    CHECK_EQ(len, CAP);
    CHECK(b.size <= CAP + 4);
    /* One byte over: refused as soon as the header is seen. */
    wire[0] = 0, wire[1] = 0, wire[2] = (CAP + 1) >> 8, wire[3] = (CAP + 1) & 0xff;
    CHECK_EQ(sp_inbuf_append(&b, wire, 4), 0);
    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_TOO_BIG);
    /* And the buffer never grows past cap + 4, whatever arrives. */
    CHECK(sp_inbuf_append(&b, wire, CAP + 8) < 0);
    CHECK(b.size <= CAP + 4);
    sp_inbuf_free(&b);
    /* The largest possible length field does not overflow anything. */
    memset(wire, 0xff, 4);
    CHECK_EQ(sp_frame_split(wire, 4, SIZE_MAX, &len, &len), SP_FRAME_NEED_MORE);
    CHECK_EQ(sp_frame_split(wire, 4, CAP, &len, &len), SP_FRAME_TOO_BIG);
    free(wire);
}

static void truncated_term(void)
{
    ei_x_buff x;
    sp_dec d;
    int size;

    call_term(&x, 1, "0123456789", 10);
    for (int cut = 1; cut < x.index; cut++) {
        CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)cut), 0);
        CHECK_EQ(sp_dec_term_size(&d, &size), -1);
        CHECK_EQ(sp_dec_skip(&d), -1);
        CHECK_EQ(d.index, 1); /* the cursor did not move */
    }
    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK_EQ(sp_dec_term_size(&d, &size), 0);
    CHECK_EQ(size, x.index - 1);
    ei_x_free(&x);
}

static void wrong_version_byte(void)
{
    const char term[] = {(char)130, 97, 1};
    const char empty[] = {0};
    sp_dec d;

    CHECK_EQ(sp_dec_init(&d, term, sizeof(term)), -1);
    CHECK_EQ(sp_dec_init(&d, empty, 0), -1);
}

static void atom_over_the_limit(void)
{
    /* ATOM_UTF8_EXT with 1021 bytes: more than 255 characters can take. */
    char *buf = malloc(4 + 1021);
    char atom[MAXATOMLEN_UTF8];
    sp_dec d;
    int size;

    buf[0] = (char)131;
    buf[1] = ERL_ATOM_UTF8_EXT;
    buf[2] = (char)(1021 >> 8);
    buf[3] = (char)(1021 & 0xff);
    memset(buf + 4, 'a', 1021);
    CHECK_EQ(sp_dec_init(&d, buf, 4 + 1021), 0);
    CHECK_EQ(sp_dec_atom(&d, atom), -1);
    CHECK_EQ(d.index, 1);
    /* 1020 bytes is the most the MAXATOMLEN_UTF8 buffer holds with its NUL. */
    buf[3] = (char)(1020 & 0xff);
    CHECK_EQ(sp_dec_init(&d, buf, 4 + 1020), 0);
    CHECK_EQ(sp_dec_atom(&d, atom), 0);
    CHECK_EQ(strlen(atom), 1020);
    buf[2] = 0;
    buf[3] = (char)255;
    CHECK_EQ(sp_dec_init(&d, buf, 4 + 255), 0);
    CHECK_EQ(sp_dec_atom(&d, atom), 0);
    CHECK_EQ(strlen(atom), 255);
    CHECK(sp_dec_done(&d));
    /* The length field claims more than the buffer holds. */
    buf[3] = 10;
    CHECK_EQ(sp_dec_init(&d, buf, 4 + 5), 0);
    CHECK_EQ(sp_dec_atom(&d, atom), -1);
    CHECK_EQ(sp_dec_term_size(&d, &size), -1);
    free(buf);
}

static void binary_past_the_frame(void)
{
    /* BINARY_EXT claiming 100 bytes with 3 present, and one claiming 4 GiB. */
    const char short_bin[] = {(char)131, ERL_BINARY_EXT, 0, 0, 0, 100, 'a', 'b', 'c'};
    const char huge_bin[] = {(char)131, ERL_BINARY_EXT, (char)0xff, (char)0xff, (char)0xff, (char)0xff, 'x'};
    const char good_bin[] = {(char)131, ERL_BINARY_EXT, 0, 0, 0, 3, 'a', 'b', 'c'};
    const char *data;
    size_t len;
    sp_dec d;

    CHECK_EQ(sp_dec_init(&d, short_bin, sizeof(short_bin)), 0);
    CHECK_EQ(sp_dec_binary(&d, &data, &len), -1);
    CHECK_EQ(sp_dec_skip(&d), -1);
    CHECK_EQ(sp_dec_init(&d, huge_bin, sizeof(huge_bin)), 0);
    CHECK_EQ(sp_dec_binary(&d, &data, &len), -1);
    CHECK_EQ(sp_dec_init(&d, good_bin, sizeof(good_bin)), 0);
    CHECK_EQ(sp_dec_binary(&d, &data, &len), 0);
    CHECK_EQ(len, 3);
    CHECK_MEM(data, "abc", 3);
    CHECK(sp_dec_done(&d));
}

static void containers_and_hostile_counts(void)
{
    /* A list claiming 2^31 elements in a 10-byte buffer, a map claiming
     * 2^30 pairs, and nesting deeper than SP_MAX_DEPTH. */
    const char big_list[] = {(char)131, ERL_LIST_EXT, (char)0x80, 0, 0, 0, 'j', 'j', 'j', 'j'};
    const char big_map[] = {(char)131, ERL_MAP_EXT, 0x40, 0, 0, 0, 'j', 'j'};
    char deep[2 + 2 * (SP_MAX_DEPTH + 2)];
    sp_dec d;
    int n, size;

    CHECK_EQ(sp_dec_init(&d, big_list, sizeof(big_list)), 0);
    CHECK_EQ(sp_dec_term_size(&d, &size), -1);
    CHECK_EQ(sp_dec_list(&d, &n), -1);
    CHECK_EQ(sp_dec_init(&d, big_map, sizeof(big_map)), 0);
    CHECK_EQ(sp_dec_term_size(&d, &size), -1);
    CHECK_EQ(sp_dec_map(&d, &n), -1);

    deep[0] = (char)131;
    for (int i = 0; i < SP_MAX_DEPTH + 1; i++) {
        deep[1 + 2 * i] = ERL_SMALL_TUPLE_EXT;
        deep[2 + 2 * i] = 1;
    }
    deep[1 + 2 * (SP_MAX_DEPTH + 1)] = ERL_NIL_EXT;
    CHECK_EQ(sp_dec_init(&d, deep, 2 + 2 * (SP_MAX_DEPTH + 1)), 0);
    CHECK_EQ(sp_dec_term_size(&d, &size), -1);
    /* One level less is accepted. */
    sp_dec_init_raw(&d, deep, 2 + 2 * (SP_MAX_DEPTH + 1), 3);
    CHECK_EQ(sp_dec_term_size(&d, &size), 0);
    CHECK_EQ(size, 2 * SP_MAX_DEPTH + 1);
    /* Pids, refs and funs are never part of the protocol. */
    {
        const char pid[] = {(char)131, ERL_NEW_PID_EXT, 'w', 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        CHECK_EQ(sp_dec_init(&d, pid, sizeof(pid)), 0);
        CHECK_EQ(sp_dec_skip(&d), -1);
    }
}

static void decode_a_request(void)
{
    /* {call, 42, {set, #{name => <<"x">>, on => true, n => -5, f => 1.5}, [a, b]}} */
    ei_x_buff x;
    sp_dec d;
    int arity, pairs, n, b = 0;
    unsigned long long id;
    char atom[MAXATOMLEN_UTF8], name[8];
    long long v = 0;
    double f = 0;

    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "call");
    ei_x_encode_ulong(&x, 42);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "set");
    ei_x_encode_map_header(&x, 4);
    ei_x_encode_atom(&x, "name");
    ei_x_encode_binary(&x, "x", 1);
    ei_x_encode_atom(&x, "on");
    ei_x_encode_atom(&x, "true");
    ei_x_encode_atom(&x, "n");
    ei_x_encode_long(&x, -5);
    ei_x_encode_atom(&x, "f");
    ei_x_encode_double(&x, 1.5);
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_atom(&x, "a");
    ei_x_encode_atom(&x, "b");
    ei_x_encode_empty_list(&x);

    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK_EQ(sp_dec_tuple(&d, &arity), 0);
    CHECK_EQ(arity, 3);
    CHECK_EQ(sp_dec_atom_is(&d, "cast"), -1); /* no match: cursor stays */
    CHECK_EQ(sp_dec_atom_is(&d, "call"), 0);
    CHECK_EQ(sp_dec_long(&d, (long long *)&id), 0);
    CHECK_EQ(id, 42);
    CHECK_EQ(sp_dec_tuple(&d, &arity), 0);
    CHECK_EQ(sp_dec_atom(&d, atom), 0);
    CHECK(strcmp(atom, "set") == 0);
    CHECK_EQ(sp_dec_map(&d, &pairs), 0);
    CHECK_EQ(pairs, 4);
    for (int i = 0; i < pairs; i++) {
        CHECK_EQ(sp_dec_atom(&d, atom), 0);
        if (strcmp(atom, "name") == 0)
            CHECK_EQ(sp_dec_cstring(&d, name, sizeof(name)), 0);
        else if (strcmp(atom, "on") == 0)
            CHECK_EQ(sp_dec_bool(&d, &b), 0);
        else if (strcmp(atom, "n") == 0)
            CHECK_EQ(sp_dec_long(&d, &v), 0);
        else
            CHECK_EQ(sp_dec_double(&d, &f), 0);
    }
    CHECK(strcmp(name, "x") == 0);
    CHECK_EQ(b, 1);
    CHECK_EQ(v, -5);
    CHECK(f == 1.5);
    CHECK_EQ(sp_dec_list(&d, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(sp_dec_skip(&d), 0);
    CHECK_EQ(sp_dec_long(&d, &v), -1); /* an atom is not an integer */
    CHECK_EQ(sp_dec_skip(&d), 0);
    CHECK_EQ(sp_dec_list_tail(&d), 0);
    CHECK(sp_dec_done(&d));
    ei_x_free(&x);
}

static void strings_and_cstrings(void)
{
    /* STRING_EXT "ab", [] and a binary with a NUL inside. */
    const char str[] = {(char)131, ERL_STRING_EXT, 0, 2, 'a', 'b'};
    const char nil[] = {(char)131, ERL_NIL_EXT};
    const char nul[] = {(char)131, ERL_BINARY_EXT, 0, 0, 0, 3, 'a', 0, 'b'};
    char out[4];
    const char *data;
    size_t len;
    sp_dec d;

    CHECK_EQ(sp_dec_init(&d, str, sizeof(str)), 0);
    CHECK_EQ(sp_dec_bytes(&d, &data, &len), 0);
    CHECK_EQ(len, 2);
    CHECK_EQ(sp_dec_init(&d, nil, sizeof(nil)), 0);
    CHECK_EQ(sp_dec_cstring(&d, out, sizeof(out)), 0);
    CHECK_EQ(out[0], 0);
    CHECK_EQ(sp_dec_init(&d, nul, sizeof(nul)), 0);
    CHECK_EQ(sp_dec_cstring(&d, out, sizeof(out)), -1);
    CHECK_EQ(sp_dec_init(&d, str, sizeof(str)), 0);
    CHECK_EQ(sp_dec_cstring(&d, out, 2), -1); /* no room for the NUL */
}

/* Reads frames from fd until EOF; returns how many decoded as terms. */
static int count_frames(int fd, size_t *bytes)
{
    sp_inbuf b;
    const uint8_t *frame;
    size_t len;
    int frames = 0;
    ssize_t got;

    *bytes = 0;
    sp_inbuf_init(&b, 1 << 22);
    while ((got = sp_inbuf_read(&b, fd)) > 0)
        while (sp_inbuf_next(&b, &frame, &len) == SP_FRAME_OK) {
            sp_dec d;

            if (sp_dec_init(&d, (const char *)frame, len) == 0 && sp_dec_skip(&d) == 0 && sp_dec_done(&d))
                frames++;
            *bytes += len;
        }
    sp_inbuf_free(&b);
    return frames;
}

static void queued_frames_survive_short_writes(void)
{
    /* 5000 frames through a 4 KiB pipe: writev returns short counts and the
     * queue flushes itself on the way; every frame arrives whole. */
    int pipefd[2];
    pid_t child;
    int status;

    CHECK_EQ(pipe(pipefd), 0);
    fcntl(pipefd[1], F_SETPIPE_SZ, 4096);
    child = fork();
    if (child == 0) {
        char payload[700];

        close(pipefd[0]);
        memset(payload, 'p', sizeof(payload));
        sp_out_set_fd(pipefd[1]);
        for (int i = 0; i < 5000; i++) {
            ei_x_buff x;

            sp_event_begin(&x);
            ei_x_encode_binary(&x, payload, i % (long)sizeof(payload));
            sp_send(&x);
            ei_x_free(&x); /* a no-op after sp_send */
        }
        _exit(sp_flush() == 0 && sp_queued_frames() == 0 ? 0 : 1);
    }
    close(pipefd[1]);
    {
        size_t bytes;
        int frames = count_frames(pipefd[0], &bytes);

        CHECK_EQ(frames, 5000);
    }
    close(pipefd[0]);
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void reply_shapes(void)
{
    /* The encoders produce what the Erlang side matches on. */
    int pipefd[2];
    sp_inbuf b;
    const uint8_t *frame;
    size_t len;
    char atom[MAXATOMLEN_UTF8];
    int arity;
    long long v;
    sp_dec d;

    CHECK_EQ(pipe(pipefd), 0);
    sp_out_set_fd(pipefd[1]);
    sp_reply_ok(5);
    sp_reply_errno(6, ENOENT);
    sp_reply_error_detail(7, "corrupt_env", "both copies");
    sp_log("warning", "n=%d", 3);
    CHECK_EQ(sp_flush(), 0);
    close(pipefd[1]);
    sp_inbuf_init(&b, 4096);
    while (sp_inbuf_read(&b, pipefd[0]) > 0) {
    }
    close(pipefd[0]);

    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_OK); /* {reply, 5, ok} */
    sp_dec_init(&d, (const char *)frame, len);
    CHECK_EQ(sp_dec_tuple(&d, &arity), 0);
    CHECK_EQ(arity, 3);
    CHECK_EQ(sp_dec_atom_is(&d, "reply"), 0);
    CHECK_EQ(sp_dec_long(&d, &v), 0);
    CHECK_EQ(v, 5);
    CHECK_EQ(sp_dec_atom_is(&d, "ok"), 0);
    CHECK(sp_dec_done(&d));

    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_OK); /* {reply, 6, {error, enoent}} */
    sp_dec_init(&d, (const char *)frame, len);
    sp_dec_tuple(&d, &arity);
    sp_dec_skip(&d);
    sp_dec_skip(&d);
    CHECK_EQ(sp_dec_tuple(&d, &arity), 0);
    CHECK_EQ(sp_dec_atom_is(&d, "error"), 0);
    CHECK_EQ(sp_dec_atom(&d, atom), 0);
    CHECK(strcmp(atom, "enoent") == 0);

    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_OK); /* {reply, 7, {error, {corrupt_env, <<..>>}}} */
    CHECK(memmem(frame, len, "both copies", 11) != NULL);
    CHECK(memmem(frame, len, "corrupt_env", 11) != NULL);

    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_OK); /* {log, warning, <<"n=3">>} */
    sp_dec_init(&d, (const char *)frame, len);
    sp_dec_tuple(&d, &arity);
    CHECK_EQ(arity, 3);
    CHECK_EQ(sp_dec_atom_is(&d, "log"), 0);
    CHECK_EQ(sp_dec_atom_is(&d, "warning"), 0);
    {
        const char *msg;
        size_t n;

        CHECK_EQ(sp_dec_binary(&d, &msg, &n), 0);
        CHECK_EQ(n, 3);
        CHECK_MEM(msg, "n=3", 3);
    }
    CHECK_EQ(sp_inbuf_next(&b, &frame, &len), SP_FRAME_NEED_MORE);
    sp_inbuf_free(&b);
    CHECK(strcmp(sp_errno_atom(EACCES), "eacces") == 0);
}

static void parse_messages(void)
{
    ei_x_buff x;
    sp_request req;
    unsigned long long id = 0;

    call_term(&x, 9, "abc", 3);
    CHECK_EQ(sp_parse_message((const uint8_t *)x.buff, (size_t)x.index, &id, &req), SP_MSG_CALL);
    CHECK_EQ(id, 9);
    CHECK(strcmp(req.name, "echo") == 0);
    CHECK_EQ(req.argc, 1);
    /* A trailing byte after the term makes the frame invalid. */
    ei_x_append_buf(&x, "j", 1);
    CHECK_EQ(sp_parse_message((const uint8_t *)x.buff, (size_t)x.index, &id, &req), SP_MSG_INVALID);
    ei_x_free(&x);

    ei_x_new_with_version(&x); /* {cast, ping} */
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "cast");
    ei_x_encode_atom(&x, "ping");
    CHECK_EQ(sp_parse_message((const uint8_t *)x.buff, (size_t)x.index, &id, &req), SP_MSG_CAST);
    CHECK(strcmp(req.name, "ping") == 0);
    CHECK_EQ(req.argc, 0);
    ei_x_free(&x);

    ei_x_new_with_version(&x); /* {call, -1, ping}: ids are non-negative */
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "call");
    ei_x_encode_long(&x, -1);
    ei_x_encode_atom(&x, "ping");
    CHECK_EQ(sp_parse_message((const uint8_t *)x.buff, (size_t)x.index, &id, &req), SP_MSG_INVALID);
    ei_x_free(&x);

    ei_x_new_with_version(&x); /* {call, 1, {}}: a request needs a name */
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "call");
    ei_x_encode_long(&x, 1);
    ei_x_encode_tuple_header(&x, 0);
    CHECK_EQ(sp_parse_message((const uint8_t *)x.buff, (size_t)x.index, &id, &req), SP_MSG_INVALID);
    ei_x_free(&x);
}

static void reserve_grows_geometrically(void)
{
    ei_x_buff x;
    int grows = 0, size;

    ei_x_new_with_version(&x);
    ei_x_encode_list_header(&x, 1000);
    size = x.buffsz;
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(sp_x_reserve(&x, 100), 0);
        CHECK(x.buffsz >= x.index + 100);
        if (x.buffsz != size)
            grows++, size = x.buffsz;
        ei_x_encode_binary(&x, "0123456789012345678901234567890123456789", 40);
        /* ei never grew it behind our back. */
        CHECK_EQ(x.buffsz, size);
    }
    ei_x_encode_empty_list(&x);
    CHECK(grows <= 12);
    /* What was encoded survived the moves. */
    {
        sp_dec d;
        int n;
        const char *bytes;
        size_t len;

        CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
        CHECK(sp_dec_list(&d, &n) == 0 && n == 1000);
        for (int i = 0; i < n; i++)
            CHECK(sp_dec_binary(&d, &bytes, &len) == 0 && len == 40 && memcmp(bytes, "0123", 4) == 0);
        CHECK_EQ(sp_dec_list_tail(&d), 0);
        CHECK(sp_dec_done(&d));
    }
    /* Room already there: nothing moves. */
    size = x.buffsz;
    CHECK_EQ(sp_x_reserve(&x, 0), 0);
    CHECK_EQ(x.buffsz, size);
    CHECK_EQ(sp_x_reserve(&x, (size_t)1 << 40), -1);
    CHECK_EQ(x.buffsz, size);
    ei_x_free(&x);
}

int main(void)
{
    RUN(frame_split_across_many_reads);
    RUN(many_frames_in_one_read);
    RUN(frame_at_cap_and_over);
    RUN(truncated_term);
    RUN(wrong_version_byte);
    RUN(atom_over_the_limit);
    RUN(binary_past_the_frame);
    RUN(containers_and_hostile_counts);
    RUN(decode_a_request);
    RUN(strings_and_cstrings);
    RUN(queued_frames_survive_short_writes);
    RUN(reply_shapes);
    RUN(parse_messages);
    RUN(reserve_grows_geometrically);
    return sp_test_report("test_lib");
}
