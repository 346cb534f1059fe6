/*
 * libFuzzer target over a helper's command line (the Erlang side builds it
 * from user options): the input, split at NULs, is argv for sp_args_parse
 * with a table of every option kind. Whatever it accepts must be in range;
 * each argument is also read as a number by sp_parse_uint/sp_parse_int and
 * checked against strtoull/strtoll on the strings both must accept.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sp_args.h"
#include "sp_ascii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 16

static void each(const char *value)
{
    if (!*value)
        abort(); /* an empty value never reaches the table */
}

static int only_digits(const char *s, int allow_minus)
{
    if (allow_minus && *s == '-')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void numbers(const char *s)
{
    size_t len = strlen(s);
    unsigned long long u, su;
    long long i, si;
    char *end;
    int ok;

    ok = sp_parse_uint(s, len, 10, ULLONG_MAX, &u) == 0;
    errno = 0;
    su = strtoull(s, &end, 10);
    if (ok != (only_digits(s, 0) && errno == 0) || (ok && su != u))
        abort();
    ok = sp_parse_int(s, len, LLONG_MIN, LLONG_MAX, &i) == 0;
    errno = 0;
    si = strtoll(s, &end, 10);
    if (ok != (only_digits(s, 1) && errno == 0) || (ok && si != i))
        abort();
    if (sp_parse_uint(s, len, 16, 0xffff, &u) == 0 && u > 0xffff)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const choices[] = {"system", "recording", NULL};
    char *copy = malloc(size + 1), *argv[MAX_ARGS + 1] = {"prog"}, why[256] = "";
    const char *text = NULL;
    int flag = 0, choice = -1, argc = 1;
    int64_t i = 0;
    uint64_t u = 5;
    const sp_option options[] = {
        SP_TEXT("file", &text),
        SP_FLAG("create", &flag),
        SP_INT("offset", &i, -1000, 1000),
        SP_UINT("size", &u, 5, 1u << 30),
        SP_CHOICE("clock", &choice, choices),
        SP_EACH("location", each),
        {0},
    };

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (char *p = copy; argc < MAX_ARGS && p <= copy + size; p += strlen(p) + 1)
        argv[argc++] = p;
    for (int a = 1; a < argc; a++)
        numbers(argv[a]);
    if (sp_args_parse(options, argc, argv, why, sizeof(why)) == 0) {
        if ((text && !*text) || i < -1000 || i > 1000 || u < 5 || u > (1u << 30) || choice < -1 || choice > 1)
            abort();
    } else if (!why[0]) {
        abort(); /* a refusal always says why */
    }
    free(copy);
    return 0;
}
