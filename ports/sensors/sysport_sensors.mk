# The modules are hwmon_*.c with hwmon_ symbols, not sensors_: that is
# libsensors' namespace (its archive, linked in, exports sensors_config_*,
# sensors_proc_* and more), and a reader must tell our code from its.
# libsensors statically where its archive is installed (Debian's is PIC):
# its calls to exp() and log() then resolve to hwmon_libm.c, which loads
# libm only when a compute expression needs it. Otherwise the shared
# library, which brings libm with it. The compiler is asked with the user's
# flags, so a cross compiler answers for its --sysroot.
SENSORS_ARCHIVE := $(firstword $(wildcard $(shell $(CC) $(CFLAGS) $(LDFLAGS) -print-file-name=libsensors.a)))
LDLIBS_sensors := $(if $(SENSORS_ARCHIVE),$(SENSORS_ARCHIVE),-lsensors -lm)
