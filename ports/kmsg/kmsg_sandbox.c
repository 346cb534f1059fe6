/*
 * sysport_kmsg after setup: the reader follows /dev/kmsg (opened before),
 * and every dmesg call opens the log again to read it from the start. It
 * keeps CAP_SYSLOG: with kernel.dmesg_restrict=1 opening /dev/kmsg and
 * asking the ring's size need it.
 */
#include "kmsg_sandbox.h"

const sp_sandbox_policy kmsg_sandbox = {
    .caps = (const sp_sandbox_cap[]){SP_CAP(SYSLOG, "syslog"), {0, NULL}},
    .syscalls = (const char *const[]){
        "openat",     /* dmesg: the log (or a kmsg file) again */
        "open",       /* the same where glibc still uses it */
        "lseek",      /* SEEK_DATA: from the oldest record */
        "newfstatat", /* fstat of a kmsg file before reading it whole */
        "fstat",
        "syslog",     /* SYSLOG_ACTION_SIZE_BUFFER */
        NULL,
    },
};
