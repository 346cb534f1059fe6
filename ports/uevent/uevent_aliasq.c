#include "uevent_aliasq.h"

#include <stdlib.h>
#include <string.h>

void aliasq_init(aliasq *q, size_t max_items, size_t max_bytes)
{
    memset(q, 0, sizeof(*q));
    q->max_items = max_items;
    q->max_bytes = max_bytes;
}

void aliasq_free(aliasq *q)
{
    for (size_t i = 0; i < q->count; i++)
        free(q->items[i]);
    free(q->items);
    aliasq_init(q, q->max_items, q->max_bytes);
}

enum aliasq_push aliasq_push(aliasq *q, const char *alias, size_t len)
{
    char *copy;

    /* An alias becomes one argv word of modprobe: never an option. */
    if (len == 0 || alias[0] == '-' || memchr(alias, '\0', len))
        return ALIASQ_INVALID;
    for (size_t i = 0; i < q->count; i++)
        if (strlen(q->items[i]) == len && memcmp(q->items[i], alias, len) == 0)
            return ALIASQ_DUPLICATE;
    if (q->count == q->max_items || q->bytes + len + 1 > q->max_bytes)
        return ALIASQ_FULL;
    if (q->count == q->size) {
        size_t size = q->size ? q->size * 2 : 16;
        char **grown = realloc(q->items, size * sizeof(*grown));

        if (!grown)
            return ALIASQ_FULL;
        q->items = grown;
        q->size = size;
    }
    copy = malloc(len + 1);
    if (!copy)
        return ALIASQ_FULL;
    memcpy(copy, alias, len);
    copy[len] = '\0';
    q->items[q->count++] = copy;
    q->bytes += len + 1;
    return ALIASQ_QUEUED;
}

size_t aliasq_take(aliasq *q, char **out, size_t max, size_t max_bytes)
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
