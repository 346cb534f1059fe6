/*
 * sysport_kv after setup: every load and update opens the env's devices
 * (files, block devices, MTD) and the lock file anew, reads and writes
 * them, erases MTD blocks (ioctl) and syncs. No capabilities: the env and
 * the devices belong to root, the VM's user where kv runs.
 */
#include "kv_sandbox.h"

const sp_sandbox_policy kv_sandbox = {
    .caps = (const sp_sandbox_cap[]){{0, NULL}},
    .syscalls = (const char *const[]){
        "openat", "open", "newfstatat", "fstat", "lseek",
        "pread64", "pwrite64",
        "flock",             /* the lock file fw_setenv also takes */
        "ioctl",             /* MEMGETINFO, MEMERASE, MEMUNLOCK, MEMGETBADBLOCK, BLKGETSIZE64 */
        "fdatasync", "fsync",
        "fadvise64",         /* dropping the page cache before a read-back */
        "nanosleep", "clock_nanosleep", /* waiting for the lock */
        NULL,
    },
};
