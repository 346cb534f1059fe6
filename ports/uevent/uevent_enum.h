/*
 * Devices as sysfs shows them, through libudev's enumerator (bus and class
 * members: what `udevadm trigger` and `udevadm info --export-db` walk).
 * Needs no udevd and writes nothing, except uevent_enum_trigger.
 */
#ifndef UEVENT_ENUM_H
#define UEVENT_ENUM_H

#include <stddef.h>
#include <stdint.h>

/* uevent is the device's sysfs uevent file (KEY=VALUE lines), "" if none. */
typedef void (*uevent_enum_cb)(const char *syspath, const char *devpath, const char *subsystem,
                               const char *uevent_file, void *ctx);

/* Calls cb for every device. Returns how many, or -1 with errno; ELIBACC
 * when libudev could not be loaded (uevent_enum_load_error says why). */
int uevent_enum_scan(uevent_enum_cb cb, void *ctx);

/* Why loading libudev.so.1 failed (dlerror's text), or "". */
const char *uevent_enum_load_error(void);

/* Writes "add <uuid>" to every device's uevent file, as `udevadm trigger
 * --action=add --uuid` does. Returns the devices written; *failed counts
 * the writes that failed. */
int uevent_enum_trigger(const char *uuid, int *failed);

/* 1 when a uevent with this DEVPATH and SUBSYSTEM is for a device the
 * enumerator lists (under /devices, in a bus or a class), 0 for other
 * kobjects (modules, drivers, network queues...). */
int uevent_enum_is_device(const char *devpath, size_t devpath_len, const char *subsystem, size_t subsystem_len);

/* The kernel's last SEQNUM (/sys/kernel/uevent_seqnum); 0 if unreadable. */
uint64_t uevent_enum_seqnum(void);

#endif
