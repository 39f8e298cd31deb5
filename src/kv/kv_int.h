/* Internals of the key-value machine, shared by the files of src/kv/ (not a public header):
 * the item, the hash table with incremental resize, the expiry heap, the body codec. */
#ifndef LUMINOUS_KV_INT_H
#define LUMINOUS_KV_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/base.h"
#include "luminous/kv.h"

/* ---- limits ------------------------------------------------------------------------------ */

#define KV_TABLE_BITS_MIN       6u    /* smallest bucket array: 64 buckets                 */
#define KV_TABLE_BITS_MAX       40u   /* a bound for the asserts; never reached            */
#define KV_REHASH_STEP_BUCKETS  64u   /* old buckets moved per applied entry while resizing */
#define KV_EXPIRE_PROPOSE_MAX   256u  /* EXPIREs proposed per housekeeping call             */
#define KV_EXPIRE_VISIT_MAX     1024u /* heap nodes looked at per housekeeping call         */
#define KV_EXPIRE_RETRY_MS      5000u /* re-propose an EXPIRE still not applied after this  */
#define KV_DEL_OVERHEAD         2u    /* u16 klen                                          */
#define KV_CAS_OVERHEAD         10u   /* u16 klen | u32 old_len | u32 new_len               */
#define KV_EXPIRE_OVERHEAD      10u   /* u16 klen | u64 expire_at_ms                        */
#define KV_GET_OVERHEAD         3u    /* u8 op | u16 klen                                   */
#define KV_SET_OVERHEAD         15u   /* u8 flags | u16 klen | u32 vlen | u64 ttl_ms         */
#define KV_INCR_OVERHEAD        10u   /* u16 klen | i64 delta                               */
#define KV_SETTTL_OVERHEAD      10u   /* u16 klen | i64 ttl_ms                              */
#define KV_MULTI_OVERHEAD       2u    /* MSET, MDEL: u16 count                              */
#define KV_MSET_PAIR_OVERHEAD   6u    /* u16 klen | u32 vlen, per pair                      */
#define KV_MKEY_OVERHEAD        2u    /* MDEL, MGET, EXISTS: u16 klen, per key              */
#define KV_MQUERY_OVERHEAD      3u    /* u8 op | u16 count                                  */
#define KV_PTTL_OVERHEAD        3u    /* u8 op | u16 klen                                   */
#define KV_DBSIZE_LEN           1u    /* u8 op                                              */
#define KV_MULTI_MAX            65535u /* keys in one multi-key body: the count is a u16     */
#define KV_SET_FLAGS_ALL        (KV_SET_NX | KV_SET_XX | KV_SET_KEEPTTL)
/* Most pairs an MSET entry can carry (each at least a 1-byte key and an empty value). */
#define KV_MSET_PAIRS_MAX       ((LUM_COMMAND_BODY_MAX - KV_MULTI_OVERHEAD) / \
                                 (KV_MSET_PAIR_OVERHEAD + 1u))
#define KV_INT_TEXT_MAX         20u   /* "-9223372036854775808": the longest int64 as text  */

static_assert(KV_KEY_MAX <= UINT16_MAX, "klen travels as a u16");
static_assert(KV_PUT_OVERHEAD + KV_KEY_MAX < LUM_COMMAND_BODY_MAX, "a PUT of the longest key fits");
static_assert(KV_CAS_OVERHEAD + KV_KEY_MAX < LUM_COMMAND_BODY_MAX, "a CAS of the longest key fits");
static_assert(KV_EXPIRE_OVERHEAD + KV_KEY_MAX <= LUM_COMMAND_BODY_MAX, "an EXPIRE always fits");
static_assert(KV_REHASH_STEP_BUCKETS >= 2, "a resize must finish before the next is due");

/* ---- items ------------------------------------------------------------------------------- */

/* One key and its value in one allocation of kv_item_size(klen, vlen) bytes (no padding
 * after the header: 38 bytes + key + value). */
struct kv_item {
    struct kv_item *next;          /* hash chain, sorted by (hash, key)                    */
    uint64_t        hash;          /* kv_hash(key)                                         */
    uint64_t        expire_at_ms;  /* 0: never; else invisible once now_ms >= this         */
    uint32_t        vlen;          /* value bytes                                          */
    uint32_t        heap_slot;     /* index in the expiry heap + 1; 0: not in the heap     */
    uint32_t        proposed_at_s; /* leader-local: (now_ms / 1000) + 1 when housekeeping
                                      last proposed an EXPIRE for it; 0: not proposed.
                                      Not replicated, not in snapshots                    */
    uint16_t        klen;          /* key bytes, 1..KV_KEY_MAX                             */
    uint8_t         data[];        /* key, then value                                      */
};

static inline size_t kv_item_size(size_t klen, size_t vlen)
{
    return offsetof(struct kv_item, data) + klen + vlen;
}
static inline const uint8_t *kv_item_value(const struct kv_item *it) { return it->data + it->klen; }

/* True if the item is invisible at now_ms. */
static inline bool kv_item_expired(const struct kv_item *it, uint64_t now_ms)
{
    return it->expire_at_ms != 0 && it->expire_at_ms <= now_ms;
}

/* A new item (not in any table or heap), or NULL when out of memory. */
struct kv_item *kv_item_new(uint64_t hash, const void *key, uint16_t klen, const void *value,
                            uint32_t vlen);

/* The 64-bit hash of a key. Fixed (no per-process seed) and byte-order independent: it
 * defines the order of records in a snapshot, which must be the same on every replica. */
uint64_t kv_hash(const void *key, size_t klen);

/* ---- the hash table (kv_table.c) ---------------------------------------------------------- */

/* Chained, with buckets chosen by the hash's top bits and each chain sorted by (hash, key):
 * walking the buckets in order visits every item in (hash, key) order, whatever the table's
 * history, which makes snapshots canonical. Growth and shrinking are incremental: a resize
 * allocates the new bucket array and kv_table_rehash_step() moves old buckets over, a bounded
 * number per call. An item whose old bucket index is >= rehash_idx is still in the old
 * array; every other item is in the current one. */
struct kv_table {
    struct kv_item **buckets;    /* current array, 1 << bits                             */
    struct kv_item **old;        /* while resizing: the previous array; else NULL        */
    unsigned         bits;
    unsigned         old_bits;
    size_t           rehash_idx; /* old buckets below this have been moved               */
    size_t           count;      /* items                                                */
    size_t           item_bytes; /* sum of the items' kv_item_size()                     */
};

/* 0 or -LUM_ENOMEM. */
int  kv_table_init(struct kv_table *t);
/* Frees the arrays and every item. */
void kv_table_free(struct kv_table *t);

/* Looks key up. *link_out gets the link where the key is, or where it would be inserted;
 * valid until the table next changes. Returns the item or NULL. Never allocates. */
struct kv_item *kv_table_find(struct kv_table *t, uint64_t hash, const void *key,
                              uint16_t klen, struct kv_item ***link_out);
/* Inserts it at the link kv_table_find gave for its key; may start a growth. */
void kv_table_insert_at(struct kv_table *t, struct kv_item **link, struct kv_item *it);
/* Unlinks the item at *link (the caller frees it); may start a shrink. */
void kv_table_remove_at(struct kv_table *t, struct kv_item **link);
/* Replaces the item at *link by it (same key: a reallocation); adjusts item_bytes. */
void kv_table_replace_at(struct kv_table *t, struct kv_item **link, struct kv_item *it,
                         size_t old_size);
/* Moves up to buckets_max old buckets if a resize is under way. */
void kv_table_rehash_step(struct kv_table *t, size_t buckets_max);
/* Starts a resize to 1 << bits buckets (a no-op while one is under way or if the array
 * cannot be allocated: the table then works on at a higher load). */
void kv_table_resize_start(struct kv_table *t, unsigned bits);
/* Bytes of bucket arrays. */
size_t kv_table_array_bytes(const struct kv_table *t);

/* Visits every item in (hash, key) order. The table must not change during a walk. */
struct kv_table_iter {
    const struct kv_table *t;
    int                    phase;  /* 0: the current array, 1: the old one, 2: done */
    size_t                 bucket;
    struct kv_item        *item;   /* the next item to return in this bucket, if any */
};
void kv_table_iter_init(struct kv_table_iter *it, const struct kv_table *t);
struct kv_item *kv_table_iter_next(struct kv_table_iter *it);

/* ---- the expiry heap (kv_heap.c) ------------------------------------------------------------ */

/* A binary min-heap on expire_at_ms of the items that have an expiry; each item knows its
 * slot, so a removal or a change of expiry is O(log n). Local to a replica: its shape
 * depends on history, and nothing replicated depends on it. */
struct kv_heap {
    struct kv_item **items;
    uint32_t         count, cap;
};

void kv_heap_free(struct kv_heap *h);
/* Makes room for n items so that a later push cannot fail. 0 or -LUM_ENOMEM. */
int  kv_heap_reserve(struct kv_heap *h, uint32_t n);
void kv_heap_push(struct kv_heap *h, struct kv_item *it);   /* needs room: reserve first */
void kv_heap_remove(struct kv_heap *h, struct kv_item *it);
void kv_heap_fix(struct kv_heap *h, struct kv_item *it);    /* its expire_at_ms changed   */

/* ---- the machine's state (kv.c, kv_snapshot.c) ---------------------------------------------- */

struct kv_store {
    struct kv_table table;
    struct kv_heap  heap;
};

int  kv_store_init(struct kv_store *s);
void kv_store_free(struct kv_store *s);

struct kv {
    struct kv_store s;
    uint32_t        hk_stack[KV_EXPIRE_VISIT_MAX * 2 + 2]; /* housekeeping's heap walk */
    /* Answers that are not a stored value live here until the next call (fsm.h): INCR's
     * and MDEL's, EXISTS', PTTL's and DBSIZE's in answer, MGET's in reply (grown on
     * demand up to KV_ANSWER_MAX and kept, so that a run of MGETs does not reallocate). */
    uint8_t         answer[8];
    uint8_t        *reply;
    size_t          reply_cap;
    /* MSET's new items, all allocated before the first change */
    struct kv_item *mset_items[KV_MSET_PAIRS_MAX];
};

/* Helpers of apply (kv.c), for every command. kv_store_set_expiry gives an item a new
 * expiry (0: none) and keeps the heap in step: the heap must have room for one more.
 * kv_store_set_value sets the value of the item at *link, reallocating it if the length
 * changes: 0 or -LUM_ENOMEM (then nothing changed). kv_store_delete_at removes and frees
 * the item at *link. */
void kv_store_set_expiry(struct kv_store *s, struct kv_item *it, uint64_t expire_at_ms);
int  kv_store_set_value(struct kv_store *s, struct kv_item **link, const void *value,
                        uint32_t vlen);
void kv_store_delete_at(struct kv_store *s, struct kv_item **link);
/* Sets a key's value: found's, the item kv_table_find returned with link, or a new item's
 * at link when found is NULL. The item, or NULL when out of memory (nothing changed). */
struct kv_item *kv_store_put(struct kv_store *s, struct kv_item *found, struct kv_item **link,
                             uint64_t hash, const void *key, uint16_t klen, const void *value,
                             uint32_t vlen);

/* The Redis-shaped commands (kv_redis.c): each decodes c's body (KV_BAD_REQUEST, set by
 * the caller, when it does not decode) and sets out. 0, or -LUM_ENOMEM before any change. */
int kv_apply_set(struct kv *kv, const struct lum_command *c, struct lum_result *out);
int kv_apply_incr(struct kv *kv, const struct lum_command *c, struct lum_result *out);
int kv_apply_setttl(struct kv *kv, const struct lum_command *c, struct lum_result *out);
int kv_apply_mset(struct kv *kv, const struct lum_command *c, struct lum_result *out);
int kv_apply_mdel(struct kv *kv, const struct lum_command *c, struct lum_result *out);

/* Every query (kv_query.c), dispatched on its op. */
int kv_query_any(struct kv *kv, const uint8_t *req, uint32_t len, uint64_t now_ms,
                 struct lum_result *out);

/* Redis's reading of a value as an integer (its string2ll): an optional '-', then "0" or
 * a digit 1-9 and more digits, at most KV_INT_TEXT_MAX bytes in all, within int64; no
 * '+', no spaces, no "-0". True and *v, or false. */
bool kv_int_parse(const uint8_t *p, size_t len, int64_t *v);
/* v in decimal into buf (KV_INT_TEXT_MAX bytes); returns the length. */
uint32_t kv_int_format(uint8_t *buf, int64_t v);

int kv_snapshot_save(void *fsm, struct lum_sink *to);
int kv_snapshot_load(void *fsm, struct lum_source *from);

/* ---- command bodies (kv_codec.c) ------------------------------------------------------------- */

/* Parsed bodies point into the entry. Each parser checks that the body is exactly as long
 * as its lengths say, and that 1 <= klen <= KV_KEY_MAX; false means KV_BAD_REQUEST. */
struct kv_put_req {
    const uint8_t *key, *value;
    uint16_t       klen;
    uint32_t       vlen;
    uint64_t       ttl_ms;
};
struct kv_del_req {
    const uint8_t *key;
    uint16_t       klen;
};
struct kv_cas_req {
    const uint8_t *key, *old, *new_value;
    uint16_t       klen;
    uint32_t       old_len, new_len;
};
struct kv_expire_req {
    const uint8_t *key;
    uint16_t       klen;
    uint64_t       expire_at_ms; /* nonzero */
};
struct kv_get_req {
    const uint8_t *key;
    uint16_t       klen;
};

/* SET: the flags are known bits, not NX and XX together, not KEEPTTL with a ttl. */
struct kv_set_req {
    const uint8_t *key, *value;
    uint8_t        flags;
    uint16_t       klen;
    uint32_t       vlen;
    uint64_t       ttl_ms;
};
/* INCR (v: the delta) and SETTTL (v: the ttl), which share a layout. */
struct kv_key_i64_req {
    const uint8_t *key;
    uint16_t       klen;
    int64_t        v;
};
/* MSET, MDEL, MGET, EXISTS: count >= 1 items from first, walked with kv_next_pair or
 * kv_next_key (the decoder checked every one of them). */
struct kv_multi_req {
    const uint8_t *first;
    uint16_t       count;
};

bool kv_decode_put(const uint8_t *b, uint32_t len, struct kv_put_req *out);
bool kv_decode_del(const uint8_t *b, uint32_t len, struct kv_del_req *out);
bool kv_decode_cas(const uint8_t *b, uint32_t len, struct kv_cas_req *out);
bool kv_decode_expire(const uint8_t *b, uint32_t len, struct kv_expire_req *out);
bool kv_decode_get(const uint8_t *b, uint32_t len, struct kv_get_req *out);
bool kv_decode_set(const uint8_t *b, uint32_t len, struct kv_set_req *out);
bool kv_decode_key_i64(const uint8_t *b, uint32_t len, struct kv_key_i64_req *out);
bool kv_decode_mset(const uint8_t *b, uint32_t len, struct kv_multi_req *out);
bool kv_decode_mdel(const uint8_t *b, uint32_t len, struct kv_multi_req *out);
bool kv_decode_mquery(const uint8_t *b, uint32_t len, struct kv_multi_req *out); /* MGET, EXISTS */
bool kv_decode_pttl(const uint8_t *b, uint32_t len, struct kv_get_req *out);
bool kv_decode_dbsize(const uint8_t *b, uint32_t len);

/* The item at p of a decoded multi body; returns where the next one starts. */
const uint8_t *kv_next_pair(const uint8_t *p, struct kv_pair *out);
const uint8_t *kv_next_key(const uint8_t *p, struct kv_key *out);

/* The EXPIRE body for a key (1..KV_KEY_MAX bytes) into buf, which holds
 * KV_EXPIRE_OVERHEAD + KV_KEY_MAX bytes. Returns its length. */
uint32_t kv_encode_expire(uint8_t *buf, const void *key, uint16_t klen, uint64_t expire_at_ms);

#endif
