/* Unit tests of the spool format, the recovery scan, the index and the
 * writer (over a memfd, so the writer's real pwrite/fdatasync path runs). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sp_test.h"
#include "ringlog_batch.h"
#include "ringlog_image.h"
#include "ringlog_index.h"
#include "ringlog_writer.h"

#define FILE_ID 0x1122334455667788ull
#define BOOT 0xb007b007b007ull

static uint8_t scratch[RINGLOG_MAX_BLOCK];

static size_t fd_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
    ssize_t n = pread(*(int *)ctx, buf, len, (off_t)off);

    return n < 0 ? 0 : (size_t)n;
}


static struct ringlog_record rec(uint64_t seq, const char *text)
{
    return (struct ringlog_record){.seq = seq, .boot = BOOT, .wall_us = 1700000000000000ll + (int64_t)seq,
                                 .mono_us = (int64_t)seq * 10, .level = (uint8_t)(seq % 8),
                                 .len = (uint16_t)strlen(text), .payload = (const uint8_t *)text};
}

static void record_round_trip(void)
{
    uint8_t buf[256];
    struct ringlog_record in = rec(42, "hello, spool"), out;
    size_t size = ringlog_record_encode(buf, sizeof(buf), FILE_ID, &in), got;

    CHECK_EQ(size, ringlog_record_size(12));
    CHECK_EQ(size % 4, 0);
    CHECK_EQ(ringlog_record_decode(buf, size, FILE_ID, &out, &got), RINGLOG_REC_OK);
    CHECK_EQ(got, size);
    CHECK_EQ(out.seq, 42);
    CHECK_EQ(out.boot, BOOT);
    CHECK_EQ(out.wall_us, in.wall_us);
    CHECK_EQ(out.mono_us, 420);
    CHECK_EQ(out.level, 2);
    CHECK_EQ(out.len, 12);
    CHECK_MEM(out.payload, "hello, spool", 12);
    /* Another file's id: the CRC does not hold. */
    CHECK_EQ(ringlog_record_decode(buf, size, FILE_ID + 1, &out, &got), RINGLOG_REC_BAD);
    /* Too small a buffer to encode into, or a level out of range. */
    CHECK_EQ(ringlog_record_encode(buf, size - 1, FILE_ID, &in), 0);
    in.level = 8;
    CHECK_EQ(ringlog_record_encode(buf, sizeof(buf), FILE_ID, &in), 0);
}

static void every_bit_flip_is_caught(void)
{
    uint8_t buf[128];
    struct ringlog_record in = rec(7, "abc"), out;
    size_t size = ringlog_record_encode(buf, sizeof(buf), FILE_ID, &in), got;
    int caught = 0;

    for (size_t bit = 0; bit < size * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        caught += ringlog_record_decode(buf, size, FILE_ID, &out, &got) != RINGLOG_REC_OK;
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK_EQ(caught, (int)(size * 8));
    /* Truncated anywhere: never a record. */
    for (size_t n = 0; n < size; n++)
        CHECK(ringlog_record_decode(buf, n, FILE_ID, &out, &got) != RINGLOG_REC_OK);
}

static void block_header_round_trip(void)
{
    uint8_t h[RINGLOG_BLOCK_HDR];
    struct ringlog_block_hdr in = {99, FILE_ID, 4096}, out;

    ringlog_block_hdr_encode(h, &in);
    CHECK_EQ(ringlog_block_hdr_decode(h, sizeof(h), &out), 0);
    CHECK_EQ(out.generation, 99);
    CHECK_EQ(out.file_id, FILE_ID);
    CHECK_EQ(out.block_size, 4096);
    CHECK_EQ(ringlog_block_hdr_decode(h, sizeof(h) - 1, &out), -1);
    for (size_t bit = 0; bit < sizeof(h) * 8; bit++) {
        h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK_EQ(ringlog_block_hdr_decode(h, sizeof(h), &out), -1);
        h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK(ringlog_block_size_ok(512) && ringlog_block_size_ok(65536));
    CHECK(!ringlog_block_size_ok(256) && !ringlog_block_size_ok(3000) && !ringlog_block_size_ok(131072));
}

struct seen {
    uint64_t seqs[256];
    int n;
};

static void collect(void *ctx, const struct ringlog_record *r, uint32_t offset)
{
    struct seen *s = ctx;

    (void)offset;
    if (s->n < 256)
        s->seqs[s->n++] = r->seq;
}

static size_t fill_block(uint8_t *blk, size_t bs, uint64_t gen, uint64_t first, int count)
{
    struct ringlog_block_hdr h = {gen, FILE_ID, (uint32_t)bs};
    size_t off = RINGLOG_BLOCK_HDR;

    memset(blk, 0, bs);
    ringlog_block_hdr_encode(blk, &h);
    for (int i = 0; i < count; i++) {
        struct ringlog_record r = rec(first + (uint64_t)i, "payload of a record");

        off += ringlog_record_encode(blk + off, bs - off, FILE_ID, &r);
    }
    return off;
}

static void walk_resyncs_after_damage(void)
{
    uint8_t blk[1024];
    struct seen s = {0};
    struct ringlog_scan_stats st = {0};
    size_t one = ringlog_record_size(strlen("payload of a record"));

    fill_block(blk, sizeof(blk), 1, 100, 5);
    blk[RINGLOG_BLOCK_HDR + one + 45] ^= 0x10; /* inside the second record's payload */
    ringlog_block_walk(blk, sizeof(blk), FILE_ID, collect, &s, &st);
    CHECK_EQ(s.n, 4);
    CHECK_EQ(s.seqs[0], 100);
    CHECK_EQ(s.seqs[1], 102);
    CHECK_EQ(s.seqs[3], 104);
    CHECK_EQ(st.bad_records, 1);
    CHECK_EQ(st.discarded_bytes, one);
    /* A damaged length field: the walk still finds the records after it. */
    memset(&s, 0, sizeof(s));
    memset(&st, 0, sizeof(st));
    fill_block(blk, sizeof(blk), 1, 100, 5);
    blk[RINGLOG_BLOCK_HDR + 2] = 0xff;
    ringlog_block_walk(blk, sizeof(blk), FILE_ID, collect, &s, &st);
    CHECK_EQ(s.n, 4);
    CHECK_EQ(s.seqs[0], 101);
    CHECK_EQ(st.bad_records, 1);
}

static void batch_entries(void)
{
    uint8_t b[128] = {0};
    struct ringlog_record r;
    size_t off = 0, n = 0;

    /* seq 5, wall -1, mono 7, level 3, "hi" */
    b[7] = 5;
    memset(b + 8, 0xff, 8);
    b[23] = 7;
    b[24] = 3;
    b[26] = 2;
    memcpy(b + 27, "hi", 2);
    n = 29;
    memcpy(b + n, b, n); /* a second copy */
    CHECK_EQ(ringlog_batch_next(b, 2 * n, &off, &r), 1);
    CHECK_EQ(r.seq, 5);
    CHECK_EQ(r.wall_us, -1);
    CHECK_EQ(r.mono_us, 7);
    CHECK_EQ(r.level, 3);
    CHECK_EQ(r.len, 2);
    CHECK_MEM(r.payload, "hi", 2);
    CHECK_EQ(ringlog_batch_next(b, 2 * n, &off, &r), 1);
    CHECK_EQ(ringlog_batch_next(b, 2 * n, &off, &r), 0);
    /* Truncated entry, level out of range, length past the end. */
    off = 0;
    CHECK_EQ(ringlog_batch_next(b, n - 1, &off, &r), -1);
    off = 0;
    b[24] = 8;
    CHECK_EQ(ringlog_batch_next(b, n, &off, &r), -1);
    b[24] = 3;
    b[26] = 3;
    off = 0;
    CHECK_EQ(ringlog_batch_next(b, n, &off, &r), -1);
}

/* ---- the writer over a memfd, read back through recovery ---- */

struct ringlog_file {
    int fd;
    struct ringlog_recovery rc;
    struct ringlog_writer w;
};

static void open_file(struct ringlog_file *f, uint64_t size)
{
    f->fd = memfd_create("spool", MFD_CLOEXEC);
    CHECK(f->fd >= 0);
    CHECK_EQ(ftruncate(f->fd, (off_t)size), 0);
}

static int fast_recoveries, full_recoveries; /* which path recover() took */

/* What the fast path plus the background steps end with is what the whole
 * scan finds: the same head, counters and block summaries. */
static void check_same_recovery(const struct ringlog_recovery *fast, const struct ringlog_recovery *full)
{
    CHECK_EQ(fast->file_id, full->file_id);
    CHECK_EQ(fast->block_size, full->block_size);
    CHECK_EQ(fast->nblocks, full->nblocks);
    CHECK_EQ(fast->head, full->head);
    CHECK_EQ(fast->next_gen, full->next_gen);
    CHECK_EQ(fast->short_bytes, full->short_bytes);
    CHECK_EQ(fast->grown_from, full->grown_from);
    CHECK_EQ(fast->stats.records, full->stats.records);
    CHECK_EQ(fast->stats.bad_records, full->stats.bad_records);
    CHECK_EQ(fast->stats.discarded_bytes, full->stats.discarded_bytes);
    CHECK_EQ(fast->bad_headers, full->bad_headers);
    CHECK_EQ(fast->lost_blocks, full->lost_blocks);
    CHECK_EQ(fast->newer_blocks, 0);
    for (uint32_t i = 0; i < full->nblocks; i++) {
        const struct ringlog_block_info *a = &fast->blocks[i], *b = &full->blocks[i];

        CHECK(a->state == b->state && a->gen == b->gen && a->records == b->records && a->boot == b->boot &&
              a->min_seq == b->min_seq && a->max_seq == b->max_seq && a->levels == b->levels && a->mixed == b->mixed);
    }
}

/* As the helper recovers: the fast path, else the whole scan; the fast
 * path's unscanned blocks are read in small steps (as the helper's loop
 * does) and the result compared with the whole scan's. */
static int recover(struct ringlog_file *f, uint64_t size, uint32_t bs, uint64_t boot)
{
    off_t len = lseek(f->fd, 0, SEEK_END);
    int rc = ringlog_recover_fast(&f->rc, fd_read, &f->fd, (uint64_t)len, size, bs, scratch);

    if (rc == 0) {
        struct ringlog_recovery full;

        fast_recoveries++;
        CHECK(f->rc.unscanned < f->rc.nblocks || f->rc.nblocks <= 2);
        while (ringlog_recover_step(&f->rc, fd_read, &f->fd, (uint64_t)len, scratch, 3) > 0)
            ;
        CHECK_EQ(ringlog_recover_step(&f->rc, fd_read, &f->fd, (uint64_t)len, scratch, 3), 0);
        CHECK_EQ(ringlog_recover(&full, fd_read, &f->fd, (uint64_t)len, size, bs, scratch), 0);
        check_same_recovery(&f->rc, &full);
        ringlog_recovery_free(&full);
    } else if (rc == 1) {
        full_recoveries++;
        if (ringlog_recover(&f->rc, fd_read, &f->fd, (uint64_t)len, size, bs, scratch) < 0)
            return -1;
    } else {
        return -1;
    }
    if (f->rc.file_id == 0)
        f->rc.file_id = FILE_ID;
    return ringlog_writer_init(&f->w, f->fd, &f->rc, boot);
}

static void close_session(struct ringlog_file *f)
{
    ringlog_writer_free(&f->w);
    ringlog_recovery_free(&f->rc);
}

static void write_records(struct ringlog_file *f, uint64_t first, uint64_t count)
{
    char text[64];

    for (uint64_t s = first; s < first + count; s++) {
        struct ringlog_record r;

        snprintf(text, sizeof(text), "record number %llu", (unsigned long long)s);
        r = rec(s, text);
        CHECK_EQ(ringlog_writer_append(&f->w, &r), 0);
    }
}

static int gaps; /* seq jumps seen by the last read_back */

/* Every record of boot from `from` on, checked for order and content;
 * returns how many. */
static uint64_t read_back(struct ringlog_file *f, uint64_t boot, uint64_t from, uint64_t *first, uint64_t *last)
{
    static struct ringlog_found found[64]; /* small chunks: lookups continue with `more' */
    uint64_t total = 0, expect = from;
    int more = 1;

    *first = *last = 0;
    gaps = 0;
    while (more) {
        struct ringlog_query q = {boot, expect, UINT64_MAX, 0xff, 0};
        size_t n = ringlog_find(&f->rc, fd_read, &f->fd, scratch, &q, found, 64, &more);

        for (size_t i = 0; i < n; i++) {
            struct ringlog_record r;
            size_t size;
            char text[64];

            fd_read(&f->fd, (uint64_t)found[i].block * f->rc.block_size, scratch, f->rc.block_size);
            CHECK_EQ(ringlog_record_decode(scratch + found[i].offset, f->rc.block_size - found[i].offset,
                                           f->rc.file_id, &r, &size),
                     RINGLOG_REC_OK);
            snprintf(text, sizeof(text), "record number %llu", (unsigned long long)r.seq);
            CHECK(r.len == strlen(text) && memcmp(r.payload, text, r.len) == 0);
            CHECK(total == 0 || r.seq > *last);
            gaps += total > 0 && r.seq != *last + 1;
            if (total == 0)
                *first = r.seq;
            *last = r.seq;
            total++;
        }
        if (n == 0)
            break;
        expect = *last + 1;
    }
    return total;
}

static void write_wrap_and_recover(void)
{
    struct ringlog_file f;
    uint64_t first, last, n;
    const uint64_t size = 16 * 1024;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    CHECK_EQ(f.rc.nblocks, 16);
    CHECK_EQ(f.rc.next_gen, 1);
    write_records(&f, 1, 1000); /* about four laps */
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    CHECK_EQ(f.w.synced_seq, 1000);
    /* A byte logged is a byte written, but for the zeros over what the
     * last lap left at the end of a block (less than a record each). */
    CHECK_EQ(f.w.write_bytes, f.w.record_bytes + (f.w.next_gen - 1) * RINGLOG_BLOCK_HDR + f.w.tail_bytes);
    CHECK(f.w.tail_bytes > 0 && f.w.tail_bytes < (f.w.next_gen - 1) * ringlog_record_size(24));
    close_session(&f);

    CHECK_EQ(recover(&f, size, 1024, BOOT + 1), 0);
    CHECK_EQ(f.rc.file_id, FILE_ID);
    CHECK_EQ(f.rc.stats.bad_records, 0);
    CHECK_EQ(f.rc.stats.discarded_bytes, 0);
    n = read_back(&f, BOOT, 1, &first, &last);
    CHECK_EQ(last, 1000);
    CHECK_EQ(n, last - first + 1);
    CHECK_EQ(gaps, 0);
    CHECK(n > 200); /* the newest fifteen blocks or so survive the laps */
    /* A second boot continues after the head; the first boot's newest
     * records are still there. */
    write_records(&f, 1, 30);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    {
        struct ringlog_boot *boots;
        size_t nb;

        CHECK_EQ(ringlog_boots(&f.rc, fd_read, &f.fd, scratch, &boots, &nb), 0);
        CHECK_EQ(nb, 2);
        CHECK_EQ(boots[0].boot, BOOT);
        CHECK_EQ(boots[0].last_seq, 1000);
        CHECK_EQ(boots[1].boot, BOOT + 1);
        CHECK_EQ(boots[1].first_seq, 1);
        CHECK_EQ(boots[1].last_seq, 30);
        CHECK_EQ(boots[1].records, 30);
        free(boots);
    }
    CHECK_EQ(read_back(&f, BOOT + 1, 1, &first, &last), 30);
    CHECK_EQ(read_back(&f, BOOT + 1, 11, &first, &last), 20);
    CHECK_EQ(first, 11);
    close_session(&f);
    close(f.fd);
}

/* Damage in the file, then recovery: what is intact comes back. */
static void damage_and_recover(void)
{
    struct ringlog_file f;
    uint64_t first, last;
    const uint64_t size = 16 * 1024;
    uint8_t zeros[1024] = {0};
    uint8_t bad = 0xff;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    write_records(&f, 1, 200); /* blocks 0 .. 12, no wrap */
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    close_session(&f);

    /* A header in the middle: its records still count, in order. */
    CHECK_EQ(pwrite(f.fd, &bad, 1, 3 * 1024 + 10), 1);
    CHECK_EQ(recover(&f, size, 1024, BOOT + 1), 0);
    CHECK_EQ(f.rc.bad_headers, 1);
    CHECK_EQ(f.rc.lost_blocks, 0);
    CHECK_EQ(read_back(&f, BOOT, 1, &first, &last), 200);
    CHECK_EQ(gaps, 0);
    close_session(&f);

    /* The same block zeroed: lost and reported, the rest intact. */
    CHECK_EQ(pwrite(f.fd, zeros, sizeof(zeros), 3 * 1024), (ssize_t)sizeof(zeros));
    CHECK_EQ(recover(&f, size, 1024, BOOT + 1), 0);
    CHECK_EQ(f.rc.lost_blocks, 1);
    CHECK(f.rc.stats.discarded_bytes >= 1024);
    CHECK_EQ(read_back(&f, BOOT, 1, &first, &last), 200 - 16); /* 16 records a block */
    CHECK_EQ(gaps, 1);
    CHECK_EQ(last, 200);
    close_session(&f);
    close(f.fd);
}

static void torn_head_block_is_not_overwritten(void)
{
    struct ringlog_file f;
    uint64_t first, last;
    const uint64_t size = 16 * 1024;
    uint8_t bad = 0xff;
    uint32_t head;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    write_records(&f, 1, 100);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    head = f.w.block;
    close_session(&f);
    CHECK_EQ(pwrite(f.fd, &bad, 1, (off_t)head * 1024 + 9), 1);
    CHECK_EQ(recover(&f, size, 1024, BOOT + 1), 0);
    CHECK_EQ(f.rc.head, head);
    write_records(&f, 1, 10);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    CHECK_EQ(f.w.block, head + 1);
    CHECK_EQ(read_back(&f, BOOT, 1, &first, &last), 100);
    close_session(&f);
    close(f.fd);
}

static void truncated_and_other_block_size(void)
{
    struct ringlog_file f;
    uint64_t first, last;

    open_file(&f, 16 * 1024);
    CHECK_EQ(recover(&f, 16 * 1024, 2048, BOOT), 0);
    write_records(&f, 1, 150);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    close_session(&f);
    /* Configured with 4096-byte blocks now: the file's own 2048 wins. */
    CHECK_EQ(ftruncate(f.fd, 8 * 1024), 0);
    CHECK_EQ(recover(&f, 16 * 1024, 4096, BOOT + 1), 0);
    CHECK_EQ(f.rc.block_size, 2048);
    CHECK_EQ(f.rc.nblocks, 8);
    CHECK_EQ(f.rc.short_bytes, 8 * 1024);
    CHECK(read_back(&f, BOOT, 1, &first, &last) > 50);
    CHECK_EQ(first, 1);
    close_session(&f);
    close(f.fd);
}

/* An 8 KiB ring with n records of BOOT, opened again configured as 16 KiB:
 * it was a whole ring, so it is grown, not cut. */
static void grow_after(struct ringlog_file *f, uint64_t n)
{
    open_file(f, 8 * 1024);
    CHECK_EQ(recover(f, 8 * 1024, 1024, BOOT), 0);
    write_records(f, 1, n);
    CHECK_EQ(ringlog_writer_sync(&f->w), 0);
    close_session(f);
    CHECK_EQ(recover(f, 16 * 1024, 1024, BOOT + 1), 0);
    CHECK_EQ(f->rc.short_bytes, 0);
    CHECK_EQ(f->rc.grown_from, 8 * 1024);
}

/* Grown before and after the writer wrapped: nothing is missing, and
 * writing goes on into the larger ring with every record in order. */
static void grown_is_not_cut(void)
{
    struct ringlog_file f;
    uint64_t first, last;

    grow_after(&f, 30);
    CHECK_EQ(read_back(&f, BOOT, 1, &first, &last), 30);
    close_session(&f);
    close(f.fd);

    grow_after(&f, 500); /* about four laps */
    CHECK(read_back(&f, BOOT, 1, &first, &last) > 50);
    CHECK_EQ(last, 500);
    CHECK_EQ(gaps, 0);
    CHECK_EQ(ftruncate(f.fd, 16 * 1024), 0); /* the helper preallocates the ring */
    write_records(&f, 1, 150);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    close_session(&f);
    CHECK_EQ(recover(&f, 16 * 1024, 1024, BOOT + 2), 0);
    CHECK_EQ(f.rc.grown_from, 0);
    CHECK_EQ(f.rc.short_bytes, 0);
    CHECK_EQ(read_back(&f, BOOT + 1, 1, &first, &last), 150);
    CHECK_EQ(gaps, 0);
    close_session(&f);
    close(f.fd);
}

/* A wrapped ring cut to half is cut, wherever its writer was. */
static void wrapped_and_cut(void)
{
    for (uint64_t n = 300; n < 300 + 16 * 15; n += 15) {
        struct ringlog_file f;

        open_file(&f, 16 * 1024);
        CHECK_EQ(recover(&f, 16 * 1024, 1024, BOOT), 0);
        write_records(&f, 1, n);
        CHECK_EQ(ringlog_writer_sync(&f.w), 0);
        close_session(&f);
        CHECK_EQ(ftruncate(f.fd, 8 * 1024), 0);
        CHECK_EQ(recover(&f, 16 * 1024, 1024, BOOT + 1), 0);
        CHECK_EQ(f.rc.short_bytes, 8 * 1024);
        CHECK_EQ(f.rc.grown_from, 0);
        close_session(&f);
        close(f.fd);
    }
}

static void torn_tail_record(void)
{
    struct ringlog_file f;
    uint64_t first, last;
    const uint64_t size = 8 * 1024;
    uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    off_t tail;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    write_records(&f, 1, 20);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    tail = (off_t)f.w.block * 1024 + f.w.fill - 12; /* inside the last record */
    close_session(&f);
    CHECK_EQ(pwrite(f.fd, junk, sizeof(junk), tail), (ssize_t)sizeof(junk));
    CHECK_EQ(recover(&f, size, 1024, BOOT + 1), 0);
    CHECK_EQ(f.rc.stats.bad_records, 1);
    CHECK_EQ(read_back(&f, BOOT, 1, &first, &last), 19);
    CHECK_EQ(last, 19);
    close_session(&f);
    close(f.fd);
}

static void duplicates_read_once(void)
{
    struct ringlog_file f;
    uint64_t first, last;
    const uint64_t size = 8 * 1024;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    write_records(&f, 1, 10);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    close_session(&f);
    /* A restarted helper of the same boot resends 6..10, then goes on. */
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    write_records(&f, 6, 10);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    CHECK_EQ(read_back(&f, BOOT, 1, &first, &last), 15);
    CHECK_EQ(last, 15);
    close_session(&f);
    close(f.fd);
}

/* A spool deleted under the writer: its records are gone at the next
 * boot, so a sync must fail rather than count them synced. */
static void deleted_file_does_not_sync(void)
{
    struct ringlog_file f;
    const uint64_t size = 16 * 1024;
    const char *dir = getenv("TMPDIR");
    char path[4096];

    snprintf(path, sizeof(path), "%s/test_ringlog.XXXXXX", dir ? dir : "/tmp");
    f.fd = mkstemp(path);
    CHECK(f.fd >= 0);
    CHECK_EQ(ftruncate(f.fd, (off_t)size), 0);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    f.w.must_be_linked = 1;
    write_records(&f, 1, 10);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    CHECK_EQ(f.w.synced_seq, 10);
    CHECK_EQ(unlink(path), 0);
    write_records(&f, 11, 10);
    CHECK_EQ(ringlog_writer_sync(&f.w), -1);
    CHECK_EQ(f.w.last_errno, ENOENT);
    CHECK_EQ(f.w.synced_seq, 10);
    close_session(&f);
    close(f.fd);
}

static void empty_and_garbage_files(void)
{
    struct ringlog_recovery rc;
    static uint8_t img[8192];
    struct ringlog_image im = {img, sizeof(img)};

    CHECK_EQ(ringlog_recover(&rc, ringlog_image_read, &im, 0, 8192, 1024, scratch), 0);
    CHECK_EQ(rc.file_id, 0);
    CHECK_EQ(rc.short_bytes, 8192);
    CHECK_EQ(rc.foreign_bytes, 0);
    CHECK_EQ(rc.head, 7);
    ringlog_recovery_free(&rc);
    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = (uint8_t)(i * 7 + 3);
    CHECK_EQ(ringlog_recover(&rc, ringlog_image_read, &im, sizeof(img), 8192, 1024, scratch), 0);
    CHECK_EQ(rc.file_id, 0);
    CHECK_EQ(rc.foreign_bytes, sizeof(img)); /* random bytes are said, not taken as a new file */
    ringlog_recovery_free(&rc);
    CHECK_EQ(ringlog_recover(&rc, ringlog_image_read, &im, sizeof(img), 8192, 1000, scratch), -1);
    CHECK_EQ(ringlog_recover(&rc, ringlog_image_read, &im, 0, 1024, 1024, scratch), -1);
}

/* Many sessions of many sizes over rings of several geometries: every
 * recovery in between goes through recover(), which checks the fast
 * path against the whole scan whenever the fast path is taken. */
static void fast_path_matches_whole_scan(void)
{
    uint64_t seed = 12345, seq = 1;
    int fast_before = fast_recoveries;

    for (int ring = 0; ring < 12; ring++) {
        struct ringlog_file f;
        uint32_t bs = 512u << (ring % 3);
        uint64_t size = (uint64_t)bs * (4 + ring * 7);

        open_file(&f, size);
        for (int session = 0; session < 8; session++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            CHECK_EQ(recover(&f, size, bs, BOOT + (uint64_t)session), 0);
            write_records(&f, seq, (seed >> 33) % (size / 40));
            seq += (seed >> 33) % (size / 40);
            CHECK_EQ(ringlog_writer_sync(&f.w), 0);
            close_session(&f);
        }
        close(f.fd);
    }
    CHECK(fast_recoveries - fast_before >= 12 * 7);
}

struct counted {
    int fd;
    uint64_t bytes;
};

static size_t counted_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
    struct counted *c = ctx;
    size_t n = fd_read(&c->fd, off, buf, len);

    c->bytes += n;
    return n;
}

/* A ring of 8192 blocks: the head is found from a few dozen headers and
 * two blocks, wherever the writer stopped. */
static void fast_path_reads_little(void)
{
    const uint64_t size = 4 << 20;
    struct ringlog_file f;
    uint64_t seq = 1;

    open_file(&f, size);
    for (int session = 0; session < 6; session++) {
        struct counted c = {f.fd, 0};
        struct ringlog_recovery rc;

        CHECK_EQ(recover(&f, size, 512, BOOT + (uint64_t)session), 0);
        write_records(&f, seq, 20000 + 7919 * (uint64_t)session); /* about 2,000 to 5,000 blocks */
        seq += 20000 + 7919 * (uint64_t)session;
        CHECK_EQ(ringlog_writer_sync(&f.w), 0);
        close_session(&f);
        CHECK_EQ(ringlog_recover_fast(&rc, counted_read, &c, size, size, 512, scratch), 0);
        CHECK_EQ(rc.unscanned, 8192 - 1);
        CHECK(c.bytes <= 512 + 40 * RINGLOG_BLOCK_HDR);
        ringlog_recovery_free(&rc);
    }
    close(f.fd);
}

/* Zeros exactly where the fast path looks hide the newest blocks from it:
 * a file damaged that way is not caught before writing, but the
 * background scan counts what it finds past the head it was given. */
static void hidden_head_is_reported(void)
{
    const uint64_t size = 16 * 1024;
    uint8_t zeros[1024] = {0};
    struct ringlog_recovery rc;
    struct ringlog_file f;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    for (uint64_t seq = 1; f.w.block != 11; seq++) /* blocks 0 .. 11 */
        write_records(&f, seq, 1);
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    close_session(&f);
    for (off_t b = 7; b <= 10; b++)
        if (b != 9)
            CHECK_EQ(pwrite(f.fd, zeros, sizeof(zeros), b * 1024), (ssize_t)sizeof(zeros));
    CHECK_EQ(ringlog_recover_fast(&rc, fd_read, &f.fd, size, size, 1024, scratch), 0);
    CHECK_EQ(rc.head, 6);
    CHECK_EQ(ringlog_recover_step(&rc, fd_read, &f.fd, size, scratch, UINT32_MAX), 0);
    CHECK_EQ(rc.newer_blocks, 2);
    ringlog_recovery_free(&rc);
    close(f.fd);
}

/* The writer goes over blocks the background has not read yet: they
 * leave the count of unscanned blocks, and the steps end. */
static void writer_overtakes_the_scan(void)
{
    const uint64_t size = 16 * 1024;
    struct ringlog_file f;
    uint32_t steps = 0;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    write_records(&f, 1, 300); /* more than a lap */
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    close_session(&f);
    CHECK_EQ(ringlog_recover_fast(&f.rc, fd_read, &f.fd, size, size, 1024, scratch), 0);
    CHECK_EQ(f.rc.unscanned, 15);
    CHECK_EQ(ringlog_writer_init(&f.w, f.fd, &f.rc, BOOT + 1), 0);
    write_records(&f, 1, 100); /* six blocks or so, none read before */
    CHECK(f.rc.unscanned < 15 - 4);
    while (ringlog_recover_step(&f.rc, fd_read, &f.fd, size, scratch, 1) > 0)
        CHECK(++steps <= 15);
    for (uint32_t i = 0; i < f.rc.nblocks; i++)
        CHECK(f.rc.blocks[i].state != RINGLOG_BLK_UNSCANNED);
    close_session(&f);
    close(f.fd);
}

/* Queries for the newest records read from the end, and level filters
 * skip blocks by their summaries. */
static void newest_and_levels(void)
{
    static struct ringlog_found found[64];
    const uint64_t size = 64 * 1024;
    struct ringlog_file f;
    struct counted c;
    int more;
    size_t n;

    open_file(&f, size);
    CHECK_EQ(recover(&f, size, 1024, BOOT), 0);
    write_records(&f, 1, 800); /* levels seq % 8 */
    CHECK_EQ(ringlog_writer_sync(&f.w), 0);
    c = (struct counted){f.fd, 0};
    {
        struct ringlog_query q = {BOOT, 0, UINT64_MAX, 0xff, 1};

        n = ringlog_find(&f.rc, counted_read, &c, scratch, &q, found, 10, &more);
        CHECK_EQ(n, 10);
        CHECK_EQ(found[0].seq, 791);
        CHECK_EQ(found[9].seq, 800);
        CHECK(more);
        CHECK(c.bytes <= 2 * 1024); /* the last block or two */
    }
    {
        struct ringlog_query q = {BOOT, 0, 700, 1u << 3, 1};

        n = ringlog_find(&f.rc, fd_read, &f.fd, scratch, &q, found, 64, &more);
        CHECK_EQ(n, 64);
        CHECK_EQ(found[63].seq, 699); /* 699 % 8 == 3 */
        CHECK_EQ(found[0].seq, 699 - 63 * 8);
        CHECK(more);
    }
    {
        struct ringlog_query q = {BOOT, 790, UINT64_MAX, 1u << 0, 0};

        n = ringlog_find(&f.rc, fd_read, &f.fd, scratch, &q, found, 64, &more);
        CHECK_EQ(n, 2); /* 792, 800 */
        CHECK_EQ(found[0].seq, 792);
        CHECK(!more);
    }
    close_session(&f);
    close(f.fd);
}

int main(void)
{
    RUN(record_round_trip);
    RUN(every_bit_flip_is_caught);
    RUN(block_header_round_trip);
    RUN(walk_resyncs_after_damage);
    RUN(batch_entries);
    RUN(write_wrap_and_recover);
    RUN(damage_and_recover);
    RUN(torn_head_block_is_not_overwritten);
    RUN(truncated_and_other_block_size);
    RUN(grown_is_not_cut);
    RUN(wrapped_and_cut);
    RUN(torn_tail_record);
    RUN(duplicates_read_once);
    RUN(empty_and_garbage_files);
    RUN(deleted_file_does_not_sync);
    RUN(fast_path_matches_whole_scan);
    RUN(fast_path_reads_little);
    RUN(hidden_head_is_reported);
    RUN(newest_and_levels);
    RUN(writer_overtakes_the_scan);
    printf("recoveries: %d by the fast path, %d by the whole scan\n", fast_recoveries, full_recoveries);
    return sp_test_report("test_ringlog");
}
