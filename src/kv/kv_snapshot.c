/* The key-value machine's snapshot stream. Little-endian:
 *
 *   header   "LUMKVSNP" | u32 version (1) | u32 flags (0)                        16 bytes
 *   record   u8 tag (1) | u16 klen | u32 vlen | u64 expire_at_ms (0: none) | key | value
 *   ...      one per key, expired keys included, in (kv_hash(key), key) order
 *   end      u8 tag (0) | u64 count (records) | u32 crc32c (of every byte before it)
 *
 * The order makes the bytes a function of the state alone: replicas that applied the same
 * entries write identical snapshots. Loading does not depend on it. A stream is valid when
 * the magic, version and flags are these, every record has 1 <= klen <= KV_KEY_MAX and
 * klen + vlen <= LUM_COMMAND_BODY_MAX, no key repeats, and count and crc match; anything
 * else is -LUM_ECORRUPT (-LUM_EVERSION for another version) and the machine keeps the
 * state it had. Bytes after the end record are not read: the container must bound it. */
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

#define KV_SNAP_MAGIC        "LUMKVSNP"
#define KV_SNAP_VERSION      1u
#define KV_SNAP_HEADER_SIZE  16u
#define KV_SNAP_RECORD_SIZE  15u  /* tag, klen, vlen, expire_at_ms */
#define KV_SNAP_BUF_SIZE     (256u * 1024u)
#define KV_SNAP_TAG_END      0u
#define KV_SNAP_TAG_RECORD   1u

static_assert(KV_SNAP_BUF_SIZE >= KV_SNAP_RECORD_SIZE + LUM_COMMAND_BODY_MAX,
              "a whole record fits the save buffer");

/* ---- save --------------------------------------------------------------------------------- */

/* Batches the many small pieces of a snapshot into few sink writes, checksumming as it
 * flushes. */
struct kv_snap_writer {
    struct lum_sink *to;
    uint8_t         *buf;
    size_t           used;
    uint32_t         crc;
};

static int kv_snap_flush(struct kv_snap_writer *w)
{
    if (w->used == 0)
        return 0;
    w->crc = lum_crc32c(w->crc, w->buf, w->used);
    int rc = w->to->write(w->to->ctx, w->buf, w->used);
    w->used = 0;
    return rc;
}

/* Room for n more bytes in the buffer (n <= KV_SNAP_BUF_SIZE). */
static int kv_snap_reserve(struct kv_snap_writer *w, size_t n)
{
    LUM_ASSERT(n <= KV_SNAP_BUF_SIZE);
    return KV_SNAP_BUF_SIZE - w->used >= n ? 0 : kv_snap_flush(w);
}

int kv_snapshot_save(void *fsm, struct lum_sink *to)
{
    struct kv *kv = fsm;
    struct kv_snap_writer w = {.to = to, .buf = malloc(KV_SNAP_BUF_SIZE), .used = 0, .crc = 0};
    if (!w.buf)
        return -LUM_ENOMEM;
    memcpy(w.buf, KV_SNAP_MAGIC, 8);
    lum_put_u32(w.buf + 8, KV_SNAP_VERSION);
    lum_put_u32(w.buf + 12, 0);
    w.used = KV_SNAP_HEADER_SIZE;

    int rc = 0;
    uint64_t count = 0;
    struct kv_table_iter iter;
    kv_table_iter_init(&iter, &kv->s.table);
    for (struct kv_item *it; (it = kv_table_iter_next(&iter)) != NULL; count++) {
        size_t data_len = (size_t)it->klen + it->vlen;
        if ((rc = kv_snap_reserve(&w, KV_SNAP_RECORD_SIZE + data_len)) != 0)
            goto out;
        uint8_t *p = w.buf + w.used;
        p[0] = KV_SNAP_TAG_RECORD;
        lum_put_u16(p + 1, it->klen);
        lum_put_u32(p + 3, it->vlen);
        lum_put_u64(p + 7, it->expire_at_ms);
        memcpy(p + KV_SNAP_RECORD_SIZE, it->data, data_len);
        w.used += KV_SNAP_RECORD_SIZE + data_len;
    }
    LUM_ASSERT(count == kv->s.table.count);

    if ((rc = kv_snap_reserve(&w, 9)) != 0)
        goto out;
    w.buf[w.used] = KV_SNAP_TAG_END;
    lum_put_u64(w.buf + w.used + 1, count);
    w.used += 9;
    if ((rc = kv_snap_flush(&w)) != 0)
        goto out;
    uint8_t crc[4];
    lum_put_u32(crc, w.crc);
    rc = to->write(to->ctx, crc, sizeof crc);
out:
    free(w.buf);
    return rc;
}

/* ---- load --------------------------------------------------------------------------------- */

struct kv_snap_reader {
    struct lum_source *from;
    uint32_t           crc;
};

static int kv_snap_read(struct kv_snap_reader *r, void *buf, size_t len)
{
    int rc = r->from->read(r->from->ctx, buf, len);
    if (rc == 0)
        r->crc = lum_crc32c(r->crc, buf, len);
    return rc;
}

/* Reads one record's key and value into s. */
static int kv_snap_load_record(struct kv_snap_reader *r, struct kv_store *s)
{
    uint8_t h[KV_SNAP_RECORD_SIZE - 1];
    int rc = kv_snap_read(r, h, sizeof h);
    if (rc)
        return rc;
    uint16_t klen = lum_get_u16(h);
    uint32_t vlen = lum_get_u32(h + 2);
    uint64_t expire_at_ms = lum_get_u64(h + 6);
    if (klen < 1 || klen > KV_KEY_MAX || vlen > LUM_COMMAND_BODY_MAX - klen)
        return -LUM_ECORRUPT;
    if (expire_at_ms && kv_heap_reserve(&s->heap, s->heap.count + 1) != 0)
        return -LUM_ENOMEM;
    struct kv_item *it = malloc(kv_item_size(klen, vlen));
    if (!it)
        return -LUM_ENOMEM;
    if ((rc = kv_snap_read(r, it->data, (size_t)klen + vlen)) != 0) {
        free(it);
        return rc;
    }
    it->next = NULL;
    it->hash = kv_hash(it->data, klen);
    it->expire_at_ms = expire_at_ms;
    it->vlen = vlen;
    it->heap_slot = 0;
    it->proposed_at_s = 0;
    it->klen = klen;
    struct kv_item **link;
    if (kv_table_find(&s->table, it->hash, it->data, klen, &link) != NULL) {
        free(it);
        return -LUM_ECORRUPT; /* a key twice */
    }
    kv_table_insert_at(&s->table, link, it);
    if (expire_at_ms)
        kv_heap_push(&s->heap, it);
    kv_table_rehash_step(&s->table, KV_REHASH_STEP_BUCKETS);
    return 0;
}

static int kv_snap_load_into(struct kv_snap_reader *r, struct kv_store *s)
{
    uint8_t header[KV_SNAP_HEADER_SIZE];
    int rc = kv_snap_read(r, header, sizeof header);
    if (rc)
        return rc;
    if (memcmp(header, KV_SNAP_MAGIC, 8) != 0)
        return -LUM_ECORRUPT;
    if (lum_get_u32(header + 8) != KV_SNAP_VERSION)
        return -LUM_EVERSION;
    if (lum_get_u32(header + 12) != 0)
        return -LUM_ECORRUPT;
    for (;;) {
        uint8_t tag;
        if ((rc = kv_snap_read(r, &tag, 1)) != 0)
            return rc;
        if (tag == KV_SNAP_TAG_END)
            break;
        if (tag != KV_SNAP_TAG_RECORD)
            return -LUM_ECORRUPT;
        if ((rc = kv_snap_load_record(r, s)) != 0)
            return rc;
    }
    uint8_t count[8];
    if ((rc = kv_snap_read(r, count, sizeof count)) != 0)
        return rc;
    uint32_t want = r->crc;
    uint8_t crc[4];
    if ((rc = r->from->read(r->from->ctx, crc, sizeof crc)) != 0)
        return rc;
    if (lum_get_u32(crc) != want || lum_get_u64(count) != s->table.count)
        return -LUM_ECORRUPT;
    return 0;
}

/* Builds the new state beside the old one and swaps only when the whole stream checked
 * out, so a refused stream leaves the machine as it was. */
int kv_snapshot_load(void *fsm, struct lum_source *from)
{
    struct kv *kv = fsm;
    struct kv_store fresh;
    if (kv_store_init(&fresh) != 0)
        return -LUM_ENOMEM;
    struct kv_snap_reader r = {.from = from, .crc = 0};
    int rc = kv_snap_load_into(&r, &fresh);
    if (rc != 0) {
        kv_store_free(&fresh);
        return rc;
    }
    kv_store_free(&kv->s);
    kv->s = fresh;
    return 0;
}
