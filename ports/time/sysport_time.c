/*
 * sysport_time: the mechanism of the time keeper. SNTP exchanges, the RTC
 * and the system clock; every decision (which server, when to step) is
 * made by the Erlang service sysport_time.
 *
 *   sysport_time [--clock=system|recording] [--recording-offset=NS]
 *                [--rtc=/dev/rtcN|none] [--rtc-sysfs=DIR] [--rtc-local]
 *
 * Requests:
 *   now                                  -> {ok, UnixNs}
 *   {sntp, Address, Port, TimeoutMs}     -> see time_sntp.h (Address a
 *                                           numeric IPv4/IPv6 binary: names
 *                                           are resolved by the VM)
 *   {step, Ns} | {set, UnixNs}           -> ok | {error, Errno}
 *   {slew, Ns, TimeConstant, EstErrorUs} -> ok | {error, Errno}
 *   clock_status                         -> {ok, #{state, status, offset, ...}}
 *   recorded                             -> {ok, [#{op, ns, at, ...}]} (recording)
 *   rtc_read | rtc_write                 -> see time_rtcjob.h
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#include "sp_args.h"
#include "sp_loop.h"
#include "time_clock.h"
#include "time_rtc.h"
#include "time_rtcjob.h"
#include "time_sandbox.h"
#include "time_sntp.h"

#define NS_PER_S 1000000000LL

static struct {
    const char *rtc_dev;
    char rtc_sysfs[256];
    char rtc_driver[64];
    int forced_recording;
} opt;

static const char *op_name(enum time_clock_op op)
{
    return op == TIME_CLOCK_OP_STEP ? "step" : op == TIME_CLOCK_OP_SLEW ? "slew" : "set";
}

static int digits(const char *p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++)
        v = v * 10 + (p[i] == ' ' ? 0 : p[i] - '0');
    return v;
}

/* When this helper was built (UTC under SOURCE_DATE_EPOCH, else the build
 * host's local time): no clock reading earlier than this can be right.
 * Parsed by hand: sscanf and timegm would cost the helper 400 KiB of
 * resident libc for one number. */
static long long build_time(void)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *date = __DATE__, *time = __TIME__; /* "Mmm dd yyyy", "hh:mm:ss" */
    int mon = 0;

    while (mon < 12 && memcmp(months + 3 * mon, date, 3) != 0)
        mon++;
    return time_rtc_days_from_civil(digits(date + 7, 4), mon + 1, digits(date + 4, 2)) * 86400 +
           digits(time, 2) * 3600 + digits(time + 3, 2) * 60 + digits(time + 6, 2);
}

static void ready_info(sp_map *m)
{
    sp_map_atom(m, "clock", time_clock_backend_name());
    sp_map_bool(m, "clock_forced", opt.forced_recording);
    sp_map_int(m, "build_time", build_time());
    if (opt.rtc_dev)
        sp_map_str(m, "rtc", opt.rtc_dev);
    else
        sp_map_atom(m, "rtc", "none");
    sp_map_str(m, "rtc_driver", opt.rtc_driver);
}

static void reply_result(unsigned long long id, int rc)
{
    if (rc < 0)
        sp_reply_errno(id, -rc);
    else
        sp_reply_ok(id);
}

static enum sp_handled call_clock_status(unsigned long long id, sp_request *req)
{
    struct time_clock_status st;
    ei_x_buff x;
    sp_map m;
    int rc = time_clock_read_status(&st);

    (void)req;
    if (rc < 0) {
        sp_reply_errno(id, -rc);
        return SP_HANDLED;
    }
    sp_reply_ok_begin(&x, id);
    sp_map_begin(&m, &x);
    sp_map_int(&m, "state", st.state);
    sp_map_bool(&m, "synchronized", st.state != TIME_ERROR && !(st.status & STA_UNSYNC));
    sp_map_int(&m, "status", st.status);
    sp_map_int(&m, "offset", st.offset_ns);
    sp_map_int(&m, "freq_ppb", st.freq_ppb);
    sp_map_int(&m, "maxerror_us", st.maxerror_us);
    sp_map_int(&m, "esterror_us", st.esterror_us);
    sp_map_int(&m, "constant", st.constant);
    sp_map_end(&m);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_recorded(unsigned long long id, sp_request *req)
{
    const struct time_clock_record *r;
    int n = time_clock_records(&r);
    ei_x_buff x;

    (void)req;
    if (time_clock_backend() != TIME_CLOCK_BACKEND_RECORDING) {
        sp_reply_error(id, "not_recording");
        return SP_HANDLED;
    }
    sp_reply_ok_begin(&x, id);
    if (n > 0)
        ei_x_encode_list_header(&x, n);
    for (int i = 0; i < n; i++) {
        sp_map m;

        sp_map_begin(&m, &x);
        sp_map_atom(&m, "op", op_name(r[i].op));
        sp_map_int(&m, "ns", r[i].ns);
        sp_map_int(&m, "at", r[i].at_ns);
        sp_map_int(&m, "constant", r[i].constant);
        sp_map_int(&m, "esterror_us", r[i].esterror_us);
        sp_map_end(&m);
    }
    ei_x_encode_empty_list(&x);
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_sntp(unsigned long long id, sp_request *req)
{
    char addr[64];
    long long port, timeout;
    int rc;

    if (sp_dec_cstring(&req->args, addr, sizeof(addr)) < 0 || sp_dec_long(&req->args, &port) < 0 ||
        sp_dec_long(&req->args, &timeout) < 0 || port < 1 || port > 65535 || timeout < 1 || timeout > 60000)
        return SP_BADARG;
    rc = time_sntp_start(id, addr, (int)port, (long)timeout);
    if (rc == -EINVAL)
        return SP_BADARG;
    if (rc < 0)
        sp_reply_errno(id, -rc);
    return SP_HANDLED;
}

static enum sp_handled call_now(unsigned long long id, sp_request *req)
{
    ei_x_buff x;

    (void)req;
    sp_reply_ok_begin(&x, id);
    ei_x_encode_longlong(&x, time_clock_now_ns());
    sp_send(&x);
    return SP_HANDLED;
}

static enum sp_handled call_step(unsigned long long id, sp_request *req)
{
    long long ns;

    if (sp_dec_long(&req->args, &ns) < 0)
        return SP_BADARG;
    reply_result(id, time_clock_step(ns));
    return SP_HANDLED;
}

static enum sp_handled call_set(unsigned long long id, sp_request *req)
{
    long long ns;

    if (sp_dec_long(&req->args, &ns) < 0 || ns < 0)
        return SP_BADARG;
    reply_result(id, time_clock_set(ns));
    return SP_HANDLED;
}

static enum sp_handled call_slew(unsigned long long id, sp_request *req)
{
    long long ns, constant, esterror;

    if (sp_dec_long(&req->args, &ns) < 0 || sp_dec_long(&req->args, &constant) < 0 ||
        sp_dec_long(&req->args, &esterror) < 0 || constant < 0 || constant > 10 || esterror < 0 ||
        esterror > 16000000)
        return SP_BADARG;
    reply_result(id, time_clock_slew(ns, (int)constant, (long)esterror));
    return SP_HANDLED;
}

/* An RTC job already running answers busy. */
static enum sp_handled call_rtc_read(unsigned long long id, sp_request *req)
{
    (void)req;
    if (time_rtcjob_read(id) < 0)
        sp_reply_error(id, "busy");
    return SP_HANDLED;
}

static enum sp_handled call_rtc_write(unsigned long long id, sp_request *req)
{
    (void)req;
    if (time_rtcjob_write(id) < 0)
        sp_reply_error(id, "busy");
    return SP_HANDLED;
}

static void finish_up(void)
{
    time_sntp_close_all();
}

static const char usage[] = "usage: sysport_time [--clock=system|recording] [--recording-offset=NS] "
                            "[--rtc=/dev/rtcN|none] [--rtc-sysfs=DIR] [--rtc-local]";

int main(int argc, char **argv)
{
    static const sp_call calls[] = {
        {"now", 0, call_now},
        {"sntp", 3, call_sntp},
        {"step", 1, call_step},
        {"set", 1, call_set},
        {"slew", 3, call_slew},
        {"clock_status", 0, call_clock_status},
        {"recorded", 0, call_recorded},
        {"rtc_read", 0, call_rtc_read},
        {"rtc_write", 0, call_rtc_write},
        {0},
    };
    static const sp_helper helper = {
        .name = "sysport_time",
        .version = "1",
        .calls = calls,
        .ready_info = ready_info,
        .shutdown = finish_up,
    };
    /* In the order of enum time_clock_backend. */
    static const char *const backends[] = {"system", "recording", NULL};
    int backend = TIME_CLOCK_BACKEND_SYSTEM;
    int64_t recording_offset = 0;
    const char *sysfs = NULL, *forced = getenv("SYSPORT_TIME_CLOCK");
    struct time_rtcjob_config rtc = {.busy_retries = 10, .busy_wait_ms = 50};
    const sp_option options[] = {
        SP_CHOICE("clock", &backend, backends),
        SP_INT("recording-offset", &recording_offset, INT64_MIN, INT64_MAX),
        SP_TEXT("rtc", &opt.rtc_dev),
        SP_TEXT("rtc-sysfs", &sysfs),
        SP_FLAG("rtc-local", &rtc.local),
        {0},
    };

    sp_init(helper.name);
    sp_args(options, argc, argv, usage);
    if (opt.rtc_dev && strcmp(opt.rtc_dev, "none") == 0)
        opt.rtc_dev = NULL;
    if (forced && strcmp(forced, "recording") == 0 && backend != TIME_CLOCK_BACKEND_RECORDING) {
        backend = TIME_CLOCK_BACKEND_RECORDING;
        opt.forced_recording = 1;
    }
    time_clock_init(backend, recording_offset);

    if (opt.rtc_dev) {
        const char *base = strrchr(opt.rtc_dev, '/');
        int n = sysfs ? snprintf(opt.rtc_sysfs, sizeof(opt.rtc_sysfs), "%s", sysfs)
                      : snprintf(opt.rtc_sysfs, sizeof(opt.rtc_sysfs), "/sys/class/rtc/%s",
                                 base ? base + 1 : opt.rtc_dev);

        if (n < 0 || n >= (int)sizeof(opt.rtc_sysfs))
            sp_usage_error(usage, "--rtc-sysfs: path too long");
        if (time_rtc_sysfs_name(opt.rtc_sysfs, opt.rtc_driver, sizeof(opt.rtc_driver)) < 0)
            opt.rtc_driver[0] = 0;
        rtc.dev = opt.rtc_dev;
        rtc.sysfs = opt.rtc_sysfs;
        rtc.delay_ns = strncmp(opt.rtc_driver, "rtc_cmos", 8) == 0 ? TIME_RTC_CMOS_DELAY_NS : 0;
    }
    time_rtcjob_init(&rtc);
    if (opt.forced_recording)
        sp_log("notice", "SYSPORT_TIME_CLOCK=recording: the recording clock backend replaces the system one");
    sp_sandbox_enter(&time_sandbox);
    sp_run(&helper);
}
