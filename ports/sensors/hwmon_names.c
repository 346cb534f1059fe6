#include "hwmon_names.h"

#include <limits.h>
#include <math.h>
#include <sensors/error.h>
#include <sensors/sensors.h>
#include <string.h>

#include "sp_proto.h"

const char *hwmon_bus_atom(int bus_type)
{
    switch (bus_type) {
    case SENSORS_BUS_TYPE_I2C: return "i2c";
    case SENSORS_BUS_TYPE_ISA: return "isa";
    case SENSORS_BUS_TYPE_PCI: return "pci";
    case SENSORS_BUS_TYPE_SPI: return "spi";
    case SENSORS_BUS_TYPE_VIRTUAL: return "virtual";
    case SENSORS_BUS_TYPE_ACPI: return "acpi";
    case SENSORS_BUS_TYPE_HID: return "hid";
    case SENSORS_BUS_TYPE_MDIO: return "mdio";
    case SENSORS_BUS_TYPE_SCSI: return "scsi";
    default: return "unknown";
    }
}

const char *hwmon_feature_atom(int feature_type)
{
    switch (feature_type) {
    case SENSORS_FEATURE_IN: return "in";
    case SENSORS_FEATURE_FAN: return "fan";
    case SENSORS_FEATURE_TEMP: return "temp";
    case SENSORS_FEATURE_POWER: return "power";
    case SENSORS_FEATURE_ENERGY: return "energy";
    case SENSORS_FEATURE_CURR: return "curr";
    case SENSORS_FEATURE_HUMIDITY: return "humidity";
    case SENSORS_FEATURE_VID: return "vid";
    case SENSORS_FEATURE_INTRUSION: return "intrusion";
    case SENSORS_FEATURE_BEEP_ENABLE: return "beep_enable";
    default: return "unknown";
    }
}

const char *hwmon_subfeature_kind(const char *name, int subfeature_type)
{
    const char *underscore;

    if (subfeature_type == SENSORS_SUBFEATURE_BEEP_ENABLE)
        return "beep_enable";
    /* libsensors recognises "<type><channel>_<kind>" names only, so the
     * kind is everything after the first underscore. */
    underscore = strchr(name, '_');
    return underscore && underscore[1] ? underscore + 1 : name;
}

double hwmon_sysfs_scale(int subfeature_type)
{
    /* libsensors (lib/sysfs.c, get_type_scaling): the measured quantities
     * of in/temp/curr/humidity are in milli-units, power and energy in
     * micro-units, fans as they are; of the rest only a few have units. */
    switch (subfeature_type & 0xFF80) {
    case SENSORS_SUBFEATURE_IN_INPUT:
    case SENSORS_SUBFEATURE_TEMP_INPUT:
    case SENSORS_SUBFEATURE_CURR_INPUT:
    case SENSORS_SUBFEATURE_HUMIDITY_INPUT:
        return 1000;
    case SENSORS_SUBFEATURE_POWER_AVERAGE:
    case SENSORS_SUBFEATURE_ENERGY_INPUT:
        return 1000000;
    default:
        break;
    }
    switch (subfeature_type) {
    case SENSORS_SUBFEATURE_POWER_AVERAGE_INTERVAL:
    case SENSORS_SUBFEATURE_VID:
    case SENSORS_SUBFEATURE_TEMP_OFFSET:
        return 1000;
    default:
        return 1;
    }
}

int hwmon_value_fits(int subfeature_type, double value)
{
    double scaled = value * hwmon_sysfs_scale(subfeature_type);

    return isfinite(scaled) && scaled <= (double)INT_MAX && scaled >= (double)INT_MIN;
}

static const char *libsensors_error_atom(int err)
{
    switch (err) {
    case SENSORS_ERR_WILDCARDS: return "wildcards";
    case SENSORS_ERR_NO_ENTRY: return "no_entry";
    case SENSORS_ERR_ACCESS_R: return "unreadable";
    case SENSORS_ERR_KERNEL: return "kernel";
    case SENSORS_ERR_DIV_ZERO: return "div_zero";
    case SENSORS_ERR_CHIP_NAME: return "chip_name";
    case SENSORS_ERR_BUS_NAME: return "bus_name";
    case SENSORS_ERR_PARSE: return "parse";
    case SENSORS_ERR_ACCESS_W: return "not_writable";
    case SENSORS_ERR_IO: return "eio";
    case SENSORS_ERR_RECURSION: return "recursion";
    default: return "unknown";
    }
}

const char *hwmon_error_atom(int rc, int saved_errno)
{
    int err = rc < 0 ? -rc : rc;

    /* Only kernel-interface failures come from a system call whose errno
     * says more; "unreadable" and "not_writable" are libsensors' verdicts
     * (mode bits, unparsable contents) and errno means nothing there. */
    if ((err == SENSORS_ERR_KERNEL || err == SENSORS_ERR_IO) && saved_errno > 0) {
        const char *name = sp_errno_atom(saved_errno);

        if (strcmp(name, "unknown") != 0)
            return name;
    }
    return libsensors_error_atom(err);
}

void hwmon_x_reading(ei_x_buff *x, int rc, double value, int saved_errno)
{
    if (rc < 0) {
        sp_x_error(x, hwmon_error_atom(rc, saved_errno));
    } else if (!isfinite(value)) {
        sp_x_error(x, "not_finite");
    } else {
        ei_x_encode_double(x, value);
    }
}
