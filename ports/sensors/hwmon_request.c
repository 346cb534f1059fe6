#include "hwmon_request.h"

#include <math.h>
#include <string.h>

int hwmon_decode_names(sp_dec *d, hwmon_name_list *out)
{
    sp_dec c = *d;
    int n;

    if (sp_dec_list(&c, &n) < 0 || n > HWMON_MAX_NAMES)
        return -1;
    for (int i = 0; i < n; i++) {
        const char *data;
        size_t len;

        if (sp_dec_bytes(&c, &data, &len) < 0 || len == 0 || len >= HWMON_NAME_MAX ||
            memchr(data, 0, len))
            return -1;
        out->names[i].data = data;
        out->names[i].len = len;
    }
    if (n > 0 && sp_dec_list_tail(&c) < 0)
        return -1;
    out->count = n;
    *d = c;
    return 0;
}

int hwmon_names_contain(const hwmon_name_list *list, const char *name)
{
    size_t len = strlen(name);

    for (int i = 0; i < list->count; i++)
        if (list->names[i].len == len && memcmp(list->names[i].data, name, len) == 0)
            return 1;
    return 0;
}

int hwmon_decode_set(sp_dec *d, hwmon_set_request *out)
{
    sp_dec c = *d;

    if (sp_dec_cstring(&c, out->chip, sizeof(out->chip)) < 0 ||
        sp_dec_cstring(&c, out->subfeature, sizeof(out->subfeature)) < 0 ||
        sp_dec_double(&c, &out->value) < 0 || !isfinite(out->value))
        return -1;
    *d = c;
    return 0;
}
