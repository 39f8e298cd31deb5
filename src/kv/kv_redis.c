/* The Redis-shaped commands of the key-value machine (format and answers in luminous/kv.h):
 * SET with NX/XX/KEEPTTL, INCR, SETTTL (EXPIRE and PERSIST), MSET and MDEL. Like the
 * others they take "now" from the command's time_ms only, treat a key expired at that time
 * as absent, and make every allocation before the first change, so that running out of
 * memory changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

/* ---- integers as Redis reads and writes them ---------------------------------------------- */

bool kv_int_parse(const uint8_t *p, size_t len, int64_t *v)
{
    if (len == 0 || len > KV_INT_TEXT_MAX)
        return false;
    if (len == 1 && p[0] == '0') {
        *v = 0;
        return true;
    }
    bool negative = p[0] == '-';
    size_t i = negative ? 1 : 0;
    /* a first digit of 0 is refused here: no leading zeros, and no "-0" */
    if (i == len || p[i] < '1' || p[i] > '9')
        return false;
    uint64_t u = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (u > (UINT64_MAX - d) / 10)
            return false;
        u = u * 10 + d;
    }
    if (negative) {
        if (u > (uint64_t)INT64_MAX + 1)
            return false;
        *v = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX)
            return false;
        *v = (int64_t)u;
    }
    return true;
}

uint32_t kv_int_format(uint8_t *buf, int64_t v)
{
    uint8_t digits[KV_INT_TEXT_MAX];
    uint32_t n = 0, len = 0;
    /* the magnitude as unsigned: -INT64_MIN does not fit an int64 */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (uint8_t)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = digits[--n];
    return len;
}

/* ---- SET ----------------------------------------------------------------------------------- */

int kv_apply_set(struct kv *kv, const struct lum_command *c, struct lum_result *out)
{
    struct kv_store *s = &kv->s;
    struct kv_set_req r;
    if (!kv_decode_set(c->body, c->len, &r))
        return 0;
    if (r.ttl_ms && r.ttl_ms > UINT64_MAX - c->time_ms)
        return 0; /* KV_BAD_REQUEST, as a PUT's */
    uint64_t hash = kv_hash(r.key, r.klen);
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&s->table, hash, r.key, r.klen, &link);
    bool present = it && !kv_item_expired(it, c->time_ms);
    if (((r.flags & KV_SET_NX) && present) || ((r.flags & KV_SET_XX) && !present)) {
        out->code = KV_MISMATCH;
        return 0;
    }
    /* KEEPTTL keeps only a live key's expiry: an expired one is gone, and so is its expiry */
    bool keep = (r.flags & KV_SET_KEEPTTL) && present;
    uint64_t expire_at_ms = r.ttl_ms ? c->time_ms + r.ttl_ms : 0;
    if (expire_at_ms && kv_heap_reserve(&s->heap, s->heap.count + 1) != 0)
        return -LUM_ENOMEM;
    it = kv_store_put(s, it, link, hash, r.key, r.klen, r.value, r.vlen);
    if (!it)
        return -LUM_ENOMEM;
    if (!keep)
        kv_store_set_expiry(s, it, expire_at_ms);
    out->code = KV_OK;
    return 0;
}

/* ---- INCR ---------------------------------------------------------------------------------- */

int kv_apply_incr(struct kv *kv, const struct lum_command *c, struct lum_result *out)
{
    struct kv_store *s = &kv->s;
    struct kv_key_i64_req r;
    if (!kv_decode_key_i64(c->body, c->len, &r))
        return 0;
    uint64_t hash = kv_hash(r.key, r.klen);
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&s->table, hash, r.key, r.klen, &link);
    bool present = it && !kv_item_expired(it, c->time_ms);
    int64_t v = 0;
    if (present && !kv_int_parse(kv_item_value(it), it->vlen, &v)) {
        out->code = KV_NOT_INTEGER;
        return 0;
    }
    if ((r.v > 0 && v > INT64_MAX - r.v) || (r.v < 0 && v < INT64_MIN - r.v)) {
        out->code = KV_OVERFLOW;
        return 0;
    }
    v += r.v;
    uint8_t text[KV_INT_TEXT_MAX];
    uint32_t n = kv_int_format(text, v);
    it = kv_store_put(s, it, link, hash, r.key, r.klen, text, n);
    if (!it)
        return -LUM_ENOMEM;
    /* a live key keeps its expiry; an expired one was absent, and its successor has none */
    if (!present)
        kv_store_set_expiry(s, it, 0);
    lum_put_u64(kv->answer, (uint64_t)v);
    out->code = KV_OK;
    out->data = kv->answer;
    out->len = 8;
    return 0;
}

/* ---- SETTTL -------------------------------------------------------------------------------- */

/* The expiry changes through kv_store_set_expiry, which moves the item in the heap and
 * forgets any EXPIRE housekeeping proposed for the old one; that EXPIRE, applied later,
 * finds another expiry and answers KV_MISMATCH without deleting anything. */
int kv_apply_setttl(struct kv *kv, const struct lum_command *c, struct lum_result *out)
{
    struct kv_store *s = &kv->s;
    struct kv_key_i64_req r;
    if (!kv_decode_key_i64(c->body, c->len, &r))
        return 0;
    uint64_t expire_at_ms = 0;
    if (r.v > 0) {
        if ((uint64_t)r.v > UINT64_MAX - c->time_ms)
            return 0; /* KV_BAD_REQUEST: a ttl that overflows */
        expire_at_ms = c->time_ms + (uint64_t)r.v;
    }
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&s->table, kv_hash(r.key, r.klen), r.key, r.klen, &link);
    if (!it || kv_item_expired(it, c->time_ms)) {
        out->code = KV_NOT_FOUND;
        return 0;
    }
    if (r.v == INT64_MIN) { /* PERSIST */
        if (it->expire_at_ms == 0) {
            out->code = KV_MISMATCH;
            return 0;
        }
        kv_store_set_expiry(s, it, 0);
    } else if (r.v <= 0) {  /* an expiry in the past: the key goes now */
        kv_store_delete_at(s, link);
    } else {
        if (!it->heap_slot && kv_heap_reserve(&s->heap, s->heap.count + 1) != 0)
            return -LUM_ENOMEM;
        kv_store_set_expiry(s, it, expire_at_ms);
    }
    out->code = KV_OK;
    return 0;
}

/* ---- MSET and MDEL ------------------------------------------------------------------------- */

/* Every new item is allocated first; then each takes its key's place (a key twice: the
 * later pair wins, as in Redis). A resize moves a few buckets per key, not per entry, so
 * that a run of MSETs cannot outpace it (see kv_table_check_load). */
int kv_apply_mset(struct kv *kv, const struct lum_command *c, struct lum_result *out)
{
    struct kv_store *s = &kv->s;
    struct kv_multi_req r;
    if (!kv_decode_mset(c->body, c->len, &r))
        return 0;
    LUM_ASSERT(r.count <= KV_MSET_PAIRS_MAX); /* an entry cannot carry more */
    struct kv_item **items = kv->mset_items;
    const uint8_t *p = r.first;
    for (uint16_t i = 0; i < r.count; i++) {
        struct kv_pair pair;
        p = kv_next_pair(p, &pair);
        items[i] = kv_item_new(kv_hash(pair.key, pair.klen), pair.key, (uint16_t)pair.klen,
                               pair.value, (uint32_t)pair.vlen);
        if (!items[i]) {
            while (i > 0)
                free(items[--i]);
            return -LUM_ENOMEM;
        }
    }
    for (uint16_t i = 0; i < r.count; i++) {
        struct kv_item *it = items[i], **link;
        struct kv_item *old = kv_table_find(&s->table, it->hash, it->data, it->klen, &link);
        if (old) {
            if (old->heap_slot)
                kv_heap_remove(&s->heap, old); /* MSET sets no expiry */
            it->next = old->next;
            kv_table_replace_at(&s->table, link, it, kv_item_size(old->klen, old->vlen));
            free(old);
        } else {
            kv_table_insert_at(&s->table, link, it);
        }
        kv_table_rehash_step(&s->table, KV_REHASH_STEP_BUCKETS);
    }
    out->code = KV_OK;
    return 0;
}

int kv_apply_mdel(struct kv *kv, const struct lum_command *c, struct lum_result *out)
{
    struct kv_store *s = &kv->s;
    struct kv_multi_req r;
    if (!kv_decode_mdel(c->body, c->len, &r))
        return 0;
    uint32_t deleted = 0;
    const uint8_t *p = r.first;
    for (uint16_t i = 0; i < r.count; i++) {
        struct kv_key k;
        p = kv_next_key(p, &k);
        struct kv_item **link;
        struct kv_item *it = kv_table_find(&s->table, kv_hash(k.key, k.len), k.key,
                                           (uint16_t)k.len, &link);
        if (!it)
            continue;
        /* as DEL: an expired key does not count, and goes for good now */
        if (!kv_item_expired(it, c->time_ms))
            deleted++;
        kv_store_delete_at(s, link);
    }
    lum_put_u32(kv->answer, deleted);
    out->code = KV_OK;
    out->data = kv->answer;
    out->len = 4;
    return 0;
}
