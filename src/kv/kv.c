/* The key-value state machine behind kv_fsm_ops: PUT, DEL, CAS and EXPIRE applied from
 * committed entries (deterministically: "now" is the command's time_ms), and the leader's
 * housekeeping that proposes an EXPIRE for each expired key. The Redis-shaped commands are
 * in kv_redis.c, the queries in kv_query.c. */
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

/* ---- the state -------------------------------------------------------------------------- */

int kv_store_init(struct kv_store *s)
{
    memset(s, 0, sizeof *s);
    return kv_table_init(&s->table);
}

void kv_store_free(struct kv_store *s)
{
    kv_table_free(&s->table);
    kv_heap_free(&s->heap);
}

static void *kv_create(void)
{
    struct kv *kv = calloc(1, sizeof *kv);
    if (!kv)
        return NULL;
    if (kv_store_init(&kv->s) != 0) {
        free(kv);
        return NULL;
    }
    return kv;
}

static void kv_destroy(void *fsm)
{
    struct kv *kv = fsm;
    if (!kv)
        return;
    kv_store_free(&kv->s);
    free(kv->reply);
    free(kv);
}

/* Gives an item a new expiry (0: none), keeping the heap in step. The heap must have room
 * for one more item. */
void kv_store_set_expiry(struct kv_store *s, struct kv_item *it, uint64_t expire_at_ms)
{
    it->proposed_at_s = 0;
    it->expire_at_ms = expire_at_ms;
    if (expire_at_ms == 0) {
        if (it->heap_slot)
            kv_heap_remove(&s->heap, it);
    } else if (it->heap_slot) {
        kv_heap_fix(&s->heap, it);
    } else {
        kv_heap_push(&s->heap, it);
    }
}

/* Sets the value of the item at *link, reallocating it if the length changes.
 * 0 or -LUM_ENOMEM (then nothing changed). */
int kv_store_set_value(struct kv_store *s, struct kv_item **link, const void *value,
                       uint32_t vlen)
{
    struct kv_item *it = *link;
    if (it->vlen != vlen) {
        size_t old_size = kv_item_size(it->klen, it->vlen);
        struct kv_item *moved = realloc(it, kv_item_size(it->klen, vlen));
        if (!moved)
            return -LUM_ENOMEM;
        it = moved;
        it->vlen = vlen;
        kv_table_replace_at(&s->table, link, it, old_size);
        if (it->heap_slot)
            s->heap.items[it->heap_slot - 1] = it;
    }
    if (vlen)
        memcpy(it->data + it->klen, value, vlen);
    return 0;
}

/* Sets key's value: found's (what kv_table_find said, and its link), or a new item's at
 * link when found is NULL. The item, or NULL when out of memory (then nothing changed). */
struct kv_item *kv_store_put(struct kv_store *s, struct kv_item *found, struct kv_item **link,
                             uint64_t hash, const void *key, uint16_t klen, const void *value,
                             uint32_t vlen)
{
    if (found)
        return kv_store_set_value(s, link, value, vlen) == 0 ? *link : NULL;
    struct kv_item *it = kv_item_new(hash, key, klen, value, vlen);
    if (it)
        kv_table_insert_at(&s->table, link, it);
    return it;
}

/* Removes and frees the item at *link. */
void kv_store_delete_at(struct kv_store *s, struct kv_item **link)
{
    struct kv_item *it = *link;
    if (it->heap_slot)
        kv_heap_remove(&s->heap, it);
    kv_table_remove_at(&s->table, link);
    free(it);
}

/* ---- apply -------------------------------------------------------------------------------- */

static int kv_apply_put(struct kv_store *s, const struct lum_command *c, struct lum_result *out)
{
    struct kv_put_req r;
    if (!kv_decode_put(c->body, c->len, &r))
        return 0;
    uint64_t expire_at_ms = 0;
    if (r.ttl_ms) {
        if (r.ttl_ms > UINT64_MAX - c->time_ms)
            return 0;
        expire_at_ms = c->time_ms + r.ttl_ms;
    }
    /* every allocation before the first change, so that running out changes nothing */
    if (expire_at_ms && kv_heap_reserve(&s->heap, s->heap.count + 1) != 0)
        return -LUM_ENOMEM;
    uint64_t hash = kv_hash(r.key, r.klen);
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&s->table, hash, r.key, r.klen, &link);
    it = kv_store_put(s, it, link, hash, r.key, r.klen, r.value, r.vlen);
    if (!it)
        return -LUM_ENOMEM;
    kv_store_set_expiry(s, it, expire_at_ms);
    out->code = KV_OK;
    return 0;
}

static int kv_apply_del(struct kv_store *s, const struct lum_command *c, struct lum_result *out)
{
    struct kv_del_req r;
    if (!kv_decode_del(c->body, c->len, &r))
        return 0;
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&s->table, kv_hash(r.key, r.klen), r.key, r.klen, &link);
    if (!it) {
        out->code = KV_NOT_FOUND;
        return 0;
    }
    /* an expired key is already gone for clients; it goes for good now */
    out->code = kv_item_expired(it, c->time_ms) ? KV_NOT_FOUND : KV_OK;
    kv_store_delete_at(s, link);
    return 0;
}

static int kv_apply_cas(struct kv_store *s, const struct lum_command *c, struct lum_result *out)
{
    struct kv_cas_req r;
    if (!kv_decode_cas(c->body, c->len, &r))
        return 0;
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&s->table, kv_hash(r.key, r.klen), r.key, r.klen, &link);
    if (!it || kv_item_expired(it, c->time_ms) || it->vlen != r.old_len ||
        memcmp(kv_item_value(it), r.old, r.old_len) != 0) {
        out->code = KV_MISMATCH;
        return 0;
    }
    if (kv_store_set_value(s, link, r.new_value, r.new_len) != 0)
        return -LUM_ENOMEM;
    out->code = KV_OK; /* the key keeps its expiry */
    return 0;
}

static int kv_apply_expire(struct kv_store *s, const struct lum_command *c,
                           struct lum_result *out)
{
    struct kv_expire_req r;
    if (!kv_decode_expire(c->body, c->len, &r))
        return 0;
    struct kv_item **link;
    struct kv_item *it = kv_table_find(&s->table, kv_hash(r.key, r.klen), r.key, r.klen, &link);
    if (!it) {
        out->code = KV_NOT_FOUND;
        return 0;
    }
    /* written again since the EXPIRE was proposed: the new expiry (or none) stands */
    if (it->expire_at_ms != r.expire_at_ms) {
        out->code = KV_MISMATCH;
        return 0;
    }
    kv_store_delete_at(s, link);
    out->code = KV_OK;
    return 0;
}

static int kv_apply(void *fsm, const struct raft_entry *e, struct lum_result *out)
{
    struct kv *kv = fsm;
    struct lum_command c;
    *out = (struct lum_result){.code = KV_BAD_REQUEST, .data = NULL, .len = 0};
    if (lum_command_parse(e, &c) != 0)
        return 0;
    int rc = 0;
    switch (e->type) {
    case KV_PUT:    rc = kv_apply_put(&kv->s, &c, out); break;
    case KV_DEL:    rc = kv_apply_del(&kv->s, &c, out); break;
    case KV_CAS:    rc = kv_apply_cas(&kv->s, &c, out); break;
    case KV_EXPIRE: rc = kv_apply_expire(&kv->s, &c, out); break;
    case KV_SET:    rc = kv_apply_set(kv, &c, out); break;     /* kv_redis.c */
    case KV_INCR:   rc = kv_apply_incr(kv, &c, out); break;
    case KV_SETTTL: rc = kv_apply_setttl(kv, &c, out); break;
    case KV_MSET:   rc = kv_apply_mset(kv, &c, out); break;
    case KV_MDEL:   rc = kv_apply_mdel(kv, &c, out); break;
    default:        break;
    }
    /* resizes advance only here, so their pace follows the log */
    kv_table_rehash_step(&kv->s.table, KV_REHASH_STEP_BUCKETS);
    return rc;
}

/* ---- query -------------------------------------------------------------------------------- */

static int kv_query(void *fsm, const void *req, uint32_t len, uint64_t now_ms,
                    struct lum_result *out)
{
    return kv_query_any(fsm, req, len, now_ms, out); /* kv_query.c */
}

/* ---- housekeeping ------------------------------------------------------------------------- */

/* True if the leader should propose an EXPIRE for this expired item now: it has not, or
 * it did KV_EXPIRE_RETRY_MS ago and the entry was lost (a leadership change). */
static bool kv_expire_due(const struct kv_item *it, uint32_t now_s1)
{
    if (it->proposed_at_s == 0 || now_s1 < it->proposed_at_s)
        return true;
    return now_s1 - it->proposed_at_s >= (KV_EXPIRE_RETRY_MS + 999) / 1000;
}

/* Walks the heap from its root, descending only into expired subtrees (a heap's subtree
 * is no earlier than its root), so the work is bounded by the nodes visited, not by the
 * table's size. */
static void kv_housekeeping(void *fsm, uint64_t now_ms, struct lum_proposer *p)
{
    struct kv *kv = fsm;
    const struct kv_heap *h = &kv->s.heap;
    uint32_t *stack = kv->hk_stack;
    uint32_t top = 0, visited = 0, proposed = 0;
    uint32_t now_s1 = (uint32_t)(now_ms / 1000) + 1;
    uint8_t body[KV_EXPIRE_OVERHEAD + KV_KEY_MAX];

    if (h->count > 0 && h->items[0]->expire_at_ms <= now_ms)
        stack[top++] = 0;
    while (top > 0 && visited < KV_EXPIRE_VISIT_MAX && proposed < KV_EXPIRE_PROPOSE_MAX) {
        uint32_t i = stack[--top];
        struct kv_item *it = h->items[i];
        visited++;
        if (kv_expire_due(it, now_s1)) {
            uint32_t n = kv_encode_expire(body, it->data, it->klen, it->expire_at_ms);
            if (p->propose(p->ctx, KV_EXPIRE, body, n) != 0)
                return; /* not the leader any more, or the log is full: next time */
            it->proposed_at_s = now_s1;
            proposed++;
        }
        for (uint32_t child = 2 * i + 1; child <= 2 * i + 2 && child < h->count; child++) {
            if (h->items[child]->expire_at_ms <= now_ms) {
                LUM_ASSERT(top < sizeof kv->hk_stack / sizeof kv->hk_stack[0]);
                stack[top++] = child;
            }
        }
    }
}

/* ---- status ------------------------------------------------------------------------------- */

static uint64_t kv_size(void *fsm)
{
    const struct kv *kv = fsm;
    return sizeof *kv + kv->s.table.item_bytes + kv_table_array_bytes(&kv->s.table) +
           (uint64_t)kv->s.heap.cap * sizeof *kv->s.heap.items + kv->reply_cap;
}

const struct lum_fsm_ops kv_fsm_ops = {
    .name = "kv",
    .create = kv_create,
    .destroy = kv_destroy,
    .apply = kv_apply,
    .query = kv_query,
    .snapshot_save = kv_snapshot_save,
    .snapshot_load = kv_snapshot_load,
    .housekeeping = kv_housekeeping,
    .size = kv_size,
};
