/* The key-value machine's hash table: chains sorted by (hash, key) under buckets picked by
 * the hash's top bits, so that a walk is in canonical order, and resizes done a bounded
 * number of buckets at a time so that no single apply() stalls on a large table. */
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

/* ---- keys ---------------------------------------------------------------------------------- */

/* A bijective 64-bit mixer (xor-shift / odd-multiply rounds). */
static inline uint64_t kv_hash_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
}

uint64_t kv_hash(const void *key, size_t klen)
{
    const uint8_t *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull * (klen + 1);
    while (klen >= 8) {
        h = (h ^ kv_hash_mix(lum_get_u64(p))) * 0x9e3779b97f4a7c15ull;
        h = (h << 29) | (h >> 35);
        p += 8;
        klen -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < klen; i++)
        tail |= (uint64_t)p[i] << (8 * i);
    return kv_hash_mix(h ^ kv_hash_mix(tail + klen));
}

struct kv_item *kv_item_new(uint64_t hash, const void *key, uint16_t klen, const void *value,
                            uint32_t vlen)
{
    LUM_ASSERT(klen >= 1);
    LUM_ASSERT(klen <= KV_KEY_MAX);
    struct kv_item *it = malloc(kv_item_size(klen, vlen));
    if (!it)
        return NULL;
    it->next = NULL;
    it->hash = hash;
    it->expire_at_ms = 0;
    it->vlen = vlen;
    it->heap_slot = 0;
    it->proposed_at_s = 0;
    it->klen = klen;
    memcpy(it->data, key, klen);
    if (vlen)
        memcpy(it->data + klen, value, vlen);
    return it;
}

/* <0, 0, >0 as the item sorts before, at, after (hash, key). */
static int kv_item_cmp(const struct kv_item *it, uint64_t hash, const void *key, uint16_t klen)
{
    if (it->hash != hash)
        return it->hash < hash ? -1 : 1;
    int c = memcmp(it->data, key, it->klen < klen ? it->klen : klen);
    if (c)
        return c;
    return (it->klen > klen) - (it->klen < klen);
}

/* ---- the table ----------------------------------------------------------------------------- */

static inline size_t kv_table_index(uint64_t hash, unsigned bits)
{
    return (size_t)(hash >> (64 - bits));
}

int kv_table_init(struct kv_table *t)
{
    memset(t, 0, sizeof *t);
    t->bits = KV_TABLE_BITS_MIN;
    t->buckets = calloc((size_t)1 << t->bits, sizeof *t->buckets);
    return t->buckets ? 0 : -LUM_ENOMEM;
}

static void kv_table_free_chains(struct kv_item **b, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        struct kv_item *it = b[i];
        while (it) {
            struct kv_item *next = it->next;
            free(it);
            it = next;
        }
    }
}

void kv_table_free(struct kv_table *t)
{
    if (t->buckets)
        kv_table_free_chains(t->buckets, 0, (size_t)1 << t->bits);
    if (t->old)
        kv_table_free_chains(t->old, t->rehash_idx, (size_t)1 << t->old_bits);
    free(t->buckets);
    free(t->old);
    memset(t, 0, sizeof *t);
}

/* The bucket that holds (or would hold) hash. */
static struct kv_item **kv_table_bucket(struct kv_table *t, uint64_t hash)
{
    if (t->old) {
        size_t i = kv_table_index(hash, t->old_bits);
        if (i >= t->rehash_idx)
            return &t->old[i];
    }
    return &t->buckets[kv_table_index(hash, t->bits)];
}

struct kv_item *kv_table_find(struct kv_table *t, uint64_t hash, const void *key,
                              uint16_t klen, struct kv_item ***link_out)
{
    struct kv_item **link = kv_table_bucket(t, hash);
    struct kv_item *it;
    for (; (it = *link) != NULL; link = &it->next) {
        int c = kv_item_cmp(it, hash, key, klen);
        if (c >= 0) {
            *link_out = link;
            return c == 0 ? it : NULL;
        }
    }
    *link_out = link;
    return NULL;
}

void kv_table_resize_start(struct kv_table *t, unsigned bits)
{
    LUM_ASSERT(bits >= KV_TABLE_BITS_MIN);
    LUM_ASSERT(bits <= KV_TABLE_BITS_MAX);
    if (t->old || bits == t->bits)
        return;
    struct kv_item **b = calloc((size_t)1 << bits, sizeof *b);
    if (!b)
        return;
    t->old = t->buckets;
    t->old_bits = t->bits;
    t->buckets = b;
    t->bits = bits;
    t->rehash_idx = 0;
}

/* Starts a resize if the load calls for one: growth at a load above 1 (moving at least 2
 * old buckets per applied entry finishes it before the doubled array is full), shrinking
 * below a load of 1/8, to a load of about 1/2. Checked after every insert and removal, and
 * when a resize ends (the load may have crossed a bound meanwhile). */
static void kv_table_check_load(struct kv_table *t)
{
    if (t->old)
        return;
    size_t n = (size_t)1 << t->bits;
    if (t->count > n && t->bits < KV_TABLE_BITS_MAX) {
        kv_table_resize_start(t, t->bits + 1);
    } else if (t->bits > KV_TABLE_BITS_MIN && t->count < n / 8) {
        unsigned bits = KV_TABLE_BITS_MIN;
        while (((size_t)1 << bits) < t->count * 2)
            bits++;
        kv_table_resize_start(t, bits);
    }
}

void kv_table_insert_at(struct kv_table *t, struct kv_item **link, struct kv_item *it)
{
    LUM_ASSERT(it->next == NULL);
    it->next = *link;
    *link = it;
    t->count++;
    t->item_bytes += kv_item_size(it->klen, it->vlen);
    kv_table_check_load(t);
}

void kv_table_remove_at(struct kv_table *t, struct kv_item **link)
{
    struct kv_item *it = *link;
    LUM_ASSERT(it != NULL);
    LUM_ASSERT(t->count > 0);
    *link = it->next;
    it->next = NULL;
    t->count--;
    t->item_bytes -= kv_item_size(it->klen, it->vlen);
    kv_table_check_load(t);
}

void kv_table_replace_at(struct kv_table *t, struct kv_item **link, struct kv_item *it,
                         size_t old_size)
{
    *link = it;
    t->item_bytes = t->item_bytes - old_size + kv_item_size(it->klen, it->vlen);
}

/* Moves old bucket i into the current array. Its chain is sorted and the top-bits mapping
 * is monotonic, so its items land in nondecreasing target buckets, each after everything
 * already there (which all hashes below old bucket i): appending keeps chains sorted. */
static void kv_table_move_bucket(struct kv_table *t, size_t i)
{
    struct kv_item *it = t->old[i];
    t->old[i] = NULL;
    size_t target = SIZE_MAX;
    struct kv_item **tail = NULL;
    while (it) {
        struct kv_item *next = it->next;
        size_t j = kv_table_index(it->hash, t->bits);
        if (j != target) {
            target = j;
            tail = &t->buckets[j];
            while (*tail)
                tail = &(*tail)->next;
        }
        it->next = NULL;
        *tail = it;
        tail = &it->next;
        it = next;
    }
}

void kv_table_rehash_step(struct kv_table *t, size_t buckets_max)
{
    if (!t->old)
        return;
    size_t n_old = (size_t)1 << t->old_bits;
    size_t end = n_old - t->rehash_idx > buckets_max ? t->rehash_idx + buckets_max : n_old;
    for (; t->rehash_idx < end; t->rehash_idx++)
        kv_table_move_bucket(t, t->rehash_idx);
    if (t->rehash_idx == n_old) {
        free(t->old);
        t->old = NULL;
        t->old_bits = 0;
        t->rehash_idx = 0;
        kv_table_check_load(t);
    }
}

size_t kv_table_array_bytes(const struct kv_table *t)
{
    size_t n = ((size_t)1 << t->bits) * sizeof *t->buckets;
    if (t->old)
        n += ((size_t)1 << t->old_bits) * sizeof *t->old;
    return n;
}

/* ---- walks ---------------------------------------------------------------------------------- */

/* Every item in the current array hashes below every item still in the old one (see
 * struct kv_table), so the current array's buckets, then the old array's unmoved ones,
 * are in (hash, key) order. */
#define KV_TABLE_ITER_PREFETCH 8u /* buckets ahead */

void kv_table_iter_init(struct kv_table_iter *it, const struct kv_table *t)
{
    it->t = t;
    it->phase = 0;
    it->bucket = 0;
    it->item = t->buckets[0];
}

struct kv_item *kv_table_iter_next(struct kv_table_iter *it)
{
    const struct kv_table *t = it->t;
    for (;;) {
        if (it->item) {
            struct kv_item *r = it->item;
            it->item = r->next;
            return r;
        }
        if (it->phase == 2)
            return NULL;
        struct kv_item **b = it->phase == 0 ? t->buckets : t->old;
        size_t n = (size_t)1 << (it->phase == 0 ? t->bits : t->old_bits);
        if (++it->bucket < n) {
            it->item = b[it->bucket];
            /* a walk is a stream of cache misses, one per item: start those ahead */
            if (it->bucket + KV_TABLE_ITER_PREFETCH < n)
                __builtin_prefetch(b[it->bucket + KV_TABLE_ITER_PREFETCH]); /* NULL is fine */
            continue;
        }
        if (it->phase == 0 && t->old) {
            it->phase = 1;
            it->bucket = t->rehash_idx;
            it->item = t->old[it->bucket];
            continue;
        }
        it->phase = 2;
    }
}
