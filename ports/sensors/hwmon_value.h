/*
 * A hwmon attribute's text (what a pread of e.g. temp1_input returns) to
 * the value libsensors would report: strtod's reading of it, as its
 * fscanf("%lf") does, divided by the subfeature type's sysfs scale (1000
 * for millidegrees). Pure, so the fuzz target reaches it.
 */
#ifndef HWMON_VALUE_H
#define HWMON_VALUE_H

#include <stddef.h>

/* 0 and *value, or -SENSORS_ERR_ACCESS_R for text that is no number. */
int hwmon_value_parse(const char *text, size_t len, int subfeature_type, double *value);

#endif
