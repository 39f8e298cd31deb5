/* The counter machine: the second, trivial FSM that proves the server is generic. */
#include <criterion/criterion.h>

#include "kv_test.h"

static void *counter;

static void counter_setup(void)
{
    counter = counter_fsm_ops.create();
    cr_assert_not_null(counter);
}

static void counter_teardown(void)
{
    counter_fsm_ops.destroy(counter);
}

TestSuite(counter, .init = counter_setup, .fini = counter_teardown);

/* Applies COUNTER_ADD delta; asserts it answers KV_OK and returns the new value. */
static int64_t counter_add(void *m, int64_t delta)
{
    uint8_t body[8];
    struct lum_result r;
    lum_put_u64(body, (uint64_t)delta);
    cr_assert_eq(kv_test_apply_to(&counter_fsm_ops, m, COUNTER_ADD, 1, body, 8, &r), KV_OK);
    cr_assert_eq(r.len, 8);
    return (int64_t)lum_get_u64(r.data);
}

static int64_t counter_value(void *m)
{
    struct lum_result r;
    cr_assert_eq(counter_fsm_ops.query(m, "", 0, 0, &r), 0);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.len, 8);
    return (int64_t)lum_get_u64(r.data);
}

Test(counter, starts_at_zero)
{
    cr_assert_eq(counter_value(counter), 0);
}

Test(counter, add_answers_the_new_value_and_query_agrees)
{
    cr_assert_eq(counter_add(counter, 5), 5);
    cr_assert_eq(counter_add(counter, 37), 42);
    cr_assert_eq(counter_value(counter), 42);
}

Test(counter, negative_deltas_subtract_below_zero)
{
    counter_add(counter, 10);
    cr_assert_eq(counter_add(counter, -25), -15);
    cr_assert_eq(counter_add(counter, INT64_MIN + 15), INT64_MIN);
    cr_assert_eq(counter_value(counter), INT64_MIN);
}

Test(counter, overflow_wraps_the_same_way_on_every_replica)
{
    counter_add(counter, INT64_MAX);
    cr_assert_eq(counter_add(counter, 1), INT64_MIN);
}

Test(counter, a_body_other_than_8_bytes_or_another_type_answers_bad_request)
{
    uint8_t body[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
    counter_add(counter, 3);
    for (uint32_t n = 0; n <= 9; n++) {
        if (n == 8)
            continue;
        cr_assert_eq(kv_test_apply_to(&counter_fsm_ops, counter, COUNTER_ADD, 1, body, n, NULL),
                     KV_BAD_REQUEST, "%u bytes", n);
    }
    cr_assert_eq(kv_test_apply_to(&counter_fsm_ops, counter, COUNTER_ADD + 1, 1, body, 8, NULL),
                 KV_BAD_REQUEST);
    cr_assert_eq(counter_value(counter), 3);
}

Test(counter, snapshot_round_trip_keeps_the_value_and_the_bytes)
{
    counter_add(counter, -123456789012345);
    struct kv_test_buf a = kv_test_save(&counter_fsm_ops, counter);
    cr_assert_eq(a.len, 12u, "8 bytes and a crc");
    void *fresh = counter_fsm_ops.create();
    counter_add(fresh, 99);
    cr_assert_eq(kv_test_load(&counter_fsm_ops, fresh, a.data, a.len), 0);
    cr_assert_eq(counter_value(fresh), -123456789012345);
    struct kv_test_buf b = kv_test_save(&counter_fsm_ops, fresh);
    cr_assert(kv_test_same_bytes(&a, &b));
    cr_assert_eq(counter_add(fresh, 45), -123456789012300);
    kv_test_buf_free(&a);
    kv_test_buf_free(&b);
    counter_fsm_ops.destroy(fresh);
}

Test(counter, a_damaged_snapshot_is_refused_and_the_value_kept)
{
    counter_add(counter, 77);
    struct kv_test_buf a = kv_test_save(&counter_fsm_ops, counter);
    void *other = counter_fsm_ops.create();
    counter_add(other, 5);
    for (size_t n = 0; n < a.len; n++)
        cr_assert_eq(kv_test_load(&counter_fsm_ops, other, a.data, n), -LUM_ECORRUPT);
    for (size_t bit = 0; bit < a.len * 8; bit++) {
        a.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(kv_test_load(&counter_fsm_ops, other, a.data, a.len), -LUM_ECORRUPT);
        a.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(counter_value(other), 5);
    kv_test_buf_free(&a);
    counter_fsm_ops.destroy(other);
}

Test(counter, has_no_housekeeping_and_reports_a_size)
{
    cr_assert_null(counter_fsm_ops.housekeeping);
    cr_assert_gt(counter_fsm_ops.size(counter), 0);
    cr_assert_str_eq(counter_fsm_ops.name, "counter");
}
