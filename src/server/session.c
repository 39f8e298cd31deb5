/* Client sessions: the last request each client had applied and its answer, so a retried
 * write is applied once (thesis §6.3). Fixed capacity, open-addressing index with linear
 * probing and backward-shift deletion, LRU eviction in apply order (deterministic: the same
 * on every replica). */
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

#define SESSION_NONE UINT32_MAX

static uint32_t session_hash(uint64_t id, uint32_t mask)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (uint32_t)id & mask;
}

int session_init(struct session_table *t, uint32_t cap)
{
    memset(t, 0, sizeof *t);
    t->index_cap = 1;
    while (t->index_cap < cap * 2)
        t->index_cap *= 2;
    t->slots = calloc(cap, sizeof *t->slots);
    t->index = calloc(t->index_cap, sizeof *t->index);
    if (!t->slots || !t->index) {
        session_free(t);
        return -LUM_ENOMEM;
    }
    t->cap = cap;
    t->lru_head = t->lru_tail = SESSION_NONE;
    return 0;
}

void session_free(struct session_table *t)
{
    free(t->slots);
    free(t->index);
    memset(t, 0, sizeof *t);
}

/* Position in index of client_id, or of the empty cell where it would go. */
static uint32_t session_probe(const struct session_table *t, uint64_t client_id)
{
    uint32_t mask = t->index_cap - 1;
    uint32_t i = session_hash(client_id, mask);
    while (t->index[i] != 0 && t->slots[t->index[i] - 1].client_id != client_id)
        i = (i + 1) & mask;
    return i;
}

struct session *session_find(struct session_table *t, uint64_t client_id)
{
    uint32_t i = session_probe(t, client_id);
    return t->index[i] ? &t->slots[t->index[i] - 1] : NULL;
}

static void session_lru_unlink(struct session_table *t, uint32_t slot)
{
    struct session *s = &t->slots[slot];
    if (s->lru_prev != SESSION_NONE)
        t->slots[s->lru_prev].lru_next = s->lru_next;
    else
        t->lru_head = s->lru_next;
    if (s->lru_next != SESSION_NONE)
        t->slots[s->lru_next].lru_prev = s->lru_prev;
    else
        t->lru_tail = s->lru_prev;
}

static void session_lru_push_head(struct session_table *t, uint32_t slot)
{
    struct session *s = &t->slots[slot];
    s->lru_prev = SESSION_NONE;
    s->lru_next = t->lru_head;
    if (t->lru_head != SESSION_NONE)
        t->slots[t->lru_head].lru_prev = slot;
    t->lru_head = slot;
    if (t->lru_tail == SESSION_NONE)
        t->lru_tail = slot;
}

/* Removes the index cell at i, shifting later cells of the probe run back into the hole. */
static void session_index_delete(struct session_table *t, uint32_t i)
{
    uint32_t mask = t->index_cap - 1;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; t->index[j] != 0; j = (j + 1) & mask) {
        uint32_t home = session_hash(t->slots[t->index[j] - 1].client_id, mask);
        /* the cell at j may fill the hole unless its home lies in (hole, j], cyclically */
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            t->index[hole] = t->index[j];
            hole = j;
        }
    }
    t->index[hole] = 0;
}

void session_record(struct session_table *t, uint64_t client_id, uint64_t seq,
                    const struct lum_result *res)
{
    uint32_t i = session_probe(t, client_id);
    uint32_t slot;
    if (t->index[i]) {
        slot = t->index[i] - 1;
        session_lru_unlink(t, slot);
    } else {
        if (t->count < t->cap) {
            slot = t->count++;
        } else {
            slot = t->lru_tail; /* evict the least recently used */
            session_lru_unlink(t, slot);
            session_index_delete(t, session_probe(t, t->slots[slot].client_id));
            i = session_probe(t, client_id);
        }
        t->index[i] = slot + 1;
    }
    struct session *s = &t->slots[slot];
    s->client_id = client_id;
    s->seq = seq;
    s->code = res->code;
    s->data_len = (uint8_t)(res->len <= SESSION_DATA_MAX ? res->len : 0);
    if (s->data_len)
        memcpy(s->data, res->data, s->data_len);
    session_lru_push_head(t, slot);
}

/* Snapshot form, least recently used first, so loading in order rebuilds the same LRU:
 *   u32 count | count x (u64 client_id | u64 seq | i32 code | u8 data_len | data) */
int session_save(struct session_table *t, struct lum_sink *to)
{
    uint8_t rec[8 + 8 + 4 + 1 + SESSION_DATA_MAX];
    lum_put_u32(rec, t->count);
    int rv = to->write(to->ctx, rec, 4);
    for (uint32_t slot = t->lru_tail; rv == 0 && slot != SESSION_NONE;
         slot = t->slots[slot].lru_prev) {
        const struct session *s = &t->slots[slot];
        lum_put_u64(rec, s->client_id);
        lum_put_u64(rec + 8, s->seq);
        lum_put_u32(rec + 16, (uint32_t)s->code);
        rec[20] = s->data_len;
        memcpy(rec + 21, s->data, s->data_len);
        rv = to->write(to->ctx, rec, 21u + s->data_len);
    }
    return rv;
}

int session_load(struct session_table *t, struct lum_source *from)
{
    uint8_t rec[8 + 8 + 4 + 1 + SESSION_DATA_MAX];
    int rv = from->read(from->ctx, rec, 4);
    if (rv != 0)
        return rv;
    uint32_t n = lum_get_u32(rec);
    uint32_t cap = t->cap;
    session_free(t);
    if ((rv = session_init(t, cap)) != 0)
        return rv;
    for (uint32_t i = 0; i < n; i++) {
        if ((rv = from->read(from->ctx, rec, 21)) != 0)
            return rv;
        uint8_t len = rec[20];
        if (len > SESSION_DATA_MAX)
            return -LUM_ECORRUPT;
        if ((rv = from->read(from->ctx, rec + 21, len)) != 0)
            return rv;
        struct lum_result res = {.code = (int32_t)lum_get_u32(rec + 16), .data = rec + 21,
                                 .len = len};
        session_record(t, lum_get_u64(rec), lum_get_u64(rec + 8), &res);
    }
    return 0;
}
