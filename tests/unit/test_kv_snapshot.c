/* The key-value machine's snapshots (round trips, refusal of damaged streams) and its
 * determinism: the same commands give the same bytes, whatever else happened. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "kv_test.h"

static void *kv;

static void kv_setup(void)
{
    kv = kv_fsm_ops.create();
    cr_assert_not_null(kv);
}

static void kv_teardown(void)
{
    kv_fsm_ops.destroy(kv);
}

TestSuite(kv_snapshot, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_determinism, .init = kv_setup, .fini = kv_teardown);

/* A small state with every kind of key: plain, with a TTL, already expired (not yet
 * removed), an empty value, a binary key. */
static void kv_fill_small(void *m)
{
    kv_test_put(m, 1000, "plain", "value", 0);
    kv_test_put(m, 1000, "ttl", "lives", 60000);
    kv_test_put(m, 1000, "expired", "gone", 10);
    kv_test_put(m, 1000, "empty", "", 0);
    kv_test_put_bin(m, 1000, "\0\1\2", 3, "bin", 3, 0);
}

static void kv_expect_small(void *m)
{
    struct lum_result r;
    kv_test_expect(m, 2000, "plain", "value");
    kv_test_expect(m, 2000, "ttl", "lives");
    kv_test_expect(m, 60999, "ttl", "lives");
    cr_assert_eq(kv_test_get(m, 61000, "ttl", NULL), KV_NOT_FOUND);
    cr_assert_eq(kv_test_get(m, 2000, "expired", NULL), KV_NOT_FOUND);
    kv_test_expect(m, 1009, "expired", "gone");
    kv_test_expect(m, 2000, "empty", "");
    cr_assert_eq(kv_test_get_bin(m, 2000, "\0\1\2", 3, &r), KV_OK);
    cr_assert(r.len == 3 && memcmp(r.data, "bin", 3) == 0);
}

Test(kv_snapshot, round_trip_gives_the_same_answers_and_the_same_bytes)
{
    kv_fill_small(kv);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    void *fresh = kv_fsm_ops.create();
    cr_assert_eq(kv_test_load(&kv_fsm_ops, fresh, a.data, a.len), 0);
    kv_expect_small(fresh);
    struct kv_test_buf b = kv_test_save(&kv_fsm_ops, fresh);
    cr_assert(kv_test_same_bytes(&a, &b));
    cr_assert_eq(kv_fsm_ops.size(fresh), kv_fsm_ops.size(kv));
    kv_test_buf_free(&a);
    kv_test_buf_free(&b);
    kv_fsm_ops.destroy(fresh);
}

Test(kv_snapshot, an_empty_machine_round_trips)
{
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    cr_assert_eq(a.len, 16u + 13u, "header and end record only");
    kv_test_put(kv, 1, "k", "v", 0);
    cr_assert_eq(kv_test_load(&kv_fsm_ops, kv, a.data, a.len), 0);
    cr_assert_eq(kv_test_get(kv, 1, "k", NULL), KV_NOT_FOUND);
    kv_test_buf_free(&a);
}

Test(kv_snapshot, the_stream_has_the_documented_layout)
{
    kv_test_put(kv, 1000, "k", "vv", 5);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    cr_assert_eq(a.len, 16u + 15u + 3u + 13u);
    cr_assert(memcmp(a.data, "LUMKVSNP", 8) == 0);
    cr_assert_eq(lum_get_u32(a.data + 8), 1, "version");
    cr_assert_eq(lum_get_u32(a.data + 12), 0, "flags");
    const uint8_t *rec = a.data + 16;
    cr_assert_eq(rec[0], 1);
    cr_assert_eq(lum_get_u16(rec + 1), 1);
    cr_assert_eq(lum_get_u32(rec + 3), 2);
    cr_assert_eq(lum_get_u64(rec + 7), 1005);
    cr_assert(memcmp(rec + 15, "kvv", 3) == 0);
    const uint8_t *end = rec + 18;
    cr_assert_eq(end[0], 0);
    cr_assert_eq(lum_get_u64(end + 1), 1, "count");
    cr_assert_eq(lum_get_u32(end + 9), lum_crc32c(0, a.data, a.len - 4));
    kv_test_buf_free(&a);
}

Test(kv_snapshot, load_replaces_the_current_state)
{
    kv_test_put(kv, 1000, "plain", "older", 0);
    kv_test_put(kv, 1000, "only-here", "x", 0);
    kv_test_put(kv, 1000, "ttl", "x", 5);
    void *src = kv_fsm_ops.create();
    kv_fill_small(src);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, src);
    cr_assert_eq(kv_test_load(&kv_fsm_ops, kv, a.data, a.len), 0);
    kv_expect_small(kv);
    cr_assert_eq(kv_test_get(kv, 0, "only-here", NULL), KV_NOT_FOUND);
    struct kv_test_buf b = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&a, &b));
    kv_test_buf_free(&a);
    kv_test_buf_free(&b);
    kv_fsm_ops.destroy(src);
}

Test(kv_snapshot, housekeeping_after_a_load_knows_the_loaded_expiries)
{
    static struct kv_test_proposals p;
    kv_fill_small(kv);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    void *fresh = kv_fsm_ops.create();
    cr_assert_eq(kv_test_load(&kv_fsm_ops, fresh, a.data, a.len), 0);
    cr_assert_eq(kv_test_housekeep(fresh, 2000, &p), 1, "only 'expired'");
    cr_assert_eq(lum_get_u64(p.body[0] + 2), 1010);
    cr_assert_eq(kv_test_apply(fresh, KV_EXPIRE, 2000, p.body[0], p.len[0]), KV_OK);
    cr_assert_eq(kv_test_housekeep(fresh, 61000, &p), 1, "then 'ttl'");
    cr_assert_eq(lum_get_u64(p.body[0] + 2), 61000);
    kv_test_buf_free(&a);
    kv_fsm_ops.destroy(fresh);
}

/* Every strict prefix of a valid stream is refused, and the machine keeps its state. */
Test(kv_snapshot, every_truncation_is_refused_and_the_previous_state_kept)
{
    void *src = kv_fsm_ops.create();
    kv_fill_small(src);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, src);
    kv_test_put(kv, 1, "mine", "still here", 0);
    struct kv_test_buf before = kv_test_save(&kv_fsm_ops, kv);
    for (size_t n = 0; n < a.len; n++) {
        int rc = kv_test_load(&kv_fsm_ops, kv, a.data, n);
        cr_assert_eq(rc, -LUM_ECORRUPT, "truncated to %zu of %zu: %d", n, a.len, rc);
    }
    struct kv_test_buf after = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&before, &after));
    kv_test_expect(kv, 1, "mine", "still here");
    cr_assert_eq(kv_test_load(&kv_fsm_ops, kv, a.data, a.len), 0, "the whole stream loads");
    kv_test_buf_free(&a);
    kv_test_buf_free(&before);
    kv_test_buf_free(&after);
    kv_fsm_ops.destroy(src);
}

Test(kv_snapshot, every_bit_flip_is_refused_and_the_previous_state_kept)
{
    void *src = kv_fsm_ops.create();
    kv_fill_small(src);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, src);
    kv_test_put(kv, 1, "mine", "still here", 0);
    struct kv_test_buf before = kv_test_save(&kv_fsm_ops, kv);
    for (size_t i = 0; i < a.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            a.data[i] ^= (uint8_t)(1u << bit);
            int rc = kv_test_load(&kv_fsm_ops, kv, a.data, a.len);
            a.data[i] ^= (uint8_t)(1u << bit);
            int want = i >= 8 && i < 12 ? -LUM_EVERSION : -LUM_ECORRUPT;
            cr_assert_eq(rc, want, "bit %d of byte %zu: %d", bit, i, rc);
        }
    }
    struct kv_test_buf after = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&before, &after));
    kv_test_buf_free(&a);
    kv_test_buf_free(&before);
    kv_test_buf_free(&after);
    kv_fsm_ops.destroy(src);
}

/* Re-seals a hand-edited stream with a correct crc, to reach the checks behind it. */
static void kv_reseal(struct kv_test_buf *b)
{
    lum_put_u32(b->data + b->len - 4, lum_crc32c(0, b->data, b->len - 4));
}

Test(kv_snapshot, a_repeated_key_or_a_wrong_count_is_refused_even_with_a_good_crc)
{
    kv_test_put(kv, 1000, "a", "1", 0);
    kv_test_put(kv, 1000, "b", "2", 0);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    /* two 17-byte records ("a", "b"): turn the second key into the first */
    cr_assert_eq(a.len, 16u + 2 * 17u + 13u);
    uint8_t *second = a.data + 16 + 17;
    cr_assert(second[15] == 'a' || second[15] == 'b');
    uint8_t first_key = a.data[16 + 15];
    second[15] = first_key;
    kv_reseal(&a);
    void *fresh = kv_fsm_ops.create();
    cr_assert_eq(kv_test_load(&kv_fsm_ops, fresh, a.data, a.len), -LUM_ECORRUPT);
    second[15] = first_key == 'a' ? 'b' : 'a';
    lum_put_u64(a.data + a.len - 12, 3);
    kv_reseal(&a);
    cr_assert_eq(kv_test_load(&kv_fsm_ops, fresh, a.data, a.len), -LUM_ECORRUPT);
    lum_put_u64(a.data + a.len - 12, 2);
    kv_reseal(&a);
    cr_assert_eq(kv_test_load(&kv_fsm_ops, fresh, a.data, a.len), 0, "repaired, it loads");
    kv_test_buf_free(&a);
    kv_fsm_ops.destroy(fresh);
}

Test(kv_snapshot, another_version_is_refused_with_eversion)
{
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    lum_put_u32(a.data + 8, 2);
    kv_reseal(&a);
    cr_assert_eq(kv_test_load(&kv_fsm_ops, kv, a.data, a.len), -LUM_EVERSION);
    kv_test_buf_free(&a);
}

Test(kv_snapshot, a_record_with_an_impossible_length_is_refused_before_allocating)
{
    kv_test_put(kv, 1000, "k", "v", 0);
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    lum_put_u32(a.data + 16 + 3, UINT32_MAX); /* vlen */
    cr_assert_eq(kv_test_load(&kv_fsm_ops, kv, a.data, a.len), -LUM_ECORRUPT);
    lum_put_u32(a.data + 16 + 3, 1);
    lum_put_u16(a.data + 16 + 1, 0); /* klen */
    cr_assert_eq(kv_test_load(&kv_fsm_ops, kv, a.data, a.len), -LUM_ECORRUPT);
    kv_test_buf_free(&a);
}

/* A sink that fails after some bytes: save passes the error up. */
static int kv_failing_write(void *ctx, const void *p, size_t n)
{
    (void)p;
    size_t *left = ctx;
    if (n > *left)
        return -LUM_EIO;
    *left -= n;
    return 0;
}

Test(kv_snapshot, save_reports_a_failing_sink)
{
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        kv_test_put(kv, 1, key, "a value of some length, to fill the buffer faster", 0);
    }
    size_t left = 100000;
    struct lum_sink sink = {.ctx = &left, .write = kv_failing_write};
    cr_assert_eq(kv_fsm_ops.snapshot_save(kv, &sink), -LUM_EIO);
    left = 10;
    cr_assert_eq(kv_fsm_ops.snapshot_save(kv, &sink), -LUM_EIO);
}

/* ---- determinism ----------------------------------------------------------------------------- */

enum { KV_DET_COMMANDS = 100000, KV_DET_KEYS = 3000 };

struct kv_det_cmd {
    uint16_t type;
    uint64_t time_ms;
    uint32_t len;
    uint8_t  body[96];
};

static struct kv_det_cmd cmds[KV_DET_COMMANDS];

/* A seeded sequence of PUT (with and without TTL), DEL, CAS (matching often: values come
 * from a small set), EXPIRE (matching sometimes) and malformed bodies, over a key space
 * small enough that most commands hit existing keys, with time moving forward. */
static void kv_det_generate(uint64_t seed)
{
    static const char *const values[] = {"", "a", "bb", "value-three", "a somewhat longer value"};
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1, now = 1000000;
    char key[24];
    for (int i = 0; i < KV_DET_COMMANDS; i++) {
        struct kv_det_cmd *c = &cmds[i];
        now += kv_test_rand(&s) % 20;
        c->time_ms = now;
        int klen = snprintf(key, sizeof key, "k%u", (unsigned)(kv_test_rand(&s) % KV_DET_KEYS));
        const char *v1 = values[kv_test_rand(&s) % 5], *v2 = values[kv_test_rand(&s) % 5];
        uint64_t r = kv_test_rand(&s) % 100;
        int n;
        if (r < 45) {
            uint64_t ttl = kv_test_rand(&s) % 2 ? 1 + kv_test_rand(&s) % 2000 : 0;
            c->type = KV_PUT;
            n = kv_encode_put(c->body, sizeof c->body, key, (size_t)klen, v1, strlen(v1), ttl);
        } else if (r < 60) {
            c->type = KV_DEL;
            n = kv_encode_del(c->body, sizeof c->body, key, (size_t)klen);
        } else if (r < 85) {
            c->type = KV_CAS;
            n = kv_encode_cas(c->body, sizeof c->body, key, (size_t)klen, v1, strlen(v1), v2,
                              strlen(v2));
        } else if (r < 97) {
            /* an expiry that some PUT of the last ~2000 ms may have set */
            c->type = KV_EXPIRE;
            n = (int)kv_test_encode_expire(c->body, key, now - kv_test_rand(&s) % 40);
        } else {
            c->type = (uint16_t)(KV_PUT + kv_test_rand(&s) % 4);
            n = kv_encode_put(c->body, sizeof c->body, key, (size_t)klen, v1, strlen(v1), 5);
            n = (int)(kv_test_rand(&s) % (uint64_t)n); /* truncated */
        }
        cr_assert_geq(n, 0);
        c->len = (uint32_t)n;
    }
}

static int32_t kv_det_apply(void *m, int i)
{
    return kv_test_apply(m, cmds[i].type, cmds[i].time_ms, cmds[i].body, cmds[i].len);
}

Test(kv_determinism, the_same_seeded_commands_give_byte_identical_snapshots)
{
    static struct kv_test_proposals p;
    kv_det_generate(1);
    void *b = kv_fsm_ops.create(), *c = kv_fsm_ops.create();
    uint32_t answers[4] = {0};

    /* kv: the commands alone. b: the same, with queries, housekeeping and snapshots in
     * between (none may change the state). c: loaded from b's snapshot halfway. */
    for (int i = 0; i < KV_DET_COMMANDS; i++) {
        int32_t code = kv_det_apply(kv, i);
        answers[code]++;
        cr_assert_eq(kv_det_apply(b, i), code, "command %d", i);
        if (i >= KV_DET_COMMANDS / 2)
            cr_assert_eq(kv_det_apply(c, i), code, "command %d after the load", i);
        if (i % 7 == 0)
            kv_test_get(b, cmds[i].time_ms, "k17", NULL);
        if (i % 1000 == 0)
            kv_test_housekeep(b, cmds[i].time_ms, &p);
        if (i % 10007 == 0) {
            struct kv_test_buf junk = kv_test_save(&kv_fsm_ops, b);
            kv_test_buf_free(&junk);
        }
        if (i == KV_DET_COMMANDS / 2 - 1) {
            struct kv_test_buf half = kv_test_save(&kv_fsm_ops, b);
            cr_assert_eq(kv_test_load(&kv_fsm_ops, c, half.data, half.len), 0);
            kv_test_buf_free(&half);
        }
    }
    /* every answer occurred, so the sequence exercised every path */
    for (int code = KV_OK; code <= KV_BAD_REQUEST; code++)
        cr_assert_gt(answers[code], 100u, "answer %d: %u times", code, answers[code]);

    struct kv_test_buf sa = kv_test_save(&kv_fsm_ops, kv);
    struct kv_test_buf sb = kv_test_save(&kv_fsm_ops, b);
    struct kv_test_buf sc = kv_test_save(&kv_fsm_ops, c);
    cr_assert_gt(sa.len, 1000u);
    cr_assert(kv_test_same_bytes(&sa, &sb), "with queries and housekeeping in between");
    cr_assert(kv_test_same_bytes(&sa, &sc), "loaded from a snapshot halfway");

    /* and the bytes do depend on the commands */
    void *d = kv_fsm_ops.create();
    kv_det_generate(2);
    for (int i = 0; i < KV_DET_COMMANDS; i++)
        kv_det_apply(d, i);
    struct kv_test_buf sd = kv_test_save(&kv_fsm_ops, d);
    cr_assert_not(kv_test_same_bytes(&sa, &sd));

    kv_test_buf_free(&sa);
    kv_test_buf_free(&sb);
    kv_test_buf_free(&sc);
    kv_test_buf_free(&sd);
    kv_fsm_ops.destroy(b);
    kv_fsm_ops.destroy(c);
    kv_fsm_ops.destroy(d);
}

/* The snapshot order does not depend on the table's history: a table that grew to 50k
 * keys and shrank back holds its last keys in the same bytes as one that only ever held
 * those keys, also while a resize is half done. */
Test(kv_determinism, snapshot_bytes_do_not_depend_on_the_table_history)
{
    char key[32];
    void *small = kv_fsm_ops.create();
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        kv_test_put(kv, 1, key, "v", 0);
    }
    for (int i = 0; i < 50000 - 500; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        kv_test_del(kv, 1, key);
    }
    for (int i = 50000 - 500; i < 50000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        kv_test_put(small, 1, key, "v", 0);
    }
    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    struct kv_test_buf b = kv_test_save(&kv_fsm_ops, small);
    cr_assert(kv_test_same_bytes(&a, &b));
    kv_test_buf_free(&a);
    kv_test_buf_free(&b);
    kv_fsm_ops.destroy(small);
}
