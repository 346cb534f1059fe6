/*
 * sysport_time after setup: SNTP exchanges on UDP sockets it makes per
 * request (kernel receive timestamps, SO_TIMESTAMPNS), the RTC device and
 * its sysfs directory opened per job, the system clock read, slewed,
 * stepped and set. It keeps CAP_SYS_TIME (clock_adjtime and clock_settime
 * that change the clock, RTC_SET_TIME). Server names are resolved by the
 * VM: no DNS here.
 */
#include "time_sandbox.h"

const sp_sandbox_policy time_sandbox = {
    .caps = (const sp_sandbox_cap[]){SP_CAP(SYS_TIME, "sys_time"), {0, NULL}},
    .syscalls = (const char *const[]){
        "socket", "setsockopt", "sendto", "recvmsg", /* SNTP over UDP */
        "clock_adjtime", "clock_settime", "adjtimex",
        "clock_nanosleep", "nanosleep", /* waiting for the RTC's second to turn */
        "openat", "open", "ioctl",      /* the RTC: RTC_RD_TIME, RTC_SET_TIME, RTC_VL_READ */
        "newfstatat", "fstat", "lseek",
        "getrandom",                    /* the SNTP request's transmit timestamp */
        NULL,
    },
};
