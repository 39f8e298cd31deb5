/* Helpers shared by the state machine tests (test_kv*.c, test_counter.c): applying
 * commands, querying, and in-memory snapshot streams. Header-only, so that it adds nothing
 * to the other unit test binaries. */
#ifndef LUMINOUS_TEST_KV_TEST_H
#define LUMINOUS_TEST_KV_TEST_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/base.h"
#include "luminous/kv.h"

/* ---- in-memory snapshot streams ------------------------------------------------------------ */

struct kv_test_buf {
    uint8_t *data;
    size_t   len, cap, pos; /* pos: next byte read */
};

static inline int kv_test_buf_write(void *ctx, const void *p, size_t n)
{
    struct kv_test_buf *b = ctx;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        cr_assert_not_null(d);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int kv_test_buf_read(void *ctx, void *p, size_t n)
{
    struct kv_test_buf *b = ctx;
    if (n > b->len - b->pos)
        return -LUM_ECORRUPT;
    memcpy(p, b->data + b->pos, n);
    b->pos += n;
    return 0;
}

static inline void kv_test_buf_free(struct kv_test_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* The machine's snapshot bytes; the caller frees them with kv_test_buf_free. */
static inline struct kv_test_buf kv_test_save(const struct lum_fsm_ops *ops, void *fsm)
{
    struct kv_test_buf b = {0};
    struct lum_sink sink = {.ctx = &b, .write = kv_test_buf_write};
    cr_assert_eq(ops->snapshot_save(fsm, &sink), 0);
    return b;
}

/* Loads len bytes of data; returns what snapshot_load returned. */
static inline int kv_test_load(const struct lum_fsm_ops *ops, void *fsm, const uint8_t *data,
                               size_t len)
{
    struct kv_test_buf b = {.data = (uint8_t *)data, .len = len, .cap = len, .pos = 0};
    struct lum_source src = {.ctx = &b, .read = kv_test_buf_read};
    return ops->snapshot_load(fsm, &src);
}

static inline bool kv_test_same_bytes(const struct kv_test_buf *a, const struct kv_test_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* ---- commands -------------------------------------------------------------------------------- */

/* Applies one entry of type with body at time_ms; returns its answer's code. apply() must
 * return 0. out may be NULL. */
static inline int32_t kv_test_apply_to(const struct lum_fsm_ops *ops, void *fsm, uint16_t type,
                                       uint64_t time_ms, const void *body, uint32_t len,
                                       struct lum_result *out)
{
    static struct raft_entry e; /* 4 KiB: not on the stack */
    struct lum_result r;
    memset(&e, 0, offsetof(struct raft_entry, payload));
    e.term = 1;
    e.index = 1;
    e.type = type;
    cr_assert_eq(lum_command_build(&e, 7, 1, time_ms, body, len), 0);
    cr_assert_eq(ops->apply(fsm, &e, &r), 0);
    if (out)
        *out = r;
    return r.code;
}

static inline int32_t kv_test_apply(void *kv, uint16_t type, uint64_t time_ms, const void *body,
                                    uint32_t len)
{
    return kv_test_apply_to(&kv_fsm_ops, kv, type, time_ms, body, len, NULL);
}

static inline int32_t kv_test_put_bin(void *kv, uint64_t time_ms, const void *key, size_t klen,
                                      const void *value, size_t vlen, uint64_t ttl_ms)
{
    uint8_t body[LUM_COMMAND_BODY_MAX];
    int n = kv_encode_put(body, sizeof body, key, klen, value, vlen, ttl_ms);
    cr_assert_gt(n, 0);
    return kv_test_apply(kv, KV_PUT, time_ms, body, (uint32_t)n);
}

static inline int32_t kv_test_put(void *kv, uint64_t time_ms, const char *key,
                                  const char *value, uint64_t ttl_ms)
{
    return kv_test_put_bin(kv, time_ms, key, strlen(key), value, strlen(value), ttl_ms);
}

static inline int32_t kv_test_del(void *kv, uint64_t time_ms, const char *key)
{
    uint8_t body[LUM_COMMAND_BODY_MAX];
    int n = kv_encode_del(body, sizeof body, key, strlen(key));
    cr_assert_gt(n, 0);
    return kv_test_apply(kv, KV_DEL, time_ms, body, (uint32_t)n);
}

static inline int32_t kv_test_cas(void *kv, uint64_t time_ms, const char *key, const char *old,
                                  const char *new_value)
{
    uint8_t body[LUM_COMMAND_BODY_MAX];
    int n = kv_encode_cas(body, sizeof body, key, strlen(key), old, strlen(old), new_value,
                          strlen(new_value));
    cr_assert_gt(n, 0);
    return kv_test_apply(kv, KV_CAS, time_ms, body, (uint32_t)n);
}

/* An EXPIRE body, built by hand: kv.h has no encoder for it (only the leader proposes it). */
static inline uint32_t kv_test_encode_expire(uint8_t *buf, const char *key, uint64_t expire_at_ms)
{
    size_t klen = strlen(key);
    lum_put_u16(buf, (uint16_t)klen);
    lum_put_u64(buf + 2, expire_at_ms);
    memcpy(buf + 10, key, klen);
    return (uint32_t)(10 + klen);
}

static inline int32_t kv_test_expire(void *kv, uint64_t time_ms, const char *key,
                                     uint64_t expire_at_ms)
{
    uint8_t body[16 + KV_KEY_MAX];
    uint32_t n = kv_test_encode_expire(body, key, expire_at_ms);
    return kv_test_apply(kv, KV_EXPIRE, time_ms, body, n);
}

/* ---- queries --------------------------------------------------------------------------------- */

static inline int32_t kv_test_get_bin(void *kv, uint64_t now_ms, const void *key, size_t klen,
                                      struct lum_result *out)
{
    uint8_t req[8 + KV_KEY_MAX];
    struct lum_result r;
    int n = kv_encode_get(req, sizeof req, key, klen);
    cr_assert_gt(n, 0);
    cr_assert_eq(kv_fsm_ops.query(kv, req, (uint32_t)n, now_ms, &r), 0);
    if (out)
        *out = r;
    return r.code;
}

static inline int32_t kv_test_get(void *kv, uint64_t now_ms, const char *key,
                                  struct lum_result *out)
{
    return kv_test_get_bin(kv, now_ms, key, strlen(key), out);
}

/* Asserts that key holds exactly value at now_ms. */
static inline void kv_test_expect(void *kv, uint64_t now_ms, const char *key, const char *value)
{
    struct lum_result r;
    cr_assert_eq(kv_test_get(kv, now_ms, key, &r), KV_OK, "%s should exist", key);
    cr_assert_eq(r.len, strlen(value), "%s: length %u, want %zu", key, r.len, strlen(value));
    cr_assert(memcmp(r.data, value, r.len) == 0, "%s: wrong value", key);
}

/* ---- housekeeping ---------------------------------------------------------------------------- */

/* A proposer that records EXPIRE bodies, and can be told to refuse after a number. */
struct kv_test_proposals {
    uint32_t count;
    uint32_t refuse_after; /* 0: never refuse */
    uint32_t len[4096];
    uint8_t  body[4096][32];
};

static inline int kv_test_propose(void *ctx, uint16_t type, const void *body, uint32_t len)
{
    struct kv_test_proposals *p = ctx;
    cr_assert_eq(type, KV_EXPIRE);
    cr_assert_leq(len, sizeof p->body[0], "test keys are short");
    cr_assert_lt(p->count, 4096u);
    if (p->refuse_after && p->count >= p->refuse_after)
        return -LUM_ENOTLEADER;
    memcpy(p->body[p->count], body, len);
    p->len[p->count++] = len;
    return 0;
}

/* Runs housekeeping at now_ms into *p (reset first); returns the proposal count. */
static inline uint32_t kv_test_housekeep(void *kv, uint64_t now_ms, struct kv_test_proposals *p)
{
    p->count = 0;
    struct lum_proposer proposer = {.ctx = p, .propose = kv_test_propose};
    kv_fsm_ops.housekeeping(kv, now_ms, &proposer);
    return p->count;
}

/* xorshift64*, for seeded random tests. */
static inline uint64_t kv_test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

#endif
