/* The key-value store through a real three-node cluster: every operation through every
 * node, linearizable reads redirected to the leader, stale reads converging everywhere. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(kv);

Test(kv, a_put_through_any_node_is_read_through_every_node)
{
    struct cluster *c = cluster_up(3, NULL);
    for (uint32_t i = 0; i < c->n; i++) {
        /* a client that knows node i alone: a follower redirects it to the leader */
        char key[32], value[64];
        snprintf(key, sizeof key, "greeting-%u", i + 1);
        snprintf(value, sizeof value, "hello through node %u", i + 1);
        cr_assert_eq(cluster_kv_put(cluster_client(c, i, 0), key, value), KV_OK);
        for (uint32_t j = 0; j < c->n; j++) {
            char got[64] = "";
            cr_assert_eq(cluster_kv_get(cluster_client(c, j, 0), key, false, got, sizeof got),
                         KV_OK, "linearizable get of %s via node %u", key, j + 1);
            cr_assert_str_eq(got, value, "linearizable get of %s via node %u", key, j + 1);
        }
        for (uint32_t j = 0; j < c->n; j++)
            cluster_wait_stale_value(c, j, key, value);
    }
    cluster_passed();
}

Test(kv, a_later_put_overwrites_and_every_node_converges_on_it)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    char value[32] = "";
    for (int v = 1; v <= 20; v++) {
        snprintf(value, sizeof value, "version %d", v);
        cr_assert_eq(cluster_kv_put(cl, "k", value), KV_OK);
    }
    char got[32] = "";
    cr_assert_eq(cluster_kv_get(cl, "k", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "version 20");
    for (uint32_t j = 0; j < c->n; j++)
        cluster_wait_stale_value(c, j, "k", "version 20");
    cluster_passed();
}

Test(kv, del_removes_a_key_everywhere_and_deleting_a_missing_key_succeeds)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "doomed", "soon gone"), KV_OK);
    cr_assert_eq(cluster_kv_put(cl, "kept", "still here"), KV_OK);
    for (uint32_t j = 0; j < c->n; j++)
        cluster_wait_stale_value(c, j, "doomed", "soon gone");

    /* through a follower's address: redirected */
    uint32_t leader = cluster_wait_leader(c);
    uint32_t follower = (leader + 1) % c->n;
    cr_assert_eq(cluster_kv_del(cluster_client(c, follower, 0), "doomed"), KV_OK);
    for (uint32_t j = 0; j < c->n; j++) {
        cr_assert_eq(cluster_kv_get(cluster_client(c, j, 0), "doomed", false, NULL, 0),
                     KV_NOT_FOUND, "via node %u", j + 1);
        cluster_wait_stale_value(c, j, "doomed", NULL);
        cluster_wait_stale_value(c, j, "kept", "still here");
    }

    /* deleting what is not there is answered as such, and is not an error */
    cr_assert_eq(cluster_kv_del(cl, "never-existed"), KV_NOT_FOUND);
    cr_assert_eq(cluster_kv_del(cl, "doomed"), KV_NOT_FOUND);
    cluster_passed();
}

Test(kv, cas_swaps_only_when_the_old_value_matches)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    char got[32] = "";

    cr_assert_eq(cluster_kv_cas(cl, "absent", "x", "y"), KV_MISMATCH,
                 "a cas of a missing key must not create it");
    cr_assert_eq(cluster_kv_get(cl, "absent", false, NULL, 0), KV_NOT_FOUND);

    cr_assert_eq(cluster_kv_put(cl, "lock", "free"), KV_OK);
    cr_assert_eq(cluster_kv_cas(cl, "lock", "taken", "mine"), KV_MISMATCH);
    cr_assert_eq(cluster_kv_get(cl, "lock", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "free", "a failed cas changed the value");

    /* through every node's address in turn: each swap sees the one before */
    const char *chain[] = {"free", "one", "two", "three"};
    for (uint32_t i = 0; i < c->n; i++)
        cr_assert_eq(cluster_kv_cas(cluster_client(c, i, 0), "lock", chain[i], chain[i + 1]),
                     KV_OK, "cas %s -> %s via node %u", chain[i], chain[i + 1], i + 1);
    cr_assert_eq(cluster_kv_cas(cl, "lock", "two", "back"), KV_MISMATCH, "a stale OLD swapped");
    for (uint32_t j = 0; j < c->n; j++)
        cluster_wait_stale_value(c, j, "lock", "three");
    cluster_passed();
}
