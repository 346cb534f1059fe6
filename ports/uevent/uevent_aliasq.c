#include "uevent_aliasq.h"

#include <stdlib.h>
#include <string.h>

void uevent_aliasq_init(uevent_aliasq *q, size_t max_items, size_t max_bytes)
{
    memset(q, 0, sizeof(*q));
    q->max_items = max_items;
    q->max_bytes = max_bytes;
}

void uevent_aliasq_free(uevent_aliasq *q)
{
    for (size_t i = 0; i < q->count; i++)
        free(q->items[i]);
    free(q->items);
    uevent_aliasq_init(q, q->max_items, q->max_bytes);
}

enum uevent_aliasq_push uevent_aliasq_push(uevent_aliasq *q, const char *alias, size_t len)
{
    char *copy;

    /* An alias becomes one argv word of modprobe: never an option. */
    if (len == 0 || alias[0] == '-' || memchr(alias, '\0', len))
        return UEVENT_ALIASQ_INVALID;
    for (size_t i = 0; i < q->count; i++)
        if (strlen(q->items[i]) == len && memcmp(q->items[i], alias, len) == 0)
            return UEVENT_ALIASQ_DUPLICATE;
    if (q->count == q->max_items || q->bytes + len + 1 > q->max_bytes)
        return UEVENT_ALIASQ_FULL;
    if (q->count == q->size) {
        size_t size = q->size ? q->size * 2 : 16;
        char **grown = realloc(q->items, size * sizeof(*grown));

        if (!grown)
            return UEVENT_ALIASQ_FULL;
        q->items = grown;
        q->size = size;
    }
    copy = malloc(len + 1);
    if (!copy)
        return UEVENT_ALIASQ_FULL;
    memcpy(copy, alias, len);
    copy[len] = '\0';
    q->items[q->count++] = copy;
    q->bytes += len + 1;
    return UEVENT_ALIASQ_QUEUED;
}

size_t uevent_aliasq_take(uevent_aliasq *q, char **out, size_t max, size_t max_bytes)
{
    size_t n = 0, bytes = 0;

    while (n < max && n < q->count) {
        size_t len = strlen(q->items[n]) + 1;

        if (n > 0 && bytes + len > max_bytes)
            break;
        bytes += len;
        out[n] = q->items[n];
        n++;
    }
    memmove(q->items, q->items + n, (q->count - n) * sizeof(*q->items));
    q->count -= n;
    q->bytes -= bytes;
    return n;
}
