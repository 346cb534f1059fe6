#include "sp_ascii.h"
#include "kmsg_record.h"

#include <limits.h>
#include <string.h>

/* Undoes the kernel's \xNN escaping; anything else (a lone or truncated
 * backslash) is kept as it is. Never writes more than n bytes: kmsg_parse
 * makes sure out has room for the whole record. */
static size_t unescape(const char *src, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int hi, lo;

        if (src[i] == '\\' && i + 3 < n && src[i + 1] == 'x' && (hi = sp_hex_digit(src[i + 2])) >= 0 &&
            (lo = sp_hex_digit(src[i + 3])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 3;
        } else {
            out[o++] = src[i];
        }
    }
    return o;
}

/* Copies the decoded text of src[0..n) to *out and points span at it. */
static void decode_into(struct kmsg_span *span, const char *src, size_t n, char **out)
{
    span->ptr = *out;
    span->len = unescape(src, n, *out);
    *out += span->len;
}

static int starts_with(const char *p, const char *end, const char *prefix)
{
    size_t n = strlen(prefix);

    return (size_t)(end - p) >= n && memcmp(p, prefix, n) == 0;
}

/* PRI,SEQ,TS[,FLAGS[,more...]] in [p, end). */
static enum kmsg_parse_status parse_header(const char *p, const char *end, struct kmsg_record *rec)
{
    unsigned long long pri;
    int field = 0;

    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;

        switch (field) {
        case 0:
            if (sp_parse_uint(p, (size_t)(stop - p), 10, UINT_MAX, &pri) < 0)
                return KMSG_BAD_PRIORITY;
            rec->facility = (unsigned long)(pri >> 3);
            rec->level = (unsigned)(pri & 7);
            break;
        case 1:
            if (sp_parse_uint(p, (size_t)(stop - p), 10, ULLONG_MAX, &rec->seq) < 0)
                return KMSG_BAD_SEQ;
            break;
        case 2:
            if (sp_parse_uint(p, (size_t)(stop - p), 10, ULLONG_MAX, &rec->ts_usec) < 0)
                return KMSG_BAD_TIMESTAMP;
            break;
        case 3:
            rec->flags = (struct kmsg_span){p, (size_t)(stop - p)};
            break;
        default:
            if (starts_with(p, stop, "caller="))
                rec->caller = (struct kmsg_span){p + 7, (size_t)(stop - p - 7)};
            /* Other fields are future extensions: ignored. */
            break;
        }
        field++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return field < 3 ? KMSG_MISSING_FIELDS : KMSG_OK;
}

/* The " KEY=value" lines after the message. */
static void parse_dictionary(const char *p, const char *end, struct kmsg_record *rec, char **out)
{
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;

        if (*p == ' ') {
            if (starts_with(p + 1, stop, "SUBSYSTEM="))
                decode_into(&rec->subsystem, p + 11, (size_t)(stop - p - 11), out);
            else if (starts_with(p + 1, stop, "DEVICE="))
                decode_into(&rec->device, p + 8, (size_t)(stop - p - 8), out);
        }
        p = nl ? nl + 1 : end;
    }
}

enum kmsg_parse_status kmsg_parse(const char *buf, size_t len, char *out, size_t out_size, struct kmsg_record *rec)
{
    const char *end = buf + len, *semi, *text, *nl;
    enum kmsg_parse_status status;

    memset(rec, 0, sizeof(*rec));
    /* The decoded text is never longer than the record. */
    if (len > KMSG_RECORD_MAX || len > out_size)
        return KMSG_TOO_LONG;
    if (len == 0 || memchr(buf, ';', len) == NULL) {
        size_t i = 0;

        while (i < len && buf[i] == '\0')
            i++;
        return i == len ? KMSG_EMPTY : KMSG_NO_TERMINATOR;
    }
    semi = memchr(buf, ';', len);
    status = parse_header(buf, semi, rec);
    if (status != KMSG_OK)
        return status;

    text = semi + 1;
    nl = memchr(text, '\n', (size_t)(end - text));
    decode_into(&rec->message, text, (size_t)((nl ? nl : end) - text), &out);
    if (nl)
        parse_dictionary(nl + 1, end, rec, &out);
    return KMSG_OK;
}

const char *kmsg_status_name(enum kmsg_parse_status status)
{
    switch (status) {
    case KMSG_OK:
        return "ok";
    case KMSG_EMPTY:
        return "empty";
    case KMSG_NO_TERMINATOR:
        return "no_terminator";
    case KMSG_BAD_PRIORITY:
        return "bad_priority";
    case KMSG_BAD_SEQ:
        return "bad_seq";
    case KMSG_BAD_TIMESTAMP:
        return "bad_timestamp";
    case KMSG_MISSING_FIELDS:
        return "missing_fields";
    case KMSG_TOO_LONG:
        return "too_long";
    }
    return "unknown";
}

int kmsg_file_next(const char *buf, size_t len, size_t *offset, const char **rec, size_t *rec_len)
{
    size_t start = *offset, stop;
    const char *nul;

    while (start < len && buf[start] == '\0')
        start++;
    if (start >= len) {
        *offset = len;
        return 0;
    }
    nul = memchr(buf + start, '\0', len - start);
    stop = nul ? (size_t)(nul - buf) : len;
    *rec = buf + start;
    *rec_len = stop - start;
    *offset = stop;
    return 1;
}

const char *kmsg_facility_name(unsigned long facility)
{
    /* The names util-linux dmesg uses (-x, -f). */
    static const char *const names[] = {
        "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
        "uucp",   "cron",   "authpriv", "ftp",  "res0",   "res1",   "res2",   "res3",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    };

    return facility < sizeof(names) / sizeof(names[0]) ? names[facility] : NULL;
}

const char *kmsg_level_name(unsigned level)
{
    static const char *const names[] = {"emergency", "alert",  "critical", "error",
                                        "warning",   "notice", "info",     "debug"};

    return names[level & 7];
}
