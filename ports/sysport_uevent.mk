LDLIBS_uevent := -lmnl
