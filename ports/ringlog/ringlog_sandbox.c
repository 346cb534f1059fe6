/*
 * sysport_ringlog after setup: the spool file is open and locked; the
 * helper writes, reads and syncs it, and sleeps between write retries. No
 * capabilities: the spool belongs to the VM's user.
 */
#include "ringlog_sandbox.h"

const sp_sandbox_policy ringlog_sandbox = {
    .caps = (const sp_sandbox_cap[]){{0, NULL}},
    .syscalls = (const char *const[]){
        "pread64", "pwrite64", /* the ring's blocks */
        "fdatasync", "fsync",  /* the sync policy; fsync of the spool's directory */
        "openat", "open",      /* the spool's directory, to fsync it */
        "nanosleep", "clock_nanosleep", /* backing off a failed write */
        "newfstatat", "fstat",
        NULL,
    },
};
