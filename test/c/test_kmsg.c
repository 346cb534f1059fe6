/* Unit tests of the kmsg record parser, the kmsg file splitter and the
 * record encoder, on strings and on the fixture files in
 * test/fixtures/kmsg (util-linux `dmesg -K` format: records separated by
 * NULs), which hold what userspace cannot inject into /dev/kmsg. */
#include <stdio.h>
#include <stdlib.h>

#include "kmsg_record.h"
#include "kmsg_term.h"
#include "sp_proto.h"
#include "sp_test.h"

#define FIXTURES "test/fixtures/kmsg/"

static char text[1 << 16];

static enum kmsg_parse_status parse(const char *s, struct kmsg_record *rec)
{
    return kmsg_parse(s, strlen(s), text, sizeof(text), rec);
}

static int span_is(struct kmsg_span span, const char *expected)
{
    size_t n = strlen(expected);

    return span.ptr && span.len == n && memcmp(span.ptr, expected, n) == 0;
}

#define CHECK_SPAN(span, expected) CHECK(span_is((span), (expected)))

static void header_fields(void)
{
    struct kmsg_record rec;

    CHECK_EQ(parse("6,193,299242,-;hello\n", &rec), KMSG_OK);
    CHECK_EQ(rec.facility, 0);
    CHECK_EQ(rec.level, 6);
    CHECK_EQ(rec.seq, 193);
    CHECK_EQ(rec.ts_usec, 299242);
    CHECK_SPAN(rec.flags, "-");
    CHECK_SPAN(rec.message, "hello");
    CHECK(rec.caller.ptr == NULL && rec.subsystem.ptr == NULL && rec.device.ptr == NULL);

    /* Facility and level from PRI = facility << 3 | level. */
    CHECK_EQ(parse("191,1,2,-;x\n", &rec), KMSG_OK);
    CHECK_EQ(rec.facility, 23);
    CHECK_EQ(rec.level, 7);
    CHECK_EQ(parse("2047,1,2,-;x\n", &rec), KMSG_OK);
    CHECK_EQ(rec.facility, 255);
    CHECK_EQ(rec.level, 7);

    /* The largest values that fit. */
    CHECK_EQ(parse("6,18446744073709551615,18446744073709551615,-;x\n", &rec), KMSG_OK);
    CHECK(rec.seq == 18446744073709551615ULL && rec.ts_usec == 18446744073709551615ULL);
}

static void header_ends_at_first_semicolon(void)
{
    struct kmsg_record rec;

    CHECK_EQ(parse("6,1,2,-;a;b;c=1,2\n", &rec), KMSG_OK);
    CHECK_SPAN(rec.message, "a;b;c=1,2");
    CHECK_SPAN(rec.flags, "-");
    CHECK(rec.caller.ptr == NULL);
}

static void caller_and_unknown_fields(void)
{
    struct kmsg_record rec;

    CHECK_EQ(parse("4,7,8,-,caller=T123;m\n", &rec), KMSG_OK);
    CHECK_SPAN(rec.caller, "T123");
    CHECK_EQ(parse("4,7,8,c,future=1,caller=C2,more;m\n", &rec), KMSG_OK);
    CHECK_SPAN(rec.flags, "c");
    CHECK_SPAN(rec.caller, "C2");
    CHECK_SPAN(rec.message, "m");
    /* Early 3.5 kernels: no flags. */
    CHECK_EQ(parse("4,7,8;m\n", &rec), KMSG_OK);
    CHECK(rec.flags.ptr == NULL);
    CHECK_SPAN(rec.message, "m");
}

static void escapes_decoded(void)
{
    struct kmsg_record rec;
    static const char expected[] = "a\\b\nc\x01\x7f\xc3\xa9\xff";

    CHECK_EQ(parse("6,1,2,-;a\\x5cb\\x0ac\\x01\\x7f\\xc3\\xA9\\xff\n", &rec), KMSG_OK);
    CHECK_EQ(rec.message.len, sizeof(expected) - 1);
    CHECK_MEM(rec.message.ptr, expected, sizeof(expected) - 1);
    /* Not an escape: kept as it is (the kernel cuts long records mid-escape). */
    CHECK_EQ(parse("6,1,2,-;\\ \\x4 \\xZZ \\x\n", &rec), KMSG_OK);
    CHECK_SPAN(rec.message, "\\ \\x4 \\xZZ \\x");
    CHECK_EQ(parse("6,1,2,-;end\\x0\n", &rec), KMSG_OK);
    CHECK_SPAN(rec.message, "end\\x0");
    /* A NUL escape is data too. */
    CHECK_EQ(parse("6,1,2,-;a\\x00b\n", &rec), KMSG_OK);
    CHECK_EQ(rec.message.len, 3);
    CHECK_MEM(rec.message.ptr, "a\0b", 3);
}

static void dictionary(void)
{
    struct kmsg_record rec;

    CHECK_EQ(parse("6,1,2,-;dev: hi\n SUBSYSTEM=pl\\x61tform\n UNKNOWN=1\n DEVICE=+platform:s\\x5c1\n", &rec),
             KMSG_OK);
    CHECK_SPAN(rec.message, "dev: hi");
    CHECK_SPAN(rec.subsystem, "platform");
    CHECK_SPAN(rec.device, "+platform:s\\1");
    /* Without the leading space it is not a dictionary line. */
    CHECK_EQ(parse("6,1,2,-;m\nSUBSYSTEM=no\n DEVICE=yes", &rec), KMSG_OK);
    CHECK(rec.subsystem.ptr == NULL);
    CHECK_SPAN(rec.device, "yes");
    /* Empty values are present but empty. */
    CHECK_EQ(parse("6,1,2,-;m\n SUBSYSTEM=\n", &rec), KMSG_OK);
    CHECK(rec.subsystem.ptr != NULL && rec.subsystem.len == 0);
}

static void empty_and_unterminated(void)
{
    struct kmsg_record rec;

    CHECK_EQ(parse("14,1,2,-;\n", &rec), KMSG_OK);
    CHECK(rec.message.ptr != NULL && rec.message.len == 0);
    CHECK_EQ(parse("6,1,2,-;no newline", &rec), KMSG_OK);
    CHECK_SPAN(rec.message, "no newline");
    CHECK_EQ(kmsg_parse("", 0, text, sizeof(text), &rec), KMSG_EMPTY);
    CHECK_EQ(kmsg_parse("\0\0", 2, text, sizeof(text), &rec), KMSG_EMPTY);
}

static void malformed_headers(void)
{
    struct kmsg_record rec;

    CHECK_EQ(parse("no terminator\n", &rec), KMSG_NO_TERMINATOR);
    CHECK_EQ(parse(";x\n", &rec), KMSG_BAD_PRIORITY);
    CHECK_EQ(parse("x,1,2,-;x\n", &rec), KMSG_BAD_PRIORITY);
    CHECK_EQ(parse("-6,1,2,-;x\n", &rec), KMSG_BAD_PRIORITY);
    CHECK_EQ(parse(" 6,1,2,-;x\n", &rec), KMSG_BAD_PRIORITY);
    CHECK_EQ(parse("4294967296,1,2,-;x\n", &rec), KMSG_BAD_PRIORITY);
    CHECK_EQ(parse("6,,2,-;x\n", &rec), KMSG_BAD_SEQ);
    CHECK_EQ(parse("6,18446744073709551616,2,-;x\n", &rec), KMSG_BAD_SEQ);
    CHECK_EQ(parse("6,1,1e5,-;x\n", &rec), KMSG_BAD_TIMESTAMP);
    CHECK_EQ(parse("6,1,18446744073709551616,-;x\n", &rec), KMSG_BAD_TIMESTAMP);
    CHECK_EQ(parse("6,1;x\n", &rec), KMSG_MISSING_FIELDS);
    CHECK_EQ(parse("6;x\n", &rec), KMSG_MISSING_FIELDS);
    CHECK(strcmp(kmsg_status_name(KMSG_BAD_SEQ), "bad_seq") == 0);
}

/* A record longer than /dev/kmsg ever returns (a kmsg file can hold one)
 * is refused before anything is decoded: the helper decodes into a buffer
 * of KMSG_RECORD_MAX + 1 bytes, allocated here exactly so for ASan. */
static void record_over_the_cap(void)
{
    struct kmsg_record rec;
    size_t len = 3 * KMSG_RECORD_MAX;
    char *raw = malloc(len), *out = malloc(KMSG_RECORD_MAX + 1);
    static const char header[] = "6,2,200,-;";

    memset(raw, 'A', len);
    memcpy(raw, header, sizeof(header) - 1);
    CHECK_EQ(kmsg_parse(raw, len, out, KMSG_RECORD_MAX + 1, &rec), KMSG_TOO_LONG);
    CHECK(strcmp(kmsg_status_name(KMSG_TOO_LONG), "too_long") == 0);
    /* The longest record the kernel writes still parses whole... */
    CHECK_EQ(kmsg_parse(raw, KMSG_RECORD_MAX, out, KMSG_RECORD_MAX + 1, &rec), KMSG_OK);
    CHECK_EQ(rec.message.len, KMSG_RECORD_MAX - (sizeof(header) - 1));
    /* ...and a buffer smaller than the record is never written past. */
    CHECK_EQ(kmsg_parse(raw, 100, out, 99, &rec), KMSG_TOO_LONG);
    free(raw);
    free(out);
}

static char *read_fixture(const char *name, size_t *len)
{
    char path[256];
    FILE *f;
    char *buf = malloc(1 << 16);

    snprintf(path, sizeof(path), FIXTURES "%s", name);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run from the checkout)\n", path);
        exit(2);
    }
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* Parses every record of a fixture into recs[]; returns how many parsed,
 * counting the rejected ones in *rejected. */
static int parse_fixture(const char *name, struct kmsg_record *recs, int max, int *rejected, char *out)
{
    size_t len, off = 0, rec_len;
    const char *raw;
    char *buf = read_fixture(name, &len);
    int n = 0;

    *rejected = 0;
    while (kmsg_file_next(buf, len, &off, &raw, &rec_len) && n < max) {
        /* Each record decodes into its own slice of out; spans into the
         * input are copied there too so the file buffer can go. */
        char *copy = out;

        memcpy(copy, raw, rec_len);
        out += rec_len;
        if (kmsg_parse(copy, rec_len, out, rec_len, &recs[n]) == KMSG_OK) {
            n++;
            out += rec_len;
        } else {
            (*rejected)++;
        }
    }
    free(buf);
    return n;
}

static char fixture_text[1 << 17];

static void fixture_kernel(void)
{
    struct kmsg_record r[32];
    int rejected, n = parse_fixture("kernel.kmsg", r, 32, &rejected, fixture_text);
    static const char escaped[] = "escaped: backslash \\ newline \n control \x01 del \x7f utf8 \xc3\xa9 byte \xff end";
    static const char *const facilities[] = {"kern", "user", "mail", "daemon", "auth", "syslog", "local7", "local7"};

    CHECK_EQ(n, 15);
    CHECK_EQ(rejected, 0);
    CHECK_EQ(r[0].seq, 193);
    CHECK_SPAN(r[0].subsystem, "acpi");
    CHECK_SPAN(r[0].device, "+acpi:PNP0A08:00");
    CHECK_SPAN(r[1].caller, "T123");
    CHECK_EQ(r[1].level, 4);
    CHECK_SPAN(r[1].message, "usb 1-1: new high-speed USB device; number 2");
    CHECK_SPAN(r[1].device, "c189:1");
    CHECK_SPAN(r[2].flags, "c");
    CHECK_SPAN(r[2].caller, "C1");
    CHECK_EQ(r[3].message.len, sizeof(escaped) - 1);
    CHECK_MEM(r[3].message.ptr, escaped, sizeof(escaped) - 1);
    CHECK_SPAN(r[4].subsystem, "net");
    CHECK_SPAN(r[4].device, "n2");
    CHECK(r[5].message.len == 0 && r[5].facility == 1 && r[5].level == 6);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(r[6 + i].level, i);
        CHECK(strcmp(kmsg_facility_name(r[6 + i].facility), facilities[i]) == 0);
    }
    CHECK_EQ(r[14].ts_usec, 1234567890123ULL);
    CHECK_SPAN(r[14].message, "semi;colons;in;the;message");
    for (int i = 1; i < n; i++)
        CHECK_EQ(r[i].seq, r[i - 1].seq + 1);
}

static void fixture_extensions(void)
{
    struct kmsg_record r[16];
    int rejected, n = parse_fixture("extensions.kmsg", r, 16, &rejected, fixture_text);

    CHECK_EQ(n, 9);
    CHECK_EQ(rejected, 0);
    CHECK_SPAN(r[0].caller, "T7");
    CHECK_SPAN(r[0].message, "unknown header fields are ignored");
    CHECK(r[1].flags.ptr == NULL);
    CHECK_SPAN(r[2].subsystem, "pci");
    CHECK_SPAN(r[2].device, "+pci:0000:00:02.0");
    CHECK_EQ(r[3].facility, 255);
    CHECK(kmsg_facility_name(r[3].facility) == NULL);
    CHECK_SPAN(r[4].message, "lone \\ and truncated \\x4 escapes\\x");
    CHECK_SPAN(r[5].flags, "+");
    CHECK_SPAN(r[6].message, "no trailing newline");
    CHECK_EQ(r[7].message.len, 7000);
    CHECK(r[8].subsystem.ptr == NULL);
    CHECK_SPAN(r[8].device, "yes");
}

static void fixture_malformed(void)
{
    struct kmsg_record r[16];
    int rejected, n = parse_fixture("malformed.kmsg", r, 16, &rejected, fixture_text);

    /* Every malformed record is rejected; the valid ones around them are not. */
    CHECK_EQ(n, 2);
    CHECK_EQ(rejected, 11);
    CHECK_SPAN(r[0].message, "valid before");
    CHECK_SPAN(r[1].message, "valid after");
}

static void file_splitting(void)
{
    static const char buf[] = "\0\0a\0\0bc\0d";
    size_t off = 0, len;
    const char *rec;

    CHECK(kmsg_file_next(buf, sizeof(buf) - 1, &off, &rec, &len));
    CHECK(len == 1 && rec[0] == 'a');
    CHECK(kmsg_file_next(buf, sizeof(buf) - 1, &off, &rec, &len));
    CHECK(len == 2 && memcmp(rec, "bc", 2) == 0);
    CHECK(kmsg_file_next(buf, sizeof(buf) - 1, &off, &rec, &len));
    CHECK(len == 1 && rec[0] == 'd');
    CHECK(!kmsg_file_next(buf, sizeof(buf) - 1, &off, &rec, &len));
    CHECK(!kmsg_file_next(buf, sizeof(buf) - 1, &off, &rec, &len));
    off = 0;
    CHECK(!kmsg_file_next("", 0, &off, &rec, &len));
}

static void check_binary(sp_dec *d, const char *expected, size_t n)
{
    const char *bytes;
    size_t len;

    CHECK(sp_dec_binary(d, &bytes, &len) == 0 && len == n && memcmp(bytes, expected, n) == 0);
}

static void encoded_record(void)
{
    struct kmsg_record rec;
    ei_x_buff x;
    sp_dec d;
    unsigned long long u;
    int arity, n;

    /* {Seq, Facility, Level, Ts, Flags, Message, Caller, Subsystem, Device} */
    CHECK_EQ(parse("2047,5,6,-,caller=T9;m\\x00\n DEVICE=d\n", &rec), KMSG_OK);
    ei_x_new_with_version(&x);
    kmsg_encode_record(&x, &rec);
    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK(sp_dec_tuple(&d, &arity) == 0 && arity == 9);
    CHECK(sp_dec_ulong(&d, &u) == 0 && u == 5);
    CHECK(sp_dec_ulong(&d, &u) == 0 && u == 255);
    CHECK(sp_dec_ulong(&d, &u) == 0 && u == 7);
    CHECK(sp_dec_ulong(&d, &u) == 0 && u == 6);
    check_binary(&d, "-", 1);
    check_binary(&d, "m\0", 2);
    check_binary(&d, "T9", 2);
    CHECK(sp_dec_list(&d, &n) == 0 && n == 0); /* no subsystem */
    check_binary(&d, "d", 1);
    CHECK(sp_dec_done(&d));
    ei_x_free(&x);

    /* Without caller and dictionary: six elements; no flags: empty. */
    CHECK_EQ(parse("14,5,6;m\n", &rec), KMSG_OK);
    ei_x_new_with_version(&x);
    kmsg_encode_record(&x, &rec);
    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK(sp_dec_tuple(&d, &arity) == 0 && arity == 6);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(sp_dec_skip(&d), 0);
    check_binary(&d, "", 0);
    check_binary(&d, "m", 1);
    CHECK(sp_dec_done(&d));
    ei_x_free(&x);
}

/* {records, <<131, [Record]>>}: the inner term is a binary the receiver
 * decodes itself. */
static void nested_term(void)
{
    struct kmsg_record rec;
    ei_x_buff x;
    sp_dec d, inner;
    const char *bytes;
    size_t len;
    int arity, n, at;

    CHECK_EQ(parse("6,77,1,-;nested\n", &rec), KMSG_OK);
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "records");
    at = kmsg_x_nested_begin(&x);
    for (int i = 0; i < 300; i++) {
        CHECK_EQ(sp_x_reserve(&x, 64), 0);
        ei_x_encode_list_header(&x, 1);
        kmsg_encode_record(&x, &rec);
    }
    ei_x_encode_empty_list(&x);
    kmsg_x_nested_end(&x, at);
    ei_x_encode_atom(&x, "after"); /* the length ends the binary where it should */

    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK(sp_dec_tuple(&d, &arity) == 0 && arity == 2);
    CHECK_EQ(sp_dec_atom_is(&d, "records"), 0);
    CHECK_EQ(sp_dec_binary(&d, &bytes, &len), 0);
    CHECK_EQ(sp_dec_atom_is(&d, "after"), 0);
    CHECK(sp_dec_done(&d));
    CHECK_EQ(sp_dec_init(&inner, bytes, len), 0);
    for (n = 0; n < 300 && sp_dec_list(&inner, &arity) == 0 && arity == 1; n++)
        CHECK(sp_dec_tuple(&inner, &arity) == 0 && arity == 6 && sp_dec_skip(&inner) == 0 &&
              sp_dec_skip(&inner) == 0 && sp_dec_skip(&inner) == 0 && sp_dec_skip(&inner) == 0 &&
              sp_dec_skip(&inner) == 0 && sp_dec_skip(&inner) == 0);
    CHECK_EQ(n, 300);
    CHECK_EQ(sp_dec_list_tail(&inner), 0);
    CHECK(sp_dec_done(&inner));
    ei_x_free(&x);
}

static void filter(void)
{
    struct kmsg_filter f;
    struct kmsg_record rec;
    ei_x_buff x;
    sp_dec d;

    /* {10, 4, <<0, 23>>} */
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_ulong(&x, 10);
    ei_x_encode_ulong(&x, 4);
    ei_x_encode_binary(&x, "\0\x17", 2);
    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK_EQ(kmsg_filter_decode(&d, &f), 0);
    CHECK(sp_dec_done(&d));
    ei_x_free(&x);

    CHECK_EQ(parse("4,10,1,-;m\n", &rec), KMSG_OK);
    CHECK(kmsg_filter_match(&f, &rec));
    CHECK_EQ(parse("4,9,1,-;m\n", &rec), KMSG_OK); /* before since_seq */
    CHECK(!kmsg_filter_match(&f, &rec));
    CHECK_EQ(parse("5,10,1,-;m\n", &rec), KMSG_OK); /* notice: below warning */
    CHECK(!kmsg_filter_match(&f, &rec));
    CHECK_EQ(parse("188,10,1,-;m\n", &rec), KMSG_OK); /* local7 warning */
    CHECK(kmsg_filter_match(&f, &rec));
    CHECK_EQ(parse("12,10,1,-;m\n", &rec), KMSG_OK); /* user */
    CHECK(!kmsg_filter_match(&f, &rec));

    /* {0, 9, all}: a level out of range is refused. */
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_ulong(&x, 0);
    ei_x_encode_ulong(&x, 9);
    ei_x_encode_atom(&x, "all");
    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK(kmsg_filter_decode(&d, &f) < 0);
    ei_x_free(&x);
    /* {0, 7, [1]}: facilities come as a binary, not a list. */
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_ulong(&x, 0);
    ei_x_encode_ulong(&x, 7);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_ulong(&x, 1);
    ei_x_encode_empty_list(&x);
    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK(kmsg_filter_decode(&d, &f) < 0);
    ei_x_free(&x);
    /* {0, 7, <<>>}: no facility at all matches nothing. */
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_ulong(&x, 0);
    ei_x_encode_ulong(&x, 7);
    ei_x_encode_binary(&x, "", 0);
    CHECK_EQ(sp_dec_init(&d, x.buff, (size_t)x.index), 0);
    CHECK_EQ(kmsg_filter_decode(&d, &f), 0);
    CHECK_EQ(parse("4,10,1,-;m\n", &rec), KMSG_OK);
    CHECK(!kmsg_filter_match(&f, &rec));
    ei_x_free(&x);
}

int main(void)
{
    RUN(header_fields);
    RUN(header_ends_at_first_semicolon);
    RUN(caller_and_unknown_fields);
    RUN(escapes_decoded);
    RUN(dictionary);
    RUN(empty_and_unterminated);
    RUN(malformed_headers);
    RUN(record_over_the_cap);
    RUN(file_splitting);
    RUN(fixture_kernel);
    RUN(fixture_extensions);
    RUN(fixture_malformed);
    RUN(encoded_record);
    RUN(nested_term);
    RUN(filter);
    return sp_test_report("test_kmsg");
}
