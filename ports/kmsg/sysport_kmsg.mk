# sysport_kmsg needs no library beyond ei and libc: /dev/kmsg is read with
# read(2) and parsed by kmsg_record.c.
LDLIBS_kmsg :=
