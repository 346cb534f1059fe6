#include "time_sntp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_loop.h"
#include "time_clock.h"
#include "time_ntp.h"
#include "time_sntp_recv.h"

/* A flood of strays ends the exchange rather than the helper's evening. */
#define MAX_STRAYS 64

struct exchange {
    int used;
    int fd;
    int timer;
    unsigned long long id;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint64_t cookie;
    int64_t t1;
    unsigned long steps; /* time_clock_steps() when t1 was taken */
    int strays;
    const char *last_stray; /* the reason the last stray was refused */
};

static struct exchange exchanges[TIME_SNTP_MAX_EXCHANGES];

static uint64_t new_cookie(void)
{
    static uint64_t fallback;
    uint64_t c = 0;

    /* Early in boot the pool may not be ready: a cookie still has to be
     * unpredictable to an off-path attacker, the monotonic clock's low bits
     * and a counter are the best that is left. */
    if (getrandom(&c, sizeof(c), GRND_NONBLOCK) != sizeof(c)) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        c = ((uint64_t)ts.tv_nsec << 32 | (uint64_t)ts.tv_sec) ^ (++fallback * 0x9e3779b97f4a7c15ull) ^
            (uint64_t)getpid();
    }
    return c ? c : 1;
}

static int parse_address(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (port < 1 || port > 65535)
        return -EINVAL;
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

static void finish(struct exchange *e)
{
    sp_unwatch(e->fd);
    close(e->fd);
    if (e->timer > 0)
        sp_timer_cancel(e->timer);
    e->used = 0;
}

static void reply_sample(struct exchange *e, const struct time_ntp_reply *r)
{
    ei_x_buff x;
    sp_map m;

    sp_reply_ok_begin(&x, e->id);
    sp_map_begin(&m, &x);
    sp_map_int(&m, "t1", r->t1);
    sp_map_int(&m, "t2", r->t2);
    sp_map_int(&m, "t3", r->t3);
    sp_map_int(&m, "t4", r->t4);
    sp_map_int(&m, "offset", r->offset_ns);
    sp_map_int(&m, "delay", r->delay_ns);
    sp_map_int(&m, "root_delay", r->root_delay_ns);
    sp_map_int(&m, "root_dispersion", r->root_dispersion_ns);
    sp_map_int(&m, "stratum", r->stratum);
    sp_map_int(&m, "leap", r->leap);
    sp_map_int(&m, "version", r->version);
    sp_map_int(&m, "poll", r->poll);
    sp_map_int(&m, "precision", r->precision);
    sp_map_key(&m, "refid");
    ei_x_encode_binary(&x, r->refid, 4);
    sp_map_int(&m, "stray", e->strays);
    sp_map_end(&m);
    sp_send(&x);
}

static void reply_refusal(struct exchange *e, enum time_ntp_verdict v, const struct time_ntp_reply *r)
{
    ei_x_buff x;

    if (v != TIME_NTP_KOD) {
        sp_reply_error(e->id, time_ntp_verdict_name(v));
        return;
    }
    sp_reply_error_begin(&x, e->id, "kod");
    ei_x_encode_binary(&x, r->kiss, (long)strlen(r->kiss));
    sp_send(&x);
}

static void stray(struct exchange *e, const char *reason)
{
    ei_x_buff x;

    sp_event_begin(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "sntp_rejected");
    ei_x_encode_atom(&x, reason);
    sp_send(&x);
    e->strays++;
    e->last_stray = reason;
}

/* Handles one datagram; 1 when it ended the exchange. */
static int handle_datagram(struct exchange *e, const uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                           int64_t t4)
{
    struct time_ntp_reply r;
    enum time_ntp_verdict v;

    if (!time_sntp_recv_same_peer(&e->peer, from)) {
        stray(e, "wrong_source");
        return 0;
    }
    v = time_ntp_parse_reply(buf, len, e->cookie, e->t1, t4, &r);
    if (time_ntp_verdict_is_stray(v)) {
        stray(e, time_ntp_verdict_name(v));
        return 0;
    }
    if (time_clock_steps() != e->steps)
        sp_reply_error(e->id, "clock_changed"); /* t1 and t4 are on different clocks */
    else if (v == TIME_NTP_OK)
        reply_sample(e, &r);
    else
        reply_refusal(e, v, &r);
    return 1;
}

static void on_readable(int fd, short revents, void *ctx)
{
    struct exchange *e = ctx;
    uint8_t buf[1024];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control;

    (void)fd;
    (void)revents;
    for (;;) {
        struct sockaddr_storage from;
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
        ssize_t n = recvmsg(e->fd, &msg, MSG_DONTWAIT);
        struct timespec ts;
        int64_t t4;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* An ICMP error (port unreachable...) arrives this way: the
             * server is not there. */
            sp_reply_errno(e->id, errno);
            finish(e);
            return;
        }
        t4 = time_sntp_recv_stamp(msg.msg_control, msg.msg_controllen, &ts) ? time_clock_from_kernel(&ts)
                                                                            : time_clock_now_ns();
        if (handle_datagram(e, buf, (size_t)n, &from, t4)) {
            finish(e);
            return;
        }
        if (e->strays >= MAX_STRAYS) {
            sp_reply_error(e->id, "too_many_strays");
            finish(e);
            return;
        }
    }
}

static void on_timeout(void *ctx)
{
    struct exchange *e = ctx;

    e->timer = 0;
    sp_reply_error(e->id, e->strays ? e->last_stray : "timeout");
    finish(e);
}

int time_sntp_start(unsigned long long id, const char *addr, int port, long timeout_ms)
{
    struct exchange *e = NULL;
    uint8_t request[TIME_NTP_PACKET_LEN];
    int one = 1, rc;

    for (int i = 0; i < TIME_SNTP_MAX_EXCHANGES && !e; i++)
        if (!exchanges[i].used)
            e = &exchanges[i];
    if (!e)
        return -EBUSY;
    memset(e, 0, sizeof(*e));
    rc = parse_address(addr, port, &e->peer, &e->peer_len);
    if (rc < 0)
        return rc;
    e->fd = socket(e->peer.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (e->fd < 0)
        return -errno;
    if (setsockopt(e->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) {
        rc = -errno;
        close(e->fd);
        return rc;
    }
    if (sp_watch(e->fd, POLLIN, on_readable, e) < 0) {
        close(e->fd);
        return -EMFILE; /* the loop's watch table is full */
    }
    e->timer = sp_timer_start(timeout_ms, on_timeout, e);
    if (e->timer < 0) {
        sp_unwatch(e->fd);
        close(e->fd);
        return -ENOMEM;
    }
    e->used = 1;
    e->id = id;
    e->cookie = new_cookie();
    time_ntp_build_request(request, e->cookie);
    /* T1 is taken as late as possible before the packet leaves. */
    e->t1 = time_clock_now_ns();
    e->steps = time_clock_steps();
    if (sendto(e->fd, request, sizeof(request), 0, (struct sockaddr *)&e->peer, e->peer_len) < 0) {
        rc = -errno;
        finish(e);
        return rc;
    }
    return 0;
}

void time_sntp_close_all(void)
{
    for (int i = 0; i < TIME_SNTP_MAX_EXCHANGES; i++)
        if (exchanges[i].used)
            finish(&exchanges[i]);
}
