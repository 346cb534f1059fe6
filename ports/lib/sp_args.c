/* Command-line options from a table: see sp_args.h. */
#include "sp_args.h"

#include <err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sp_ascii.h"
#include "sp_loop.h"

static const sp_option *find(const sp_option *options, const char *name, size_t len)
{
    for (const sp_option *o = options; o->name; o++)
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static int choose(const sp_option *o, const char *value)
{
    for (int i = 0; o->choices[i]; i++)
        if (strcmp(o->choices[i], value) == 0)
            return i;
    return -1;
}

/* The choices as "a, b or c" for a message. */
static void list_choices(const sp_option *o, char *out, size_t size)
{
    size_t n = 0;

    out[0] = '\0';
    for (int i = 0; o->choices[i] && n < size; i++) {
        const char *sep = i == 0 ? "" : o->choices[i + 1] ? ", " : " or ";
        int w = snprintf(out + n, size - n, "%s%s", sep, o->choices[i]);

        n += w < 0 ? size : (size_t)w;
    }
}

/* Stores one value; 0, or -1 with why. */
static int take(const sp_option *o, const char *value, char *why, size_t why_size)
{
    size_t len = strlen(value);
    unsigned long long u;
    long long i;
    int c;

    switch (o->type) {
    case SP_OPT_TEXT:
        *o->text = value;
        return 0;
    case SP_OPT_EACH:
        o->each(value);
        return 0;
    case SP_OPT_INT:
        if (sp_parse_int(value, len, o->min, o->max, &i) == 0) {
            *o->i = i;
            return 0;
        }
        snprintf(why, why_size, "--%s=%s: not a whole number from %lld to %lld", o->name, value, (long long)o->min,
                 (long long)o->max);
        return -1;
    case SP_OPT_UINT:
        if (sp_parse_uint(value, len, 10, o->umax, &u) == 0 && u >= o->umin) {
            *o->u = u;
            return 0;
        }
        snprintf(why, why_size, "--%s=%s: not a whole number from %llu to %llu", o->name, value,
                 (unsigned long long)o->umin, (unsigned long long)o->umax);
        return -1;
    case SP_OPT_CHOICE:
        if ((c = choose(o, value)) >= 0) {
            *o->choice = c;
            return 0;
        } else {
            char names[128];

            list_choices(o, names, sizeof(names));
            snprintf(why, why_size, "--%s=%s: not %s", o->name, value, names);
            return -1;
        }
    default:
        snprintf(why, why_size, "--%s: an option of unknown type", o->name);
        return -1;
    }
}

int sp_args_parse(const sp_option *options, int argc, char *const argv[], char *why, size_t why_size)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name = arg + 2, *eq;
        const sp_option *o;

        if (strncmp(arg, "--", 2) != 0 || !*name) {
            snprintf(why, why_size, "unexpected argument '%s'", arg);
            return -1;
        }
        eq = strchr(name, '=');
        o = find(options, name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o) {
            snprintf(why, why_size, "unknown option --%.*s", eq ? (int)(eq - name) : (int)strlen(name), name);
            return -1;
        }
        if (o->type == SP_OPT_FLAG) {
            if (eq) {
                snprintf(why, why_size, "--%s takes no value", o->name);
                return -1;
            }
            *o->flag = 1;
            continue;
        }
        if (!eq || !eq[1]) {
            snprintf(why, why_size, "--%s needs a value: --%s=...", o->name, o->name);
            return -1;
        }
        if (take(o, eq + 1, why, why_size) < 0)
            return -1;
    }
    return 0;
}

void sp_args(const sp_option *options, int argc, char *const argv[], const char *usage)
{
    char why[256];

    if (sp_args_parse(options, argc, argv, why, sizeof(why)) < 0)
        sp_usage_error(usage, "%s", why);
}

_Noreturn void sp_usage_error(const char *usage, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errx(SP_EXIT_USAGE, "%s\n%s", msg, usage);
}
