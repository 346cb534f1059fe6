/*
 * sysport_sensors: hwmon readings through libsensors.
 *
 *   sysport_sensors [--config=FILE]    (no config: libsensors' default files)
 *
 * Requests (Chip and Readings are described in sensors_cache.h):
 *   chips                       -> {ok, {Stamp, [Chip]}}
 *   rescan                      -> {ok, {Stamp, [Chip]}}  after re-initialising libsensors
 *   read_all                    -> {ok, {Stamp, Readings}}
 *   {read, [ChipName]}          -> {ok, {Stamp, Readings}} of those chips only
 *   {set, Chip, Subfeature, V}  -> ok | {error, no_such_chip | no_such_subfeature
 *                                  | out_of_range | not_writable | eacces | ...}
 * Stamp = {OsPid, Generation} names one chip list: readings with a stamp
 * the caller has not seen belong to a list it must fetch first.
 * While libsensors cannot initialise (a config file that cannot be
 * opened) requests answer {error, {sensors_init, Reason}} until a rescan
 * succeeds. Errors in the config file are logged; libsensors skips the
 * statement and goes on, as `sensors' does.
 *
 * The helper keeps no timers: it reads only when asked, so an idle helper
 * never wakes up. Polling is the Erlang side's policy.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sensors/error.h>
#include <sensors/sensors.h>

#include "hwmon_cache.h"
#include "hwmon_names.h"
#include "hwmon_request.h"
#include "hwmon_sandbox.h"
#include "sp_args.h"
#include "sp_loop.h"

static struct {
    const char *config; /* NULL: libsensors' default configuration */
    int init_rc;        /* of the last sensors_init: 0, or < 0 */
    int init_errno;     /* when the config file could not be opened */
    long generation;    /* of the chip list, one more at every init */
} st;

static void on_parse_error(const char *why, const char *file, int line)
{
    sp_log("error", "%s:%d: %s", file ? file : (st.config ? st.config : "sensors config"), line, why);
}

static void on_fatal_error(const char *where, const char *why)
{
    sp_fatal(SP_EXIT_OSERR, "libsensors %s: %s", where, why);
}

static void init_sensors(void)
{
    FILE *config = NULL;

    hwmon_cache_free();
    sensors_cleanup();
    st.generation++;
    st.init_errno = 0;
    if (st.config) {
        config = fopen(st.config, "re");
        if (!config) {
            st.init_errno = errno;
            st.init_rc = -1;
            sp_log("error", "cannot open %s: %s", st.config, strerror(errno));
            return;
        }
    }
    st.init_rc = sensors_init(config);
    if (config)
        fclose(config);
    if (st.init_rc < 0)
        sp_log("error", "sensors_init: %s", sensors_strerror(st.init_rc));
    else
        hwmon_cache_build(st.config);
}

static const char *init_error(void)
{
    return st.init_errno ? sp_errno_atom(st.init_errno) : hwmon_error_atom(st.init_rc, 0);
}

/* {error, {sensors_init, Reason}}: libsensors is not initialised. */
static void reply_init_error(unsigned long long id)
{
    ei_x_buff x;

    sp_reply_error_begin(&x, id, "sensors_init");
    ei_x_encode_atom(&x, init_error());
    sp_send(&x);
}

enum chips_reply { CHIP_LIST, READINGS };

static void reply_chips(unsigned long long id, enum chips_reply what, const hwmon_name_list *only)
{
    ei_x_buff x;

    if (st.init_rc < 0) {
        reply_init_error(id);
        return;
    }
    sp_reply_ok_begin(&x, id);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_long(&x, (long)getpid());
    ei_x_encode_long(&x, st.generation);
    if (what == CHIP_LIST)
        hwmon_x_chips(&x);
    else
        hwmon_x_readings(&x, only);
    sp_send(&x);
}

static void set_value(unsigned long long id, const hwmon_set_request *req)
{
    const sensors_chip_name *chip;
    const sensors_subfeature *sub;
    int rc;

    if (st.init_rc < 0) {
        reply_init_error(id);
    } else if (!(chip = hwmon_find_chip(req->chip))) {
        sp_reply_error(id, "no_such_chip");
    } else if (!(sub = hwmon_find_subfeature(chip, req->subfeature))) {
        sp_reply_error(id, "no_such_subfeature");
    } else if (!hwmon_value_fits(sub->type, req->value)) {
        sp_reply_error(id, "out_of_range");
    } else {
        errno = 0;
        rc = sensors_set_value(chip, sub->number, req->value);
        if (rc < 0)
            sp_reply_error(id, hwmon_error_atom(rc, errno));
        else
            sp_reply_ok(id);
    }
}

static enum sp_handled call_chips(unsigned long long id, sp_request *req)
{
    (void)req;
    reply_chips(id, CHIP_LIST, NULL);
    return SP_HANDLED;
}

static enum sp_handled call_rescan(unsigned long long id, sp_request *req)
{
    (void)req;
    init_sensors();
    reply_chips(id, CHIP_LIST, NULL);
    return SP_HANDLED;
}

static enum sp_handled call_read_all(unsigned long long id, sp_request *req)
{
    (void)req;
    reply_chips(id, READINGS, NULL);
    return SP_HANDLED;
}

static enum sp_handled call_read(unsigned long long id, sp_request *req)
{
    static hwmon_name_list names; /* large, and the helper is single-threaded */

    if (hwmon_decode_names(&req->args, &names) < 0 || sp_request_end(req) < 0)
        return SP_BADARG;
    reply_chips(id, READINGS, &names);
    return SP_HANDLED;
}

static enum sp_handled call_set(unsigned long long id, sp_request *req)
{
    hwmon_set_request set;

    if (hwmon_decode_set(&req->args, &set) < 0 || sp_request_end(req) < 0)
        return SP_BADARG;
    set_value(id, &set);
    return SP_HANDLED;
}

static void ready_info(sp_map *m)
{
    sp_map_str(m, "libsensors", libsensors_version);
    if (st.config)
        sp_map_str(m, "config", st.config);
    else
        sp_map_atom(m, "config", "default");
    if (st.init_rc < 0) {
        sp_map_key(m, "init");
        ei_x_encode_tuple_header(m->x, 2);
        ei_x_encode_atom(m->x, "error");
        ei_x_encode_atom(m->x, init_error());
    } else {
        sp_map_atom(m, "init", "ok");
    }
}

static void cleanup_sensors(void)
{
    hwmon_cache_free();
    sensors_cleanup();
}

int main(int argc, char **argv)
{
    static const sp_call calls[] = {
        {"chips", 0, call_chips},
        {"read_all", 0, call_read_all},
        {"read", 1, call_read},
        {"set", 3, call_set},
        {"rescan", 0, call_rescan},
        {0},
    };
    static const sp_helper helper = {
        .name = "sysport_sensors",
        .version = "1",
        .max_frame = 64 * 1024,
        .calls = calls,
        .ready_info = ready_info,
        .shutdown = cleanup_sensors,
    };
    static const sp_option options[] = {SP_TEXT("config", &st.config), {0}};

    sp_init(helper.name);
    sp_args(options, argc, argv, "usage: sysport_sensors [--config=FILE]");
    sensors_parse_error_wfn = on_parse_error;
    sensors_fatal_error = on_fatal_error;
    init_sensors();
    sp_sandbox_enter(&hwmon_sandbox);
    sp_run(&helper);
}
