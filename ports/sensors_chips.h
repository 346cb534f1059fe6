/*
 * The chips libsensors detected, as Erlang terms:
 *
 *   Chip = #{name := binary(),     % as sensors_snprintf_chip_name prints it
 *            prefix := binary(), bus := atom(), bus_nr := integer(),
 *            address := integer(), adapter := binary() | undefined,
 *            path := binary(),     % the hwmon directory in sysfs
 *            features := [Feature]}
 *   Feature = #{name := binary(), label := binary(), type := atom(),
 *               subfeatures := [Subfeature]}
 *   Subfeature = #{name := binary(), type := atom(), readable := boolean(),
 *                  writable := boolean(),
 *                  value => float() | {error, atom()}}   % with values only
 */
#ifndef SENSORS_CHIPS_H
#define SENSORS_CHIPS_H

#include <ei.h>
#include <sensors/sensors.h>

#include "sensors_request.h"

/* The chips named in only (every chip when only is NULL), in detection
 * order; with_values reads every readable subfeature. */
void sensors_x_chips(ei_x_buff *x, const sensors_name_list *only, int with_values);

const sensors_chip_name *sensors_find_chip(const char *name);
const sensors_subfeature *sensors_find_subfeature(const sensors_chip_name *chip, const char *name);

#endif
