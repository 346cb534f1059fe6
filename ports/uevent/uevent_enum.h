/*
 * Devices as sysfs shows them, through libudev's enumerator (bus and class
 * members: what `udevadm trigger` and `udevadm info --export-db` walk).
 * Needs no udevd and writes nothing, except uenum_trigger.
 */
#ifndef UEVENT_ENUM_H
#define UEVENT_ENUM_H

#include <stddef.h>
#include <stdint.h>

/* uevent is the device's sysfs uevent file (KEY=VALUE lines), "" if none. */
typedef void (*uenum_cb)(const char *syspath, const char *devpath, const char *subsystem,
                         const char *uevent_file, void *ctx);

/* Calls cb for every device. Returns how many, or -1 with errno; ELIBACC
 * when libudev could not be loaded (uenum_load_error says why). */
int uenum_scan(uenum_cb cb, void *ctx);

/* Why loading libudev.so.1 failed (dlerror's text), or "". */
const char *uenum_load_error(void);

/* Writes "add <uuid>" to every device's uevent file, as `udevadm trigger
 * --action=add --uuid` does. Returns the devices written; *failed counts
 * the writes that failed. */
int uenum_trigger(const char *uuid, int *failed);

/* 1 when a uevent with this DEVPATH and SUBSYSTEM is for a device the
 * enumerator lists (under /devices, in a bus or a class), 0 for other
 * kobjects (modules, drivers, network queues...). */
int uenum_is_device(const char *devpath, size_t devpath_len, const char *subsystem, size_t subsystem_len);

/* The kernel's last SEQNUM (/sys/kernel/uevent_seqnum); 0 if unreadable. */
uint64_t uenum_seqnum(void);

#endif
