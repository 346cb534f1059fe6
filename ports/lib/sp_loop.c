#include "sp_loop.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "sp_frame.h"
#include "sp_sandbox.h"

#define SP_MAX_WATCHES 32
/* More than any helper's tables hold. */
#define SP_MAX_CAPABILITIES 64

struct watch {
    int fd;
    short events;
    sp_fd_cb cb;
    void *ctx;
};

struct timer {
    int id;
    long long deadline;
    sp_timer_cb cb;
    void *ctx;
    unsigned turn; /* the loop turn it was started in */
};

static struct {
    const char *name;
    const sp_helper *helper;
    int in_fd;
    int input_paused;
    int sigpipe[2];
    sigset_t routed; /* signals passed to helper->signal */
    sp_inbuf in;
    struct watch watches[SP_MAX_WATCHES];
    int nwatches;
    struct timer *timers; /* grows as needed */
    int ntimers, timers_size;
    int next_timer_id;
    unsigned turn; /* run_timers passes */
} rt = {.in_fd = 0, .sigpipe = {-1, -1}};

long long sp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;

    /* A full pipe means the loop already has a wakeup pending. */
    if (write(rt.sigpipe[1], &b, 1) < 0) {
    }
    errno = saved;
}

static int catch_signal(int signo)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(signo, &sa, NULL);
}

int sp_signal_watch(int signo)
{
    sigaddset(&rt.routed, signo);
    return catch_signal(signo);
}

void sp_init(const char *name)
{
    pid_t parent = getppid();
    int devnull;

    rt.name = name;
    sigemptyset(&rt.routed);
    /* Keep the protocol on private descriptors and point fds 0/1 elsewhere:
     * a stray printf lands on stderr, and children never see the pipes. */
    rt.in_fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
    if (rt.in_fd < 0)
        err(SP_EXIT_OSERR, "%s: dup stdin", name);
    sp_out_set_fd(fcntl(1, F_DUPFD_CLOEXEC, 3));
    if (sp_out_fd() < 0)
        err(SP_EXIT_OSERR, "%s: dup stdout", name);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(2, 1) < 0)
        err(SP_EXIT_OSERR, "%s: redirect stdio", name);
    close(devnull);
    /* The protocol output blocks: the VM drains it, and a blocked write is
     * the back-pressure we want. */
    fcntl(sp_out_fd(), F_SETFL, fcntl(sp_out_fd(), F_GETFL) & ~O_NONBLOCK);

    if (pipe2(rt.sigpipe, O_NONBLOCK | O_CLOEXEC) < 0)
        err(SP_EXIT_OSERR, "%s: self-pipe", name);
    signal(SIGPIPE, SIG_IGN);
    if (catch_signal(SIGTERM) < 0 || catch_signal(SIGINT) < 0)
        err(SP_EXIT_OSERR, "%s: sigaction", name);
    /* Never outlive the VM: its child-setup process is our parent, and it
     * goes when the VM goes. SIGTERM lets the helper finish its work. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
        errx(SP_EXIT_OSERR, "%s: parent gone at start", name);
}

int sp_watch(int fd, short events, sp_fd_cb cb, void *ctx)
{
    if (rt.nwatches == SP_MAX_WATCHES)
        return -1;
    rt.watches[rt.nwatches++] = (struct watch){fd, events, cb, ctx};
    return 0;
}

int sp_watch_events(int fd, short events)
{
    for (int i = 0; i < rt.nwatches; i++)
        if (rt.watches[i].fd == fd) {
            rt.watches[i].events = events;
            return 0;
        }
    return -1;
}

void sp_unwatch(int fd)
{
    for (int i = 0; i < rt.nwatches; i++)
        if (rt.watches[i].fd == fd) {
            rt.watches[i] = rt.watches[--rt.nwatches];
            return;
        }
}

void sp_pause_input(int paused)
{
    rt.input_paused = paused;
}

int sp_timer_start(long long ms, sp_timer_cb cb, void *ctx)
{
    if (rt.ntimers == rt.timers_size) {
        int size = rt.timers_size ? rt.timers_size * 2 : 16;
        struct timer *grown = realloc(rt.timers, (size_t)size * sizeof(*grown));

        if (!grown)
            return -1;
        rt.timers = grown;
        rt.timers_size = size;
    }
    if (++rt.next_timer_id <= 0)
        rt.next_timer_id = 1;
    rt.timers[rt.ntimers++] = (struct timer){rt.next_timer_id, sp_now_ms() + (ms < 0 ? 0 : ms), cb, ctx, rt.turn};
    return rt.next_timer_id;
}

void sp_timer_cancel(int id)
{
    for (int i = 0; i < rt.ntimers; i++)
        if (rt.timers[i].id == id) {
            rt.timers[i] = rt.timers[--rt.ntimers];
            return;
        }
}

_Noreturn void sp_exit(int status)
{
    sp_flush();
    exit(status);
}

_Noreturn void sp_fatal(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sp_vlog("error", fmt, ap);
    va_end(ap);
    sp_exit(status);
}

static _Noreturn void shutdown_and_exit(void)
{
    if (rt.helper->shutdown)
        rt.helper->shutdown();
    sp_exit(SP_EXIT_OK);
}

int sp_request_end(const sp_request *req)
{
    return sp_dec_done(&req->args) ? 0 : -1;
}

static int listed(const char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

int sp_capabilities(const sp_helper *h, const char **out, int max)
{
    int n = 0;

    if (h->capabilities) {
        while (n < max && h->capabilities[n]) {
            out[n] = h->capabilities[n];
            n++;
        }
        return n;
    }
    for (const sp_call *c = h->calls; c && c->name && n < max; c++)
        if (!listed(out, n, c->name))
            out[n++] = c->name;
    for (const sp_cast *c = h->casts; c && c->name && n < max; c++)
        if (!listed(out, n, c->name))
            out[n++] = c->name;
    return n;
}

static void send_ready(const sp_helper *h)
{
    const char *caps[SP_MAX_CAPABILITIES];
    int ncaps = sp_capabilities(h, caps, SP_MAX_CAPABILITIES);
    ei_x_buff x;
    sp_map m;

    sp_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "ready");
    sp_map_begin(&m, &x);
    sp_map_str(&m, "name", h->name);
    sp_map_str(&m, "version", h->version);
    sp_map_int(&m, "pid", (long long)getpid());
    sp_map_uint(&m, "max_frame", (unsigned long long)rt.in.cap);
    sp_map_key(&m, "capabilities");
    sp_x_atoms(&x, caps, ncaps);
    sp_map_key(&m, "sandbox");
    sp_sandbox_encode(&x);
    if (h->ready_info)
        h->ready_info(&m);
    sp_map_end(&m);
    sp_send(&x);
}

/* Decodes Request = atom() | {atom(), Arg...} into req. */
static int decode_request(sp_dec *d, sp_request *req)
{
    int arity;

    if (sp_dec_atom(d, req->name) == 0) {
        req->argc = 0;
        req->args = *d;
        return 0;
    }
    if (sp_dec_tuple(d, &arity) < 0 || arity < 1 || sp_dec_atom(d, req->name) < 0)
        return -1;
    req->argc = arity - 1;
    req->args = *d;
    return 0;
}

enum sp_message sp_parse_message(const uint8_t *frame, size_t len, unsigned long long *id, sp_request *req)
{
    sp_dec d;
    int arity, size;

    /* The whole term is checked once here, so handlers meet only type
     * mismatches, never truncation. */
    if (sp_dec_init(&d, (const char *)frame, len) < 0 || sp_dec_term_size(&d, &size) < 0 ||
        size != sp_dec_remaining(&d) || sp_dec_tuple(&d, &arity) < 0)
        return SP_MSG_INVALID;
    if (arity == 3 && sp_dec_atom_is(&d, "call") == 0)
        return sp_dec_ulong(&d, id) == 0 && decode_request(&d, req) == 0 ? SP_MSG_CALL : SP_MSG_INVALID;
    if (arity == 2 && sp_dec_atom_is(&d, "cast") == 0)
        return decode_request(&d, req) == 0 ? SP_MSG_CAST : SP_MSG_INVALID;
    return SP_MSG_INVALID;
}

static void reply_unknown(unsigned long long id, const char *name)
{
    ei_x_buff x;

    sp_reply_error_begin(&x, id, "unknown_request");
    ei_x_encode_atom(&x, name);
    sp_send(&x);
}

static void dispatch_call(const sp_helper *h, unsigned long long id, sp_request *req)
{
    const sp_call *c = h->calls;

#ifdef SP_SANDBOX_TEST_REQUEST
    /* Test builds only: proves that a syscall outside the lists kills. */
    if (strcmp(req->name, "sandbox_violate") == 0 && req->argc == 0) {
        int rc = sp_sandbox_violate();

        if (rc < 0)
            sp_reply_errno(id, -rc);
        else
            sp_reply_ok(id);
        return;
    }
#endif

    while (c && c->name && strcmp(c->name, req->name) != 0)
        c++;
    if (!c || !c->name)
        reply_unknown(id, req->name);
    else if (req->argc != c->arity || c->handle(id, req) == SP_BADARG)
        sp_reply_error(id, "badarg");
}

/* A cast has no one to answer: a refusal is logged. */
static void dispatch_cast(const sp_helper *h, sp_request *req)
{
    const sp_cast *c = h->casts;

    while (c && c->name && strcmp(c->name, req->name) != 0)
        c++;
    if (!c || !c->name)
        sp_log("warning", "%s: cast %s rejected (unknown request)", h->name, req->name);
    else if (req->argc != c->arity || c->handle(req) == SP_BADARG)
        sp_log("warning", "%s: cast %s rejected (badarg)", h->name, req->name);
}

void sp_dispatch(const sp_helper *h, const uint8_t *frame, size_t len)
{
    sp_request req;
    unsigned long long id;

    switch (sp_parse_message(frame, len, &id, &req)) {
    case SP_MSG_CALL:
        dispatch_call(h, id, &req);
        break;
    case SP_MSG_CAST:
        dispatch_cast(h, &req);
        break;
    default:
        sp_fatal(SP_EXIT_PROTOCOL, "%s: frame of %zu bytes is not {call, Id, Request} or {cast, Request}",
                 h->name, len);
    }
}

static void read_input(void)
{
    const uint8_t *frame;
    size_t len;
    enum sp_frame_status st;
    ssize_t got = sp_inbuf_read(&rt.in, rt.in_fd);

    if (got == 0)
        shutdown_and_exit();
    if (got < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        /* ENOBUFS cannot happen: a frame over the cap is refused below
         * before the buffer fills. */
        sp_fatal(SP_EXIT_IO, "%s: read protocol input: %s", rt.name, strerror(errno));
    }
    while ((st = sp_inbuf_next(&rt.in, &frame, &len)) == SP_FRAME_OK) {
        sp_dispatch(rt.helper, frame, len);
        if (rt.input_paused)
            return;
    }
    if (st == SP_FRAME_TOO_BIG)
        sp_fatal(SP_EXIT_PROTOCOL, "%s: frame over the %zu-byte cap", rt.name, rt.in.cap);
}

/* Frames already buffered when input is resumed. */
static void drain_buffered(void)
{
    const uint8_t *frame;
    size_t len;

    while (!rt.input_paused && sp_inbuf_next(&rt.in, &frame, &len) == SP_FRAME_OK)
        sp_dispatch(rt.helper, frame, len);
}

static void read_signals(void)
{
    unsigned char sigs[64];
    ssize_t n;

    while ((n = read(rt.sigpipe[0], sigs, sizeof(sigs))) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (sigismember(&rt.routed, sigs[i]) && rt.helper->signal)
                rt.helper->signal(sigs[i]);
            else if (sigs[i] == SIGTERM || sigs[i] == SIGINT)
                shutdown_and_exit();
        }
}

static int poll_timeout(void)
{
    long long now, soonest = -1;

    if (rt.ntimers == 0)
        return -1; /* idle helpers sleep until something happens */
    now = sp_now_ms();
    for (int i = 0; i < rt.ntimers; i++)
        if (soonest < 0 || rt.timers[i].deadline < soonest)
            soonest = rt.timers[i].deadline;
    if (soonest <= now)
        return 0;
    return soonest - now > 60000 ? 60000 : (int)(soonest - now);
}

/* A timer a callback starts fires at the next turn at the earliest: work
 * done a slice per 0 ms timer leaves input its turn in between. */
static void run_timers(void)
{
    long long now = sp_now_ms();

    rt.turn++;

    for (int i = 0; i < rt.ntimers;) {
        if (rt.timers[i].deadline <= now && rt.timers[i].turn != rt.turn) {
            struct timer t = rt.timers[i];

            rt.timers[i] = rt.timers[--rt.ntimers];
            t.cb(t.ctx);
            i = 0; /* the callback may have changed the table */
            now = sp_now_ms();
        } else {
            i++;
        }
    }
}

_Noreturn void sp_run(const sp_helper *h)
{
    struct pollfd fds[2 + SP_MAX_WATCHES];
    struct watch ready[SP_MAX_WATCHES];

    rt.helper = h;
    if (sp_inbuf_init(&rt.in, h->max_frame ? h->max_frame : SP_DEFAULT_MAX_FRAME) < 0)
        errx(SP_EXIT_OSERR, "%s: out of memory", h->name);
    send_ready(h);

    for (;;) {
        int n = 0, nready = 0, rc, was_paused = rt.input_paused;

        /* Everything produced since the last poll goes out in one writev. */
        if (sp_flush() < 0)
            shutdown_and_exit();
        fds[n++] = (struct pollfd){rt.sigpipe[0], POLLIN, 0};
        fds[n++] = (struct pollfd){rt.input_paused ? -1 : rt.in_fd, POLLIN, 0};
        for (int i = 0; i < rt.nwatches; i++)
            fds[n++] = (struct pollfd){rt.watches[i].fd, rt.watches[i].events, 0};
        rc = poll(fds, (nfds_t)n, poll_timeout());
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            sp_fatal(SP_EXIT_OSERR, "%s: poll: %s", h->name, strerror(errno));
        }
        if (fds[0].revents)
            read_signals();
        if (fds[1].revents)
            read_input();
        /* Callbacks may watch and unwatch: work from a snapshot. */
        for (int i = 2; i < n; i++)
            if (fds[i].revents) {
                ready[nready] = rt.watches[i - 2];
                ready[nready++].events = fds[i].revents;
            }
        for (int i = 0; i < nready; i++)
            for (int j = 0; j < rt.nwatches; j++)
                if (rt.watches[j].fd == ready[i].fd && rt.watches[j].cb == ready[i].cb) {
                    ready[i].cb(ready[i].fd, ready[i].events, ready[i].ctx);
                    break;
                }
        run_timers();
        if (was_paused && !rt.input_paused)
            drain_buffered();
    }
}
