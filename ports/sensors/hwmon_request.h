/*
 * Arguments of the sysport_sensors requests, decoded from the frame with
 * the bounded decoders. Pure: no libsensors state, no I/O.
 *
 *   {read, [ChipName :: binary()]}
 *   {set, ChipName :: binary(), Subfeature :: binary(), Value :: number()}
 */
#ifndef HWMON_REQUEST_H
#define HWMON_REQUEST_H

#include <stddef.h>

#include "sp_term.h"

/* Chip names are "<prefix>-<bus>-<address>"; libsensors builds its paths
 * in NAME_MAX buffers, so nothing longer can name a chip or a subfeature. */
#define HWMON_NAME_MAX 256
#define HWMON_MAX_NAMES 256

typedef struct hwmon_name_list {
    int count;
    struct {
        const char *data; /* in the request frame, not NUL-terminated */
        size_t len;
    } names[HWMON_MAX_NAMES];
} hwmon_name_list;

typedef struct hwmon_set_request {
    char chip[HWMON_NAME_MAX];
    char subfeature[HWMON_NAME_MAX];
    double value;
} hwmon_set_request;

/* A list of binaries (or strings). 0, or -1 without consuming anything. */
int hwmon_decode_names(sp_dec *d, hwmon_name_list *out);
int hwmon_names_contain(const hwmon_name_list *list, const char *name);

/* Chip, Subfeature, Value: the value must be finite. 0 or -1. */
int hwmon_decode_set(sp_dec *d, hwmon_set_request *out);

#endif
