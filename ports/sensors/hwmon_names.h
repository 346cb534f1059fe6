/*
 * libsensors' numbers as Erlang terms: bus and feature types as atoms, a
 * subfeature's kind (input, max, crit_alarm...), and a reading as a float or
 * {error, Reason}. Pure: no libsensors state, no I/O.
 */
#ifndef HWMON_NAMES_H
#define HWMON_NAMES_H

#include <ei.h>

/* i2c, isa, pci, spi, virtual, acpi, hid, mdio, scsi, or unknown. */
const char *hwmon_bus_atom(int bus_type);
/* in, fan, temp, power, energy, curr, humidity, vid, intrusion,
 * beep_enable, or unknown. */
const char *hwmon_feature_atom(int feature_type);
/* What a subfeature measures or limits, as libsensors matched it: the part
 * of its sysfs name after the channel ("temp1_crit_alarm" -> "crit_alarm"),
 * "beep_enable" for the chip-wide beep switch. Points into name or at a
 * constant. */
const char *hwmon_subfeature_kind(const char *name, int subfeature_type);

/* The factor libsensors multiplies a value by before writing it to sysfs
 * as an int (millidegrees, millivolts, microwatts...). A limit whose
 * scaled value does not fit an int is refused before libsensors' cast. */
double hwmon_sysfs_scale(int subfeature_type);
int hwmon_value_fits(int subfeature_type, double value);

/* The reason for a failed libsensors call (rc < 0): the errno the kernel
 * gave when libsensors saw one (eio, eacces, enoent...), else libsensors'
 * own error as an atom (unreadable, not_writable, kernel, ...). */
const char *hwmon_error_atom(int rc, int saved_errno);

/* A reading: the value as a float, or {error, Reason}. A value that is not
 * finite (a sysfs file holding "nan") is {error, not_finite}: ei cannot
 * encode it and no caller could compare it. */
void hwmon_x_reading(ei_x_buff *x, int rc, double value, int saved_errno);

#endif
