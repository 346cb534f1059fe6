/*
 * The kernel uevent socket: NETLINK_KOBJECT_UEVENT, group 1, opened with
 * libmnl. Every datagram is sized with MSG_PEEK|MSG_TRUNC before it is
 * read, and its sender is checked from the peek: only the kernel
 * (nl_pid 0, uid 0 in SCM_CREDENTIALS) is accepted.
 */
#ifndef UEVENT_NETLINK_H
#define UEVENT_NETLINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest datagram read whole; a longer one is read truncated. The kernel
 * builds uevents in a 2 KiB environment plus the header, far below this. */
#define UEVENT_NETLINK_MAX_DATAGRAM (64u * 1024)

enum uevent_netlink_result {
    UEVENT_NETLINK_DATAGRAM, /* data/len hold one datagram from the kernel */
    UEVENT_NETLINK_FOREIGN,  /* a datagram from someone else: consumed, sender set */
    UEVENT_NETLINK_EMPTY,    /* nothing to read */
    UEVENT_NETLINK_OVERRUN,  /* ENOBUFS: the kernel dropped datagrams for us */
};

typedef struct uevent_netlink_sender {
    uint32_t nl_pid; /* netlink port of the sender: 0 for the kernel */
    int has_cred;
    pid_t pid;
    uid_t uid;
} uevent_netlink_sender;

typedef struct uevent_netlink_datagram {
    const char *data;
    size_t len;      /* bytes in data */
    size_t wire_len; /* bytes the sender sent: len < wire_len means truncated */
    uevent_netlink_sender sender;
} uevent_netlink_datagram;

/* Opens and binds the socket with a receive buffer of rcvbuf bytes
 * (SO_RCVBUFFORCE before bind, SO_RCVBUF when not permitted). Exits with
 * err() on failure: it runs before the loop. */
void uevent_netlink_open(int rcvbuf);
int uevent_netlink_fd(void);
unsigned uevent_netlink_portid(void);
/* The receive buffer the kernel granted (getsockopt). */
int uevent_netlink_rcvbuf(void);
/* 1 when SO_RCVBUFFORCE was refused and SO_RCVBUF (capped) used. */
int uevent_netlink_rcvbuf_capped(void);
/* Datagrams the kernel dropped for this socket so far (SO_MEMINFO). */
uint32_t uevent_netlink_drops(void);

/* Reads one datagram without blocking. The data stays valid until the next
 * call. Returns -1 with errno on an unexpected error. */
int uevent_netlink_receive(uevent_netlink_datagram *d);

#endif
