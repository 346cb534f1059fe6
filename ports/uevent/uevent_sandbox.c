/*
 * sysport_uevent after setup. The netlink reader receives datagrams on the
 * socket it bound before, forks the enumeration child for each snapshot
 * and trigger, and talks to the autoload process (uevent_modprobe.c), if
 * any, over a socket pair. It keeps no capabilities: CAP_SYS_MODULE
 * stays with the autoload process alone.
 *
 * The enumeration child (uevent_enum_sandbox) stacks a narrower filter:
 * it loads libudev, reads sysfs and writes `add' to uevent files on
 * trigger; it cannot fork, exec, or open sockets.
 */
#include "uevent_sandbox.h"

const sp_sandbox_policy uevent_sandbox = {
    .caps = (const sp_sandbox_cap[]){{0, NULL}},
    .syscalls = (const char *const[]){
        "recvmsg", "recvfrom", "getsockopt", /* the netlink socket and its drop counter */
        "sendmsg", "sendto",                 /* batches to the autoload process */
        "clone", "fork", "vfork", "wait4", "waitid", "set_robust_list", /* the enumeration child */
        "prctl",                             /* its PR_SET_PDEATHSIG */
        "seccomp",                           /* its own, narrower filter */
        "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx", "lseek",
        "getdents64", "readlink", "readlinkat", "access", "faccessat", "faccessat2",
        "pread64", "getrandom", "statfs", "fstatfs", "futex",
        NULL,
    },
};

/* The child: what libudev's enumeration and a trigger do. */
const char *const uevent_enum_syscalls[] = {
    "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx", "lseek",
    "getdents64", "readlink", "readlinkat", "access", "faccessat", "faccessat2",
    "pread64", "getrandom", "prctl",
    "statfs", "fstatfs", /* libudev: is /sys a sysfs? */
    "futex",             /* libudev's once-only initialisation */
    NULL,
};
