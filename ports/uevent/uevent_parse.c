#include "uevent_parse.h"

#include <string.h>

#include "sp_ascii.h"

static const char *const action_names[UEVENT_NACTIONS] = {
    [UEVENT_ADD] = "add",         [UEVENT_REMOVE] = "remove", [UEVENT_CHANGE] = "change",
    [UEVENT_MOVE] = "move",       [UEVENT_ONLINE] = "online", [UEVENT_OFFLINE] = "offline",
    [UEVENT_BIND] = "bind",       [UEVENT_UNBIND] = "unbind",
};

static const char *const status_names[UEVENT_NSTATUS] = {
    [UEVENT_OK] = "ok",
    [UEVENT_LIBUDEV] = "libudev",
    [UEVENT_NO_HEADER] = "no_header",
    [UEVENT_BAD_FIELD] = "bad_field",
    [UEVENT_MISSING] = "missing_key",
    [UEVENT_BAD_SEQNUM] = "bad_seqnum",
    [UEVENT_MISMATCH] = "header_mismatch",
    [UEVENT_UNKNOWN_ACTION] = "unknown_action",
};

const char *uevent_action_name(enum uevent_action a)
{
    return (unsigned)a < UEVENT_NACTIONS ? action_names[a] : "unknown";
}

const char *uevent_status_name(enum uevent_status s)
{
    return (unsigned)s < UEVENT_NSTATUS ? status_names[s] : "unknown";
}

static int str_is(uevent_str s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static int str_eq(uevent_str a, uevent_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* The string at *cursor, ending at a NUL or at the end of the datagram.
 * 1: a KEY=VALUE field; 0: no more; -1: an empty string or no "KEY=". */
static int next_string(const char **cursor, const char *end, uevent_field *f)
{
    const char *p = *cursor, *stop, *eq;

    if (p >= end)
        return 0;
    stop = memchr(p, '\0', (size_t)(end - p));
    if (!stop)
        stop = end;
    eq = memchr(p, '=', (size_t)(stop - p));
    if (!eq || eq == p)
        return -1;
    f->key = (uevent_str){p, (size_t)(eq - p)};
    f->value = (uevent_str){eq + 1, (size_t)(stop - eq - 1)};
    *cursor = stop < end ? stop + 1 : end;
    return 1;
}

int uevent_next_field(const uevent *ev, const char **cursor, uevent_field *f)
{
    return next_string(cursor, ev->end, f) == 1;
}

static int parse_seqnum(uevent_str s, uint64_t *out)
{
    unsigned long long v;

    /* No leading zeros beyond 20 digits: a SEQNUM is a kernel u64. */
    if (s.len > 20 || sp_parse_uint(s.ptr, s.len, 10, UINT64_MAX, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

enum uevent_status uevent_parse(const char *buf, size_t len, uevent *ev)
{
    const char *end = buf + len, *header_end, *at, *cursor;
    uevent_str header_action, header_devpath, action = {0}, seqnum = {0};
    uevent_field f;
    int rc;

    memset(ev, 0, sizeof(*ev));
    /* udevd's monitor messages start with this magic and a binary header;
     * they belong to group 2 and are never the kernel's. */
    if (len >= 8 && memcmp(buf, "libudev", 8) == 0)
        return UEVENT_LIBUDEV;

    header_end = len ? memchr(buf, '\0', len) : NULL;
    if (!header_end)
        header_end = end;
    at = memchr(buf, '@', (size_t)(header_end - buf));
    if (!at || at == buf || at + 1 == header_end)
        return UEVENT_NO_HEADER;
    header_action = (uevent_str){buf, (size_t)(at - buf)};
    header_devpath = (uevent_str){at + 1, (size_t)(header_end - at - 1)};

    ev->fields = header_end < end ? header_end + 1 : end;
    ev->end = end;
    cursor = ev->fields;
    while ((rc = next_string(&cursor, end, &f)) == 1) {
        ev->nfields++;
        if (!ev->multiline && memchr(f.value.ptr, '\n', f.value.len))
            ev->multiline = 1;
        if (str_is(f.key, "ACTION"))
            action = f.value;
        else if (str_is(f.key, "DEVPATH"))
            ev->devpath = f.value;
        else if (str_is(f.key, "SUBSYSTEM"))
            ev->subsystem = f.value;
        else if (str_is(f.key, "SEQNUM"))
            seqnum = f.value;
        else if (str_is(f.key, "DEVPATH_OLD"))
            ev->devpath_old = f.value;
        else if (str_is(f.key, "MODALIAS"))
            ev->modalias = f.value;
    }
    if (rc < 0)
        return UEVENT_BAD_FIELD;
    if (!action.ptr || !ev->devpath.ptr || !ev->subsystem.ptr || !seqnum.ptr)
        return UEVENT_MISSING;
    if (parse_seqnum(seqnum, &ev->seqnum) < 0)
        return UEVENT_BAD_SEQNUM;
    if (!str_eq(action, header_action) || !str_eq(ev->devpath, header_devpath))
        return UEVENT_MISMATCH;
    for (int a = 0; a < UEVENT_NACTIONS; a++)
        if (str_is(action, action_names[a])) {
            ev->action = (enum uevent_action)a;
            return UEVENT_OK;
        }
    return UEVENT_UNKNOWN_ACTION;
}

int uevent_next_line(const char *buf, size_t len, const char **cursor, uevent_field *f)
{
    const char *end = buf + len;

    while (*cursor < end) {
        const char *p = *cursor, *nl = memchr(p, '\n', (size_t)(end - p)), *eq;

        if (!nl)
            nl = end;
        *cursor = nl < end ? nl + 1 : end;
        eq = memchr(p, '=', (size_t)(nl - p));
        if (!eq || eq == p)
            continue;
        f->key = (uevent_str){p, (size_t)(eq - p)};
        f->value = (uevent_str){eq + 1, (size_t)(nl - eq - 1)};
        return 1;
    }
    return 0;
}
