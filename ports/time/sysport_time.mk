# sysport_time needs no library beyond ei and libc: SNTP is a UDP socket,
# the RTC and the system clock are ioctls and clock_adjtime(2).
LDLIBS_time :=
