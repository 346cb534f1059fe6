/*
 * libFuzzer target over the sensors helper's request decoding: the bytes
 * are one frame from the VM, parsed by sp_parse_message as the runtime
 * does, then decoded as {read, [Name]} or {set, Chip, Subfeature, Value}
 * arguments whatever the request's name, and each decoded name is run
 * through the lookups the helper uses.
 */
#include <stdint.h>
#include <string.h>

#include "hwmon_names.h"
#include "hwmon_request.h"
#include "sp_loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hwmon_name_list names;
    hwmon_set_request set;
    sp_request req;
    unsigned long long id;
    sp_dec args;

    if (sp_parse_message(data, size, &id, &req) == SP_MSG_INVALID)
        return 0;
    args = req.args;
    if (hwmon_decode_names(&args, &names) == 0) {
        for (int i = 0; i < names.count; i++) {
            char name[HWMON_NAME_MAX];

            memcpy(name, names.names[i].data, names.names[i].len);
            name[names.names[i].len] = 0;
            if (!hwmon_names_contain(&names, name))
                __builtin_trap(); /* every decoded name is found again */
            (void)hwmon_subfeature_kind(name, (int)names.names[i].len);
        }
    }
    args = req.args;
    if (hwmon_decode_set(&args, &set) == 0) {
        if (strlen(set.chip) >= HWMON_NAME_MAX || set.value != set.value)
            __builtin_trap();
        /* any subfeature type: the frame's last byte picks the class */
        (void)hwmon_value_fits((int)data[size - 1] << 8, set.value);
        (void)hwmon_subfeature_kind(set.subfeature, 0);
    }
    return 0;
}
