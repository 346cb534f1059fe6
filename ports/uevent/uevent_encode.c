#include "uevent_encode.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    uevent_field f;
    size_t order;
};

static int by_key_then_order(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    size_t n = x->f.key.len < y->f.key.len ? x->f.key.len : y->f.key.len;
    int c = memcmp(x->f.key.ptr, y->f.key.ptr, n);

    if (c)
        return c;
    if (x->f.key.len != y->f.key.len)
        return x->f.key.len < y->f.key.len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int same_key(const struct slot *a, const struct slot *b)
{
    return a->f.key.len == b->f.key.len && memcmp(a->f.key.ptr, b->f.key.ptr, a->f.key.len) == 0;
}

static const char *newline_in(uevent_str s)
{
    return memchr(s.ptr, '\n', s.len);
}

/* Insertion sort: events have a dozen fields, and it is stable. */
static void sort_slots(struct slot *slots, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct slot s = slots[i];
        size_t j = i;

        for (; j > 0 && by_key_then_order(&slots[j - 1], &s) > 0; j--)
            slots[j] = slots[j - 1];
        slots[j] = s;
    }
}

/* Encodes n slots as a map, the last of each run of equal keys winning.
 * With file_form, only the winners holding a newline, cut there. */
static int encode_slots(ei_x_buff *x, struct slot *slots, size_t n, int file_form)
{
    size_t count = 0;

    if (n <= 64)
        sort_slots(slots, n);
    else
        qsort(slots, n, sizeof(*slots), by_key_then_order);
    for (size_t i = 0; i < n; i++)
        if ((i + 1 == n || !same_key(&slots[i], &slots[i + 1])) && (!file_form || newline_in(slots[i].f.value)))
            count++;
    if (ei_x_encode_map_header(x, (long)count) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uevent_str v = slots[i].f.value;
        const char *nl = newline_in(v);

        if ((i + 1 < n && same_key(&slots[i], &slots[i + 1])) || (file_form && !nl))
            continue;
        if (file_form)
            v.len = (size_t)(nl - v.ptr);
        if (ei_x_encode_binary(x, slots[i].f.key.ptr, (long)slots[i].f.key.len) < 0 ||
            ei_x_encode_binary(x, v.ptr, (long)v.len) < 0)
            return -1;
    }
    return 0;
}

static int encode_event(ei_x_buff *x, const uevent *ev, int file_form)
{
    struct slot *slots = malloc((ev->nfields ? ev->nfields : 1) * sizeof(*slots));
    const char *cursor = ev->fields;
    size_t n = 0;
    int rc;

    if (!slots)
        return -1;
    while (n < ev->nfields && uevent_next_field(ev, &cursor, &slots[n].f)) {
        slots[n].order = n;
        n++;
    }
    rc = encode_slots(x, slots, n, file_form);
    free(slots);
    return rc;
}

int uevent_x_props(ei_x_buff *x, const uevent *ev)
{
    return encode_event(x, ev, 0);
}

int uevent_x_file_form(ei_x_buff *x, const uevent *ev)
{
    return encode_event(x, ev, 1);
}

int uevent_x_file_props(ei_x_buff *x, const char *devpath, const char *subsystem, const char *text, size_t len)
{
    const char *cursor = text;
    uevent_field f;
    struct slot *slots;
    size_t lines = 0, n = 0;
    int rc;

    while (uevent_next_line(text, len, &cursor, &f))
        lines++;
    slots = malloc((lines + 2) * sizeof(*slots));
    if (!slots)
        return -1;
    cursor = text;
    while (n < lines && uevent_next_line(text, len, &cursor, &slots[n].f)) {
        slots[n].order = n;
        n++;
    }
    /* Last, so they win over a file that would name them too. */
    slots[n] = (struct slot){{{"DEVPATH", 7}, {devpath, strlen(devpath)}}, n};
    n++;
    slots[n] = (struct slot){{{"SUBSYSTEM", 9}, {subsystem, strlen(subsystem)}}, n};
    n++;
    rc = encode_slots(x, slots, n, 0);
    free(slots);
    return rc;
}
