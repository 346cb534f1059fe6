#include "sensors_chips.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sensors_names.h"
#include "sp_proto.h"

/* 0, or -1 for a chip name libsensors cannot print (a wildcard). */
static int chip_name(const sensors_chip_name *chip, char out[SENSORS_NAME_MAX])
{
    int n = sensors_snprintf_chip_name(out, SENSORS_NAME_MAX, chip);

    return n < 0 || n >= SENSORS_NAME_MAX ? -1 : 0;
}

static int wanted(const sensors_chip_name *chip, const sensors_name_list *only, char name[SENSORS_NAME_MAX])
{
    return chip_name(chip, name) == 0 && (!only || sensors_names_contain(only, name));
}

static void x_subfeature(ei_x_buff *x, const sensors_chip_name *chip, const sensors_subfeature *sub,
                         int with_values)
{
    ei_x_encode_map_header(x, with_values ? 5 : 4);
    ei_x_encode_atom(x, "name");
    sp_x_binary_str(x, sub->name);
    ei_x_encode_atom(x, "type");
    ei_x_encode_atom(x, sensors_subfeature_kind(sub->name, sub->type));
    ei_x_encode_atom(x, "readable");
    ei_x_encode_boolean(x, (sub->flags & SENSORS_MODE_R) != 0);
    ei_x_encode_atom(x, "writable");
    ei_x_encode_boolean(x, (sub->flags & SENSORS_MODE_W) != 0);
    if (with_values) {
        double value = 0;
        int rc;

        errno = 0;
        rc = sensors_get_value(chip, sub->number, &value);
        ei_x_encode_atom(x, "value");
        sensors_x_reading(x, rc, value, errno);
    }
}

static void x_feature(ei_x_buff *x, const sensors_chip_name *chip, const sensors_feature *feature,
                      int with_values)
{
    const sensors_subfeature *sub;
    char *label = sensors_get_label(chip, feature);
    int n = 0, nr = 0;

    ei_x_encode_map_header(x, 4);
    ei_x_encode_atom(x, "name");
    sp_x_binary_str(x, feature->name);
    ei_x_encode_atom(x, "label");
    sp_x_binary_str(x, label ? label : feature->name);
    free(label);
    ei_x_encode_atom(x, "type");
    ei_x_encode_atom(x, sensors_feature_atom(feature->type));
    ei_x_encode_atom(x, "subfeatures");
    while (sensors_get_all_subfeatures(chip, feature, &nr))
        n++;
    if (n > 0) {
        ei_x_encode_list_header(x, n);
        nr = 0;
        while ((sub = sensors_get_all_subfeatures(chip, feature, &nr)))
            x_subfeature(x, chip, sub, with_values);
    }
    ei_x_encode_empty_list(x);
}

static void x_chip(ei_x_buff *x, const sensors_chip_name *chip, const char *name, int with_values)
{
    const sensors_feature *feature;
    const char *adapter = sensors_get_adapter_name(&chip->bus);
    int n = 0, nr = 0;

    ei_x_encode_map_header(x, 8);
    ei_x_encode_atom(x, "name");
    sp_x_binary_str(x, name);
    ei_x_encode_atom(x, "prefix");
    sp_x_binary_str(x, chip->prefix);
    ei_x_encode_atom(x, "bus");
    ei_x_encode_atom(x, sensors_bus_atom(chip->bus.type));
    ei_x_encode_atom(x, "bus_nr");
    ei_x_encode_long(x, chip->bus.nr);
    ei_x_encode_atom(x, "address");
    ei_x_encode_long(x, chip->addr);
    ei_x_encode_atom(x, "adapter");
    if (adapter)
        sp_x_binary_str(x, adapter);
    else
        ei_x_encode_atom(x, "undefined");
    ei_x_encode_atom(x, "path");
    sp_x_binary_str(x, chip->path ? chip->path : "");
    ei_x_encode_atom(x, "features");
    while (sensors_get_features(chip, &nr))
        n++;
    if (n > 0) {
        ei_x_encode_list_header(x, n);
        nr = 0;
        while ((feature = sensors_get_features(chip, &nr)))
            x_feature(x, chip, feature, with_values);
    }
    ei_x_encode_empty_list(x);
}

void sensors_x_chips(ei_x_buff *x, const sensors_name_list *only, int with_values)
{
    const sensors_chip_name *chip;
    char name[SENSORS_NAME_MAX];
    int n = 0, nr = 0;

    while ((chip = sensors_get_detected_chips(NULL, &nr)))
        n += wanted(chip, only, name);
    if (n > 0) {
        ei_x_encode_list_header(x, n);
        nr = 0;
        while ((chip = sensors_get_detected_chips(NULL, &nr)))
            if (wanted(chip, only, name))
                x_chip(x, chip, name, with_values);
    }
    ei_x_encode_empty_list(x);
}

const sensors_chip_name *sensors_find_chip(const char *name)
{
    const sensors_chip_name *chip;
    char printed[SENSORS_NAME_MAX];
    int nr = 0;

    while ((chip = sensors_get_detected_chips(NULL, &nr)))
        if (chip_name(chip, printed) == 0 && strcmp(printed, name) == 0)
            return chip;
    return NULL;
}

const sensors_subfeature *sensors_find_subfeature(const sensors_chip_name *chip, const char *name)
{
    const sensors_feature *feature;
    const sensors_subfeature *sub;
    int nr = 0;

    while ((feature = sensors_get_features(chip, &nr))) {
        int snr = 0;

        while ((sub = sensors_get_all_subfeatures(chip, feature, &snr)))
            if (strcmp(sub->name, name) == 0)
                return sub;
    }
    return NULL;
}
