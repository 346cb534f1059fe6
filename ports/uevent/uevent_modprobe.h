/*
 * Module autoload: the MODALIAS of each add event is queued, and the queue
 * runs as `PROGRAM -q -b -a -- ALIAS...` batches, one process at a time.
 * Each exit is reported as {modprobe, Status, Aliases} (Status {exit, N},
 * {signal, N} or {spawn_failed, Errno}) and a failure is logged.
 *
 * The netlink reader holds no capability. PROGRAM is started by the
 * autoload process, forked at setup before the reader drops its
 * privileges: it keeps CAP_SYS_MODULE alone (effective, permitted and
 * bounding set, so modprobe run as root gets no more), no_new_privs, no
 * descriptor but its end of a socket pair, and starts PROGRAM with an
 * environment of PATH only. Batches go to it and statuses come back over
 * the socket pair, one datagram each.
 */
#ifndef UEVENT_MODPROBE_H
#define UEVENT_MODPROBE_H

#include <stddef.h>

/* program NULL leaves autoload off. Forks the autoload process: call it
 * before the reader's sandbox and before anything is watched. */
void uevent_modprobe_setup(const char *program);
/* The autoload process' pid (0 when off) and whether it holds
 * CAP_SYS_MODULE (as it told at start). */
int uevent_modprobe_pid(void);
int uevent_modprobe_enabled(void);
void uevent_modprobe_request(const char *alias, size_t len);
size_t uevent_modprobe_queued(void);
int uevent_modprobe_running(void);

#endif
