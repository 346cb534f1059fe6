/* Unit tests of the uevent helper's pure parts: the datagram and uevent
 * file parsers, the property encoder, the SEQNUM bookkeeping and the
 * modprobe queue. */
#include <stdint.h>
#include <sys/socket.h>

#include "sp_term.h"
#include "sp_test.h"
#include "uevent_aliasq.h"
#include "uevent_cred.h"
#include "uevent_encode.h"
#include "uevent_enum.h"
#include "uevent_parse.h"
#include "uevent_seq.h"

/* A datagram literal: sizeof includes the final NUL of the literal, which
 * is the kernel's terminator of the last field. */
#define DGRAM(s) (s), sizeof(s)

static const char lo_change[] = "change@/devices/virtual/net/lo\0ACTION=change\0DEVPATH=/devices/virtual/net/lo\0"
                                "SUBSYSTEM=net\0SYNTH_UUID=0\0INTERFACE=lo\0IFINDEX=1\0SEQNUM=8840";

static int str_is(uevent_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static void parses_a_kernel_event(void)
{
    uevent ev;
    uevent_field f;
    const char *cursor;
    int n = 0;

    CHECK_EQ(uevent_parse(DGRAM(lo_change), &ev), UEVENT_OK);
    CHECK_EQ(ev.action, UEVENT_CHANGE);
    CHECK_EQ(ev.seqnum, 8840);
    CHECK(str_is(ev.devpath, "/devices/virtual/net/lo"));
    CHECK(str_is(ev.subsystem, "net"));
    CHECK_EQ(ev.devpath_old.len, 0);
    CHECK_EQ(ev.modalias.len, 0);
    CHECK_EQ(ev.nfields, 7);
    cursor = ev.fields;
    while (uevent_next_field(&ev, &cursor, &f)) {
        if (n == 0)
            CHECK(str_is(f.key, "ACTION") && str_is(f.value, "change"));
        if (n == 6)
            CHECK(str_is(f.key, "SEQNUM") && str_is(f.value, "8840"));
        n++;
    }
    CHECK_EQ(n, 7);
}

static void every_action(void)
{
    static const char *const names[] = {"add", "remove", "change", "move", "online", "offline", "bind", "unbind"};

    for (int a = 0; a < UEVENT_NACTIONS; a++) {
        char buf[256];
        int len = snprintf(buf, sizeof(buf), "%s@/devices/x%cACTION=%s%cDEVPATH=/devices/x%cSUBSYSTEM=s%cSEQNUM=%d",
                           names[a], 0, names[a], 0, 0, 0, a + 1);
        uevent ev;

        CHECK_EQ(uevent_parse(buf, (size_t)len + 1, &ev), UEVENT_OK);
        CHECK_EQ(ev.action, a);
        CHECK_EQ(ev.seqnum, a + 1);
        CHECK(strcmp(uevent_action_name(ev.action), names[a]) == 0);
    }
}

static void empty_values_and_values_with_equals(void)
{
    static const char d[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=block\0EMPTY=\0"
                            "EQ=a=b==c\0MODALIAS=pci:v00008086d*\0DEVPATH_OLD=/devices/old\0SEQNUM=1";
    uevent ev;
    uevent_field f;
    const char *cursor;
    int seen_empty = 0, seen_eq = 0;

    CHECK_EQ(uevent_parse(DGRAM(d), &ev), UEVENT_OK);
    cursor = ev.fields;
    while (uevent_next_field(&ev, &cursor, &f)) {
        if (str_is(f.key, "EMPTY"))
            seen_empty = f.value.len == 0;
        if (str_is(f.key, "EQ"))
            seen_eq = str_is(f.value, "a=b==c");
    }
    CHECK(seen_empty);
    CHECK(seen_eq);
    CHECK(str_is(ev.modalias, "pci:v00008086d*"));
    CHECK(str_is(ev.devpath_old, "/devices/old"));
}

static void without_the_final_nul(void)
{
    uevent ev;

    /* sizeof - 1: the last field ends with the datagram, not with a NUL. */
    CHECK_EQ(uevent_parse(lo_change, sizeof(lo_change) - 1, &ev), UEVENT_OK);
    CHECK_EQ(ev.seqnum, 8840);
}

static void huge_event_keeps_every_field(void)
{
    size_t size = 2u << 20, len = 0;
    char *buf = malloc(size);
    uevent ev;
    uevent_field f;
    const char *cursor;
    size_t n = 0, last_index = 0;

    len += (size_t)sprintf(buf + len, "add@/devices/huge%cACTION=add%cDEVPATH=/devices/huge%cSUBSYSTEM=x%c", 0, 0, 0, 0);
    for (int i = 0; i < 20000; i++)
        len += (size_t)sprintf(buf + len, "KEY_%05d=%040d%c", i, i, 0);
    len += (size_t)sprintf(buf + len, "SEQNUM=18446744073709551615") + 1;
    CHECK_EQ(uevent_parse(buf, len, &ev), UEVENT_OK);
    CHECK(ev.seqnum == UINT64_MAX);
    CHECK_EQ(ev.nfields, 20004);
    cursor = ev.fields;
    while (uevent_next_field(&ev, &cursor, &f)) {
        if (f.key.len == 9 && memcmp(f.key.ptr, "KEY_", 4) == 0)
            last_index = (size_t)atoi(f.key.ptr + 4);
        n++;
    }
    CHECK_EQ(n, 20004);
    CHECK_EQ(last_index, 19999);
    free(buf);
}

static void refusals(void)
{
    static const char libudev[] = "libudev\0\xfe\xed\xca\xfe\x28\0\0\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    static const char no_seqnum[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s";
    static const char no_subsystem[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SEQNUM=3";
    static const char no_at[] = "add/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    static const char empty_action[] = "@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    static const char empty_devpath[] = "add@\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    static const char empty_field[] = "add@/devices/a\0ACTION=add\0\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    static const char no_equals[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0JUNK\0SUBSYSTEM=s\0SEQNUM=1";
    static const char empty_key[] = "add@/devices/a\0ACTION=add\0=x\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    static const char seq_letters[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=12a";
    static const char seq_empty[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=";
    static const char seq_overflow[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0"
                                       "SEQNUM=18446744073709551616";
    static const char seq_negative[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=-1";
    static const char action_mismatch[] = "add@/devices/a\0ACTION=remove\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    static const char path_mismatch[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/b\0SUBSYSTEM=s\0SEQNUM=1";
    static const char unknown_action[] = "explode@/devices/a\0ACTION=explode\0DEVPATH=/devices/a\0SUBSYSTEM=s\0SEQNUM=1";
    uevent ev;

    CHECK_EQ(uevent_parse(DGRAM(libudev), &ev), UEVENT_LIBUDEV);
    CHECK_EQ(uevent_parse(DGRAM(no_seqnum), &ev), UEVENT_MISSING);
    CHECK_EQ(uevent_parse(DGRAM(no_subsystem), &ev), UEVENT_MISSING);
    CHECK_EQ(uevent_parse(DGRAM(no_at), &ev), UEVENT_NO_HEADER);
    CHECK_EQ(uevent_parse(DGRAM(empty_action), &ev), UEVENT_NO_HEADER);
    CHECK_EQ(uevent_parse(DGRAM(empty_devpath), &ev), UEVENT_NO_HEADER);
    CHECK_EQ(uevent_parse("", 0, &ev), UEVENT_NO_HEADER);
    CHECK_EQ(uevent_parse("\0", 1, &ev), UEVENT_NO_HEADER);
    CHECK_EQ(uevent_parse(DGRAM(empty_field), &ev), UEVENT_BAD_FIELD);
    CHECK_EQ(uevent_parse(DGRAM(no_equals), &ev), UEVENT_BAD_FIELD);
    CHECK_EQ(uevent_parse(DGRAM(empty_key), &ev), UEVENT_BAD_FIELD);
    CHECK_EQ(uevent_parse(DGRAM(seq_letters), &ev), UEVENT_BAD_SEQNUM);
    CHECK_EQ(uevent_parse(DGRAM(seq_empty), &ev), UEVENT_BAD_SEQNUM);
    CHECK_EQ(uevent_parse(DGRAM(seq_overflow), &ev), UEVENT_BAD_SEQNUM);
    CHECK_EQ(uevent_parse(DGRAM(seq_negative), &ev), UEVENT_BAD_SEQNUM);
    CHECK_EQ(uevent_parse(DGRAM(action_mismatch), &ev), UEVENT_MISMATCH);
    CHECK_EQ(uevent_parse(DGRAM(path_mismatch), &ev), UEVENT_MISMATCH);
    CHECK_EQ(uevent_parse(DGRAM(unknown_action), &ev), UEVENT_UNKNOWN_ACTION);
    CHECK(strcmp(uevent_status_name(UEVENT_LIBUDEV), "libudev") == 0);
    CHECK(strcmp(uevent_status_name(UEVENT_MISSING), "missing_key") == 0);
}

static void uevent_file_lines(void)
{
    static const char file[] = "MAJOR=8\nMINOR=0\n\nDEVNAME=sda\nno equals here\n=novalue\nEMPTY=\nEQ=x=y";
    const char *cursor = file;
    uevent_field f;
    const char *keys[] = {"MAJOR", "MINOR", "DEVNAME", "EMPTY", "EQ"};
    const char *values[] = {"8", "0", "sda", "", "x=y"};
    int n = 0;

    while (uevent_next_line(file, sizeof(file) - 1, &cursor, &f)) {
        CHECK(n < 5 && str_is(f.key, keys[n]) && str_is(f.value, values[n]));
        n++;
    }
    CHECK_EQ(n, 5);
    cursor = file;
    CHECK_EQ(uevent_next_line(file, 0, &cursor, &f), 0);
}

/* Looks a key up in an encoded map of binaries; returns the value's length
 * or -1, and -2 if the map is malformed. */
static long map_get(ei_x_buff *x, const char *key, char *value, size_t size, int *pairs_out)
{
    sp_dec d;
    int pairs;
    long found = -1;

    sp_dec_init_raw(&d, x->buff, (size_t)x->index, 0);
    if (sp_dec_map(&d, &pairs) < 0)
        return -2;
    *pairs_out = pairs;
    for (int i = 0; i < pairs; i++) {
        const char *k, *v;
        size_t klen, vlen;

        if (sp_dec_binary(&d, &k, &klen) < 0 || sp_dec_binary(&d, &v, &vlen) < 0)
            return -2;
        if (klen == strlen(key) && memcmp(k, key, klen) == 0) {
            if (found >= 0)
                return -2; /* a duplicate key */
            found = (long)vlen;
            snprintf(value, size, "%.*s", (int)vlen, v);
        }
    }
    return sp_dec_done(&d) ? found : -2;
}

static void encodes_props_last_value_wins(void)
{
    static const char d[] = "add@/devices/a\0ACTION=add\0DEVPATH=/devices/a\0SUBSYSTEM=s\0K=first\0Z=z\0"
                            "K=second\0EMPTY=\0SEQNUM=5";
    uevent ev;
    ei_x_buff x;
    char v[64];
    int pairs = 0;

    CHECK_EQ(uevent_parse(DGRAM(d), &ev), UEVENT_OK);
    ei_x_new(&x);
    CHECK_EQ(uevent_x_props(&x, &ev), 0);
    CHECK_EQ(map_get(&x, "K", v, sizeof(v), &pairs), 6);
    CHECK(strcmp(v, "second") == 0);
    CHECK_EQ(pairs, 7);
    CHECK_EQ(map_get(&x, "EMPTY", v, sizeof(v), &pairs), 0);
    CHECK_EQ(map_get(&x, "SEQNUM", v, sizeof(v), &pairs), 1);
    ei_x_free(&x);
}

static void multiline_values_in_file_form(void)
{
    static const char d[] = "add@/devices/system/cpu/cpu0\0ACTION=add\0DEVPATH=/devices/system/cpu/cpu0\0"
                            "SUBSYSTEM=cpu\0MODALIAS=cpu:type:x86,0001\n\0TWO=a\nb\0PLAIN=p\0SEQNUM=7";
    uevent ev;
    ei_x_buff x;
    char v[64];
    int pairs = 0;

    CHECK_EQ(uevent_parse(DGRAM(lo_change), &ev), UEVENT_OK);
    CHECK_EQ(ev.multiline, 0);
    CHECK_EQ(uevent_parse(DGRAM(d), &ev), UEVENT_OK);
    CHECK_EQ(ev.multiline, 1);
    ei_x_new(&x);
    CHECK_EQ(uevent_x_props(&x, &ev), 0);
    CHECK_EQ(map_get(&x, "MODALIAS", v, sizeof(v), &pairs), 18); /* the kernel's value, newline and all */
    ei_x_free(&x);
    ei_x_new(&x);
    CHECK_EQ(uevent_x_file_form(&x, &ev), 0);
    CHECK_EQ(map_get(&x, "MODALIAS", v, sizeof(v), &pairs), 17);
    CHECK(strcmp(v, "cpu:type:x86,0001") == 0);
    CHECK_EQ(map_get(&x, "TWO", v, sizeof(v), &pairs), 1);
    CHECK_EQ(map_get(&x, "PLAIN", v, sizeof(v), &pairs), -1);
    CHECK_EQ(pairs, 2);
    ei_x_free(&x);
}

static void encodes_file_props(void)
{
    static const char file[] = "INTERFACE=lo\nIFINDEX=1\nDEVPATH=/wrong\n";
    ei_x_buff x;
    char v[64];
    int pairs = 0;

    ei_x_new(&x);
    CHECK_EQ(uevent_x_file_props(&x, "/devices/virtual/net/lo", "net", file, sizeof(file) - 1), 0);
    CHECK_EQ(map_get(&x, "DEVPATH", v, sizeof(v), &pairs), 23);
    CHECK(strcmp(v, "/devices/virtual/net/lo") == 0);
    CHECK_EQ(map_get(&x, "SUBSYSTEM", v, sizeof(v), &pairs), 3);
    CHECK_EQ(map_get(&x, "INTERFACE", v, sizeof(v), &pairs), 2);
    CHECK_EQ(pairs, 4);
    ei_x_free(&x);

    ei_x_new(&x);
    CHECK_EQ(uevent_x_file_props(&x, "/devices/x", "s", "", 0), 0);
    CHECK_EQ(map_get(&x, "DEVPATH", v, sizeof(v), &pairs), 10);
    CHECK_EQ(pairs, 2);
    ei_x_free(&x);
}

static void seq_in_order_and_gaps(void)
{
    uevent_seq s;

    uevent_seq_reset(&s, 100);
    CHECK_EQ(uevent_seq_accept(&s, 100, 0), UEVENT_SEQ_STALE);
    CHECK_EQ(uevent_seq_accept(&s, 50, 0), UEVENT_SEQ_STALE);
    CHECK_EQ(uevent_seq_accept(&s, 101, 0), UEVENT_SEQ_IN_ORDER);
    CHECK_EQ(uevent_seq_unseen(&s), 0);
    CHECK_EQ(uevent_seq_oldest_ms(&s), -1);
    CHECK_EQ(uevent_seq_accept(&s, 111, 7), UEVENT_SEQ_AFTER_GAP); /* 102..110 */
    CHECK_EQ(uevent_seq_unseen(&s), 9);
    CHECK_EQ(uevent_seq_oldest_ms(&s), 7);
    CHECK_EQ(uevent_seq_accept(&s, 102, 8), UEVENT_SEQ_LATE); /* first of the hole */
    CHECK_EQ(uevent_seq_accept(&s, 110, 8), UEVENT_SEQ_LATE); /* last */
    CHECK_EQ(uevent_seq_accept(&s, 105, 8), UEVENT_SEQ_LATE); /* middle: split */
    CHECK_EQ(s.nholes, 2);
    CHECK_EQ(uevent_seq_unseen(&s), 6);
    CHECK_EQ(uevent_seq_accept(&s, 105, 8), UEVENT_SEQ_STALE); /* a duplicate */
    for (uint64_t q = 103; q <= 109; q++)
        if (q != 105)
            CHECK_EQ(uevent_seq_accept(&s, q, 9), UEVENT_SEQ_LATE);
    CHECK_EQ(uevent_seq_unseen(&s), 0);
    CHECK_EQ(s.nholes, 0);
    CHECK_EQ(uevent_seq_oldest_ms(&s), -1);
    uevent_seq_reset(&s, 200);
    CHECK_EQ(uevent_seq_unseen(&s), 0);
    CHECK_EQ(uevent_seq_accept(&s, 150, 0), UEVENT_SEQ_STALE);
}

static void seq_without_baseline(void)
{
    uevent_seq s;

    uevent_seq_reset(&s, 0);
    CHECK_EQ(uevent_seq_accept(&s, 5000, 0), UEVENT_SEQ_IN_ORDER);
    CHECK_EQ(uevent_seq_unseen(&s), 0);
    CHECK_EQ(uevent_seq_accept(&s, 5001, 0), UEVENT_SEQ_IN_ORDER);
}

static void seq_evicts_oldest_holes(void)
{
    uevent_seq s;
    uint64_t q = 1;

    uevent_seq_reset(&s, 1);
    /* Holes of one SEQNUM each: 2, 4, 6, ... */
    for (int i = 0; i < UEVENT_SEQ_MAX_HOLES + 10; i++) {
        q += 2;
        uevent_seq_accept(&s, q, 100 + i);
    }
    CHECK_EQ(s.nholes, UEVENT_SEQ_MAX_HOLES);
    CHECK_EQ(s.evicted, 10);
    CHECK_EQ(uevent_seq_unseen(&s), UEVENT_SEQ_MAX_HOLES + 10);
    CHECK_EQ(uevent_seq_oldest_ms(&s), 0); /* evictions are already old */
    /* An evicted SEQNUM arriving late is stale; a tracked one is late. */
    CHECK_EQ(uevent_seq_accept(&s, 2, 0), UEVENT_SEQ_STALE);
    CHECK_EQ(uevent_seq_accept(&s, q - 1, 0), UEVENT_SEQ_LATE);

    /* Splitting the oldest hole with the table full writes off its lower part. */
    uevent_seq_reset(&s, 1);
    uevent_seq_accept(&s, 100, 0); /* hole 2..99 */
    q = 100;
    for (int i = 1; i < UEVENT_SEQ_MAX_HOLES; i++) {
        q += 2;
        uevent_seq_accept(&s, q, 0);
    }
    CHECK_EQ(s.nholes, UEVENT_SEQ_MAX_HOLES);
    CHECK_EQ(uevent_seq_accept(&s, 50, 0), UEVENT_SEQ_LATE);
    CHECK_EQ(s.nholes, UEVENT_SEQ_MAX_HOLES);
    CHECK_EQ(s.evicted, 48); /* 2..49 */
    CHECK_EQ(uevent_seq_unseen(&s), 48 + 49 + UEVENT_SEQ_MAX_HOLES - 1);
}

static void aliasq_rules(void)
{
    uevent_aliasq q;
    char *out[8];
    size_t n;

    uevent_aliasq_init(&q, 4, 64);
    CHECK_EQ(uevent_aliasq_push(&q, "pci:a", 5), UEVENT_ALIASQ_QUEUED);
    CHECK_EQ(uevent_aliasq_push(&q, "pci:a", 5), UEVENT_ALIASQ_DUPLICATE);
    CHECK_EQ(uevent_aliasq_push(&q, "pci:b", 5), UEVENT_ALIASQ_QUEUED);
    CHECK_EQ(uevent_aliasq_push(&q, "-r", 2), UEVENT_ALIASQ_INVALID);
    CHECK_EQ(uevent_aliasq_push(&q, "", 0), UEVENT_ALIASQ_INVALID);
    CHECK_EQ(uevent_aliasq_push(&q, "a\0b", 3), UEVENT_ALIASQ_INVALID);
    CHECK_EQ(uevent_aliasq_push(&q, "pci:c", 5), UEVENT_ALIASQ_QUEUED);
    CHECK_EQ(uevent_aliasq_push(&q, "pci:d", 5), UEVENT_ALIASQ_QUEUED);
    CHECK_EQ(uevent_aliasq_push(&q, "pci:e", 5), UEVENT_ALIASQ_FULL); /* 4 items */
    n = uevent_aliasq_take(&q, out, 2, 1024);
    CHECK_EQ(n, 2);
    CHECK(strcmp(out[0], "pci:a") == 0 && strcmp(out[1], "pci:b") == 0);
    free(out[0]);
    free(out[1]);
    /* Taken aliases may come back. */
    CHECK_EQ(uevent_aliasq_push(&q, "pci:a", 5), UEVENT_ALIASQ_QUEUED);
    /* max_bytes: "pci:c" and "pci:d" are 6 bytes each with their NUL. */
    n = uevent_aliasq_take(&q, out, 8, 11);
    CHECK_EQ(n, 1);
    CHECK(strcmp(out[0], "pci:c") == 0);
    free(out[0]);
    /* At least one, even over max_bytes. */
    n = uevent_aliasq_take(&q, out, 8, 1);
    CHECK_EQ(n, 1);
    free(out[0]);
    n = uevent_aliasq_take(&q, out, 8, 1024);
    CHECK_EQ(n, 1);
    CHECK(strcmp(out[0], "pci:a") == 0);
    free(out[0]);
    CHECK_EQ(uevent_aliasq_take(&q, out, 8, 1024), 0);
    CHECK_EQ(q.bytes, 0);
    uevent_aliasq_free(&q);

    uevent_aliasq_init(&q, 100, 12);
    CHECK_EQ(uevent_aliasq_push(&q, "0123456789", 10), UEVENT_ALIASQ_QUEUED);
    CHECK_EQ(uevent_aliasq_push(&q, "x", 1), UEVENT_ALIASQ_FULL); /* 11 + 2 bytes > 12 */
    uevent_aliasq_free(&q);
}

static void which_kobjects_are_devices(void)
{
    CHECK_EQ(uevent_enum_is_device("/devices/virtual/net/lo", 23, "net", 3), 1);
    CHECK_EQ(uevent_enum_is_device("/devices/virtual/net/lo", 23, "net", 3), 1); /* cached */
    CHECK_EQ(uevent_enum_is_device("/devices/virtual/net/lo/queues/rx-0", 35, "queues", 6), 0);
    CHECK_EQ(uevent_enum_is_device("/module/loop", 12, "module", 6), 0);
    CHECK_EQ(uevent_enum_is_device("/bus/pci/drivers/x", 18, "drivers", 7), 0);
    CHECK_EQ(uevent_enum_is_device("/devices/x", 10, "../class", 8), 0);
    CHECK_EQ(uevent_enum_is_device("/devices/x", 10, "net/x", 5), 0);
    CHECK_EQ(uevent_enum_is_device("/devices/x", 10, "", 0), 0);
    CHECK(uevent_enum_seqnum() > 0);
}

/* The control buffer recvmsg fills for a netlink datagram: SCM_CREDENTIALS
 * (SO_PASSCRED), sometimes after another message. */
union control {
    char buf[128];
    struct cmsghdr align;
};

static struct cmsghdr *put_cred(union control *c, size_t *len, int type, pid_t pid, uid_t uid)
{
    struct cmsghdr *h = (struct cmsghdr *)(c->buf + *len);
    struct ucred cred = {.pid = pid, .uid = uid, .gid = 0};

    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = type;
    h->cmsg_len = CMSG_LEN(sizeof(cred));
    memcpy(CMSG_DATA(h), &cred, sizeof(cred));
    *len += CMSG_SPACE(sizeof(cred));
    return h;
}

static void only_the_kernel_is_believed(void)
{
    union control c;
    uevent_netlink_sender who;
    size_t len = 0;

    memset(&c, 0, sizeof(c));
    put_cred(&c, &len, SCM_CREDENTIALS, 0, 0);
    uevent_cred_parse(0, c.buf, len, &who);
    CHECK(who.has_cred && who.pid == 0 && who.uid == 0 && who.nl_pid == 0);
    CHECK(uevent_cred_is_kernel(&who));
    /* A process multicasting to the kernel group: its own port, or root's
     * port 0 but not uid 0, or no credentials at all. */
    uevent_cred_parse(4242, c.buf, len, &who);
    CHECK(!uevent_cred_is_kernel(&who));
    len = 0;
    put_cred(&c, &len, SCM_CREDENTIALS, 4242, 1000);
    uevent_cred_parse(0, c.buf, len, &who);
    CHECK(who.has_cred && who.pid == 4242 && who.uid == 1000);
    CHECK(!uevent_cred_is_kernel(&who));
    uevent_cred_parse(0, c.buf, 0, &who);
    CHECK(!who.has_cred && !uevent_cred_is_kernel(&who));
    uevent_cred_parse(0, NULL, 0, &who);
    CHECK(!who.has_cred && !uevent_cred_is_kernel(&who));
    /* SCM_RIGHTS shaped like credentials is not credentials. */
    len = 0;
    put_cred(&c, &len, SCM_RIGHTS, 0, 0);
    uevent_cred_parse(0, c.buf, len, &who);
    CHECK(!who.has_cred);
    /* After another message the credentials are still found. */
    put_cred(&c, &len, SCM_CREDENTIALS, 0, 0);
    uevent_cred_parse(0, c.buf, len, &who);
    CHECK(who.has_cred && uevent_cred_is_kernel(&who));
}

static void truncated_credentials_refused(void)
{
    union control c;
    uevent_netlink_sender who;
    size_t len = 0;
    struct cmsghdr *h;

    memset(&c, 0, sizeof(c));
    h = put_cred(&c, &len, SCM_CREDENTIALS, 0, 0);
    /* Cut short (MSG_CTRUNC): the header claims a whole ucred, the buffer
     * ends inside it. Reading it would read past the buffer. */
    uevent_cred_parse(0, c.buf, len - sizeof(uid_t) - sizeof(gid_t), &who);
    CHECK(!who.has_cred && !uevent_cred_is_kernel(&who));
    /* A header too short to hold a ucred. */
    h->cmsg_len = CMSG_LEN(sizeof(struct ucred) - 1);
    uevent_cred_parse(0, c.buf, len, &who);
    CHECK(!who.has_cred);
    /* A length far past the buffer. */
    h->cmsg_len = (size_t)1 << 40;
    uevent_cred_parse(0, c.buf, len, &who);
    CHECK(!who.has_cred);
}

int main(void)
{
    RUN(parses_a_kernel_event);
    RUN(every_action);
    RUN(empty_values_and_values_with_equals);
    RUN(without_the_final_nul);
    RUN(huge_event_keeps_every_field);
    RUN(refusals);
    RUN(uevent_file_lines);
    RUN(encodes_props_last_value_wins);
    RUN(multiline_values_in_file_form);
    RUN(encodes_file_props);
    RUN(seq_in_order_and_gaps);
    RUN(seq_without_baseline);
    RUN(seq_evicts_oldest_holes);
    RUN(aliasq_rules);
    RUN(which_kobjects_are_devices);
    RUN(only_the_kernel_is_believed);
    RUN(truncated_credentials_refused);
    return sp_test_report("test_uevent");
}
