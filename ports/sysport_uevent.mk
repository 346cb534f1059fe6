LDLIBS_uevent := -lmnl -ludev
