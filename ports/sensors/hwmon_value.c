#include "hwmon_value.h"

#include <sensors/error.h>
#include <stdlib.h>
#include <string.h>

#include "hwmon_names.h"

/* Longer than any number a hwmon driver prints; more is not read. */
#define VALUE_MAX 127

int hwmon_value_parse(const char *text, size_t len, int subfeature_type, double *value)
{
    char buf[VALUE_MAX + 1], *end;

    if (len > VALUE_MAX)
        len = VALUE_MAX;
    memcpy(buf, text, len);
    buf[len] = 0;
    *value = strtod(buf, &end);
    if (end == buf)
        return -SENSORS_ERR_ACCESS_R;
    *value /= hwmon_sysfs_scale(subfeature_type);
    return 0;
}
