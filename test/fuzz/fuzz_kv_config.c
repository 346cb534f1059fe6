/* libFuzzer: the fw_env.config parser. Whatever it accepts describes one
 * or two copies of equal size with a device name that fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    kv_config cfg;
    kv_location loc;
    const char *why;
    char err[128];

    if (kv_config_parse((const char *)data, len, &cfg, err, sizeof(err)) == 0) {
        if (cfg.copies < 1 || cfg.copies > KV_MAX_COPIES)
            abort();
        if (cfg.copies == 2 && cfg.loc[0].size != cfg.loc[1].size)
            abort();
        for (int i = 0; i < cfg.copies; i++)
            if (strnlen(cfg.loc[i].device, sizeof(cfg.loc[i].device)) == sizeof(cfg.loc[i].device) ||
                cfg.loc[i].size == 0)
                abort();
    } else if (strnlen(err, sizeof(err)) == sizeof(err)) {
        abort();
    }
    if (kv_config_line((const char *)data, len, &loc, &why) == 1 && loc.device[0] == '\0')
        abort();
    return 0;
}
