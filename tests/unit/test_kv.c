/* The key-value machine: every operation's answers, TTLs, housekeeping, malformed bodies. */
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

TestSuite(kv, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_ttl, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_housekeeping, .init = kv_setup, .fini = kv_teardown);
TestSuite(kv_malformed, .init = kv_setup, .fini = kv_teardown);

/* ---- operations -------------------------------------------------------------------------- */

Test(kv, put_answers_ok_and_get_answers_the_value)
{
    cr_assert_eq(kv_test_put(kv, 1000, "alpha", "one", 0), KV_OK);
    kv_test_expect(kv, 1000, "alpha", "one");
}

Test(kv, get_of_a_missing_key_answers_not_found_with_no_data)
{
    struct lum_result r;
    kv_test_put(kv, 1000, "alpha", "one", 0);
    cr_assert_eq(kv_test_get(kv, 1000, "beta", &r), KV_NOT_FOUND);
    cr_assert_eq(r.len, 0);
}

Test(kv, put_replaces_the_value_with_a_longer_a_shorter_and_an_empty_one)
{
    kv_test_put(kv, 1, "k", "short", 0);
    cr_assert_eq(kv_test_put(kv, 2, "k", "a considerably longer value than before", 0), KV_OK);
    kv_test_expect(kv, 2, "k", "a considerably longer value than before");
    cr_assert_eq(kv_test_put(kv, 3, "k", "tiny", 0), KV_OK);
    kv_test_expect(kv, 3, "k", "tiny");
    cr_assert_eq(kv_test_put(kv, 4, "k", "", 0), KV_OK);
    kv_test_expect(kv, 4, "k", "");
}

Test(kv, keys_that_differ_only_in_length_or_a_zero_byte_are_distinct)
{
    struct lum_result r;
    kv_test_put_bin(kv, 1, "a", 1, "1", 1, 0);
    kv_test_put_bin(kv, 1, "a\0", 2, "2", 1, 0);
    kv_test_put_bin(kv, 1, "ab", 2, "3", 1, 0);
    cr_assert_eq(kv_test_get_bin(kv, 1, "a", 1, &r), KV_OK);
    cr_assert_eq(((const char *)r.data)[0], '1');
    cr_assert_eq(kv_test_get_bin(kv, 1, "a\0", 2, &r), KV_OK);
    cr_assert_eq(((const char *)r.data)[0], '2');
    cr_assert_eq(kv_test_get_bin(kv, 1, "ab", 2, &r), KV_OK);
    cr_assert_eq(((const char *)r.data)[0], '3');
    cr_assert_eq(kv_test_get_bin(kv, 1, "a\0\0", 3, &r), KV_NOT_FOUND);
}

Test(kv, del_of_an_existing_key_answers_ok_and_removes_it)
{
    kv_test_put(kv, 1, "k", "v", 0);
    cr_assert_eq(kv_test_del(kv, 2, "k"), KV_OK);
    cr_assert_eq(kv_test_get(kv, 2, "k", NULL), KV_NOT_FOUND);
}

Test(kv, del_of_a_missing_key_answers_not_found)
{
    cr_assert_eq(kv_test_del(kv, 1, "never"), KV_NOT_FOUND);
    kv_test_put(kv, 1, "k", "v", 0);
    cr_assert_eq(kv_test_del(kv, 2, "k"), KV_OK);
    cr_assert_eq(kv_test_del(kv, 3, "k"), KV_NOT_FOUND);
}

Test(kv, cas_swaps_when_the_old_value_matches_byte_for_byte)
{
    kv_test_put(kv, 1, "k", "old", 0);
    cr_assert_eq(kv_test_cas(kv, 2, "k", "old", "new value"), KV_OK);
    kv_test_expect(kv, 2, "k", "new value");
    cr_assert_eq(kv_test_cas(kv, 3, "k", "new value", ""), KV_OK);
    kv_test_expect(kv, 3, "k", "");
    cr_assert_eq(kv_test_cas(kv, 4, "k", "", "again"), KV_OK);
    kv_test_expect(kv, 4, "k", "again");
}

Test(kv, cas_answers_mismatch_and_changes_nothing_when_the_value_differs)
{
    kv_test_put(kv, 1, "k", "value", 0);
    cr_assert_eq(kv_test_cas(kv, 2, "k", "valuE", "x"), KV_MISMATCH);
    cr_assert_eq(kv_test_cas(kv, 2, "k", "valu", "x"), KV_MISMATCH, "a prefix is not a match");
    cr_assert_eq(kv_test_cas(kv, 2, "k", "values", "x"), KV_MISMATCH, "nor a longer value");
    cr_assert_eq(kv_test_cas(kv, 2, "k", "", "x"), KV_MISMATCH);
    kv_test_expect(kv, 2, "k", "value");
}

Test(kv, cas_on_a_missing_key_answers_mismatch_and_creates_nothing)
{
    cr_assert_eq(kv_test_cas(kv, 1, "k", "", "x"), KV_MISMATCH);
    cr_assert_eq(kv_test_get(kv, 1, "k", NULL), KV_NOT_FOUND);
}

Test(kv, apply_answers_carry_no_data)
{
    struct lum_result r;
    uint8_t body[64];
    int n = kv_encode_put(body, sizeof body, "k", 1, "v", 1, 0);
    cr_assert_eq(kv_test_apply_to(&kv_fsm_ops, kv, KV_PUT, 1, body, (uint32_t)n, &r), KV_OK);
    cr_assert_eq(r.len, 0);
}

Test(kv, an_unknown_entry_type_answers_bad_request)
{
    uint8_t body[64];
    int n = kv_encode_del(body, sizeof body, "k", 1);
    kv_test_put(kv, 1, "k", "v", 0);
    cr_assert_eq(kv_test_apply(kv, KV_MDEL + 1, 1, body, (uint32_t)n), KV_BAD_REQUEST);
    cr_assert_eq(kv_test_apply(kv, RAFT_ENTRY_NOOP, 1, body, (uint32_t)n), KV_BAD_REQUEST);
    kv_test_expect(kv, 1, "k", "v");
}

Test(kv, an_entry_shorter_than_the_command_header_answers_bad_request)
{
    static struct raft_entry e;
    struct lum_result r;
    e.type = KV_PUT;
    for (e.len = 0; e.len < LUM_COMMAND_HEADER_SIZE; e.len++) {
        cr_assert_eq(kv_fsm_ops.apply(kv, &e, &r), 0);
        cr_assert_eq(r.code, KV_BAD_REQUEST);
    }
}

Test(kv, the_longest_key_and_the_largest_value_are_stored_whole)
{
    static uint8_t key[KV_KEY_MAX], value[KV_PUT_DATA_MAX];
    struct lum_result r;
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (uint8_t)(i * 13);
    size_t vlen = KV_PUT_DATA_MAX - KV_KEY_MAX;
    cr_assert_eq(kv_test_put_bin(kv, 1, key, KV_KEY_MAX, value, vlen, 0), KV_OK);
    cr_assert_eq(kv_test_get_bin(kv, 1, key, KV_KEY_MAX, &r), KV_OK);
    cr_assert_eq(r.len, vlen);
    cr_assert(memcmp(r.data, value, vlen) == 0);
    cr_assert_eq(kv_test_put_bin(kv, 1, "x", 1, value, KV_PUT_DATA_MAX - 1, 0), KV_OK);
    cr_assert_eq(kv_test_get_bin(kv, 1, "x", 1, &r), KV_OK);
    cr_assert_eq(r.len, KV_PUT_DATA_MAX - 1);
}

/* Enough keys to grow the table many times and shrink it again, with lookups while a
 * resize is half done. */
Test(kv, many_keys_stay_reachable_while_the_table_grows_and_shrinks)
{
    enum { N = 100000 };
    char key[32], value[32];
    uint64_t size_empty = kv_fsm_ops.size(kv);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(value, sizeof value, "value-%d", i);
        cr_assert_eq(kv_test_put(kv, 1, key, value, 0), KV_OK);
        if (i % 997 == 0) {
            for (int j = 0; j <= i; j += 101) {
                snprintf(key, sizeof key, "key-%d", j);
                snprintf(value, sizeof value, "value-%d", j);
                kv_test_expect(kv, 1, key, value);
            }
        }
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(value, sizeof value, "value-%d", i);
        kv_test_expect(kv, 1, key, value);
    }
    uint64_t size_full = kv_fsm_ops.size(kv);
    cr_assert_gt(size_full, size_empty + (uint64_t)N * 40);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        cr_assert_eq(kv_test_del(kv, 2, key), KV_OK);
        if (i % 991 == 0) {
            for (int j = i + 1; j < N; j += 103) {
                snprintf(key, sizeof key, "key-%d", j);
                snprintf(value, sizeof value, "value-%d", j);
                kv_test_expect(kv, 2, key, value);
            }
        }
    }
    /* drive any shrink still under way to its end */
    for (int i = 0; i < 10000; i++)
        kv_test_del(kv, 3, "absent");
    cr_assert_eq(kv_fsm_ops.size(kv), size_empty, "the table shrank back: %lu, was %lu",
                 (unsigned long)kv_fsm_ops.size(kv), (unsigned long)size_empty);
}

Test(kv, fsm_find_knows_kv_and_counter_and_nothing_else)
{
    cr_assert_eq(lum_fsm_find("kv"), &kv_fsm_ops);
    cr_assert_eq(lum_fsm_find("counter"), &counter_fsm_ops);
    cr_assert_null(lum_fsm_find("KV"));
    cr_assert_null(lum_fsm_find(""));
    cr_assert_null(lum_fsm_find(NULL));
}

/* ---- TTL ---------------------------------------------------------------------------------- */

Test(kv_ttl, a_key_is_visible_until_one_ms_before_its_expiry_and_invisible_at_it)
{
    const uint64_t t = 1700000000000ull, ttl = 5000;
    cr_assert_eq(kv_test_put(kv, t, "k", "v", ttl), KV_OK);
    kv_test_expect(kv, t, "k", "v");
    kv_test_expect(kv, t + ttl - 1, "k", "v");
    cr_assert_eq(kv_test_get(kv, t + ttl, "k", NULL), KV_NOT_FOUND);
    cr_assert_eq(kv_test_get(kv, t + ttl + 100000, "k", NULL), KV_NOT_FOUND);
}

Test(kv_ttl, expiry_counts_from_the_command_time_not_the_query_clock)
{
    cr_assert_eq(kv_test_put(kv, 10000, "k", "v", 100), KV_OK);
    /* a replica applying this late, at local time 50000, still sees 10100 as the expiry */
    cr_assert_eq(kv_test_get(kv, 10100, "k", NULL), KV_NOT_FOUND);
    kv_test_expect(kv, 10099, "k", "v");
}

Test(kv_ttl, a_put_without_ttl_removes_the_expiry)
{
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_put(kv, 1005, "k", "w", 0), KV_OK);
    kv_test_expect(kv, 1000000, "k", "w");
}

Test(kv_ttl, a_put_over_an_expired_key_brings_it_back_with_the_new_ttl)
{
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_get(kv, 1010, "k", NULL), KV_NOT_FOUND);
    cr_assert_eq(kv_test_put(kv, 2000, "k", "w", 10), KV_OK);
    kv_test_expect(kv, 2009, "k", "w");
    cr_assert_eq(kv_test_get(kv, 2010, "k", NULL), KV_NOT_FOUND);
}

Test(kv_ttl, cas_on_an_expired_key_answers_mismatch)
{
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_cas(kv, 1010, "k", "v", "w"), KV_MISMATCH);
    cr_assert_eq(kv_test_cas(kv, 1009, "k", "v", "w"), KV_OK);
}

Test(kv_ttl, cas_keeps_the_key_expiry)
{
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_cas(kv, 1005, "k", "v", "a longer value"), KV_OK);
    kv_test_expect(kv, 1009, "k", "a longer value");
    cr_assert_eq(kv_test_get(kv, 1010, "k", NULL), KV_NOT_FOUND);
}

Test(kv_ttl, del_of_an_expired_key_answers_not_found_and_removes_it)
{
    struct kv_test_proposals *p = calloc(1, sizeof *p);
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_del(kv, 1010, "k"), KV_NOT_FOUND);
    cr_assert_eq(kv_test_housekeep(kv, 5000, p), 0, "nothing left to expire");
    cr_assert_eq(kv_test_del(kv, 1011, "k"), KV_NOT_FOUND);
    free(p);
}

Test(kv_ttl, a_ttl_that_overflows_the_clock_answers_bad_request)
{
    uint8_t body[64];
    int n = kv_encode_put(body, sizeof body, "k", 1, "v", 1, UINT64_MAX - 999);
    cr_assert_eq(kv_test_apply(kv, KV_PUT, 1000, body, (uint32_t)n), KV_BAD_REQUEST);
    cr_assert_eq(kv_test_get(kv, 0, "k", NULL), KV_NOT_FOUND);
    cr_assert_eq(kv_test_apply(kv, KV_PUT, 999, body, (uint32_t)n), KV_OK, "exactly UINT64_MAX");
    kv_test_expect(kv, UINT64_MAX - 1, "k", "v");
}

/* ---- housekeeping ------------------------------------------------------------------------- */

static struct kv_test_proposals proposals;

/* Applies every recorded EXPIRE at time_ms; returns how many answered KV_OK. */
static uint32_t kv_apply_proposals(uint64_t time_ms)
{
    uint32_t ok = 0;
    for (uint32_t i = 0; i < proposals.count; i++)
        if (kv_test_apply(kv, KV_EXPIRE, time_ms, proposals.body[i], proposals.len[i]) == KV_OK)
            ok++;
    return ok;
}

static bool kv_proposed(const char *key)
{
    for (uint32_t i = 0; i < proposals.count; i++)
        if (proposals.len[i] == 10 + strlen(key) &&
            memcmp(proposals.body[i] + 10, key, strlen(key)) == 0)
            return true;
    return false;
}

Test(kv_housekeeping, proposes_an_expire_for_exactly_the_expired_keys)
{
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        /* keys 0..49 expire at 2000 + i; 50..89 later; 90..99 never */
        uint64_t ttl = i < 50 ? (uint64_t)(1000 + i) : i < 90 ? 100000 : 0;
        kv_test_put(kv, 1000, key, "v", ttl);
    }
    cr_assert_eq(kv_test_housekeep(kv, 1999, &proposals), 0);
    cr_assert_eq(kv_test_housekeep(kv, 2049, &proposals), 50);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cr_assert_eq(kv_proposed(key), i < 50, "%s", key);
    }
    /* each body is an EXPIRE for that key's expiry */
    for (uint32_t i = 0; i < proposals.count; i++) {
        uint16_t klen = lum_get_u16(proposals.body[i]);
        cr_assert_eq(proposals.len[i], 10u + klen);
        int k = atoi((const char *)proposals.body[i] + 11);
        cr_assert_eq(lum_get_u64(proposals.body[i] + 2), 2000u + (uint64_t)k);
    }
}

Test(kv_housekeeping, applying_the_proposed_expires_removes_the_keys)
{
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        kv_test_put(kv, 1000, key, "v", i < 10 ? 10 : 0);
    }
    cr_assert_eq(kv_test_housekeep(kv, 1010, &proposals), 10);
    cr_assert_eq(kv_apply_proposals(1011), 10);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        /* gone for good: even a query at an earlier time finds nothing */
        cr_assert_eq(kv_test_get(kv, 0, key, NULL), i < 10 ? KV_NOT_FOUND : KV_OK, "%s", key);
    }
    cr_assert_eq(kv_test_housekeep(kv, 100000, &proposals), 0, "nothing more to expire");
    cr_assert_eq(kv_apply_proposals(1012), 0);
}

Test(kv_housekeeping, proposes_at_most_256_per_call_and_the_rest_later)
{
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        kv_test_put(kv, 1000, key, "v", 1 + (uint64_t)(i % 7));
    }
    uint32_t total = 0, calls = 0;
    while (kv_test_housekeep(kv, 2000, &proposals) > 0) {
        cr_assert_leq(proposals.count, 256u);
        total += kv_apply_proposals(2000);
        calls++;
    }
    cr_assert_eq(total, 1000u);
    cr_assert_geq(calls, 4u);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cr_assert_eq(kv_test_get(kv, 0, key, NULL), KV_NOT_FOUND);
    }
}

Test(kv_housekeeping, does_not_propose_again_while_in_flight_but_retries_a_lost_one)
{
    char key[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i);
        kv_test_put(kv, 1000, key, "v", 10);
    }
    cr_assert_eq(kv_test_housekeep(kv, 2000, &proposals), 256);
    cr_assert_eq(kv_test_housekeep(kv, 2100, &proposals), 300 - 256, "only the rest");
    cr_assert_eq(kv_test_housekeep(kv, 2200, &proposals), 0, "all in flight");
    /* the entries were lost (leader change): after the retry interval, proposed again */
    cr_assert_eq(kv_test_housekeep(kv, 8000, &proposals), 256);
    cr_assert_eq(kv_apply_proposals(8000), 256);
    cr_assert_eq(kv_test_housekeep(kv, 8100, &proposals), 300 - 256);
    cr_assert_eq(kv_apply_proposals(8100), 300 - 256);
    cr_assert_eq(kv_test_housekeep(kv, 20000, &proposals), 0);
}

Test(kv_housekeeping, stops_when_a_proposal_is_refused_and_proposes_the_rest_next_time)
{
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        kv_test_put(kv, 1000, key, "v", 10);
    }
    proposals.refuse_after = 3;
    cr_assert_eq(kv_test_housekeep(kv, 2000, &proposals), 3);
    proposals.refuse_after = 0;
    cr_assert_eq(kv_test_housekeep(kv, 2001, &proposals), 7, "the refused ones were not marked");
}

Test(kv_housekeeping, a_re_put_with_a_new_ttl_survives_the_stale_expire)
{
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_housekeep(kv, 1010, &proposals), 1);
    cr_assert_eq(kv_test_put(kv, 1011, "k", "w", 10000), KV_OK);
    cr_assert_eq(kv_apply_proposals(1012), 0);
    cr_assert_eq(kv_test_expire(kv, 1012, "k", 1010), KV_MISMATCH);
    kv_test_expect(kv, 1012, "k", "w");
    /* and the new expiry is the one housekeeping proposes, in time */
    cr_assert_eq(kv_test_housekeep(kv, 11010, &proposals), 0);
    cr_assert_eq(kv_test_housekeep(kv, 11011, &proposals), 1);
    cr_assert_eq(lum_get_u64(proposals.body[0] + 2), 11011u);
    cr_assert_eq(kv_apply_proposals(11011), 1);
    cr_assert_eq(kv_test_get(kv, 0, "k", NULL), KV_NOT_FOUND);
}

Test(kv_housekeeping, a_re_put_without_ttl_survives_the_stale_expire)
{
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_housekeep(kv, 1010, &proposals), 1);
    cr_assert_eq(kv_test_put(kv, 1011, "k", "w", 0), KV_OK);
    cr_assert_eq(kv_apply_proposals(1012), 0);
    kv_test_expect(kv, UINT64_MAX, "k", "w");
    cr_assert_eq(kv_test_housekeep(kv, UINT64_MAX, &proposals), 0);
}

Test(kv_housekeeping, expire_answers_not_found_for_a_missing_key_and_ok_when_it_deletes)
{
    cr_assert_eq(kv_test_expire(kv, 1, "nope", 5), KV_NOT_FOUND);
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_expire(kv, 1010, "k", 1011), KV_MISMATCH);
    cr_assert_eq(kv_test_expire(kv, 1010, "k", 1010), KV_OK);
    cr_assert_eq(kv_test_get(kv, 0, "k", NULL), KV_NOT_FOUND);
}

Test(kv_housekeeping, a_key_deleted_while_its_expire_is_in_flight_is_not_recreated)
{
    kv_test_put(kv, 1000, "k", "v", 10);
    cr_assert_eq(kv_test_housekeep(kv, 1010, &proposals), 1);
    cr_assert_eq(kv_test_del(kv, 1010, "k"), KV_NOT_FOUND);
    cr_assert_eq(kv_apply_proposals(1011), 0);
    cr_assert_eq(kv_test_get(kv, 0, "k", NULL), KV_NOT_FOUND);
}

/* ---- malformed bodies ---------------------------------------------------------------------- */

/* Applies every strict prefix of body, and body with a byte more, as type; each must answer
 * KV_BAD_REQUEST and leave the snapshot bytes as they were. */
static void kv_expect_every_truncation_refused(uint16_t type, const uint8_t *body, uint32_t len)
{
    static uint8_t longer[LUM_COMMAND_BODY_MAX];
    struct kv_test_buf before = kv_test_save(&kv_fsm_ops, kv);
    for (uint32_t n = 0; n < len; n++)
        cr_assert_eq(kv_test_apply(kv, type, 5000, body, n), KV_BAD_REQUEST,
                     "type %u truncated to %u of %u bytes", type, n, len);
    memcpy(longer, body, len);
    longer[len] = 0;
    cr_assert_eq(kv_test_apply(kv, type, 5000, longer, len + 1), KV_BAD_REQUEST,
                 "type %u with a trailing byte", type);
    struct kv_test_buf after = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&before, &after), "type %u: the table changed", type);
    kv_test_buf_free(&before);
    kv_test_buf_free(&after);
}

/* A test's .init runs after its suite's (kv_setup), which created kv. */
static void kv_malformed_setup(void)
{
    kv_test_put(kv, 1000, "key", "value", 0);
    kv_test_put(kv, 1000, "ttl", "value", 100);
}

Test(kv_malformed, every_truncation_of_a_put_body_answers_bad_request,
     .init = kv_malformed_setup)
{
    uint8_t body[64];
    int n = kv_encode_put(body, sizeof body, "key", 3, "other", 5, 0);
    kv_expect_every_truncation_refused(KV_PUT, body, (uint32_t)n);
    n = kv_encode_put(body, sizeof body, "new", 3, "v", 1, 7);
    kv_expect_every_truncation_refused(KV_PUT, body, (uint32_t)n);
    n = kv_encode_put(body, sizeof body, "new", 3, "", 0, 0);
    kv_expect_every_truncation_refused(KV_PUT, body, (uint32_t)n);
}

Test(kv_malformed, every_truncation_of_a_del_body_answers_bad_request,
     .init = kv_malformed_setup)
{
    uint8_t body[64];
    int n = kv_encode_del(body, sizeof body, "key", 3);
    kv_expect_every_truncation_refused(KV_DEL, body, (uint32_t)n);
}

Test(kv_malformed, every_truncation_of_a_cas_body_answers_bad_request,
     .init = kv_malformed_setup)
{
    uint8_t body[64];
    int n = kv_encode_cas(body, sizeof body, "key", 3, "value", 5, "next", 4);
    kv_expect_every_truncation_refused(KV_CAS, body, (uint32_t)n);
    n = kv_encode_cas(body, sizeof body, "key", 3, "value", 5, "", 0);
    kv_expect_every_truncation_refused(KV_CAS, body, (uint32_t)n);
}

Test(kv_malformed, every_truncation_of_an_expire_body_answers_bad_request,
     .init = kv_malformed_setup)
{
    uint8_t body[64];
    uint32_t n = kv_test_encode_expire(body, "ttl", 1100);
    kv_expect_every_truncation_refused(KV_EXPIRE, body, n);
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 5000, body, n), KV_OK, "the whole body works");
}

Test(kv_malformed, lengths_that_disagree_with_the_body_answer_bad_request,
     .init = kv_malformed_setup)
{
    uint8_t body[64];
    struct kv_test_buf before = kv_test_save(&kv_fsm_ops, kv);
    int n = kv_encode_put(body, sizeof body, "key", 3, "other", 5, 0);
    lum_put_u32(body + 2, 4); /* vlen one short: a trailing byte */
    cr_assert_eq(kv_test_apply(kv, KV_PUT, 5000, body, (uint32_t)n), KV_BAD_REQUEST);
    lum_put_u32(body + 2, UINT32_MAX); /* vlen that would wrap a 32-bit sum */
    cr_assert_eq(kv_test_apply(kv, KV_PUT, 5000, body, (uint32_t)n), KV_BAD_REQUEST);
    n = kv_encode_cas(body, sizeof body, "key", 3, "value", 5, "next", 4);
    lum_put_u32(body + 2, UINT32_MAX - 2); /* old_len + new_len wraps to 5 + 4 in 32 bits */
    lum_put_u32(body + 6, 12);
    cr_assert_eq(kv_test_apply(kv, KV_CAS, 5000, body, (uint32_t)n), KV_BAD_REQUEST);
    struct kv_test_buf after = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&before, &after));
    kv_test_buf_free(&before);
    kv_test_buf_free(&after);
}

Test(kv_malformed, an_empty_or_too_long_key_answers_bad_request,
     .init = kv_malformed_setup)
{
    static uint8_t body[LUM_COMMAND_BODY_MAX];
    struct kv_test_buf before = kv_test_save(&kv_fsm_ops, kv);
    /* PUT, DEL, CAS, EXPIRE with klen 0 */
    memset(body, 0, 32);
    cr_assert_eq(kv_test_apply(kv, KV_PUT, 5000, body, KV_PUT_OVERHEAD), KV_BAD_REQUEST);
    cr_assert_eq(kv_test_apply(kv, KV_DEL, 5000, body, 2), KV_BAD_REQUEST);
    cr_assert_eq(kv_test_apply(kv, KV_CAS, 5000, body, 10), KV_BAD_REQUEST);
    lum_put_u64(body + 2, 1100);
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 5000, body, 10), KV_BAD_REQUEST);
    /* klen KV_KEY_MAX + 1, with the body as long as it says */
    memset(body, 'x', sizeof body);
    lum_put_u16(body, KV_KEY_MAX + 1);
    lum_put_u32(body + 2, 0);
    lum_put_u64(body + 6, 0);
    cr_assert_eq(kv_test_apply(kv, KV_PUT, 5000, body, KV_PUT_OVERHEAD + KV_KEY_MAX + 1),
                 KV_BAD_REQUEST);
    cr_assert_eq(kv_test_apply(kv, KV_DEL, 5000, body, 2 + KV_KEY_MAX + 1), KV_BAD_REQUEST);
    /* an EXPIRE of expiry 0 would delete a key that has none */
    uint32_t n = kv_test_encode_expire(body, "key", 0);
    cr_assert_eq(kv_test_apply(kv, KV_EXPIRE, 5000, body, n), KV_BAD_REQUEST);
    struct kv_test_buf after = kv_test_save(&kv_fsm_ops, kv);
    cr_assert(kv_test_same_bytes(&before, &after));
    kv_test_buf_free(&before);
    kv_test_buf_free(&after);
}

Test(kv_malformed, every_truncation_of_a_get_and_an_unknown_op_answer_bad_request,
     .init = kv_malformed_setup)
{
    uint8_t req[64];
    struct lum_result r;
    int n = kv_encode_get(req, sizeof req, "key", 3);
    for (int len = 0; len < n; len++) {
        cr_assert_eq(kv_fsm_ops.query(kv, req, (uint32_t)len, 0, &r), 0);
        cr_assert_eq(r.code, KV_BAD_REQUEST, "GET truncated to %d bytes", len);
    }
    req[n] = 0;
    cr_assert_eq(kv_fsm_ops.query(kv, req, (uint32_t)n + 1, 0, &r), 0);
    cr_assert_eq(r.code, KV_BAD_REQUEST);
    req[0] = KV_GET + 1;
    cr_assert_eq(kv_fsm_ops.query(kv, req, (uint32_t)n, 0, &r), 0);
    cr_assert_eq(r.code, KV_BAD_REQUEST);
    req[0] = KV_GET;
    cr_assert_eq(kv_fsm_ops.query(kv, req, (uint32_t)n, 0, &r), 0);
    cr_assert_eq(r.code, KV_OK);
}
