LDLIBS_sensors := -lsensors -lm
