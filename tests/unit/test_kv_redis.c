/* The key-value machine's Redis-shaped commands (SET with NX/XX/KEEPTTL, INCR, SETTTL, MSET,
 * MDEL) and queries (MGET, EXISTS, PTTL, DBSIZE): every answer of kv.h, their interplay
 * with expiry and housekeeping, malformed bodies, snapshots and determinism. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>

#include "kv_test.h"
#include "luminous/wire.h"

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

TestSuite(kv_set, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_incr, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_setttl, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_mset, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_mquery, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_redis_malformed, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_redis_snapshot, .init = kv_setup, .fini = kv_teardown);

/* ---- helpers ------------------------------------------------------------------------------ */

static int32_t set_on(void *m, uint64_t time_ms, uint8_t flags, const char *key,
                      const char *value, uint64_t ttl_ms)
{
    uint8_t body[LUM_COMMAND_BODY_MAX];
    int n = kv_encode_set(body, sizeof body, flags, key, strlen(key), value, strlen(value),
                          ttl_ms);
    cr_assert_gt(n, 0);
    struct lum_result r;
    int32_t code = kv_test_apply_to(&kv_fsm_ops, m, KV_SET, time_ms, body, (uint32_t)n, &r);
    cr_assert_eq(r.len, 0, "SET answers carry no data");
    return code;
}

static int32_t set(uint64_t time_ms, uint8_t flags, const char *key, const char *value,
                   uint64_t ttl_ms)
{
    return set_on(kv, time_ms, flags, key, value, ttl_ms);
}

/* INCR; on KV_OK *value gets the answer (which must be 8 bytes). */
static int32_t incr(uint64_t time_ms, const char *key, int64_t delta, int64_t *value)
{
    uint8_t body[64];
    int n = kv_encode_incr(body, sizeof body, key, strlen(key), delta);
    cr_assert_gt(n, 0);
    struct lum_result r;
    int32_t code = kv_test_apply_to(&kv_fsm_ops, kv, KV_INCR, time_ms, body, (uint32_t)n, &r);
    if (code == KV_OK) {
        cr_assert_eq(r.len, 8);
        cr_assert_not_null(r.data);
        if (value)
            *value = (int64_t)lum_get_u64(r.data);
    } else {
        cr_assert_eq(r.len, 0);
    }
    return code;
}

static int32_t setttl(uint64_t time_ms, const char *key, int64_t ttl_ms)
{
    uint8_t body[64];
    int n = kv_encode_setttl(body, sizeof body, key, strlen(key), ttl_ms);
    cr_assert_gt(n, 0);
    return kv_test_apply(kv, KV_SETTTL, time_ms, body, (uint32_t)n);
}

/* MSET of n pairs given as key, value, key, value, ... */
static int32_t mset(uint64_t time_ms, size_t n, const char *const *kvs)
{
    static uint8_t body[LUM_COMMAND_BODY_MAX];
    struct kv_pair pairs[64];
    cr_assert_leq(n, 64u);
    for (size_t i = 0; i < n; i++)
        pairs[i] = (struct kv_pair){kvs[2 * i], kvs[2 * i + 1], strlen(kvs[2 * i]),
                                    strlen(kvs[2 * i + 1])};
    int len = kv_encode_mset(body, sizeof body, pairs, n);
    cr_assert_gt(len, 0);
    struct lum_result r;
    int32_t code = kv_test_apply_to(&kv_fsm_ops, kv, KV_MSET, time_ms, body, (uint32_t)len, &r);
    cr_assert_eq(r.len, 0);
    return code;
}

static size_t keys_of(struct kv_key *keys, size_t n, const char *const *names)
{
    for (size_t i = 0; i < n; i++)
        keys[i] = (struct kv_key){names[i], strlen(names[i])};
    return n;
}

/* MDEL; returns the deleted count (the answer must be KV_OK with 4 bytes). */
static uint32_t mdel(uint64_t time_ms, size_t n, const char *const *names)
{
    uint8_t body[1024];
    struct kv_key keys[64];
    int len = kv_encode_mdel(body, sizeof body, keys, keys_of(keys, n, names));
    cr_assert_gt(len, 0);
    struct lum_result r;
    cr_assert_eq(kv_test_apply_to(&kv_fsm_ops, kv, KV_MDEL, time_ms, body, (uint32_t)len, &r),
                 KV_OK);
    cr_assert_eq(r.len, 4);
    return lum_get_u32(r.data);
}

static struct lum_result query_on(void *m, const uint8_t *req, int len, uint64_t now_ms)
{
    struct lum_result r;
    cr_assert_geq(len, 0);
    cr_assert_eq(kv_fsm_ops.query(m, req, (uint32_t)len, now_ms, &r), 0);
    return r;
}

static struct lum_result mquery(uint8_t op, uint64_t now_ms, size_t n, const char *const *names)
{
    uint8_t req[1024];
    struct kv_key keys[64];
    int len = kv_encode_mquery(req, sizeof req, op, keys, keys_of(keys, n, names));
    cr_assert_gt(len, 0);
    return query_on(kv, req, len, now_ms);
}

static uint32_t exists(uint64_t now_ms, size_t n, const char *const *names)
{
    struct lum_result r = mquery(KV_EXISTS, now_ms, n, names);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.len, 4);
    return lum_get_u32(r.data);
}

static int64_t pttl_on(void *m, uint64_t now_ms, const char *key)
{
    uint8_t req[64];
    struct lum_result r = query_on(m, req, kv_encode_pttl(req, sizeof req, key, strlen(key)),
                                   now_ms);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.len, 8);
    return (int64_t)lum_get_u64(r.data);
}

static int64_t pttl(uint64_t now_ms, const char *key)
{
    return pttl_on(kv, now_ms, key);
}

static uint64_t dbsize_on(void *m, uint64_t now_ms)
{
    uint8_t req[4];
    struct lum_result r = query_on(m, req, kv_encode_dbsize(req, sizeof req), now_ms);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.len, 8);
    return lum_get_u64(r.data);
}

static uint64_t dbsize(uint64_t now_ms)
{
    return dbsize_on(kv, now_ms);
}

static bool absent(uint64_t now_ms, const char *key)
{
    return kv_test_get(kv, now_ms, key, NULL) == KV_NOT_FOUND;
}

/* ---- SET ------------------------------------------------------------------------------------ */

Test(kv_set, plain_set_stores_the_value_and_clears_an_expiry)
{
    cr_assert_eq(set(1000, 0, "k", "one", 0), KV_OK);
    kv_test_expect(kv, 1000, "k", "one");
    cr_assert_eq(pttl(1000, "k"), -1);
    cr_assert_eq(kv_test_put(kv, 1000, "k", "two", 500), KV_OK);
    cr_assert_eq(pttl(1000, "k"), 500);
    cr_assert_eq(set(1100, 0, "k", "three", 0), KV_OK);
    kv_test_expect(kv, 99999, "k", "three");
    cr_assert_eq(pttl(99999, "k"), -1, "the expiry was cleared");
    cr_assert_eq(set(1100, 0, "k", "", 0), KV_OK, "an empty value");
    kv_test_expect(kv, 1100, "k", "");
}

Test(kv_set, a_ttl_counts_from_the_command_time_and_housekeeping_removes_the_key)
{
    static struct kv_test_proposals p;
    cr_assert_eq(set(1000, 0, "k", "v", 250), KV_OK);
    cr_assert_eq(pttl(1000, "k"), 250);
    cr_assert_eq(pttl(1100, "k"), 150, "the query clock, not the command's");
    kv_test_expect(kv, 1249, "k", "v");
    cr_assert(absent(1250, "k"));
    cr_assert_eq(kv_test_housekeep(kv, 1249, &p), 0);
    cr_assert_eq(kv_test_housekeep(kv, 1250, &p), 1);
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 1300, p.body[0], p.len[0]), KV_OK);
    cr_assert_eq(dbsize(0), 0, "gone for good, whatever the clock");
}

Test(kv_set, nx_sets_only_an_absent_or_expired_key)
{
    cr_assert_eq(set(1000, KV_SET_NX, "k", "first", 0), KV_OK);
    cr_assert_eq(set(1000, KV_SET_NX, "k", "second", 0), KV_MISMATCH);
    kv_test_expect(kv, 1000, "k", "first");
    cr_assert_eq(kv_test_put(kv, 1000, "t", "old", 100), KV_OK);
    cr_assert_eq(set(1099, KV_SET_NX, "t", "new", 0), KV_MISMATCH, "not expired yet");
    cr_assert_eq(pttl(1099, "t"), 1, "a refused SET changes nothing");
    cr_assert_eq(set(1100, KV_SET_NX, "t", "new", 0), KV_OK, "expired counts as absent");
    kv_test_expect(kv, 5000, "t", "new");
    cr_assert_eq(pttl(5000, "t"), -1);
    cr_assert_eq(set(1100, KV_SET_NX, "n", "v", 300), KV_OK, "NX with a ttl");
    cr_assert_eq(pttl(1100, "n"), 300);
}

Test(kv_set, xx_sets_only_a_live_key_and_creates_nothing)
{
    cr_assert_eq(set(1000, KV_SET_XX, "k", "v", 0), KV_MISMATCH);
    cr_assert(absent(1000, "k"));
    cr_assert_eq(dbsize(1000), 0);
    cr_assert_eq(kv_test_put(kv, 1000, "k", "old", 100), KV_OK);
    cr_assert_eq(set(1050, KV_SET_XX, "k", "new", 0), KV_OK);
    kv_test_expect(kv, 5000, "k", "new");
    cr_assert_eq(kv_test_put(kv, 6000, "t", "old", 100), KV_OK);
    cr_assert_eq(set(6100, KV_SET_XX, "t", "new", 0), KV_MISMATCH, "expired counts as absent");
    cr_assert(absent(6100, "t"));
    cr_assert_eq(set(6000, KV_SET_XX, "k", "ttl", 40), KV_OK, "XX with a ttl");
    cr_assert_eq(pttl(6000, "k"), 40);
}

Test(kv_set, keepttl_keeps_a_live_key_expiry_only)
{
    cr_assert_eq(kv_test_put(kv, 1000, "k", "old", 500), KV_OK);
    cr_assert_eq(set(1200, KV_SET_KEEPTTL, "k", "a longer new value", 0), KV_OK);
    kv_test_expect(kv, 1200, "k", "a longer new value");
    cr_assert_eq(pttl(1200, "k"), 300);
    cr_assert(absent(1500, "k"), "it still expires when the PUT said");
    cr_assert_eq(set(1600, KV_SET_KEEPTTL, "k", "back", 0), KV_OK);
    cr_assert_eq(pttl(1600, "k"), -1, "an expired key's expiry is not kept");
    kv_test_expect(kv, 99999, "k", "back");
    cr_assert_eq(set(1600, KV_SET_KEEPTTL, "fresh", "v", 0), KV_OK);
    cr_assert_eq(pttl(1600, "fresh"), -1);
    cr_assert_eq(kv_test_put(kv, 2000, "x", "old", 50), KV_OK);
    cr_assert_eq(set(2010, KV_SET_XX | KV_SET_KEEPTTL, "x", "new", 0), KV_OK);
    cr_assert_eq(pttl(2010, "x"), 40);
    cr_assert_eq(set(2010, KV_SET_NX | KV_SET_KEEPTTL, "x", "no", 0), KV_MISMATCH);
    kv_test_expect(kv, 2010, "x", "new");
}

Test(kv_set, a_new_ttl_survives_the_stale_expire_of_the_old_one)
{
    static struct kv_test_proposals p;
    cr_assert_eq(set(1000, 0, "k", "v", 100), KV_OK);
    cr_assert_eq(kv_test_housekeep(kv, 1100, &p), 1);
    cr_assert_eq(set(1100, 0, "k", "w", 1000), KV_OK); /* written again before it applies */
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 1101, p.body[0], p.len[0]), KV_MISMATCH);
    kv_test_expect(kv, 2099, "k", "w");
    cr_assert_eq(kv_test_housekeep(kv, 2099, &p), 0);
    cr_assert_eq(kv_test_housekeep(kv, 2100, &p), 1, "the new expiry is proposed");
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 2100, p.body[0], p.len[0]), KV_OK);
}

/* ---- INCR ----------------------------------------------------------------------------------- */

Test(kv_incr, a_missing_key_counts_as_zero_and_the_value_is_stored_as_text)
{
    int64_t v = 99;
    cr_assert_eq(incr(1000, "n", 5, &v), KV_OK);
    cr_assert_eq(v, 5);
    kv_test_expect(kv, 1000, "n", "5");
    cr_assert_eq(incr(1000, "n", -12, &v), KV_OK);
    cr_assert_eq(v, -7);
    kv_test_expect(kv, 1000, "n", "-7");
    cr_assert_eq(incr(1000, "n", 0, &v), KV_OK);
    cr_assert_eq(v, -7);
    cr_assert_eq(incr(1000, "n", 1000007, &v), KV_OK);
    kv_test_expect(kv, 1000, "n", "1000000");
    cr_assert_eq(pttl(1000, "n"), -1, "INCR gives a new key no expiry");
}

Test(kv_incr, the_answer_is_8_bytes_little_endian_in_the_machine)
{
    struct lum_result r;
    uint8_t body[32];
    int n = kv_encode_incr(body, sizeof body, "n", 1, 0x0102030405060708ll);
    cr_assert_eq(kv_test_apply_to(&kv_fsm_ops, kv, KV_INCR, 1, body, (uint32_t)n, &r), KV_OK);
    cr_assert_eq(r.len, 8);
    const uint8_t *d = r.data;
    cr_assert(d[0] == 8 && d[1] == 7 && d[7] == 1);
    cr_assert(d < body || d >= body + sizeof body, "not in the caller's buffer");
    kv_test_expect(kv, 1, "n", "72623859790382856");
}

Test(kv_incr, a_live_key_keeps_its_expiry_an_expired_one_starts_over)
{
    int64_t v;
    cr_assert_eq(kv_test_put(kv, 1000, "n", "10", 500), KV_OK);
    cr_assert_eq(incr(1200, "n", 1, &v), KV_OK);
    cr_assert_eq(v, 11);
    cr_assert_eq(pttl(1200, "n"), 300, "the expiry is kept");
    cr_assert(absent(1500, "n"));
    cr_assert_eq(incr(1500, "n", 3, &v), KV_OK);
    cr_assert_eq(v, 3, "expired counts as missing: 0");
    cr_assert_eq(pttl(1500, "n"), -1);
    kv_test_expect(kv, 99999, "n", "3");
    cr_assert_eq(kv_test_put(kv, 2000, "x", "not a number", 100), KV_OK);
    cr_assert_eq(incr(2100, "x", 1, &v), KV_OK, "an expired non-number is missing too");
    cr_assert_eq(v, 1);
}

Test(kv_incr, values_are_read_as_redis_string2ll_does)
{
    static const struct {
        const char *text;
        int64_t     value;
    } good[] = {
        {"0", 0}, {"1", 1}, {"-1", -1}, {"42", 42}, {"1000", 1000}, {"-1000", -1000},
        {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN},
        {"9223372036854775806", INT64_MAX - 1},
    };
    static const char *const bad[] = {
        "", "-", "+1", "+0", " 1", "1 ", "01", "00", "-0", "-01", "1a", "a", "0x10", "1.0", "1e3",
        "--1", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "99999999999999999999", "-99999999999999999999", "100000000000000000000",
        "123456789012345678901", "1\0",
    };
    char key[16];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(key, sizeof key, "g%zu", i);
        cr_assert_eq(kv_test_put(kv, 1, key, good[i].text, 0), KV_OK);
        int64_t v;
        cr_assert_eq(incr(1, key, 0, &v), KV_OK, "\"%s\"", good[i].text);
        cr_assert_eq(v, good[i].value, "\"%s\"", good[i].text);
        kv_test_expect(kv, 1, key, good[i].text); /* canonical text formats back the same */
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(key, sizeof key, "b%zu", i);
        size_t len = strlen(bad[i]) + (strcmp(bad[i], "1") == 0); /* "1\0": two bytes */
        cr_assert_eq(kv_test_put_bin(kv, 1, key, strlen(key), bad[i], len, 0), KV_OK);
        cr_assert_eq(incr(1, key, 1, NULL), KV_NOT_INTEGER, "\"%s\"", bad[i]);
        struct lum_result r;
        cr_assert_eq(kv_test_get(kv, 1, key, &r), KV_OK);
        cr_assert(r.len == len && memcmp(r.data, bad[i], len) == 0, "unchanged: \"%s\"", bad[i]);
    }
}

Test(kv_incr, overflow_answers_overflow_and_changes_nothing)
{
    int64_t v;
    cr_assert_eq(kv_test_put(kv, 1000, "max", "9223372036854775806", 900), KV_OK);
    cr_assert_eq(incr(1000, "max", 1, &v), KV_OK);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(incr(1000, "max", 1, NULL), KV_OVERFLOW);
    cr_assert_eq(incr(1000, "max", INT64_MAX, NULL), KV_OVERFLOW);
    kv_test_expect(kv, 1000, "max", "9223372036854775807");
    cr_assert_eq(pttl(1000, "max"), 900);
    cr_assert_eq(incr(1000, "max", INT64_MIN, &v), KV_OK);
    cr_assert_eq(v, -1);

    cr_assert_eq(incr(1000, "min", INT64_MIN, &v), KV_OK);
    cr_assert_eq(v, INT64_MIN);
    kv_test_expect(kv, 1000, "min", "-9223372036854775808");
    cr_assert_eq(incr(1000, "min", -1, NULL), KV_OVERFLOW);
    cr_assert_eq(incr(1000, "min", INT64_MIN, NULL), KV_OVERFLOW);
    kv_test_expect(kv, 1000, "min", "-9223372036854775808");
    cr_assert_eq(incr(1000, "min", INT64_MAX, &v), KV_OK);
    cr_assert_eq(v, -1);

    cr_assert_eq(incr(1000, "gone", INT64_MAX, &v), KV_OK, "0 + INT64_MAX fits");
    cr_assert_eq(v, INT64_MAX);
}

/* ---- SETTTL --------------------------------------------------------------------------------- */

Test(kv_setttl, a_positive_ttl_expires_the_key_at_command_time_plus_ttl)
{
    cr_assert_eq(kv_test_put(kv, 1000, "k", "v", 0), KV_OK);
    cr_assert_eq(setttl(2000, "k", 300), KV_OK);
    cr_assert_eq(pttl(2000, "k"), 300);
    kv_test_expect(kv, 2299, "k", "v");
    cr_assert(absent(2300, "k"));
    cr_assert_eq(setttl(2300, "k", 300), KV_NOT_FOUND, "expired");
    cr_assert_eq(setttl(2300, "missing", 300), KV_NOT_FOUND);
    cr_assert(absent(2300, "missing"), "nothing created");
}

Test(kv_setttl, a_ttl_of_zero_or_less_deletes_the_key)
{
    cr_assert_eq(kv_test_put(kv, 1000, "a", "v", 0), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "b", "v", 5000), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "c", "v", 0), KV_OK);
    cr_assert_eq(setttl(1000, "a", 0), KV_OK);
    cr_assert_eq(setttl(1000, "b", -1), KV_OK);
    cr_assert_eq(setttl(1000, "c", INT64_MIN + 1), KV_OK);
    cr_assert_eq(dbsize(0), 0, "removed, not merely expired");
    cr_assert_eq(setttl(1000, "a", -5), KV_NOT_FOUND);
}

Test(kv_setttl, int64_min_persists_a_key_with_an_expiry)
{
    cr_assert_eq(kv_test_put(kv, 1000, "k", "v", 100), KV_OK);
    cr_assert_eq(setttl(1050, "k", INT64_MIN), KV_OK);
    cr_assert_eq(pttl(1050, "k"), -1);
    kv_test_expect(kv, 99999, "k", "v");
    cr_assert_eq(setttl(1050, "k", INT64_MIN), KV_MISMATCH, "no expiry to remove");
    cr_assert_eq(setttl(1050, "missing", INT64_MIN), KV_NOT_FOUND);
    cr_assert_eq(kv_test_put(kv, 1000, "t", "v", 100), KV_OK);
    cr_assert_eq(setttl(1100, "t", INT64_MIN), KV_NOT_FOUND, "too late: expired");
    cr_assert(absent(1100, "t"));
}

Test(kv_setttl, a_stale_expire_deletes_nothing_after_the_expiry_changed)
{
    static struct kv_test_proposals p;
    cr_assert_eq(kv_test_put(kv, 1000, "a", "v", 100), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "b", "v", 100), KV_OK);
    cr_assert_eq(kv_test_housekeep(kv, 1100, &p), 2);
    /* both changed while their EXPIREs are in flight, at times just before 1100 */
    cr_assert_eq(setttl(1099, "a", 1000), KV_OK);
    cr_assert_eq(setttl(1099, "b", INT64_MIN), KV_OK);
    for (uint32_t i = 0; i < 2; i++)
        cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 1101, p.body[i], p.len[i]), KV_MISMATCH);
    kv_test_expect(kv, 1101, "a", "v");
    kv_test_expect(kv, 1101, "b", "v");
    cr_assert_eq(kv_test_housekeep(kv, 2098, &p), 0);
    cr_assert_eq(kv_test_housekeep(kv, 2099, &p), 1, "the new expiry is due");
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 2099, p.body[0], p.len[0]), KV_OK);
    cr_assert_eq(dbsize(2099), 1);
    kv_test_expect(kv, 99999, "b", "v");
}

Test(kv_setttl, housekeeping_follows_expiries_moved_earlier_and_later)
{
    static struct kv_test_proposals p;
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cr_assert_eq(kv_test_put(kv, 1000, key, "v", 10000 + (uint64_t)i), KV_OK);
    }
    cr_assert_eq(setttl(1000, "k99", 500), KV_OK);  /* from last to first */
    cr_assert_eq(setttl(1000, "k0", 20000), KV_OK); /* from first to last */
    cr_assert_eq(kv_test_housekeep(kv, 1499, &p), 0);
    cr_assert_eq(kv_test_housekeep(kv, 1500, &p), 1);
    cr_assert(memcmp(p.body[0] + 10, "k99", 3) == 0);
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 1500, p.body[0], p.len[0]), KV_OK);
    cr_assert_eq(kv_test_housekeep(kv, 11000 + 98, &p), 98, "k1..k98, not k0");
    cr_assert_eq(dbsize(11000 + 98), 1);
    cr_assert_eq(pttl(11000, "k0"), 10000);
}

Test(kv_setttl, a_ttl_that_overflows_the_clock_answers_bad_request)
{
    cr_assert_eq(kv_test_put(kv, 1000, "k", "v", 0), KV_OK);
    cr_assert_eq(setttl(UINT64_MAX - 10, "k", 11), KV_BAD_REQUEST);
    cr_assert_eq(pttl(0, "k"), -1);
    cr_assert_eq(setttl(UINT64_MAX - 10, "k", 10), KV_OK, "UINT64_MAX itself is a time");
}

/* ---- MSET and MDEL -------------------------------------------------------------------------- */

Test(kv_mset, sets_every_pair_without_expiry_and_the_last_of_a_repeated_key_wins)
{
    cr_assert_eq(kv_test_put(kv, 1000, "b", "old", 100), KV_OK);
    const char *const kvs[] = {"a", "1", "b", "2", "c", "", "a", "again"};
    cr_assert_eq(mset(1000, 4, kvs), KV_OK);
    kv_test_expect(kv, 99999, "a", "again");
    kv_test_expect(kv, 99999, "b", "2");
    kv_test_expect(kv, 99999, "c", "");
    cr_assert_eq(pttl(1000, "b"), -1, "MSET clears an expiry");
    cr_assert_eq(dbsize(1000), 3);
    static struct kv_test_proposals p;
    cr_assert_eq(kv_test_housekeep(kv, 99999, &p), 0, "nothing left in the expiry heap");
}

Test(kv_mset, a_full_entry_of_pairs_lands_and_the_table_grows_through_it)
{
    static uint8_t body[LUM_COMMAND_BODY_MAX];
    static char names[400][8];
    struct kv_pair pairs[400];
    size_t n = 0;
    for (int round = 0; round < 20; round++) {
        for (n = 0; n < 400; n++) {
            snprintf(names[n], sizeof names[n], "%c%03zu", 'a' + round, n);
            pairs[n] = (struct kv_pair){names[n], names[n], 4, 4};
            if (kv_encode_mset(body, sizeof body, pairs, n + 1) < 0)
                break;
        }
        cr_assert_gt(n, 200u, "%zu pairs fit", n);
        int len = kv_encode_mset(body, sizeof body, pairs, n);
        cr_assert_eq(kv_test_apply(kv, KV_MSET, 1, body, (uint32_t)len), KV_OK);
    }
    cr_assert_eq(dbsize(1), 20 * n);
    char key[32];
    for (int round = 0; round < 20; round++)
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof key, "%c%03zu", 'a' + round, i);
            kv_test_expect(kv, 1, key, key);
        }
}

Test(kv_mset, mdel_counts_the_live_keys_it_deleted)
{
    const char *const kvs[] = {"a", "1", "b", "2", "c", "3"};
    cr_assert_eq(mset(1000, 3, kvs), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "t", "v", 10), KV_OK);
    const char *const del[] = {"a", "missing", "a", "t", "c"};
    cr_assert_eq(mdel(1010, 5, del), 2, "a once, c; t expired, missing missing");
    cr_assert_eq(dbsize(0), 1, "the expired key went too");
    kv_test_expect(kv, 1010, "b", "2");
    const char *const again[] = {"a", "c"};
    cr_assert_eq(mdel(1010, 2, again), 0);
}

/* ---- MGET, EXISTS, PTTL, DBSIZE --------------------------------------------------------------- */

Test(kv_mquery, mget_answers_found_length_value_per_key_in_order)
{
    cr_assert_eq(kv_test_put(kv, 1000, "a", "one", 0), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "e", "", 0), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "t", "gone", 10), KV_OK);
    const char *const names[] = {"a", "missing", "e", "t", "a"};
    struct lum_result r = mquery(KV_MGET, 1010, 5, names);
    cr_assert_eq(r.code, KV_OK);
    static const uint8_t want[] = {1, 3, 0, 0, 0, 'o', 'n', 'e', 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0,   1, 3, 0, 0, 0, 'o', 'n', 'e'};
    cr_assert_eq(r.len, sizeof want);
    cr_assert(memcmp(r.data, want, sizeof want) == 0);
    r = mquery(KV_MGET, 1009, 1, names + 3);
    cr_assert_eq(r.len, 9, "t is live at 1009");
}

Test(kv_mquery, an_mget_answer_longer_than_kv_answer_max_is_refused)
{
    /* a client response carrying the longest answer fits a frame the client reads */
    cr_assert_leq(KV_ANSWER_MAX + 6 + 30 + WIRE_ADDR_MAX, WIRE_FRAME_MAX);
    static char big[4001];
    memset(big, 'x', 4000);
    cr_assert_eq(kv_test_put(kv, 1, "a", big, 0), KV_OK);
    /* 260 x (5 + 4000) + (5 + rest) == KV_ANSWER_MAX */
    size_t rest = KV_ANSWER_MAX - 260 * 4005 - 5;
    cr_assert_lt(rest, 4000u);
    big[rest] = 0;
    cr_assert_eq(kv_test_put(kv, 1, "b", big, 0), KV_OK);
    const char *names[261];
    for (int i = 0; i < 260; i++)
        names[i] = "a";
    names[260] = "b";
    uint8_t req[1024];
    struct kv_key keys[261];
    for (int i = 0; i < 261; i++)
        keys[i] = (struct kv_key){names[i], 1};
    int len = kv_encode_mquery(req, sizeof req, KV_MGET, keys, 261);
    struct lum_result r = query_on(kv, req, len, 1);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.len, KV_ANSWER_MAX);
    const uint8_t *d = r.data;
    cr_assert(d[KV_ANSWER_MAX - 1] == 'x' && d[260 * 4005] == 1);
    big[rest] = 'x';
    big[rest + 1] = 0;
    cr_assert_eq(kv_test_put(kv, 1, "b", big, 0), KV_OK);
    r = query_on(kv, req, len, 1);
    cr_assert_eq(r.code, KV_BAD_REQUEST, "one byte more");
    cr_assert_eq(r.len, 0);
    r = query_on(kv, req, len, 1);
    cr_assert_eq(r.code, KV_BAD_REQUEST);
    cr_assert_eq(exists(1, 1, names), 1, "other queries still work");
}

Test(kv_mquery, exists_counts_live_keys_and_a_repeated_key_each_time)
{
    cr_assert_eq(kv_test_put(kv, 1000, "a", "v", 0), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "t", "v", 10), KV_OK);
    const char *const names[] = {"a", "a", "t", "missing", "a"};
    cr_assert_eq(exists(1009, 5, names), 4);
    cr_assert_eq(exists(1010, 5, names), 3, "t expired");
    cr_assert_eq(exists(1010, 1, names + 3), 0);
}

Test(kv_mquery, pttl_answers_minus_two_minus_one_or_the_ms_left)
{
    cr_assert_eq(pttl(0, "missing"), -2);
    cr_assert_eq(kv_test_put(kv, 1000, "p", "v", 0), KV_OK);
    cr_assert_eq(pttl(0, "p"), -1);
    cr_assert_eq(kv_test_put(kv, 1000, "t", "v", 250), KV_OK);
    cr_assert_eq(pttl(1000, "t"), 250);
    cr_assert_eq(pttl(1249, "t"), 1);
    cr_assert_eq(pttl(1250, "t"), -2, "expired is missing");
    cr_assert_eq(pttl(0, "t"), 1250, "a clock behind the command's");
}

/* DBSIZE against a count by hand, for many keys with scattered expiries, at many clocks:
 * the heap walk must find exactly the expired ones. */
Test(kv_mquery, dbsize_counts_the_keys_not_expired_at_now)
{
    enum { N = 3000 };
    static uint64_t expiry[N];
    uint64_t s = 12345;
    char key[16];
    cr_assert_eq(dbsize(0), 0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        uint64_t ttl = kv_test_rand(&s) % 3 ? 1 + kv_test_rand(&s) % 10000 : 0;
        cr_assert_eq(kv_test_put(kv, 1000, key, "v", ttl), KV_OK);
        expiry[i] = ttl ? 1000 + ttl : 0;
    }
    for (uint64_t now = 0; now <= 12000; now += 97) {
        uint64_t live = 0;
        for (int i = 0; i < N; i++)
            live += expiry[i] == 0 || expiry[i] > now;
        cr_assert_eq(dbsize(now), live, "at %" PRIu64, now);
    }
    uint64_t persistent = 0;
    for (int i = 0; i < N; i++)
        persistent += expiry[i] == 0;
    cr_assert_eq(dbsize(UINT64_MAX), persistent);
    cr_assert_gt(persistent, 500u);
}

/* ---- malformed bodies ----------------------------------------------------------------------- */

/* A state with live keys, an expired key and a ttl, for the refusals to leave alone. */
static void malformed_setup(void)
{
    kv_test_put(kv, 1000, "key", "value", 0);
    kv_test_put(kv, 1000, "num", "41", 0);
    kv_test_put(kv, 1000, "ttl", "value", 100);
    kv_test_put(kv, 1000, "old", "value", 10);
}

/* Every strict prefix of body, and body with a byte more, answer KV_BAD_REQUEST and change
 * nothing. */
static void refused_truncated(uint16_t type, const uint8_t *body, uint32_t len)
{
    static uint8_t longer[LUM_COMMAND_BODY_MAX];
    struct kv_test_buf before = kv_test_save(&kv_fsm_ops, kv);
    for (uint32_t n = 0; n < len; n++)
        cr_assert_eq(kv_test_apply(kv, type, 1050, body, n), KV_BAD_REQUEST,
                     "type %u truncated to %u of %u bytes", type, n, len);
    memcpy(longer, body, len);
    longer[len] = 0;
    cr_assert_eq(kv_test_apply(kv, type, 1050, longer, len + 1), KV_BAD_REQUEST,
                 "type %u with a trailing byte", type);
    struct kv_test_buf after = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&before, &after), "type %u: the table changed", type);
    kv_test_buf_free(&before);
    kv_test_buf_free(&after);
}

/* body answers KV_BAD_REQUEST and changes nothing. */
static void refused(uint16_t type, const uint8_t *body, uint32_t len, const char *what)
{
    struct kv_test_buf before = kv_test_save(&kv_fsm_ops, kv);
    cr_assert_eq(kv_test_apply(kv, type, 1050, body, len), KV_BAD_REQUEST, "%s", what);
    struct kv_test_buf after = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&before, &after), "%s: the table changed", what);
    kv_test_buf_free(&before);
    kv_test_buf_free(&after);
}

Test(kv_redis_malformed, every_truncation_of_each_command_is_refused, .init = malformed_setup)
{
    uint8_t body[256];
    int n = kv_encode_set(body, sizeof body, 0, "key", 3, "other", 5, 0);
    refused_truncated(KV_SET, body, (uint32_t)n);
    n = kv_encode_set(body, sizeof body, KV_SET_NX, "new", 3, "", 0, 50);
    refused_truncated(KV_SET, body, (uint32_t)n);
    n = kv_encode_incr(body, sizeof body, "num", 3, 1);
    refused_truncated(KV_INCR, body, (uint32_t)n);
    n = kv_encode_setttl(body, sizeof body, "ttl", 3, INT64_MIN);
    refused_truncated(KV_SETTTL, body, (uint32_t)n);
    n = kv_encode_setttl(body, sizeof body, "key", 3, 0);
    refused_truncated(KV_SETTTL, body, (uint32_t)n);
    const struct kv_pair pairs[] = {{"key", "x", 3, 1}, {"new", "", 3, 0}, {"n2", "yy", 2, 2}};
    n = kv_encode_mset(body, sizeof body, pairs, 3);
    refused_truncated(KV_MSET, body, (uint32_t)n);
    const struct kv_key keys[] = {{"key", 3}, {"ttl", 3}, {"missing", 7}};
    n = kv_encode_mdel(body, sizeof body, keys, 3);
    refused_truncated(KV_MDEL, body, (uint32_t)n);
    /* and whole, each works */
    cr_assert_eq(kv_test_apply(kv, KV_MDEL, 1050, body, (uint32_t)n), KV_OK);
    cr_assert_eq(dbsize(1050), 1, "num is left (old expired)");
}

Test(kv_redis_malformed, bad_flags_counts_and_key_lengths_are_refused, .init = malformed_setup)
{
    static uint8_t body[LUM_COMMAND_BODY_MAX];
    int n = kv_encode_set(body, sizeof body, 0, "key", 3, "v", 1, 0);
    body[0] = KV_SET_NX | KV_SET_XX;
    refused(KV_SET, body, (uint32_t)n, "NX and XX");
    body[0] = 8;
    refused(KV_SET, body, (uint32_t)n, "an unknown flag");
    body[0] = 0x80 | KV_SET_XX;
    refused(KV_SET, body, (uint32_t)n, "an unknown flag with a known one");
    n = kv_encode_set(body, sizeof body, 0, "key", 3, "v", 1, 5);
    body[0] = KV_SET_KEEPTTL;
    refused(KV_SET, body, (uint32_t)n, "KEEPTTL with a ttl");
    n = kv_encode_set(body, sizeof body, 0, "key", 3, "v", 1, 0);
    lum_put_u32(body + 3, UINT32_MAX); /* vlen that wraps a 32-bit sum */
    refused(KV_SET, body, (uint32_t)n, "vlen wraps");
    n = kv_encode_set(body, sizeof body, 0, "key", 3, "v", 1, 1);
    cr_assert_eq(kv_test_apply(kv, KV_SET, UINT64_MAX, body, (uint32_t)n), KV_BAD_REQUEST,
                 "a ttl that overflows");
    kv_test_expect(kv, 1050, "key", "value");

    /* klen 0 and KV_KEY_MAX + 1, with bodies as long as they say */
    memset(body, 0, 64);
    refused(KV_SET, body, 15, "SET klen 0");
    refused(KV_INCR, body, 10, "INCR klen 0");
    refused(KV_SETTTL, body, 10, "SETTTL klen 0");
    memset(body, 'x', sizeof body);
    body[0] = 0;
    lum_put_u16(body + 1, KV_KEY_MAX + 1);
    lum_put_u32(body + 3, 0);
    lum_put_u64(body + 7, 0);
    refused(KV_SET, body, 15 + KV_KEY_MAX + 1, "SET klen too long");
    lum_put_u16(body, KV_KEY_MAX + 1);
    lum_put_u64(body + 2, 1);
    refused(KV_INCR, body, 10 + KV_KEY_MAX + 1, "INCR klen too long");
    refused(KV_SETTTL, body, 10 + KV_KEY_MAX + 1, "SETTTL klen too long");

    /* count 0; a pair or key of klen 0 or too long after a good one */
    lum_put_u16(body, 0);
    refused(KV_MSET, body, 2, "MSET count 0");
    refused(KV_MDEL, body, 2, "MDEL count 0");
    refused(KV_MSET, body, 1, "MSET of one byte");
    refused(KV_MDEL, body, 0, "MDEL empty");
    const struct kv_pair pairs[] = {{"key", "x", 3, 1}, {"z", "", 1, 0}};
    n = kv_encode_mset(body, sizeof body, pairs, 2);
    lum_put_u16(body + 2 + 6 + 4, 0); /* the second klen */
    refused(KV_MSET, body, (uint32_t)n - 1, "MSET pair klen 0");
    const struct kv_key keys[] = {{"key", 3}, {"z", 1}};
    n = kv_encode_mdel(body, sizeof body, keys, 2);
    lum_put_u16(body + 2 + 5, 0);
    refused(KV_MDEL, body, (uint32_t)n - 1, "MDEL key klen 0");
    n = kv_encode_mdel(body, sizeof body, keys, 2);
    lum_put_u16(body, 3); /* a count larger than the keys there */
    refused(KV_MDEL, body, (uint32_t)n, "MDEL count too large");
    lum_put_u16(body, 1); /* a count smaller: trailing bytes */
    refused(KV_MDEL, body, (uint32_t)n, "MDEL count too small");
    n = kv_encode_mset(body, sizeof body, pairs, 2);
    lum_put_u32(body + 2 + 2, UINT32_MAX - 2); /* the first vlen wraps a 32-bit sum */
    refused(KV_MSET, body, (uint32_t)n, "MSET vlen wraps");
    memset(body, 'x', sizeof body);
    lum_put_u16(body, 2);
    lum_put_u16(body + 2, 1);
    lum_put_u16(body + 5, KV_KEY_MAX + 1);
    refused(KV_MDEL, body, 2 + 3 + 2 + KV_KEY_MAX + 1, "MDEL klen too long");
    lum_put_u32(body + 4, 0);
    lum_put_u16(body + 2 + 7, KV_KEY_MAX + 1);
    lum_put_u32(body + 2 + 7 + 2, 0);
    refused(KV_MSET, body, 2 + 7 + 6 + KV_KEY_MAX + 1, "MSET klen too long");
}

/* Every strict prefix of req, req with a byte more, and req with each other op byte, answer
 * KV_BAD_REQUEST with no data (unless the other op reads it as a good request). */
static void query_refused_truncated(const uint8_t *req, uint32_t len)
{
    static uint8_t longer[4096];
    for (uint32_t n = 0; n < len; n++) {
        struct lum_result r = query_on(kv, req, (int)n, 1050);
        cr_assert_eq(r.code, KV_BAD_REQUEST, "op %u truncated to %u of %u", req[0], n, len);
        cr_assert_eq(r.len, 0);
    }
    memcpy(longer, req, len);
    longer[len] = 0;
    cr_assert_eq(query_on(kv, longer, (int)len + 1, 1050).code, KV_BAD_REQUEST,
                 "op %u with a trailing byte", req[0]);
    cr_assert_eq(query_on(kv, req, (int)len, 1050).code, KV_OK, "op %u whole", req[0]);
}

Test(kv_redis_malformed, every_truncation_of_each_query_is_refused, .init = malformed_setup)
{
    uint8_t req[256];
    const struct kv_key keys[] = {{"key", 3}, {"ttl", 3}, {"missing", 7}};
    query_refused_truncated(req, (uint32_t)kv_encode_mquery(req, sizeof req, KV_MGET, keys, 3));
    query_refused_truncated(req, (uint32_t)kv_encode_mquery(req, sizeof req, KV_EXISTS, keys, 3));
    query_refused_truncated(req, (uint32_t)kv_encode_pttl(req, sizeof req, "ttl", 3));
    query_refused_truncated(req, (uint32_t)kv_encode_dbsize(req, sizeof req));

    /* count 0, klen 0, a too long key, a wrong op, an unknown op */
    uint8_t bad[8 + KV_KEY_MAX];
    memset(bad, 0, sizeof bad);
    bad[0] = KV_MGET;
    cr_assert_eq(query_on(kv, bad, 3, 0).code, KV_BAD_REQUEST, "MGET count 0");
    bad[0] = KV_EXISTS;
    cr_assert_eq(query_on(kv, bad, 3, 0).code, KV_BAD_REQUEST, "EXISTS count 0");
    lum_put_u16(bad + 1, 1);
    cr_assert_eq(query_on(kv, bad, 5, 0).code, KV_BAD_REQUEST, "EXISTS klen 0");
    bad[0] = KV_PTTL;
    lum_put_u16(bad + 1, 0);
    cr_assert_eq(query_on(kv, bad, 3, 0).code, KV_BAD_REQUEST, "PTTL klen 0");
    lum_put_u16(bad + 1, KV_KEY_MAX + 1);
    cr_assert_eq(query_on(kv, bad, 3 + KV_KEY_MAX + 1, 0).code, KV_BAD_REQUEST, "PTTL long");
    int n = kv_encode_pttl(req, sizeof req, "key", 3);
    req[0] = KV_GET;
    cr_assert_eq(query_on(kv, req, n, 1050).code, KV_OK, "the same layout as GET");
    req[0] = KV_DBSIZE + 1;
    cr_assert_eq(query_on(kv, req, n, 1050).code, KV_BAD_REQUEST, "an unknown op");
    req[0] = 0;
    cr_assert_eq(query_on(kv, req, n, 1050).code, KV_BAD_REQUEST, "op 0");
    req[0] = KV_DBSIZE;
    cr_assert_eq(query_on(kv, req, n, 1050).code, KV_BAD_REQUEST, "DBSIZE with a body");
}

/* ---- snapshots and determinism -------------------------------------------------------------- */

Test(kv_redis_snapshot, state_from_the_new_commands_survives_a_round_trip)
{
    static struct kv_test_proposals p;
    cr_assert_eq(set(1000, 0, "set-ttl", "v", 5000), KV_OK);
    cr_assert_eq(incr(1000, "counter", 41, NULL), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "inc-ttl", "1", 3000), KV_OK);
    cr_assert_eq(incr(1000, "inc-ttl", 1, NULL), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "persist", "v", 3000), KV_OK);
    cr_assert_eq(setttl(1000, "persist", INT64_MIN), KV_OK);
    cr_assert_eq(kv_test_put(kv, 1000, "moved", "v", 0), KV_OK);
    cr_assert_eq(setttl(1000, "moved", 7000), KV_OK);
    const char *const kvs[] = {"m1", "x", "m2", "y"};
    cr_assert_eq(mset(1000, 2, kvs), KV_OK);

    struct kv_test_buf a = kv_test_save(&kv_fsm_ops, kv);
    void *copy = kv_fsm_ops.create();
    cr_assert_eq(kv_test_load(&kv_fsm_ops, copy, a.data, a.len), 0);
    struct kv_test_buf b = kv_test_save(&kv_fsm_ops, copy);
    cr_assert(kv_test_same_bytes(&a, &b));
    cr_assert_eq(pttl_on(copy, 1000, "set-ttl"), 5000);
    cr_assert_eq(pttl_on(copy, 1000, "inc-ttl"), 3000);
    cr_assert_eq(pttl_on(copy, 1000, "persist"), -1);
    cr_assert_eq(pttl_on(copy, 1000, "moved"), 7000);
    cr_assert_eq(pttl_on(copy, 1000, "counter"), -1);
    cr_assert_eq(dbsize_on(copy, 1000), 7);
    cr_assert_eq(dbsize_on(copy, 6000), 5);
    struct lum_result r;
    cr_assert_eq(kv_test_get(copy, 1000, "counter", &r), KV_OK);
    cr_assert(r.len == 2 && memcmp(r.data, "41", 2) == 0);
    cr_assert_eq(kv_test_get(copy, 1000, "inc-ttl", &r), KV_OK);
    cr_assert(r.len == 1 && memcmp(r.data, "2", 1) == 0);
    /* the loaded expiries are in the loaded heap */
    cr_assert_eq(kv_test_housekeep(copy, 4000, &p), 1, "inc-ttl");
    cr_assert_eq(kv_test_housekeep(copy, 9000, &p), 3, "set-ttl, moved, inc-ttl again");
    kv_test_buf_free(&a);
    kv_test_buf_free(&b);
    kv_fsm_ops.destroy(copy);
}

/* A seeded mix of every command, old and new, over a small key space: two machines, one
 * with queries, housekeeping and a snapshot load in between, give the same answers (codes
 * and data) and byte-identical snapshots. */
enum { DET_COMMANDS = 30000, DET_KEYS = 300 };

struct det_cmd {
    uint16_t type;
    uint64_t time_ms;
    uint32_t len;
    uint8_t  body[160];
};

static struct det_cmd det[DET_COMMANDS];

static void det_generate(uint64_t seed)
{
    static const char *const values[] = {"", "7", "-3", "x", "9223372036854775800", "a value"};
    uint64_t s = seed, now = 1000000;
    char k[4][16];
    for (int i = 0; i < DET_COMMANDS; i++) {
        struct det_cmd *c = &det[i];
        now += kv_test_rand(&s) % 20;
        c->time_ms = now;
        for (int j = 0; j < 4; j++)
            snprintf(k[j], sizeof k[j], "k%u", (unsigned)(kv_test_rand(&s) % DET_KEYS));
        const char *v = values[kv_test_rand(&s) % 6];
        uint64_t ttl = kv_test_rand(&s) % 2 ? 1 + kv_test_rand(&s) % 2000 : 0;
        uint64_t r = kv_test_rand(&s) % 100;
        int n;
        if (r < 15) {
            c->type = KV_PUT;
            n = kv_encode_put(c->body, sizeof c->body, k[0], strlen(k[0]), v, strlen(v), ttl);
        } else if (r < 35) {
            static const uint8_t flags[] = {0, KV_SET_NX, KV_SET_XX, KV_SET_KEEPTTL,
                                            KV_SET_XX | KV_SET_KEEPTTL};
            uint8_t f = flags[kv_test_rand(&s) % 5];
            c->type = KV_SET;
            n = kv_encode_set(c->body, sizeof c->body, f, k[0], strlen(k[0]), v, strlen(v),
                              (f & KV_SET_KEEPTTL) ? 0 : ttl);
        } else if (r < 55) {
            static const int64_t deltas[] = {1, -1, 1000, INT64_MAX, INT64_MIN};
            c->type = KV_INCR;
            n = kv_encode_incr(c->body, sizeof c->body, k[0], strlen(k[0]),
                               deltas[kv_test_rand(&s) % 5]);
        } else if (r < 70) {
            static const int64_t ttls[] = {INT64_MIN, -1, 0, 100, 1500};
            c->type = KV_SETTTL;
            n = kv_encode_setttl(c->body, sizeof c->body, k[0], strlen(k[0]),
                                 ttls[kv_test_rand(&s) % 5]);
        } else if (r < 80) {
            struct kv_pair p[3];
            for (int j = 0; j < 3; j++)
                p[j] = (struct kv_pair){k[j], v, strlen(k[j]), strlen(v)};
            c->type = KV_MSET;
            n = kv_encode_mset(c->body, sizeof c->body, p, 1 + kv_test_rand(&s) % 3);
        } else if (r < 88) {
            struct kv_key keys[4];
            for (int j = 0; j < 4; j++)
                keys[j] = (struct kv_key){k[j], strlen(k[j])};
            c->type = KV_MDEL;
            n = kv_encode_mdel(c->body, sizeof c->body, keys, 1 + kv_test_rand(&s) % 4);
        } else if (r < 91) {
            c->type = KV_DEL;
            n = kv_encode_del(c->body, sizeof c->body, k[0], strlen(k[0]));
        } else if (r < 95) {
            const char *w = values[kv_test_rand(&s) % 6];
            c->type = KV_CAS;
            n = kv_encode_cas(c->body, sizeof c->body, k[0], strlen(k[0]), v, strlen(v), w,
                              strlen(w));
        } else if (r < 98) {
            /* an expiry that a recent write may have set */
            c->type = KV_EXPIRE;
            n = (int)kv_test_encode_expire(c->body, k[0], now - kv_test_rand(&s) % 40);
        } else {
            c->type = (uint16_t)(KV_SET + kv_test_rand(&s) % 5);
            n = kv_encode_set(c->body, sizeof c->body, 0, k[0], strlen(k[0]), v, strlen(v), 5);
            n = (int)(kv_test_rand(&s) % (uint64_t)n); /* truncated */
        }
        cr_assert_geq(n, 0);
        c->len = (uint32_t)n;
    }
}

TestSuite(kv_redis_determinism);

Test(kv_redis_determinism, the_same_commands_give_the_same_answers_and_snapshot_bytes)
{
    static struct kv_test_proposals p;
    det_generate(7);
    void *a = kv_fsm_ops.create(), *b = kv_fsm_ops.create(), *c = kv_fsm_ops.create();
    uint32_t codes[KV_OVERFLOW + 1] = {0}, types[KV_MDEL + 1] = {0};
    uint8_t req[64];
    const char *const some[] = {"k1", "k2", "k1"};
    struct kv_key keys[3];
    for (int i = 0; i < DET_COMMANDS; i++) {
        const struct det_cmd *d = &det[i];
        struct lum_result ra, rb, rc;
        int32_t code = kv_test_apply_to(&kv_fsm_ops, a, d->type, d->time_ms, d->body, d->len,
                                        &ra);
        cr_assert_eq(kv_test_apply_to(&kv_fsm_ops, b, d->type, d->time_ms, d->body, d->len, &rb),
                     code, "command %d", i);
        cr_assert(ra.len == rb.len && (ra.len == 0 || memcmp(ra.data, rb.data, ra.len) == 0),
                  "command %d: the same answer data", i);
        if (i >= DET_COMMANDS / 2) {
            cr_assert_eq(kv_test_apply_to(&kv_fsm_ops, c, d->type, d->time_ms, d->body, d->len,
                                          &rc), code, "command %d after the load", i);
            cr_assert(ra.len == rc.len && (ra.len == 0 || memcmp(ra.data, rc.data, ra.len) == 0));
        }
        cr_assert_leq(code, KV_OVERFLOW);
        codes[code]++;
        if (code == KV_OK)
            types[d->type]++;
        /* queries on b only: none may change anything */
        if (i % 5 == 0) {
            query_on(b, req, kv_encode_mquery(req, sizeof req, KV_MGET, keys, keys_of(keys, 3, some)),
                     d->time_ms);
            query_on(b, req, kv_encode_pttl(req, sizeof req, "k3", 2), d->time_ms);
            dbsize_on(b, d->time_ms + kv_test_rand(&(uint64_t){(uint64_t)i + 1}) % 3000);
        }
        if (i % 500 == 0)
            kv_test_housekeep(b, d->time_ms, &p); /* proposals lost: b's marks only */
        if (i % 200 == 0) { /* a leads: its EXPIREs reach every machine's log */
            kv_test_housekeep(a, d->time_ms, &p);
            for (uint32_t j = 0; j < p.count; j++) {
                int32_t e = kv_test_apply(a, KV_EXPIRE, d->time_ms, p.body[j], p.len[j]);
                cr_assert_eq(kv_test_apply(b, KV_EXPIRE, d->time_ms, p.body[j], p.len[j]), e);
                if (i >= DET_COMMANDS / 2)
                    cr_assert_eq(kv_test_apply(c, KV_EXPIRE, d->time_ms, p.body[j], p.len[j]), e);
                if (e == KV_OK)
                    types[KV_EXPIRE]++;
            }
        }
        if (i == DET_COMMANDS / 2 - 1) {
            struct kv_test_buf half = kv_test_save(&kv_fsm_ops, b);
            cr_assert_eq(kv_test_load(&kv_fsm_ops, c, half.data, half.len), 0);
            kv_test_buf_free(&half);
        }
    }
    for (int code = KV_OK; code <= KV_OVERFLOW; code++)
        cr_assert_gt(codes[code], 30u, "answer %d: %u times", code, codes[code]);
    for (int t = KV_PUT; t <= KV_MDEL; t++)
        cr_assert_gt(types[t], 30u, "type %d answered KV_OK %u times", t, types[t]);
    struct kv_test_buf sa = kv_test_save(&kv_fsm_ops, a);
    struct kv_test_buf sb = kv_test_save(&kv_fsm_ops, b);
    struct kv_test_buf sc = kv_test_save(&kv_fsm_ops, c);
    cr_assert_gt(sa.len, 500u);
    cr_assert(kv_test_same_bytes(&sa, &sb), "with queries and housekeeping in between");
    cr_assert(kv_test_same_bytes(&sa, &sc), "loaded from a snapshot halfway");
    kv_test_buf_free(&sa);
    kv_test_buf_free(&sb);
    kv_test_buf_free(&sc);
    kv_fsm_ops.destroy(a);
    kv_fsm_ops.destroy(b);
    kv_fsm_ops.destroy(c);
}
