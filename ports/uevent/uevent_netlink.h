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
#define UNL_MAX_DATAGRAM (64u * 1024)

enum unl_result {
    UNL_DATAGRAM, /* data/len hold one datagram from the kernel */
    UNL_FOREIGN,  /* a datagram from someone else: consumed, sender set */
    UNL_EMPTY,    /* nothing to read */
    UNL_OVERRUN,  /* ENOBUFS: the kernel dropped datagrams for us */
};

typedef struct unl_sender {
    uint32_t nl_pid; /* netlink port of the sender: 0 for the kernel */
    int has_cred;
    pid_t pid;
    uid_t uid;
} unl_sender;

typedef struct unl_datagram {
    const char *data;
    size_t len;      /* bytes in data */
    size_t wire_len; /* bytes the sender sent: len < wire_len means truncated */
    unl_sender sender;
} unl_datagram;

/* Opens and binds the socket with a receive buffer of rcvbuf bytes
 * (SO_RCVBUFFORCE before bind, SO_RCVBUF when not permitted). Exits with
 * err() on failure: it runs before the loop. */
void unl_open(int rcvbuf);
int unl_fd(void);
unsigned unl_portid(void);
/* The receive buffer the kernel granted (getsockopt). */
int unl_rcvbuf(void);
/* 1 when SO_RCVBUFFORCE was refused and SO_RCVBUF (capped) used. */
int unl_rcvbuf_capped(void);
/* Datagrams the kernel dropped for this socket so far (SO_MEMINFO). */
uint32_t unl_drops(void);

/* Reads one datagram without blocking. The data stays valid until the next
 * call. Returns -1 with errno on an unexpected error. */
int unl_receive(unl_datagram *d);

#endif
