/*
 * The features a libsensors configuration may compute: the NAME of every
 * `compute NAME from, to` statement in the text. Pure: no I/O.
 *
 * It errs on the side of finding too many. A "compute" inside a comment or
 * a label string counts too, and chip scopes are ignored: a feature listed
 * without need is only read through libsensors (slower, the same value),
 * while one missed would be read without its compute statement.
 */
#ifndef SENSORS_CONFIG_H
#define SENSORS_CONFIG_H

#include <stddef.h>

typedef void (*sensors_compute_cb)(const char *name, size_t len, void *ctx);

void sensors_config_computes(const char *text, size_t len, sensors_compute_cb found, void *ctx);

#endif
