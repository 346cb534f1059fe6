/*
 * The receive side of an SNTP exchange that is not the NTP packet itself
 * (time_ntp.c): the kernel's receive timestamp among a datagram's control
 * messages, and whether a datagram came from the server asked. Pure
 * functions over what recvmsg filled in, so the fuzz target reaches them.
 */
#ifndef TIME_SNTP_RECV_H
#define TIME_SNTP_RECV_H

#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

/* The SCM_TIMESTAMPNS in control (msg_controllen bytes as recvmsg left
 * them). 1 and *ts set when there is one, else 0. */
int time_sntp_recv_stamp(void *control, size_t controllen, struct timespec *ts);

/* 1 when b is the same IPv4 or IPv6 address and port as a. */
int time_sntp_recv_same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
