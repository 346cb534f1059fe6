/* Unit tests of the command-line options (sp_args) and the locale-free
 * text under them (sp_ascii): numbers and printable excerpts. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_args.h"
#include "sp_ascii.h"
#include "sp_loop.h"
#include "sp_test.h"

static int parse_u(const char *s, int base, unsigned long long max, unsigned long long *v)
{
    return sp_parse_uint(s, strlen(s), base, max, v);
}

static int parse_i(const char *s, long long min, long long max, long long *v)
{
    return sp_parse_int(s, strlen(s), min, max, v);
}

static void unsigned_numbers(void)
{
    unsigned long long v = 7;

    CHECK(parse_u("0", 10, 10, &v) == 0 && v == 0);
    CHECK(parse_u("18446744073709551615", 10, ULLONG_MAX, &v) == 0 && v == ULLONG_MAX);
    CHECK(parse_u("ff", 16, 255, &v) == 0 && v == 255);
    CHECK(parse_u("FF", 16, 255, &v) == 0 && v == 255);
    CHECK(parse_u("17", 8, 255, &v) == 0 && v == 15);
    v = 7;
    /* Whatever strtoull would let through around the digits is refused, and
     * a failure leaves the output alone. */
    const char *bad[] = {"", " 1", "1 ", "+1", "-1", "0x10", "1k", "1.0", "18446744073709551616",
                         "99999999999999999999999", "1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(parse_u(bad[i], 10, ULLONG_MAX, &v), -1);
    CHECK_EQ(v, 7);
    CHECK_EQ(parse_u("11", 10, 10, &v), -1);     /* over max */
    CHECK_EQ(parse_u("86400001", 10, 86400000, &v), -1);
    CHECK_EQ(parse_u("8", 8, 100, &v), -1);      /* not an octal digit */
    CHECK_EQ(parse_u("g", 16, 100, &v), -1);
    CHECK_EQ(parse_u("1", 1, 100, &v), -1);      /* no such base */
    CHECK_EQ(sp_parse_uint("12", 1, 10, 100, &v), 0); /* only len bytes count */
    CHECK_EQ(v, 1);
}

static void signed_numbers(void)
{
    long long v = 7;

    CHECK(parse_i("-1", -5, 5, &v) == 0 && v == -1);
    CHECK(parse_i("9223372036854775807", LLONG_MIN, LLONG_MAX, &v) == 0 && v == LLONG_MAX);
    CHECK(parse_i("-9223372036854775808", LLONG_MIN, LLONG_MAX, &v) == 0 && v == LLONG_MIN);
    v = 7;
    CHECK_EQ(parse_i("9223372036854775808", LLONG_MIN, LLONG_MAX, &v), -1);
    CHECK_EQ(parse_i("-9223372036854775809", LLONG_MIN, LLONG_MAX, &v), -1);
    CHECK_EQ(parse_i("-", LLONG_MIN, LLONG_MAX, &v), -1);
    CHECK_EQ(parse_i("--1", LLONG_MIN, LLONG_MAX, &v), -1);
    CHECK_EQ(parse_i("-6", -5, 5, &v), -1);
    CHECK_EQ(parse_i("6", -5, 5, &v), -1);
    CHECK_EQ(parse_i("-1", 0, 5, &v), -1);
    CHECK_EQ(v, 7);
}

static void printable_excerpts(void)
{
    char out[8];

    CHECK_EQ(sp_printable(out, sizeof(out), "ab\x01\x7f\xff~ ", 7, '.'), 7);
    CHECK(strcmp(out, "ab...~ ") == 0);
    /* Cut to the buffer, always terminated. */
    CHECK_EQ(sp_printable(out, sizeof(out), "0123456789", 10, '?'), 7);
    CHECK(strcmp(out, "0123456") == 0);
    CHECK_EQ(sp_printable(out, 1, "abc", 3, '?'), 0);
    CHECK_EQ(out[0], 0);
    CHECK_EQ(sp_printable(out, sizeof(out), "a\0b", 3, '?'), 3);
    CHECK(strcmp(out, "a?b") == 0);
}

static int seen_each;
static char each_values[64];

static void each(const char *value)
{
    seen_each++;
    strncat(each_values, value, sizeof(each_values) - strlen(each_values) - 1);
}

/* The options of a helper with one of every kind. */
static const char *text;
static int flag, choice;
static int64_t i64;
static uint64_t u64;
static const char *const colours[] = {"red", "green", "blue", NULL};
static const sp_option options[] = {
    SP_TEXT("device", &text),
    SP_FLAG("create", &flag),
    SP_INT("offset", &i64, -10, 10),
    SP_UINT("size", &u64, 4, 4096),
    SP_CHOICE("colour", &choice, colours),
    SP_EACH("location", each),
    {0},
};

static int parse(char *why, size_t size, ...)
{
    char *argv[16] = {"prog"};
    int argc = 1;
    va_list ap;

    va_start(ap, size);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
        argc++;
    va_end(ap);
    text = NULL, flag = 0, choice = -1, i64 = 0, u64 = 0, seen_each = 0, each_values[0] = 0;
    return sp_args_parse(options, argc, argv, why, size);
}

static void options_of_every_kind(void)
{
    char why[128];

    CHECK_EQ(parse(why, sizeof(why), (char *)NULL), 0);
    CHECK(text == NULL && flag == 0 && choice == -1);
    CHECK_EQ(parse(why, sizeof(why), "--device=/dev/x", "--create", "--offset=-3", "--size=4096", "--colour=blue",
                   "--location=a", "--location=b", (char *)NULL),
             0);
    CHECK(text && strcmp(text, "/dev/x") == 0);
    CHECK_EQ(flag, 1);
    CHECK_EQ(i64, -3);
    CHECK_EQ(u64, 4096);
    CHECK_EQ(choice, 2);
    CHECK_EQ(seen_each, 2);
    CHECK(strcmp(each_values, "ab") == 0);
    /* The last of a repeated option wins; a value may hold '='. */
    CHECK_EQ(parse(why, sizeof(why), "--device=a", "--device=b=c", (char *)NULL), 0);
    CHECK(strcmp(text, "b=c") == 0);
}

static int refused(const char *expected, ...)
{
    char *argv[16] = {"prog"}, why[128] = "";
    int argc = 1, rc;
    va_list ap;

    va_start(ap, expected);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
        argc++;
    va_end(ap);
    rc = sp_args_parse(options, argc, argv, why, sizeof(why));
    if (rc != -1 || strcmp(why, expected) != 0) {
        fprintf(stderr, "  got %d \"%s\", expected \"%s\"\n", rc, why, expected);
        return 0;
    }
    return 1;
}

static void bad_arguments_say_which(void)
{
    CHECK(refused("unknown option --frobnicate", "--frobnicate", (char *)NULL));
    CHECK(refused("unknown option --dev", "--dev=x", (char *)NULL));
    CHECK(refused("unexpected argument 'device'", "device", (char *)NULL));
    CHECK(refused("unexpected argument '-d'", "-d", (char *)NULL));
    CHECK(refused("unexpected argument '--'", "--", (char *)NULL));
    CHECK(refused("--device needs a value: --device=...", "--device", (char *)NULL));
    CHECK(refused("--device needs a value: --device=...", "--device=", (char *)NULL));
    CHECK(refused("--create takes no value", "--create=1", (char *)NULL));
    CHECK(refused("--size=3: not a whole number from 4 to 4096", "--size=3", (char *)NULL));
    CHECK(refused("--size=4097: not a whole number from 4 to 4096", "--size=4097", (char *)NULL));
    CHECK(refused("--size=1e3: not a whole number from 4 to 4096", "--size=1e3", (char *)NULL));
    CHECK(refused("--offset=-11: not a whole number from -10 to 10", "--offset=-11", (char *)NULL));
    CHECK(refused("--offset= 1: not a whole number from -10 to 10", "--offset= 1", (char *)NULL));
    CHECK(refused("--colour=pink: not red, green or blue", "--colour=pink", (char *)NULL));
    /* What came before the bad argument was taken. */
    CHECK(refused("unknown option --x", "--create", "--x", "--size=5", (char *)NULL));
    CHECK_EQ(flag, 1);
    CHECK_EQ(u64, 0);
}

/* sp_args exits 64 with the reason and the usage on stderr. */
static void usage_error_exits_64(void)
{
    int errpipe[2], status;
    char out[512] = "";
    ssize_t n, got = 0;
    pid_t child;

    CHECK_EQ(pipe(errpipe), 0);
    fflush(stdout); /* or the child's exit writes it again */
    child = fork();
    if (child == 0) {
        char *argv[] = {"prog", "--size=9999", NULL};

        dup2(errpipe[1], 2);
        sp_args(options, 2, argv, "usage: prog [--size=N]");
        _exit(0);
    }
    close(errpipe[1]);
    while ((n = read(errpipe[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
        got += n;
    close(errpipe[0]);
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == SP_EXIT_USAGE);
    CHECK(strstr(out, ": --size=9999: not a whole number from 4 to 4096\nusage: prog [--size=N]\n") != NULL);
}

int main(void)
{
    RUN(unsigned_numbers);
    RUN(signed_numbers);
    RUN(printable_excerpts);
    RUN(options_of_every_kind);
    RUN(bad_arguments_say_which);
    RUN(usage_error_exits_64);
    return sp_test_report("test_lib_args");
}
