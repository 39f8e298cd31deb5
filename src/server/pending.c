/* Client requests waiting on the log: a fixed pool of slots (allocated at start-up), and a
 * binary min-heap of the slots that wait for an index to be applied. A heap rather than a
 * FIFO because after a lost leadership a node can propose again at indexes below requests
 * still waiting from its previous term. */
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

int pending_init(struct pending_pool *p, uint32_t cap)
{
    memset(p, 0, sizeof *p);
    p->slots = calloc(cap, sizeof *p->slots);
    p->free_list = calloc(cap, sizeof *p->free_list);
    p->heap = calloc(cap, sizeof *p->heap);
    if (!p->slots || !p->free_list || !p->heap) {
        pending_free_all(p);
        return -LUM_ENOMEM;
    }
    p->cap = cap;
    for (uint32_t i = 0; i < cap; i++)
        p->free_list[i] = cap - 1 - i;
    p->free_count = cap;
    return 0;
}

void pending_free_all(struct pending_pool *p)
{
    for (uint32_t i = 0; p->slots && i < p->cap; i++)
        free(p->slots[i].query_heap);
    free(p->slots);
    free(p->free_list);
    free(p->heap);
    memset(p, 0, sizeof *p);
}

struct pending *pending_alloc(struct pending_pool *p, uint32_t *slot_out)
{
    if (p->free_count == 0)
        return NULL;
    uint32_t slot = p->free_list[--p->free_count];
    struct pending *pd = &p->slots[slot];
    uint32_t gen = pd->gen + 1;
    memset(pd, 0, sizeof *pd);
    pd->gen = gen;
    pd->order = p->order_next++;
    p->used++;
    *slot_out = slot;
    return pd;
}

void pending_release(struct pending_pool *p, uint32_t slot)
{
    struct pending *pd = &p->slots[slot];
    free(pd->query_heap);
    pd->query_heap = NULL;
    pd->kind = 0;
    p->free_list[p->free_count++] = slot;
    p->used--;
}

/* The core echoes ctx back with each read: slot in the low half, generation in the high,
 * so an answer for a slot reused since is recognised as stale. */
uint64_t pending_ctx(const struct pending_pool *p, uint32_t slot)
{
    return (uint64_t)p->slots[slot].gen << 32 | slot;
}

struct pending *pending_get(struct pending_pool *p, uint64_t ctx)
{
    uint32_t slot = (uint32_t)ctx;
    if (slot >= p->cap)
        return NULL;
    struct pending *pd = &p->slots[slot];
    return pd->kind != 0 && pd->gen == (uint32_t)(ctx >> 32) ? pd : NULL;
}

const uint8_t *pending_query(const struct pending *pd)
{
    return pd->query_heap ? pd->query_heap : pd->query_inline;
}

int pending_set_query(struct pending *pd, const uint8_t *q, uint32_t len)
{
    pd->query_len = len;
    if (len <= SERVER_QUERY_INLINE) {
        memcpy(pd->query_inline, q, len);
        return 0;
    }
    pd->query_heap = malloc(len);
    if (!pd->query_heap)
        return -LUM_ENOMEM;
    memcpy(pd->query_heap, q, len);
    return 0;
}

static bool pending_less(const struct pending_pool *p, uint32_t a, uint32_t b)
{
    const struct pending *x = &p->slots[a], *y = &p->slots[b];
    return x->index < y->index || (x->index == y->index && x->order < y->order);
}

static void pending_swap(uint32_t *h, uint32_t i, uint32_t j)
{
    uint32_t t = h[i];
    h[i] = h[j];
    h[j] = t;
}

void pending_heap_push(struct pending_pool *p, uint32_t slot)
{
    LUM_ASSERT(p->heap_count < p->cap);
    uint32_t i = p->heap_count++;
    p->heap[i] = slot;
    while (i > 0 && pending_less(p, p->heap[i], p->heap[(i - 1) / 2])) {
        pending_swap(p->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

bool pending_heap_pop_upto(struct pending_pool *p, uint64_t upto, uint32_t *slot_out)
{
    if (p->heap_count == 0 || p->slots[p->heap[0]].index > upto)
        return false;
    *slot_out = p->heap[0];
    p->heap[0] = p->heap[--p->heap_count];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < p->heap_count && pending_less(p, p->heap[l], p->heap[m]))
            m = l;
        if (r < p->heap_count && pending_less(p, p->heap[r], p->heap[m]))
            m = r;
        if (m == i)
            break;
        pending_swap(p->heap, i, m);
        i = m;
    }
    return true;
}
