/*
 * Arguments of the sysport_sensors requests, decoded from the frame with
 * the bounded decoders. Pure: no libsensors state, no I/O.
 *
 *   {read, [ChipName :: binary()]}
 *   {set, ChipName :: binary(), Subfeature :: binary(), Value :: number()}
 */
#ifndef SENSORS_REQUEST_H
#define SENSORS_REQUEST_H

#include <stddef.h>

#include "sp_term.h"

/* Chip names are "<prefix>-<bus>-<address>"; libsensors builds its paths
 * in NAME_MAX buffers, so nothing longer can name a chip or a subfeature. */
#define SENSORS_NAME_MAX 256
#define SENSORS_MAX_NAMES 256

typedef struct sensors_name_list {
    int count;
    struct {
        const char *data; /* in the request frame, not NUL-terminated */
        size_t len;
    } names[SENSORS_MAX_NAMES];
} sensors_name_list;

typedef struct sensors_set_request {
    char chip[SENSORS_NAME_MAX];
    char subfeature[SENSORS_NAME_MAX];
    double value;
} sensors_set_request;

/* A list of binaries (or strings). 0, or -1 without consuming anything. */
int sensors_decode_names(sp_dec *d, sensors_name_list *out);
int sensors_names_contain(const sensors_name_list *list, const char *name);

/* Chip, Subfeature, Value: the value must be finite. 0 or -1. */
int sensors_decode_set(sp_dec *d, sensors_set_request *out);

#endif
