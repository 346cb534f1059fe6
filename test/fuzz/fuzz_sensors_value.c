/*
 * libFuzzer target over the hwmon attribute value reader: the text a
 * pread of a sysfs attribute returns (a driver's, or a file planted where
 * sysfs is faked), for any subfeature type. Invariant: the value is what
 * strtod reads from the text, scaled as libsensors scales it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hwmon_names.h"
#include "hwmon_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char copy[128], *end;
    double value, want;
    int type;

    if (size < 2)
        return 0;
    type = data[0] << 8 | data[1];
    data += 2;
    size -= 2;
    if (hwmon_value_parse((const char *)data, size, type, &value) < 0)
        return 0;
    memcpy(copy, data, size < 127 ? size : 127);
    copy[size < 127 ? size : 127] = 0;
    want = strtod(copy, &end) / hwmon_sysfs_scale(type);
    if (end == copy || (memcmp(&want, &value, sizeof(value)) != 0 && !(want != want && value != value)))
        abort();
    return 0;
}
