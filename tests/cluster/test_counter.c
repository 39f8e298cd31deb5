/* The counter state machine in a real cluster: the same server, another machine. It proves
 * the server and the core know nothing of keys and values. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(counter);

/* COUNTER_ADD delta through cl; returns the reply's code, the new value in *value_out. */
static int counter_add(struct lum_client *cl, int64_t delta, int64_t *value_out)
{
    uint8_t body[8];
    lum_put_u64(body, (uint64_t)delta);
    struct lum_reply r;
    struct lum_err err;
    int rv = lum_client_command(cl, COUNTER_ADD, body, sizeof body, &r, &err);
    cr_assert_eq(rv, 0, "COUNTER_ADD %lld: %s (%s)", (long long)delta, lum_strerror(rv), err.msg);
    cr_assert_eq(r.status, 0, "COUNTER_ADD %lld: %s", (long long)delta, lum_strerror(r.status));
    if (r.code == KV_OK) {
        cr_assert_eq(r.len, 8);
        *value_out = (int64_t)lum_get_u64(r.data);
    }
    return r.code;
}

/* The counter's value read through cl, linearizable or stale. */
static int64_t counter_read(struct lum_client *cl, bool stale)
{
    struct lum_reply r;
    struct lum_err err;
    int rv = lum_client_query(cl, "", 0, stale, &r, &err);
    cr_assert_eq(rv, 0, "query: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.len, 8);
    return (int64_t)lum_get_u64(r.data);
}

static void counter_wait_stale(struct cluster *c, uint32_t i, int64_t want)
{
    struct lum_client *cl = cluster_client(c, i, 1000);
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    int64_t got = 0;
    while (clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        got = counter_read(cl, true);
        if (got == want)
            return;
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_fail("node %u: counter is %lld, not %lld", i + 1, (long long)got, (long long)want);
}

Test(counter, a_cluster_running_the_counter_adds_through_every_node_and_answers_queries)
{
    struct cluster *c = cluster_up(3, "state_machine = counter\n");
    int64_t value = 0, expect = 0;
    const int64_t deltas[] = {5, 37, -100, INT64_C(1) << 40, -(INT64_C(1) << 40)};
    for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
        /* each through another node's address alone: followers redirect */
        struct lum_client *cl = cluster_client(c, (uint32_t)(k % c->n), 0);
        expect += deltas[k];
        cr_assert_eq(counter_add(cl, deltas[k], &value), KV_OK);
        cr_assert_eq(value, expect, "the answer is the new value");
    }
    cr_assert_eq(expect, -58);
    for (uint32_t i = 0; i < c->n; i++) {
        cr_assert_eq(counter_read(cluster_client(c, i, 0), false), -58, "via node %u", i + 1);
        counter_wait_stale(c, i, -58);
    }

    /* a malformed command is answered, applied as nothing, and harms no replica */
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    struct lum_reply r;
    struct lum_err err;
    cr_assert_eq(lum_client_command(cl, COUNTER_ADD, "abc", 3, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(r.code, KV_BAD_REQUEST);
    cr_assert_eq(counter_read(cl, false), -58);

    /* a KV command means nothing to this machine */
    uint8_t body[64];
    int len = kv_encode_put(body, sizeof body, "k", 1, "v", 1, 0);
    cr_assert_gt(len, 0);
    cr_assert_eq(lum_client_command(cl, KV_PUT, body, (uint32_t)len, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.code, KV_BAD_REQUEST);
    cr_assert_eq(counter_add(cl, 100, &value), KV_OK);
    cr_assert_eq(value, 42);
    cluster_check_alive(c);
    cluster_passed();
}

Test(counter, the_counter_survives_kill_9_of_every_node)
{
    struct cluster *c = cluster_up(3, "state_machine = counter\n");
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    int64_t value = 0;
    for (int i = 1; i <= 50; i++)
        cr_assert_eq(counter_add(cl, i, &value), KV_OK);
    cr_assert_eq(value, 50 * 51 / 2);
    cluster_kill_all(c);
    cluster_start_all(c);
    cluster_wait_leader(c);
    cr_assert_eq(counter_read(cl, false), 50 * 51 / 2);
    for (uint32_t i = 0; i < c->n; i++)
        counter_wait_stale(c, i, 50 * 51 / 2);
    cr_assert_eq(counter_add(cl, -1275, &value), KV_OK);
    cr_assert_eq(value, 0);
    cluster_passed();
}
