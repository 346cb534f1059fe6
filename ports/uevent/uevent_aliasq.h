/*
 * The queue of MODALIAS strings waiting for modprobe: first in, first out,
 * each alias at most once while it waits, bounded in count and bytes.
 * Pure (allocation only), so the batching rules are unit-tested.
 */
#ifndef UEVENT_ALIASQ_H
#define UEVENT_ALIASQ_H

#include <stddef.h>

typedef struct uevent_aliasq {
    char **items;
    size_t count, size;
    size_t bytes;                /* sum of strlen + 1 over the queue */
    size_t max_items, max_bytes; /* bounds of the queue */
} uevent_aliasq;

enum uevent_aliasq_push {
    UEVENT_ALIASQ_QUEUED = 0,
    UEVENT_ALIASQ_DUPLICATE = 1, /* already waiting */
    UEVENT_ALIASQ_FULL = 2,      /* over a bound, or out of memory */
    UEVENT_ALIASQ_INVALID = 3,   /* empty, contains a NUL, or starts with '-' */
};

void uevent_aliasq_init(uevent_aliasq *q, size_t max_items, size_t max_bytes);
void uevent_aliasq_free(uevent_aliasq *q);
enum uevent_aliasq_push uevent_aliasq_push(uevent_aliasq *q, const char *alias, size_t len);
/* Moves the oldest aliases into out[], at most max of them and at most
 * max_bytes together (always at least one if any wait). Returns how many;
 * the caller frees each. */
size_t uevent_aliasq_take(uevent_aliasq *q, char **out, size_t max, size_t max_bytes);

#endif
