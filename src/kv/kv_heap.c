/* The key-value machine's expiry heap: a binary min-heap on expire_at_ms whose items know
 * their slot, so housekeeping finds the expired keys without scanning the table. */
#include <stdlib.h>

#include "kv_int.h"

void kv_heap_free(struct kv_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->count = h->cap = 0;
}

int kv_heap_reserve(struct kv_heap *h, uint32_t n)
{
    if (n <= h->cap)
        return 0;
    uint32_t cap = h->cap ? h->cap : 64;
    while (cap < n) {
        if (cap > UINT32_MAX / 2)
            return -LUM_ENOMEM;
        cap *= 2;
    }
    struct kv_item **items = realloc(h->items, (size_t)cap * sizeof *items);
    if (!items)
        return -LUM_ENOMEM;
    h->items = items;
    h->cap = cap;
    return 0;
}

static inline void kv_heap_set(struct kv_heap *h, uint32_t i, struct kv_item *it)
{
    h->items[i] = it;
    it->heap_slot = i + 1;
}

static void kv_heap_up(struct kv_heap *h, uint32_t i)
{
    struct kv_item *it = h->items[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->items[parent]->expire_at_ms <= it->expire_at_ms)
            break;
        kv_heap_set(h, i, h->items[parent]);
        i = parent;
    }
    kv_heap_set(h, i, it);
}

static void kv_heap_down(struct kv_heap *h, uint32_t i)
{
    struct kv_item *it = h->items[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count &&
            h->items[child + 1]->expire_at_ms < h->items[child]->expire_at_ms)
            child++;
        if (h->items[child]->expire_at_ms >= it->expire_at_ms)
            break;
        kv_heap_set(h, i, h->items[child]);
        i = child;
    }
    kv_heap_set(h, i, it);
}

void kv_heap_push(struct kv_heap *h, struct kv_item *it)
{
    LUM_ASSERT(it->heap_slot == 0);
    LUM_ASSERT(it->expire_at_ms != 0);
    LUM_ASSERT(h->count < h->cap);
    h->items[h->count] = it;
    kv_heap_up(h, h->count++);
}

void kv_heap_remove(struct kv_heap *h, struct kv_item *it)
{
    LUM_ASSERT(it->heap_slot >= 1);
    LUM_ASSERT(it->heap_slot <= h->count);
    uint32_t i = it->heap_slot - 1;
    LUM_ASSERT(h->items[i] == it);
    it->heap_slot = 0;
    struct kv_item *last = h->items[--h->count];
    if (i == h->count)
        return;
    h->items[i] = last;
    kv_heap_up(h, i);
    kv_heap_down(h, last->heap_slot - 1);
}

void kv_heap_fix(struct kv_heap *h, struct kv_item *it)
{
    LUM_ASSERT(it->heap_slot >= 1);
    LUM_ASSERT(h->items[it->heap_slot - 1] == it);
    kv_heap_up(h, it->heap_slot - 1);
    kv_heap_down(h, it->heap_slot - 1);
}
