#include "uevent_netlink.h"

#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <libmnl/libmnl.h>

#include "sp_loop.h"
#include "uevent_cred.h"

#define UEVENT_NETLINK_GROUP_KERNEL 1u

static struct {
    struct mnl_socket *nl;
    int fd;
    int capped;
    char small[8192]; /* every kernel uevent fits */
    char *big;        /* a larger datagram, freed after the next read */
} s = {.fd = -1};

void uevent_netlink_open(int rcvbuf)
{
    int one = 1;

    s.nl = mnl_socket_open2(NETLINK_KOBJECT_UEVENT, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (!s.nl)
        err(SP_EXIT_OSERR, "netlink socket (NETLINK_KOBJECT_UEVENT)");
    s.fd = mnl_socket_get_fd(s.nl);
    /* Before bind, so no event arrives into the default-sized buffer. */
    if (setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0) {
        if (errno != EPERM || setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
            err(SP_EXIT_OSERR, "netlink receive buffer of %d bytes", rcvbuf);
        s.capped = 1;
    }
    if (setsockopt(s.fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
        err(SP_EXIT_OSERR, "SO_PASSCRED");
    if (mnl_socket_bind(s.nl, UEVENT_NETLINK_GROUP_KERNEL, MNL_SOCKET_AUTOPID) < 0)
        err(SP_EXIT_OSERR, "bind to the kernel uevent group");
}

int uevent_netlink_fd(void)
{
    return s.fd;
}

unsigned uevent_netlink_portid(void)
{
    return mnl_socket_get_portid(s.nl);
}

int uevent_netlink_rcvbuf(void)
{
    int v = 0;
    socklen_t len = sizeof(v);

    getsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &v, &len);
    return v;
}

int uevent_netlink_rcvbuf_capped(void)
{
    return s.capped;
}

uint32_t uevent_netlink_drops(void)
{
    uint32_t mem[SK_MEMINFO_VARS] = {0};
    socklen_t len = sizeof(mem);

    if (getsockopt(s.fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 || len <= SK_MEMINFO_DROPS * sizeof(uint32_t))
        return 0;
    return mem[SK_MEMINFO_DROPS];
}

/* recvmsg without blocking, retrying EINTR. */
static ssize_t receive(void *buf, size_t len, int flags, struct sockaddr_nl *addr, void *control,
                       size_t control_len, struct msghdr *msg)
{
    struct iovec iov = {buf, len};
    ssize_t n;

    *msg = (struct msghdr){.msg_name = addr, .msg_namelen = sizeof(*addr), .msg_iov = &iov,
                           .msg_iovlen = 1, .msg_control = control, .msg_controllen = control_len};
    do
        n = recvmsg(s.fd, msg, flags | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n;
}

int uevent_netlink_receive(uevent_netlink_datagram *d)
{
    struct sockaddr_nl addr;
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } control;
    struct msghdr msg;
    ssize_t wire, n;
    size_t want;
    char *buf = s.small;

    free(s.big);
    s.big = NULL;
    /* The peek copies nothing: it learns the size and the sender. */
    wire = receive(NULL, 0, MSG_PEEK | MSG_TRUNC, &addr, control.buf, sizeof(control.buf), &msg);
    if (wire < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return UEVENT_NETLINK_EMPTY;
        if (errno == ENOBUFS)
            return UEVENT_NETLINK_OVERRUN;
        return -1;
    }
    uevent_cred_parse(addr.nl_pid, msg.msg_control, msg.msg_controllen, &d->sender);
    d->wire_len = (size_t)wire;
    if (!uevent_cred_is_kernel(&d->sender)) {
        if (receive(NULL, 0, MSG_TRUNC, &addr, NULL, 0, &msg) < 0)
            return errno == ENOBUFS ? UEVENT_NETLINK_OVERRUN : -1;
        d->data = NULL;
        d->len = 0;
        return UEVENT_NETLINK_FOREIGN;
    }
    want = d->wire_len < UEVENT_NETLINK_MAX_DATAGRAM ? d->wire_len : UEVENT_NETLINK_MAX_DATAGRAM;
    if (want > sizeof(s.small)) {
        s.big = malloc(want);
        if (!s.big)
            return -1;
        buf = s.big;
    }
    n = receive(buf, want, 0, &addr, NULL, 0, &msg);
    if (n < 0) /* an overrun noticed between the peek and the read */
        return errno == ENOBUFS ? UEVENT_NETLINK_OVERRUN : -1;
    d->data = buf;
    d->len = (size_t)n;
    return UEVENT_NETLINK_DATAGRAM;
}
