/*
 * sysport_uevent: kernel uevents for the Erlang device table, with every
 * loss detected and repaired by a fresh enumeration.
 *
 *   sysport_uevent [--rcvbuf=BYTES] [--modprobe=PROGRAM]
 *
 * Events, in the order the table must apply them:
 *   {snapshot_begin, start | resync, Seqnum}   enumeration follows; events
 *   {snapshot, [{DevPath, Props}]}             up to Seqnum are in it
 *   {snapshot_end, Devices}
 *   {uevents, [{Seqnum, Action, DevPath, Props, Table}]}
 *       several per frame when they arrive together. Table is false for a
 *       kobject the enumeration does not list (a module, a queue...), true
 *       for a device, or for a device with a value holding a newline, a
 *       map of those values as the uevent file shows them
 *   {overrun, Missed, KernelDrops, Seqnum}     a resync snapshot follows
 *   {rejected, Reason, Detail}                 a datagram not delivered
 *   {stale, Count}                             events older than a snapshot
 *   {triggered, Devices, Failed, Uuid, Seqnum}
 *   {modprobe, Status, Aliases}  {modprobe_dropped, Alias}
 * Requests: stats -> {ok, Map}; cast trigger.
 *
 * Loss: ENOBUFS, a kernel datagram that cannot be delivered (truncated or
 * malformed), or a SEQNUM hole still open after GRACE_MS (concurrent
 * uevents can arrive slightly out of order). Then the helper reports the
 * overrun and enumerates again; SEQNUMs up to the snapshot's are stale
 * from then on.
 */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_args.h"
#include "sp_ascii.h"
#include "sp_loop.h"
#include "uevent_encode.h"
#include "uevent_enum.h"
#include "uevent_modprobe.h"
#include "uevent_netlink.h"
#include "uevent_parse.h"
#include "uevent_sandbox.h"
#include "uevent_seq.h"

#define DEFAULT_RCVBUF (8 * 1024 * 1024)
#define BATCH_MAX 64        /* datagrams read per wakeup, sent in one frame */
#define GRACE_MS 50         /* how long a SEQNUM hole may wait for a late event */
#define SNAPSHOT_CHUNK 64   /* devices per snapshot frame */

static struct {
    uevent_seq seq;
    int lost;            /* ENOBUFS or truncation since the last snapshot */
    int grace_timer;
    uint32_t drops_base; /* kernel drop counter at the last snapshot */
    unsigned long long received, stale, stale_unreported;
} st;

static void send_rejected(const char *reason, const char *detail)
{
    ei_x_buff x;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "rejected");
    ei_x_encode_atom(&x, reason);
    sp_x_binary_str(&x, detail);
    sp_send(&x);
}

static void reject_foreign(const uevent_netlink_datagram *d)
{
    char detail[160];

    if (d->sender.has_cred)
        snprintf(detail, sizeof(detail), "%zu bytes from netlink port %u (pid %ld, uid %ld)", d->wire_len,
                 (unsigned)d->sender.nl_pid, (long)d->sender.pid, (long)d->sender.uid);
    else
        snprintf(detail, sizeof(detail), "%zu bytes from netlink port %u without credentials", d->wire_len,
                 (unsigned)d->sender.nl_pid);
    send_rejected("sender", detail);
}

static void reject_content(const char *reason, const uevent_netlink_datagram *d)
{
    char head[81], detail[160];

    sp_printable(head, sizeof(head), d->data, d->len, '.');
    snprintf(detail, sizeof(detail), "%zu bytes: %s", d->wire_len, head);
    send_rejected(reason, detail);
}

static void encode_uevent(ei_x_buff *x, const uevent *ev)
{
    int device = uevent_enum_is_device(ev->devpath.ptr, ev->devpath.len, ev->subsystem.ptr, ev->subsystem.len);

    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_ulonglong(x, ev->seqnum);
    ei_x_encode_atom(x, uevent_action_name(ev->action));
    ei_x_encode_binary(x, ev->devpath.ptr, (long)ev->devpath.len);
    if (uevent_x_props(x, ev) < 0)
        sp_fatal(SP_EXIT_OSERR, "out of memory encoding a uevent");
    if (device && ev->multiline) {
        if (uevent_x_file_form(x, ev) < 0)
            sp_fatal(SP_EXIT_OSERR, "out of memory encoding a uevent");
    } else {
        ei_x_encode_boolean(x, device);
    }
}

/* One datagram from the kernel: appended to the frame when it is news.
 * One that cannot be delivered whole (truncated, or in a form this parser
 * does not know) is reported, and the table repaired as after a loss. */
static void take_datagram(const uevent_netlink_datagram *d, ei_x_buff *frame, int *in_frame)
{
    uevent ev;
    enum uevent_status status;
    const char *why = NULL;

    if (d->len < d->wire_len)
        why = "truncated";
    else if ((status = uevent_parse(d->data, d->len, &ev)) != UEVENT_OK)
        why = uevent_status_name(status);
    if (why) {
        reject_content(why, d);
        st.lost = 1;
        return;
    }
    if (uevent_seq_accept(&st.seq, ev.seqnum, sp_now_ms()) == UEVENT_SEQ_STALE) {
        st.stale++;
        st.stale_unreported++;
        return;
    }
    st.received++;
    if ((*in_frame)++ == 0) {
        sp_event_begin(frame);
        ei_x_encode_tuple_header(frame, 2);
        ei_x_encode_atom(frame, "uevents");
    }
    /* [E1 | [E2 | ... []]]: the same list as [E1, E2, ...], written
     * without knowing the count or copying. */
    ei_x_encode_list_header(frame, 1);
    encode_uevent(frame, &ev);
    if (ev.action == UEVENT_ADD && ev.modalias.len > 0)
        uevent_modprobe_request(ev.modalias.ptr, ev.modalias.len);
}

static void send_stale(void)
{
    ei_x_buff x;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "stale");
    ei_x_encode_ulonglong(&x, st.stale_unreported);
    sp_send(&x);
    st.stale_unreported = 0;
}

static void on_grace(void *ctx);

static void arm_grace(void)
{
    if (!st.grace_timer && (st.lost || uevent_seq_oldest_ms(&st.seq) >= 0))
        st.grace_timer = sp_timer_start(GRACE_MS, on_grace, NULL);
}

/* Reads up to max datagrams into one frame. */
static void read_datagrams(int max)
{
    ei_x_buff frame;
    int n = 0;

    for (int i = 0; i < max; i++) {
        uevent_netlink_datagram d;
        int r = uevent_netlink_receive(&d);

        if (r == UEVENT_NETLINK_EMPTY)
            break;
        if (r < 0)
            sp_fatal(SP_EXIT_OSERR, "receive uevent: %s", strerror(errno));
        if (r == UEVENT_NETLINK_OVERRUN)
            st.lost = 1;
        else if (r == UEVENT_NETLINK_FOREIGN)
            reject_foreign(&d);
        else
            take_datagram(&d, &frame, &n);
    }
    if (n > 0) {
        ei_x_encode_empty_list(&frame);
        sp_send(&frame);
    }
    if (st.stale_unreported)
        send_stale();
    arm_grace();
}

static void on_readable(int fd, short revents, void *ctx)
{
    (void)fd, (void)revents, (void)ctx;
    read_datagrams(BATCH_MAX);
}

/* Runs body in a child that writes its frames straight to the VM while
 * this process waits: libudev's pages and allocations stay in the child,
 * and the frames keep their place in the stream. */
static void run_child(const char *what, void (*body)(void *), void *ctx)
{
    int status;
    pid_t pid, got;

    if (sp_flush() < 0)
        sp_exit(SP_EXIT_IO);
    pid = fork();
    if (pid < 0)
        sp_fatal(SP_EXIT_OSERR, "fork for %s: %s", what, strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(uevent_netlink_fd());
        if (sp_sandbox_restrict(uevent_enum_syscalls) < 0)
            _exit(SP_EXIT_OSERR);
        body(ctx);
        _exit(sp_flush() < 0 ? SP_EXIT_IO : 0);
    }
    do
        got = waitpid(pid, &status, 0);
    while (got < 0 && errno == EINTR);
    if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        sp_fatal(SP_EXIT_SOFTWARE, "%s failed (wait status %#x)", what, status);
}

/* The snapshot goes out in frames of SNAPSHOT_CHUNK devices, each
 * {snapshot, [{DevPath, Props} | ...]} written as nested cons cells. */
struct chunk {
    ei_x_buff frame;
    int in_frame, total;
};

static void end_chunk(struct chunk *c)
{
    ei_x_encode_empty_list(&c->frame);
    sp_send(&c->frame);
    c->in_frame = 0;
}

static void add_device(const char *syspath, const char *devpath, const char *subsystem, const char *uevent_file,
                       void *ctx)
{
    struct chunk *c = ctx;

    (void)syspath;
    if (c->in_frame == 0) {
        sp_event_begin(&c->frame);
        ei_x_encode_tuple_header(&c->frame, 2);
        ei_x_encode_atom(&c->frame, "snapshot");
    }
    ei_x_encode_list_header(&c->frame, 1);
    ei_x_encode_tuple_header(&c->frame, 2);
    ei_x_encode_binary(&c->frame, devpath, (long)strlen(devpath));
    if (uevent_x_file_props(&c->frame, devpath, subsystem, uevent_file, strlen(uevent_file)) < 0)
        _exit(SP_EXIT_OSERR);
    c->total++;
    if (++c->in_frame == SNAPSHOT_CHUNK)
        end_chunk(c);
}

static void enumerate(void *ctx)
{
    struct chunk c = {.in_frame = 0};
    ei_x_buff x;

    (void)ctx;
    if (uevent_enum_scan(add_device, &c) < 0) {
        if (errno == ELIBACC)
            sp_log("error", "enumerating devices: cannot load libudev: %s", uevent_enum_load_error());
        else
            sp_log("error", "enumerating devices: %s", strerror(errno));
        sp_flush();
        _exit(SP_EXIT_OSERR);
    }
    if (c.in_frame > 0)
        end_chunk(&c);
    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "snapshot_end");
    ei_x_encode_long(&x, c.total);
    sp_send(&x);
}

/* Sends the table as sysfs has it now: SEQNUMs up to seqnum are in it. */
static void snapshot(const char *reason, uint64_t seqnum)
{
    ei_x_buff x;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "snapshot_begin");
    ei_x_encode_atom(&x, reason);
    ei_x_encode_ulonglong(&x, seqnum);
    sp_send(&x);
    run_child("enumeration", enumerate, NULL);
    uevent_seq_reset(&st.seq, seqnum);
    st.lost = 0;
    st.drops_base = uevent_netlink_drops();
    if (st.grace_timer) {
        sp_timer_cancel(st.grace_timer);
        st.grace_timer = 0;
    }
}

static void resync(void)
{
    uint64_t now = uevent_enum_seqnum(), missed;
    ei_x_buff x;

    if (now < st.seq.high)
        now = st.seq.high; /* uevent_seqnum unreadable */
    missed = uevent_seq_unseen(&st.seq) + (now - st.seq.high);
    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "overrun");
    ei_x_encode_ulonglong(&x, missed);
    ei_x_encode_ulong(&x, uevent_netlink_drops() - st.drops_base);
    ei_x_encode_ulonglong(&x, now);
    sp_send(&x);
    snapshot("resync", now);
}

static void on_grace(void *ctx)
{
    long long oldest, age;

    (void)ctx;
    st.grace_timer = 0;
    read_datagrams(BATCH_MAX);
    if (st.grace_timer) { /* read_datagrams armed a fresh one: decide now */
        sp_timer_cancel(st.grace_timer);
        st.grace_timer = 0;
    }
    oldest = uevent_seq_oldest_ms(&st.seq);
    age = oldest < 0 ? 0 : sp_now_ms() - oldest;
    if (st.lost || (oldest >= 0 && age >= GRACE_MS))
        resync();
    else if (oldest >= 0)
        st.grace_timer = sp_timer_start(GRACE_MS - age, on_grace, NULL);
}

static void start(void *ctx)
{
    (void)ctx;
    snapshot("start", uevent_enum_seqnum());
    if (sp_watch(uevent_netlink_fd(), POLLIN, on_readable, NULL) < 0)
        sp_fatal(SP_EXIT_SOFTWARE, "cannot watch the uevent socket");
}

static void trigger(void *ctx)
{
    char uuid[64] = "";
    int failed = 0, devices;
    FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");
    ei_x_buff x;

    (void)ctx;
    if (!f || !fgets(uuid, sizeof(uuid), f))
        _exit(SP_EXIT_OSERR);
    fclose(f);
    uuid[strcspn(uuid, "\n")] = '\0';
    devices = uevent_enum_trigger(uuid, &failed);
    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "triggered");
    ei_x_encode_long(&x, devices < 0 ? 0 : devices);
    ei_x_encode_long(&x, failed);
    sp_x_binary_str(&x, uuid);
    /* Every replayed add has a SEQNUM at or below this one. */
    ei_x_encode_ulonglong(&x, uevent_enum_seqnum());
    sp_send(&x);
}

static void ready_info(sp_map *m)
{
    sp_map_int(m, "rcvbuf", uevent_netlink_rcvbuf());
    sp_map_bool(m, "rcvbuf_capped", uevent_netlink_rcvbuf_capped());
    sp_map_uint(m, "portid", uevent_netlink_portid());
    sp_map_bool(m, "autoload", uevent_modprobe_enabled());
    if (uevent_modprobe_enabled())
        sp_map_int(m, "autoload_pid", uevent_modprobe_pid());
}

static enum sp_handled call_stats(unsigned long long id, sp_request *req)
{
    ei_x_buff x;
    sp_map m;

    (void)req;
    sp_reply_ok_begin(&x, id);
    sp_map_begin(&m, &x);
    sp_map_uint(&m, "received", st.received);
    sp_map_uint(&m, "stale", st.stale);
    sp_map_uint(&m, "seqnum", st.seq.high);
    sp_map_uint(&m, "unseen", uevent_seq_unseen(&st.seq));
    sp_map_uint(&m, "kernel_drops", uevent_netlink_drops());
    sp_map_uint(&m, "modprobe_queued", uevent_modprobe_queued());
    sp_map_bool(&m, "modprobe_running", uevent_modprobe_running());
    sp_map_end(&m);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled cast_trigger(sp_request *req)
{
    (void)req;
    run_child("trigger", trigger, NULL);
    return SP_HANDLED;
}

int main(int argc, char **argv)
{
    static const sp_call calls[] = {{"stats", 0, call_stats}, {0}};
    static const sp_cast casts[] = {{"trigger", 0, cast_trigger}, {0}};
    static const sp_helper helper = {
        .name = "sysport_uevent",
        .version = "1",
        .calls = calls,
        .casts = casts,
        .ready_info = ready_info,
    };
    uint64_t rcvbuf = DEFAULT_RCVBUF;
    const char *modprobe = NULL;
    const sp_option options[] = {
        SP_UINT("rcvbuf", &rcvbuf, 1024, 1 << 30),
        SP_TEXT("modprobe", &modprobe),
        {0},
    };

    sp_init(helper.name);
    sp_args(options, argc, argv, "usage: sysport_uevent [--rcvbuf=BYTES] [--modprobe=PROGRAM]");
    uevent_netlink_open((int)rcvbuf);
    uevent_modprobe_setup(modprobe);
    sp_sandbox_enter(&uevent_sandbox);
    /* The first snapshot goes right after {ready}; the socket is watched
     * from then on, and whatever queued meanwhile is in the snapshot. */
    if (sp_timer_start(0, start, NULL) < 0)
        errx(SP_EXIT_OSERR, "out of memory");
    sp_run(&helper);
}
