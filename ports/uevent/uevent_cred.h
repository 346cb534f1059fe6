/*
 * Who sent a uevent datagram, from what recvmsg filled in: the netlink
 * port (nl_pid) and the SCM_CREDENTIALS control message. Only the kernel
 * (port 0, uid 0) is believed. Pure, so the fuzz target reaches it.
 */
#ifndef UEVENT_CRED_H
#define UEVENT_CRED_H

#include <stddef.h>
#include <stdint.h>

#include "uevent_netlink.h"

/* Fills *who from the sender's port and the control messages (the last
 * SCM_CREDENTIALS whole enough to hold a struct ucred wins). */
void uevent_cred_parse(uint32_t nl_pid, void *control, size_t controllen, uevent_netlink_sender *who);

/* 1 for the kernel: port 0 and credentials of uid 0. */
int uevent_cred_is_kernel(const uevent_netlink_sender *who);

#endif
