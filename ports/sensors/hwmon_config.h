/*
 * The features a libsensors configuration may compute: the NAME of every
 * `compute NAME from, to` statement in the text. Pure: no I/O.
 *
 * It errs on the side of finding too many. A "compute" inside a comment or
 * a label string counts too, and chip scopes are ignored: a feature listed
 * without need is only read through libsensors (slower, the same value),
 * while one missed would be read without its compute statement.
 */
#ifndef HWMON_CONFIG_H
#define HWMON_CONFIG_H

#include <stddef.h>

typedef void (*hwmon_compute_cb)(const char *name, size_t len, void *ctx);

void hwmon_config_computes(const char *text, size_t len, hwmon_compute_cb found, void *ctx);

#endif
