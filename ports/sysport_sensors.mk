# libsensors statically where its archive is installed (Debian's is PIC):
# its calls to exp() and log() then resolve to sensors_libm.c, which loads
# libm only when a compute expression needs it. Otherwise the shared
# library, which brings libm with it.
SENSORS_ARCHIVE := $(firstword $(wildcard $(shell $(CC) -print-file-name=libsensors.a)))
LDLIBS_sensors := $(if $(SENSORS_ARCHIVE),$(SENSORS_ARCHIVE),-lsensors -lm)
