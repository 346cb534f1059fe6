#include "uevent_seq.h"

#include <string.h>

void uevent_seq_reset(uevent_seq *s, uint64_t baseline)
{
    memset(s, 0, sizeof(*s));
    s->high = baseline;
}

static uint64_t hole_size(const uevent_seq_hole *h)
{
    return h->last - h->first + 1;
}

/* Makes room for one more hole by writing off the oldest. */
static void evict_oldest(uevent_seq *s)
{
    s->evicted += hole_size(&s->holes[0]);
    memmove(&s->holes[0], &s->holes[1], (size_t)(s->nholes - 1) * sizeof(s->holes[0]));
    s->nholes--;
}

static void remove_hole(uevent_seq *s, int i)
{
    memmove(&s->holes[i], &s->holes[i + 1], (size_t)(s->nholes - i - 1) * sizeof(s->holes[0]));
    s->nholes--;
}

/* seq lies strictly inside hole i: split it in two. */
static void split_hole(uevent_seq *s, int i, uint64_t seq)
{
    if (s->nholes == UEVENT_SEQ_MAX_HOLES) {
        if (i == 0) {
            /* The hole being split is the oldest: write off its lower part. */
            s->evicted += seq - s->holes[0].first;
            s->holes[0].first = seq + 1;
            return;
        }
        evict_oldest(s);
        i--;
    }
    memmove(&s->holes[i + 1], &s->holes[i], (size_t)(s->nholes - i) * sizeof(s->holes[0]));
    s->nholes++;
    s->holes[i].last = seq - 1;
    s->holes[i + 1].first = seq + 1;
}

enum uevent_seq_verdict uevent_seq_accept(uevent_seq *s, uint64_t seq, long long now_ms)
{
    if (s->high == 0) { /* no baseline: the first event is one */
        s->high = seq;
        return UEVENT_SEQ_IN_ORDER;
    }
    if (seq > s->high) {
        enum uevent_seq_verdict v = UEVENT_SEQ_IN_ORDER;

        if (seq > s->high + 1) {
            if (s->nholes == UEVENT_SEQ_MAX_HOLES)
                evict_oldest(s);
            s->holes[s->nholes++] = (uevent_seq_hole){s->high + 1, seq - 1, now_ms};
            v = UEVENT_SEQ_AFTER_GAP;
        }
        s->high = seq;
        return v;
    }
    for (int i = s->nholes - 1; i >= 0; i--) {
        uevent_seq_hole *h = &s->holes[i];

        if (seq > h->last)
            break;
        if (seq < h->first)
            continue;
        if (h->first == h->last)
            remove_hole(s, i);
        else if (seq == h->first)
            h->first++;
        else if (seq == h->last)
            h->last--;
        else
            split_hole(s, i, seq);
        return UEVENT_SEQ_LATE;
    }
    return UEVENT_SEQ_STALE;
}

uint64_t uevent_seq_unseen(const uevent_seq *s)
{
    uint64_t n = s->evicted;

    for (int i = 0; i < s->nholes; i++)
        n += hole_size(&s->holes[i]);
    return n;
}

long long uevent_seq_oldest_ms(const uevent_seq *s)
{
    if (s->evicted)
        return 0;
    return s->nholes ? s->holes[0].born_ms : -1;
}
