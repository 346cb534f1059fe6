#include "hwmon_config.h"

#include <strings.h>

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* What may stand between the keyword and the name: blanks, line
 * continuations, newlines (the scanner does not care about statements),
 * the quote of a quoted name. */
static int is_gap(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\\' || c == '"';
}

void hwmon_config_computes(const char *text, size_t len, hwmon_compute_cb found, void *ctx)
{
    static const char keyword[] = "compute";
    const size_t klen = sizeof(keyword) - 1;

    for (size_t i = 0; i + klen <= len; i++) {
        size_t start, end;

        if ((i > 0 && is_name_char(text[i - 1])) || strncasecmp(text + i, keyword, klen) != 0)
            continue;
        start = i + klen;
        if (start < len && is_name_char(text[start]))
            continue; /* "computed", "compute_x": another word */
        while (start < len && is_gap(text[start]))
            start++;
        for (end = start; end < len && is_name_char(text[end]); end++)
            ;
        if (end > start)
            found(text + start, end - start, ctx);
        i = start > i ? start - 1 : i;
    }
}
