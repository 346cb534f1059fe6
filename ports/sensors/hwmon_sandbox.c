/*
 * sysport_sensors after setup: reads go to sysfs attribute files; rescan
 * runs libsensors' detection again (its configuration file, the hwmon
 * class directory, each chip's links and attributes); set writes a limit;
 * a compute expression may load libm (dlopen). No capabilities: sysfs
 * attributes are root's, the VM's user where sensors runs.
 */
#include "hwmon_sandbox.h"

const sp_sandbox_policy hwmon_sandbox = {
    .caps = (const sp_sandbox_cap[]){{0, NULL}},
    .syscalls = (const char *const[]){
        "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx", "lseek",
        "pread64",
        "getdents64",            /* opendir/readdir of /sys/class/hwmon, /sys/bus/... */
        "readlink", "readlinkat", /* a chip's device and subsystem links */
        "access", "faccessat", "faccessat2",
        "statfs", "fstatfs",     /* is /sys a sysfs? */
        "ioctl",                 /* TCGETS: stdio asks whether a character device is a tty */
        NULL,
    },
};
