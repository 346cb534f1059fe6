/*
 * A helper's command line: --name=VALUE options and --name flags, described
 * by a table, and one way to refuse a bad one.
 *
 *   static const sp_option options[] = {
 *       SP_TEXT("device", &device),
 *       SP_UINT("rcvbuf", &rcvbuf, 1024, 1 << 30),
 *       SP_FLAG("create", &create),
 *       {0},
 *   };
 *   sp_args(options, argc, argv, usage);   // or exit 64, naming the option
 *
 * Every argument is an option of the table. A value is never empty; a
 * flag takes none. An option given twice keeps the last value, but for
 * SP_EACH, whose callback sees every value in order. Numbers follow
 * sp_ascii.h: decimal digits only (a leading '-' where min < 0), whole,
 * within [min, max]. No option is required by the table: the helper checks
 * what it needs afterwards and refuses with sp_usage_error.
 */
#ifndef SP_ARGS_H
#define SP_ARGS_H

#include <stddef.h>
#include <stdint.h>

enum sp_option_type { SP_OPT_FLAG = 1, SP_OPT_TEXT, SP_OPT_INT, SP_OPT_UINT, SP_OPT_CHOICE, SP_OPT_EACH };

typedef struct sp_option {
    const char *name; /* without the dashes; NULL ends the table */
    enum sp_option_type type;
    int *flag;                        /* FLAG: set to 1 */
    const char **text;                /* TEXT */
    int64_t *i;                       /* INT, within [min, max] */
    uint64_t *u;                      /* UINT, within [umin, umax] */
    int64_t min, max;
    uint64_t umin, umax;
    int *choice;                      /* CHOICE: the index in choices */
    const char *const *choices;       /* NULL-terminated */
    void (*each)(const char *value);  /* EACH: called for every occurrence */
} sp_option;

#define SP_FLAG(n, p) {.name = (n), .type = SP_OPT_FLAG, .flag = (p)}
#define SP_TEXT(n, p) {.name = (n), .type = SP_OPT_TEXT, .text = (p)}
#define SP_INT(n, p, lo, hi) {.name = (n), .type = SP_OPT_INT, .i = (p), .min = (lo), .max = (hi)}
#define SP_UINT(n, p, lo, hi) {.name = (n), .type = SP_OPT_UINT, .u = (p), .umin = (lo), .umax = (hi)}
#define SP_CHOICE(n, p, list) {.name = (n), .type = SP_OPT_CHOICE, .choice = (p), .choices = (list)}
#define SP_EACH(n, fn) {.name = (n), .type = SP_OPT_EACH, .each = (fn)}

/* Pure but for SP_EACH callbacks: 0, or -1 with why (for the message)
 * filled in; what was parsed before the bad argument has been stored. */
int sp_args_parse(const sp_option *options, int argc, char *const argv[], char *why, size_t why_size);

/* sp_args_parse, or sp_usage_error with its why. */
void sp_args(const sp_option *options, int argc, char *const argv[], const char *usage);

/* "<program>: <message>" and the usage on stderr, then exit SP_EXIT_USAGE. */
_Noreturn void sp_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
