/* The key-value command and query bodies (format in luminous/kv.h): the encoders clients
 * use, and the decoders apply() and query() use, which accept a body only if it is exactly
 * as long as its length fields say. */
#include <string.h>

#include "kv_int.h"

static inline bool kv_klen_ok(size_t klen) { return klen >= 1 && klen <= KV_KEY_MAX; }

/* ---- encoders ------------------------------------------------------------------------------- */

int kv_encode_put(uint8_t *buf, size_t cap, const void *key, size_t klen,
                  const void *value, size_t vlen, uint64_t ttl_ms)
{
    if (klen == 0)
        return -LUM_EINVAL;
    if (klen > KV_KEY_MAX || vlen > KV_PUT_DATA_MAX - klen)
        return -LUM_ETOOBIG;
    size_t n = KV_PUT_OVERHEAD + klen + vlen;
    if (n > cap)
        return -LUM_ETOOBIG;
    lum_put_u16(buf, (uint16_t)klen);
    lum_put_u32(buf + 2, (uint32_t)vlen);
    lum_put_u64(buf + 6, ttl_ms);
    memcpy(buf + KV_PUT_OVERHEAD, key, klen);
    if (vlen)
        memcpy(buf + KV_PUT_OVERHEAD + klen, value, vlen);
    return (int)n;
}

int kv_encode_del(uint8_t *buf, size_t cap, const void *key, size_t klen)
{
    if (klen == 0)
        return -LUM_EINVAL;
    size_t n = KV_DEL_OVERHEAD + klen;
    if (klen > KV_KEY_MAX || n > cap)
        return -LUM_ETOOBIG;
    lum_put_u16(buf, (uint16_t)klen);
    memcpy(buf + KV_DEL_OVERHEAD, key, klen);
    return (int)n;
}

int kv_encode_cas(uint8_t *buf, size_t cap, const void *key, size_t klen,
                  const void *old, size_t old_len, const void *new_value, size_t new_len)
{
    if (klen == 0)
        return -LUM_EINVAL;
    if (klen > KV_KEY_MAX || old_len > LUM_COMMAND_BODY_MAX || new_len > LUM_COMMAND_BODY_MAX)
        return -LUM_ETOOBIG;
    size_t n = KV_CAS_OVERHEAD + klen + old_len + new_len;
    if (n > LUM_COMMAND_BODY_MAX || n > cap)
        return -LUM_ETOOBIG;
    lum_put_u16(buf, (uint16_t)klen);
    lum_put_u32(buf + 2, (uint32_t)old_len);
    lum_put_u32(buf + 6, (uint32_t)new_len);
    uint8_t *p = buf + KV_CAS_OVERHEAD;
    memcpy(p, key, klen);
    if (old_len)
        memcpy(p + klen, old, old_len);
    if (new_len)
        memcpy(p + klen + old_len, new_value, new_len);
    return (int)n;
}

int kv_encode_get(uint8_t *buf, size_t cap, const void *key, size_t klen)
{
    if (klen == 0)
        return -LUM_EINVAL;
    size_t n = KV_GET_OVERHEAD + klen;
    if (klen > KV_KEY_MAX || n > cap)
        return -LUM_ETOOBIG;
    buf[0] = KV_GET;
    lum_put_u16(buf + 1, (uint16_t)klen);
    memcpy(buf + KV_GET_OVERHEAD, key, klen);
    return (int)n;
}

/* ---- encoders of the Redis-shaped commands and queries ------------------------------------- */

/* The key checks every encoder shares: 0, -LUM_EINVAL (empty) or -LUM_ETOOBIG. */
static int kv_key_check(size_t klen)
{
    if (klen == 0)
        return -LUM_EINVAL;
    return klen > KV_KEY_MAX ? -LUM_ETOOBIG : 0;
}

/* n bytes of body fit both the caller's buffer and an entry: 0 or -LUM_ETOOBIG. */
static int kv_body_check(size_t n, size_t cap)
{
    return n > cap || n > LUM_COMMAND_BODY_MAX ? -LUM_ETOOBIG : 0;
}

int kv_encode_set(uint8_t *buf, size_t cap, uint8_t flags, const void *key, size_t klen,
                  const void *value, size_t vlen, uint64_t ttl_ms)
{
    if ((flags & ~KV_SET_FLAGS_ALL) != 0 ||
        (flags & (KV_SET_NX | KV_SET_XX)) == (KV_SET_NX | KV_SET_XX) ||
        ((flags & KV_SET_KEEPTTL) && ttl_ms != 0))
        return -LUM_EINVAL;
    int rc = kv_key_check(klen);
    if (rc)
        return rc;
    if (vlen > LUM_COMMAND_BODY_MAX)
        return -LUM_ETOOBIG;
    size_t n = KV_SET_OVERHEAD + klen + vlen;
    if ((rc = kv_body_check(n, cap)) != 0)
        return rc;
    buf[0] = flags;
    lum_put_u16(buf + 1, (uint16_t)klen);
    lum_put_u32(buf + 3, (uint32_t)vlen);
    lum_put_u64(buf + 7, ttl_ms);
    memcpy(buf + KV_SET_OVERHEAD, key, klen);
    if (vlen)
        memcpy(buf + KV_SET_OVERHEAD + klen, value, vlen);
    return (int)n;
}

/* INCR and SETTTL share a layout: u16 klen | i64 | key. */
static int kv_encode_key_i64(uint8_t *buf, size_t cap, const void *key, size_t klen, int64_t v)
{
    int rc = kv_key_check(klen);
    if (rc)
        return rc;
    size_t n = KV_INCR_OVERHEAD + klen;
    if ((rc = kv_body_check(n, cap)) != 0)
        return rc;
    lum_put_u16(buf, (uint16_t)klen);
    lum_put_u64(buf + 2, (uint64_t)v);
    memcpy(buf + KV_INCR_OVERHEAD, key, klen);
    return (int)n;
}

int kv_encode_incr(uint8_t *buf, size_t cap, const void *key, size_t klen, int64_t delta)
{
    return kv_encode_key_i64(buf, cap, key, klen, delta);
}

int kv_encode_setttl(uint8_t *buf, size_t cap, const void *key, size_t klen, int64_t ttl_ms)
{
    static_assert(KV_SETTTL_OVERHEAD == KV_INCR_OVERHEAD, "one layout for both");
    return kv_encode_key_i64(buf, cap, key, klen, ttl_ms);
}

int kv_encode_mset(uint8_t *buf, size_t cap, const struct kv_pair *pairs, size_t n)
{
    if (n == 0)
        return -LUM_EINVAL;
    if (n > KV_MULTI_MAX)
        return -LUM_ETOOBIG;
    /* sizes first, so that a refused body leaves buf alone; each step stays below
     * 2 * LUM_COMMAND_BODY_MAX, so nothing wraps */
    size_t len = KV_MULTI_OVERHEAD;
    for (size_t i = 0; i < n; i++) {
        int rc = kv_key_check(pairs[i].klen);
        if (rc)
            return rc;
        if (pairs[i].vlen > LUM_COMMAND_BODY_MAX)
            return -LUM_ETOOBIG;
        len += KV_MSET_PAIR_OVERHEAD + pairs[i].klen + pairs[i].vlen;
        if ((rc = kv_body_check(len, cap)) != 0)
            return rc;
    }
    lum_put_u16(buf, (uint16_t)n);
    uint8_t *p = buf + KV_MULTI_OVERHEAD;
    for (size_t i = 0; i < n; i++) {
        lum_put_u16(p, (uint16_t)pairs[i].klen);
        lum_put_u32(p + 2, (uint32_t)pairs[i].vlen);
        p += KV_MSET_PAIR_OVERHEAD;
        memcpy(p, pairs[i].key, pairs[i].klen);
        p += pairs[i].klen;
        if (pairs[i].vlen)
            memcpy(p, pairs[i].value, pairs[i].vlen);
        p += pairs[i].vlen;
    }
    return (int)len;
}

/* count x (u16 klen | key) after a head of hlen bytes the caller writes. */
static int kv_encode_keys(uint8_t *buf, size_t cap, size_t hlen, const struct kv_key *keys,
                          size_t n)
{
    if (n == 0)
        return -LUM_EINVAL;
    if (n > KV_MULTI_MAX)
        return -LUM_ETOOBIG;
    size_t len = hlen;
    for (size_t i = 0; i < n; i++) {
        int rc = kv_key_check(keys[i].len);
        if (rc)
            return rc;
        len += KV_MKEY_OVERHEAD + keys[i].len;
        if ((rc = kv_body_check(len, cap)) != 0)
            return rc;
    }
    uint8_t *p = buf + hlen;
    for (size_t i = 0; i < n; i++) {
        lum_put_u16(p, (uint16_t)keys[i].len);
        memcpy(p + KV_MKEY_OVERHEAD, keys[i].key, keys[i].len);
        p += KV_MKEY_OVERHEAD + keys[i].len;
    }
    return (int)len;
}

int kv_encode_mdel(uint8_t *buf, size_t cap, const struct kv_key *keys, size_t n)
{
    int len = kv_encode_keys(buf, cap, KV_MULTI_OVERHEAD, keys, n);
    if (len > 0)
        lum_put_u16(buf, (uint16_t)n);
    return len;
}

int kv_encode_mquery(uint8_t *buf, size_t cap, uint8_t op, const struct kv_key *keys, size_t n)
{
    if (op != KV_MGET && op != KV_EXISTS)
        return -LUM_EINVAL;
    int len = kv_encode_keys(buf, cap, KV_MQUERY_OVERHEAD, keys, n);
    if (len > 0) {
        buf[0] = op;
        lum_put_u16(buf + 1, (uint16_t)n);
    }
    return len;
}

int kv_encode_pttl(uint8_t *buf, size_t cap, const void *key, size_t klen)
{
    int rc = kv_key_check(klen);
    if (rc)
        return rc;
    size_t n = KV_PTTL_OVERHEAD + klen;
    if ((rc = kv_body_check(n, cap)) != 0)
        return rc;
    buf[0] = KV_PTTL;
    lum_put_u16(buf + 1, (uint16_t)klen);
    memcpy(buf + KV_PTTL_OVERHEAD, key, klen);
    return (int)n;
}

int kv_encode_dbsize(uint8_t *buf, size_t cap)
{
    if (cap < KV_DBSIZE_LEN)
        return -LUM_ETOOBIG;
    buf[0] = KV_DBSIZE;
    return KV_DBSIZE_LEN;
}

uint32_t kv_encode_expire(uint8_t *buf, const void *key, uint16_t klen, uint64_t expire_at_ms)
{
    LUM_ASSERT(kv_klen_ok(klen));
    LUM_ASSERT(expire_at_ms != 0);
    lum_put_u16(buf, klen);
    lum_put_u64(buf + 2, expire_at_ms);
    memcpy(buf + KV_EXPIRE_OVERHEAD, key, klen);
    return KV_EXPIRE_OVERHEAD + klen;
}

/* ---- decoders ------------------------------------------------------------------------------- */

bool kv_decode_put(const uint8_t *b, uint32_t len, struct kv_put_req *out)
{
    if (len < KV_PUT_OVERHEAD)
        return false;
    out->klen = lum_get_u16(b);
    out->vlen = lum_get_u32(b + 2);
    out->ttl_ms = lum_get_u64(b + 6);
    if (!kv_klen_ok(out->klen) ||
        (uint64_t)KV_PUT_OVERHEAD + out->klen + out->vlen != len)
        return false;
    out->key = b + KV_PUT_OVERHEAD;
    out->value = out->key + out->klen;
    return true;
}

bool kv_decode_del(const uint8_t *b, uint32_t len, struct kv_del_req *out)
{
    if (len < KV_DEL_OVERHEAD)
        return false;
    out->klen = lum_get_u16(b);
    if (!kv_klen_ok(out->klen) || (uint64_t)KV_DEL_OVERHEAD + out->klen != len)
        return false;
    out->key = b + KV_DEL_OVERHEAD;
    return true;
}

bool kv_decode_cas(const uint8_t *b, uint32_t len, struct kv_cas_req *out)
{
    if (len < KV_CAS_OVERHEAD)
        return false;
    out->klen = lum_get_u16(b);
    out->old_len = lum_get_u32(b + 2);
    out->new_len = lum_get_u32(b + 6);
    if (!kv_klen_ok(out->klen) ||
        (uint64_t)KV_CAS_OVERHEAD + out->klen + out->old_len + out->new_len != len)
        return false;
    out->key = b + KV_CAS_OVERHEAD;
    out->old = out->key + out->klen;
    out->new_value = out->old + out->old_len;
    return true;
}

bool kv_decode_expire(const uint8_t *b, uint32_t len, struct kv_expire_req *out)
{
    if (len < KV_EXPIRE_OVERHEAD)
        return false;
    out->klen = lum_get_u16(b);
    out->expire_at_ms = lum_get_u64(b + 2);
    if (!kv_klen_ok(out->klen) || out->expire_at_ms == 0 ||
        (uint64_t)KV_EXPIRE_OVERHEAD + out->klen != len)
        return false;
    out->key = b + KV_EXPIRE_OVERHEAD;
    return true;
}

bool kv_decode_get(const uint8_t *b, uint32_t len, struct kv_get_req *out)
{
    if (len < KV_GET_OVERHEAD || b[0] != KV_GET)
        return false;
    out->klen = lum_get_u16(b + 1);
    if (!kv_klen_ok(out->klen) || (uint64_t)KV_GET_OVERHEAD + out->klen != len)
        return false;
    out->key = b + KV_GET_OVERHEAD;
    return true;
}

/* ---- decoders of the Redis-shaped commands and queries ------------------------------------- */

bool kv_decode_set(const uint8_t *b, uint32_t len, struct kv_set_req *out)
{
    if (len < KV_SET_OVERHEAD)
        return false;
    out->flags = b[0];
    out->klen = lum_get_u16(b + 1);
    out->vlen = lum_get_u32(b + 3);
    out->ttl_ms = lum_get_u64(b + 7);
    if ((out->flags & ~KV_SET_FLAGS_ALL) != 0 ||
        (out->flags & (KV_SET_NX | KV_SET_XX)) == (KV_SET_NX | KV_SET_XX) ||
        ((out->flags & KV_SET_KEEPTTL) && out->ttl_ms != 0))
        return false;
    if (!kv_klen_ok(out->klen) || (uint64_t)KV_SET_OVERHEAD + out->klen + out->vlen != len)
        return false;
    out->key = b + KV_SET_OVERHEAD;
    out->value = out->key + out->klen;
    return true;
}

bool kv_decode_key_i64(const uint8_t *b, uint32_t len, struct kv_key_i64_req *out)
{
    if (len < KV_INCR_OVERHEAD)
        return false;
    out->klen = lum_get_u16(b);
    out->v = (int64_t)lum_get_u64(b + 2);
    if (!kv_klen_ok(out->klen) || (uint64_t)KV_INCR_OVERHEAD + out->klen != len)
        return false;
    out->key = b + KV_INCR_OVERHEAD;
    return true;
}

/* count >= 1 items of item_overhead bytes (u16 klen first, then, for pairs, u32 vlen) and
 * their data fill [p, end) exactly, each key 1..KV_KEY_MAX bytes. */
static bool kv_items_ok(const uint8_t *p, const uint8_t *end, uint16_t count, bool pairs)
{
    if (count == 0)
        return false;
    size_t overhead = pairs ? KV_MSET_PAIR_OVERHEAD : KV_MKEY_OVERHEAD;
    for (uint16_t i = 0; i < count; i++) {
        if ((size_t)(end - p) < overhead)
            return false;
        uint16_t klen = lum_get_u16(p);
        uint64_t data = klen + (pairs ? (uint64_t)lum_get_u32(p + 2) : 0);
        if (!kv_klen_ok(klen) || data > (uint64_t)(end - p) - overhead)
            return false;
        p += overhead + data;
    }
    return p == end;
}

bool kv_decode_mset(const uint8_t *b, uint32_t len, struct kv_multi_req *out)
{
    if (len < KV_MULTI_OVERHEAD)
        return false;
    out->count = lum_get_u16(b);
    out->first = b + KV_MULTI_OVERHEAD;
    return kv_items_ok(out->first, b + len, out->count, true);
}

bool kv_decode_mdel(const uint8_t *b, uint32_t len, struct kv_multi_req *out)
{
    if (len < KV_MULTI_OVERHEAD)
        return false;
    out->count = lum_get_u16(b);
    out->first = b + KV_MULTI_OVERHEAD;
    return kv_items_ok(out->first, b + len, out->count, false);
}

bool kv_decode_mquery(const uint8_t *b, uint32_t len, struct kv_multi_req *out)
{
    if (len < KV_MQUERY_OVERHEAD || (b[0] != KV_MGET && b[0] != KV_EXISTS))
        return false;
    out->count = lum_get_u16(b + 1);
    out->first = b + KV_MQUERY_OVERHEAD;
    return kv_items_ok(out->first, b + len, out->count, false);
}

bool kv_decode_pttl(const uint8_t *b, uint32_t len, struct kv_get_req *out)
{
    if (len < KV_PTTL_OVERHEAD || b[0] != KV_PTTL)
        return false;
    out->klen = lum_get_u16(b + 1);
    if (!kv_klen_ok(out->klen) || (uint64_t)KV_PTTL_OVERHEAD + out->klen != len)
        return false;
    out->key = b + KV_PTTL_OVERHEAD;
    return true;
}

bool kv_decode_dbsize(const uint8_t *b, uint32_t len)
{
    return len == KV_DBSIZE_LEN && b[0] == KV_DBSIZE;
}

const uint8_t *kv_next_pair(const uint8_t *p, struct kv_pair *out)
{
    out->klen = lum_get_u16(p);
    out->vlen = lum_get_u32(p + 2);
    out->key = p + KV_MSET_PAIR_OVERHEAD;
    out->value = p + KV_MSET_PAIR_OVERHEAD + out->klen;
    return p + KV_MSET_PAIR_OVERHEAD + out->klen + out->vlen;
}

const uint8_t *kv_next_key(const uint8_t *p, struct kv_key *out)
{
    out->len = lum_get_u16(p);
    out->key = p + KV_MKEY_OVERHEAD;
    return p + KV_MKEY_OVERHEAD + out->len;
}
