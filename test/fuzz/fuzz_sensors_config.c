/*
 * libFuzzer target over the scan of libsensors configuration text for
 * compute statements: any bytes, every name found must lie inside the
 * text and be a non-empty run of name characters.
 */
#include <stdint.h>
#include <string.h>

#include "hwmon_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bounds {
    const char *start, *end;
};

static void check(const char *name, size_t len, void *ctx)
{
    const struct bounds *b = ctx;

    if (len == 0 || name < b->start || name + len > b->end)
        __builtin_trap();
    for (size_t i = 0; i < len; i++)
        if (!(name[i] == '_' || (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= 'A' && name[i] <= 'Z')))
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bounds b = {(const char *)data, (const char *)data + size};

    hwmon_config_computes((const char *)data, size, check, &b);
    return 0;
}
