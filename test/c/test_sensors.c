/* Unit tests of the sensors helper's pure parts: libsensors numbers as
 * atoms, readings as terms, the write range, and request decoding. */
#include <limits.h>
#include <math.h>
#include <sensors/error.h>
#include <sensors/sensors.h>

#include "hwmon_config.h"
#include "hwmon_names.h"
#include "hwmon_request.h"
#include "hwmon_value.h"
#include "sp_term.h"
#include "sp_test.h"

#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

static void subfeature_kinds(void)
{
    CHECK_STR(hwmon_subfeature_kind("temp1_input", SENSORS_SUBFEATURE_TEMP_INPUT), "input");
    CHECK_STR(hwmon_subfeature_kind("temp12_crit_alarm", SENSORS_SUBFEATURE_TEMP_CRIT_ALARM), "crit_alarm");
    CHECK_STR(hwmon_subfeature_kind("power1_average_interval", SENSORS_SUBFEATURE_POWER_AVERAGE_INTERVAL),
              "average_interval");
    CHECK_STR(hwmon_subfeature_kind("cpu0_vid", SENSORS_SUBFEATURE_VID), "vid");
    CHECK_STR(hwmon_subfeature_kind("intrusion0_alarm", SENSORS_SUBFEATURE_INTRUSION_ALARM), "alarm");
    /* The chip-wide switch has no channel: the whole name is its kind. */
    CHECK_STR(hwmon_subfeature_kind("beep_enable", SENSORS_SUBFEATURE_BEEP_ENABLE), "beep_enable");
    CHECK_STR(hwmon_subfeature_kind("odd", SENSORS_SUBFEATURE_UNKNOWN), "odd");
    CHECK_STR(hwmon_subfeature_kind("odd_", SENSORS_SUBFEATURE_UNKNOWN), "odd_");
}

static void type_atoms(void)
{
    CHECK_STR(hwmon_bus_atom(SENSORS_BUS_TYPE_I2C), "i2c");
    CHECK_STR(hwmon_bus_atom(SENSORS_BUS_TYPE_VIRTUAL), "virtual");
    CHECK_STR(hwmon_bus_atom(SENSORS_BUS_TYPE_SCSI), "scsi");
    CHECK_STR(hwmon_bus_atom(99), "unknown");
    CHECK_STR(hwmon_feature_atom(SENSORS_FEATURE_TEMP), "temp");
    CHECK_STR(hwmon_feature_atom(SENSORS_FEATURE_HUMIDITY), "humidity");
    CHECK_STR(hwmon_feature_atom(SENSORS_FEATURE_BEEP_ENABLE), "beep_enable");
    CHECK_STR(hwmon_feature_atom(SENSORS_FEATURE_UNKNOWN), "unknown");
}

static void error_reasons(void)
{
    /* errno only where libsensors hit a system call that failed */
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_KERNEL, ENOENT), "enoent");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_KERNEL, EACCES), "eacces");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_IO, EIO), "eio");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_IO, 0), "eio");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_KERNEL, 0), "kernel");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_KERNEL, 100000), "kernel");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_ACCESS_R, EIO), "unreadable");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_ACCESS_W, EPERM), "not_writable");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_DIV_ZERO, 0), "div_zero");
    CHECK_STR(hwmon_error_atom(-SENSORS_ERR_PARSE, 0), "parse");
    CHECK_STR(hwmon_error_atom(SENSORS_ERR_RECURSION, 0), "recursion");
    CHECK_STR(hwmon_error_atom(-4242, 0), "unknown");
}

/* Decodes a reading encoded by hwmon_x_reading: 0 and *value, or 1 and
 * the reason in reason. */
static int decode_reading(ei_x_buff *x, double *value, char reason[MAXATOMLEN_UTF8])
{
    sp_dec d;
    int arity;

    sp_dec_init_raw(&d, x->buff, (size_t)x->index, 0);
    if (sp_dec_double(&d, value) == 0 && sp_dec_done(&d))
        return 0;
    if (sp_dec_tuple(&d, &arity) == 0 && arity == 2 && sp_dec_atom_is(&d, "error") == 0 &&
        sp_dec_atom(&d, reason) == 0 && sp_dec_done(&d))
        return 1;
    return -1;
}

static void readings(void)
{
    ei_x_buff x;
    double v = 0;
    char reason[MAXATOMLEN_UTF8];

    ei_x_new(&x);
    hwmon_x_reading(&x, 0, 45.5, 0);
    CHECK_EQ(decode_reading(&x, &v, reason), 0);
    CHECK(v == 45.5);
    ei_x_free(&x);

    ei_x_new(&x);
    hwmon_x_reading(&x, -SENSORS_ERR_ACCESS_R, 0, 0);
    CHECK_EQ(decode_reading(&x, &v, reason), 1);
    CHECK_STR(reason, "unreadable");
    ei_x_free(&x);

    /* "nan" and "inf" parse as doubles but cannot be encoded or compared */
    ei_x_new(&x);
    hwmon_x_reading(&x, 0, NAN, 0);
    CHECK_EQ(decode_reading(&x, &v, reason), 1);
    CHECK_STR(reason, "not_finite");
    ei_x_free(&x);

    ei_x_new(&x);
    hwmon_x_reading(&x, 0, -INFINITY, 0);
    CHECK_EQ(decode_reading(&x, &v, reason), 1);
    CHECK_STR(reason, "not_finite");
    ei_x_free(&x);
}

static void write_range(void)
{
    /* millidegrees: 2147483 degrees is the most an int holds */
    CHECK(hwmon_sysfs_scale(SENSORS_SUBFEATURE_TEMP_MAX) == 1000);
    CHECK(hwmon_value_fits(SENSORS_SUBFEATURE_TEMP_MAX, 2147483.0));
    CHECK(!hwmon_value_fits(SENSORS_SUBFEATURE_TEMP_MAX, 2147484.0));
    CHECK(hwmon_value_fits(SENSORS_SUBFEATURE_TEMP_MIN, -2147483.0));
    CHECK(!hwmon_value_fits(SENSORS_SUBFEATURE_TEMP_MIN, -2147484.0));
    /* microwatts */
    CHECK(hwmon_sysfs_scale(SENSORS_SUBFEATURE_POWER_MAX) == 1000000);
    CHECK(hwmon_value_fits(SENSORS_SUBFEATURE_POWER_CAP, 2147.0));
    CHECK(!hwmon_value_fits(SENSORS_SUBFEATURE_POWER_CAP, 2148.0));
    /* unscaled: fans, alarms, beeps */
    CHECK(hwmon_sysfs_scale(SENSORS_SUBFEATURE_FAN_MIN) == 1);
    CHECK(hwmon_sysfs_scale(SENSORS_SUBFEATURE_TEMP_BEEP) == 1);
    CHECK(hwmon_value_fits(SENSORS_SUBFEATURE_FAN_MIN, (double)INT_MAX));
    CHECK(!hwmon_value_fits(SENSORS_SUBFEATURE_FAN_MIN, (double)INT_MAX + 1));
    /* second-class subfeatures with their own units */
    CHECK(hwmon_sysfs_scale(SENSORS_SUBFEATURE_TEMP_OFFSET) == 1000);
    CHECK(hwmon_sysfs_scale(SENSORS_SUBFEATURE_POWER_AVERAGE_INTERVAL) == 1000);
    CHECK(!hwmon_value_fits(SENSORS_SUBFEATURE_IN_MAX, NAN));
    CHECK(!hwmon_value_fits(SENSORS_SUBFEATURE_IN_MAX, INFINITY));
}

static void decoder_over(ei_x_buff *x, sp_dec *d)
{
    CHECK_EQ(sp_dec_init(d, x->buff, (size_t)x->index), 0);
}

static void name_lists(void)
{
    static hwmon_name_list list;
    ei_x_buff x;
    sp_dec d;

    ei_x_new_with_version(&x);
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_binary(&x, "lm75-i2c-1-48", 13);
    ei_x_encode_binary(&x, "coretemp-isa-0000", 17);
    ei_x_encode_empty_list(&x);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_names(&d, &list), 0);
    CHECK(sp_dec_done(&d));
    CHECK_EQ(list.count, 2);
    CHECK(hwmon_names_contain(&list, "lm75-i2c-1-48"));
    CHECK(hwmon_names_contain(&list, "coretemp-isa-0000"));
    CHECK(!hwmon_names_contain(&list, "lm75-i2c-1-4"));
    CHECK(!hwmon_names_contain(&list, "lm75-i2c-1-480"));
    ei_x_free(&x);

    ei_x_new_with_version(&x);
    ei_x_encode_empty_list(&x);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_names(&d, &list), 0);
    CHECK_EQ(list.count, 0);
    CHECK(!hwmon_names_contain(&list, "x"));
    ei_x_free(&x);
}

/* Encodes [Bin] with one element of len bytes, all c. */
static void one_name(ei_x_buff *x, char c, size_t len)
{
    char buf[HWMON_NAME_MAX + 8];

    memset(buf, c, sizeof(buf));
    ei_x_new_with_version(x);
    ei_x_encode_list_header(x, 1);
    ei_x_encode_binary(x, buf, (long)len);
    ei_x_encode_empty_list(x);
}

static void name_lists_refused(void)
{
    static hwmon_name_list list;
    ei_x_buff x;
    sp_dec d;
    int start;

    one_name(&x, 'a', HWMON_NAME_MAX - 1);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_names(&d, &list), 0);
    ei_x_free(&x);

    const struct {
        char c;
        size_t len;
    } bad[] = {{'a', HWMON_NAME_MAX}, {'a', 0}, {'\0', 5}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        one_name(&x, bad[i].c, bad[i].len);
        decoder_over(&x, &d);
        start = d.index;
        CHECK_EQ(hwmon_decode_names(&d, &list), -1);
        CHECK_EQ(d.index, start); /* nothing consumed */
        ei_x_free(&x);
    }

    /* more names than the helper takes */
    ei_x_new_with_version(&x);
    ei_x_encode_list_header(&x, HWMON_MAX_NAMES + 1);
    for (int i = 0; i <= HWMON_MAX_NAMES; i++)
        ei_x_encode_binary(&x, "c", 1);
    ei_x_encode_empty_list(&x);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_names(&d, &list), -1);
    ei_x_free(&x);

    /* an improper list, a non-binary element, a string */
    ei_x_new_with_version(&x);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_binary(&x, "c", 1);
    ei_x_encode_atom(&x, "tail");
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_names(&d, &list), -1);
    ei_x_free(&x);

    ei_x_new_with_version(&x);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_long(&x, 42);
    ei_x_encode_empty_list(&x);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_names(&d, &list), -1);
    ei_x_free(&x);

    ei_x_new_with_version(&x);
    ei_x_encode_string(&x, "abc");
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_names(&d, &list), -1);
    ei_x_free(&x);
}

static void set_arguments(void)
{
    hwmon_set_request req;
    ei_x_buff x;
    sp_dec d;

    ei_x_new_with_version(&x);
    ei_x_encode_binary(&x, "lm75-i2c-1-48", 13);
    ei_x_encode_binary(&x, "temp1_max", 9);
    ei_x_encode_long(&x, 85);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_set(&d, &req), 0);
    CHECK(sp_dec_done(&d));
    CHECK_STR(req.chip, "lm75-i2c-1-48");
    CHECK_STR(req.subfeature, "temp1_max");
    CHECK(req.value == 85.0);
    ei_x_free(&x);

    ei_x_new_with_version(&x);
    ei_x_encode_binary(&x, "c", 1);
    ei_x_encode_binary(&x, "s", 1);
    ei_x_encode_double(&x, -12.25);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_set(&d, &req), 0);
    CHECK(req.value == -12.25);
    ei_x_free(&x);

    /* a NaN smuggled in as NEW_FLOAT_EXT bits */
    ei_x_new_with_version(&x);
    ei_x_encode_binary(&x, "c", 1);
    ei_x_encode_binary(&x, "s", 1);
    {
        const char nan_float[] = {NEW_FLOAT_EXT, 0x7f, (char)0xf8, 0, 0, 0, 0, 0, 0};
        ei_x_append_buf(&x, nan_float, sizeof(nan_float));
    }
    decoder_over(&x, &d);
    int start = d.index;
    CHECK_EQ(hwmon_decode_set(&d, &req), -1);
    CHECK_EQ(d.index, start);
    ei_x_free(&x);

    /* a value that is not a number, a name that is not a binary */
    ei_x_new_with_version(&x);
    ei_x_encode_binary(&x, "c", 1);
    ei_x_encode_binary(&x, "s", 1);
    ei_x_encode_binary(&x, "80", 2);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_set(&d, &req), -1);
    ei_x_free(&x);

    ei_x_new_with_version(&x);
    ei_x_encode_binary(&x, "c", 1);
    ei_x_encode_atom(&x, "temp1_max");
    ei_x_encode_long(&x, 80);
    decoder_over(&x, &d);
    CHECK_EQ(hwmon_decode_set(&d, &req), -1);
    ei_x_free(&x);
}

/* The names found, joined with spaces. */
static void collect(const char *name, size_t len, void *ctx)
{
    char *out = ctx;

    if (*out)
        strcat(out, " ");
    strncat(out, name, len);
}

static const char *computes(const char *text, size_t len)
{
    static char found[512];

    found[0] = 0;
    hwmon_config_computes(text, len, collect, found);
    return found;
}

#define COMPUTES(text) computes((text), sizeof(text) - 1)

static void compute_statements(void)
{
    CHECK_STR(COMPUTES("chip \"w83627ehf-*\"\n    compute in1 @*2, @/2\n    label in1 \"+5V\"\n"), "in1");
    CHECK_STR(COMPUTES("compute in0 ^@, `@\ncompute\ttemp3 (@-32)/1.8, @*1.8+32\n"), "in0 temp3");
    /* keywords are matched whatever their case, names quoted or not, on
     * a continued line */
    CHECK_STR(COMPUTES("  COMPUTE in2 @*3, @/3"), "in2");
    CHECK_STR(COMPUTES("compute \"in5\" @, @"), "in5");
    CHECK_STR(COMPUTES("compute \\\n   in4 @*2, @/2"), "in4");
    /* too many is fine: commented out, inside a label */
    CHECK_STR(COMPUTES("# compute in7 @*2, @/2\n"), "in7");
    CHECK_STR(COMPUTES("label in6 \"compute fan1\""), "fan1");
    /* other words */
    CHECK_STR(COMPUTES("computed in2\nrecompute in3\ncompute_in4\nlabel compute9 \"x\""), "");
    CHECK_STR(COMPUTES("compute"), "");
    CHECK_STR(COMPUTES("compute   "), "");
    CHECK_STR(COMPUTES(""), "");
    /* the length bounds the scan, NULs included */
    CHECK_STR(computes("compute in1 @ compute in2", 14), "in1");
    CHECK_STR(COMPUTES("x\0compute in3 @"), "in3");
    CHECK_STR(computes("compute in1", 9), "i");
}

static void sysfs_values(void)
{
    double v = -1;
    char big[300];

    CHECK_EQ(hwmon_value_parse("45500\n", 6, SENSORS_SUBFEATURE_TEMP_INPUT, &v), 0);
    CHECK(v == 45.5);
    CHECK_EQ(hwmon_value_parse("-12000\n", 7, SENSORS_SUBFEATURE_IN_INPUT, &v), 0);
    CHECK(v == -12.0);
    CHECK_EQ(hwmon_value_parse("2400\n", 5, SENSORS_SUBFEATURE_FAN_INPUT, &v), 0);
    CHECK(v == 2400.0);
    CHECK_EQ(hwmon_value_parse("1\n", 2, SENSORS_SUBFEATURE_TEMP_ALARM, &v), 0);
    CHECK(v == 1.0);
    /* Only len bytes are read: no NUL needed. */
    CHECK_EQ(hwmon_value_parse("45500999", 5, SENSORS_SUBFEATURE_TEMP_INPUT, &v), 0);
    CHECK(v == 45.5);
    v = 7;
    CHECK_EQ(hwmon_value_parse("", 0, SENSORS_SUBFEATURE_TEMP_INPUT, &v), -SENSORS_ERR_ACCESS_R);
    CHECK_EQ(hwmon_value_parse("\n", 1, SENSORS_SUBFEATURE_TEMP_INPUT, &v), -SENSORS_ERR_ACCESS_R);
    CHECK_EQ(hwmon_value_parse("N/A\n", 4, SENSORS_SUBFEATURE_TEMP_INPUT, &v), -SENSORS_ERR_ACCESS_R);
    /* A planted file longer than any value: the first 127 bytes are read. */
    memset(big, '1', sizeof(big));
    CHECK_EQ(hwmon_value_parse(big, sizeof(big), SENSORS_SUBFEATURE_FAN_INPUT, &v), 0);
    CHECK(v > 1e126 && v < 1.2e127);
}

int main(void)
{
    RUN(subfeature_kinds);
    RUN(type_atoms);
    RUN(error_reasons);
    RUN(readings);
    RUN(sysfs_values);
    RUN(write_range);
    RUN(name_lists);
    RUN(name_lists_refused);
    RUN(set_arguments);
    RUN(compute_statements);
    return sp_test_report("test_sensors");
}
