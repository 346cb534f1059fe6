/*
 * Pure parsers for the two textual forms of a device's properties:
 *
 *   a kernel uevent datagram (NETLINK_KOBJECT_UEVENT, group 1):
 *     "add@/devices/virtual/net/lo\0ACTION=add\0DEVPATH=...\0...SEQNUM=42\0"
 *   a sysfs uevent file (read during enumeration):
 *     "INTERFACE=lo\nIFINDEX=1\n"
 *
 * No I/O and no allocation: results point into the caller's buffer.
 */
#ifndef UEVENT_PARSE_H
#define UEVENT_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum uevent_action {
    UEVENT_ADD,
    UEVENT_REMOVE,
    UEVENT_CHANGE,
    UEVENT_MOVE,
    UEVENT_ONLINE,
    UEVENT_OFFLINE,
    UEVENT_BIND,
    UEVENT_UNBIND,
    UEVENT_NACTIONS,
};

/* Why a datagram was refused. */
enum uevent_status {
    UEVENT_OK = 0,
    UEVENT_LIBUDEV,        /* udevd's "libudev\0" format (group 2), not the kernel's */
    UEVENT_NO_HEADER,      /* no "action@devpath" first string */
    UEVENT_BAD_FIELD,      /* an empty string or one without KEY= */
    UEVENT_MISSING,        /* ACTION, DEVPATH, SUBSYSTEM or SEQNUM absent */
    UEVENT_BAD_SEQNUM,     /* SEQNUM is not a decimal integer */
    UEVENT_MISMATCH,       /* the header disagrees with ACTION or DEVPATH */
    UEVENT_UNKNOWN_ACTION, /* an action this parser does not know */
    UEVENT_NSTATUS,
};

typedef struct uevent_str {
    const char *ptr;
    size_t len;
} uevent_str;

typedef struct uevent_field {
    uevent_str key, value;
} uevent_field;

typedef struct uevent {
    enum uevent_action action;
    uint64_t seqnum;
    uevent_str devpath, subsystem;
    uevent_str devpath_old; /* move events; len 0 when absent */
    uevent_str modalias;    /* len 0 when absent */
    /* The KEY=VALUE strings, for uevent_next_field. */
    const char *fields, *end;
    size_t nfields;
    /* A value holds a newline (x86 cpu MODALIAS ends with one): the
     * device's uevent file, read line by line, shows less of it. */
    int multiline;
} uevent;

/* Parses one datagram of len bytes. */
enum uevent_status uevent_parse(const char *buf, size_t len, uevent *ev);

/* Walks the fields of a parsed event: *cursor starts at ev->fields.
 * Returns 1 and sets *f for each field in order, 0 at the end. */
int uevent_next_field(const uevent *ev, const char **cursor, uevent_field *f);

/* Walks the KEY=VALUE lines of a sysfs uevent file: *cursor starts at buf.
 * Lines without '=' or with an empty key are skipped. Returns 1 per field,
 * 0 at the end. */
int uevent_next_line(const char *buf, size_t len, const char **cursor, uevent_field *f);

/* "add", "remove", ... for each action. */
const char *uevent_action_name(enum uevent_action a);
/* A short atom-like name for a status: "ok", "libudev", "no_header", ... */
const char *uevent_status_name(enum uevent_status s);

#endif
