/*
 * The chips libsensors detected, kept between rescans, and encoded as
 * Erlang terms: their structure once, then only their readings.
 *
 *   Chip = #{name := binary(),     % as sensors_snprintf_chip_name prints it
 *            prefix := binary(), bus := atom(), bus_nr := integer(),
 *            address := integer(), adapter := binary() | undefined,
 *            path := binary(),     % the hwmon directory in sysfs
 *            features := [Feature]}
 *   Feature = #{name := binary(), label := binary(), type := atom(),
 *               subfeatures := [Subfeature]}
 *   Subfeature = #{name := binary(), type := atom(), readable := boolean(),
 *                  writable := boolean()}
 *   Readings = [{ChipName, [float() | {error, atom()}]}]
 *              % one per subfeature, in the order of the chip's features
 *              % and their subfeatures
 *
 * Names, adapters and labels cannot change without a rescan, so they are
 * looked up once. Values are read from sysfs files kept open (one pread
 * each, where libsensors opens, stats, reads and closes the file and walks
 * its configuration), then scaled as libsensors scales them. A feature a
 * `compute' statement of the configuration may apply to is read through
 * sensors_get_value, as is everything once HWMON_MAX_OPEN files are open.
 */
#ifndef HWMON_CACHE_H
#define HWMON_CACHE_H

#include <ei.h>
#include <sensors/sensors.h>

#include "hwmon_request.h"

#define HWMON_MAX_OPEN 512

/* After a successful sensors_init. config: the file libsensors was given,
 * NULL for its default files. */
void hwmon_cache_build(const char *config);
void hwmon_cache_free(void);

/* Every chip, in detection order. */
void hwmon_x_chips(ei_x_buff *x);
/* The readings of the chips named in only (every chip when only is NULL). */
void hwmon_x_readings(ei_x_buff *x, const hwmon_name_list *only);

const sensors_chip_name *hwmon_find_chip(const char *name);
const sensors_subfeature *hwmon_find_subfeature(const sensors_chip_name *chip, const char *name);

/* How many subfeatures are read through a kept file (for ready info). */
int hwmon_cache_open_files(void);

#endif
