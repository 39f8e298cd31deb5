/* The key-value machine's queries (format and answers in luminous/kv.h): GET, MGET, EXISTS,
 * PTTL and DBSIZE, answered from local state at the caller's now_ms. A key expired at
 * now_ms is absent, even before the EXPIRE that removes it is applied. */
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

/* The live item of key at now_ms, or NULL. */
static struct kv_item *kv_query_find(struct kv *kv, const void *key, uint16_t klen,
                                     uint64_t now_ms)
{
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&kv->s.table, kv_hash(key, klen), key, klen, &link);
    return it && !kv_item_expired(it, now_ms) ? it : NULL;
}

static void kv_query_get(struct kv *kv, const uint8_t *req, uint32_t len, uint64_t now_ms,
                         struct lum_result *out)
{
    struct kv_get_req r;
    if (!kv_decode_get(req, len, &r))
        return;
    struct kv_item *it = kv_query_find(kv, r.key, r.klen, now_ms);
    if (!it) {
        out->code = KV_NOT_FOUND;
        return;
    }
    out->code = KV_OK;
    out->data = kv_item_value(it);
    out->len = it->vlen;
}

/* The item of the next key of a multi-key request (NULL if absent or expired); *p moves on. */
static struct kv_item *kv_query_next_key(struct kv *kv, const uint8_t **p, uint64_t now_ms)
{
    struct kv_key k;
    *p = kv_next_key(*p, &k);
    return kv_query_find(kv, k.key, (uint16_t)k.len, now_ms);
}

/* Two passes over the keys: the first sizes the answer (refused beyond KV_ANSWER_MAX), the
 * second writes it into kv->reply, which outlives the call as fsm.h requires. */
static int kv_query_mget(struct kv *kv, const struct kv_multi_req *r, uint64_t now_ms,
                         struct lum_result *out)
{
    uint64_t size = 0;
    const uint8_t *p = r->first;
    for (uint16_t i = 0; i < r->count; i++) {
        struct kv_item *it = kv_query_next_key(kv, &p, now_ms);
        size += 5 + (it ? it->vlen : 0);
    }
    if (size > KV_ANSWER_MAX)
        return 0; /* KV_BAD_REQUEST */
    if (size > kv->reply_cap) {
        uint8_t *reply = realloc(kv->reply, size);
        if (!reply)
            return -LUM_ENOMEM;
        kv->reply = reply;
        kv->reply_cap = size;
    }
    uint8_t *w = kv->reply;
    p = r->first;
    for (uint16_t i = 0; i < r->count; i++) {
        struct kv_item *it = kv_query_next_key(kv, &p, now_ms);
        w[0] = it != NULL;
        lum_put_u32(w + 1, it ? it->vlen : 0);
        if (it && it->vlen)
            memcpy(w + 5, kv_item_value(it), it->vlen);
        w += 5 + (it ? it->vlen : 0);
    }
    LUM_ASSERT((uint64_t)(w - kv->reply) == size);
    out->code = KV_OK;
    out->data = kv->reply;
    out->len = (uint32_t)size;
    return 0;
}

/* Every key is looked up, so a key named twice counts twice (as in Redis). */
static void kv_query_exists(struct kv *kv, const struct kv_multi_req *r, uint64_t now_ms,
                            struct lum_result *out)
{
    uint32_t found = 0;
    const uint8_t *p = r->first;
    for (uint16_t i = 0; i < r->count; i++) {
        if (kv_query_next_key(kv, &p, now_ms))
            found++;
    }
    lum_put_u32(kv->answer, found);
    out->code = KV_OK;
    out->data = kv->answer;
    out->len = 4;
}

static void kv_query_pttl(struct kv *kv, const uint8_t *req, uint32_t len, uint64_t now_ms,
                          struct lum_result *out)
{
    struct kv_get_req r;
    if (!kv_decode_pttl(req, len, &r))
        return;
    struct kv_item *it = kv_query_find(kv, r.key, r.klen, now_ms);
    int64_t left = -2;
    if (it && it->expire_at_ms == 0)
        left = -1;
    else if (it) /* not expired: expire_at_ms > now_ms */
        left = it->expire_at_ms - now_ms > INT64_MAX ? INT64_MAX
                                                     : (int64_t)(it->expire_at_ms - now_ms);
    lum_put_u64(kv->answer, (uint64_t)left);
    out->code = KV_OK;
    out->data = kv->answer;
    out->len = 8;
}

/* The items expired at now_ms are exactly the heap's nodes with expire_at_ms <= now_ms,
 * and they form a subtree at its root (a node is no earlier than its parent). This walks
 * that subtree depth-first without a stack, climbing back through the parents, so the cost
 * follows the expired keys, not the table. */
static uint64_t kv_query_count_expired(const struct kv_heap *h, uint64_t now_ms)
{
    if (h->count == 0 || h->items[0]->expire_at_ms > now_ms)
        return 0;
    uint64_t expired = 0, i = 0;
    for (;;) {
        expired++;
        uint64_t left = 2 * i + 1;
        if (left < h->count && h->items[left]->expire_at_ms <= now_ms) {
            i = left;
            continue;
        }
        if (left + 1 < h->count && h->items[left + 1]->expire_at_ms <= now_ms) {
            i = left + 1;
            continue;
        }
        /* up to the nearest left child whose right sibling is expired, and over to it */
        for (;;) {
            if (i == 0)
                return expired;
            if (i % 2 == 1 && i + 1 < h->count && h->items[i + 1]->expire_at_ms <= now_ms) {
                i++;
                break;
            }
            i = (i - 1) / 2;
        }
    }
}

static void kv_query_dbsize(struct kv *kv, uint64_t now_ms, struct lum_result *out)
{
    uint64_t expired = kv_query_count_expired(&kv->s.heap, now_ms);
    LUM_ASSERT(expired <= kv->s.table.count);
    lum_put_u64(kv->answer, kv->s.table.count - expired);
    out->code = KV_OK;
    out->data = kv->answer;
    out->len = 8;
}

int kv_query_any(struct kv *kv, const uint8_t *req, uint32_t len, uint64_t now_ms,
                 struct lum_result *out)
{
    *out = (struct lum_result){.code = KV_BAD_REQUEST, .data = NULL, .len = 0};
    if (len == 0)
        return 0;
    struct kv_multi_req r;
    switch (req[0]) {
    case KV_GET:
        kv_query_get(kv, req, len, now_ms, out);
        return 0;
    case KV_MGET:
        return kv_decode_mquery(req, len, &r) ? kv_query_mget(kv, &r, now_ms, out) : 0;
    case KV_EXISTS:
        if (kv_decode_mquery(req, len, &r))
            kv_query_exists(kv, &r, now_ms, out);
        return 0;
    case KV_PTTL:
        kv_query_pttl(kv, req, len, now_ms, out);
        return 0;
    case KV_DBSIZE:
        if (kv_decode_dbsize(req, len))
            kv_query_dbsize(kv, now_ms, out);
        return 0;
    default:
        return 0;
    }
}
