/*
 * Module autoload: the MODALIAS of each add event is queued, and the queue
 * runs as `PROGRAM -q -b -a -- ALIAS...` batches, one process at a time.
 * Each exit is reported as {modprobe, Status, Aliases} (Status {exit, N},
 * {signal, N} or {spawn_failed, Errno}) and a failure is logged.
 */
#ifndef UEVENT_MODPROBE_H
#define UEVENT_MODPROBE_H

#include <stddef.h>

/* program NULL leaves autoload off. Registers for SIGCHLD. */
void uevent_modprobe_setup(const char *program);
int uevent_modprobe_enabled(void);
void uevent_modprobe_request(const char *alias, size_t len);
/* On SIGCHLD: reaps the running batch, reports it, starts the next. */
void uevent_modprobe_reap(void);
size_t uevent_modprobe_queued(void);
int uevent_modprobe_running(void);

#endif
